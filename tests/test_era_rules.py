"""Rules checked against the kernel source of their era (issue 16, part 3), each in the
engine and in the plain-Python twin."""

from __future__ import annotations

import numpy as np
import pytest

import mmkit
from mmkit.engine.sim import Sim
from mmkit.model import flags as pg
from mmkit.model import kpf
from mmkit.model.kinds import PageKind
from mmkit.semantics import NAMED, PageBalloonTest, SwapcacheBit


def test_kpf_buddy_on_every_page_of_a_free_block_from_v4_6():
    # 832fc1de01ae "/proc/kpageflags: return KPF_BUDDY for "tail" buddy pages" (v4.6):
    # v4.5 marks the head of a free block only; the series (on v4.6-rc) and later all pages
    assert [v.kpf_buddy_all_pages for v in NAMED.values()] == [False, True, True, True, True, True]
    for name in NAMED:
        s = Sim(mmkit.Memory.synthetic(mib=64, variant=name), seed=1)
        flags = s.kpageflags()
        free = s.mem.kind == PageKind.FREE
        buddy = (flags >> np.uint64(kpf.KPF_BUDDY)) & np.uint64(1) == 1
        if NAMED[name].kpf_buddy_all_pages:
            assert (buddy == free).all(), name
        else:
            assert buddy.sum() < free.sum() and not (buddy & ~free).any(), name


def test_v3_04_page_balloon_is_the_sentinel_and_private_2_without_pg_movable():
    """v3 04/16 writes ``atomic_read(&page->_mapcount) == PAGE_BALLOON_MAPCOUNT_VALUE &&
    PagePrivate2(page)``: a page with the -256 mapcount and PG_private_2 reads as a
    balloon page even without PG_movable (= PG_reclaim), in the engine and in the twin."""
    from mmkit.engine import predicates as E
    from mmkit.reference import predicates as R
    from mmkit.reference.buddy import RefMemory

    v = NAMED["v3-04"]
    assert v.page_balloon == PageBalloonTest.MAPCOUNT_AND_PRIVATE_2
    s = Sim(mmkit.Memory.synthetic(mib=64, variant=v), seed=1)
    s.zram_store(4)
    zs = np.flatnonzero(s.mem.kind == PageKind.ZSMALLOC)
    last = [int(p) for p in zs if (int(s.mem.flags[p]) >> pg.PG_private_2) & 1]
    assert last, "a zspage's last sub-page carries PG_private_2"
    p = last[0]
    assert E.PageBalloon(s.A, s.vc, p)  # the review's point 1: zsmalloc reads as balloon
    s.mem.flags[p] &= np.uint32(~(1 << pg.PG_reclaim) & 0xFFFFFFFF)
    assert E.PageBalloon(s.A, s.vc, p), "no PG_movable test in v3 04's PageBalloon"
    s.mem.flags[p] &= np.uint32(~(1 << pg.PG_private_2) & 0xFFFFFFFF)
    assert not E.PageBalloon(s.A, s.vc, p)
    # the twin reads the same predicate
    ref = RefMemory.boot(mmkit.model.memory.synthetic_layout(mib=64), v)
    page = ref.pages[100]
    page.mapcount, page.flags = -256, (1 << pg.PG_private_2)
    assert R.PageBalloon(v, page)
    page.flags = 1 << pg.PG_reclaim
    assert not R.PageBalloon(v, page)


@pytest.mark.parametrize("variant", ["v4.5", "v3-02"])
def test_v3_19_balloon_page_isolate_takes_a_reference_and_the_lock(variant):
    """``balloon_page_isolate`` (v3.19-v4.5): ``get_page_unless_zero`` and ``trylock_page``,
    then ``balloon_page_movable`` under the lock; a page with another reference is still
    isolated (the old model wanted refcount == 1), a locked one is not."""
    from mmkit.engine import compaction as C

    s = Sim(mmkit.Memory.synthetic(mib=64, variant=variant), seed=1)
    s.balloon_inflate(3)
    pages = [int(p) for p in np.flatnonzero(s.mem.kind == PageKind.BALLOON)]
    a, b, c = pages[:3]
    s.mem.refcount[a] += 1  # another user holds it (e.g. a GUP of the guest page)
    assert C.balloon_page_isolate_v319(s.A, s.vc, s.S, a)
    assert s.mem.refcount[a] == 3 and not (int(s.mem.flags[a]) >> pg.PG_private) & 1
    s.mem.flags[b] |= np.uint32(1 << pg.PG_locked)
    assert not C.balloon_page_isolate_v319(s.A, s.vc, s.S, b) and s.mem.refcount[b] == 1
    assert C.balloon_page_isolate_v319(s.A, s.vc, s.S, c) and s.mem.refcount[c] == 2


def test_pg_swapcache_is_pg_owner_priv_1_from_v4_10():
    # 6326fec1122c "mm: Use owner_priv bit for PageSwapCache, valid when PageSwapBacked"
    # (v4.10): every named variant before it has the bit of its own
    assert [v.swapcache_bit for v in NAMED.values()] == [SwapcacheBit.OWN] * 5 + [SwapcacheBit.PG_OWNER_PRIV_1]
    import inspect

    from mmkit.semantics import rules

    assert "v4.10" in inspect.getsource(rules.SwapcacheBit) and "v6.10" not in inspect.getsource(rules.SwapcacheBit)
