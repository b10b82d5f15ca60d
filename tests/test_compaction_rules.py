"""Compaction rules that changed between v4.8 and v6.x (issue 16, part 2), each checked
on a machine built page by page, in the engine and in the plain-Python twin: skip bits
(``skip_hints_scanned``), ``__compact_finished`` (``compact_finished_low_wmark``,
``compact_finished_aligned``), the free scanner's stop (``free_isolate_fail_break``),
compaction's watermarks (``compaction_min_wmark``) and kcompactd (``kcompactd``,
``kcompactd_ignore_skip_hint``). Sources: ../shared/KERNEL-PCP-COMPACTION.md §3."""

from __future__ import annotations

import numpy as np
import pytest

import mmkit
from mmkit.engine import compaction as cp
from mmkit.engine.sim import Sim
from mmkit.engine.state import EVENT_NAMES
from mmkit.model.kinds import PageKind
from mmkit.model.memory import synthetic_layout
from mmkit.reference.buddy import RefMemory
from mmkit.reference.sim import RefSim
from mmkit.semantics import NAMED
from opgen import agree, both, half_fill_every_zone, no_watermarks

ZONES = [("DMA32", 8), ("Normal", 16)]
PB = 512  # pageblock_nr_pages
EV_ISOLATED = EVENT_NAMES.index("isolated")


def pair(variant, zones=ZONES):
    mem = mmkit.Memory.synthetic(zones=zones, variant=variant)
    return (Sim(mem, seed=5, log_traffic=True),
            RefSim(RefMemory.boot(synthetic_layout(zones=zones), variant), seed=5, log_traffic=True))


def fragment(e, t, zone="Normal", keep_every=2, kernel_every=0, holes=None, pinned=False):
    """Fill the zone with anonymous pages (``pinned``: that compaction cannot move), then
    free all but every ``keep_every``-th (and make every ``kernel_every``-th a kernel
    page), so every pageblock is half used; with ``holes``, free only that many, every
    other page at the top of the zone."""
    z = e.mem.zone_names.index(zone)
    lo, hi = int(e.mem.zone_start[z]), int(e.mem.zone_end[z])
    # down to twice the high watermark: no reclaim, so every page stays where it was put
    free = int(np.count_nonzero(e.mem.kind[lo:hi] == PageKind.FREE)) - 2 * int(e.mem.wmark[z, 2])
    pfns = both(e, t, "anon", free, pinned=pinned, zone=zone)
    pfns = pfns[pfns >= 0]
    drop = [int(p) for i, p in enumerate(sorted(pfns)) if i % keep_every]
    if holes is not None:
        drop = [int(p) for p in sorted(pfns)[-2 * holes:][1::2]]
    both(e, t, "free", drop)
    # the free blocks left whole (the 2 x high watermark kept aside) taken as kernel
    # pages, so only order-0 holes are free; the watermarks lifted meanwhile, so no
    # allocation wakes kswapd and kcompactd (which would make larger blocks again)
    restore = no_watermarks(e, t)
    for o in range(10, 0, -1):
        while int(e.mem.nr_free[z, o]):
            both(e, t, "kernel", 1, order=o, zone=zone)
    restore()
    assert not e.mem.nr_free[z, 1:].any()
    if kernel_every:
        both(e, t, "kernel", len(drop) // kernel_every, zone=zone)
    return z


def z_normal(sim):
    return sim.mem.zone_names.index("Normal")


def skip_blocks(sim, z):
    start, end = int(sim.mem.zone_start[z]), int(sim.mem.zone_end[z])
    return [b for b in range(start // PB, (end - 1) // PB + 1) if sim.mem.pb_flags[b] & 8]


def test_named_variants_take_the_rules_of_their_era():
    rows = {n: (v.skip_hints_scanned, v.compact_finished_low_wmark, v.compact_finished_aligned,
                v.free_isolate_fail_break, v.compaction_min_wmark, v.kcompactd, v.kcompactd_ignore_skip_hint)
            for n, v in NAMED.items()}
    assert rows["v4.5"] == (False, True, False, False, False, False, False)
    for n in ("v3-02", "v3-04", "v3-04-reviewed"):  # on v4.6-rc: kcompactd
        assert rows[n] == (False, True, False, False, False, True, True), n
    assert rows["v4.8"] == (False, True, False, True, False, True, True)
    assert rows["v6.18"] == (True, False, True, True, True, True, False)


@pytest.mark.parametrize("variant", ["v4.8", "v6.18"])
def test_compact_memory_skip_bits(variant):
    """v4.8's compact_memory clears every skip bit first and sets none (the hints are
    ignored); v6.x leaves them and marks the blocks it scanned whole."""
    e, t = pair(variant)
    z = fragment(e, t)
    first, last = int(e.mem.zone_start[z]) // PB, (int(e.mem.zone_end[z]) - 1) // PB
    marked = list(range(first, first + (last - first + 1) // 2))
    for b in marked:  # as a direct compaction that found nothing there would leave them
        e.mem.pb_flags[b] |= 8
        t.mem.pageblock_skip[b] = True
    agree(e, t)
    both(e, t, "compact_memory")
    after = skip_blocks(e, z)
    agree(e, t)
    if NAMED[variant].skip_hints_scanned:
        assert set(marked) < set(after)
    else:
        assert after == []


@pytest.mark.parametrize("variant", ["v4.8", "v6.18"])
def test_first_lru_isolation_marks_the_block_in_v6(variant):
    """``test_and_set_skip`` (v5.1): the block the migrate scanner first isolated LRU pages
    from is marked skip in v6.x; v4.8 marks only blocks that gave nothing."""
    e, t = pair(variant)
    z = fragment(e, t)
    n0 = len(e.events())
    both(e, t, "compact_zone", z, order=3, sync=True, ignore_skip=False)
    agree(e, t)
    ev = e.events()[n0:]
    isolated = ev[ev[:, 2] == EV_ISOLATED]
    assert len(isolated), "the migrate scanner isolated pages"
    first_block = int(isolated[0, 1]) // PB
    marked = first_block in skip_blocks(e, z)
    assert marked == NAMED[variant].skip_hints_scanned


def test_v6_compaction_finishes_at_a_pageblock_boundary():
    """``compact_finished_aligned`` (v4.12): success is reported only with the migrate
    scanner at a pageblock boundary; without it the run stops as soon as the page is
    there, mid-block."""
    stops = {}
    for aligned in (True, False):
        # no watermark boost: fragment()'s fallbacks boost the zone's marks, and the order-2
        # run then never meets its (boosted) watermark before the scanners meet
        v = NAMED["v6.18"].replace(compact_finished_aligned=aligned, watermark_boost=False)
        e, t = pair(v)
        z = fragment(e, t)
        r = both(e, t, "compact_zone", z, order=2, sync=True, ignore_skip=False)
        agree(e, t)
        assert r == "success"
        stops[aligned] = int(e.last_cc[cp.CC_MIGRATE_PFN])
    assert stops[True] % PB == 0
    assert stops[False] % PB != 0 and stops[False] < stops[True]


def test_v4_8_free_scanner_stops_at_a_refused_block():
    """``free_isolate_fail_break`` (v4.8, 66c64223ad4e): with the zone 8 pages above its
    low watermark, ``__isolate_free_page`` takes 7 holes and refuses the 8th; v4.8 stops
    the block there, v4.5 stepped over each refused page to the block's end."""
    for brk in (True, False):
        v = NAMED["v4.8"].replace(free_isolate_fail_break=brk)
        e, t = pair(v)
        z = fragment(e, t, holes=int(e.mem.wmark[z_normal(e), 1]) + 8)
        end = int(e.mem.zone_end[z])
        start = end - PB
        holes = np.flatnonzero(e.mem.kind[start:end] == PageKind.FREE) + start
        cc = cp.new_cc(z, -1, True, True)
        cc[cp.CC_NR_MIGRATE] = 1 << 20  # never "enough"
        stop = int(cp.isolate_freepages_block(e.A, e.vc, e.S, cc, start, end, 1, True))
        isolated = int(cc[cp.CC_NR_FREE])
        assert isolated == 7 and len(holes) == 138  # free 138 - 1 must stay above low 130 + 1
        if brk:
            assert stop == holes[isolated] < end  # at the first refused hole
        else:
            assert stop == end


def test_v6_compaction_suitable_uses_the_min_watermark():
    """``compaction_min_wmark`` (v6.x): a zone between min + compact_gap and low +
    compact_gap is worth compacting for an order-2 request; v4.x skips it."""
    results = {}
    for name in ("v4.8", "v6.18"):
        e, t = pair(name)
        z = fragment(e, t, keep_every=4)
        wmin, wlow = int(e.mem.wmark[z, 0]), int(e.mem.wmark[z, 1])
        assert wlow > wmin + 2
        target = (wmin + wlow) // 2 + (2 << 2)
        free = int(np.count_nonzero(e.mem.kind[e.mem.zone_start[z]:e.mem.zone_end[z]] == PageKind.FREE))
        both(e, t, "kernel", free - target, zone="Normal")
        results[name] = both(e, t, "compact_zone", z, order=2, sync=True, ignore_skip=False)
        agree(e, t)
    assert results["v4.8"] == "skipped"
    assert results["v6.18"] != "skipped"


def test_kcompactd_compacts_every_zone_from_the_lowest():
    """``kcompactd`` (v4.6): kcompactd_do_work compacts each zone from the lowest up,
    whatever the others did; the allocator's loop (v4.5's stand-in) starts at the highest
    and stops at the first zone that meets its watermark."""
    touched = {}
    for kc in (True, False):
        v = NAMED["v4.8"].replace(kcompactd=kc, kcompactd_ignore_skip_hint=kc)
        s = Sim(mmkit.Memory.synthetic(zones=ZONES, variant=v), seed=5)
        half_fill_every_zone(s)
        before = s.mem.kind.copy()
        if kc:
            cp.kcompactd_do_work(s.A, s.vc, s.S, 3, s.zone_hi)
        else:
            cp.compact_zones_for(s.A, s.vc, s.S, 3, 1, s.zone_hi, True, 0)
        moved = before != s.mem.kind
        touched[kc] = [bool(moved[s.mem.zone_start[z]:s.mem.zone_end[z]].any()) for z in range(2)]
        s.check()
    assert touched[True] == [True, True]
    assert touched[False] == [False, True]


@pytest.mark.parametrize("variant", ["v4.5", "v6.18"])
@pytest.mark.parametrize("considered", [63, 64])
def test_compaction_restarting_clears_the_skip_bits(variant, considered):
    """``compaction_restarting`` (every era): a zone deferred to COMPACT_MAX_DEFER_SHIFT
    whose deferred requests have all been counted is compacted from clean skip bits; one
    request earlier, every block is still skipped and nothing is scanned."""
    from mmkit.engine import state as st

    e, t = pair(variant)
    z = fragment(e, t)
    first, last = int(e.mem.zone_start[z]) // PB, (int(e.mem.zone_end[z]) - 1) // PB
    for b in range(first, last + 1):
        e.mem.pb_flags[b] |= 8
        t.mem.pageblock_skip[b] = True
    e.S.zc[z, st.ZC_DEFER_SHIFT], e.S.zc[z, st.ZC_CONSIDERED], e.S.zc[z, st.ZC_ORDER_FAILED] = 6, considered, 3
    t.zc[z].defer_shift, t.zc[z].considered, t.zc[z].order_failed = 6, considered, 3
    agree(e, t)
    before = e.vmstat["compact_migrate_scanned"]
    both(e, t, "compact_zone", z, order=3, sync=True, ignore_skip=False)
    agree(e, t)
    scanned = e.vmstat["compact_migrate_scanned"] - before
    assert (scanned > 0) == (considered == 64)


# ---------------------------------------------------------------- proactive compaction (v5.9)
def extfrag_percent(sim, z):
    """``extfrag_for_order(zone, 9)`` from the zone's free counts, as the unusable index
    ``mmkit.metrics`` computes it (an independent formula: 100 x unusable(9), floored)."""
    free = sum(int(sim.mem.nr_free[z, o]) << o for o in range(11))
    big = sum(int(sim.mem.nr_free[z, o]) << o for o in range(9, 11))
    return (free - big) * 100 // free if free else 0


@pytest.mark.parametrize("variant", ["v4.5", "v4.8"])
def test_proactive_compaction_stops_at_the_low_mark(variant):
    """``compact_node(pgdat, true)``: above the high mark (90) every zone is compacted,
    each until its own score is at most the low mark (80); then the check finds the node
    below the high mark. Engine and twin agree page for page. (The check runs whatever
    the variant says; under v6.x's allocator ``fragment`` leaves kernel pages in every
    pageblock, so no order-9 block can be made: v6.18 is in the differential tests.)"""
    e, t = pair(variant)
    fragment(e, t, "DMA32")
    z = fragment(e, t)
    for zone in range(2):
        assert int(cp.extfrag_for_order(e.A, zone, 9)) == extfrag_percent(e, zone)
    assert int(cp.fragmentation_score_node(e.A, e.S)) > 90
    assert both(e, t, "proactive_compact") == "progress"
    agree(e, t)
    assert extfrag_percent(e, z) <= 80
    assert e.vmstat["pgmigrate_success"] > 0
    # stopped at the mark, not at the end of the zone: a whole-zone run migrates more
    e2, t2 = pair(variant)
    fragment(e2, t2, "DMA32")
    fragment(e2, t2)
    e2.compact_memory()
    assert e2.vmstat["pgmigrate_success"] > e.vmstat["pgmigrate_success"]
    assert int(cp.fragmentation_score_node(e.A, e.S)) <= 90
    assert both(e, t, "proactive_compact") == "not needed"
    e.check()


def test_proactive_compaction_without_progress_waits_64_times_longer():
    """kcompactd's loop (v5.9): a check every ``period`` ticks without a wakeup; a run
    that did not lower the score makes the next wait ``period << 6``; a wakeup (a failed
    high-order request) starts the wait again. Without ``proactive_compaction`` (v4.8)
    there are no checks."""
    from mmkit.engine.state import ST_PROACTIVE_WAIT

    for variant, checks in (("v6.18", True), ("v4.8", False)):
        e, t = pair(variant)
        # every other page pinned: compaction can move nothing, the score stays at 100
        fragment(e, t, "DMA32", pinned=True)
        fragment(e, t, "Normal", pinned=True)
        scanned = []
        for tick in range(8):
            cp.kcompactd_tick(e.A, e.vc, e.S, 0, e.zone_hi, 5, 100_000_000)
            scanned.append(e.vmstat["compact_migrate_scanned"])
        if not checks:
            assert scanned[-1] == 0 and int(e.S.st[ST_PROACTIVE_WAIT]) == 0
            continue
        assert scanned[0] > 0 and scanned[-1] == scanned[0]  # one check, at the first tick
        assert int(cp.fragmentation_score_node(e.A, e.S)) > 90
        assert int(e.S.st[ST_PROACTIVE_WAIT]) == (5 << 6) - 7
        wakes = e.vmstat["compact_daemon_wake"]
        cp.kcompactd_tick(e.A, e.vc, e.S, 3, e.zone_hi, 5, 100_000_000)  # woken: the wait starts again
        assert int(e.S.st[ST_PROACTIVE_WAIT]) == 5
        assert e.vmstat["compact_daemon_wake"] == wakes + 1
        e.check()


def test_a_proactive_run_goes_on_from_tick_to_tick():
    """A proactive run migrates a tick's worth of pages (``tick_ns`` /
    PROACTIVE_NS_PER_PAGE) at each tick's end; between its slices the memory is whole
    (its isolated free pages back in the buddy); a wakeup during it is served at its
    end, and a run that lowered the score leaves the usual wait."""
    from mmkit.engine.state import ST_PROACTIVE_BUSY, ST_PROACTIVE_WAIT

    v = NAMED["v4.8"].replace(proactive_compaction=True)
    e, t = pair(v)
    fragment(e, t, "DMA32")
    z = fragment(e, t)
    e2, t2 = pair(v)
    fragment(e2, t2, "DMA32")
    fragment(e2, t2)
    assert e2.proactive_compact() == "progress"
    whole = e2.vmstat["pgmigrate_success"]
    per_tick = 100
    tick_ns = per_tick * cp.PROACTIVE_NS_PER_PAGE
    wakes = e.vmstat["compact_daemon_wake"]
    cp.kcompactd_tick(e.A, e.vc, e.S, 0, e.zone_hi, 5, tick_ns)  # the check: the run's first slice
    slices = 1
    assert int(e.S.st[ST_PROACTIVE_BUSY]) == 1
    assert per_tick <= e.vmstat["pgmigrate_success"] < whole
    e.check()
    while int(e.S.st[ST_PROACTIVE_BUSY]):
        cp.kcompactd_tick(e.A, e.vc, e.S, 3 if slices == 1 else 0, e.zone_hi, 5, tick_ns)
        slices += 1
        e.check()
        if int(e.S.st[ST_PROACTIVE_BUSY]):
            assert e.vmstat["compact_daemon_wake"] == wakes  # woken during the run: not yet served
    assert slices >= whole // (2 * per_tick)
    assert e.vmstat["compact_daemon_wake"] == wakes + 1
    assert int(e.S.st[ST_PROACTIVE_WAIT]) == 5
    assert extfrag_percent(e, z) <= 80
