"""v5.1's free-list searches (``compact_fast_search``): ``fast_isolate_freepages``,
``fast_isolate_around`` and ``fast_find_migrateblock`` (mm/compaction.c), and the
migrate scanner's skip test only where it enters a pageblock (``skip_hints_scanned``).

The semantics are checked on the twin (``mmkit.reference.compaction``), on states made
for each rule of the kernel function; the engine is held to the twin by the differential
tests at the end, on fragmented states where direct compaction runs these paths.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_differential import assert_same

import mmkit
from mmkit.engine.sim import Sim
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, PageKind
from mmkit.model.memory import synthetic_layout
from mmkit.reference import compaction as rc
from mmkit.reference.buddy import MOVABLE, RefMemory
from mmkit.reference.sim import RefSim
from mmkit.semantics import NAMED

# numpy warns on the generator's wrapping uint64 arithmetic when the JIT is off
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

V618 = NAMED["v6.18"]
NORMAL = 1
# the 64 MiB machine's Normal zone is [4096, 16384): its last pageblock starts at 15872.
# With the migrate scanner at the zone's start and the free scanner at its last
# pageblock, the fast free search's preferred mark (top quarter) is 12800 and its
# minimum (top half) 9728; the migrate search's mark (first half) is 9728
ZONE_START, LAST_BLOCK = 4096, 15872
LOW_MARK, MIN_MARK = 12800, 9728


def _twin(variant=V618) -> RefSim:
    """The Normal zone full of anonymous pages but for its lowest 2048 pages (two free
    order-10 blocks, above every watermark, of an order no search here looks at)."""
    t = RefSim(RefMemory.boot(synthetic_layout(mib=64), variant), seed=1)
    zone = t.mem.zones[NORMAL]
    assert (zone.start, zone.end) == (ZONE_START, LAST_BLOCK + PAGEBLOCK_NR_PAGES)
    saved = zone.wmark
    zone.wmark = [0, 0, 0]
    pages = t.anon(n=zone.end - zone.start, zone=NORMAL)
    zone.wmark = saved
    assert zone.nr_free.count(0) == len(zone.nr_free) and (pages >= 0).all()
    t.free(np.arange(ZONE_START, ZONE_START + 2048))
    assert zone.nr_free[10] == 2
    return t


def _free_block(t: RefSim, pfn: int, order: int = 3) -> None:
    t.free(np.arange(pfn, pfn + (1 << order)))
    assert t.mem.PageBuddy(pfn) and t.mem.pages[pfn].private == order


def _cc(order=9, sync=True, direct=True, nr_migratepages=8, **kw):
    cc = rc.CompactControl(zone=NORMAL, order=order, sync=sync, ignore_skip_hint=False, migratetype=MOVABLE,
                           direct=direct, **kw)
    cc.migrate_pfn, cc.free_pfn, cc.nr_migratepages = ZONE_START, LAST_BLOCK, nr_migratepages
    return cc


def _isolated(t, pfn) -> bool:
    return t.mem.pages[pfn].kind == int(PageKind.ISOLATED_FREE)


# ---------------------------------------------------------------- fast_isolate_freepages
def test_a_block_in_the_top_quarter_is_taken_whole():
    t = _twin()
    t.zc[NORMAL].cached_free = LAST_BLOCK
    _free_block(t, 7000)  # below the top half: never a candidate
    _free_block(t, 14000)  # in the top quarter
    cc = _cc()
    rc.fast_isolate_freepages(t, cc)
    assert cc.nr_freepages == 8 and _isolated(t, 14000) and t.mem.PageBuddy(7000)
    assert cc.fast_search_fail == 0 and cc.search_order == 3  # the order that gave it
    assert t.freepages_order[3].lru_next is t.mem.pages[14000]  # whole, on cc->freepages[3]


def test_else_the_highest_block_of_the_top_half():
    t = _twin()
    for pfn in (7000, 10000, 11000):
        _free_block(t, pfn)
    cc = _cc()
    rc.fast_isolate_freepages(t, cc)
    assert cc.nr_freepages == 8 and _isolated(t, 11000)
    assert t.mem.PageBuddy(7000) and t.mem.PageBuddy(10000)


@pytest.mark.parametrize("direct,sync,moved,skipped", [(True, True, True, True), (True, False, True, False),
                                                       (False, True, False, False)])
def test_a_search_that_finds_nothing_at_the_scan_start(direct, sync, moved, skipped):
    """Direct compaction is pessimistic: the free scanner goes to the bottom of the top
    half and, unless async, scans that pageblock (nothing free there: it is marked
    skip); kcompactd's stays where it was."""
    t = _twin()
    _free_block(t, 7000)
    cc = _cc(direct=direct, sync=sync, nr_migratepages=32)
    rc.fast_isolate_freepages(t, cc)
    assert cc.nr_freepages == 0 and cc.fast_search_fail == 1
    assert cc.free_pfn == (MIN_MARK if moved else LAST_BLOCK)
    assert bool(t.mem.pageblock_skip[MIN_MARK // PAGEBLOCK_NR_PAGES]) == skipped


def test_the_list_is_rotated_past_what_the_search_looked_at():
    """Not at the scan's start the search looks at freelist_scan_limit / 2 = 16 entries
    from the tail; the last one looked at becomes the list's first
    (``move_freelist_head``), so the next search starts with the ones not looked at."""
    t = _twin()
    t.zc[NORMAL].init_free = LAST_BLOCK + 1  # the free scanner is not at its start
    for pfn in range(6144, 6144 + 24 * 16, 16):  # 24 order-3 blocks, all below the top half
        _free_block(t, pfn)
    lst = t.mem.zones[NORMAL].free_list[3][MOVABLE]
    before = list(lst)
    assert len(before) == 24
    cc = _cc()
    rc.fast_isolate_freepages(t, cc)
    assert cc.nr_freepages == 0 and cc.fast_search_fail == 1
    assert lst == before[8:] + before[:8]


def test_a_refused_block_ends_the_search():
    """__isolate_free_page refuses below the min watermark: the search stops there and
    starts one order lower next time."""
    t = _twin()
    _free_block(t, 14000)
    zone = t.mem.zones[NORMAL]
    zone.wmark = [w + 10**6 for w in zone.wmark]
    cc = _cc()
    rc.fast_isolate_freepages(t, cc)
    assert cc.nr_freepages == 0 and t.mem.PageBuddy(14000)
    assert cc.fast_search_fail == 1 and cc.search_order == 2


def test_no_search_for_a_whole_zone_compaction():
    t = _twin()
    _free_block(t, 14000)
    cc = _cc(order=-1)
    rc.fast_isolate_freepages(t, cc)
    assert cc.nr_freepages == 0 and cc.fast_search_fail == 0 and t.mem.PageBuddy(14000)


# ---------------------------------------------------------------- fast_find_migrateblock
def test_the_migrate_scanner_goes_to_a_pageblock_with_a_free_block():
    t = _twin()
    _free_block(t, 7000)
    cc = _cc()
    assert rc.fast_find_migrateblock(t, cc) == 7000 // PAGEBLOCK_NR_PAGES * PAGEBLOCK_NR_PAGES
    assert cc.fast_search_fail == 0 and cc.fast_start_pfn == 7000


@pytest.mark.parametrize("why", ["skipped", "above the mark", "costly order", "ignore_skip_hint",
                                 "mid-block", "unmovable request", "finish_pageblock"])
def test_the_migrate_scanner_stays(why):
    t = _twin()
    pfn = 11000 if why == "above the mark" else 7000
    _free_block(t, pfn)
    cc = _cc(order=3 if why == "costly order" else 9)
    if why == "skipped":
        t.mem.pageblock_skip[pfn // PAGEBLOCK_NR_PAGES] = True
    cc.ignore_skip_hint = why == "ignore_skip_hint"
    cc.finish_pageblock = why == "finish_pageblock"
    if why == "mid-block":
        cc.migrate_pfn += 100
    if why == "unmovable request":
        cc.migratetype = 0
    start = cc.migrate_pfn
    assert rc.fast_find_migrateblock(t, cc) == start
    searched = why in ("skipped", "above the mark")
    assert cc.fast_search_fail == int(searched) and cc.fast_start_pfn == 0


def test_a_failed_search_resumes_once_at_the_lowest_block_picked():
    t = _twin()
    _free_block(t, 7000)
    cc = _cc()
    assert rc.fast_find_migrateblock(t, cc) == 6656
    t.mem.pageblock_skip[7000 // PAGEBLOCK_NR_PAGES] = True  # as the scan of that block marks it
    cc.migrate_pfn = 8192
    assert rc.fast_find_migrateblock(t, cc) == 7000  # reinit_migrate_pfn
    assert cc.migrate_pfn == 7000 and cc.fast_start_pfn == rc.FAST_START_USED
    cc.migrate_pfn = 8192
    assert rc.fast_find_migrateblock(t, cc) == 8192 and cc.fast_search_fail == 2


# ---------------------------------------------------------------- the skip test on entry
@pytest.mark.parametrize("variant,stays_in_block", [(V618, True),
                                                    (V618.replace(skip_hints_scanned=False,
                                                                  compact_fast_search=False), False)])
def test_a_resumed_pageblock_is_not_tested_for_skip_again(variant, stays_in_block):
    """v5.1 (e380bebe4771): test_and_set_skip marks a pageblock at its first LRU page, so
    the scan resumed after a batch does not test the bit again; before, a marked block
    was passed over wherever the scanner stood."""
    t = _twin(variant)
    block = 8192
    t.mem.pageblock_skip[block // PAGEBLOCK_NR_PAGES] = True
    cc = _cc(order=-1, nr_migratepages=0)
    cc.migrate_pfn = block + 100
    assert rc.isolate_migratepages(t, cc) == rc.ISOLATE_SUCCESS
    first = block + 100 if stays_in_block else block + PAGEBLOCK_NR_PAGES
    assert cc.migrate_pfn == first + rc.COMPACT_CLUSTER_MAX


# ---------------------------------------------------------------- engine = twin
VARIANTS = {
    "v6.18": V618,
    "v6.18-no-fast-search": V618.replace(compact_fast_search=False),
    # the searches with v5.1-v6.8's order-0 targets (split free blocks)
    "v4.8+fast-search": NAMED["v4.8"].replace(skip_hints_scanned=True, compact_fast_search=True),
}
COMPACTIONS = [(9, False, 1), (9, True, 1), (6, True, 0), (4, False, 1), (10, True, 1), (5, True, 2)]


def _fragment(sim, seed: int) -> None:
    n = sim.mem.nr_pages if hasattr(sim.mem, "nr_pages") else len(sim.mem.pages)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        a = sim.anon(n=int(n * 0.3), zone=NORMAL)
        f = sim.file(n=int(n * 0.2), zone=NORMAL)
        got = np.concatenate([a[a >= 0], f[f >= 0]])
        sim.free(np.sort(rng.choice(got, size=len(got) * int(rng.integers(5, 8)) // 10, replace=False)))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_direct_compaction_agrees_with_the_twin(name, seed, monkeypatch):
    ran = collections.Counter()
    for fn in ("fast_isolate_freepages", "fast_find_migrateblock", "fast_isolate_around"):
        orig = getattr(rc, fn)

        def counted(*a, _orig=orig, _fn=fn, **k):
            ran[_fn] += a[1].order > 0
            return _orig(*a, **k)
        monkeypatch.setattr(rc, fn, counted)
    variant = VARIANTS[name]
    e = Sim(mmkit.Memory.synthetic(mib=64, variant=variant), seed=seed)
    t = RefSim(RefMemory.boot(synthetic_layout(mib=64), variant), seed=seed)
    for sim in (e, t):
        _fragment(sim, seed)
    assert_same(e, t, f"{name} seed {seed}: fragmented")
    for order, sync, mt in COMPACTIONS:
        a = e.compact_zone(NORMAL, order=order, sync=sync, ignore_skip=False, migratetype=mt)
        b = t.compact_zone(NORMAL, order=order, sync=sync, ignore_skip=False, migratetype=mt)
        where = f"{name} seed {seed}: compact_zone order {order} sync {sync} migratetype {mt}"
        assert a == b, f"{where}: engine {a}, twin {b}"
        assert_same(e, t, where)
    e.check()
    if variant.compact_fast_search:
        assert ran["fast_isolate_freepages"] and ran["fast_find_migrateblock"], dict(ran)
    else:
        assert not ran, dict(ran)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(list(VARIANTS)), seed=st.integers(0, 2**32 - 1),
       compactions=st.lists(st.tuples(st.integers(1, 10), st.booleans(), st.sampled_from([0, 1, 1, 2]),
                                      st.booleans()), min_size=1, max_size=6))
def test_random_direct_compactions_agree_with_the_twin(name, seed, compactions):
    """Random fragmented states and compactions of any order, sync or not, skip hints
    honoured or not, under the three variants: the engine and the twin agree."""
    variant = VARIANTS[name]
    e = Sim(mmkit.Memory.synthetic(mib=32, variant=variant), seed=seed)
    t = RefSim(RefMemory.boot(synthetic_layout(mib=32), variant), seed=seed)
    for sim in (e, t):
        _fragment(sim, seed)
    for order, sync, mt, ignore_skip in compactions:
        a = e.compact_zone(NORMAL, order=order, sync=sync, ignore_skip=ignore_skip, migratetype=mt)
        b = t.compact_zone(NORMAL, order=order, sync=sync, ignore_skip=ignore_skip, migratetype=mt)
        assert a == b
        assert_same(e, t, f"{name} seed {seed}: compact_zone {order, sync, mt, ignore_skip}")
