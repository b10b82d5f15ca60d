"""Large folios under compaction (v6.9 rules, the v6.18 variant), hand-built: the numba
engine and the plain-Python twin each run the same small scenario, must agree with each
other (``assert_same``) and with counts worked out by hand from ``mm/compaction.c``.

The machine is one 8 MiB zone: 2048 pages, pageblocks B0 = 0..511, B1 = 512..1023,
B2 = 1024..1535, B3 = 1536..2047; watermarks min 90, low 112, high 135. At boot it is
two free order-10 blocks, 1024 ahead of 0 on the free list. The buddy allocator takes
the smallest free block that fits, so order-0 allocations fill a split order-10 block
from its start, in pfn order.
"""

import numpy as np
import pytest
from test_engine_differential import assert_same

import mmkit
from mmkit.engine.sim import Sim
from mmkit.engine.state import EVENT_NAMES
from mmkit.model import flags as pg
from mmkit.model.kinds import PageKind
from mmkit.model.memory import synthetic_layout
from mmkit.reference.buddy import RefMemory
from mmkit.reference.sim import RefSim

ZONES = [("Normal", 8)]


def make_pair(variant):
    mem, layout = mmkit.Memory.synthetic(zones=ZONES, variant=variant), synthetic_layout(zones=ZONES)
    return Sim(mem, seed=1, log_traffic=True), RefSim(RefMemory.boot(layout, variant), seed=1, log_traffic=True)


def both(e, t, where, fn):
    """``fn`` on the engine and on the twin: the same result, the same state after."""
    a, b = fn(e), fn(t)
    assert np.array_equal(np.asarray(a), np.asarray(b)) if isinstance(a, np.ndarray) else a == b, (where, a, b)
    assert_same(e, t, where)
    e.check()
    return a


def page_view(s, pfn):
    """(kind, flags, private, refcount, compound head or -1) of one page of either side."""
    if isinstance(s, Sim):
        m = s.mem
        nxt = int(m.lru_next[pfn])
        return int(m.kind[pfn]), int(m.flags[pfn]), int(m.private[pfn]), int(m.refcount[pfn]), (-2 - nxt if nxt <= -2 else -1)
    p = s.mem.pages[pfn]
    return p.kind, p.flags, p.private, p.refcount, p.compound_head


def has(flags, bit):
    return bool(flags >> bit & 1)


def folio_over_pinned(variant, freed, **folio_kw):
    """B2 and B3 full of pinned anonymous pages (B2 first: the order-10 block at 1024 is
    split first), then an order-2 page-cache folio at pfn 0 (the order-10 block at 0
    split: free blocks of orders 2..9 at 4, 8, .., 256, 512 stay behind it), then the
    pinned pages ``freed`` freed again: the only free memory above B1. Pinned pages are
    never isolated (page_count > page_mapcount + 1)."""
    e, t = make_pair(variant)
    pinned = both(e, t, "pinned", lambda s: s.anon(1024, pinned=True))
    assert pinned.tolist() == list(range(1024, 2048))
    folio = both(e, t, "folio", lambda s: s.folio(1, order=2, **folio_kw))
    assert folio.tolist() == [0]
    both(e, t, "free", lambda s: s.free(np.array(freed)))
    return e, t


# ----------------------------------------------------------------- (a) migrated whole
def test_clean_order2_folio_migrates_whole_v618():
    """compact_memory (order -1): skip_isolation_on_order(2, -1) is false, so the migrate
    scanner isolates the folio at 0 whole (4 pages; B0's free blocks 4..256 counted
    whole: 512 scanned). compaction_alloc(order 2) finds cc->freepages empty and isolates:
    the free scanner starts at B3 (above the migrate scanner's B1), takes the order-3
    block at 1536 whole (8 isolated, 8 scanned, enough for 4), which is split: 1536 for
    the folio, 1540 onto freepages[2]. The folio moves whole; the old one is freed and
    merges back to an order-10 block at 0. B1 (inside that block: 512 single pages) and
    B2 (pinned) isolate nothing, the scanners meet: complete; 1540 goes back as order 2."""
    e, t = folio_over_pinned("v6.18", range(1536, 1544))
    assert both(e, t, "compact", lambda s: s.compact_memory()) == {"Normal": "complete"}
    for s in (e, t):
        vm = s.vmstat
        assert vm["pgmigrate_success"] == 4 and vm["pgmigrate_fail"] == 0
        assert vm["compact_isolated"] == 4 + 8
        assert vm["compact_free_scanned"] == 8
        assert vm["compact_migrate_scanned"] == 512 * 3
        kind, flags, _, refcount, chead = page_view(s, 1536)
        assert kind == PageKind.FILE and has(flags, pg.PG_head) and has(flags, pg.PG_lru)
        assert refcount == 1 and chead == -1
        assert page_view(s, 1537)[2] == 2  # compound order, in the first tail
        assert [page_view(s, p)[4] for p in range(1537, 1540)] == [1536] * 3
        assert all(page_view(s, p)[0] == PageKind.FREE for p in range(4))
        assert s.count("migrated") == 1
    assert e.mem.nr_free[0].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]  # 1540 (order 2), 0 (order 10)


def test_large_folio_stepped_over_v48():
    """v4.8 skips a compound page by its order and counts one page for it and one per free
    block: B0 8 (the folio, 4, 8, .., 256), B1 1 (the order-9 block at 512), B2 512."""
    e, t = folio_over_pinned("v4.8", range(1536, 1544))
    assert both(e, t, "compact", lambda s: s.compact_memory()) == {"Normal": "complete"}
    for s in (e, t):
        vm = s.vmstat
        assert vm["pgmigrate_success"] == 0 and vm["compact_isolated"] == 0
        assert vm["compact_migrate_scanned"] == 8 + 1 + 512
        assert has(page_view(s, 0)[1], pg.PG_head) and page_view(s, 1)[4] == 0


# ----------------------------------------------------------------- (b) split or contended
def test_clean_folio_without_target_is_split_and_migrated_v618():
    """Only four single free pages above B1 (1536, 1538, 1540, 1542). compaction_alloc
    (order 2) isolates them (7 scanned: 1536..1542) and still has no order-2 block: NULL.
    The clean folio is split (try_split_folio) into four order-0 folios, tails first, and
    each gets one of the four pages: 4 migrated, none failed; complete."""
    e, t = folio_over_pinned("v6.18", [1536, 1538, 1540, 1542])
    assert both(e, t, "compact", lambda s: s.compact_memory()) == {"Normal": "complete"}
    for s in (e, t):
        vm = s.vmstat
        assert vm["pgmigrate_success"] == 4 and vm["pgmigrate_fail"] == 0
        assert vm["compact_free_scanned"] == 7 and vm["compact_isolated"] == 4 + 4
        assert vm["compact_migrate_scanned"] == 512 * 3
        moved = s.events()
        moved = moved[moved[:, 2] == EVENT_NAMES.index("migrated")]
        # (new pfn, old pfn): the split list holds the tails in pfn order, the head last
        assert moved[:, [1, 5]].tolist() == [[1536, 1], [1538, 2], [1540, 3], [1542, 0]]
        for p in (1536, 1538, 1540, 1542):
            kind, flags, _, refcount, chead = page_view(s, p)
            assert kind == PageKind.FILE and not has(flags, pg.PG_head) and has(flags, pg.PG_lru)
            assert refcount == 1 and chead == -1
        assert all(page_view(s, p)[0] == PageKind.FREE for p in range(4))


@pytest.mark.parametrize("habits", [dict(dirty=True, buffers=True), dict(writeback=True)],
                         ids=["dirty-buffers", "writeback"])
def test_unsplittable_folio_without_target_is_contended_v618(habits):
    """As above, but the folio cannot be split (its buffers are dirty, or it is under
    writeback): -ENOMEM, migration stops, the folio is put back where it was, and as the
    scanners have not met (migrate scanner at B1, free scanner at 1543 in B3)
    compact_zone ends with COMPACT_CONTENDED; the four free pages go back."""
    e, t = folio_over_pinned("v6.18", [1536, 1538, 1540, 1542], **habits)
    assert both(e, t, "compact", lambda s: s.compact_memory()) == {"Normal": "contended"}
    for s in (e, t):
        vm = s.vmstat
        # nr_failed_pages += nr_pages + nr_retry_pages: the folio's four pages
        assert vm["pgmigrate_success"] == 0 and vm["pgmigrate_fail"] == 4
        assert vm["compact_migrate_scanned"] == 512 and vm["compact_free_scanned"] == 7
        kind, flags, _, refcount, _ = page_view(s, 0)
        assert kind == PageKind.FILE and has(flags, pg.PG_head) and has(flags, pg.PG_lru) and refcount == 1
        assert [page_view(s, p)[4] for p in range(1, 4)] == [0] * 3
        assert all(page_view(s, p)[0] == PageKind.FREE for p in (1536, 1538, 1540, 1542))


# ----------------------------------------------------------------- (c) skipped pages counted
@pytest.mark.parametrize("variant,scanned", [("v6.18", 512 + 512 + 512), ("v4.8", 512 + 257 + 1)])
def test_skipped_blocks_count_their_pages(variant, scanned):
    """B2 a THP (the order-10 block at 1024 split), B3 a THP to be freed, B0 and B1's
    first half pinned anonymous pages, which leaves one free order-8 block at 768; then
    B3's THP freed. compact_memory's migrate scanner isolates nothing in B0, B1, B2 (the
    THP: pageblock order, skip_isolation_on_order) and meets the free scanner at B3.
    compact_count_skipped (v6.18) counts every page of the free block and of the THP;
    v4.8 counts one each."""
    e, t = make_pair(variant)
    assert both(e, t, "thp", lambda s: s.thp(2)).tolist() == [1024, 1536]
    both(e, t, "pinned", lambda s: s.anon(768, pinned=True))
    both(e, t, "free thp", lambda s: s.free(np.array([1536])))
    for s in (e, t):
        assert page_view(s, 768)[0] == PageKind.FREE and page_view(s, 768)[2] == 8  # the order-8 block
    assert both(e, t, "compact", lambda s: s.compact_memory()) == {"Normal": "complete"}
    for s in (e, t):
        assert s.vmstat["compact_migrate_scanned"] == scanned
        assert s.vmstat["compact_isolated"] == 0 and s.vmstat["compact_free_scanned"] == 0


def test_pgmigrate_fail_after_enomem_counts_the_folio():
    """The kernel's count (migrate_pages_batch, -ENOMEM with the split refused:
    nr_failed_pages += nr_pages + nr_retry_pages): the dirty folio's 4 pages, engine and
    twin."""
    layout = synthetic_layout(zones=ZONES)
    e = Sim(mmkit.Memory.synthetic(zones=ZONES, variant="v6.18"), seed=1)
    t = RefSim(RefMemory.boot(layout, "v6.18"), seed=1)
    for s in (e, t):
        s.anon(1024, pinned=True)
        assert s.folio(1, order=2, dirty=True, buffers=True).tolist() == [0]
        s.free(np.array([1536, 1538, 1540, 1542]))
        assert s.compact_memory() == {"Normal": "contended"}
        assert s.vmstat["pgmigrate_fail"] == 4 and s.vmstat["pgmigrate_success"] == 0
