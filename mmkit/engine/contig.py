"""``alloc_contig_range`` (v4.5 ``mm/page_alloc.c``): isolate the pageblocks of the range,
isolate its movable pages, drop the clean file ones (``reclaim_clean_pages_from_list``,
by the variant's rule, SEMANTICS.md §4.4), migrate the rest out of the range, and take
the range once every page in it is free; and ``cma_alloc`` (``mm/cma.c``), which walks
a CMA area's positions first fit, trying the next after each -EBUSY."""

from __future__ import annotations

import numpy as np
from numba import njit

from mmkit.engine.jit import kernel

from mmkit.engine.alloc import free_the_page
from mmkit.engine.pcp import ZONE_HAS_ISOLATE, drain_all_pages
from mmkit.engine.buddy import (
    CMA,
    FB_CLAIM,
    ISOLATE,
    PM_ANY,
    ZONE_ISOLATE_EDGE,
    account_free_block,
    get_pageblock_migratetype,
    move_freepages_block,
    page_zone,
    remerge_pageblock,
    retype_pageblock,
    split_large_buddy,
    zone_spans_pfn,
)
from mmkit.engine.compaction import isolate_migratepages_block, init_cc
from mmkit.engine.lists import list_del, list_empty, misc_head
from mmkit.engine.migrate import folio_order, migrate_pages, putback_movable_pages
from mmkit.engine.pageflags import PageBuddy, page_order, set_page_kind
from mmkit.engine.predicates import PageBalloon, PageIsolated, PageLRU, __PageMovable, test_bit
from mmkit.engine.reclaim import ZR_KEPT, ZR_REMOVED, reclaim_zsmalloc_page, release_zsmalloc_page
from mmkit.engine.state import (
    CC_MIGRATED,
    CC_NR_MIGRATE,
    CC_ROW_CONTIG,
    EV_CMA_SKIP_FALSE_POSITIVE,
    EV_NONLRU_TO_RECLAIM,
    HEAD_CONTIG,
    ST_OOPSED,
    VM_CMA_ALLOC_BUSY_RETRY,
    VM_CMA_ALLOC_FAIL,
    VM_CMA_ALLOC_SUCCESS,
    VM_CMA_MIGRATED,
    VM_CMA_RECLAIMED,
    record,
)
from mmkit.model.flags import PG_dirty, PG_swapbacked, PG_unevictable
from mmkit.model.kinds import MAX_ORDER, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, PageKind
from mmkit.semantics.rules import CmaCleanRule
from mmkit.semantics.variant import (
    F_CMA_CLEAN_RULE,
    F_CONTIG_ENOMEM_BAIL,
    F_CONTIG_PAGEBLOCK_ISOLATION,
    F_FALLBACK_RULE,
    F_PAGEBLOCK_MERGE,
)

K_FILE = int(PageKind.FILE)
K_ANON = int(PageKind.ANON)
K_ZSMALLOC = int(PageKind.ZSMALLOC)
K_FREE = int(PageKind.FREE)
K_KERNEL = int(PageKind.KERNEL)
CMA_NOT_BALLOON = int(CmaCleanRule.NOT_BALLOON)
CMA_NOT_ISOLATED = int(CmaCleanRule.NOT_ISOLATED)
CMA_NOT_MOVABLE = int(CmaCleanRule.NOT_MOVABLE)

# result slots of alloc_contig_range
CR_OK = 0
CR_RECLAIMED = 1
CR_MIGRATED = 2
CR_FAILED = 3
CR_SKIPPED_CLEAN = 4
CR_RET = 5  # alloc_contig_range's return: 0, -EBUSY or -ENOMEM
NR_CR = 6

EBUSY = 16
ENOMEM = 12

MAX_ORDER_NR_PAGES = 1 << (MAX_ORDER - 1)


@kernel
def clean_page_droppable(A, vc, pfn):
    """The variant's test in ``reclaim_clean_pages_from_list``."""
    r = vc[F_CMA_CLEAN_RULE]
    if r == CMA_NOT_BALLOON or r == CMA_NOT_ISOLATED or r == CMA_NOT_MOVABLE:
        if test_bit(A, pfn, PG_swapbacked) or test_bit(A, pfn, PG_dirty):
            return False
        if r == CMA_NOT_BALLOON:
            return not PageBalloon(A, vc, pfn)
        if r == CMA_NOT_ISOLATED:
            return not PageIsolated(A, vc, pfn)
        return not __PageMovable(A, vc, pfn)
    # v6.18: movable_ops pages first, then file && !dirty && !unevictable
    if __PageMovable(A, vc, pfn):
        return False
    return not (test_bit(A, pfn, PG_swapbacked) or test_bit(A, pfn, PG_dirty)
                or test_bit(A, pfn, PG_unevictable))


@kernel
def reclaim_clean_pages_from_list(A, vc, S, head_id, res):
    """Drop the pages the variant's rule lets through; the rest stay for migration.

    A clean, evictable file page the rule keeps is a false positive (R-04 point 3: in
    v3-04 every PG_checked page reads as isolated). A driver's page the rule lets
    through is handed to reclaim."""
    head = misc_head(A, head_id)
    node = A.lru_next[head]
    while node != head:
        nxt = A.lru_next[node]
        kind = A.kind[node]
        truly = (kind == K_FILE and not test_bit(A, node, PG_dirty)
                 and not test_bit(A, node, PG_unevictable))
        if clean_page_droppable(A, vc, node):
            if kind == K_FILE:
                if not test_bit(A, node, PG_unevictable):  # shrink_page_list culls those
                    order = folio_order(A, node)  # a large folio (alloc_contig_thp) goes whole
                    list_del(A, node)
                    A.refcount[node] = 0
                    free_the_page(A, vc, node, order)
                    res[CR_RECLAIMED] += 1 << order
                    S.vm[VM_CMA_RECLAIMED] += 1 << order
            elif kind == K_ZSMALLOC:
                r = release_zsmalloc_page(A, S, node, F_CMA_CLEAN_RULE)
                if r != ZR_KEPT:  # a page whose release failed stays for migration (ret_pages)
                    list_del(A, node)
                if r == ZR_REMOVED:
                    reclaim_zsmalloc_page(A, vc, S, node, F_CMA_CLEAN_RULE)
                    res[CR_RECLAIMED] += 1
            elif kind != K_ANON:
                record(S, A, node, EV_NONLRU_TO_RECLAIM, F_CMA_CLEAN_RULE, 0)
        elif truly:
            record(S, A, node, EV_CMA_SKIP_FALSE_POSITIVE, F_CMA_CLEAN_RULE, 0)
            res[CR_SKIPPED_CLEAN] += 1
        node = nxt


@kernel
def start_isolate_page_range(A, vc, start, end, saved):
    """Mark the pageblocks of [start, end) MIGRATE_ISOLATE and move their free pages there."""
    z = page_zone(A, start)
    A.zone_flags[z] |= ZONE_HAS_ISOLATE  # zone->nr_isolate_pageblock > 0
    b = start
    i = 0
    while b < end:
        saved[i] = get_pageblock_migratetype(A, b)
        retype_pageblock(A, vc, z, b, ISOLATE)
        if vc[F_FALLBACK_RULE] == FB_CLAIM or vc[F_CONTIG_PAGEBLOCK_ISOLATION] != 0:
            # v6.10 move_freepages_block_isolate; v5.19 isolate_single_pageblock splits a
            # free block across the window's edge
            split_large_buddy(A, vc, z, b)
        move_freepages_block(A, vc, z, b, ISOLATE)
        b = (b & ~(PAGEBLOCK_NR_PAGES - 1)) + PAGEBLOCK_NR_PAGES
        i += 1


@kernel
def undo_isolate_page_range(A, vc, start, end, saved):
    z = page_zone(A, start)
    A.zone_flags[z] &= ~ZONE_HAS_ISOLATE
    b = start
    i = 0
    while b < end:
        retype_pageblock(A, vc, z, b, saved[i])
        move_freepages_block(A, vc, z, b, saved[i])
        if vc[F_PAGEBLOCK_MERGE] != PM_ANY:
            remerge_pageblock(A, vc, z, b & ~(PAGEBLOCK_NR_PAGES - 1))
        b = (b & ~(PAGEBLOCK_NR_PAGES - 1)) + PAGEBLOCK_NR_PAGES
        i += 1


@kernel
def test_pages_isolated(A, vc, start, end):
    """Every frame of the range is free (``__test_page_isolated_in_pageblock``)."""
    pfn = start
    while pfn < end:
        if PageBuddy(A, vc, pfn):
            pfn += 1 << page_order(A, pfn)
        else:
            return False
    return True


@kernel
def has_unmovable_pages(A, vc, start, end):
    """``has_unmovable_pages``: a frame that is neither free, nor on the LRU, nor
    non-LRU movable, nor unreferenced. CMA pageblocks are trusted."""
    for p in range(start, end):
        if get_pageblock_migratetype(A, p) == CMA:
            return False
        if PageBuddy(A, vc, p) or PageLRU(A, p) or __PageMovable(A, vc, p) or A.refcount[p] == 0:
            continue
        if A.lru_next[p] <= -2:  # the tail of a compound page: judged by its head
            continue
        return True
    return False


@kernel
def isolate_migratepages_range(A, vc, S, cc, pfn, end):
    """``isolate_migratepages_range``: pageblock by pageblock, until a batch is full."""
    while pfn < end:
        block_end = min((pfn + PAGEBLOCK_NR_PAGES) & ~(PAGEBLOCK_NR_PAGES - 1), end)
        pfn = isolate_migratepages_block(A, vc, S, cc, pfn, block_end, HEAD_CONTIG)
        if pfn < 0:
            return -1
        if cc[CC_NR_MIGRATE] >= 32:
            break
    return pfn


@kernel
def pageblocks_in_zone(A, z, start, end):
    """Every pageblock of [start, end) lies whole in zone ``z``."""
    b = start & ~(PAGEBLOCK_NR_PAGES - 1)
    while b < end:
        if not (zone_spans_pfn(A, z, b) and zone_spans_pfn(A, z, b + PAGEBLOCK_NR_PAGES - 1)):
            return False
        b += PAGEBLOCK_NR_PAGES
    return True


@kernel
def contig_failed(res, ret):
    res[CR_OK] = 0
    res[CR_RET] = ret
    return ret


@njit(cache=True)
def alloc_contig_range(A, vc, S, start, end, res):
    """Allocate [start, end) (pageblock aligned). ``res`` gets the outcome and adds up
    its cost (CR_* slots). On success every frame of the range is a KERNEL page,
    refcount 1. Returns 0, -EBUSY (a page that would not move, or an isolation refused)
    or -ENOMEM (``migrate_pages`` found no target: ``__alloc_contig_migrate_range``'s
    return, which ends ``cma_alloc``'s walk)."""
    z = page_zone(A, start)
    if has_unmovable_pages(A, vc, start, end):  # set_migratetype_isolate
        return contig_failed(res, -EBUSY)
    # start_isolate_page_range(pfn_max_align_down(start), pfn_max_align_up(end)): whole
    # MAX_ORDER blocks (inside the zone), so that no free block straddles the isolation;
    # from v5.19 the range's own pageblocks
    align = PAGEBLOCK_NR_PAGES if vc[F_CONTIG_PAGEBLOCK_ISOLATION] != 0 else MAX_ORDER_NR_PAGES
    iso_start = max(start & ~(align - 1), A.zone_start[z])
    iso_end = min((end + align - 1) & ~(align - 1), A.zone_end[z])
    if not pageblocks_in_zone(A, z, iso_start, iso_end):
        if vc[F_FALLBACK_RULE] == FB_CLAIM:
            # v6.10 set_migratetype_isolate: move_freepages_block_isolate refuses a
            # pageblock that straddles the zone's edge, and the isolation fails (-EBUSY)
            return contig_failed(res, -EBUSY)
        # v4.5's move_freepages_block leaves such a pageblock's free pages where they
        # are: NR_FREE_PAGES walks the isolate lists from now on (zone_free_pages)
        A.zone_flags[z] |= ZONE_ISOLATE_EDGE
    nb = ((iso_end - 1) >> PAGEBLOCK_ORDER) - (iso_start >> PAGEBLOCK_ORDER) + 1
    saved = np.zeros(nb, dtype=np.int64)
    start_isolate_page_range(A, vc, iso_start, iso_end, saved)
    # drain_all_pages(cc.zone): pages of the range on per-CPU lists go to the buddy (to
    # the isolated free lists), where test_pages_isolated finds them
    drain_all_pages(A, vc, z)
    cc = S.cc[CC_ROW_CONTIG]
    init_cc(cc, z, -1, 1, 1, 1)
    head = misc_head(A, HEAD_CONTIG)
    pfn = start
    tries = 0
    busy = False
    nomem = False  # the last migrate_pages ran out of targets
    while pfn < end or not list_empty(A, head):
        if list_empty(A, head):
            cc[CC_NR_MIGRATE] = 0
            pfn = isolate_migratepages_range(A, vc, S, cc, pfn, end)
            if pfn < 0:
                busy = True
                break
            tries = 0
        else:
            tries += 1
            if tries == 5:  # ret = ret < 0 ? ret : -EBUSY
                busy = True
                break
        reclaim_clean_pages_from_list(A, vc, S, HEAD_CONTIG, res)
        nomem = migrate_pages(A, vc, S, cc, HEAD_CONTIG, True)
        if nomem and vc[F_CONTIG_ENOMEM_BAIL] != 0:
            busy = True
            break
    node = A.lru_next[head]
    while node != head:
        res[CR_FAILED] += 1
        node = A.lru_next[node]
    putback_movable_pages(A, vc, S, HEAD_CONTIG)
    res[CR_MIGRATED] += cc[CC_MIGRATED]
    S.vm[VM_CMA_MIGRATED] += cc[CC_MIGRATED]
    # the free block holding ``start`` may begin below it (outer_start)
    outer_start = start
    if not busy:
        order = 0
        while not PageBuddy(A, vc, outer_start):
            order += 1
            if order >= MAX_ORDER:
                outer_start = start
                break
            outer_start &= ~((1 << order) - 1)
        if outer_start != start and outer_start + (1 << page_order(A, outer_start)) <= start:
            outer_start = start
    if busy or not test_pages_isolated(A, vc, outer_start, end):
        undo_isolate_page_range(A, vc, iso_start, iso_end, saved)
        return contig_failed(res, -ENOMEM if busy and nomem else -EBUSY)
    # isolate_freepages_range: take the free blocks out of the buddy; the last may end
    # past ``end`` (outer_end)
    pfn = outer_start
    while pfn < end:
        order = page_order(A, pfn)
        list_del(A, pfn)
        account_free_block(A, z, pfn, order, -1)
        A.mapcount[pfn] = -1
        A.private[pfn] = 0
        for p in range(pfn, pfn + (1 << order)):
            set_page_kind(A, p, K_KERNEL)
            A.refcount[p] = 1
        pfn += 1 << order
    outer_end = pfn
    # free head and tail: the pages outside [start, end) go back (still isolated)
    free_contig_range(A, vc, outer_start, start)
    free_contig_range(A, vc, end, outer_end)
    undo_isolate_page_range(A, vc, iso_start, iso_end, saved)
    res[CR_OK] = 1
    res[CR_RET] = 0
    return 0


@njit(cache=True)
def cma_alloc(A, vc, S, base, area_blocks, nblocks, res):
    """``cma_alloc`` of ``nblocks`` pageblocks on the CMA area of ``area_blocks``
    pageblocks at ``base``, none of it given out: ``alloc_contig_range`` at the area's
    first position, then, after each -EBUSY, at the next (``start = bitmap_no + mask +
    1``), until one succeeds, one fails otherwise (-ENOMEM) or none is left. mmkit's
    ranges start on pageblocks, so the walk steps a pageblock: the alignment of a
    caller that asks for at least that (a caller asking for less, as
    ``dma_alloc_from_contiguous`` with ``CONFIG_CMA_ALIGNMENT``'s default 1 MiB does,
    would also be tried between them). ``res`` adds up the cost of every try. Counts
    ``cma_alloc_success`` or ``cma_alloc_fail`` once, and ``cma_alloc_busy_retry`` per
    -EBUSY. Returns the range's first pfn, or -1."""
    res[CR_OK] = 0
    pos = 0
    while pos + nblocks <= area_blocks:
        start = base + pos * PAGEBLOCK_NR_PAGES
        ret = alloc_contig_range(A, vc, S, start, start + nblocks * PAGEBLOCK_NR_PAGES, res)
        if ret == 0:
            S.vm[VM_CMA_ALLOC_SUCCESS] += 1
            return start
        if ret != -EBUSY or S.st[ST_OOPSED] != 0:
            break
        S.vm[VM_CMA_ALLOC_BUSY_RETRY] += 1
        pos += 1
    S.vm[VM_CMA_ALLOC_FAIL] += 1
    return -1


@kernel
def free_contig_range(A, vc, start, end):
    """``free_contig_range``: every frame back to the buddy, one page at a time."""
    for p in range(start, end):
        A.refcount[p] = 0
        free_the_page(A, vc, p, 0)
