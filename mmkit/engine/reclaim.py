"""Reclaim (v4.5 ``mm/vmscan.c``, reduced to what moves pages): kswapd-like
``balance_pgdat`` scanning inactive lists from their tails, ``shrink_page_list`` deciding
per page: clean file pages dropped, dirty ones written back and rotated, anonymous pages
swapped into zram (which grows zsmalloc). A driver's page that a misroute put on an LRU
list looks like a clean file page here, and is freed while its owner still holds it.
"""

from __future__ import annotations

from mmkit.engine.jit import kernel

from mmkit.engine.alloc import ALLOC_NO_WATERMARKS, free_the_page
from mmkit.engine.pcp import ZONE_RECLAIM_ACTIVE
from mmkit.engine.buddy import WMARK_HIGH, WMARK_LOW, zone_free_pages
from mmkit.engine.lists import lru_head
from mmkit.engine.owners import (
    add_page_to_lru_list,
    del_page_from_lru_list,
    zs_malloc,
)
from mmkit.engine.predicates import clear_bit, set_bit, test_bit
from mmkit.engine.state import (
    EV_BAD_PAGE_FREED,
    EV_LIST_CORRUPTION,
    EV_NONLRU_TO_RECLAIM,
    EV_OBJECTS_LOST,
    EV_OOPS,
    NR_ZS_CLASSES,
    OOPS_PAGE_BUFFERS,
    RULE_NONE,
    ST_SWAP_ENABLED,
    ST_ZS_OBJECTS,
    VM_PGSCAN,
    VM_PGSTEAL,
    VM_PSWPOUT,
    ZC_INACTIVE_RATIO,
    rand_below,
    record,
)
from mmkit.model.flags import PG_active, PG_dirty, PG_head, PG_private, PG_private_2
from mmkit.model.kinds import (
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
    PageKind,
)
from mmkit.semantics.variant import F_NEWPAGE_ROUTE

K_ANON = int(PageKind.ANON)
K_FILE = int(PageKind.FILE)
K_BALLOON = int(PageKind.BALLOON)
K_ZSMALLOC = int(PageKind.ZSMALLOC)
SWAP_CLUSTER_MAX = 32

# share of anonymous pages that compress into each zsmalloc class (the last: huge)
ZS_CLASS_PPM = (300000, 250000, 200000, 150000, 100000)


@kernel
def pick_zs_class(S):
    r = rand_below(S, 1000000)
    acc = 0
    for c in range(NR_ZS_CLASSES):
        acc += ZS_CLASS_PPM[c]
        if r < acc:
            return c
    return NR_ZS_CLASSES - 1


@kernel
def split_huge_page(A, pfn):
    """``split_huge_page``: the THP at ``pfn`` becomes 512 order-0 anonymous pages; the
    tails go onto the LRU after the head (``lru_add_page_tail``)."""
    order = A.private[pfn + 1]
    clear_bit(A, pfn, PG_head)
    A.private[pfn + 1] = 0
    for p in range(pfn + 1, pfn + (1 << order)):
        A.lru_next[p] = -1
        A.lru_prev[p] = -1
        A.flags[p] = A.flags[pfn]
        A.mapping[p] = A.mapping[pfn]
        A.mapcount[p] = A.mapcount[pfn]
        A.refcount[p] = 1
        add_page_to_lru_list(A, p)


@kernel
def reclaim_zsmalloc_page(A, vc, S, pfn, rule):
    """A zsmalloc sub-page freed by reclaim: the zspage's objects are lost."""
    zspage = A.private[pfn]
    lost = S.zs_objs[zspage]
    record(S, A, pfn, EV_OBJECTS_LOST, rule, lost)
    S.zs_objs[zspage] = 0
    S.st[ST_ZS_OBJECTS] -= lost
    for i in range(S.zs_npages[zspage]):
        if S.zs_pages[zspage, i] == pfn:
            S.zs_pages[zspage, i] = -1
    cls = S.zs_class[zspage]
    if cls >= 0 and S.zs_current[cls] == zspage:
        S.zs_current[cls] = -1
    A.refcount[pfn] = 0
    free_the_page(A, vc, pfn, 0)


ZR_KEPT = 0  # try_to_release_page failed: the page goes back (activate_locked / ret_pages)
ZR_REMOVED = 1  # __remove_mapping: freed with its objects
ZR_OOPS = 2  # page_buffers() BUG: the reclaiming task died holding the page


@kernel
def release_zsmalloc_page(A, S, pfn, rule):
    """A zsmalloc page in ``shrink_page_list`` (v4.5/v4.6 ``mm/vmscan.c``, ``fs/buffer.c``),
    where a misroute (the LRU) or a CMA rule (``reclaim_clean_pages_from_list``) sends
    it: not mapped, not swap-backed, not dirty, so it is taken for a clean file page.
    ``page_has_private`` (PG_private on a zspage's first page, PG_private_2 on its last)
    sends it to ``try_to_release_page``; zsmalloc's address_space has no
    ``->releasepage``, so ``try_to_free_buffers`` looks for buffer heads:
    ``page_buffers()`` hits ``BUG_ON(!PagePrivate(page))`` on a last page without
    PG_private (an oops: the task dies holding the page, locked, off every list; mmkit
    goes on without it); on a first page it reads zsmalloc's ``page->private`` as a ring
    of buffer heads, which the model takes as busy (the release fails and the page goes
    back). A page with neither flag goes through ``__remove_mapping``: the caller frees
    it with its objects. Returns ZR_KEPT, ZR_REMOVED or ZR_OOPS."""
    record(S, A, pfn, EV_NONLRU_TO_RECLAIM, rule, 0)
    if test_bit(A, pfn, PG_private):
        return ZR_KEPT
    if test_bit(A, pfn, PG_private_2):
        record(S, A, pfn, EV_OOPS, rule, OOPS_PAGE_BUFFERS)
        return ZR_OOPS
    return ZR_REMOVED


@kernel
def shrink_page(A, vc, S, pfn, zone_hi):
    """``shrink_page_list`` for one isolated page; returns True if it was freed."""
    kind = A.kind[pfn]
    if kind == K_FILE:
        if test_bit(A, pfn, PG_dirty):
            clear_bit(A, pfn, PG_dirty)  # pageout(); writeback completes before the next scan
            add_page_to_lru_list(A, pfn)
            return False
        order = A.private[pfn + 1] if test_bit(A, pfn, PG_head) else 0  # a large folio goes whole
        A.refcount[pfn] = 0  # __remove_mapping: the page cache's reference
        free_the_page(A, vc, pfn, order)
        return True
    if kind == K_ANON:
        if test_bit(A, pfn, PG_head):
            if S.st[ST_SWAP_ENABLED] == 0:
                add_page_to_lru_list(A, pfn)
                return False
            split_huge_page(A, pfn)  # add_to_swap splits a THP; its tails join the LRU
        if A.refcount[pfn] > 1 or S.st[ST_SWAP_ENABLED] == 0:
            add_page_to_lru_list(A, pfn)
            return False
        if zs_malloc(A, vc, S, pick_zs_class(S), zone_hi, ALLOC_NO_WATERMARKS) < 0:
            add_page_to_lru_list(A, pfn)
            return False
        S.vm[VM_PSWPOUT] += 1
        A.refcount[pfn] = 0
        free_the_page(A, vc, pfn, 0)
        return True
    if kind == K_ZSMALLOC:
        r = release_zsmalloc_page(A, S, pfn, F_NEWPAGE_ROUTE)
        if r == ZR_KEPT:  # activate_locked
            set_bit(A, pfn, PG_active)
            add_page_to_lru_list(A, pfn)
        elif r == ZR_REMOVED:
            reclaim_zsmalloc_page(A, vc, S, pfn, F_NEWPAGE_ROUTE)
        return r == ZR_REMOVED
    if kind == K_BALLOON:
        record(S, A, pfn, EV_BAD_PAGE_FREED, F_NEWPAGE_ROUTE, 0)
        return False  # left off every LRU: the balloon list still points at it
    add_page_to_lru_list(A, pfn)
    return False


@kernel
def shrink_inactive_list(A, vc, S, z, lru, nr_to_scan, zone_hi):
    """Scan up to ``nr_to_scan`` pages from the tail of an inactive list. As
    ``isolate_lru_pages`` takes them off the list before ``shrink_page_list`` looks at
    them, a page put back is not met again in the same call: at most the list's length."""
    head = lru_head(A, z, lru)
    n = A.flags.shape[0]
    freed = 0
    for _ in range(list_length_bounded(A, head, nr_to_scan)):
        pfn = A.lru_prev[head]
        if pfn == head:
            break
        if pfn < 0 or pfn >= n or A.lru_next[pfn] != head:
            record(S, A, pfn if 0 <= pfn < n else -1, EV_LIST_CORRUPTION, RULE_NONE, lru)
            A.lru_prev[head] = head  # the list is lost from here: cut it
            A.lru_next[head] = head
            break
        S.vm[VM_PGSCAN] += 1
        del_page_from_lru_list(A, pfn)
        if shrink_page(A, vc, S, pfn, zone_hi):
            freed += 1
            S.vm[VM_PGSTEAL] += 1
    return freed


@kernel
def shrink_active_list(A, z, lru_active, nr_to_scan):
    """Age pages from the active list's tail onto the inactive list's head."""
    head = lru_head(A, z, lru_active)
    n = A.flags.shape[0]
    for _ in range(nr_to_scan):
        pfn = A.lru_prev[head]
        if pfn == head or pfn < 0 or pfn >= n:
            break
        del_page_from_lru_list(A, pfn)
        clear_bit(A, pfn, PG_active)
        add_page_to_lru_list(A, pfn)


@kernel
def list_length_bounded(A, head, bound):
    n = 0
    node = A.lru_next[head]
    while node != head and n < bound and node >= 0:
        n += 1
        node = A.lru_next[node]
    return n


@kernel
def inactive_list_is_low(A, S, z, inactive):
    """v4.5 ``inactive_list_is_low``: anon when inactive * inactive_ratio < active,
    file when active > inactive (zone ``lru_size``)."""
    ni = A.lru_size[z, inactive]
    na = A.lru_size[z, inactive + 1]
    if inactive == LRU_INACTIVE_ANON:
        return ni * S.zc[z, ZC_INACTIVE_RATIO] < na
    return na > ni


@kernel
def shrink_zone(A, vc, S, z, target_free, max_scan):
    """``balance_pgdat`` for one zone: scan file then anon (when swap is on) in
    SWAP_CLUSTER_MAX batches until ``target_free`` free pages or ``max_scan`` scanned."""
    scanned = 0
    freed = 0
    zone_hi = A.zone_start.shape[0] - 1
    while zone_free_pages(A, z) < target_free and scanned < max_scan:
        # one round scans both the file and (with swap) the anon inactive lists, so
        # reclaim keeps a mix, as get_scan_count does with swappiness
        progress = 0
        for pair in range(2):
            inactive = LRU_INACTIVE_FILE if pair == 0 else LRU_INACTIVE_ANON
            active = inactive + 1
            if pair == 1 and S.st[ST_SWAP_ENABLED] == 0:
                continue
            if inactive_list_is_low(A, S, z, inactive):
                shrink_active_list(A, z, active, SWAP_CLUSTER_MAX)
            f = shrink_inactive_list(A, vc, S, z, inactive, SWAP_CLUSTER_MAX, zone_hi)
            freed += f
            progress += f
        scanned += 2 * SWAP_CLUSTER_MAX
        if progress == 0 and scanned > 8 * SWAP_CLUSTER_MAX:
            break
    return freed


@kernel
def kswapd(A, vc, S, order):
    """``balance_pgdat`` for a wakeup of ``order``: every zone under its low watermark
    is reclaimed up to its high watermark, plus the compaction gap (2 << order) for a
    high-order wakeup, so that compaction can run (v4.5 ``zone_balanced``). Free CMA
    pages do not count (``zone_watermark_ok_safe`` passes no ALLOC_CMA, in every era)."""
    freed = 0
    gap = (2 << order) if order > 0 else 0
    for z in range(A.zone_start.shape[0]):
        cma = A.nr_free_cma[z]
        if zone_free_pages(A, z) - cma < A.wmark[z, WMARK_LOW] + gap:
            span = A.zone_end[z] - A.zone_start[z]
            # set_reclaim_active: v6.x per-CPU lists keep at most 4 batches meanwhile
            A.zone_flags[z] |= ZONE_RECLAIM_ACTIVE
            freed += shrink_zone(A, vc, S, z, A.wmark[z, WMARK_HIGH] + gap + cma, span)
            A.zone_flags[z] &= ~ZONE_RECLAIM_ACTIVE
    return freed
