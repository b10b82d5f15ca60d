"""Per-CPU page lists in the twin (``struct per_cpu_pages``), the twin of
:mod:`mmkit.engine.pcp`; its module docstring explains the model and the eras.

Each zone has, per CPU, a :class:`PerCpuPages`: the fields of ``struct per_cpu_pages``
and its lists, one :class:`~mmkit.reference.lists.ListHead` per (order, migratetype)
(``lists[NR_PCP_LISTS]``; v4.x uses lists 0-2 only), the blocks linked through their head
page's ``lru`` as the kernel links them (``page->lru``, ``page->pcp_list`` today). A block
on a list has kind PCP in every frame; its head's ``private`` is ``order | migratetype << 8``.
The pages are free but not in the buddy: not in ``nr_free`` nor on a free list.

The functions take the :class:`~mmkit.reference.buddy.RefMemory` (``mem``): its
``pcp[z][cpu]``, ``zone_flags[z]`` and ``this_cpu`` (the CPU the twin runs on).
"""

from __future__ import annotations

from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, MigrateType, PageKind
from mmkit.model.memory import NR_PCP_FIELDS, NR_PCP_LISTS
from mmkit.reference.lists import ListHead, list_add, list_add_tail, list_del, list_empty, list_first
from mmkit.semantics import FallbackRule

MOVABLE, CMA = int(MigrateType.MOVABLE), int(MigrateType.CMA)
MIGRATE_PCPTYPES = 3
WMARK_LOW, WMARK_HIGH = 1, 2

PAGE_ALLOC_COSTLY_ORDER = 3
HPAGE_PMD_ORDER = PAGEBLOCK_ORDER
NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1)
assert NR_PCP_LISTS == NR_LOWORDER_PCP_LISTS + 2
PCP_BATCH_SCALE_MAX = 5  # CONFIG_PCP_BATCH_SCALE_MAX's default

# pcp->flags
PCPF_PREV_FREE_HIGH_ORDER = 1
PCPF_FREE_HIGH_BATCH = 2

# zone->flags (enum zone_flags)
ZONE_BELOW_HIGH = 1
ZONE_RECLAIM_ACTIVE = 2
ZONE_HAS_ISOLATE = 4

FIELDS = ("count", "high", "batch", "high_min", "high_max", "free_count", "alloc_factor", "flags")
assert len(FIELDS) == NR_PCP_FIELDS


class PerCpuPages:
    """``struct per_cpu_pages`` of one zone and CPU."""

    __slots__ = (*FIELDS, "lists")

    def __init__(self, name: str) -> None:
        for f in FIELDS:
            setattr(self, f, 0)
        self.lists = [ListHead(f"{name}.{i}") for i in range(NR_PCP_LISTS)]

    def row(self) -> list[int]:
        """The fields in the engine's order (``Memory.pcp[z, cpu]``)."""
        return [getattr(self, f) for f in FIELDS]

    def blocks(self, pindex: int) -> list[int]:
        """The pfns on list ``pindex``, first to last."""
        head = self.lists[pindex]
        out, node = [], head.lru_next
        while node is not head:
            out.append(node.pfn)
            node = node.lru_next
        return out


# ------------------------------------------------------------------ indices
def pcp_allowed_order(v, order: int) -> bool:
    """``pcp_allowed_order``: order 0 in v4.x; up to PAGE_ALLOC_COSTLY_ORDER and the THP
    order from v5.14."""
    if order == 0:
        return True
    if not v.pcp_high_order:
        return False
    return order <= PAGE_ALLOC_COSTLY_ORDER or order == HPAGE_PMD_ORDER


def order_to_pindex(order: int, mt: int) -> int:
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return NR_LOWORDER_PCP_LISTS + (1 if mt == MOVABLE else 0)
    return MIGRATE_PCPTYPES * order + mt


def pindex_to_order(pindex: int) -> int:
    if pindex >= NR_LOWORDER_PCP_LISTS:
        return HPAGE_PMD_ORDER
    return pindex // MIGRATE_PCPTYPES


def pcp_enabled(mem, order: int, mt: int) -> bool:
    """The machine has CPUs, the era keeps the order, the migratetype has lists."""
    return mem.cpus > 0 and mt < MIGRATE_PCPTYPES and pcp_allowed_order(mem.variant, order)


def set_block_kind(mem, pfn: int, order: int, kind: int) -> None:
    for page in mem.pages[pfn:pfn + (1 << order)]:
        page.kind = kind


# ------------------------------------------------------------------ to the buddy
def free_pcppages_bulk(mem, z: int, cpu: int, count: int, pindex: int) -> None:
    """``free_pcppages_bulk``: ``count`` pages back to the buddy, each block from a list's
    tail. v4.8: round robin over the three lists with a quota (``batch_free`` carries
    over); today: list ``pindex`` first, then each list in turn, each emptied."""
    pcp = mem.pcp[z][cpu]
    count = min(count, pcp.count)
    if not mem.variant.pcp_high_order:
        mt = 0
        batch_free = 0
        while count > 0:
            while True:
                batch_free += 1
                mt += 1
                if mt == MIGRATE_PCPTYPES:
                    mt = 0
                head = pcp.lists[mt]
                if not list_empty(head):
                    break
            if batch_free == MIGRATE_PCPTYPES:  # the only non-empty list: free them all
                batch_free = count
            while True:
                pcp_to_buddy(mem, z, head.lru_prev.pfn, 0)
                count -= 1
                pcp.count -= 1
                batch_free -= 1
                if count == 0 or batch_free == 0 or list_empty(head):
                    break
        return
    pindex -= 1
    while count > 0:
        while True:
            pindex += 1
            if pindex > NR_PCP_LISTS - 1:
                pindex = 0
            head = pcp.lists[pindex]
            if not list_empty(head):
                break
        order = pindex_to_order(pindex)
        while True:
            pcp_to_buddy(mem, z, head.lru_prev.pfn, order)
            count -= 1 << order
            pcp.count -= 1 << order
            if count <= 0 or list_empty(head):
                break


def pcp_to_buddy(mem, z: int, pfn: int, order: int) -> None:
    """One block off its list into the buddy, to the migratetype it remembers (the
    pageblock's if that is isolated) or, ``pcp_mt_at_drain``, its pageblock's now."""
    page = mem.pages[pfn]
    list_del(page)
    mt = page.private >> 8
    if mem.variant.pcp_mt_at_drain or mem.zone_flags[z] & ZONE_HAS_ISOLATE:
        mt = mem.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES]
    page.private = 0
    set_block_kind(mem, pfn, order, int(PageKind.FREE))
    mem.free_one_page(pfn, z, order, mt)


# ------------------------------------------------------------------ freeing
def nr_pcp_high(mem, z: int, pcp: PerCpuPages, batch: int, free_high: bool) -> int:
    """``nr_pcp_high`` (v6.7+): the ``high`` a free is measured against; tunes ``high``."""
    high = min(max(pcp.high, pcp.high_min), pcp.high_max)
    pcp.high = high
    if high == 0:
        return 0
    if free_high:
        pcp.high = max(high - (batch << PCP_BATCH_SCALE_MAX), pcp.high_min)
        return 0
    if mem.zone_flags[z] & ZONE_RECLAIM_ACTIVE:
        pcp.high = max(high - max(pcp.free_count, batch), pcp.high_min)
        return min(batch << 2, pcp.high)
    if pcp.high_min == pcp.high_max:
        return high
    if mem.zone_flags[z] & ZONE_BELOW_HIGH:
        pcp.high = max(high - max(pcp.free_count, batch), pcp.high_min)
        high = max(pcp.count, pcp.high_min)
    elif pcp.count >= high:
        need_high = pcp.free_count + batch
        if pcp.high < need_high:
            pcp.high = min(max(need_high, pcp.high_min), pcp.high_max)
    return high


def nr_pcp_free(pcp: PerCpuPages, batch: int, high: int, free_high: bool) -> int:
    """``nr_pcp_free`` (v6.7+): the pages a free above ``high`` gives back."""
    if free_high:
        return min(pcp.count, batch << PCP_BATCH_SCALE_MAX)
    if high < batch:
        return 1
    return min(max(pcp.free_count, batch), high - batch)


def free_unref_page_commit(mem, pfn: int, z: int, order: int, mt: int) -> None:
    """``free_unref_page_commit``: the block (frames already of kind PCP) onto this CPU's
    list of its migratetype (CMA and HIGHATOMIC on MOVABLE's), then a bulk free at
    ``high``."""
    v = mem.variant
    cpu = mem.this_cpu
    pcp = mem.pcp[z][cpu]
    pindex = order_to_pindex(order, mt if mt < MIGRATE_PCPTYPES else MOVABLE)
    page = mem.pages[pfn]
    page.private = order | (mt << 8)
    list_add(page, pcp.lists[pindex])
    pcp.count += 1 << order
    batch = pcp.batch
    if not v.pcp_autotune:
        if pcp.count >= pcp.high:
            free_pcppages_bulk(mem, z, cpu, batch, pindex)  # setup_pcp makes batch >= 1
        return
    pcp.alloc_factor >>= 1
    free_high = False
    if 0 < order <= PAGE_ALLOC_COSTLY_ORDER:
        free_high = (pcp.free_count >= batch + pcp.high_min // 2
                     and bool(pcp.flags & PCPF_PREV_FREE_HIGH_ORDER)
                     and (not pcp.flags & PCPF_FREE_HIGH_BATCH or pcp.count >= batch))
        pcp.flags |= PCPF_PREV_FREE_HIGH_ORDER
    elif pcp.flags & PCPF_PREV_FREE_HIGH_ORDER:
        pcp.flags &= ~PCPF_PREV_FREE_HIGH_ORDER
    if pcp.free_count < batch << PCP_BATCH_SCALE_MAX:
        pcp.free_count += 1 << order
    high = nr_pcp_high(mem, z, pcp, batch, free_high)
    if pcp.count >= high:
        free_pcppages_bulk(mem, z, cpu, nr_pcp_free(pcp, batch, high, free_high), pindex)
        if mem.zone_flags[z] & ZONE_BELOW_HIGH and mem.watermark_ok(z, 0, mem.zones[z].wmark[WMARK_HIGH], True):
            mem.zone_flags[z] &= ~ZONE_BELOW_HIGH


# ------------------------------------------------------------------ allocating
def rmqueue_bulk(mem, z: int, order: int, count: int, mt: int, cpu: int, pindex: int, nofrag: bool = False) -> int:
    """``rmqueue_bulk``: up to ``count`` blocks from the buddy onto the list's tail, in the
    buddy's order; each remembers the list's migratetype (CMA from the CMA area)."""
    pcp = mem.pcp[z][cpu]
    head = pcp.lists[pindex]
    n = 0
    steal = False
    for _ in range(count):
        if steal:  # v6.16 rmqueue_mode: after a steal, steal again
            pfn = mem.rmqueue_steal(z, order, mt)
        else:
            pfn = mem.rmqueue(z, order, mt, nofrag)
            if pfn >= 0 and mem.variant.fallback_rule == FallbackRule.CLAIM_OR_STEAL_ONE:
                steal = mem.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] not in (mt, CMA)
        if pfn < 0:
            break
        cmt = CMA if mem.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] == CMA else mt
        set_block_kind(mem, pfn, order, int(PageKind.PCP))
        mem.pages[pfn].private = order | (cmt << 8)
        list_add_tail(mem.pages[pfn], head)
        n += 1
    pcp.count += n << order
    return n


def nr_pcp_alloc(mem, z: int, pcp: PerCpuPages, order: int) -> int:
    """``nr_pcp_alloc`` (v6.7+): the refill, doubled over runs of order-0 refills
    (``alloc_factor``); ``high`` raised by a batch unless the zone is below high."""
    base_batch = pcp.batch
    high = min(max(pcp.high, pcp.high_min), pcp.high_max)
    pcp.high = high
    if high < base_batch:
        return 1
    batch = base_batch if order > 0 else base_batch << pcp.alloc_factor
    if pcp.high_min != pcp.high_max and not mem.zone_flags[z] & ZONE_BELOW_HIGH:
        high = min(high + batch, pcp.high_max)
        pcp.high = high
    if order == 0:
        max_nr_alloc = max(high - pcp.count - base_batch, base_batch)
        if batch <= max_nr_alloc and pcp.alloc_factor < PCP_BATCH_SCALE_MAX:
            pcp.alloc_factor += 1
        batch = min(batch, max_nr_alloc)
    if batch > 1:
        batch = max(batch >> order, 2)
    return batch


def rmqueue_pcplist(mem, z: int, order: int, mt: int, nofrag: bool = False) -> int:
    """``rmqueue_pcplist``: the first block of this CPU's (order, mt) list, refilled if
    empty; -1 when the buddy had nothing either."""
    v = mem.variant
    cpu = mem.this_cpu
    pcp = mem.pcp[z][cpu]
    pindex = order_to_pindex(order, mt)
    head = pcp.lists[pindex]
    if v.pcp_autotune:
        pcp.free_count >>= 1
    if list_empty(head):
        batch = pcp.batch
        if v.pcp_autotune:
            batch = nr_pcp_alloc(mem, z, pcp, order)
        elif v.pcp_high_order and batch > 1:
            batch = max(batch >> order, 2)
        rmqueue_bulk(mem, z, order, batch, mt, cpu, pindex, nofrag)
        if list_empty(head):
            return -1
    page = list_first(head)
    list_del(page)
    page.private = 0
    pcp.count -= 1 << order
    return page.pfn


# ------------------------------------------------------------------ draining
def drain_pages_zone(mem, z: int, cpu: int) -> None:
    """``drain_pages_zone``: all of a CPU's lists of zone ``z`` to the buddy (v6.10+ in
    chunks of ``batch << CONFIG_PCP_BATCH_SCALE_MAX``)."""
    pcp = mem.pcp[z][cpu]
    while pcp.count > 0:
        count = pcp.count
        if mem.variant.pcp_autotune:
            count = min(count, max(pcp.batch, 1) << PCP_BATCH_SCALE_MAX)
        free_pcppages_bulk(mem, z, cpu, count, 0)


def drain_local_pages(mem, z: int) -> None:
    """``drain_local_pages``: this CPU's lists of zone ``z``, or of every zone (-1)."""
    for zz in range(len(mem.zones)):
        if z < 0 or zz == z:
            drain_pages_zone(mem, zz, mem.this_cpu)


def drain_all_pages(mem, z: int) -> None:
    """``drain_all_pages``: every CPU's lists of zone ``z``, or of every zone (-1)."""
    for cpu in range(mem.cpus):
        for zz in range(len(mem.zones)):
            if z < 0 or zz == z:
                drain_pages_zone(mem, zz, cpu)


def decay_pcp_high(mem, z: int, cpu: int) -> None:
    """``decay_pcp_high`` (v6.7+): ``high`` down an eighth towards ``high_min``, the pages
    above it to the buddy."""
    pcp = mem.pcp[z][cpu]
    if pcp.high > pcp.high_min:
        pcp.high = max(pcp.count - (pcp.batch << PCP_BATCH_SCALE_MAX), pcp.high - (pcp.high >> 3), pcp.high_min)
    to_drain = pcp.count - pcp.high
    if to_drain > 0:
        free_pcppages_bulk(mem, z, cpu, to_drain, 0)


def pcp_tick(mem, t: int) -> None:
    """A tick runs on CPU ``t % cpus``; in v6.7+ the vmstat worker decays every ``high``."""
    if mem.cpus == 0:
        return
    mem.this_cpu = t % mem.cpus
    if mem.variant.pcp_autotune:
        for z in range(len(mem.zones)):
            for cpu in range(mem.cpus):
                decay_pcp_high(mem, z, cpu)


def drain_unkept(mem) -> None:
    """Blocks on lists the era does not keep (orders above 0 before v5.14) to the buddy."""
    if mem.variant.pcp_high_order:
        return
    for z in range(len(mem.zones)):
        for cpu in range(mem.cpus):
            pcp = mem.pcp[z][cpu]
            for pindex in range(MIGRATE_PCPTYPES, NR_PCP_LISTS):
                head = pcp.lists[pindex]
                while not list_empty(head):
                    page = head.lru_prev
                    order = page.private & 0xFF
                    pcp_to_buddy(mem, z, page.pfn, order)
                    pcp.count -= 1 << order


# ------------------------------------------------------------------ sizes by era
def zone_batchsize(managed: int, autotune: bool) -> int:
    """``zone_batchsize``: v4.x ``min(managed / 1024, 128) / 4``, today ``min(managed >> 12,
    64)``, at least 1, then ``rounddown_pow_of_two(b + b / 2) - 1`` (today at least 1)."""
    if autotune:
        batch = min(managed >> 12, 64)
        if batch <= 1:
            return 1
    else:
        batch = max(min(managed >> 10, 128) // 4, 1)
    b = batch + batch // 2
    return (1 << (b.bit_length() - 1)) - 1


def zone_highsize(managed: int, low_wmark: int, batch: int, cpus: int, fraction: int) -> int:
    """``zone_highsize``: the low watermark (or ``managed / fraction``) over the CPUs, at
    least four batches."""
    total = low_wmark if fraction == 0 else managed // fraction
    return max(total // max(cpus, 1), batch << 2)


def setup_pcp(mem) -> None:
    """``zone_pcp_init`` / ``zone_set_pageset_high_and_batch`` for the memory's variant:
    batch and high by era (a live ``high`` kept within v6.7+'s bounds), blocks on lists
    the era does not keep back to the buddy."""
    if mem.cpus == 0:
        return
    autotune = bool(mem.variant.pcp_autotune)
    for z, zone in enumerate(mem.zones):
        managed = zone.end - zone.start
        raw = zone_batchsize(managed, autotune)
        batch = max(raw, 1)
        if autotune:
            high_min = zone_highsize(managed, zone.wmark[WMARK_LOW], batch, mem.cpus, 0)
            high_max = zone_highsize(managed, zone.wmark[WMARK_LOW], batch, mem.cpus, 8)
        else:
            high_min = high_max = 6 * raw  # pageset_set_batch
        for pcp in mem.pcp[z]:
            if autotune:
                pcp.high = min(max(pcp.high if pcp.high > 0 else high_min, high_min), high_max)
            else:
                pcp.high = high_min
                pcp.free_count = pcp.alloc_factor = pcp.flags = 0
            pcp.batch = batch
            pcp.high_min = high_min
            pcp.high_max = high_max
    drain_unkept(mem)
