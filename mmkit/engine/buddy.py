"""The buddy allocator of ``mm/page_alloc.c``: free lists, merging, splitting, fallbacks.

``__rmqueue`` takes the smallest free block of the wanted migratetype, else falls back to
another type's lists as the variant's era does (``fallback_rule``: v4.5's stealing, v4.12's
alike pages, v6.10's claim-or-steal with free lists that always match their pageblocks);
``__free_one_page`` merges buddies (across pageblocks of different types as
``pageblock_merge`` allows) and puts a block whose next-higher buddy is free at the tail
of its list. Free lists, ``nr_free`` and pageblock migratetypes are kept exactly as the
kernel keeps them.
"""

from __future__ import annotations

import numpy as np
from mmkit.engine.jit import kernel

from mmkit.engine.lists import (
    buddy_list_add,
    buddy_list_add_tail,
    buddy_list_del,
    buddy_list_move,
    free_head,
    list_empty,
    list_first,
)
from mmkit.engine.pageflags import PageBuddy, page_order, rmv_page_order, set_page_order
from mmkit.engine.predicates import PageLRU, __PageMovable
from mmkit.model.kinds import (
    MAX_ORDER,
    MIGRATE_TYPES,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
    PB_MIGRATETYPE_MASK,
    MigrateType,
)
from mmkit.semantics.rules import FallbackRule, PageblockMerge
from mmkit.semantics.variant import (
    F_ALLOC_NOFRAGMENT,
    F_CMA_BALANCE,
    F_FALLBACK_RULE,
    F_PAGEBLOCK_MERGE,
    F_WATERMARK_BOOST,
)

UNMOVABLE = int(MigrateType.UNMOVABLE)
MOVABLE = int(MigrateType.MOVABLE)
RECLAIMABLE = int(MigrateType.RECLAIMABLE)
HIGHATOMIC = int(MigrateType.HIGHATOMIC)
CMA = int(MigrateType.CMA)
ISOLATE = int(MigrateType.ISOLATE)
MIGRATE_PCPTYPES = 3

FB_HALF_FREE = int(FallbackRule.MOVE_FREE_CLAIM_HALF_FREE)
FB_HALF_ALIKE = int(FallbackRule.MOVE_FREE_CLAIM_HALF_ALIKE)
FB_CLAIM = int(FallbackRule.CLAIM_OR_STEAL_ONE)
PM_ANY = int(PageblockMerge.ANY)
PM_NOT_ISOLATE = int(PageblockMerge.NOT_ISOLATE)

ZONE_HAS_ISOLATE = 4  # zone->nr_isolate_pageblock > 0 (a zone_flags bit)
ZONE_BOOSTED_WATERMARK = 8  # enum zone_flags: a fallback boosted the watermarks
# mmkit's: a contiguous range once isolated a pageblock across the zone's edge, whose free
# pages move_freepages_block leaves on their lists (and, at the undo, on the isolated
# ones): from then on the zone's free pages on MIGRATE_ISOLATE lists are walked, not
# taken from nr_free_isolate (which counts by pageblock type)
ZONE_ISOLATE_EDGE = 16
WATERMARK_BOOST_FACTOR = 15000  # vm.watermark_boost_factor's default

# fallbacks[][] of v4.5 __rmqueue_fallback; -1 ends a row.
FALLBACKS = np.array(
    [
        [RECLAIMABLE, MOVABLE, -1],
        [RECLAIMABLE, UNMOVABLE, -1],
        [UNMOVABLE, MOVABLE, -1],
        [-1, -1, -1],
        [-1, -1, -1],
        [-1, -1, -1],
    ],
    dtype=np.int64,
)

WMARK_MIN = 0
WMARK_LOW = 1
WMARK_HIGH = 2


# ------------------------------------------------------------------ pageblocks
@kernel(inline="always")
def get_pageblock_migratetype(A, pfn):
    return np.int64(A.pb_flags[pfn >> PAGEBLOCK_ORDER] & PB_MIGRATETYPE_MASK)


@kernel(inline="always")
def set_pageblock_migratetype(A, pfn, mt):
    i = pfn >> PAGEBLOCK_ORDER
    A.pb_flags[i] = (A.pb_flags[i] & (0xFF ^ PB_MIGRATETYPE_MASK)) | mt


@kernel(inline="always")
def page_zone(A, pfn):
    """Index of the zone whose span holds ``pfn``, or -1."""
    for z in range(A.zone_start.shape[0]):
        if A.zone_start[z] <= pfn < A.zone_end[z]:
            return z
    return -1


@kernel(inline="always")
def zone_spans_pfn(A, z, pfn):
    return A.zone_start[z] <= pfn < A.zone_end[z]


@kernel(inline="always")
def zone_free_pages(A, z):
    """``zone_page_state(zone, NR_FREE_PAGES)``: sum of nr_free << order, less the free
    pages on the MIGRATE_ISOLATE lists while the zone has an isolated pageblock. In every
    era ``set_migratetype_isolate`` takes the free pages it moves to the isolate lists
    out of NR_FREE_PAGES, and a page freed into an isolated pageblock is not counted
    (``__free_one_page`` / v6.10 ``account_freepages`` skip MIGRATE_ISOLATE); buddyinfo's
    ``nr_free`` still counts them. They are ``nr_free_isolate``: every free block of an
    isolated pageblock is on an isolate list, as the window of a contiguous range lies
    in whole MAX_ORDER blocks or (v5.19) its split pageblocks; after a window across the
    zone's edge (``ZONE_ISOLATE_EDGE``) the lists are walked instead."""
    s = 0
    for o in range(MAX_ORDER):
        s += A.nr_free[z, o] << o
    if A.zone_flags[z] & ZONE_ISOLATE_EDGE:
        if A.zone_flags[z] & ZONE_HAS_ISOLATE:
            s -= isolated_free_pages(A, z)
        return s
    return s - A.nr_free_isolate[z]


@kernel
def isolated_free_pages(A, z):
    """The free pages on zone ``z``'s MIGRATE_ISOLATE lists, counted (``nr_free_isolate``
    keeps the sum; ``Sim.check`` compares them)."""
    n = 0
    for o in range(MAX_ORDER):
        head = free_head(A, z, o, ISOLATE)
        node = A.lru_next[head]
        while node != head and node >= 0:
            n += 1 << o
            node = A.lru_next[node]
    return n


# ------------------------------------------------------------------ NR_FREE_CMA_PAGES
# The kernel counts free CMA pages at each free-list operation (v6.10's
# ``account_freepages``; before, ``__mod_zone_freepage_state`` with the migratetype at
# hand, which let the count drift from the lists in corners the v6.10 series fixed).
# mmkit keeps what the count means: the free pages of the zone's MIGRATE_CMA pageblocks
# (an ISOLATE pageblock's are not counted). Every change of nr_free goes through
# account_free_block, and every change of a pageblock's type into or out of CMA through
# retype_pageblock; Sim.check recounts it. The free pages of MIGRATE_ISOLATE pageblocks,
# which NR_FREE_PAGES leaves out, are kept the same way (``nr_free_isolate``): the
# kernel never counts them in, and a watermark test during a contiguous range reads the
# sum instead of walking the isolated free lists.
@kernel(inline="always")
def mt_pages_in(A, pfn, order, mt):
    """Pages of the block of ``order`` at ``pfn`` that lie in pageblocks of type ``mt``
    (a block spans at most two pageblocks: MAX_ORDER - 1 <= PAGEBLOCK_ORDER + 1)."""
    n = 0
    if get_pageblock_migratetype(A, pfn) == mt:
        n = 1 << min(order, PAGEBLOCK_ORDER)
    if order > PAGEBLOCK_ORDER and get_pageblock_migratetype(A, pfn + PAGEBLOCK_NR_PAGES) == mt:
        n += PAGEBLOCK_NR_PAGES
    return n


@kernel(inline="always")
def cma_pages_in(A, pfn, order):
    """Pages of the block of ``order`` at ``pfn`` that lie in MIGRATE_CMA pageblocks."""
    return mt_pages_in(A, pfn, order, CMA)


assert MAX_ORDER - 1 <= PAGEBLOCK_ORDER + 1  # mt_pages_in looks at two pageblocks at most


@kernel(inline="always")
def account_free_block(A, z, pfn, order, delta):
    """A free block of ``order`` at ``pfn`` joins (``delta`` 1) or leaves (-1) a free
    list of zone ``z``: ``nr_free``, NR_FREE_CMA_PAGES and ``nr_free_isolate`` follow."""
    A.nr_free[z, order] += delta
    if order > PAGEBLOCK_ORDER:  # two pageblocks, each of its own type
        A.nr_free_cma[z] += delta * mt_pages_in(A, pfn, order, CMA)
        A.nr_free_isolate[z] += delta * mt_pages_in(A, pfn, order, ISOLATE)
        return
    mt = get_pageblock_migratetype(A, pfn)
    if mt == CMA:
        A.nr_free_cma[z] += delta << order
    elif mt == ISOLATE:
        A.nr_free_isolate[z] += delta << order


@kernel
def pageblock_free_pages(A, vc, z, pfn):
    """Free (PageBuddy) pages inside the pageblock of ``pfn``, a larger free block's
    share of it included."""
    start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
    for o in range(PAGEBLOCK_ORDER + 1, MAX_ORDER):
        head = start & ~((1 << o) - 1)
        if zone_spans_pfn(A, z, head) and PageBuddy(A, vc, head) and page_order(A, head) == o:
            return PAGEBLOCK_NR_PAGES
    n = 0
    p = start
    while p < start + PAGEBLOCK_NR_PAGES:
        if zone_spans_pfn(A, z, p) and PageBuddy(A, vc, p):
            n += 1 << page_order(A, p)
            p += 1 << page_order(A, p)
        else:
            p += 1
    return n


@kernel
def retype_pageblock(A, vc, z, pfn, mt):
    """``set_pageblock_migratetype`` where the pageblock may enter or leave MIGRATE_CMA
    with free pages in it: NR_FREE_CMA_PAGES and ``nr_free_isolate`` follow them."""
    old = get_pageblock_migratetype(A, pfn)
    if old != mt and (old == CMA or mt == CMA or old == ISOLATE or mt == ISOLATE):
        n = pageblock_free_pages(A, vc, z, pfn)
        if old == CMA:
            A.nr_free_cma[z] -= n
        elif old == ISOLATE:
            A.nr_free_isolate[z] -= n
        if mt == CMA:
            A.nr_free_cma[z] += n
        elif mt == ISOLATE:
            A.nr_free_isolate[z] += n
    set_pageblock_migratetype(A, pfn, mt)


@kernel
def recount_free_counts(A, vc):
    """NR_FREE_CMA_PAGES and ``nr_free_isolate`` of every zone, counted from its free
    lists (a Sim starting on a Memory)."""
    for z in range(A.zone_start.shape[0]):
        n = 0
        iso = 0
        for o in range(MAX_ORDER):
            for mt in range(MIGRATE_TYPES):
                head = free_head(A, z, o, mt)
                node = A.lru_next[head]
                while node != head and node >= 0:
                    n += cma_pages_in(A, node, o)
                    iso += mt_pages_in(A, node, o, ISOLATE)
                    node = A.lru_next[node]
        A.nr_free_cma[z] = n
        A.nr_free_isolate[z] = iso


# ------------------------------------------------------------------ freeing
@kernel(inline="always")
def page_is_buddy(A, vc, z, buddy, order):
    """``page_is_buddy``: in the same zone, PageBuddy, and of the same order."""
    if not zone_spans_pfn(A, z, buddy):
        return False
    return PageBuddy(A, vc, buddy) and page_order(A, buddy) == order


@kernel(inline="always")
def pageblock_merge_stops(A, vc, z, mt, buddy_mt):
    """``__free_one_page`` at pageblock order or more: True if the block (of type ``mt``)
    may not merge with a buddy whose pageblock is ``buddy_mt`` (``pageblock_merge``)."""
    rule = vc[F_PAGEBLOCK_MERGE]
    if rule == PM_ANY or buddy_mt == mt:
        return False
    if rule == PM_NOT_ISOLATE:
        # v4.6: only while the zone has isolated pageblocks (has_isolate_pageblock)
        return (A.zone_flags[z] & ZONE_HAS_ISOLATE) != 0 and (mt == ISOLATE or buddy_mt == ISOLATE)
    # v5.18: migratetype_is_mergeable (the per-CPU types only)
    return mt >= MIGRATE_PCPTYPES or buddy_mt >= MIGRATE_PCPTYPES


@kernel(inline="always")
def __free_one_page(A, vc, pfn, z, order, mt):
    """Merge the block at ``pfn`` with free buddies and put it on a free list.

    v4.5 ``__free_one_page``: if the buddy of the merged block's next-higher order is
    free, the block goes to the list's tail (it may merge soon), else to its head. At
    pageblock order and above the era's ``pageblock_merge`` rule may stop the merge, and
    with v6.10's free lists (``FallbackRule.CLAIM_OR_STEAL_ONE``) a buddy of another
    mergeable type has its pageblock retyped to ``mt`` ("Match buddy type").
    """
    page_idx = pfn & ((1 << MAX_ORDER) - 1)
    base = pfn - page_idx
    buddy_idx = 0
    while order < MAX_ORDER - 1:
        buddy_idx = page_idx ^ (1 << order)
        buddy = base + buddy_idx
        if not page_is_buddy(A, vc, z, buddy, order):
            break
        buddy_mt = -1
        if order >= PAGEBLOCK_ORDER:
            buddy_mt = get_pageblock_migratetype(A, buddy)
            if pageblock_merge_stops(A, vc, z, mt, buddy_mt):
                break
        buddy_list_del(A, buddy)
        account_free_block(A, z, buddy, order, -1)
        rmv_page_order(A, buddy)
        if buddy_mt >= 0 and buddy_mt != mt and vc[F_FALLBACK_RULE] == FB_CLAIM:
            set_pageblock_migratetype(A, buddy, mt)  # its pages are counted with the block
        page_idx = buddy_idx & page_idx
        order += 1
    pfn = base + page_idx
    set_page_order(A, vc, pfn, order)
    if order < MAX_ORDER - 2:
        combined_idx = buddy_idx & page_idx
        higher_buddy = base + (combined_idx ^ (1 << (order + 1)))
        if page_is_buddy(A, vc, z, higher_buddy, order + 1):
            buddy_list_add_tail(A, pfn, free_head(A, z, order, mt))
            account_free_block(A, z, pfn, order, 1)
            return pfn
    buddy_list_add(A, pfn, free_head(A, z, order, mt))
    account_free_block(A, z, pfn, order, 1)
    return pfn


@kernel
def split_large_buddy(A, vc, z, pfn):
    """v6.10 ``move_freepages_block_isolate``'s first step: a free block larger than a
    pageblock that holds the pageblock of ``pfn`` is taken off its list and freed again one
    pageblock at a time, each with its own pageblock's type (``split_large_buddy``), so
    that a pageblock about to change type holds no part of a larger block."""
    for o in range(PAGEBLOCK_ORDER + 1, MAX_ORDER):
        head = pfn & ~((1 << o) - 1)
        if zone_spans_pfn(A, z, head) and PageBuddy(A, vc, head) and page_order(A, head) == o:
            buddy_list_del(A, head)
            account_free_block(A, z, head, o, -1)
            rmv_page_order(A, head)
            p = head
            while p < head + (1 << o):
                __free_one_page(A, vc, p, z, PAGEBLOCK_ORDER, get_pageblock_migratetype(A, p))
                p += PAGEBLOCK_NR_PAGES
            return


@kernel
def remerge_pageblock(A, vc, z, pfn):
    """``unset_migratetype_isolate``: a free block of pageblock order (or more) left
    unmerged while its pageblock was isolated is isolated and freed again, so that it
    merges with its buddy now (``__isolate_free_page`` + ``__putback_isolated_page``)."""
    if not PageBuddy(A, vc, pfn):
        return
    order = page_order(A, pfn)
    if order < PAGEBLOCK_ORDER or order >= MAX_ORDER - 1:
        return
    buddy = pfn ^ (1 << order)
    if not page_is_buddy(A, vc, z, buddy, order) or get_pageblock_migratetype(A, buddy) == ISOLATE:
        return
    buddy_list_del(A, pfn)
    account_free_block(A, z, pfn, order, -1)
    rmv_page_order(A, pfn)
    __free_one_page(A, vc, pfn, z, order, get_pageblock_migratetype(A, pfn))


# ------------------------------------------------------------------ allocating
@kernel(inline="always")
def expand(A, vc, z, pfn, low, high, mt):
    """``expand``: split a block of order ``high`` down to ``low``, freeing the upper halves."""
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        half = pfn + size
        buddy_list_add(A, half, free_head(A, z, high, mt))
        account_free_block(A, z, half, high, 1)
        set_page_order(A, vc, half, high)


@kernel(inline="always")
def __rmqueue_smallest(A, vc, z, order, mt):
    for current_order in range(order, MAX_ORDER):
        pfn = list_first(A, free_head(A, z, current_order, mt))
        if pfn < 0:
            continue
        buddy_list_del(A, pfn)
        rmv_page_order(A, pfn)
        account_free_block(A, z, pfn, current_order, -1)
        expand(A, vc, z, pfn, order, current_order, mt)
        return pfn
    return -1


@kernel
def move_freepages(A, vc, z, start, end, mt, tail):
    """``move_freepages``: move every free block in [start, end] to the ``mt`` lists (at
    their heads, or tails from v6.10's ``move_to_free_list``); the pages moved."""
    moved = 0
    pfn = start
    while pfn <= end:
        if not PageBuddy(A, vc, pfn):
            pfn += 1
            continue
        order = page_order(A, pfn)
        buddy_list_del(A, pfn)
        if tail:
            buddy_list_add_tail(A, pfn, free_head(A, z, order, mt))
        else:
            buddy_list_add(A, pfn, free_head(A, z, order, mt))
        pfn += 1 << order
        moved += 1 << order
    return moved


@kernel
def move_freepages_block(A, vc, z, pfn, mt):
    """``move_freepages_block``: the pageblock of ``pfn``, not crossing zone bounds (v4.5
    moves the part from ``pfn`` when the block starts before the zone; v6.10 moves
    nothing and returns -1 when it straddles the zone either way)."""
    start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
    end = start + PAGEBLOCK_NR_PAGES - 1
    hygiene = vc[F_FALLBACK_RULE] == FB_CLAIM
    if not zone_spans_pfn(A, z, start):
        if hygiene:
            return -1
        start = pfn
    if not zone_spans_pfn(A, z, end):
        return -1 if hygiene else 0
    return move_freepages(A, vc, z, start, end, mt, hygiene)


@kernel(inline="always")
def can_steal_fallback(order, start_mt):
    """``can_steal_fallback`` (``should_try_claim_block`` from v6.15): large blocks and
    unmovable/reclaimable requests may take the pageblock."""
    if order >= PAGEBLOCK_ORDER:
        return True
    if order >= PAGEBLOCK_ORDER // 2 or start_mt == RECLAIMABLE or start_mt == UNMOVABLE:
        return True
    return False


@kernel
def boost_watermark(A, vc, z):
    """v5.0 ``boost_watermark`` after a fallback of less than a pageblock: the zone's
    watermarks rise by a pageblock, up to ``high * watermark_boost_factor / 10000`` (at
    least a pageblock), not in a zone of fewer than four pageblocks (spanned pages stand
    in for managed ones); the zone is marked ZONE_BOOSTED_WATERMARK (every mmkit
    allocation may wake kswapd: ALLOC_KSWAPD). ``A.wmark`` holds the boosted marks, as
    ``wmark_pages()`` returns them; ``A.watermark_boost`` the boost."""
    if vc[F_WATERMARK_BOOST] == 0:
        return
    if PAGEBLOCK_NR_PAGES * 4 > A.zone_end[z] - A.zone_start[z]:
        return
    high = A.wmark[z, 2] - A.watermark_boost[z]
    max_boost = high * WATERMARK_BOOST_FACTOR // 10000
    if max_boost == 0:
        return
    max_boost = max(PAGEBLOCK_NR_PAGES, max_boost)
    boost = min(A.watermark_boost[z] + PAGEBLOCK_NR_PAGES, max_boost)
    delta = boost - A.watermark_boost[z]
    for i in range(3):
        A.wmark[z, i] += delta
    A.watermark_boost[z] = boost
    A.zone_flags[z] |= ZONE_BOOSTED_WATERMARK


@kernel
def clear_watermark_boosts(A, zone_hi):
    """The end of ``balance_pgdat``: the boost of every zone up to ``zone_hi`` is taken
    back off its marks. Returns whether there was any."""
    any_boost = False
    for z in range(zone_hi + 1):
        b = A.watermark_boost[z]
        if b > 0:
            any_boost = True
            for i in range(3):
                A.wmark[z, i] -= b
            A.watermark_boost[z] = 0
    return any_boost


@kernel(inline="always")
def change_pageblock_range(A, vc, z, pfn, order, mt):
    """``change_pageblock_range``: every pageblock of a block of pageblock order or more."""
    p = pfn
    for _ in range(1 << (order - PAGEBLOCK_ORDER)):
        retype_pageblock(A, vc, z, p, mt)
        p += PAGEBLOCK_NR_PAGES


@kernel
def pageblock_alike_pages(A, vc, pfn, start_mt, block_mt, free_pages):
    """The "alike" pages of v4.12+ ``steal_suitable_fallback`` / v6.10+
    ``try_to_claim_block``: for a movable request the pageblock's LRU and non-LRU movable
    pages (``PageLRU || __PageMovable``), for another request falling back to a MOVABLE
    pageblock every page that is neither free nor movable, else none."""
    start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
    movable = 0
    p = start
    while p < start + PAGEBLOCK_NR_PAGES:
        if PageBuddy(A, vc, p):
            p += 1 << page_order(A, p)
            continue
        if PageLRU(A, p) or __PageMovable(A, vc, p):
            movable += 1
        p += 1
    if start_mt == MOVABLE:
        return movable
    if block_mt == MOVABLE:
        return PAGEBLOCK_NR_PAGES - (free_pages + movable)
    return 0


@kernel
def steal_suitable_fallback(A, vc, z, pfn, start_mt, whole_block):
    """v4.5 / v4.12 ``steal_suitable_fallback``: take whole pageblocks for big blocks;
    otherwise move the pageblock's free pages to ``start_mt`` and take the pageblock if
    half of it is free (v4.5) or free and alike (v4.12). v4.12: a block that may not steal
    the pageblock (``!whole_block``) moves alone (``single_page``)."""
    current_order = page_order(A, pfn)
    block_mt = get_pageblock_migratetype(A, pfn)
    alike_rule = vc[F_FALLBACK_RULE] == FB_HALF_ALIKE
    if current_order >= PAGEBLOCK_ORDER:
        change_pageblock_range(A, vc, z, pfn, current_order, start_mt)
        if alike_rule:
            buddy_list_move(A, pfn, free_head(A, z, current_order, start_mt))
        return
    boost_watermark(A, vc, z)  # v5.0
    if not whole_block:
        buddy_list_move(A, pfn, free_head(A, z, current_order, start_mt))
        return
    pages = move_freepages_block(A, vc, z, pfn, start_mt)
    if alike_rule:
        if pages == 0:  # the pageblock straddles the zone
            buddy_list_move(A, pfn, free_head(A, z, current_order, start_mt))
            return
        pages += pageblock_alike_pages(A, vc, pfn, start_mt, block_mt, pages)
    if pages >= (1 << (PAGEBLOCK_ORDER - 1)):
        retype_pageblock(A, vc, z, pfn, start_mt)


@kernel
def find_suitable_fallback(A, z, order, mt):
    """``find_suitable_fallback`` (only_stealable false): (fallback_mt, can_steal)."""
    if A.nr_free[z, order] == 0:
        return -1, False
    can_steal = False
    for i in range(FALLBACKS.shape[1]):
        fmt = FALLBACKS[mt, i]
        if fmt < 0:
            break
        if list_empty(A, free_head(A, z, order, fmt)):
            continue
        if can_steal_fallback(order, mt):
            can_steal = True
        return fmt, can_steal
    return -1, False


@kernel
def __rmqueue_fallback_v4(A, vc, z, order, start_mt, min_order):
    """v4.5 ``__rmqueue_fallback``: the largest fallback block (of ``min_order`` or
    more), stolen, split onto the requested type's lists."""
    current_order = MAX_ORDER - 1
    while current_order >= min_order:
        fmt, can_steal = find_suitable_fallback(A, z, current_order, start_mt)
        if fmt >= 0:
            pfn = list_first(A, free_head(A, z, current_order, fmt))
            if can_steal:
                steal_suitable_fallback(A, vc, z, pfn, start_mt, True)
            account_free_block(A, z, pfn, current_order, -1)
            buddy_list_del(A, pfn)
            rmv_page_order(A, pfn)
            expand(A, vc, z, pfn, order, current_order, start_mt)
            return pfn
        current_order -= 1
    return -1


@kernel
def __rmqueue_fallback_alike(A, vc, z, order, start_mt, min_order):
    """v4.12-v6.9 ``__rmqueue_fallback``: the largest fallback block (the smallest for a
    movable request that may not steal, ``find_smallest``), moved to the requested type's
    lists with its pageblock's free pages when it may steal; then ``__rmqueue`` retries
    ``__rmqueue_smallest`` of the requested type."""
    current_order = MAX_ORDER - 1
    fmt = -1
    can_steal = False
    while current_order >= min_order:
        fmt, can_steal = find_suitable_fallback(A, z, current_order, start_mt)
        if fmt >= 0:
            break
        current_order -= 1
    if fmt < 0:
        return -1
    if not can_steal and start_mt == MOVABLE and current_order > order:
        current_order = order  # find_smallest
        while current_order < MAX_ORDER:
            fmt, can_steal = find_suitable_fallback(A, z, current_order, start_mt)
            if fmt >= 0:
                break
            current_order += 1
    pfn = list_first(A, free_head(A, z, current_order, fmt))
    steal_suitable_fallback(A, vc, z, pfn, start_mt, can_steal)
    return __rmqueue_smallest(A, vc, z, order, start_mt)


@kernel
def try_to_claim_block(A, vc, z, pfn, current_order, order, start_mt, block_mt):
    """v6.10+ ``try_to_claim_block``: a block of pageblock order or more is taken whole
    (its pageblocks retyped, split onto the requested type's lists); a smaller one claims
    its pageblock if the pageblock is inside the zone and free + alike pages are half of
    it: the free blocks move to the tail of the requested type's lists, the pageblock is
    retyped, and ``__rmqueue_smallest`` allocates. -1 if not claimed."""
    if current_order >= PAGEBLOCK_ORDER:
        buddy_list_del(A, pfn)
        account_free_block(A, z, pfn, current_order, -1)
        rmv_page_order(A, pfn)
        change_pageblock_range(A, vc, z, pfn, current_order, start_mt)
        expand(A, vc, z, pfn, order, current_order, start_mt)
        return pfn
    boost_watermark(A, vc, z)
    start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
    if not zone_spans_pfn(A, z, start) or not zone_spans_pfn(A, z, start + PAGEBLOCK_NR_PAGES - 1):
        return -1  # prep_move_freepages_block: the pageblock straddles the zone
    free_pages = pageblock_free_pages(A, vc, z, start)
    alike = pageblock_alike_pages(A, vc, pfn, start_mt, block_mt, free_pages)
    if free_pages + alike < (1 << (PAGEBLOCK_ORDER - 1)):
        return -1
    move_freepages(A, vc, z, start, start + PAGEBLOCK_NR_PAGES - 1, start_mt, True)
    retype_pageblock(A, vc, z, start, start_mt)
    return __rmqueue_smallest(A, vc, z, order, start_mt)


@kernel
def __rmqueue_steal(A, vc, z, order, start_mt):
    """v6.15+ ``__rmqueue_steal``: the smallest fallback block, split on its own
    pageblock's lists (the pageblock keeps its type); -1 if there is none."""
    for current_order in range(order, MAX_ORDER):
        fmt, _ = find_suitable_fallback(A, z, current_order, start_mt)
        if fmt >= 0:
            pfn = list_first(A, free_head(A, z, current_order, fmt))
            buddy_list_del(A, pfn)
            account_free_block(A, z, pfn, current_order, -1)
            rmv_page_order(A, pfn)
            expand(A, vc, z, pfn, order, current_order, fmt)
            return pfn
    return -1


@kernel
def __rmqueue_claim_or_steal(A, vc, z, order, start_mt, nofrag):
    """v6.10+ ``__rmqueue_claim`` then ``__rmqueue_steal`` (v6.15 names). Claim: from the
    largest order down, while the order may claim (``should_try_claim_block``), the first
    fallback block of each order. Steal: see :func:`__rmqueue_steal`. ALLOC_NOFRAGMENT
    (``nofrag``): whole pageblocks only, no steal. (``rmqueue_bulk`` remembers a steal,
    as v6.16's ``rmqueue_mode`` does.)"""
    min_order = PAGEBLOCK_ORDER if nofrag and order < PAGEBLOCK_ORDER else order
    current_order = MAX_ORDER - 1
    while current_order >= min_order:
        if not can_steal_fallback(current_order, start_mt):
            break
        fmt, _ = find_suitable_fallback(A, z, current_order, start_mt)
        if fmt >= 0:
            pfn = list_first(A, free_head(A, z, current_order, fmt))
            got = try_to_claim_block(A, vc, z, pfn, current_order, order, start_mt, fmt)
            if got >= 0:
                return got
        current_order -= 1
    if nofrag:
        return -1
    return __rmqueue_steal(A, vc, z, order, start_mt)


@kernel
def __rmqueue_fallback(A, vc, z, order, start_mt, nofrag):
    """The fallback of the variant's era (``fallback_rule``). ``nofrag``: the allocation
    has ALLOC_NOFRAGMENT (v5.0): only blocks of pageblock order or more may be taken from
    another type (``min_order``), and v6.10's single-page steal is not tried."""
    rule = vc[F_FALLBACK_RULE]
    if rule == FB_CLAIM:
        return __rmqueue_claim_or_steal(A, vc, z, order, start_mt, nofrag)
    min_order = PAGEBLOCK_ORDER if nofrag and order < PAGEBLOCK_ORDER else order
    if rule == FB_HALF_ALIKE:
        return __rmqueue_fallback_alike(A, vc, z, order, start_mt, min_order)
    return __rmqueue_fallback_v4(A, vc, z, order, start_mt, min_order)


@kernel(inline="always")
def __rmqueue(A, vc, z, order, mt, nofrag):
    """``__rmqueue``: smallest block of ``mt``, then CMA for movable, then fallbacks
    (``nofrag``: ALLOC_NOFRAGMENT, see :func:`__rmqueue_fallback`). With ``cma_balance``
    (v5.7) a movable request takes CMA first while more than half of the zone's free
    pages are CMA's."""
    cma_first = (mt == MOVABLE and vc[F_CMA_BALANCE] != 0
                 and A.nr_free_cma[z] > zone_free_pages(A, z) // 2)
    # one inlined __rmqueue_smallest for the two lists tried (each copy costs compile time)
    for step in range(2):
        if cma_first:
            t = CMA if step == 0 else mt
        else:
            t = mt if step == 0 else (CMA if mt == MOVABLE else -1)
        if t >= 0:
            pfn = __rmqueue_smallest(A, vc, z, order, t)
            if pfn >= 0:
                return pfn
    return __rmqueue_fallback(A, vc, z, order, mt, nofrag)


ZONE_NORMAL_START_PFN = 1 << 20  # x86-64: ZONE_NORMAL begins at 4 GiB


@kernel(inline="always")
def alloc_flags_nofragment(A, vc, zone_hi):
    """``alloc_flags_nofragment`` (v5.0, one node): ALLOC_NOFRAGMENT when the preferred
    zone is ZONE_NORMAL (here: the zone starts at 4 GiB, as on x86-64) and a lower zone
    exists to spread into first."""
    return vc[F_ALLOC_NOFRAGMENT] != 0 and zone_hi > 0 and A.zone_start[zone_hi] >= ZONE_NORMAL_START_PFN


@kernel(inline="always")
def zone_watermark_ok(A, z, order, mark, alloc_cma):
    """``__zone_watermark_ok`` (v4.5) without lowmem_reserve and highatomic reserves: a
    request that may not use CMA (no ALLOC_CMA) does not count free CMA pages."""
    free_pages = zone_free_pages(A, z) - ((1 << order) - 1)
    if not alloc_cma:
        free_pages -= A.nr_free_cma[z]
    if free_pages <= mark:
        return False
    if order == 0:
        return True
    for o in range(order, MAX_ORDER):
        if A.nr_free[z, o] == 0:
            continue
        for mt in range(MIGRATE_PCPTYPES):
            if not list_empty(A, free_head(A, z, o, mt)):
                return True
        if alloc_cma and not list_empty(A, free_head(A, z, o, CMA)):
            return True
    return False
