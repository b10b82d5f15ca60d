"""Memory.check() catches each broken rule and names the pfn."""

import pytest

import mmkit
from mmkit.engine.pages import alloc_pages
from mmkit.model.kinds import MigrateType, PageKind


def fresh():
    m = mmkit.Memory.synthetic(mib=64)
    m.check()
    return m


def head_of_order(m, order):
    import numpy as np
    return int(np.flatnonzero((m.mapcount == -128) & (m.private == order))[0])


CORRUPTIONS = {
    "negative refcount": lambda m: m.refcount.__setitem__(7, -1),
    "neighbour does not point back": lambda m: m.lru_prev.__setitem__(head_of_order(m, 10), 12345),
    "not PageBuddy": lambda m: m.mapcount.__setitem__(head_of_order(m, 10), -1),
    "differs from its free list's order": lambda m: m.private.__setitem__(head_of_order(m, 10), 9),
    "nr_free disagrees": lambda m: m.nr_free.__setitem__((1, 3), 5),
    "inside a free block is not FREE": lambda m: m.kind.__setitem__(head_of_order(m, 10) + 3, PageKind.KERNEL),
    "FREE frame outside": lambda m: m.kind.__setitem__(0, PageKind.FREE),
    "kind outside PageKind": lambda m: m.kind.__setitem__(9, 200),
}


@pytest.mark.parametrize("rule", list(CORRUPTIONS))
def test_each_corruption_is_named(rule):
    m = fresh()
    CORRUPTIONS[rule](m)
    with pytest.raises(mmkit.InvariantError, match=rule) as e:
        m.check()
    assert e.value.pfn >= 0 and "pfn 0x" in str(e.value)


def test_unlisted_buddy_page_is_found():
    m = fresh()
    p = alloc_pages(m, 0, MigrateType.MOVABLE, PageKind.KERNEL)
    m.kind[p] = PageKind.FREE  # claims free, but is on no list
    with pytest.raises(mmkit.InvariantError, match="FREE frame outside every free block") as e:
        m.check()
    assert e.value.pfn == p


def test_lru_page_without_reference():
    m = fresh()
    p = alloc_pages(m, 0, MigrateType.MOVABLE, PageKind.ANON)
    m.flags[p] |= 1 << 5
    m.refcount[p] = 0
    with pytest.raises(mmkit.InvariantError, match="refcount 0"):
        m.check()
