"""The allocator's migratetype rules by era: what a fallback does with the block it takes
(``fallback_rule``: v4.5, v4.12, v6.10) and which free blocks merge across pageblocks of
different types (``pageblock_merge``: v4.5, v4.6, v5.18), in the engine and in the twin."""

import numpy as np
import pytest

import mmkit
from mmkit.engine import pages
from mmkit.errors import InvariantError, VariantError
from mmkit.model.flags import PG_lru
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, MigrateType, PageKind
from mmkit.reference import engine_state
from mmkit.semantics import NAMED, FallbackRule, PageblockMerge
from opgen import pair, random_ops
from test_buddy_differential import assert_same_state

MOVABLE, UNMOVABLE, CMA, ISOLATE = (int(MigrateType.MOVABLE), int(MigrateType.UNMOVABLE), int(MigrateType.CMA),
                                    int(MigrateType.ISOLATE))
ALIKE = NAMED["v4.8"].replace(name="v4.12-rules", fallback_rule=FallbackRule.MOVE_FREE_CLAIM_HALF_ALIKE)


def set_type(mem, block: int, mt: int) -> None:
    """Retype a pageblock by hand (its pages must be in use: no free list changes)."""
    mem.pb_flags[block] = (int(mem.pb_flags[block]) & 0xF8) | mt


def mismatched_free_pages(mem) -> int:
    """Free pages on a free list of another migratetype than their pageblock's."""
    pb = mem.pb_flags & 7
    n = 0
    for (z, order, mt), blocks in engine_state(mem)["free_lists"].items():
        for pfn in blocks:
            for p in range(pfn, pfn + (1 << order), min(1 << order, PAGEBLOCK_NR_PAGES)):
                if pb[p // PAGEBLOCK_NR_PAGES] != mt:
                    n += min(1 << order, PAGEBLOCK_NR_PAGES)
    return n


def test_named_variants_carry_their_eras_rules():
    assert [NAMED[n].fallback_rule for n in NAMED] == [FallbackRule.MOVE_FREE_CLAIM_HALF_FREE] * 5 + [
        FallbackRule.CLAIM_OR_STEAL_ONE]
    assert [NAMED[n].pageblock_merge for n in NAMED] == [PageblockMerge.ANY] + [PageblockMerge.NOT_ISOLATE] * 4 + [
        PageblockMerge.NOT_UNMERGEABLE]
    assert [NAMED[n].alloc_nofragment for n in NAMED] == [False] * 5 + [True]


@pytest.mark.parametrize("changes, says", [
    ({"fallback_rule": FallbackRule.CLAIM_OR_STEAL_ONE}, "pageblock_merge=NOT_UNMERGEABLE"),
    ({"fallback_rule": FallbackRule.CLAIM_OR_STEAL_ONE, "pageblock_merge": PageblockMerge.NOT_UNMERGEABLE},
     "pcp_mt_at_drain=True"),
])
def test_v6_10_free_lists_need_the_rules_that_keep_them(changes, says):
    with pytest.raises(VariantError, match=says):
        NAMED["v4.8"].replace(**changes)


def fill_but_a_few_in_one_pageblock(variant, keep_free=10):
    """Every page of an 8 MiB zone allocated MOVABLE (anon, on the LRU), then ``keep_free`` pages of
    pageblock 2 freed, none of them buddies: an unmovable request must fall back there."""
    mem = mmkit.Memory.synthetic(zones=[("Normal", 8)], variant=variant)
    mem.wmark[:] = 0  # let the fill take every page
    while pages.alloc_pages(mem, 0, MigrateType.MOVABLE, PageKind.ANON) >= 0:
        pass
    assert mem.nr_free.sum() == 0
    mem.flags[mem.kind == PageKind.ANON] |= np.uint32(1 << PG_lru)  # as anon pages are: movable
    base = 2 * PAGEBLOCK_NR_PAGES
    for i in range(keep_free):
        pages.free_pages(mem, base + 4 * i, 0)
    return mem, base


def test_an_unmovable_request_in_a_movable_pageblock_under_v4_5_moves_its_free_pages_v6_18_steals_one():
    """v4.5 ``steal_suitable_fallback`` moves all free pages of the pageblock to the
    UNMOVABLE lists and keeps the block MOVABLE (10 free pages are less than half); v6.10+
    cannot claim it (free + alike = 10 + 0) and ``__rmqueue_steal`` takes one page, the
    rest staying on the MOVABLE lists of their MOVABLE pageblock."""
    old, base = fill_but_a_few_in_one_pageblock("v4.5")
    new, _ = fill_but_a_few_in_one_pageblock("v6.18")
    a = pages.alloc_pages(old, 0, MigrateType.UNMOVABLE, PageKind.KERNEL)
    b = pages.alloc_pages(new, 0, MigrateType.UNMOVABLE, PageKind.KERNEL)
    assert base <= a < base + PAGEBLOCK_NR_PAGES and base <= b < base + PAGEBLOCK_NR_PAGES
    for mem in (old, new):
        assert mem.pb_flags[2] & 7 == MOVABLE  # nobody claimed the block
    lists = engine_state(old)["free_lists"]
    assert len(lists[(0, 0, UNMOVABLE)]) == 9 and not lists[(0, 0, MOVABLE)]
    assert mismatched_free_pages(old) == 9
    lists = engine_state(new)["free_lists"]
    assert len(lists[(0, 0, MOVABLE)]) == 9 and not lists[(0, 0, UNMOVABLE)]
    assert mismatched_free_pages(new) == 0
    new.check()


def test_a_movable_request_claims_a_pageblock_of_lru_pages_from_v4_12():
    """A MOVABLE request falling back to an UNMOVABLE pageblock with two free order-4
    blocks, its other pages on the LRU: v4.12+ counts those as alike (32 free + 480
    alike >= 256) and takes the pageblock; v4.5 counts the 32 free pages only and leaves
    it UNMOVABLE."""
    got = {}
    for v in (NAMED["v4.8"], ALIKE, NAMED["v6.18"]):
        mem, base = fill_but_a_few_in_one_pageblock(v, keep_free=0)
        set_type(mem, 2, UNMOVABLE)  # every page in use: no list to move
        for pfn in list(range(base, base + 16)) + list(range(base + 64, base + 80)):
            mem.flags[pfn] &= ~np.uint32(1 << PG_lru)
            pages.free_pages(mem, pfn, 0)  # they merge into two order-4 blocks, UNMOVABLE lists
        assert engine_state(mem)["free_lists"][(0, 4, UNMOVABLE)] == [base + 64, base]
        assert pages.alloc_pages(mem, 0, MigrateType.MOVABLE, PageKind.ANON) >= 0
        got[v.name] = int(mem.pb_flags[2] & 7)
        assert (mismatched_free_pages(mem) == 0) == (v.fallback_rule == FallbackRule.CLAIM_OR_STEAL_ONE or
                                                     got[v.name] == MOVABLE)
    assert got == {"v4.8": UNMOVABLE, "v4.12-rules": MOVABLE, "v6.18": MOVABLE}


def two_free_halves(variant, low_mt, high_mt, isolate_flag=False):
    """An order-10 block allocated, its two pageblocks typed ``low_mt`` / ``high_mt``, then
    freed as two order-9 halves: the second free may merge across the pageblocks."""
    mem = mmkit.Memory.synthetic(zones=[("Normal", 8)], variant=variant)
    p = pages.alloc_pages(mem, 10, MigrateType.MOVABLE, PageKind.ANON)
    assert p >= 0
    b = p // PAGEBLOCK_NR_PAGES
    set_type(mem, b, low_mt)
    set_type(mem, b + 1, high_mt)
    if isolate_flag:
        mem.zone_flags[0] |= 4  # ZONE_HAS_ISOLATE
    pages.free_pages(mem, p, 9)
    pages.free_pages(mem, p + PAGEBLOCK_NR_PAGES, 9)
    merged = bool(mem.kind[p] == PageKind.FREE and mem.private[p] == 10)
    return mem, b, merged


@pytest.mark.parametrize("variant, low, high, isolate, merges", [
    ("v4.5", MOVABLE, CMA, False, True),        # v4.5 merges anything
    ("v4.8", MOVABLE, CMA, False, True),        # v4.6 stops only at isolated pageblocks
    ("v4.8", MOVABLE, ISOLATE, True, False),
    ("v4.8", MOVABLE, ISOLATE, False, True),    # ... while the zone has some
    ("v6.18", MOVABLE, CMA, False, False),      # v5.18: CMA does not merge with others
    ("v6.18", UNMOVABLE, MOVABLE, False, True),
])
def test_blocks_merge_across_pageblocks_as_each_era_allows(variant, low, high, isolate, merges):
    mem, b, merged = two_free_halves(variant, low, high, isolate)
    assert merged == merges


def test_v6_10_retypes_the_buddys_pageblock_when_two_types_merge():
    """"Match buddy type": the order-10 block is freed as MOVABLE into both pageblocks
    (v6.10); v4.8 leaves the lower pageblock UNMOVABLE under a block on the MOVABLE list."""
    new, b, _ = two_free_halves("v6.18", UNMOVABLE, MOVABLE)
    old, _, _ = two_free_halves("v4.8", UNMOVABLE, MOVABLE)
    assert (new.pb_flags[b] & 7, new.pb_flags[b + 1] & 7) == (MOVABLE, MOVABLE)
    assert (old.pb_flags[b] & 7, old.pb_flags[b + 1] & 7) == (UNMOVABLE, MOVABLE)
    assert mismatched_free_pages(new) == 0 and mismatched_free_pages(old) == PAGEBLOCK_NR_PAGES
    new.check()


@pytest.mark.parametrize("variant", [NAMED["v4.8"], ALIKE, NAMED["v6.18"]], ids=lambda v: v.name)
def test_fallbacks_under_pressure_agree_with_the_twin(variant):
    """Random allocations and frees until memory runs out, in two zones: the fallbacks of
    each rule give the same pfns, free lists and pageblock types in engine and twin."""
    engine, twin = pair(variant, zones=(("DMA32", 4), ("Normal", 8)))
    results = list(random_ops(engine, twin, seed=11, n_ops=3000, max_order=4, free_p=0.2))
    assert all(a == b for _, a, b in results), next(op for op, a, b in results if a != b)
    assert any(a == -1 for _, a, _ in results), "memory never ran out: the test lost its teeth"
    assert len(set((engine.pb_flags & 7).tolist())) >= 2, "no fallback changed a pageblock"
    assert_same_state(engine, twin)
    engine.check()


def test_only_v6_10_keeps_every_free_page_on_its_pageblocks_list():
    """The same operations under the three rules: v4.5's and v4.12's fallbacks leave free
    pages on lists of other types than their pageblocks' (what /proc/pagetypeinfo then
    shows), v6.10's never do, and Sim.check holds v6.10 to that (invariant 22). The three
    end states differ."""
    ends = {}
    for v in (NAMED["v4.8"], ALIKE, NAMED["v6.18"]):
        engine, twin = pair(v, zones=(("DMA32", 4), ("Normal", 8)))
        for _ in random_ops(engine, twin, seed=5, n_ops=3000, max_order=4, free_p=0.2):
            pass
        ends[v.name] = (mismatched_free_pages(engine), (engine.pb_flags & 7).copy(), engine)
    assert ends["v4.8"][0] > 0 and ends["v4.12-rules"][0] > 0 and ends["v6.18"][0] == 0
    assert not np.array_equal(ends["v4.8"][1], ends["v6.18"][1])
    assert not np.array_equal(ends["v4.12-rules"][1], ends["v6.18"][1])
    # the invariant fails loudly on a v6.18 memory with a free block on a foreign list
    mem = ends["v6.18"][2]
    z_o_mt = next(k for k, blocks in engine_state(mem)["free_lists"].items() if blocks)
    pfn = engine_state(mem)["free_lists"][z_o_mt][0]
    mem.pb_flags[pfn // PAGEBLOCK_NR_PAGES] ^= 1  # UNMOVABLE <-> MOVABLE, RECLAIMABLE <-> 3
    with pytest.raises(InvariantError, match="another migratetype"):
        mem.check()


def three_zones_nearly_full(variant):
    """DMA32 and Normal (Normal from 4 GiB, as on x86-64), every page of Normal in use
    by anon pages on the LRU but for scattered free pages in one MOVABLE pageblock, DMA32
    untouched: an unmovable request in Normal has no UNMOVABLE page there."""
    mem = mmkit.Memory.synthetic(gib=4.5, variant=variant)
    normal = mem.nr_zones - 1
    assert mem.zone_start[normal] == 1 << 20
    mem.wmark[normal] = 0
    while True:
        pfn = pages.alloc_pages(mem, 0, MigrateType.MOVABLE, PageKind.ANON, zone=normal)
        if mem.zone_of(pfn) != normal:  # Normal is full: the zonelist went on to DMA32
            pages.free_pages(mem, pfn, 0)
            break
    mem.flags[mem.kind == PageKind.ANON] |= np.uint32(1 << PG_lru)
    base = int(mem.zone_start[normal]) + 2 * PAGEBLOCK_NR_PAGES
    for i in range(10):
        pages.free_pages(mem, base + 4 * i, 0)
    return mem, normal, base


def test_alloc_nofragment_spreads_into_dma32_before_stealing_in_normal():
    """v5.0's ALLOC_NOFRAGMENT: the fast path of an unmovable Normal-zone request goes to
    DMA32, where its own type can be had by claiming a whole pageblock, rather than steal
    a page of a MOVABLE pageblock in Normal; without it (v6.18 otherwise unchanged) the
    page is stolen in Normal. The slow path (the min watermark) never has the flag."""
    from mmkit.engine import alloc as _alloc
    from mmkit.engine.buddy import WMARK_LOW, WMARK_MIN

    got = {}
    for v in (NAMED["v6.18"], NAMED["v6.18"].replace(alloc_nofragment=False)):
        for wmark in (WMARK_LOW, WMARK_MIN):
            mem, normal, base = three_zones_nearly_full(v)
            pfn = int(_alloc.get_page_from_freelist(mem.arrays(), mem.variant.compile(), 0, UNMOVABLE,
                                                    int(PageKind.KERNEL), 16, False, normal, wmark))
            got[(v.alloc_nofragment, wmark)] = int(mem.zone_of(pfn))
            mem.check()
    assert got == {(True, WMARK_LOW): normal - 1, (True, WMARK_MIN): normal,
                   (False, WMARK_LOW): normal, (False, WMARK_MIN): normal}


def test_a_fragmenting_fallback_boosts_the_watermarks_and_kswapd_takes_the_boost_back():
    """v5.0's watermark boost: a fallback of less than a pageblock raises the zone's
    min/low/high by a pageblock and marks it ZONE_BOOSTED_WATERMARK; kswapd, woken,
    reclaims the boost (without swapping: the anon pages stay), drops it and wakes
    kcompactd at pageblock order. v4.8 has no boost."""
    from mmkit.engine import alloc as _alloc
    from mmkit.engine import page_alloc as _pa
    from mmkit.engine.buddy import WMARK_LOW, ZONE_BOOSTED_WATERMARK
    from mmkit.engine.sim import Sim

    for v, boosts in ((NAMED["v6.18"].replace(alloc_nofragment=False), True), (NAMED["v4.8"], False)):
        mem, normal, base = three_zones_nearly_full(v)
        mem.wmark[normal] = (0, 0, 1000)  # a high watermark to boost from; the fill kept the others at 0
        pfn = int(_alloc.get_page_from_freelist(mem.arrays(), mem.variant.compile(), 0, UNMOVABLE,
                                                int(PageKind.KERNEL), 16, False, normal, WMARK_LOW))
        assert mem.zone_of(pfn) == normal  # stolen from (v6.18) or moved in (v4.8) a MOVABLE pageblock
        if not boosts:
            assert mem.watermark_boost.sum() == 0 and mem.wmark[normal].tolist() == [0, 0, 1000]
            continue
        assert mem.watermark_boost[normal] == PAGEBLOCK_NR_PAGES
        assert mem.wmark[normal].tolist() == [512, 512, 1512]
        assert mem.zone_flags[normal] & ZONE_BOOSTED_WATERMARK
        s = Sim(mem, seed=1)
        wakes, lru = s.vmstat["compact_daemon_wake"], int(np.count_nonzero(mem.kind == PageKind.ANON))
        _pa.wakeup_kswapd(s.A, s.vc, s.S, 0, normal)
        assert s.mem.watermark_boost.sum() == 0 and s.mem.wmark[normal].tolist() == [0, 0, 1000]
        assert s.vmstat["compact_daemon_wake"] == wakes + 1
        assert int(np.count_nonzero(s.mem.kind == PageKind.ANON)) == lru  # no swap in boosted reclaim
        s.check()


def test_boosts_fire_in_a_workload_and_wake_kcompactd():
    """In review-04 on 8 GiB, v6.18's fallbacks boost the watermarks and the wakes reach
    kcompactd: more kcompactd wakes than without the boost."""
    v = NAMED["v6.18"]
    r = mmkit.compare(workload="review-04", variants=[v, v.replace(name="no boost", watermark_boost=False)],
                      gib=8, seed=1, cpus=2)
    f = {row["variant"]: row for row in r.final().iter_rows(named=True)}
    assert f["v6.18"]["compact_daemon_wake"] > f["no boost"]["compact_daemon_wake"]


def test_the_boost_is_capped_at_one_and_a_half_high_watermarks():
    from mmkit.engine.buddy import boost_watermark

    mem = mmkit.Memory.synthetic(gib=4.5, variant="v6.18")
    z = mem.nr_zones - 1
    high = int(mem.wmark[z, 2])
    for _ in range(100):
        boost_watermark(mem.arrays(), mem.variant.compile(), z)
    assert mem.watermark_boost[z] == max(PAGEBLOCK_NR_PAGES, high * 15000 // 10000)
    assert mem.wmark[z, 2] == high + mem.watermark_boost[z]
    tiny = mmkit.Memory.synthetic(zones=[("Normal", 4)], variant="v6.18")  # two pageblocks: never boosted
    assert tiny.zone_end[0] - tiny.zone_start[0] < 4 * PAGEBLOCK_NR_PAGES
    boost_watermark(tiny.arrays(), tiny.variant.compile(), 0)
    assert tiny.watermark_boost[0] == 0
