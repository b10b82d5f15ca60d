"""The workload presets: each a name, a description, default machine and ticks, the
values it changes from ``PARAMS``' defaults, and the knobs it shows as its own.

Counts per tick (``ops_per_tick``, ``balloon_pages``) are for the presets' 4 GiB machine
and grow in proportion on a larger one (``scale_from_gib``), so each preset's signature
shows at every size: pages swapped (zram-pressure), pages migrated (all), balloon pages
migrated (balloon-vm, review-04), contiguous allocations (cma, review-04).

To add a preset: a ``Workload`` in ``PRESETS`` below (its ``overrides`` are checked
against ``PARAMS`` each time it is used); ``mmkit.compare``, the Explorer, the sweep and
the CLI offer it from there. ``tests/test_presets.py`` lists the presets and shows each
one's signature: add the new one's there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmkit.errors import ParameterError
from mmkit.workloads.params import PARAMS, Param


@dataclass(frozen=True)
class Workload:
    """A seeded, declarative workload preset."""

    name: str
    description: str
    gib: float
    ticks: int
    overrides: dict[str, Any] = field(default_factory=dict)
    own: tuple[str, ...] = ()  # the knobs the Explorer shows first for this preset

    def params(self, **changes) -> dict[str, Any]:
        """Every parameter's value for this preset with ``changes`` applied, validated."""
        unknown = set(changes) - set(PARAMS)
        if unknown:
            raise ParameterError(
                f"workload {self.name!r}: unknown parameter(s) {sorted(unknown)}; "
                f"parameters are {sorted(PARAMS)}"
            )
        values = {n: p.default for n, p in PARAMS.items()}
        values.update(self.overrides)
        values.update(changes)
        return {n: PARAMS[n].validate(v) for n, v in values.items()}

    def declaration(self) -> list[Param]:
        """This preset's own parameters (with the preset's defaults), then the rest."""
        names = list(self.own) + [n for n in PARAMS if n not in self.own]
        vals = self.params()
        return [Param(**{**PARAMS[n].__dict__, "default": vals[n]}) for n in names]


PRESETS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "steady",
            "mixed anon, file and slab churn on a machine near its low watermark",
            gib=4, ticks=300,
            overrides=dict(ops_per_tick=400, target_used=0.99, churn=0.35, thp_rate=0.2, prefill=1.0),
            own=("target_used", "churn", "mix_anon", "mix_file", "mix_slab", "thp_rate"),
        ),
        Workload(
            "zram-pressure",
            "memory pressure swapping anon pages into zram (zsmalloc grows and shrinks), "
            "slab and page-table churn, order-2/3 (fork) and THP requests: the cover letter's case",
            gib=4, ticks=300,
            overrides=dict(ops_per_tick=1500, target_used=1.6, churn=0.25, mix_anon=60, mix_file=15,
                           mix_slab=8, mix_slab_reclaimable=5, mix_kernel=6, mix_pagetable=6,
                           order2_rate=0.08, order3_rate=0.02, thp_rate=0.3, swap=True, zram_swapin=0.002),
            own=("target_used", "zram_swapin", "order2_rate", "order3_rate", "thp_rate", "churn"),
        ),
        Workload(
            "balloon-vm",
            "a guest whose virtio balloon inflates and deflates in cycles while THP requests run and its "
            "page cache fills what the balloon leaves, so compaction migrates balloon pages",
            gib=4, ticks=300,
            overrides=dict(ops_per_tick=300, target_used=1.0, churn=0.4, mix_anon=30, mix_file=50, thp_rate=0.5,
                           balloon_period=60, balloon_pages=300, deflate_race=0.01, prefill=1.0),
            own=("balloon_period", "balloon_pages", "deflate_race", "thp_rate", "target_used"),
        ),
        Workload(
            "cma",
            "periodic contiguous allocations on a CMA area, with ext4 data=journal (PG_checked) file pages",
            gib=4, ticks=300,
            overrides=dict(ops_per_tick=300, target_used=1.02, mix_anon=25, mix_file=60, file_checked=0.3,
                           file_dirty=0.1, cma_area=0.1, cma_period=10, cma_blocks=8),
            own=("cma_area", "cma_period", "cma_blocks", "file_checked", "file_dirty", "target_used"),
        ),
        Workload(
            "review-04",
            "the seed: zram, a balloon, a CMA area and ext4 data=journal pages on one machine, "
            "so that all three review points and the series' benefit show within seconds",
            gib=4, ticks=200,
            overrides=dict(ops_per_tick=300, target_used=1.1, churn=0.25, mix_anon=45, mix_file=30,
                           mix_slab=8, mix_slab_reclaimable=5, mix_kernel=6, mix_pagetable=4,
                           order2_rate=0.08, order3_rate=0.02, thp_rate=0.3, swap=True, zram_swapin=0.01,
                           file_checked=0.3, balloon_period=40, balloon_pages=100, deflate_race=0.02,
                           cma_area=0.05, cma_period=20, cma_blocks=4, prefill=1.0),
            own=("target_used", "file_checked", "balloon_pages", "deflate_race", "cma_period", "thp_rate"),
        ),
    )
}


def workload(name: str | Workload) -> Workload:
    if isinstance(name, Workload):
        return name
    if not isinstance(name, str):
        raise ParameterError(f"workload: expected a workload name or a Workload, got {type(name).__name__} "
                             f"{name!r}; workloads are {', '.join(PRESETS)}")
    if name in PRESETS:
        return PRESETS[name]
    raise ParameterError(f"workload: unknown workload {name!r}; workloads are {', '.join(PRESETS)}")
