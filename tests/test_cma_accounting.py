"""NR_FREE_CMA_PAGES and what reads it: the watermark test of a request that may not use
CMA (no ALLOC_CMA, every era), compaction's free-page isolation (ALLOC_CMA from v4.9),
and v5.7's CMA-first rule for movable requests (``cma_balance``), engine against twin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mmkit
from mmkit.engine import pages
from mmkit.engine import workload as W
from mmkit.engine.buddy import zone_watermark_ok
from mmkit.engine.sim import Sim
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, MigrateType, PageKind
from mmkit.reference import engine_state
from mmkit.semantics import NAMED
from opgen import no_watermarks, pair, random_ops

CMA = int(MigrateType.CMA)
MOVABLE = int(MigrateType.MOVABLE)
UNMOVABLE = int(MigrateType.UNMOVABLE)


def cma_area(engine, twin, blocks):
    """The top ``blocks`` pageblocks of the highest zone become MIGRATE_CMA on both sides
    (``setup_cma_area``, as the workload's and the tick twin's)."""
    P = np.zeros(W.NR_P, np.int64)
    P[W.P_CMA_AREA_BLOCKS] = blocks
    start = W.setup_cma_area(engine.arrays(), engine.variant.compile(), P)
    assert twin.setup_cma_area(blocks) == start
    return start


def free_cma_counted(mem):
    """NR_FREE_CMA_PAGES of each zone, counted from the free lists (as Sim.check does)."""
    st_ = engine_state(mem)
    out = np.zeros(mem.nr_zones, dtype=np.int64)
    for (z, o, _mt), blocks in st_["free_lists"].items():
        for pfn in blocks:
            step = min(1 << o, PAGEBLOCK_NR_PAGES)
            for p in range(pfn, pfn + (1 << o), step):
                if int(mem.pb_flags[p // PAGEBLOCK_NR_PAGES]) & 7 == CMA:
                    out[z] += step
    return out


def assert_same(engine, twin):
    a, b = engine_state(engine), twin.state()
    for key in ("mapcount", "kind", "private", "nr_free", "nr_free_cma", "pageblock_mt"):
        assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), key
    assert a["free_lists"] == b["free_lists"]
    assert np.array_equal(engine.nr_free_cma, free_cma_counted(engine))


@pytest.mark.parametrize("variant", ["v4.5", "v4.8", "v6.18"])
@pytest.mark.parametrize("balance", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_random_sequences_with_a_cma_area_agree(variant, balance, seed):
    v = NAMED[variant].replace(cma_balance=balance, name="x")
    engine, twin = pair(variant)
    engine.variant = v
    twin.variant = v
    cma_area(engine, twin, 6)
    assert engine.nr_free_cma[-1] == 6 * PAGEBLOCK_NR_PAGES
    assert_same(engine, twin)
    for op, a, b in random_ops(engine, twin, seed=seed * 7919 + 5, n_ops=700, max_order=10):
        assert a == b, f"{op}: engine gave {a}, twin gave {b}"
    assert_same(engine, twin)
    engine.check()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), variant=st.sampled_from(list(NAMED)), balance=st.booleans(),
       blocks=st.integers(1, 10), n=st.integers(1, 400), max_order=st.integers(0, 10))
def test_hypothesis_sequences_with_a_cma_area_agree(seed, variant, balance, blocks, n, max_order):
    v = NAMED[variant].replace(cma_balance=balance, name="x")
    engine, twin = pair(variant, zones=(("DMA32", 4), ("Normal", 8)))
    engine.variant = v
    twin.variant = v
    cma_area(engine, twin, blocks)
    for op, a, b in random_ops(engine, twin, seed=seed, n_ops=n, max_order=max_order):
        assert a == b, op
    assert_same(engine, twin)
    engine.check()


def _movable_in_cma(balance):
    v = NAMED["v6.18"].replace(cma_balance=balance, name="x")
    engine, twin = pair("v6.18", zones=(("Normal", 32),))
    engine.variant = v
    twin.variant = v
    start = cma_area(engine, twin, 10)  # 10 of 16 pageblocks: CMA holds most free pages
    assert start == 6 * PAGEBLOCK_NR_PAGES
    got = [pages.alloc_pages(engine, 0, MigrateType.MOVABLE, PageKind.ANON, owner=16, zone=0) for _ in range(64)]
    tw = [twin.alloc_pages(0, MOVABLE, int(PageKind.ANON), 16, 0) for _ in range(64)]
    assert got == tw
    return np.asarray(got), start


def test_cma_balance_puts_movable_pages_in_cma_while_it_holds_most_free_pages():
    """v5.7: with 10 of 16 pageblocks CMA, a movable request gets a CMA page; before, a
    MOVABLE one (CMA only when the MOVABLE lists are empty)."""
    got, start = _movable_in_cma(True)
    assert (got >= start).all()
    got, start = _movable_in_cma(False)
    assert (got < start).all()


def test_cma_balance_stops_at_half_of_the_free_pages():
    """Movable pages fill CMA until its free pages are half of the zone's, then come from
    MOVABLE: the first movable allocations taken after that are MOVABLE ones."""
    v = NAMED["v6.18"]
    engine, twin = pair("v6.18", zones=(("Normal", 32),))
    start = cma_area(engine, twin, 10)
    assert start == 6 * PAGEBLOCK_NR_PAGES
    z = 0
    first_movable = None
    for i in range(4096):
        pfn = pages.alloc_pages(engine, 0, MigrateType.MOVABLE, PageKind.ANON, owner=16, zone=0)
        twin.alloc_pages(0, MOVABLE, int(PageKind.ANON), 16, 0)
        if pfn < start:
            first_movable = i
            free = int(engine.free_pages()[z])
            # the allocation before this one left CMA with half the free pages or less
            assert int(engine.nr_free_cma[z]) <= (free + 1) // 2 + 1
            break
    assert first_movable is not None and first_movable > 0
    assert v.cma_balance
    assert_same(engine, twin)


@pytest.mark.parametrize("variant", ["v4.5", "v4.8", "v6.18"])
def test_a_request_without_alloc_cma_does_not_count_free_cma_pages(variant):
    """__zone_watermark_ok: free pages above the mark only thanks to CMA pass a movable
    request (ALLOC_CMA) and fail an unmovable one, in every era (since v3.7)."""
    engine, twin = pair(variant, zones=(("Normal", 8),))
    assert cma_area(engine, twin, 4) == 0  # the whole zone
    A = engine.arrays()
    free = int(engine.free_pages()[0])
    assert int(engine.nr_free_cma[0]) == free
    mark = free // 2
    assert zone_watermark_ok(A, 0, 0, mark, True)
    assert not zone_watermark_ok(A, 0, 0, mark, False)
    assert twin.watermark_ok(0, 0, mark, True) and not twin.watermark_ok(0, 0, mark, False)
    # so an unmovable request fails where a movable one succeeds
    got = pages.alloc_pages(engine, 0, MigrateType.UNMOVABLE, PageKind.KERNEL, owner=16, zone=0)
    assert got == twin.alloc_pages(0, UNMOVABLE, int(PageKind.KERNEL), 16, 0) == -1
    got = pages.alloc_pages(engine, 0, MigrateType.MOVABLE, PageKind.ANON, owner=16, zone=0)
    assert got == twin.alloc_pages(0, MOVABLE, int(PageKind.ANON), 16, 0) >= 0


def test_compaction_isolates_cma_free_pages_from_v4_9():
    """__isolate_free_page's watermark test: v4.8 does not count free CMA pages (alloc_flags
    0), v4.9+ does (ALLOC_CMA). With the zone's free memory all in CMA pageblocks, v4.8's
    compaction isolates no free page and migrates nothing; v6.18's migrates."""
    out = {}
    for name in ("v4.8", "v6.18"):
        v = NAMED[name]
        s = Sim(mmkit.Memory.synthetic(mib=64, variant=v, cpus=0), seed=1)
        z = s.zone_hi
        saved = s.A.wmark.copy()
        s.A.wmark[:] = 0
        anon = s.anon(s.mem.nr_pages)
        s.A.wmark[:] = saved
        anon = anon[anon >= 0]
        top = anon[anon >= s.mem.zone_end[z] - 8 * PAGEBLOCK_NR_PAGES]
        P = np.zeros(W.NR_P, np.int64)
        P[W.P_CMA_AREA_BLOCKS] = 8
        start = W.setup_cma_area(s.A, s.vc, P)
        s.free(top[top >= start])  # the free pages are all CMA's
        low = anon[anon < start]
        s.free(low[::256])  # a few holes below, fewer than the low watermark
        s.check()
        cma = int(s.A.nr_free_cma[z])
        free = int(s.mem.free_pages()[z])
        assert free - cma < s.A.wmark[z, 0] < cma
        s.compact_zone(z, order=-1, sync=True)
        s.check()
        out[name] = int(s.vmstat["pgmigrate_success"])
    assert out["v4.8"] == 0 and out["v6.18"] > 0, out


@pytest.mark.parametrize("variant", ["v4.5", "v4.8", "v6.18"])
def test_the_count_follows_contiguous_allocations_and_compaction(variant):
    """A Sim with a CMA area: CMA allocations (isolating CMA pageblocks and giving them
    back), compaction and frees keep NR_FREE_CMA_PAGES equal to the free pages of CMA
    pageblocks (Sim.check recounts it after each step)."""
    s = Sim(mmkit.Memory.synthetic(mib=64, variant=NAMED[variant], cpus=2), seed=3)
    P = np.zeros(W.NR_P, np.int64)
    P[W.P_CMA_AREA_BLOCKS] = 12
    start = W.setup_cma_area(s.A, s.vc, P)
    s.check()
    rng = np.random.default_rng(1)
    held = []
    for step in range(12):
        got = s.anon(int(rng.integers(200, 2000)))
        s.check()
        s.free(got[got >= 0][:: int(rng.integers(2, 4))])
        s.check()
        b = start + int(rng.integers(0, 10)) * PAGEBLOCK_NR_PAGES
        r = s.alloc_contig_range(b, b + 2 * PAGEBLOCK_NR_PAGES)
        s.check()
        if r["ok"]:
            held.append(b)
        if step % 4 == 3:
            s.compact_zone(s.zone_hi, order=-1, sync=True)
            s.check()
    for b in held:
        s.free_contig_range(b, b + 2 * PAGEBLOCK_NR_PAGES)
        s.check()
    assert held, "no contiguous allocation succeeded: the test lost its teeth"
    assert np.array_equal(s.mem.nr_free_cma, free_cma_counted(s.mem))


def test_a_sim_recounts_the_count_of_a_memory_built_elsewhere():
    """A Memory whose count was not kept (a saved result, a snapshot) gets it from its
    free lists when a Sim starts on it."""
    s = Sim(mmkit.Memory.synthetic(mib=64, variant=NAMED["v6.18"], cpus=0), seed=1)
    P = np.zeros(W.NR_P, np.int64)
    P[W.P_CMA_AREA_BLOCKS] = 4
    W.setup_cma_area(s.A, s.vc, P)
    want = s.mem.nr_free_cma.copy()
    assert want[-1] == 4 * PAGEBLOCK_NR_PAGES
    mem = s.mem.copy()
    mem.nr_free_cma[:] = 0
    Sim(mem, seed=1).check()
    assert np.array_equal(mem.nr_free_cma, want)


def test_check_finds_a_count_that_drifted():
    s = Sim(mmkit.Memory.synthetic(mib=64, variant=NAMED["v6.18"], cpus=0), seed=1)
    P = np.zeros(W.NR_P, np.int64)
    P[W.P_CMA_AREA_BLOCKS] = 2
    W.setup_cma_area(s.A, s.vc, P)
    s.check()
    s.A.nr_free_cma[s.zone_hi] += 1
    with pytest.raises(mmkit.errors.InvariantError, match="NR_FREE_CMA_PAGES"):
        s.check()



# ------------------------------------------------ who counts free CMA pages in compaction
def _cma_topped_zone(variant, every):
    """A 64 MiB Normal zone filled with anonymous pages, its top 6 of 32 pageblocks made
    CMA and freed whole (three free order-10 blocks on the CMA lists), and every
    ``every``-th page below them freed (order-0 holes): engine and twin, agreeing."""
    from mmkit.model.memory import synthetic_layout
    from mmkit.reference.buddy import RefMemory
    from mmkit.reference.sim import RefSim, compare_states, engine_sim_state

    zones = [("Normal", 64)]
    e = Sim(mmkit.Memory.synthetic(zones=zones, variant=variant, cpus=0), seed=5)
    t = RefSim(RefMemory.boot(synthetic_layout(zones=zones), variant), seed=5)
    restore = no_watermarks(e, t)
    n = int(e.mem.free_pages()[0])
    pfns = e.anon(n)
    assert np.array_equal(pfns, t.anon(n)) and (pfns >= 0).all()
    restore()
    P = np.zeros(W.NR_P, np.int64)
    P[W.P_CMA_AREA_BLOCKS] = 6
    start = W.setup_cma_area(e.A, e.vc, P)
    assert t.mem.setup_cma_area(6) == start
    drop = [int(p) for p in pfns if p >= start] + [int(p) for p in pfns if p < start and p % every == 0]
    e.free(drop)
    t.free(drop)
    assert not compare_states(engine_sim_state(e), t.state())
    assert int(e.A.nr_free_cma[0]) == 6 * PAGEBLOCK_NR_PAGES and int(e.A.nr_free[0, 10]) == 3
    return e, t


# (variant, order, ALLOC_CMA, async) -> __compaction_suitable's answer, with the zone's
# free pages all CMA's but for a few order-0 holes (fewer than the min watermark)
SUITABLE = {
    # the caller's ALLOC_CMA decides "already there" in every era: a movable request
    # would be served from the CMA lists, an unmovable one not
    ("v4.8", 2, True, False): "PARTIAL",
    ("v6.18", 9, True, True): "PARTIAL",
    # v4.8's order-0 test uses the caller's flags too: without ALLOC_CMA it is skipped
    ("v4.8", 2, False, False): "SKIPPED",
    ("v4.8", 9, False, True): "SKIPPED",
    # from v4.9 the order-0 test counts free CMA pages for every caller (984fdba6a32e)
    ("v6.18", 2, False, True): "CONTINUE",
    ("v6.18", 9, False, False): "CONTINUE",
    # v6.13 (6268f0a166eb): async costly without ALLOC_CMA needs the gap outside CMA
    ("v6.18", 9, False, True): "SKIPPED",
}


@pytest.mark.parametrize("key", list(SUITABLE), ids=lambda k: "-".join(map(str, k)))
def test_compaction_suitable_counts_free_cma_pages_for_the_callers_that_may_use_them(key):
    from mmkit.engine import compaction as cp
    from mmkit.reference import compaction as tcp

    variant, order, alloc_cma, async_ = key
    e, t = _cma_topped_zone(variant, every=64)
    free, cma = int(e.mem.free_pages()[0]), int(e.A.nr_free_cma[0])
    assert free - cma < int(e.mem.wmark[0, 0])  # outside CMA: below the min watermark
    names = {cp.COMPACT_PARTIAL: "PARTIAL", cp.COMPACT_SKIPPED: "SKIPPED", cp.COMPACT_CONTINUE: "CONTINUE",
             cp.COMPACT_NOT_SUITABLE_ZONE: "NOT_SUITABLE_ZONE"}
    twin_names = {tcp.PARTIAL: "PARTIAL", tcp.SKIPPED: "SKIPPED", tcp.CONTINUE: "CONTINUE",
                  tcp.NOT_SUITABLE_ZONE: "NOT_SUITABLE_ZONE"}
    got = names[cp.compaction_suitable(e.A, e.vc, 0, order, alloc_cma, async_)]
    assert got == twin_names[tcp.compaction_suitable(t, 0, order, alloc_cma, async_)]
    assert got == SUITABLE[key]


@pytest.mark.parametrize("variant", ["v4.8", "v6.18"])
def test_kcompactd_does_not_take_free_cma_blocks_for_its_order(variant):
    """kcompactd asks with GFP_KERNEL (UNMOVABLE) and no ALLOC_CMA: free order-10 blocks on
    the CMA lists are not the order-9 page it compacts for, so it compacts (migrating
    pages into the CMA area) where, counting them, it would stop at once."""
    from mmkit.engine import compaction as cp
    from mmkit.reference import compaction as tcp
    from mmkit.reference.sim import compare_states, engine_sim_state

    e, t = _cma_topped_zone(variant, every=2)
    free, cma = int(e.mem.free_pages()[0]), int(e.A.nr_free_cma[0])
    assert free - cma > int(e.mem.wmark[0, 1]) + (2 << 9)  # room to compact outside CMA
    cp.kcompactd_do_work(e.A, e.vc, e.S, 9, 0)
    tcp.kcompactd_do_work(t, 9, 0)
    assert not compare_states(engine_sim_state(e), t.state())
    assert e.vmstat == t.vmstat
    assert e.vmstat["pgmigrate_success"] > 0
    e.check()


# ------------------------------------------------------- NR_FREE_PAGES and isolated blocks
@pytest.mark.parametrize("variant", ["v4.5", "v6.18"])
def test_free_pages_of_isolated_pageblocks_are_not_counted(variant):
    """``set_migratetype_isolate`` takes the free pages it moves to the isolate lists out
    of NR_FREE_PAGES (every era): while alloc_contig_range holds a range isolated, the
    watermark tests do not count them; buddyinfo (nr_free) still does. Undoing the
    isolation counts them again. Engine and twin."""
    from mmkit.engine import contig as C
    from mmkit.engine.buddy import zone_free_pages
    from mmkit.model.memory import synthetic_layout
    from mmkit.reference import contig as tC
    from mmkit.reference.buddy import RefMemory
    from mmkit.reference.sim import RefSim, compare_states, engine_sim_state

    zones = [("Normal", 64)]
    e = Sim(mmkit.Memory.synthetic(zones=zones, variant=variant, cpus=0), seed=5)
    t = RefSim(RefMemory.boot(synthetic_layout(zones=zones), variant), seed=5)
    z = 0
    buddyinfo = int(e.mem.free_pages()[z])
    assert zone_free_pages(e.A, z) == t.mem.free_pages_of(z) == buddyinfo
    end = int(e.mem.zone_end[z]) & ~(PAGEBLOCK_NR_PAGES - 1)
    start = end - 4 * PAGEBLOCK_NR_PAGES
    saved = np.zeros(4, np.int64)
    C.start_isolate_page_range(e.A, e.vc, start, end, saved)
    tsaved = tC.start_isolate_page_range(t, z, start, end)
    assert not compare_states(engine_sim_state(e), t.state())
    assert int(e.mem.free_pages()[z]) == buddyinfo  # buddyinfo still counts them
    assert zone_free_pages(e.A, z) == t.mem.free_pages_of(z) == buddyinfo - 4 * PAGEBLOCK_NR_PAGES
    mark = buddyinfo - 2 * PAGEBLOCK_NR_PAGES  # met by all free pages, not by those outside the range
    assert not zone_watermark_ok(e.A, z, 0, mark, True) and not t.mem.watermark_ok(z, 0, mark, True)
    C.undo_isolate_page_range(e.A, e.vc, start, end, saved)
    tC.undo_isolate_page_range(t, z, start, end, tsaved)
    assert zone_free_pages(e.A, z) == t.mem.free_pages_of(z) == buddyinfo
    assert zone_watermark_ok(e.A, z, 0, mark, True) and t.mem.watermark_ok(z, 0, mark, True)
    e.check()


def test_a_range_on_a_full_zone_reclaims_for_its_targets():
    """A 64 MiB zone just above its min watermark: clean page cache below an 8-pageblock
    CMA area full of anonymous pages. alloc_contig_range over 4 of its pageblocks
    migrates their 2,048 pages out; the targets' watermark tests do not count the range's
    own free pages, so reclaim makes room for them and the range is allocated, the zone
    still above min. (Counting them, reclaim stopped at once and the range failed after
    399 migrations.) Engine and twin."""
    from mmkit.model.memory import synthetic_layout
    from mmkit.reference.buddy import RefMemory
    from mmkit.reference.sim import RefSim
    from opgen import agree, both, sim_cma_area

    zones = [("Normal", 64)]
    e = Sim(mmkit.Memory.synthetic(zones=zones, variant="v4.8", cpus=0), seed=5)
    t = RefSim(RefMemory.boot(synthetic_layout(zones=zones), "v4.8"), seed=5)
    restore = no_watermarks(e, t)
    start = sim_cma_area(e, 8)
    assert sim_cma_area(t, 8) == start
    files = both(e, t, "file", int(np.count_nonzero(e.mem.kind[:start] == PageKind.FREE)))
    anon = both(e, t, "anon", int(e.mem.free_pages()[0]))
    assert (files < start).all() and (anon >= start).all()
    restore()
    mn = int(e.mem.wmark[0, 0])
    both(e, t, "free", [int(p) for p in files][: mn + 100])
    res = both(e, t, "alloc_contig_range", start, start + 4 * PAGEBLOCK_NR_PAGES)
    assert res["ok"] == 1 and res["migrated"] == 4 * PAGEBLOCK_NR_PAGES
    assert e.vmstat["pgsteal"] > 0 and int(e.mem.free_pages()[0]) >= mn
    agree(e, t)
    e.check()
