"""Compaction (``mm/compaction.c``, v4.5 to v6.18 by the Variant's rules) and the
free-block counts of ``mm/vmstat.c`` it reads (``fill_contig_page_info``,
``extfrag_for_order``).

``compact_zone``: the migrate scanner walks up from where the last run left it
(``compact_cached_migrate_pfn``, one for async and one for sync runs), the free scanner
down from ``compact_cached_free_pfn``, a pageblock at a time, ``COMPACT_CLUSTER_MAX``
pages per batch; whole-zone runs (``compact_memory``, contiguous ranges, proactive runs)
start at the zone's ends. For an order above 0, v5.1's searches of the free lists go
first (``fast_isolate_freepages`` for targets, ``fast_find_migrateblock`` for where the
migrate scanner goes next). Pageblock skip bits (set and cleared as each era does, v5.1's
``test_and_set_skip`` included), deferral, ``compaction_suitable`` and
``__compact_finished`` as each era has them (``docs/modelling.md``, "Compaction");
kcompactd, woken and proactive (``kcompactd_do_work``, ``proactive_compact_node``).

The pages isolated here go to ``migrate_pages`` (``migrate.py``, ``mm/migrate.c``), which
takes its targets from ``compaction_alloc`` and gives unused ones back through
``compaction_free``, the callbacks the kernel passes it. ``struct compact_control`` is a
row of ``S.cc``, its fields the ``CC_*`` columns of ``state.py``.
"""
from __future__ import annotations

import numpy as np
from mmkit.engine.jit import inline_into, kernel

from mmkit.engine.alloc import free_pages
from mmkit.engine.buddy import (
    CMA,
    FB_CLAIM,
    MIGRATE_PCPTYPES,
    MOVABLE,
    UNMOVABLE,
    WMARK_LOW,
    WMARK_MIN,
    account_free_block,
    find_suitable_fallback,
    get_pageblock_migratetype,
    move_freepages_block,
    set_pageblock_migratetype,
    zone_watermark_ok,
)
from mmkit.engine.lists import (
    buddy_list_add,
    buddy_list_add_tail,
    buddy_list_del,
    free_head,
    list_add,
    list_del,
    list_empty,
    list_first,
    misc_head,
)
from mmkit.engine.migrate import (
    isolate_movable_page,
    migrate_pages,
    putback_movable_pages,
)
from mmkit.engine.owners import balloon_isolate, del_page_from_lru_list
from mmkit.engine.pageflags import PageBuddy, page_order, rmv_page_order, set_page_kind
from mmkit.engine.pcp import drain_all_pages, drain_local_pages
from mmkit.engine.predicates import (
    PageBalloon,
    PageIsolated,
    PageLRU,
    PagePrivate,
    __PageMovable,
    clear_bit,
    set_bit,
    test_bit,
)
from mmkit.engine.state import (
    CC_ORDER,
    CC_SYNC,
    CC_MIGRATE_PFN,
    CC_FREE_PFN,
    CC_NR_MIGRATE,
    CC_NR_FREE,
    CC_ZONE,
    CC_IGNORE_SKIP,
    CC_MIGRATETYPE,
    CC_FINISH_PAGEBLOCK,
    CC_RESULT,
    CC_LAST_MIGRATED,
    CC_DRAIN_PFN,
    CC_PROACTIVE,
    CC_DIRECT,
    CC_FAST_SEARCH_FAIL,
    CC_FAST_START_PFN,
    CC_SEARCH_ORDER,
    FAST_START_USED,
    NR_CC,
    CC_ROW_COMPACT,
    CC_ROW_KCOMPACTD,
    COMPACT_MAX_DEFER_SHIFT,
    ZC_CONSIDERED,
    ZC_DEFER_SHIFT,
    ZC_FREE,
    ZC_INIT_FREE,
    ZC_MIGRATE_ASYNC,
    ZC_MIGRATE_SYNC,
    ZC_ORDER_FAILED,
    ZC_PRESENT,
    EV_ISOLATED,
    EV_ISOLATED_FALSE_POSITIVE,
    EV_OOPS,
    OOPS_ISOLATE_MOVABLE_PAGE,
    HEAD_CONTIG,
    HEAD_FREEPAGES,
    HEAD_FREEPAGES_ORDER1,
    HEAD_MIGRATEPAGES,
    RULE_NONE,
    ST_BLOCKSKIP_FLUSH,
    ST_CONCURRENT_PPM,
    ST_OOPSED,
    ST_KCOMPACTD_PENDING,
    ST_PROACTIVE_BUSY,
    ST_PROACTIVE_IN_ZONE,
    ST_PROACTIVE_PREV,
    ST_PROACTIVE_ZONE,
    ST_PROACTIVE_WAIT,
    VM_COMPACT_DAEMON_WAKE,
    VM_COMPACT_FREE_SCANNED,
    VM_COMPACT_ISOLATED,
    VM_COMPACT_MIGRATE_SCANNED,
    VM_PGMIGRATE_SUCCESS,
    chance_ppm,
    record,
)
from mmkit.model.flags import PG_head, PG_locked, PG_private
from mmkit.model.kinds import (
    MAX_ORDER,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
    PB_MIGRATE_SKIP,
    PageKind,
)
from mmkit.semantics.variant import (
    F_ALLOC_CONTIG_THP,
    F_BALLOON_BRANCH_FIRST,
    F_COMPACT_COUNT_SKIPPED,
    F_COMPACT_FAST_SEARCH,
    F_COMPACT_FINISH_PAGEBLOCK,
    F_COMPACT_FINISHED_ALIGNED,
    F_COMPACT_FINISHED_LOW_WMARK,
    F_COMPACT_LARGE_FOLIOS,
    F_COMPACTION_MIN_WMARK,
    F_EXTFRAG_COSTLY_ONLY,
    F_FALLBACK_RULE,
    F_FREE_ISOLATE_FAIL_BREAK,
    F_FREE_SCANNER_STRIDE,
    F_ISOLATE_FREE_MIN_WMARK,
    F_KCOMPACTD,
    F_KCOMPACTD_DRAIN,
    F_KCOMPACTD_IGNORE_SKIP_HINT,
    F_MOVABLE_MARKER,
    F_PG_ISOLATED,
    F_PROACTIVE_COMPACTION,
    F_SKIP_HINTS_SCANNED,
)

COMPACT_CLUSTER_MAX = 32
EXTFRAG_THRESHOLD = 500
# proactive compaction (v5.9): the order its score is about (HPAGE_PMD_ORDER on x86-64),
# vm.compaction_proactiveness at its default, kcompactd's wait between checks
COMPACTION_HPAGE_ORDER = PAGEBLOCK_ORDER
COMPACTION_PROACTIVENESS = 20
HPAGE_FRAG_CHECK_INTERVAL_MSEC = 500
# how long a proactive run takes, per page migrated: measured on this machine's 6.18
# kernel (two compact_node runs of 267,227 pages in 0.49 s and 306,021 in 0.50 s); a
# run goes on from tick to tick at that pace, among the allocations made meanwhile
PROACTIVE_NS_PER_PAGE = 1700
PROACTIVE_NOT_NEEDED = 0
PROACTIVE_PROGRESS = 1
PROACTIVE_NO_PROGRESS = 2
PAGE_ALLOC_COSTLY_ORDER = 3

K_HOLE = int(PageKind.HOLE)
K_UNINIT = int(PageKind.UNINIT)
K_RESERVED = int(PageKind.RESERVED)
K_ISOLATED_FREE = int(PageKind.ISOLATED_FREE)
K_BALLOON = int(PageKind.BALLOON)
K_ZSMALLOC = int(PageKind.ZSMALLOC)

# compact_zone results (enum compact_result, v4.5 names)
COMPACT_SKIPPED = 0
COMPACT_CONTINUE = 1
COMPACT_PARTIAL = 2  # success: a suitable page is free
COMPACT_COMPLETE = 3  # scanners met
COMPACT_NO_SUITABLE_PAGE = 4
COMPACT_CONTENDED = 5  # stopped: here, by an oops
COMPACT_NOT_SUITABLE_ZONE = 6



def new_cc(zone: int, order: int, sync: bool, ignore_skip: bool, migratetype: int = MOVABLE,
           direct: bool = False) -> np.ndarray:
    cc = np.zeros(NR_CC, dtype=np.int64)
    cc[CC_ZONE], cc[CC_ORDER], cc[CC_SYNC] = zone, order, int(sync)
    cc[CC_IGNORE_SKIP], cc[CC_MIGRATETYPE] = int(ignore_skip), migratetype
    cc[CC_SEARCH_ORDER], cc[CC_DIRECT] = order, int(direct)
    return cc


@kernel
def init_cc(cc, zone, order, sync, ignore_skip, migratetype):
    """Fill a ``compact_control`` buffer (a row of ``S.cc``) for a new compaction
    (``search_order`` is the order, as ``compact_zone_order`` and kcompactd set it)."""
    cc[:] = 0
    cc[CC_ZONE] = zone
    cc[CC_ORDER] = order
    cc[CC_SEARCH_ORDER] = order
    cc[CC_SYNC] = sync
    cc[CC_IGNORE_SKIP] = ignore_skip
    cc[CC_MIGRATETYPE] = migratetype


# ------------------------------------------------------------------ fragmentation
@kernel(inline="always")
def fill_contig_page_info(A, z, order):
    """``fill_contig_page_info``: the zone's free blocks, free pages, and free blocks of
    ``order`` its free pages would make (``free_blocks_suitable``)."""
    total = 0
    free_pages_ = 0
    suitable = 0
    for o in range(MAX_ORDER):
        blocks = A.nr_free[z, o]
        total += blocks
        free_pages_ += blocks << o
        if o >= order:
            suitable += blocks << (o - order)
    return total, free_pages_, suitable


@kernel
def fragmentation_index(A, z, order):
    """``__fragmentation_index`` (``fill_contig_page_info``), integer arithmetic."""
    total, free_pages_, suitable = fill_contig_page_info(A, z, order)
    if total == 0:
        return 0
    if suitable > 0:
        return -1000
    return 1000 - (1000 + (free_pages_ * 1000) // (1 << order)) // total


@kernel
def extfrag_for_order(A, z, order):
    """``extfrag_for_order``: the percentage of the zone's free pages that are in blocks
    smaller than ``order`` (0 with no free page)."""
    _, free_pages_, suitable = fill_contig_page_info(A, z, order)
    if free_pages_ == 0:
        return 0
    return (free_pages_ - (suitable << order)) * 100 // free_pages_


@kernel
def zone_present_pages(A, S, z):
    """``zone->present_pages``: the zone's frames that are not holes (counted once per
    run, kept in ``S.zc``)."""
    v = S.zc[z, ZC_PRESENT]
    if v == 0:
        for p in range(A.zone_start[z], A.zone_end[z]):
            if A.kind[p] != K_HOLE:
                v += 1
        v += 1
        S.zc[z, ZC_PRESENT] = v
    return v - 1


@kernel
def fragmentation_score_node(A, S):
    """``fragmentation_score_node``: each populated zone's ``extfrag_for_order`` at
    COMPACTION_HPAGE_ORDER, weighted by its share of the node's present pages."""
    nz = A.zone_start.shape[0]
    node = 0
    for z in range(nz):
        node += zone_present_pages(A, S, z)
    score = 0
    for z in range(nz):
        present = zone_present_pages(A, S, z)
        if present != 0:
            score += present * extfrag_for_order(A, z, COMPACTION_HPAGE_ORDER) // (node + 1)
    return score


@kernel(inline="always")
def fragmentation_score_wmark(low):
    """``fragmentation_score_wmark``: 100 - proactiveness (at least 5), the high mark 10
    above it (at most 100)."""
    wmark_low = max(100 - COMPACTION_PROACTIVENESS, 5)
    return wmark_low if low else min(wmark_low + 10, 100)


@kernel
def should_proactive_compact_node(A, S):
    """``should_proactive_compact_node``: the node's score when it is above the high mark
    (a proactive run is due), else -1. kswapd is never running here: it runs within the
    allocation that woke it."""
    score = fragmentation_score_node(A, S)
    return score if score > fragmentation_score_wmark(False) else -1


# ------------------------------------------------------------------ helpers
@kernel(inline="always")
def pageblock_skip(A, pfn):
    return A.pb_flags[pfn >> PAGEBLOCK_ORDER] & PB_MIGRATE_SKIP != 0


@kernel(inline="always")
def set_pageblock_skip(A, pfn):
    A.pb_flags[pfn >> PAGEBLOCK_ORDER] |= PB_MIGRATE_SKIP


@kernel(inline="always")
def test_and_set_skip(A, cc, pfn, no_set):
    """``test_and_set_skip`` (v5.1): under the first LRU lock of a block, whether the block
    was already marked skip, marking it if not (nothing under ``ignore_skip_hint``)."""
    if cc[CC_IGNORE_SKIP] != 0:
        return False
    skip = pageblock_skip(A, pfn)
    if not skip and not no_set:
        set_pageblock_skip(A, pfn)
    return skip


@kernel
def reset_isolation_suitable(A, S, z):
    """``__reset_isolation_suitable``: clear every skip bit in the zone, put the scanners'
    cached positions back at the zone's ends and clear ``compact_blockskip_flush``; where
    the free scanner restarts is ``compact_init_free_pfn`` (v5.1)."""
    first = A.zone_start[z] >> PAGEBLOCK_ORDER
    last = (A.zone_end[z] - 1) >> PAGEBLOCK_ORDER
    for b in range(first, last + 1):
        A.pb_flags[b] &= 0xFF ^ PB_MIGRATE_SKIP
    reset_cached_positions(A, S, z)
    S.zc[z, ZC_INIT_FREE] = S.zc[z, ZC_FREE]
    S.st[ST_BLOCKSKIP_FLUSH] &= ~(1 << z)


@kernel(inline="always")
def migrate_async_suitable(mt):
    return mt == MOVABLE or mt == CMA


@kernel(inline="always")
def is_frame(A, pfn):
    k = A.kind[pfn]
    return k != K_HOLE and k != K_UNINIT


@kernel(inline="always")
def compound_order(A, pfn):
    """The order of the compound page whose head is ``pfn`` (``page[1].compound_order``)."""
    if test_bit(A, pfn, PG_head) and pfn + 1 < A.flags.shape[0]:
        return A.private[pfn + 1]
    return 0


# ------------------------------------------------------------------ migrate scanner


@kernel
def balloon_page_isolate_v319(A, vc, S, pfn):
    """v3.19-v4.5 ``balloon_page_isolate``: ``get_page_unless_zero``, ``trylock_page``,
    then ``balloon_page_movable`` (PageBalloon && PagePrivate) again under the lock: clear
    PagePrivate, off the balloon list, the reference kept; otherwise the reference goes."""
    if A.refcount[pfn] == 0 or test_bit(A, pfn, PG_locked):
        return False
    A.refcount[pfn] += 1
    if not (PageBalloon(A, vc, pfn) and PagePrivate(A, pfn)):
        A.refcount[pfn] -= 1
        return False
    balloon_isolate(A, vc, S, pfn)
    return True


@kernel
def try_nonlru(A, vc, S, pfn):
    """The non-LRU branch of ``isolate_migratepages_block``: the variant's lockless
    test, then ``isolate_movable_page``. A truly movable page refused because
    PageIsolated lies (it is not isolated: no extra reference) is a false positive."""
    if not __PageMovable(A, vc, pfn):
        return 0
    if PageIsolated(A, vc, pfn):
        if A.refcount[pfn] == 1 and (A.kind[pfn] == K_BALLOON or A.kind[pfn] == K_ZSMALLOC):
            record(S, A, pfn, EV_ISOLATED_FALSE_POSITIVE, F_PG_ISOLATED, 0)
        return 0
    return isolate_movable_page(A, vc, S, pfn)


@kernel(inline="always")
def skip_isolation_on_order(order, target_order):
    """``skip_isolation_on_order`` (v6.9): folios of the target order or above are not
    worth moving, nor any of pageblock order or above (compact_memory: target -1)."""
    if target_order != -1 and order >= target_order:
        return True
    return order >= PAGEBLOCK_ORDER


@kernel(inline="always")
def isolate_lru_folio(A, vc, pfn):
    """The LRU branch of ``isolate_migratepages_block`` for a page or folio head: not a
    pinned anonymous page (``page_count > page_mapcount`` and no ``page_mapping``), then
    ``__isolate_lru_page``: a reference and off its LRU list."""
    if lru_pinned(A, pfn):
        return False
    A.refcount[pfn] += 1
    del_page_from_lru_list(A, pfn)
    return True


@kernel(inline="always")
def lru_pinned(A, pfn):
    """A pinned anonymous page: ``page_count > page_mapcount`` and no ``page_mapping``."""
    return A.mapping[pfn] & 1 != 0 and A.refcount[pfn] > A.mapcount[pfn] + 1


@kernel
def isolate_migratepages_block(A, vc, S, cc, low_pfn, end_pfn, head_id):
    """Scan [low_pfn, end_pfn) and isolate up to COMPACT_CLUSTER_MAX pages onto the list
    ``head_id``. Returns the pfn where the scan stopped (-1 after an oops).

    With ``compact_count_skipped`` every page of a skipped free or compound block counts
    as scanned; with ``compact_large_folios`` compaction (not a contiguous range, whose
    list is ``HEAD_CONTIG``) isolates LRU large folios ``skip_isolation_on_order`` lets
    through, counting their pages; with ``alloc_contig_thp`` a contiguous range
    (``cc->alloc_contig``) isolates every LRU large folio, THPs too."""
    head = misc_head(A, head_id)
    nr_scanned = 0
    nr_isolated = 0
    valid = -1
    balloon_first = vc[F_BALLOON_BRANCH_FIRST] != 0
    count_skipped = vc[F_COMPACT_COUNT_SKIPPED] != 0
    folios = vc[F_COMPACT_LARGE_FOLIOS] != 0 and head_id == HEAD_MIGRATEPAGES
    contig_folios = vc[F_ALLOC_CONTIG_THP] != 0 and head_id == HEAD_CONTIG
    # v5.1 skip hints: valid_page only when the scan starts the block; a contiguous range
    # (HEAD_CONTIG) is no_set_skip_hint
    scanned_hints = vc[F_SKIP_HINTS_SCANNED] != 0
    no_set = head_id != HEAD_MIGRATEPAGES
    block_start = (low_pfn & (PAGEBLOCK_NR_PAGES - 1)) == 0 or low_pfn == A.zone_start[cc[CC_ZONE]]
    skip_updated = False
    while low_pfn < end_pfn:
        pfn = low_pfn
        low_pfn += 1
        nr_scanned += 1
        if not is_frame(A, pfn):
            continue
        if valid < 0 and (block_start or not scanned_hints):
            valid = pfn
        if PageBuddy(A, vc, pfn):
            order = page_order(A, pfn)
            if 0 < order < MAX_ORDER:
                low_pfn += (1 << order) - 1
                if count_skipped:
                    nr_scanned += (1 << order) - 1
            continue
        got = 0
        nr = 1
        if not balloon_first and A.lru_next[pfn] <= -2:
            continue  # a tail page: PageCompound, order 0 from here
        if not balloon_first and test_bit(A, pfn, PG_head):
            order = compound_order(A, pfn)
            if not (PageLRU(A, pfn) and (contig_folios or (folios and not skip_isolation_on_order(order, cc[CC_ORDER])))):
                low_pfn += (1 << order) - 1
                if count_skipped:
                    nr_scanned += (1 << order) - 1
                continue
            # a large folio compaction may move (v6.9)
            if scanned_hints and not skip_updated and valid >= 0 and not lru_pinned(A, pfn):
                skip_updated = True
                if test_and_set_skip(A, cc, valid, no_set) and cc[CC_FINISH_PAGEBLOCK] == 0:
                    low_pfn = end_pfn
                    break
            if not isolate_lru_folio(A, vc, pfn):
                low_pfn += (1 << order) - 1
                nr_scanned += (1 << order) - 1
                continue
            nr = 1 << order
            low_pfn += nr - 1
            nr_scanned += nr - 1
            got = 1
        elif not PageLRU(A, pfn):
            if balloon_first and PageBalloon(A, vc, pfn) and PagePrivate(A, pfn):
                # v4.5 / v3-02: balloon_page_movable, then balloon_page_isolate; another
                # compactor may hold the page (the workload's concurrency rate)
                held = chance_ppm(S, S.st[ST_CONCURRENT_PPM])
                if held:
                    clear_bit(A, pfn, PG_private)
                elif balloon_page_isolate_v319(A, vc, S, pfn):
                    got = 1
                if got == 0:
                    got = try_nonlru(A, vc, S, pfn)
                if held:
                    set_bit(A, pfn, PG_private)
            elif __PageMovable(A, vc, pfn):  # the lockless test here: most pages fail it
                got = try_nonlru(A, vc, S, pfn)
            if got < 0:
                record(S, A, pfn, EV_OOPS, F_MOVABLE_MARKER, OOPS_ISOLATE_MOVABLE_PAGE)
                S.st[ST_OOPSED] = 1
                S.vm[VM_COMPACT_MIGRATE_SCANNED] += nr_scanned
                return -1
            if got == 0:
                if balloon_first and test_bit(A, pfn, PG_head):
                    low_pfn += (1 << compound_order(A, pfn)) - 1  # v4.5: PageCompound after the balloon branch
                continue
        else:
            if test_bit(A, pfn, PG_head):  # PageTransHuge on the LRU
                low_pfn += (1 << compound_order(A, pfn)) - 1
                continue
            if scanned_hints and not skip_updated and valid >= 0 and not lru_pinned(A, pfn):
                skip_updated = True
                if test_and_set_skip(A, cc, valid, no_set) and cc[CC_FINISH_PAGEBLOCK] == 0:
                    low_pfn = end_pfn
                    break
            if not isolate_lru_folio(A, vc, pfn):
                continue
            got = 1
        list_add(A, pfn, head)
        cc[CC_NR_MIGRATE] += nr
        nr_isolated += nr
        record(S, A, pfn, EV_ISOLATED, RULE_NONE, 0)
        if cc[CC_NR_MIGRATE] >= COMPACT_CLUSTER_MAX and cc[CC_FINISH_PAGEBLOCK] == 0:
            break
    if low_pfn > end_pfn:
        low_pfn = end_pfn  # a free block's order took the scan past the block
    cached = -1
    if scanned_hints:
        # v5.1: a block scanned whole that gave nothing, or that the scan finished, is
        # marked (hints ignored or not) unless test_and_set_skip did it already, and the
        # scanner's restart point moves past it (update_cached_migrate)
        if low_pfn >= end_pfn and not no_set and (nr_isolated == 0 or cc[CC_FINISH_PAGEBLOCK] != 0):
            if valid >= 0 and not skip_updated:
                set_pageblock_skip(A, valid)
            cached = low_pfn
    elif low_pfn >= end_pfn and nr_isolated == 0 and valid >= 0 and cc[CC_IGNORE_SKIP] == 0:
        set_pageblock_skip(A, valid)  # update_pageblock_skip (migrate scanner)
        cached = valid
    if cached >= 0:
        z = cc[CC_ZONE]
        if cached > S.zc[z, ZC_MIGRATE_ASYNC]:
            S.zc[z, ZC_MIGRATE_ASYNC] = cached
        if cc[CC_SYNC] != 0 and cached > S.zc[z, ZC_MIGRATE_SYNC]:
            S.zc[z, ZC_MIGRATE_SYNC] = cached
    S.vm[VM_COMPACT_MIGRATE_SCANNED] += nr_scanned
    S.vm[VM_COMPACT_ISOLATED] += nr_isolated
    return low_pfn


@kernel(inline="always")
def pageblock_has_page(A, start, end):
    """``pageblock_pfn_to_page``: a block whose first or last page frame has no struct
    page (a hole, memory not online) is passed over, uncounted."""
    return is_frame(A, start) and is_frame(A, end - 1)


# ------------------------------------------------------------------ free-list searches (v5.1)
@kernel(inline="always")
def freelist_scan_limit(cc):
    """``freelist_scan_limit``: how many free-list entries a fast search looks at, fewer
    after each failed search."""
    return (COMPACT_CLUSTER_MAX >> min(63, cc[CC_FAST_SEARCH_FAIL])) + 1


@kernel(inline="always")
def move_freelist_head(A, head, node):
    """``move_freelist_head``: rotate the list so ``node`` is first (the entries before it
    go to the tail), so the free scanner's next reverse search starts with the ones it
    did not look at."""
    if node != head and A.lru_next[head] != node:
        buddy_list_del(A, head)
        buddy_list_add_tail(A, head, node)


@kernel(inline="always")
def move_freelist_tail(A, head, node):
    """``move_freelist_tail``: rotate the list so ``node`` is last (it and the entries
    before it go to the tail), so the migrate scanner's next forward search starts past it."""
    if node != head and A.lru_prev[head] != node:
        buddy_list_del(A, head)
        buddy_list_add(A, head, node)


@kernel(inline="always")
def update_fast_start_pfn(cc, pfn):
    if cc[CC_FAST_START_PFN] == FAST_START_USED:
        return
    if cc[CC_FAST_START_PFN] == 0 or pfn < cc[CC_FAST_START_PFN]:
        cc[CC_FAST_START_PFN] = pfn


@kernel(inline="always")
def reinit_migrate_pfn(cc):
    """``reinit_migrate_pfn``: after a failed search, the linear scan starts once at the
    lowest free page an earlier search of this run picked."""
    fsp = cc[CC_FAST_START_PFN]
    if fsp == 0 or fsp == FAST_START_USED:
        return cc[CC_MIGRATE_PFN]
    cc[CC_MIGRATE_PFN] = fsp
    cc[CC_FAST_START_PFN] = FAST_START_USED
    return fsp


@kernel
def fast_find_migrateblock(A, vc, S, cc):
    """``fast_find_migrateblock`` (v5.1): where the migrate scanner goes next. For an
    order above PAGE_ALLOC_COSTLY_ORDER, skip hints honoured, at a pageblock's start:
    the MOVABLE free lists of orders ``order - 1`` down to 3, from their heads, at most
    ``freelist_scan_limit`` entries in all; the first free page below the first half of
    the space between the scanners (an eighth once the scanner has moved), in a pageblock
    not marked skip, picks that pageblock and goes to its list's tail. When none does,
    the scan resumes linearly (``reinit_migrate_pfn``)."""
    z = cc[CC_ZONE]
    pfn = cc[CC_MIGRATE_PFN]
    if cc[CC_IGNORE_SKIP] != 0 or cc[CC_FINISH_PAGEBLOCK] != 0:
        return pfn
    if pfn != A.zone_start[z] and (pfn & (PAGEBLOCK_NR_PAGES - 1)) != 0:
        return pfn  # a scan resumed after COMPACT_CLUSTER_MAX pages
    if cc[CC_ORDER] <= PAGE_ALLOC_COSTLY_ORDER:
        return pfn
    if cc[CC_DIRECT] != 0 and cc[CC_MIGRATETYPE] != MOVABLE:
        return pfn
    limit = freelist_scan_limit(cc)
    nr_scanned = 0
    found = False
    distance = (cc[CC_FREE_PFN] - cc[CC_MIGRATE_PFN]) >> 1
    if cc[CC_MIGRATE_PFN] != A.zone_start[z]:
        distance >>= 2
    high_pfn = (cc[CC_MIGRATE_PFN] + distance) & ~(PAGEBLOCK_NR_PAGES - 1)
    order = cc[CC_ORDER] - 1
    while order >= PAGE_ALLOC_COSTLY_ORDER and not found and nr_scanned < limit:
        if A.nr_free[z, order] != 0:
            head = free_head(A, z, order, MOVABLE)
            node = A.lru_next[head]
            while node != head:
                nxt = A.lru_next[node]
                nr_scanned += 1
                if nr_scanned - 1 >= limit:
                    move_freelist_tail(A, head, node)
                    break
                if node < high_pfn:
                    if pageblock_skip(A, node):
                        node = nxt
                        continue  # skipped recently
                    move_freelist_tail(A, head, node)
                    update_fast_start_pfn(cc, node)
                    pfn = max(node & ~(PAGEBLOCK_NR_PAGES - 1), A.zone_start[z])
                    cc[CC_FAST_SEARCH_FAIL] = 0
                    found = True
                    break
                node = nxt
        order -= 1
    S.vm[VM_COMPACT_MIGRATE_SCANNED] += nr_scanned
    if not found:
        cc[CC_FAST_SEARCH_FAIL] += 1
        pfn = reinit_migrate_pfn(cc)
    return pfn


@kernel
def isolate_migratepages(A, vc, S, cc):
    """``isolate_migratepages``: the next suitable pageblock below the free scanner
    (where ``fast_find_migrateblock`` points, with ``compact_fast_search``).
    Returns 0 ISOLATE_NONE, 1 ISOLATE_SUCCESS, 2 ISOLATE_ABORT (an oops)."""
    z = cc[CC_ZONE]
    # v5.1: a block's skip bit is tested where the scanner enters it, not where it
    # resumes after a batch (test_and_set_skip marked it then), nor in the block the
    # fast search picked (it tested the bit)
    entry_only = vc[F_SKIP_HINTS_SCANNED] != 0
    if vc[F_COMPACT_FAST_SEARCH] != 0:
        low_pfn = fast_find_migrateblock(A, vc, S, cc)
    else:
        low_pfn = cc[CC_MIGRATE_PFN]
    fast_find_block = low_pfn != cc[CC_MIGRATE_PFN] and cc[CC_FAST_SEARCH_FAIL] == 0
    end_pfn = (low_pfn + PAGEBLOCK_NR_PAGES) & ~(PAGEBLOCK_NR_PAGES - 1)
    while end_pfn <= cc[CC_FREE_PFN]:
        start = max(low_pfn & ~(PAGEBLOCK_NR_PAGES - 1), A.zone_start[z])
        block_end = min(end_pfn, A.zone_end[z])
        ok = True
        if not pageblock_has_page(A, start, block_end):
            ok = False
        elif (cc[CC_IGNORE_SKIP] == 0 and not fast_find_block and (not entry_only or low_pfn <= start)
              and pageblock_skip(A, start)):
            ok = False
        elif cc[CC_SYNC] == 0 and not migrate_async_suitable(get_pageblock_migratetype(A, start)):
            ok = False
        if ok:
            low_pfn = isolate_migratepages_block(A, vc, S, cc, max(low_pfn, start), block_end, HEAD_MIGRATEPAGES)
            if low_pfn < 0:
                return 2
            cc[CC_MIGRATE_PFN] = low_pfn
            return 1 if cc[CC_NR_MIGRATE] > 0 else 0
        low_pfn = end_pfn
        end_pfn += PAGEBLOCK_NR_PAGES
        fast_find_block = False
    cc[CC_MIGRATE_PFN] = low_pfn
    return 0


# ------------------------------------------------------------------ free scanner
@kernel(inline="always")
def suitable_migration_target(A, vc, pfn):
    """``suitable_migration_target``: not a free block of pageblock order or more, and a
    MOVABLE or CMA pageblock."""
    if PageBuddy(A, vc, pfn) and page_order(A, pfn) >= PAGEBLOCK_ORDER:
        return False
    return migrate_async_suitable(get_pageblock_migratetype(A, pfn))


@kernel(inline="always")
def __isolate_free_page(A, vc, z, pfn, order):
    """Take a free block out of the buddy if the zone stays above its low watermark, not
    counting free CMA pages (from v4.9: the min watermark, free CMA pages counted:
    ALLOC_CMA); a block of pageblock_order - 1 or more makes its pageblocks MOVABLE."""
    v49 = vc[F_ISOLATE_FREE_MIN_WMARK] != 0
    mark = A.wmark[z, WMARK_MIN if v49 else WMARK_LOW]
    if not zone_watermark_ok(A, z, 0, mark + (1 << order), v49):  # v4.9: ALLOC_CMA
        return 0
    buddy_list_del(A, pfn)
    account_free_block(A, z, pfn, order, -1)
    rmv_page_order(A, pfn)
    if order >= PAGEBLOCK_ORDER - 1:
        p = pfn
        while p < pfn + (1 << order):
            mt = get_pageblock_migratetype(A, p)
            if vc[F_FALLBACK_RULE] == FB_CLAIM:
                # v6.10: only mergeable types, their free blocks moving with them
                if mt < MIGRATE_PCPTYPES and move_freepages_block(A, vc, z, p, MOVABLE) >= 0:
                    set_pageblock_migratetype(A, p, MOVABLE)
            elif mt != CMA and mt != 5:
                set_pageblock_migratetype(A, p, MOVABLE)
            p += PAGEBLOCK_NR_PAGES
    return 1 << order


@kernel(inline="always")
def freepages_head(A, order):
    """``&cc->freepages[order]`` (order 0 is the v4.5 list of split pages)."""
    if order == 0:
        return misc_head(A, HEAD_FREEPAGES)
    return misc_head(A, HEAD_FREEPAGES_ORDER1 + order - 1)


@kernel(inline="always")
def freepages_add(A, vc, pfn, order, isolated):
    """An isolated free block onto cc->freepages: whole on ``cc->freepages[order]``
    (``set_page_private(page, order)``, at the tail) with ``compact_large_folios``, else
    split into order-0 pages, each ``list_add``-ed (v4.5 ``split_free_page``)."""
    if vc[F_COMPACT_LARGE_FOLIOS] != 0:
        for p in range(pfn, pfn + isolated):
            set_page_kind(A, p, K_ISOLATED_FREE)
        A.private[pfn] = order
        buddy_list_add_tail(A, pfn, freepages_head(A, order))
    else:
        head = misc_head(A, HEAD_FREEPAGES)
        for p in range(pfn, pfn + isolated):
            set_page_kind(A, p, K_ISOLATED_FREE)
            A.refcount[p] = 1
            buddy_list_add(A, p, head)


@kernel(inline=inline_into("isolate_freepages"))
def isolate_freepages_block(A, vc, S, cc, start, end, stride, update_skip):
    """Take every free block in [start, end) onto cc->freepages until there are as many
    free pages as pages to migrate. Returns where it stopped. ``update_skip``: a block
    scanned to its end is marked skip and moves the free scanner's cached position as
    ``isolate_freepages`` does (``update_pageblock_skip``), else the caller marks it.

    v4.5: each block is split into order-0 pages (``split_free_page``) and a refused one
    is stepped over; with ``compact_large_folios`` the block stays whole on
    ``cc->freepages[order]`` (``page_private`` = order) and a refusal ends the block."""
    z = cc[CC_ZONE]
    count_skipped = vc[F_COMPACT_COUNT_SKIPPED] != 0
    nr_scanned = 0
    total = 0
    valid = -1
    pfn = start
    while pfn < end:
        nr_scanned += 1
        if is_frame(A, pfn) and test_bit(A, pfn, PG_head):
            if valid < 0:
                valid = pfn
            n = 1 << compound_order(A, pfn)
            if count_skipped:
                if pfn + n <= end:
                    nr_scanned += n - 1
                    pfn += n - 1
            else:
                pfn += n - 1  # PageCompound: skip it by its order
            pfn += stride
            continue
        if not is_frame(A, pfn) or not PageBuddy(A, vc, pfn):
            if valid < 0 and is_frame(A, pfn):
                valid = pfn
            pfn += stride
            continue
        if valid < 0:
            valid = pfn
        order = page_order(A, pfn)
        isolated = __isolate_free_page(A, vc, z, pfn, order)
        if isolated == 0:
            if vc[F_FREE_ISOLATE_FAIL_BREAK] != 0:
                break
            pfn += stride
            continue
        freepages_add(A, vc, pfn, order, isolated)
        if count_skipped:
            nr_scanned += isolated - 1
        total += isolated
        cc[CC_NR_FREE] += isolated
        if cc[CC_NR_MIGRATE] <= cc[CC_NR_FREE]:
            pfn += isolated
            break
        pfn += isolated - 1 + stride  # to the end of the block, then the next sample
    if pfn > end:
        pfn = end
    if (update_skip and pfn >= end and valid >= 0
            and (vc[F_SKIP_HINTS_SCANNED] != 0 or (total == 0 and cc[CC_IGNORE_SKIP] == 0))):
        # update_pageblock_skip (free scanner): v4.x when the block gave nothing and the
        # hints count; v5.1 whenever the block was scanned whole
        set_pageblock_skip(A, valid)
        if valid < S.zc[z, ZC_FREE]:
            S.zc[z, ZC_FREE] = valid
    S.vm[VM_COMPACT_FREE_SCANNED] += nr_scanned
    S.vm[VM_COMPACT_ISOLATED] += total
    return pfn


@kernel
def fast_isolate_around(A, vc, S, cc, pfn):
    """``fast_isolate_around``: the rest of the pageblock of a free block the fast
    search took, scanned page by page (not in async direct compaction, nor when there
    are free pages enough); a pageblock scanned to its end is marked skip."""
    if cc[CC_NR_FREE] >= cc[CC_NR_MIGRATE]:
        return
    if cc[CC_DIRECT] != 0 and cc[CC_SYNC] == 0:
        return
    z = cc[CC_ZONE]
    block = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
    start = max(block, A.zone_start[z])
    end = min(block + PAGEBLOCK_NR_PAGES, A.zone_end[z])
    if not pageblock_has_page(A, start, end):
        return
    if isolate_freepages_block(A, vc, S, cc, start, end, 1, False) == end:
        set_pageblock_skip(A, start)


@kernel(inline="always")
def next_search_order(cc, order):
    """``next_search_order``: the orders below cc->order round robin from
    ``search_order``; -1 once they wrapped round (``search_order`` then starts one lower
    next time)."""
    order -= 1
    if order < 0:
        order = cc[CC_ORDER] - 1
    if order == cc[CC_SEARCH_ORDER]:
        cc[CC_SEARCH_ORDER] -= 1
        if cc[CC_SEARCH_ORDER] < 0:
            cc[CC_SEARCH_ORDER] = cc[CC_ORDER] - 1
        return -1
    return order


@kernel
def fast_isolate_freepages(A, vc, S, cc):
    """``fast_isolate_freepages`` (v5.1), for an order above 0: the MOVABLE free lists
    below cc->order, from ``search_order`` round robin, each from its tail, at most a
    limit of entries (``freelist_scan_limit`` / 2; 256 when the free scanner is at its
    start, ``compact_init_free_pfn``), the limit halved at each candidate and for each
    next order. The first block in the top quarter of the space between the scanners is
    taken, else the highest seen in the top half; the list is rotated past what was seen
    (``move_freelist_head``); a refused block ends the search. Found nothing: at the
    scanner's start, the free scanner moves to the highest pageblock seen in the top half
    (direct compaction: else to the half's bottom). The cached free position drops below
    the highest pageblock seen; then the rest of the taken block's pageblock is scanned
    (``fast_isolate_around``)."""
    if cc[CC_ORDER] <= 0:
        return  # full compaction (compact_memory) passes order -1
    z = cc[CC_ZONE]
    limit = max(1, freelist_scan_limit(cc) >> 1)
    nr_scanned = 0
    total_isolated = 0
    highest = 0
    page = -1
    scan_start = False
    if cc[CC_FREE_PFN] >= S.zc[z, ZC_INIT_FREE]:
        limit = PAGEBLOCK_NR_PAGES >> 1  # starting the scan: a deeper search
        scan_start = True
    distance = cc[CC_FREE_PFN] - cc[CC_MIGRATE_PFN]
    if distance >= 0:
        low_pfn = (cc[CC_FREE_PFN] - (distance >> 2)) & ~(PAGEBLOCK_NR_PAGES - 1)
        min_pfn = (cc[CC_FREE_PFN] - (distance >> 1)) & ~(PAGEBLOCK_NR_PAGES - 1)
    else:
        # the free scanner is below the migrate scanner: the kernel's unsigned distance
        # wraps and puts both marks above every pfn, so no block is a candidate
        low_pfn = 1 << 62
        min_pfn = 1 << 62
    if min_pfn > low_pfn:
        low_pfn = min_pfn
    cc[CC_SEARCH_ORDER] = min(cc[CC_ORDER] - 1, cc[CC_SEARCH_ORDER])
    order = cc[CC_SEARCH_ORDER]
    while page < 0 and order >= 0:
        if A.nr_free[z, order] != 0:
            head = free_head(A, z, order, MOVABLE)
            order_scanned = 0
            high_pfn = 0
            node = A.lru_prev[head]
            while node != head:
                order_scanned += 1
                nr_scanned += 1
                if node >= highest:
                    highest = max(node & ~(PAGEBLOCK_NR_PAGES - 1), A.zone_start[z])
                if node >= low_pfn:
                    cc[CC_FAST_SEARCH_FAIL] = 0
                    cc[CC_SEARCH_ORDER] = order
                    page = node
                    break
                if node >= min_pfn and node > high_pfn:
                    high_pfn = node
                    limit >>= 1  # a candidate: shorten the scan
                if order_scanned >= limit:
                    break
                node = A.lru_prev[node]
            freepage = node  # where the walk stopped (the head when it went round)
            if page < 0 and high_pfn != 0:
                page = high_pfn
                freepage = page
            move_freelist_head(A, head, freepage)
            if page >= 0:
                isolated = __isolate_free_page(A, vc, z, page, order)
                if isolated != 0:
                    freepages_add(A, vc, page, order, isolated)
                    nr_scanned += isolated - 1
                    total_isolated += isolated
                    cc[CC_NR_FREE] += isolated
                else:
                    order = cc[CC_SEARCH_ORDER] + 1  # refused: abort the search
                    page = -1
            if cc[CC_NR_FREE] >= cc[CC_NR_MIGRATE]:
                break
            if order_scanned >= limit:
                limit = max(1, limit >> 1)
        order = next_search_order(cc, order)
    if page < 0:
        cc[CC_FAST_SEARCH_FAIL] += 1
        if scan_start:
            if highest >= min_pfn:
                page = highest
                cc[CC_FREE_PFN] = highest
            elif cc[CC_DIRECT] != 0 and min_pfn < A.kind.shape[0] and is_frame(A, min_pfn):
                # pessimistic for direct compaction: the bottom of the top half
                if pageblock_has_page(A, min_pfn, min(min_pfn + PAGEBLOCK_NR_PAGES, A.zone_end[z])):
                    page = min_pfn
                cc[CC_FREE_PFN] = min_pfn
    if highest != 0 and highest >= S.zc[z, ZC_FREE]:
        highest -= PAGEBLOCK_NR_PAGES
        S.zc[z, ZC_FREE] = highest
    S.vm[VM_COMPACT_FREE_SCANNED] += nr_scanned
    S.vm[VM_COMPACT_ISOLATED] += total_isolated
    if page >= 0:
        fast_isolate_around(A, vc, S, cc, page)


@kernel
def isolate_freepages(A, vc, S, cc):
    """``isolate_freepages``: pageblocks downward from the free scanner, above the
    migrate scanner's pageblock (v6.9: a block whose isolation stopped early ends it).
    With ``compact_fast_search`` the free lists are searched first, and the scanner
    runs only when there are still no isolated free pages."""
    if vc[F_COMPACT_FAST_SEARCH] != 0:
        fast_isolate_freepages(A, vc, S, cc)
        if cc[CC_NR_FREE] != 0:
            return
    z = cc[CC_ZONE]
    block_start = cc[CC_FREE_PFN] & ~(PAGEBLOCK_NR_PAGES - 1)
    isolate_start = cc[CC_FREE_PFN]
    low_pfn = (cc[CC_MIGRATE_PFN] + PAGEBLOCK_NR_PAGES) & ~(PAGEBLOCK_NR_PAGES - 1)
    sampled = vc[F_FREE_SCANNER_STRIDE] != 0
    stride = COMPACT_CLUSTER_MAX if sampled and cc[CC_SYNC] == 0 else 1
    while block_start >= low_pfn:
        block_end = min(block_start + PAGEBLOCK_NR_PAGES, A.zone_end[z])
        first = max(block_start, A.zone_start[z])
        ok = True
        if not pageblock_has_page(A, first, block_end):
            ok = False
        elif cc[CC_IGNORE_SKIP] == 0 and pageblock_skip(A, first):
            ok = False
        elif not suitable_migration_target(A, vc, first):
            ok = False
        if ok:
            before = cc[CC_NR_FREE]
            stop = isolate_freepages_block(A, vc, S, cc, max(isolate_start, first), block_end, stride, True)
            if cc[CC_NR_FREE] >= cc[CC_NR_MIGRATE]:
                if stop >= block_end:
                    isolate_start = block_start - PAGEBLOCK_NR_PAGES
                else:
                    isolate_start = stop
                cc[CC_FREE_PFN] = isolate_start
                return
            if vc[F_FREE_ISOLATE_FAIL_BREAK] != 0 and stop < block_end:
                cc[CC_FREE_PFN] = stop  # isolation failed early: do not go on needlessly
                return
            if sampled:  # sample the next block more sparsely unless this one gave pages
                stride = 1 if cc[CC_NR_FREE] > before else min(COMPACT_CLUSTER_MAX, stride << 1)
        block_start -= PAGEBLOCK_NR_PAGES
        isolate_start = block_start
    cc[CC_FREE_PFN] = block_start


@kernel(inline="always")
def compaction_alloc(A, vc, S, cc):
    """``compaction_alloc``: the next page of cc->freepages, isolating more if empty."""
    head = misc_head(A, HEAD_FREEPAGES)
    if list_empty(A, head):
        isolate_freepages(A, vc, S, cc)
        if list_empty(A, head):
            return -1
    p = list_first(A, head)
    list_del(A, p)
    cc[CC_NR_FREE] -= 1
    return p


@kernel(inline="always")
def compaction_alloc_order(A, vc, S, cc, order):
    """v6.9 ``compaction_alloc`` for a folio of ``order``: the first block on the
    smallest non-empty ``cc->freepages[o]``, o >= order, split down (the upper halves
    onto the lower lists); when all are empty, isolate once more; -1 if that found none."""
    has_isolated = False
    while True:
        start = order
        while start < MAX_ORDER and list_empty(A, freepages_head(A, start)):
            start += 1
        if start < MAX_ORDER:
            break
        if has_isolated:
            return -1
        isolate_freepages(A, vc, S, cc)
        has_isolated = True
    p = list_first(A, freepages_head(A, start))
    list_del(A, p)
    size = 1 << start
    while start > order:
        start -= 1
        size >>= 1
        list_add(A, p + size, freepages_head(A, start))
        A.private[p + size] = start
    A.private[p] = 0
    A.refcount[p] = 1  # post_alloc_hook, set_page_refcounted
    cc[CC_NR_FREE] -= 1 << order
    cc[CC_NR_MIGRATE] -= 1 << order
    return p


@kernel
def compaction_free_order(A, cc, p, order):
    """v6.9 ``compaction_free``: an unused target back onto ``cc->freepages[order]``."""
    A.refcount[p] = 0
    A.private[p] = order
    list_add(A, p, freepages_head(A, order))
    cc[CC_NR_FREE] += 1 << order
    cc[CC_NR_MIGRATE] += 1 << order


@kernel(inline="always")
def compaction_free(A, cc, p):
    """``compaction_free``: an unused target goes back to cc->freepages."""
    list_add(A, p, misc_head(A, HEAD_FREEPAGES))
    cc[CC_NR_FREE] += 1


@kernel
def release_list(A, vc, head, order):
    """Every block on a private free list back to the buddy as a block of ``order``;
    returns the highest pfn released (-1 if none)."""
    high = -1
    while True:
        p = list_first(A, head)
        if p < 0 or not list_del(A, p):  # refused: a broken list ends the drain (Sim.check says so)
            break
        A.refcount[p] = 0
        A.private[p] = 0
        free_pages(A, vc, p, order)
        if p > high:
            high = p
    return high


@kernel
def release_freepages(A, vc, head_id):
    """``release_freepages``: every page left on a private free list (order-0 pages)
    back to the buddy; returns the highest pfn released (-1 if none)."""
    return release_list(A, vc, misc_head(A, head_id), 0)


@kernel
def release_free_list(A, vc):
    """v6.9 ``release_free_list``: the blocks left on ``cc->freepages[1..10]`` back to the
    buddy whole (order 0 goes through ``release_freepages``); the highest pfn or -1."""
    high = -1
    for order in range(1, MAX_ORDER):
        high = max(high, release_list(A, vc, freepages_head(A, order), order))
    return high


# ------------------------------------------------------------------ compact_zone
@kernel(inline="always")
def cc_alloc_cma(cc):
    """ALLOC_CMA in ``cc->alloc_flags``: only the allocator's own compaction for a movable
    request has it (``gfp_to_alloc_flags``, v3.7 on); kcompactd's and v4.5 kswapd's
    ``compact_control`` carry no alloc_flags with ALLOC_CMA, and their migratetype is
    GFP_KERNEL's (or gfp 0's): UNMOVABLE."""
    return cc[CC_DIRECT] != 0 and cc[CC_MIGRATETYPE] == MOVABLE


@kernel
def compaction_suitable(A, vc, z, order, alloc_cma, async_):
    """``__compaction_suitable``: PARTIAL if the order is already there, SKIPPED below
    the order-0 watermark plus 2 << order, NOT_SUITABLE_ZONE when the fragmentation index
    says the failure is from lack of memory (<= extfrag_threshold 500).

    ``alloc_cma``: the caller's ALLOC_CMA (``cc_alloc_cma``), which says whether free
    pages of CMA pageblocks count. The "already there" test takes it in every era; the
    order-0 test too before v4.9, and from v4.9 counts them whoever asks (984fdba6a32e
    "mm, compaction: use proper alloc_flags in __compaction_suitable()", tied to
    ``isolate_free_min_wmark``: the free scanner may use them). v6.13 (6268f0a166eb
    "mm: compaction: use the proper flag to determine watermarks", here with
    ``compaction_min_wmark``): an async direct compaction of a costly order without
    ALLOC_CMA is skipped when the free pages outside CMA are below the watermark plus
    ``compact_gap``, as compaction could only make the page in CMA pageblocks."""
    if order < 0:
        return COMPACT_CONTINUE
    mark = A.wmark[z, WMARK_LOW]
    gap = 2 << order  # compact_gap
    if vc[F_COMPACTION_MIN_WMARK] != 0:
        # v6.x: the caller's watermark (min), plus low - min when costly
        mark = A.wmark[z, WMARK_MIN]
        if order > PAGE_ALLOC_COSTLY_ORDER:
            gap += A.wmark[z, WMARK_LOW] - mark
    if zone_watermark_ok(A, z, order, mark, alloc_cma):
        return COMPACT_PARTIAL
    if (vc[F_COMPACTION_MIN_WMARK] != 0 and order > PAGE_ALLOC_COSTLY_ORDER and async_ and not alloc_cma
            and not zone_watermark_ok(A, z, 0, mark + (2 << order), False)):
        return COMPACT_SKIPPED
    if not zone_watermark_ok(A, z, 0, mark + gap, alloc_cma or vc[F_ISOLATE_FREE_MIN_WMARK] != 0):
        return COMPACT_SKIPPED
    if vc[F_EXTFRAG_COSTLY_ONLY] == 0 or order > PAGE_ALLOC_COSTLY_ORDER:
        fi = fragmentation_index(A, z, order)
        if fi >= 0 and fi <= EXTFRAG_THRESHOLD:
            return COMPACT_NOT_SUITABLE_ZONE
    return COMPACT_CONTINUE


@kernel
def compact_finished(A, vc, cc):
    """``__compact_finished``: scanners met; for proactive compaction, the zone's score
    at the low mark; or (not for order -1) a free page of the order in the right
    migratetype, or one that could be stolen."""
    z = cc[CC_ZONE]
    if cc[CC_FREE_PFN] >> PAGEBLOCK_ORDER <= cc[CC_MIGRATE_PFN] >> PAGEBLOCK_ORDER:
        return COMPACT_COMPLETE
    if cc[CC_PROACTIVE] != 0:
        # v5.9: until the zone's own score is down to the low mark (COMPACT_SUCCESS)
        if extfrag_for_order(A, z, COMPACTION_HPAGE_ORDER) > fragmentation_score_wmark(True):
            return COMPACT_CONTINUE
        return COMPACT_PARTIAL
    order = cc[CC_ORDER]
    if order < 0:
        return COMPACT_CONTINUE
    if vc[F_COMPACT_FINISHED_ALIGNED] != 0 and cc[CC_MIGRATE_PFN] & (PAGEBLOCK_NR_PAGES - 1) != 0:
        return COMPACT_CONTINUE  # always finish scanning a pageblock (v4.12)
    if (vc[F_COMPACT_FINISHED_LOW_WMARK] != 0
            and not zone_watermark_ok(A, z, order, A.wmark[z, WMARK_LOW], cc_alloc_cma(cc))):
        return COMPACT_CONTINUE
    mt = cc[CC_MIGRATETYPE]
    for o in range(order, MAX_ORDER):
        if not list_empty(A, free_head(A, z, o, mt)):
            return COMPACT_PARTIAL
        if mt == MOVABLE and not list_empty(A, free_head(A, z, o, CMA)):
            return COMPACT_PARTIAL
        fmt, can_steal = find_suitable_fallback(A, z, o, mt)
        if fmt >= 0 and can_steal:
            return COMPACT_PARTIAL
    # __compact_finished says COMPACT_NO_SUITABLE_PAGE; its wrapper compact_finished
    # turns that into COMPACT_CONTINUE: the run goes on until the scanners meet
    return COMPACT_CONTINUE


@kernel
def reset_cached_positions(A, S, z):
    S.zc[z, ZC_MIGRATE_ASYNC] = A.zone_start[z]
    S.zc[z, ZC_MIGRATE_SYNC] = A.zone_start[z]
    S.zc[z, ZC_FREE] = (A.zone_end[z] - 1) & ~(PAGEBLOCK_NR_PAGES - 1)


@kernel
def compact_zone(A, vc, S, cc):
    """``compact_zone``: isolate a batch, migrate it, until ``compact_finished`` says
    stop. Scanners restart where the last run left them (``compact_cached_*_pfn``),
    except for whole-zone runs (skip hints ignored: compact_memory, contig ranges).
    Returns the compact_result. The same as ``compact_zone_begin``, then
    ``compact_zone_steps`` until it is done, then ``compact_zone_end`` (how a caller
    that must be able to stop between batches runs it)."""
    early = compact_zone_begin(A, vc, S, cc)
    if early >= 0:
        return early
    compact_zone_steps(A, vc, S, cc, -1)
    return compact_zone_end(A, vc, S, cc)


@kernel
def compact_zone_begin(A, vc, S, cc):
    """``compact_zone`` up to its loop: a result (>= 0) when it ends before the loop
    (an earlier oops, ``compaction_suitable``), else -1 with the scanners placed and the
    loop's state in ``cc`` (CC_RESULT, CC_LAST_MIGRATED)."""
    z = cc[CC_ZONE]
    if S.st[ST_OOPSED] != 0:
        return COMPACT_CONTENDED  # an oops killed compaction earlier in this run
    ret = compaction_suitable(A, vc, z, cc[CC_ORDER], cc_alloc_cma(cc), cc[CC_SYNC] == 0)
    if ret == COMPACT_PARTIAL or ret == COMPACT_SKIPPED or ret == COMPACT_NOT_SUITABLE_ZONE:
        return ret
    # __reset_isolation_suitable: on the retry after the longest deferral
    # (compaction_restarting), before v4.x's compact_memory (__compact_pgdat), and at the
    # first run that honours the hints after a complete one (compact_blockskip_flush)
    if (compaction_restarting(S, z, cc[CC_ORDER])
            or (cc[CC_IGNORE_SKIP] != 0 and cc[CC_ORDER] < 0 and vc[F_SKIP_HINTS_SCANNED] == 0)
            or (cc[CC_IGNORE_SKIP] == 0 and S.st[ST_BLOCKSKIP_FLUSH] & (1 << z))):
        reset_isolation_suitable(A, S, z)
    start = A.zone_start[z]
    last_block = (A.zone_end[z] - 1) & ~(PAGEBLOCK_NR_PAGES - 1)
    if cc[CC_IGNORE_SKIP] != 0:
        cc[CC_MIGRATE_PFN] = start
        cc[CC_FREE_PFN] = last_block
    else:
        mig = S.zc[z, ZC_MIGRATE_SYNC if cc[CC_SYNC] != 0 else ZC_MIGRATE_ASYNC]
        free = S.zc[z, ZC_FREE]
        if free < start or free >= A.zone_end[z]:
            free = last_block
            S.zc[z, ZC_FREE] = free
        if mig < start or mig >= A.zone_end[z]:
            mig = start
            S.zc[z, ZC_MIGRATE_ASYNC] = mig
            S.zc[z, ZC_MIGRATE_SYNC] = mig
        cc[CC_MIGRATE_PFN] = mig
        cc[CC_FREE_PFN] = free
    cc[CC_RESULT] = compact_finished(A, vc, cc)
    cc[CC_LAST_MIGRATED] = 0  # as the kernel starts it (so a zone in pageblock 0 begins with a whole block)
    cc[CC_DRAIN_PFN] = 0
    cc[CC_FAST_START_PFN] = 0
    return -1


@kernel
def compact_zone_steps(A, vc, S, cc, max_steps):
    """``compact_zone``'s loop, at most ``max_steps`` batches (-1: to the end). Returns
    True when the loop is over (``cc[CC_RESULT]`` is no longer COMPACT_CONTINUE)."""
    z = cc[CC_ZONE]
    ret = cc[CC_RESULT]
    finish = vc[F_COMPACT_FINISH_PAGEBLOCK] != 0
    last_migrated = cc[CC_LAST_MIGRATED]
    steps = 0
    while ret == COMPACT_CONTINUE and steps != max_steps:
        steps += 1
        if finish:
            # resuming in the pageblock isolated from last: take the rest of it at once
            same = (last_migrated >> PAGEBLOCK_ORDER) == (cc[CC_MIGRATE_PFN] >> PAGEBLOCK_ORDER)
            cc[CC_FINISH_PAGEBLOCK] = 1 if same else 0
        isolate_start = cc[CC_MIGRATE_PFN]
        r = isolate_migratepages(A, vc, S, cc)
        if r == 1 and finish:
            last_migrated = max(A.zone_start[z], (cc[CC_MIGRATE_PFN] - 1) & ~(PAGEBLOCK_NR_PAGES - 1))
        if r == 1 and not finish and cc[CC_DRAIN_PFN] == 0:
            # where migration may have freed pages to this CPU's lists: v4.8 the first
            # isolation since the last flush; v6.x last_migrated (one variable for both)
            cc[CC_DRAIN_PFN] = isolate_start
        if r == 2:
            ret = COMPACT_CONTENDED
            putback_movable_pages(A, vc, S, HEAD_MIGRATEPAGES)
            cc[CC_NR_MIGRATE] = 0
            break
        if r == 1:
            nomem = migrate_pages(A, vc, S, cc, HEAD_MIGRATEPAGES, False)
            cc[CC_NR_MIGRATE] = 0
            if not list_empty(A, misc_head(A, HEAD_MIGRATEPAGES)):
                putback_movable_pages(A, vc, S, HEAD_MIGRATEPAGES)
                if nomem and not (cc[CC_FREE_PFN] >> PAGEBLOCK_ORDER <= cc[CC_MIGRATE_PFN] >> PAGEBLOCK_ORDER):
                    ret = COMPACT_CONTENDED
                    break
        # check_drain: the migrate scanner has left the cc->order aligned block it last
        # migrated from: flush this CPU's lists so the freed pages can merge
        # (drain_local_pages; lru_add_drain_cpu_zone since v5.8). Never for order -1.
        drain_pfn = last_migrated if finish else cc[CC_DRAIN_PFN]
        if cc[CC_ORDER] > 0 and drain_pfn != 0 and A.pcp.shape[1] > 0:
            if drain_pfn < cc[CC_MIGRATE_PFN] & ~((1 << cc[CC_ORDER]) - 1):
                drain_local_pages(A, vc, z)
                if finish:  # v6.x: the flush zeroes last_migrated_pfn
                    last_migrated = 0
                else:
                    cc[CC_DRAIN_PFN] = 0
        ret = compact_finished(A, vc, cc)
    cc[CC_RESULT] = ret
    cc[CC_LAST_MIGRATED] = last_migrated
    return ret != COMPACT_CONTINUE


@kernel
def compact_zone_end(A, vc, S, cc):
    """``compact_zone`` after its loop: cached scanner positions, the isolated free
    pages back to the buddy. Returns the compact_result."""
    z = cc[CC_ZONE]
    ret = cc[CC_RESULT]
    if ret == COMPACT_COMPLETE:
        reset_cached_positions(A, S, z)  # let the next compaction start anew
        S.st[ST_BLOCKSKIP_FLUSH] |= 1 << z
    high = release_freepages(A, vc, HEAD_FREEPAGES)
    if vc[F_COMPACT_LARGE_FOLIOS] != 0:
        high = max(high, release_free_list(A, vc))
    if high >= 0 and cc[CC_IGNORE_SKIP] == 0 and ret != COMPACT_COMPLETE:
        free_pfn = high & ~(PAGEBLOCK_NR_PAGES - 1)
        if free_pfn > S.zc[z, ZC_FREE]:
            S.zc[z, ZC_FREE] = free_pfn
    cc[CC_NR_FREE] = 0
    return ret


@kernel
def compaction_deferred(A, S, z, order):
    """``compaction_deferred``: after failures, skip all but one in 2**defer_shift tries."""
    limit = 1 << S.zc[z, ZC_DEFER_SHIFT]
    if order < S.zc[z, ZC_ORDER_FAILED]:
        return False
    S.zc[z, ZC_CONSIDERED] += 1
    if S.zc[z, ZC_CONSIDERED] > limit:
        S.zc[z, ZC_CONSIDERED] = limit
    if S.zc[z, ZC_CONSIDERED] >= limit:
        return False
    return True


@kernel(inline="always")
def compaction_restarting(S, z, order):
    """``compaction_restarting``: the zone was deferred as far as it goes
    (COMPACT_MAX_DEFER_SHIFT) for this order and every deferred request has been counted:
    ``compact_zone`` clears its skip bits before this retry (``__reset_isolation_suitable``)."""
    if order < 0 or order < S.zc[z, ZC_ORDER_FAILED]:
        return False
    return (S.zc[z, ZC_DEFER_SHIFT] == COMPACT_MAX_DEFER_SHIFT
            and S.zc[z, ZC_CONSIDERED] >= (1 << S.zc[z, ZC_DEFER_SHIFT]))


@kernel
def defer_compaction(S, z, order):
    """``defer_compaction``: a sync compaction of the zone failed at ``order``."""
    S.zc[z, ZC_CONSIDERED] = 0
    S.zc[z, ZC_DEFER_SHIFT] = min(S.zc[z, ZC_DEFER_SHIFT] + 1, COMPACT_MAX_DEFER_SHIFT)
    if order < S.zc[z, ZC_ORDER_FAILED]:
        S.zc[z, ZC_ORDER_FAILED] = order


@kernel
def compaction_defer_reset(S, z, order, alloc_success):
    """``compaction_defer_reset``: compaction made ``order`` available in the zone."""
    if alloc_success:
        S.zc[z, ZC_CONSIDERED] = 0
        S.zc[z, ZC_DEFER_SHIFT] = 0
    if order >= S.zc[z, ZC_ORDER_FAILED]:
        S.zc[z, ZC_ORDER_FAILED] = order + 1


@kernel
def compact_zones_for(A, vc, S, order, mt, zone_hi, sync, direct):
    """``try_to_compact_pages`` / kcompactd's loop: each zone from ``zone_hi`` down that
    compaction has not deferred, until one meets its low watermark at ``order``
    (``direct``: cc->direct_compaction, the allocator's own)."""
    z = zone_hi
    while z >= 0:
        if not compaction_deferred(A, S, z, order):
            cc = S.cc[CC_ROW_COMPACT]
            init_cc(cc, z, order, 1 if sync else 0, 0, mt)
            cc[CC_DIRECT] = direct
            ret = compact_zone(A, vc, S, cc)
            if compaction_succeeded(A, vc, z, order, ret, cc_alloc_cma(cc)):
                compaction_defer_reset(S, z, order, False)
                return z
            if sync and ret == COMPACT_COMPLETE:
                defer_compaction(S, z, order)
        z -= 1
    return -1


@kernel(inline="always")
def compaction_succeeded(A, vc, z, order, ret, alloc_cma):
    """After ``compact_zone``: v6.x trusts its COMPACT_SUCCESS; v4.5 tests the zone's low
    watermark at the order, with the caller's ALLOC_CMA (``try_to_compact_pages``: the
    request's alloc_flags; kcompactd: none)."""
    if vc[F_COMPACTION_MIN_WMARK] != 0:
        return ret == COMPACT_PARTIAL
    return zone_watermark_ok(A, z, order, A.wmark[z, WMARK_LOW], alloc_cma)


@kernel
def kcompactd_do_work(A, vc, S, order, zone_hi):
    """``kcompactd_do_work`` (v4.6): every zone from the lowest up to ``zone_hi`` that
    compaction has not deferred and finds suitable, sync-light, ``ignore_skip_hint`` as
    the era sets it; a zone that succeeded resets its deferral, one compacted to the end
    without success is deferred; the next zone is compacted whatever this one did."""
    ignore = 1 if vc[F_KCOMPACTD_IGNORE_SKIP_HINT] != 0 else 0
    for z in range(zone_hi + 1):
        if compaction_deferred(A, S, z, order):
            continue
        if compaction_suitable(A, vc, z, order, False, False) != COMPACT_CONTINUE:
            continue
        cc = S.cc[CC_ROW_COMPACT]
        init_cc(cc, z, order, 1, ignore, UNMOVABLE)  # GFP_KERNEL's migratetype, no ALLOC_CMA
        ret = compact_zone(A, vc, S, cc)
        if compaction_succeeded(A, vc, z, order, ret, False):
            compaction_defer_reset(S, z, order, False)
        elif ret == COMPACT_COMPLETE:
            defer_compaction(S, z, order)
        if vc[F_KCOMPACTD_DRAIN] != 0 and ret == COMPACT_COMPLETE:
            # v6.x kcompactd_do_work: drain_all_pages(zone) after a run to the end
            drain_all_pages(A, vc, z)


@kernel
def proactive_begin(S, prev):
    """A proactive run starts (``compact_node(pgdat, true)``) at the lowest zone."""
    S.st[ST_PROACTIVE_BUSY] = 1
    S.st[ST_PROACTIVE_PREV] = prev
    S.st[ST_PROACTIVE_ZONE] = 0
    S.st[ST_PROACTIVE_IN_ZONE] = 0


@kernel
def proactive_slice(A, vc, S, budget):
    """The proactive run goes on until ``budget`` more pages have migrated: every
    populated zone from the lowest, order -1, sync-light, skip hints ignored, each until
    its score is at the low mark (``compact_finished``), its scanners meet or its free
    scanner runs dry. Cut there, the zone's scanners stay in S.cc's kcompactd row and its
    isolated free pages go back to the buddy (its free scanner resumes at the highest of
    them, as ``compact_zone``'s cached position would). Returns True when the run is over."""
    cc = S.cc[CC_ROW_KCOMPACTD]
    nz = A.zone_start.shape[0]
    moved0 = S.vm[VM_PGMIGRATE_SUCCESS]
    while S.st[ST_PROACTIVE_ZONE] < nz and S.vm[VM_PGMIGRATE_SUCCESS] - moved0 < budget:
        z = S.st[ST_PROACTIVE_ZONE]
        if S.st[ST_PROACTIVE_IN_ZONE] == 0:
            if zone_present_pages(A, S, z) == 0:
                S.st[ST_PROACTIVE_ZONE] = z + 1
                continue
            init_cc(cc, z, -1, 1, 1, MOVABLE)
            cc[CC_PROACTIVE] = 1
            if compact_zone_begin(A, vc, S, cc) >= 0:
                S.st[ST_PROACTIVE_ZONE] = z + 1
                continue
            S.st[ST_PROACTIVE_IN_ZONE] = 1
        if compact_zone_steps(A, vc, S, cc, 1):
            compact_zone_end(A, vc, S, cc)
            S.st[ST_PROACTIVE_IN_ZONE] = 0
            S.st[ST_PROACTIVE_ZONE] = z + 1
    if S.st[ST_PROACTIVE_IN_ZONE] != 0:
        high = release_freepages(A, vc, HEAD_FREEPAGES)
        if vc[F_COMPACT_LARGE_FOLIOS] != 0:
            high = max(high, release_free_list(A, vc))
        if high >= 0:
            block = high & ~(PAGEBLOCK_NR_PAGES - 1)
            if block > cc[CC_FREE_PFN]:
                cc[CC_FREE_PFN] = block
        cc[CC_NR_FREE] = 0
    if S.st[ST_PROACTIVE_ZONE] < nz:
        return False
    S.st[ST_PROACTIVE_BUSY] = 0
    return True


@kernel
def proactive_compact_node(A, vc, S):
    """``compact_node(pgdat, true)`` (v5.9) in one go: :func:`proactive_slice` without a
    budget."""
    proactive_begin(S, 0)
    proactive_slice(A, vc, S, 1 << 62)


@kernel
def proactive_compaction_check(A, vc, S):
    """kcompactd's loop after a wait that timed out (v5.9): ``should_proactive_compact_node``,
    then ``compact_node(pgdat, true)``. Returns PROACTIVE_NOT_NEEDED, PROACTIVE_PROGRESS,
    or PROACTIVE_NO_PROGRESS when the score did not go down (the next wait is 64 times
    longer)."""
    prev = should_proactive_compact_node(A, S)
    if prev < 0:
        return PROACTIVE_NOT_NEEDED
    proactive_compact_node(A, vc, S)
    if fragmentation_score_node(A, S) >= prev:
        return PROACTIVE_NO_PROGRESS
    return PROACTIVE_PROGRESS


@kernel
def kcompactd_wake(A, vc, S, order, zone_hi):
    """kcompactd woken for ``order``: ``kcompactd_do_work`` (v4.6), or before v4.6 the
    allocator's own loop as kswapd's compaction."""
    S.vm[VM_COMPACT_DAEMON_WAKE] += 1
    if vc[F_KCOMPACTD] != 0:
        kcompactd_do_work(A, vc, S, order, zone_hi)
    else:
        compact_zones_for(A, vc, S, order, UNMOVABLE, zone_hi, True, 0)  # compact_pgdat: gfp 0


@kernel
def proactive_tick(A, vc, S, failed_order, zone_hi, period, budget):
    """A tick of the proactive run going on: a wakeup for ``failed_order`` is kept for
    its end; a slice of ``budget`` pages; at the end, the next wait (64 times longer when
    the score did not go down) and the wakeup served."""
    if failed_order > S.st[ST_KCOMPACTD_PENDING]:
        S.st[ST_KCOMPACTD_PENDING] = failed_order
    if not proactive_slice(A, vc, S, budget):
        return
    S.st[ST_PROACTIVE_WAIT] = period
    if fragmentation_score_node(A, S) >= S.st[ST_PROACTIVE_PREV]:
        S.st[ST_PROACTIVE_WAIT] = period << COMPACT_MAX_DEFER_SHIFT
    pending = S.st[ST_KCOMPACTD_PENDING]
    S.st[ST_KCOMPACTD_PENDING] = 0
    if pending > 0:
        kcompactd_wake(A, vc, S, pending, zone_hi)
        S.st[ST_PROACTIVE_WAIT] = period


@kernel
def kcompactd_tick(A, vc, S, failed_order, zone_hi, period, tick_ns):
    """kcompactd at the end of a tick of ``tick_ns``. Woken for the highest order that
    failed, it runs ``kcompactd_do_work`` and its wait starts again. Otherwise, with
    ``proactive_compaction``, one tick of its ``period``-tick wait
    (HPAGE_FRAG_CHECK_INTERVAL_MSEC) passes, and a wait that ran out is a proactive
    check. A proactive run goes on at PROACTIVE_NS_PER_PAGE per page migrated, a tick's
    worth at each tick's end, among the allocations of the ticks it spans (they can take
    the blocks it makes, or the free pages it needs); when it is over, the score decides
    the next wait (64 times longer when it did not go down), and a wakeup during it is
    served. ``period`` 0: no proactive checks."""
    budget = max(tick_ns // PROACTIVE_NS_PER_PAGE, 1)
    if S.st[ST_PROACTIVE_BUSY] != 0:
        proactive_tick(A, vc, S, failed_order, zone_hi, period, budget)
        return
    if failed_order > 0:
        kcompactd_wake(A, vc, S, failed_order, zone_hi)
        S.st[ST_PROACTIVE_WAIT] = period
        return
    if vc[F_PROACTIVE_COMPACTION] == 0 or period <= 0:
        return
    wait = S.st[ST_PROACTIVE_WAIT] - 1
    if wait > 0:
        S.st[ST_PROACTIVE_WAIT] = wait
        return
    S.st[ST_PROACTIVE_WAIT] = period
    prev = should_proactive_compact_node(A, S)
    if prev < 0:
        return
    proactive_begin(S, prev)
    proactive_tick(A, vc, S, 0, zone_hi, period, budget)  # the check's tick: the run's first slice
