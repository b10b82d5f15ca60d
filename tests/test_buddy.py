"""Hand-derived expectations for the buddy allocator on tiny zones."""

import numpy as np
import pytest

import mmkit
from mmkit.engine.pages import alloc_pages, free_pages, run_ops
from mmkit.model.kinds import MigrateType, PageKind
from mmkit.model.encodings import PAGE_BUDDY_MAPCOUNT_VALUE
from mmkit.reference import engine_state

MOV, UNM = MigrateType.MOVABLE, MigrateType.UNMOVABLE


def one_block_zone(variant="v4.5"):
    # 4 MiB = 1024 pages = one order-10 block = two pageblocks, pfn 0..1023
    return mmkit.Memory.synthetic(zones=[("Normal", 4)], variant=variant)


def test_split_and_tail_placement():
    m = one_block_zone()
    m.wmark[:] = 0
    assert m.nr_free[0].tolist() == [0] * 10 + [1]
    assert alloc_pages(m, 0, MOV, PageKind.ANON) == 0
    # expand left one free block of each order 0..9 at pfn 1, 2, 4, ..., 512
    assert m.nr_free[0].tolist() == [1] * 10 + [0]
    for o in range(10):
        assert m.mapcount[1 << o] == PAGE_BUDDY_MAPCOUNT_VALUE and m.private[1 << o] == o
    assert alloc_pages(m, 0, MOV, PageKind.ANON) == 1
    free_pages(m, 0, 0)
    # pfn 0 cannot merge (pfn 1 is in use) but its order-1 buddy block (2) is free:
    # __free_one_page puts it at the tail of the order-0 list
    lists = engine_state(m)["free_lists"]
    assert lists[(0, 0, MOV)] == [0]
    free_pages(m, 1, 0)
    assert m.nr_free[0].tolist() == [0] * 10 + [1]  # everything merged back
    m.check()


def test_unmovable_request_steals_whole_pageblocks_for_a_max_order_block():
    m = one_block_zone()
    m.wmark[:] = 0
    assert alloc_pages(m, 0, UNM, PageKind.KERNEL) == 0
    assert (m.pb_flags & 7).tolist() == [UNM, UNM]
    st = engine_state(m)["free_lists"]
    assert st[(0, 9, UNM)] == [512] and st[(0, 9, MOV)] == []
    m.check()


def test_small_steal_claims_block_only_when_half_is_free():
    m = one_block_zone()
    m.wmark[:] = 0
    assert [alloc_pages(m, 7, MOV, PageKind.ANON) for _ in range(3)] == [0, 128, 256]
    assert alloc_pages(m, 9, MOV, PageKind.ANON) == 512
    # only 384 (order 7, 128 free pages in pageblock 0) is left: the unmovable request
    # steals it, move_freepages_block moves 128 < 256 pages: the block stays MOVABLE
    assert alloc_pages(m, 2, UNM, PageKind.SLAB) == 384
    assert (m.pb_flags & 7).tolist() == [MOV, MOV]
    st = engine_state(m)["free_lists"]
    assert st[(0, 2, UNM)] == [388] and st[(0, 6, UNM)] == [448]
    free_pages(m, 0, 7)
    free_pages(m, 128, 7)  # merges with 0 into an order-8 MOVABLE block
    assert engine_state(m)["free_lists"][(0, 8, MOV)] == [0]
    # order 8 unmovable: falls back to block 0; pageblock 0 now holds 256 + 8 + 16 + 32 +
    # 64 = 376 free pages >= 256, so it becomes UNMOVABLE
    assert alloc_pages(m, 8, UNM, PageKind.SLAB) == 0
    assert (m.pb_flags & 7).tolist() == [UNM, MOV]
    m.check()


def test_compound_pages_and_free_restore_everything():
    m = mmkit.Memory.synthetic(mib=64)
    before = engine_state(m)
    pfn = alloc_pages(m, 9, MOV, PageKind.ANON, compound=True, owner=99)
    assert m.flags[pfn] & (1 << 14) and m.private[pfn + 1] == 9
    assert (m.lru_next[pfn + 1:pfn + 512] == -2 - pfn).all()
    assert m.mapping[pfn] == (99 << 2) | 1 and m.mapcount[pfn] == 0 and m.refcount[pfn] == 1
    free_pages(m, pfn, 9)
    after = engine_state(m)
    for k in ("flags", "mapcount", "kind", "private", "nr_free"):
        assert np.array_equal(before[k], after[k]), k
    assert before["free_lists"] == after["free_lists"]


def test_slab_marking_per_era():
    old = mmkit.Memory.synthetic(mib=64, variant="v4.8")
    new = mmkit.Memory.synthetic(mib=64, variant="v6.18")
    a = alloc_pages(old, 0, UNM, PageKind.SLAB)
    b = alloc_pages(new, 0, UNM, PageKind.SLAB)
    assert old.flags[a] & (1 << 7) and old.mapcount[a] == -1
    assert new.flags[b] == 0 and new.mapcount[b] == 0xF5 - 0x200


def test_watermark_stops_the_fast_path():
    m = mmkit.Memory.synthetic(zones=[("Normal", 4)])
    m.wmark[0] = (1000, 1000, 1000)
    assert alloc_pages(m, 5, MOV, PageKind.ANON) == -1  # 1024 - 31 <= 1000
    assert alloc_pages(m, 4, MOV, PageKind.ANON) == 0  # 1024 - 15 > 1000


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda m: alloc_pages(m, 11), "orders are 0..10"),
        (lambda m: alloc_pages(m, -1), "orders are 0..10"),
        (lambda m: alloc_pages(m, 0, 9), "migratetype"),
        (lambda m: alloc_pages(m, 0, MOV, PageKind.BALLOON), "from their owners"),
        (lambda m: alloc_pages(m, 0, zone="HighMem"), "not a zone"),
        (lambda m: alloc_pages(m, 0, owner=-3), "owner"),
        (lambda m: free_pages(m, 10**9), "out of range"),
        (lambda m: free_pages(m, 3, 1), "not aligned"),
        (lambda m: free_pages(m, 4096), "double free"),
        (lambda m: free_pages(m, 0), "not inside one zone"),
        (lambda m: run_ops(m, np.zeros((3, 2))), "shape"),
    ],
)
def test_bad_input_is_refused(call, word):
    m = mmkit.Memory.synthetic(mib=64)
    with pytest.raises(mmkit.ParameterError, match=word):
        call(m)
