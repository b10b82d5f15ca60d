"""Every rule of ``Variant`` changes what some run shows (issue 18: a rule no kernel reads,
or that never changes an outcome, is dead).

A rule is shown alive when, on some named variant, changing that one rule (to any value
``validate`` accepts) changes a probe run's frames (timeline, zones, pageblocks, events,
faults, vmstat) or the end state's /proc/kpageflags. The probes are small ``compare``
runs of the presets, one on 6 GiB (a Normal zone), and a replay of the bundled trace.

``NOT_SHOWN_BY_THE_PROBES`` are the rules these probes do not show changing anything, each
with why; the slow test checks that it is exactly those, so a rule that goes dead fails
here, and one that a better probe reaches must leave the list. Five of them are shown by
a direct witness instead (``DIRECT_WITNESSES``): the kernel function that reads the rule,
called on a state made for it, gives the kernel's two answers on the two sides.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mmkit
from mmkit.engine.kpageflags import kpageflags
from mmkit.errors import VariantError
from mmkit.semantics import NAMED, RULE_FIELDS
from mmkit.semantics.variant import rule_values

TRACE = Path(__file__).resolve().parents[1] / "data" / "trace-sample"
FRAMES = ("timeline", "zone_timeline", "pageblocks", "events", "faults", "vmstat")
# (workload, cpus, gib); "trace": a replay of the bundled trace
PROBES = (("review-04", 2, 0.25), ("steady", 2, 0.25), ("zram-pressure", 0, 0.25), ("balloon-vm", 0, 0.25),
          ("steady", 2, 6.0), ("trace", 0, 0.0), ("review-04", 0, 0.25))

NOT_SHOWN_BY_THE_PROBES = {
    "page_types": "no named variant passes validate() with it alone changed: the page-type encoding comes "
                  "with the movable marker and PageBalloon test of its era (tests/test_era_rules.py)",
    "swapcache_bit": "KPF_SWAPCACHE of a page in the swap cache; no probe ends with one there",
    "extfrag_costly_only": "compaction_suitable at orders 1-3 with a fragmentation index at or below "
                           "extfrag_threshold; the probes' order-2/3 requests do not meet one",
    "compact_finished_low_wmark": "__compact_finished below the zone's low watermark at the order: the "
                                  "probes' compactions end for other reasons first (review-04 showed it until "
                                  "the free pages of isolated pageblocks left NR_FREE_PAGES)",
    "pageblock_merge": "a free block merging across pageblocks of different migratetypes: the probes' "
                       "merges at pageblock order are between blocks of one type",
    "kcompactd": "kcompactd_do_work and the allocator's loop that stands in for it before v4.6 come to the same "
                 "in every probe: with v4.x's rules review-04's free memory outside its CMA area is below the low "
                 "watermark plus compact_gap, which kcompactd (no ALLOC_CMA) needs, and in the other probes neither "
                 "migrates a page",
    "contig_enomem_bail": "a contiguous range whose migration finds no target at all (-ENOMEM): in the "
                          "probes the targets' direct reclaim always finds one",
    "proactive_compaction": "needs ticks of a duration and a node score above 90: the presets' ticks have "
                            "none and the bundled trace's score stays low (docs/validation.md shows it on "
                            "this machine's compaction-full recordings; tests/test_compaction_rules.py "
                            "tests its kcompactd_tick)",
}


def _digest(res, name: str) -> tuple:
    out = [hash(kpageflags(res.memories[name]).tobytes())]
    for f in FRAMES:
        df = getattr(res, f).filter(pl.col("variant") == name).drop("variant")
        out.append(int(df.hash_rows().sum()) if len(df) else 0)
    return tuple(out)


def _run(probe, base, changed):
    workload, cpus, gib = probe
    if workload == "trace":
        return mmkit.replay(TRACE, variants=[base, changed])
    return mmkit.compare(workload=workload, variants=[base, changed], gib=gib, ticks=80, cpus=cpus, seed=1)


def witness(field: str):
    """The first (base variant, probe, value) where changing ``field`` alone changes what
    the run shows, or None."""
    for probe, base in itertools.product(PROBES, NAMED.values()):
        for alt in [v for v in rule_values(field) if v != getattr(base, field)]:
            try:
                changed = base.replace(**{field: alt}, name="changed")
            except VariantError:
                continue  # cannot exist with the base's other rules
            res = _run(probe, base, changed)
            if _digest(res, base.name) != _digest(res, "changed"):
                return base.name, probe, alt
    return None


@pytest.mark.parametrize("field", [f for f in RULE_FIELDS if f not in NOT_SHOWN_BY_THE_PROBES])
def test_the_rule_changes_what_a_run_shows(field):
    assert witness(field) is not None, f"{field}: changing it alone changes no probe run: a dead rule?"


@pytest.mark.slow
def test_the_rules_the_probes_do_not_show_are_exactly_those_listed():
    assert set(NOT_SHOWN_BY_THE_PROBES) <= set(RULE_FIELDS)
    shown = {f: witness(f) for f in NOT_SHOWN_BY_THE_PROBES}
    assert not {f: w for f, w in shown.items() if w is not None}, "shown now: take them off the list"


# ---------------------------------------------------------------- direct witnesses
# The rules the probes do not reach, each shown deciding an outcome on a state made for
# it: the kernel function that reads the rule, called on both sides of the rule.

def _full(variant, mib=32):
    """A machine whose every page is allocated (watermarks lifted while it fills)."""
    from mmkit.engine.sim import Sim

    s = Sim(mmkit.Memory.synthetic(mib=mib, variant=variant, cpus=0), seed=1)
    saved = s.A.wmark.copy()
    s.A.wmark[:] = 0
    pages = s.kernel(s.mem.nr_pages)
    s.A.wmark[:] = saved
    pages = pages[pages >= 0]
    assert int(s.A.nr_free.sum()) == 0
    return s, pages


def witness_extfrag_costly_only():
    """compaction_suitable at order 2 with every free page in an order-1 block: the
    fragmentation index is 500 (failure from lack of memory), so v4.8 skips the zone
    (COMPACT_NOT_SUITABLE_ZONE) where v6.x, testing it only above order 3, compacts."""
    from mmkit.engine import compaction as C

    base = NAMED["v4.8"]
    s, pages = _full(base)
    s.free(pages[pages % 4 < 2])  # pairs whose buddies stay allocated: order-1 blocks
    z = s.zone_hi
    assert C.fragmentation_index(s.A, z, 2) == 500
    return {v: C.compaction_suitable(s.A, v.compile(), z, 2, True, False)
            for v in (base, base.replace(extfrag_costly_only=True))}, (C.COMPACT_NOT_SUITABLE_ZONE, C.COMPACT_CONTINUE)


def witness_pageblock_merge():
    """__free_one_page at pageblock order between a free CMA pageblock and its MOVABLE
    buddy: v4.8 merges them into an order-10 block; v5.18's migratetype_is_mergeable
    keeps two order-9 blocks (counts of free blocks of order 9 and 10)."""
    from mmkit.engine import workload as W
    from mmkit.engine.sim import Sim
    from mmkit.semantics import PageblockMerge

    out = {}
    base = NAMED["v4.8"]
    for v in (base, base.replace(pageblock_merge=PageblockMerge.NOT_UNMERGEABLE)):
        s = Sim(mmkit.Memory.synthetic(mib=64, variant=v, cpus=0), seed=1)
        P = np.zeros(W.NR_P, np.int64)
        P[W.P_CMA_AREA_BLOCKS] = 1
        W.setup_cma_area(s.A, s.vc, P)
        saved = s.A.wmark.copy()
        s.A.wmark[:] = 0
        pages = s.anon(s.mem.nr_pages)
        s.A.wmark[:] = saved
        s.free(pages[pages >= 0])
        s.check()
        z = s.zone_hi
        out[v] = (int(s.A.nr_free[z, 9]), int(s.A.nr_free[z, 10]))
    return out, ((0, 12), (2, 11))


def witness_swapcache_bit():
    """stable_page_flags' KPF_SWAPCACHE for a swap-backed page with PG_owner_priv_1 (a
    swap cache page from v4.10, where PG_swapcache is that bit) and for one with the old
    PG_swapcache bit of its own."""
    from mmkit.engine.kpageflags import stable_page_flags
    from mmkit.model import flags as pg
    from mmkit.model import kpf
    from mmkit.semantics import SwapcacheBit

    base = NAMED["v4.8"]
    mem = mmkit.Memory.synthetic(mib=32, variant=base)
    a, b = 1000, 1001
    mem.flags[a] |= (1 << pg.PG_swapbacked) | (1 << pg.PG_owner_priv_1)
    mem.flags[b] |= (1 << pg.PG_swapbacked) | (1 << pg.PG_swapcache_own)
    out = {}
    for v in (base, base.replace(swapcache_bit=SwapcacheBit.PG_OWNER_PRIV_1)):
        words = np.zeros(mem.nr_pages, dtype=np.uint64)
        stable_page_flags(mem.arrays(), v.compile(), words)
        out[v] = tuple(int(words[p] >> kpf.KPF_SWAPCACHE & 1) for p in (a, b))
    return out, ((0, 1), (1, 0))


def witness_compact_finished_low_wmark():
    """__compact_finished for order 2 with one free order-2 block and the zone far below
    its low watermark: v4.8's gate goes on (COMPACT_CONTINUE), v6.x finds the page
    (COMPACT_PARTIAL, the kernel's COMPACT_SUCCESS)."""
    from mmkit.engine import compaction as C
    from mmkit.engine.buddy import get_pageblock_migratetype

    base = NAMED["v4.8"]
    s, pages = _full(base)
    block = pages[(pages % 4 == 0) & (pages > pages.min() + 4096)][0]
    s.free(np.arange(block, block + 4))
    z = s.zone_hi
    assert s.A.nr_free[z, 2] == 1
    cc = C.new_cc(z, 2, True, True, int(get_pageblock_migratetype(s.A, block)))
    cc[C.CC_MIGRATE_PFN] = int(s.mem.zone_start[z])  # pageblock-aligned, far below the free scanner
    cc[C.CC_FREE_PFN] = int(s.mem.zone_end[z]) - 512
    return {v: C.compact_finished(s.A, v.compile(), cc)
            for v in (base, base.replace(compact_finished_low_wmark=False))}, (C.COMPACT_CONTINUE, C.COMPACT_PARTIAL)


def witness_kcompactd():
    """kcompactd woken at order 3 on a machine whose two zones are both fragmented:
    kcompactd_do_work (v4.6) compacts every zone from the lowest up; the allocator's
    loop that stands in for it starts at the highest zone and stops at the first that
    succeeds (which zones had pages moved)."""
    from mmkit.engine import compaction as C
    from mmkit.engine.sim import Sim
    from opgen import half_fill_every_zone

    out = {}
    base = NAMED["v4.5"]
    for v in (base, base.replace(kcompactd=True)):
        s = Sim(mmkit.Memory.synthetic(zones=[("DMA32", 8), ("Normal", 16)], variant=v, cpus=0), seed=5)
        half_fill_every_zone(s)
        before = s.mem.kind.copy()
        C.kcompactd_wake(s.A, s.vc, s.S, 3, s.zone_hi)
        moved = before != s.mem.kind
        out[v] = tuple(bool(moved[s.mem.zone_start[z]:s.mem.zone_end[z]].any()) for z in range(2))
    return out, ((False, True), (True, True))


def witness_contig_enomem_bail():
    """A contiguous range on a machine with no free page outside it
    (tests/test_cma_alloc.py's state): v5.13's __alloc_contig_migrate_range stops at the
    first -ENOMEM, v4.8's calls migrate_pages five times (``tries``) over the same 32
    pages; each call's failed target allocation reclaims, and reclaim scans 160 pages
    (pgscan), both ending in -ENOMEM."""
    from test_cma_alloc import ENOMEM, PB, pinned_area

    out = {}
    base = NAMED["v4.8"]
    for v in (base, base.replace(contig_enomem_bail=True)):
        e, t, start = pinned_area(False, variant=v)
        assert e.alloc_contig_range(start, start + 2 * PB)["ret"] == ENOMEM
        out[v] = e.vmstat["pgscan"]
    return out, (5 * 160, 160)


DIRECT_WITNESSES = {
    "contig_enomem_bail": witness_contig_enomem_bail,
    "compact_finished_low_wmark": witness_compact_finished_low_wmark,
    "kcompactd": witness_kcompactd,
    "extfrag_costly_only": witness_extfrag_costly_only,
    "pageblock_merge": witness_pageblock_merge,
    "swapcache_bit": witness_swapcache_bit,
}


@pytest.mark.parametrize("field", list(DIRECT_WITNESSES))
def test_a_rule_the_probes_miss_decides_a_kernel_function(field):
    got, want = DIRECT_WITNESSES[field]()
    (base, a), (changed, b) = got.items()
    assert [f for f in RULE_FIELDS if getattr(base, f) != getattr(changed, f)] == [field]
    assert (a, b) == want


def test_every_rule_is_shown_by_a_probe_or_a_direct_witness():
    """What is neither: page_types (cannot change alone) and proactive_compaction
    (tests/test_compaction_rules.py drives its kcompactd_tick)."""
    assert set(NOT_SHOWN_BY_THE_PROBES) - set(DIRECT_WITNESSES) == {"page_types", "proactive_compaction"}
