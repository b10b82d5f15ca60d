"""The buddy allocator, as v4.5 ``mm/page_alloc.c`` has it (no per-cpu lists).

``__rmqueue`` takes the smallest free block of the wanted migratetype, else steals from
the fallback table with pageblock stealing; ``__free_one_page`` merges buddies and puts
a block whose next-higher buddy is free at the tail of its list. Free lists, ``nr_free``
and pageblock migratetypes are kept exactly as the kernel keeps them.
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
from mmkit.model.kinds import (
    MAX_ORDER,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
    PB_MIGRATETYPE_MASK,
    MigrateType,
)

UNMOVABLE = int(MigrateType.UNMOVABLE)
MOVABLE = int(MigrateType.MOVABLE)
RECLAIMABLE = int(MigrateType.RECLAIMABLE)
HIGHATOMIC = int(MigrateType.HIGHATOMIC)
CMA = int(MigrateType.CMA)
ISOLATE = int(MigrateType.ISOLATE)
MIGRATE_PCPTYPES = 3

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
    """``zone_page_state(zone, NR_FREE_PAGES)``: sum of nr_free << order."""
    s = 0
    for o in range(MAX_ORDER):
        s += A.nr_free[z, o] << o
    return s


# ------------------------------------------------------------------ freeing
@kernel(inline="always")
def page_is_buddy(A, vc, z, buddy, order):
    """``page_is_buddy``: in the same zone, PageBuddy, and of the same order."""
    if not zone_spans_pfn(A, z, buddy):
        return False
    return PageBuddy(A, vc, buddy) and page_order(A, buddy) == order


@kernel(inline="always")
def __free_one_page(A, vc, pfn, z, order, mt):
    """Merge the block at ``pfn`` with free buddies and put it on a free list.

    v4.5 ``__free_one_page``: if the buddy of the merged block's next-higher order is
    free, the block goes to the list's tail (it may merge soon), else to its head.
    """
    page_idx = pfn & ((1 << MAX_ORDER) - 1)
    base = pfn - page_idx
    buddy_idx = 0
    while order < MAX_ORDER - 1:
        buddy_idx = page_idx ^ (1 << order)
        buddy = base + buddy_idx
        if not page_is_buddy(A, vc, z, buddy, order):
            break
        buddy_list_del(A, buddy)
        A.nr_free[z, order] -= 1
        rmv_page_order(A, buddy)
        page_idx = buddy_idx & page_idx
        order += 1
    pfn = base + page_idx
    set_page_order(A, vc, pfn, order)
    if order < MAX_ORDER - 2:
        combined_idx = buddy_idx & page_idx
        higher_buddy = base + (combined_idx ^ (1 << (order + 1)))
        if page_is_buddy(A, vc, z, higher_buddy, order + 1):
            buddy_list_add_tail(A, pfn, free_head(A, z, order, mt))
            A.nr_free[z, order] += 1
            return pfn
    buddy_list_add(A, pfn, free_head(A, z, order, mt))
    A.nr_free[z, order] += 1
    return pfn


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
        A.nr_free[z, high] += 1
        set_page_order(A, vc, half, high)


@kernel(inline="always")
def __rmqueue_smallest(A, vc, z, order, mt):
    for current_order in range(order, MAX_ORDER):
        pfn = list_first(A, free_head(A, z, current_order, mt))
        if pfn < 0:
            continue
        buddy_list_del(A, pfn)
        rmv_page_order(A, pfn)
        A.nr_free[z, current_order] -= 1
        expand(A, vc, z, pfn, order, current_order, mt)
        return pfn
    return -1


@kernel
def move_freepages(A, vc, z, start, end, mt):
    """``move_freepages``: move every free block in [start, end] to the ``mt`` lists."""
    moved = 0
    pfn = start
    while pfn <= end:
        if not PageBuddy(A, vc, pfn):
            pfn += 1
            continue
        order = page_order(A, pfn)
        buddy_list_move(A, pfn, free_head(A, z, order, mt))
        pfn += 1 << order
        moved += 1 << order
    return moved


@kernel
def move_freepages_block(A, vc, z, pfn, mt):
    """``move_freepages_block``: the pageblock of ``pfn``, not crossing zone bounds."""
    start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
    end = start + PAGEBLOCK_NR_PAGES - 1
    if not zone_spans_pfn(A, z, start):
        start = pfn
    if not zone_spans_pfn(A, z, end):
        return 0
    return move_freepages(A, vc, z, start, end, mt)


@kernel(inline="always")
def can_steal_fallback(order, start_mt):
    """``can_steal_fallback``: large blocks and unmovable/reclaimable requests steal."""
    if order >= PAGEBLOCK_ORDER:
        return True
    if order >= PAGEBLOCK_ORDER // 2 or start_mt == RECLAIMABLE or start_mt == UNMOVABLE:
        return True
    return False


@kernel
def steal_suitable_fallback(A, vc, z, pfn, start_mt):
    """``steal_suitable_fallback``: take whole pageblocks for big blocks; otherwise move
    the block's free pages and claim the pageblock if at least half of it was free."""
    current_order = page_order(A, pfn)
    if current_order >= PAGEBLOCK_ORDER:
        # change_pageblock_range
        p = pfn
        for _ in range(1 << (current_order - PAGEBLOCK_ORDER)):
            set_pageblock_migratetype(A, p, start_mt)
            p += PAGEBLOCK_NR_PAGES
        return
    pages = move_freepages_block(A, vc, z, pfn, start_mt)
    if pages >= (1 << (PAGEBLOCK_ORDER - 1)):
        set_pageblock_migratetype(A, pfn, start_mt)


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
def __rmqueue_fallback(A, vc, z, order, start_mt):
    current_order = MAX_ORDER - 1
    while current_order >= order:
        fmt, can_steal = find_suitable_fallback(A, z, current_order, start_mt)
        if fmt >= 0:
            pfn = list_first(A, free_head(A, z, current_order, fmt))
            if can_steal:
                steal_suitable_fallback(A, vc, z, pfn, start_mt)
            A.nr_free[z, current_order] -= 1
            buddy_list_del(A, pfn)
            rmv_page_order(A, pfn)
            expand(A, vc, z, pfn, order, current_order, start_mt)
            return pfn
        current_order -= 1
    return -1


@kernel(inline="always")
def __rmqueue(A, vc, z, order, mt):
    """``__rmqueue``: smallest block of ``mt``, then CMA for movable, then fallbacks."""
    pfn = __rmqueue_smallest(A, vc, z, order, mt)
    if pfn < 0:
        if mt == MOVABLE:
            pfn = __rmqueue_smallest(A, vc, z, order, CMA)
        if pfn < 0:
            pfn = __rmqueue_fallback(A, vc, z, order, mt)
    return pfn


@kernel(inline="always")
def zone_watermark_ok(A, z, order, mark, alloc_cma):
    """``__zone_watermark_ok`` (v4.5) without lowmem_reserve, highatomic reserves and the
    NR_FREE_CMA_PAGES deduction (free CMA pages count for every request)."""
    free_pages = zone_free_pages(A, z) - ((1 << order) - 1)
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
