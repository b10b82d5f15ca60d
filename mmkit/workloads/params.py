"""Workload parameters, declared once: name, default, range, a one-line description and
the engine's ``P_*`` slot it fills.

The API validates against this table, the Explorer builds its controls from it and
``mmkit.run.compile_params`` fills the engine's parameter array from it, so none of them
can drift. Rates are probabilities (0..1) here and parts per million inside the engine.

To add a knob the engine reads on every tick: a row below with ``slot="P_<NAME>"``, that
constant in ``mmkit.engine.workload`` (before ``NR_P``, which counts them), the kernel
that reads ``P[P_<NAME>]`` and, if it changes what the twin's tick does, the twin
(``mmkit.reference``); ``tests/test_presets.py`` checks that every slot is filled by
exactly one knob. A knob with no slot (``swap``, the rates of ``Sim``, ``prefill``) is
read by ``mmkit.run`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmkit.errors import ParameterError
from mmkit.inputs import check_number


@dataclass(frozen=True)
class Param:
    """One workload knob."""

    name: str
    default: Any
    lo: float
    hi: float
    doc: str
    type: type = float
    rate: bool = False  # a probability: the engine takes it in parts per million
    slot: str = ""  # the engine's P_* slot it fills (mmkit.engine.workload), "" if none

    def validate(self, value: Any) -> Any:
        """The value as this parameter's type, or a ParameterError naming the range."""
        if self.type is bool:
            if isinstance(value, bool) or value in (0, 1):
                return bool(value)
            raise ParameterError(f"{self.name}: {value!r} is not a bool ({self.doc})")
        try:
            v = self.type(check_number(self.name, value))  # not a bool, not a str
            ok = float(v) == float(value)
        except (TypeError, ValueError, OverflowError):
            raise ParameterError(f"{self.name}: {value!r} is not a number; allowed {self._range()} ({self.doc})") from None
        if not ok or not self.lo <= v <= self.hi:
            raise ParameterError(f"{self.name}: {value!r} is out of range; allowed {self._range()} ({self.doc})")
        return v

    def _range(self) -> str:
        kind = "integer" if self.type is int else "number"
        return f"{kind} {self.lo:g}..{self.hi:g}"

    def engine_value(self, value: Any) -> int:
        if self.type is bool:
            return int(bool(value))
        return int(round(value * 1_000_000)) if self.rate else int(value)


def _p(name, default, lo, hi, doc, type=float, rate=False, slot="") -> Param:
    return Param(name, default, lo, hi, doc, type, rate, slot)


# Every knob, with the defaults a preset starts from.
PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        _p("ops_per_tick", 300, 1, 100_000, "allocations and frees per tick (more on a machine above scale_from_gib)", int, slot="P_OPS"),
        _p("target_used", 0.9, 0.05, 2.0, "the workload's footprint (pages in memory plus pages swapped to zram), as a share of managed pages (>1: pressure)",
           float, True, slot="P_TARGET_USED_PPM"),
        _p("churn", 0.2, 0.0, 1.0, "share of operations that free a page even below the target", float, True, slot="P_CHURN_PPM"),
        _p("mix_anon", 40, 0, 1000, "weight of anonymous pages in the allocation mix", int, slot="P_MIX_ANON"),
        _p("mix_file", 40, 0, 1000, "weight of page-cache pages", int, slot="P_MIX_FILE"),
        _p("mix_slab", 8, 0, 1000, "weight of unreclaimable slab", int, slot="P_MIX_SLAB"),
        _p("mix_slab_reclaimable", 6, 0, 1000, "weight of reclaimable slab (dentries, inodes)", int, slot="P_MIX_SLAB_RECLAIMABLE"),
        _p("mix_kernel", 4, 0, 1000, "weight of other unmovable kernel pages", int, slot="P_MIX_KERNEL"),
        _p("mix_pagetable", 2, 0, 1000, "weight of page-table pages", int, slot="P_MIX_PAGETABLE"),
        _p("order2_rate", 0.05, 0.0, 1.0, "share of kernel/slab allocations of order 2 (fork's kernel stacks)", float, True, slot="P_ORDER2_PPM"),
        _p("order3_rate", 0.01, 0.0, 1.0, "share of kernel/slab allocations of order 3", float, True, slot="P_ORDER3_PPM"),
        _p("thp_rate", 0.2, 0.0, 1.0, "share of anonymous memory faulted in as THP (when one can be had)", float, True, slot="P_THP_PPM"),
        _p("file_dirty", 0.1, 0.0, 1.0, "share of file pages written (PG_dirty)", float, True, slot="P_FILE_DIRTY_PPM"),
        _p("file_checked", 0.0, 0.0, 1.0, "share of file pages with PG_checked (ext4 data=journal)", float, True, slot="P_FILE_CHECKED_PPM"),
        _p("file_fscache", 0.0, 0.0, 1.0, "share of file pages with PG_private_2 (fscache, btrfs)", float, True, slot="P_FILE_FSCACHE_PPM"),
        _p("file_unevictable", 0.01, 0.0, 1.0, "share of file pages that are unevictable", float, True, slot="P_FILE_UNEVICTABLE_PPM"),
        _p("file_mapped", 0.3, 0.0, 1.0, "share of file pages mapped into a process", float, True, slot="P_FILE_MAPPED_PPM"),
        _p("pinned_rate", 0.01, 0.0, 1.0, "share of anonymous pages pinned (get_user_pages)", float, True, slot="P_PINNED_PPM"),
        _p("zram_swapin", 0.0, 0.0, 1.0, "per operation: chance of a swap-in from zram", float, True, slot="P_ZRAM_SWAPIN_PPM"),
        _p("swap", False, 0, 1, "reclaim swaps anonymous pages into zram", bool),
        _p("balloon_period", 0, 0, 100_000, "ticks per balloon inflate/deflate cycle (0: no balloon)", int, slot="P_BALLOON_PERIOD"),
        _p("balloon_pages", 0, 0, 1 << 20, "pages the balloon takes or gives back per tick (more on a machine above scale_from_gib)", int, slot="P_BALLOON_PAGES"),
        _p("cma_area", 0.0, 0.0, 0.5, "share of memory reserved as a CMA area at the top", float),
        _p("cma_period", 0, 0, 100_000, "ticks between contiguous allocations on the CMA area (0: none)", int, slot="P_CMA_PERIOD"),
        _p("cma_blocks", 8, 1, 4096, "pageblocks per contiguous allocation", int, slot="P_CMA_BLOCKS"),
        _p("kcompactd", True, 0, 1, "background compaction after a high-order allocation fails", bool, slot="P_KCOMPACTD"),
        _p("deflate_race", 0.0, 0.0, 1.0, "chance a balloon deflate lands between unlock and the newpage test (D-2019)", float),
        _p("migrate_fail", 0.0, 0.0, 1.0, "chance a migration attempt fails transiently (-EAGAIN)", float),
        _p("concurrent_compaction", 0.0, 0.0, 1.0, "chance another compactor holds a balloon page the scanner meets", float),
        _p("scale_from_gib", 4.0, 0.0, 4096.0, "ops_per_tick and balloon_pages are for a machine of this size (GiB) or smaller; "
           "a larger one gets proportionally more, so that a tick moves the same share of its memory (0: never scaled)", float),
        _p("prefill", 0.9, 0.0, 1.0, "share of memory filled with the workload's mix before tick 0 (fast path only)", float, True),
        _p("sample_every", 10, 1, 1_000_000, "ticks between timeline samples", int, slot="P_SAMPLE_EVERY"),
    )
}
