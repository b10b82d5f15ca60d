"""Per-CPU page lists (``struct per_cpu_pages``), as each era's ``mm/page_alloc.c`` keeps
them.

A free of a small block goes to the freeing CPU's list of its migratetype (and, from
v5.14, of its order), not to the buddy; above ``high`` the list gives back a batch to the
buddy (``free_pcppages_bulk``); an allocation that finds its list empty refills it from
the buddy (``rmqueue_bulk``). Pages on a per-CPU list are free but not PageBuddy: they are
not in ``nr_free``, buddyinfo or MemFree, compaction's scanners step over them, and
they stay there until the kernel drains them (``drain_local_pages``,
``drain_all_pages``) or ``decay_pcp_high`` shrinks the list.

The eras, read as Variant fields (KERNEL-PCP-COMPACTION.md §1):

* v4.x (``pcp_high_order`` off): order 0 only, three lists; ``batch`` ~0.1 % of the zone
  up to 31, ``high = 6 * batch``; at ``high``, ``batch`` pages go back, taken from the
  lists' tails round robin with a quota (``free_pcppages_bulk`` of v4.8); a refill is
  ``batch`` pages; a page remembers its migratetype from when it was freed.
* v5.14+ (``pcp_high_order``): orders 0..PAGE_ALLOC_COSTLY_ORDER and the THP order, a
  list per (order, migratetype); the bulk free empties the list just used first, then
  each list in turn; a refill is ``max(batch >> order, 2)`` blocks.
* v6.7+ (``pcp_autotune``): ``high`` tuned between ``high_min`` (the low watermark split
  over the node's CPUs) and ``high_max`` (an eighth of the zone, split): raised by a
  batch at each refill unless the zone is below its high watermark (ZONE_BELOW_HIGH),
  lowered while it is, and by reclaim; a free above ``high`` gives back
  ``clamp(free_count, batch, high - batch)`` pages; runs of order 1-3 frees give back
  more (``free_high``); ``decay_pcp_high`` (the vmstat worker, once per tick here)
  walks ``high`` back to ``high_min``. ``batch`` is 63 for zones of 1 GiB or more.
* ``pcp_mt_at_drain`` (newest): the migratetype a drained page goes back to is read
  from its pageblock at drain time, not remembered from the free.

Frames of a block on a per-CPU list have kind PCP; the head is on the list, with
``private = order | migratetype << 8`` (the kernel keeps the order in the list index and
the migratetype in ``page->index``).
"""

from __future__ import annotations

import numpy as np

from mmkit.engine.buddy import (
    CMA,
    MIGRATE_PCPTYPES,
    MOVABLE,
    WMARK_HIGH,
    ZONE_HAS_ISOLATE,
    FB_CLAIM,
    __free_one_page,
    __rmqueue,
    __rmqueue_steal,
    get_pageblock_migratetype,
    zone_watermark_ok,
)
from mmkit.engine.jit import inline_into, kernel
from mmkit.engine.lists import buddy_list_add, buddy_list_add_tail, buddy_list_del, list_empty, list_first, pcp_head
from mmkit.engine.pageflags import set_page_kind
from mmkit.model.kinds import PAGEBLOCK_ORDER, PageKind
from mmkit.model.memory import NR_PCP_FIELDS, NR_PCP_LISTS
from mmkit.semantics.variant import F_FALLBACK_RULE, F_PCP_AUTOTUNE, F_PCP_HIGH_ORDER, F_PCP_MT_AT_DRAIN

K_FREE = int(PageKind.FREE)
K_PCP = int(PageKind.PCP)

# Memory.pcp[z, cpu, ...]: struct per_cpu_pages
PCP_COUNT = 0
PCP_HIGH = 1
PCP_BATCH = 2
PCP_HIGH_MIN = 3
PCP_HIGH_MAX = 4
PCP_FREE_COUNT = 5
PCP_ALLOC_FACTOR = 6
PCP_FLAGS = 7
PCP_FIELD_NAMES = ("count", "high", "batch", "high_min", "high_max", "free_count", "alloc_factor", "flags")
assert len(PCP_FIELD_NAMES) == NR_PCP_FIELDS

PCPF_PREV_FREE_HIGH_ORDER = 1
PCPF_FREE_HIGH_BATCH = 2

# Memory.zone_flags bits (enum zone_flags; the last stands for zone->nr_isolate_pageblock)
ZONE_BELOW_HIGH = 1
ZONE_RECLAIM_ACTIVE = 2
# ZONE_HAS_ISOLATE = 4 is the buddy allocator's (__free_one_page reads it)

PAGE_ALLOC_COSTLY_ORDER = 3
HPAGE_PMD_ORDER = PAGEBLOCK_ORDER
NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1)
assert NR_PCP_LISTS == NR_LOWORDER_PCP_LISTS + 2
PCP_BATCH_SCALE_MAX = 5  # CONFIG_PCP_BATCH_SCALE_MAX's default


# ------------------------------------------------------------------ indices
@kernel(inline="always")
def pcp_allowed_order(vc, order):
    """``pcp_allowed_order``: order 0 in v4.x; orders up to PAGE_ALLOC_COSTLY_ORDER and
    the THP order from v5.14."""
    if order == 0:
        return True
    if vc[F_PCP_HIGH_ORDER] == 0:
        return False
    return order <= PAGE_ALLOC_COSTLY_ORDER or order == HPAGE_PMD_ORDER


@kernel(inline="always")
def order_to_pindex(order, mt):
    """``order_to_pindex``: ``3 * order + mt`` up to the costly order, the THP lists
    after (MOVABLE apart from the rest)."""
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return NR_LOWORDER_PCP_LISTS + (1 if mt == MOVABLE else 0)
    return MIGRATE_PCPTYPES * order + mt


@kernel(inline="always")
def pindex_to_order(pindex):
    if pindex >= NR_LOWORDER_PCP_LISTS:
        return HPAGE_PMD_ORDER
    return pindex // MIGRATE_PCPTYPES


@kernel(inline="always")
def pcp_page_order(A, pfn):
    return A.private[pfn] & 0xFF


@kernel(inline="always")
def pcp_page_mt(A, pfn):
    return A.private[pfn] >> 8


@kernel(inline="always")
def pcp_enabled(A, vc, order, mt):
    """This free or allocation may use the per-CPU lists: the machine has CPUs, the era
    keeps the order, and the migratetype is one of the three with lists."""
    return A.pcp.shape[1] > 0 and mt < MIGRATE_PCPTYPES and pcp_allowed_order(vc, order)


@kernel(inline="always")
def set_block_kind(A, pfn, order, kind):
    for p in range(pfn, pfn + (1 << order)):
        set_page_kind(A, p, kind)


# ------------------------------------------------------------------ to the buddy
@kernel
def free_pcppages_bulk(A, vc, z, cpu, count, pindex):
    """``free_pcppages_bulk``: give ``count`` pages of the list set back to the buddy,
    each block from a list's tail (the coldest). v4.8: round robin over the three lists,
    ``batch_free`` blocks from each, more from each when lists are empty; v6.6+: the list
    ``pindex`` first, then each list in turn, each emptied before the next."""
    count = min(count, A.pcp[z, cpu, PCP_COUNT])
    if vc[F_PCP_HIGH_ORDER] == 0:
        mt_i = 0
        batch_free = 0
        while count > 0:
            head = 0
            while True:
                batch_free += 1
                mt_i += 1
                if mt_i == MIGRATE_PCPTYPES:
                    mt_i = 0
                head = pcp_head(A, z, cpu, mt_i)
                if not list_empty(A, head):
                    break
            if batch_free == MIGRATE_PCPTYPES:
                batch_free = count
            while True:
                pfn = A.lru_prev[head]
                pcp_to_buddy(A, vc, z, pfn, 0)
                count -= 1
                A.pcp[z, cpu, PCP_COUNT] -= 1
                batch_free -= 1
                if count == 0 or batch_free == 0 or list_empty(A, head):
                    break
        return
    pindex -= 1
    while count > 0:
        head = 0
        while True:
            pindex += 1
            if pindex > NR_PCP_LISTS - 1:
                pindex = 0
            head = pcp_head(A, z, cpu, pindex)
            if not list_empty(A, head):
                break
        order = pindex_to_order(pindex)
        while True:
            pfn = A.lru_prev[head]
            pcp_to_buddy(A, vc, z, pfn, order)
            count -= 1 << order
            A.pcp[z, cpu, PCP_COUNT] -= 1 << order
            if count <= 0 or list_empty(A, head):
                break


@kernel(inline="always")
def pcp_to_buddy(A, vc, z, pfn, order):
    """One block off its per-CPU list into the buddy, on the list of the migratetype it
    remembers (v4.8: ``get_pcppage_migratetype``; its pageblock's while the zone has an
    isolated pageblock, ``has_isolate_pageblock``) or of its pageblock now
    (``pcp_mt_at_drain``)."""
    buddy_list_del(A, pfn)
    mt = pcp_page_mt(A, pfn)
    if vc[F_PCP_MT_AT_DRAIN] != 0 or A.zone_flags[z] & ZONE_HAS_ISOLATE:
        mt = get_pageblock_migratetype(A, pfn)
    A.private[pfn] = 0
    set_block_kind(A, pfn, order, K_FREE)
    __free_one_page(A, vc, pfn, z, order, mt)


# ------------------------------------------------------------------ freeing
@kernel
def nr_pcp_high(A, z, cpu, batch, free_high):
    """``nr_pcp_high`` (v6.7+): the ``high`` this free is measured against, with
    ``pcp->high`` tuned on the way."""
    high_min = A.pcp[z, cpu, PCP_HIGH_MIN]
    high_max = A.pcp[z, cpu, PCP_HIGH_MAX]
    high = min(max(A.pcp[z, cpu, PCP_HIGH], high_min), high_max)
    A.pcp[z, cpu, PCP_HIGH] = high
    if high == 0:
        return 0
    if free_high:
        A.pcp[z, cpu, PCP_HIGH] = max(high - (batch << PCP_BATCH_SCALE_MAX), high_min)
        return 0
    if A.zone_flags[z] & ZONE_RECLAIM_ACTIVE:
        free_count = max(A.pcp[z, cpu, PCP_FREE_COUNT], batch)
        A.pcp[z, cpu, PCP_HIGH] = max(high - free_count, high_min)
        return min(batch << 2, A.pcp[z, cpu, PCP_HIGH])
    if high_min == high_max:
        return high
    if A.zone_flags[z] & ZONE_BELOW_HIGH:
        free_count = max(A.pcp[z, cpu, PCP_FREE_COUNT], batch)
        A.pcp[z, cpu, PCP_HIGH] = max(high - free_count, high_min)
        high = max(A.pcp[z, cpu, PCP_COUNT], high_min)
    elif A.pcp[z, cpu, PCP_COUNT] >= high:
        need_high = A.pcp[z, cpu, PCP_FREE_COUNT] + batch
        if A.pcp[z, cpu, PCP_HIGH] < need_high:
            A.pcp[z, cpu, PCP_HIGH] = min(max(need_high, high_min), high_max)
    return high


@kernel(inline="always")
def nr_pcp_free(A, z, cpu, batch, high, free_high):
    """``nr_pcp_free`` (v6.7+): how many pages a free above ``high`` gives back."""
    if free_high:
        return min(A.pcp[z, cpu, PCP_COUNT], batch << PCP_BATCH_SCALE_MAX)
    if high < batch:
        return 1
    return min(max(A.pcp[z, cpu, PCP_FREE_COUNT], batch), high - batch)


@kernel(inline=inline_into("migrate_folios_pass"))
def free_unref_page_commit(A, vc, pfn, z, order, mt):
    """``free_unref_page_commit`` / ``free_frozen_page_commit``: the block at ``pfn``
    (its frames already cleared by ``free_pages_prepare`` and of kind PCP) onto this CPU's list, then a
    bulk free if the list set is at ``high``. ``mt`` is the pageblock's migratetype;
    CMA and HIGHATOMIC blocks go on the MOVABLE list and remember their own."""
    cpu = A.this_cpu[0]
    lmt = mt if mt < MIGRATE_PCPTYPES else MOVABLE
    pindex = order_to_pindex(order, lmt)
    A.private[pfn] = order | (mt << 8)
    buddy_list_add(A, pfn, pcp_head(A, z, cpu, pindex))
    A.pcp[z, cpu, PCP_COUNT] += 1 << order
    batch = A.pcp[z, cpu, PCP_BATCH]
    if vc[F_PCP_AUTOTUNE] == 0:
        high = A.pcp[z, cpu, PCP_HIGH]
        if A.pcp[z, cpu, PCP_COUNT] >= high:
            free_pcppages_bulk(A, vc, z, cpu, batch, pindex)  # setup_pcp makes batch >= 1
        return
    A.pcp[z, cpu, PCP_ALLOC_FACTOR] >>= 1  # a free halves the next refill's growth
    free_high = False
    flags = A.pcp[z, cpu, PCP_FLAGS]
    if order > 0 and order <= PAGE_ALLOC_COSTLY_ORDER:
        free_high = (A.pcp[z, cpu, PCP_FREE_COUNT] >= batch + A.pcp[z, cpu, PCP_HIGH_MIN] // 2
                     and (flags & PCPF_PREV_FREE_HIGH_ORDER) != 0
                     and ((flags & PCPF_FREE_HIGH_BATCH) == 0 or A.pcp[z, cpu, PCP_COUNT] >= batch))
        A.pcp[z, cpu, PCP_FLAGS] = flags | PCPF_PREV_FREE_HIGH_ORDER
    elif flags & PCPF_PREV_FREE_HIGH_ORDER:
        A.pcp[z, cpu, PCP_FLAGS] = flags & ~PCPF_PREV_FREE_HIGH_ORDER
    if A.pcp[z, cpu, PCP_FREE_COUNT] < (batch << PCP_BATCH_SCALE_MAX):
        A.pcp[z, cpu, PCP_FREE_COUNT] += 1 << order
    high = nr_pcp_high(A, z, cpu, batch, free_high)
    if A.pcp[z, cpu, PCP_COUNT] >= high:
        free_pcppages_bulk(A, vc, z, cpu, nr_pcp_free(A, z, cpu, batch, high, free_high), pindex)
        if A.zone_flags[z] & ZONE_BELOW_HIGH and zone_watermark_ok(A, z, 0, A.wmark[z, WMARK_HIGH], True):
            A.zone_flags[z] &= ~ZONE_BELOW_HIGH


# ------------------------------------------------------------------ allocating
@kernel
def rmqueue_bulk(A, vc, z, order, count, mt, cpu, pindex, nofrag):
    """``rmqueue_bulk``: up to ``count`` blocks of ``order`` from the buddy onto the list,
    each after the one before (the list keeps the buddy's order), with the allocation's
    ALLOC_NOFRAGMENT (``nofrag``). Returns the blocks."""
    head = pcp_head(A, z, cpu, pindex)
    n = 0
    steal = False
    for _ in range(count):
        if steal:
            # v6.16 rmqueue_mode: the lists are the zone lock's; once the claim failed
            # and a page was stolen, the next ones are stolen without trying again
            pfn = __rmqueue_steal(A, vc, z, order, mt)
        else:
            pfn = __rmqueue(A, vc, z, order, mt, nofrag)
            if pfn >= 0 and vc[F_FALLBACK_RULE] == FB_CLAIM:
                pt = get_pageblock_migratetype(A, pfn)
                steal = pt != mt and pt != CMA  # only a stolen page sits in another type's block
        if pfn < 0:
            break
        # set_pcppage_migratetype: the list's type, CMA for a block from the CMA area
        cmt = mt
        if get_pageblock_migratetype(A, pfn) == CMA:
            cmt = CMA
        set_block_kind(A, pfn, order, K_PCP)
        A.private[pfn] = order | (cmt << 8)
        buddy_list_add_tail(A, pfn, head)
        n += 1
    A.pcp[z, cpu, PCP_COUNT] += n << order
    return n


@kernel(inline="always")
def nr_pcp_alloc(A, z, cpu, order):
    """``nr_pcp_alloc`` (v6.7+): the refill size, doubling (``alloc_factor``) over runs
    of order-0 refills without a free; ``high`` raised by a batch at each refill unless
    the zone is below its high watermark."""
    base_batch = A.pcp[z, cpu, PCP_BATCH]
    high_min = A.pcp[z, cpu, PCP_HIGH_MIN]
    high_max = A.pcp[z, cpu, PCP_HIGH_MAX]
    high = min(max(A.pcp[z, cpu, PCP_HIGH], high_min), high_max)
    A.pcp[z, cpu, PCP_HIGH] = high
    if high < base_batch:
        return 1
    if order > 0:
        batch = base_batch
    else:
        batch = base_batch << A.pcp[z, cpu, PCP_ALLOC_FACTOR]
    if high_min != high_max and (A.zone_flags[z] & ZONE_BELOW_HIGH) == 0:
        high = min(high + batch, high_max)
        A.pcp[z, cpu, PCP_HIGH] = high
    if order == 0:
        max_nr_alloc = max(high - A.pcp[z, cpu, PCP_COUNT] - base_batch, base_batch)
        if batch <= max_nr_alloc and A.pcp[z, cpu, PCP_ALLOC_FACTOR] < PCP_BATCH_SCALE_MAX:
            A.pcp[z, cpu, PCP_ALLOC_FACTOR] += 1
        batch = min(batch, max_nr_alloc)
    if batch > 1:
        batch = max(batch >> order, 2)
    return batch


@kernel
def rmqueue_pcplist(A, vc, z, order, mt, nofrag):
    """``rmqueue_pcplist``: the first block of this CPU's list for (order, mt), after a
    refill if the list is empty; -1 if the buddy had nothing either. v4.8: a refill is
    ``batch`` pages; v5.14-v6.6: ``max(batch >> order, 2)`` blocks; v6.7+:
    ``nr_pcp_alloc``, and ``free_count`` halves at each allocation."""
    cpu = A.this_cpu[0]
    pindex = order_to_pindex(order, mt)
    head = pcp_head(A, z, cpu, pindex)
    if vc[F_PCP_AUTOTUNE] != 0:
        A.pcp[z, cpu, PCP_FREE_COUNT] >>= 1
    if list_empty(A, head):
        batch = A.pcp[z, cpu, PCP_BATCH]
        if vc[F_PCP_AUTOTUNE] != 0:
            batch = nr_pcp_alloc(A, z, cpu, order)
        elif vc[F_PCP_HIGH_ORDER] != 0 and batch > 1:
            batch = max(batch >> order, 2)
        rmqueue_bulk(A, vc, z, order, batch, mt, cpu, pindex, nofrag)
        if list_empty(A, head):
            return -1
    pfn = list_first(A, head)
    buddy_list_del(A, pfn)
    A.private[pfn] = 0
    A.pcp[z, cpu, PCP_COUNT] -= 1 << order
    return pfn


# ------------------------------------------------------------------ draining
@kernel
def drain_pages_zone(A, vc, z, cpu):
    """``drain_pages_zone``: every page of the CPU's lists for zone ``z`` to the buddy
    (v6.10+ in chunks of ``batch << CONFIG_PCP_BATCH_SCALE_MAX``)."""
    while A.pcp[z, cpu, PCP_COUNT] > 0:
        count = A.pcp[z, cpu, PCP_COUNT]
        if vc[F_PCP_AUTOTUNE] != 0:
            count = min(count, max(A.pcp[z, cpu, PCP_BATCH], 1) << PCP_BATCH_SCALE_MAX)
        free_pcppages_bulk(A, vc, z, cpu, count, 0)


@kernel
def drain_local_pages(A, vc, z):
    """``drain_local_pages``: this CPU's lists, of zone ``z`` or of every zone (-1)."""
    cpu = A.this_cpu[0]
    for zz in range(A.zone_start.shape[0]):
        if z < 0 or zz == z:
            drain_pages_zone(A, vc, zz, cpu)


@kernel
def drain_all_pages(A, vc, z):
    """``drain_all_pages``: every CPU's lists, of zone ``z`` or of every zone (-1)."""
    for cpu in range(A.pcp.shape[1]):
        for zz in range(A.zone_start.shape[0]):
            if z < 0 or zz == z:
                drain_pages_zone(A, vc, zz, cpu)


@kernel
def decay_pcp_high(A, vc, z, cpu):
    """``decay_pcp_high`` (v6.7+, from the vmstat worker): ``high`` down by an eighth
    towards ``high_min``, and the pages above it back to the buddy."""
    high_min = A.pcp[z, cpu, PCP_HIGH_MIN]
    batch = A.pcp[z, cpu, PCP_BATCH]
    if A.pcp[z, cpu, PCP_HIGH] > high_min:
        A.pcp[z, cpu, PCP_HIGH] = max(A.pcp[z, cpu, PCP_COUNT] - (batch << PCP_BATCH_SCALE_MAX),
                                      A.pcp[z, cpu, PCP_HIGH] - (A.pcp[z, cpu, PCP_HIGH] >> 3), high_min)
    to_drain = A.pcp[z, cpu, PCP_COUNT] - A.pcp[z, cpu, PCP_HIGH]
    if to_drain > 0:
        free_pcppages_bulk(A, vc, z, cpu, to_drain, 0)


@kernel
def pcp_tick(A, vc, t):
    """What a tick does to the per-CPU lists: the tick runs on CPU ``t % cpus``, and in
    v6.7+ the vmstat worker decays every CPU's ``high`` once."""
    ncpu = A.pcp.shape[1]
    if ncpu == 0:
        return
    A.this_cpu[0] = t % ncpu
    if vc[F_PCP_AUTOTUNE] != 0:
        for z in range(A.zone_start.shape[0]):
            for cpu in range(ncpu):
                decay_pcp_high(A, vc, z, cpu)


@kernel
def drain_unkept(A, vc):
    """Blocks on lists the variant does not keep (orders above 0 before v5.14, from a
    snapshot of a newer kernel) go back to the buddy."""
    if vc[F_PCP_HIGH_ORDER] != 0:
        return
    for z in range(A.zone_start.shape[0]):
        for cpu in range(A.pcp.shape[1]):
            for pindex in range(MIGRATE_PCPTYPES, NR_PCP_LISTS):
                head = pcp_head(A, z, cpu, pindex)
                while not list_empty(A, head):
                    pfn = A.lru_prev[head]
                    o = pcp_page_order(A, pfn)
                    pcp_to_buddy(A, vc, z, pfn, o)
                    A.pcp[z, cpu, PCP_COUNT] -= 1 << o


# ------------------------------------------------------------------ sizes by era
def zone_batchsize(managed: int, autotune: bool) -> int:
    """``zone_batchsize``, rounded to ``2**n - 1``: v4.x a quarter of ``managed / 1024``
    up to 512 KiB (31 pages from 512 MiB; 0 for a zone under 6 MiB, whose lists then
    hold nothing: ``high = 6 * 0``), today ``managed >> 12`` up to 256 KiB (63 pages from
    1 GiB, at least 1). ``pageset_update`` makes the batch at least 1."""
    if autotune:
        batch = min(managed >> 12, (256 << 10) >> 12)
        if batch <= 1:
            return 1
    else:
        batch = min(managed >> 10, (512 << 10) >> 12) // 4
        if batch < 1:
            batch = 1
    b = batch + batch // 2
    return (1 << (b.bit_length() - 1)) - 1


def zone_highsize(managed: int, low_wmark: int, batch: int, cpus: int, fraction: int) -> int:
    """``zone_highsize`` (v6.x): the low watermark (or ``managed / fraction``) split over
    the node's CPUs, at least four batches."""
    total = low_wmark if fraction == 0 else managed // fraction
    return max(total // max(cpus, 1), batch << 2)


def setup_pcp(mem, variant) -> None:
    """Size every zone's per-CPU lists for ``variant``'s era (``zone_pcp_init`` and
    ``zone_set_pageset_high_and_batch``), keeping their pages and the live ``high`` of
    a snapshot (within the era's bounds); blocks on lists the era does not keep go to
    the buddy."""
    if mem.cpus == 0:
        return
    vc = variant.compile()
    autotune = bool(variant.pcp_autotune)
    for z in range(mem.nr_zones):
        managed = int(mem.zone_managed[z])
        raw = zone_batchsize(managed, autotune)
        batch = max(raw, 1)
        P = mem.pcp[z]
        if autotune:
            high_min = zone_highsize(managed, int(mem.wmark[z, 1]), batch, mem.cpus, 0)
            high_max = zone_highsize(managed, int(mem.wmark[z, 1]), batch, mem.cpus, 8)
            P[:, PCP_HIGH] = np.clip(np.where(P[:, PCP_HIGH] > 0, P[:, PCP_HIGH], high_min), high_min, high_max)
        else:
            high_min = high_max = 6 * raw  # pageset_set_batch
            P[:, PCP_HIGH] = high_min
            P[:, PCP_FREE_COUNT] = 0
            P[:, PCP_ALLOC_FACTOR] = 0
            P[:, PCP_FLAGS] = 0
        P[:, PCP_BATCH] = batch
        P[:, PCP_HIGH_MIN] = high_min
        P[:, PCP_HIGH_MAX] = high_max
    drain_unkept(mem.arrays(), vc)
