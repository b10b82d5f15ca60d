"""The twin's allocation slow path and page populations: ``__alloc_pages_nodemask`` as
mmkit's workloads use it (fast path at the low watermark, kswapd, the min watermark,
direct compaction for order > 0, direct reclaim), and the pages made through it:
anonymous faults, page-cache pages with filesystem flag habits, THP, kernel
allocations; and their freeing."""

from __future__ import annotations

from mmkit.model import flags as pg
from mmkit.model.kinds import PageKind
from mmkit.reference.buddy import CMA, MOVABLE, RECLAIMABLE, UNMOVABLE
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER
from mmkit.reference.compaction import compaction_defer_reset, kcompactd_do_work, try_to_compact_pages
from mmkit.reference.owners import add_page_to_lru_list, del_page_from_lru_list
from mmkit.reference.pcp import drain_all_pages
from mmkit.reference.predicates import set_flag, test
from mmkit.reference.reclaim import kswapd, shrink_zone, zone_free_pages

WMARK_MIN, WMARK_LOW, WMARK_HIGH = 0, 1, 2
ZONE_BOOSTED_WATERMARK = 8

GFP_RECLAIM = 1  # __GFP_DIRECT_RECLAIM
GFP_COMPACT = 2
GFP_COMPACT_SYNC = 4
GFP_NORETRY = 8
GFP_NOWAIT = 16
GFP_DEFAULT = GFP_RECLAIM | GFP_COMPACT | GFP_COMPACT_SYNC
GFP_TRANSHUGE = GFP_RECLAIM | GFP_COMPACT | GFP_NORETRY  # THP faults, defrag=always

FILE_DIRTY, FILE_CHECKED, FILE_FSCACHE, FILE_UNEVICTABLE, FILE_MAPPED = 1, 2, 4, 8, 16
FILE_BUFFERS, FILE_WRITEBACK = 32, 64  # PG_private (buffer heads), PG_writeback


def alloc_pages_slowpath(s, order: int, mt: int, kind: int, owner: int, compound: bool, zone_hi: int,
                         gfp: int) -> int:
    """v4.5 ``__alloc_pages_slowpath`` in outline: the low watermark, wake kswapd for this
    order, the min watermark; then async compaction (order > 0) and direct reclaim,
    and again with sync compaction: twice more for an ordinary request, once for
    __GFP_NORETRY (THP), ending with a last compaction. Direct reclaim that made progress
    and still finds nothing drains every CPU's lists and tries once more."""
    mem = s.mem

    def attempt(wmark: int) -> int:
        return mem.alloc_pages(order, mt, kind, owner, zone_hi, compound, wmark)

    pfn = attempt(WMARK_LOW)
    if pfn >= 0:
        z = mem.zone_of(pfn)
        if mem.zone_flags[z] & ZONE_BOOSTED_WATERMARK:  # rmqueue's end (ALLOC_KSWAPD)
            mem.zone_flags[z] &= ~ZONE_BOOSTED_WATERMARK
            wakeup_kswapd(s, 0, z)
        return pfn
    if gfp & GFP_NOWAIT:
        return pfn
    wakeup_kswapd(s, order, zone_hi)
    pfn = attempt(WMARK_MIN)
    if pfn >= 0:
        return pfn
    reclaims = 1 if gfp & GFP_NORETRY else 2
    sync = False
    for r in range(reclaims + 1):
        if order > 0 and gfp & GFP_COMPACT:
            s.vm["compact_stall"] += 1
            try_to_compact_pages(s, order, mt, zone_hi, sync)
            pfn = attempt(WMARK_MIN)
            if pfn >= 0:
                s.vm["compact_success"] += 1
                compaction_defer_reset(s, mem.zone_of(pfn), order, True)
                return pfn
            s.vm["compact_fail"] += 1
        if r == reclaims or not gfp & GFP_RECLAIM:
            break
        progress = 0
        for z in range(zone_hi, -1, -1):
            progress += shrink_zone(s, z, mem.zones[z].wmark[WMARK_HIGH] + (2 << order), 4096)
        pfn = attempt(WMARK_MIN)
        if pfn < 0 and progress > 0 and mem.cpus:
            # __alloc_pages_direct_reclaim: the reclaimed pages may sit on per-CPU lists
            drain_all_pages(mem, -1)
            pfn = attempt(WMARK_MIN)
        if pfn >= 0:
            return pfn
        sync = bool(gfp & (GFP_COMPACT_SYNC | GFP_NORETRY))
    s.vm["alloc_fail"] += 1
    if order == 0:
        s.vm["oom"] += 1
    return -1


def wakeup_kswapd(s, order: int, zone_hi: int) -> None:
    """kswapd woken (balance_pgdat): with boosted watermarks and a balanced node, the
    boost is reclaimed without swapping; otherwise kswapd as usual. Any boost is then
    dropped and kcompactd woken at pageblock order (v5.0)."""
    mem = s.mem
    boosted = any(zone.watermark_boost for zone in mem.zones[:zone_hi + 1])
    balanced = any(mem.watermark_ok(z, order, mem.zones[z].wmark[WMARK_HIGH], False)  # no ALLOC_CMA
                   for z in range(zone_hi + 1))
    if boosted and balanced:
        swap, s.swap = s.swap, False
        for z in range(zone_hi + 1):
            zone = mem.zones[z]
            if zone.watermark_boost:
                shrink_zone(s, z, zone_free_pages(s, z) + zone.watermark_boost, zone.end - zone.start)
        s.swap = swap
    else:
        kswapd(s, order)
    if mem.clear_watermark_boosts(zone_hi) and s.v.kcompactd:
        s.vm["compact_daemon_wake"] += 1
        kcompactd_do_work(s, PAGEBLOCK_ORDER, zone_hi)


def new_owner(s) -> int:
    """A fresh inode / anon_vma id (16 up, wrapping below 2**28 + 16)."""
    o = s.owner_next
    s.owner_next = 16 + (o - 15) % (1 << 28)
    return o


def anon_fault(s, zone_hi: int, pinned: bool) -> int:
    """An anonymous fault; ``pinned``: a long-term pin, which from v5.1
    (``longterm_pin_migrate``) first moves a page of a CMA pageblock out."""
    pfn = alloc_pages_slowpath(s, 0, MOVABLE, int(PageKind.ANON), new_owner(s), False, zone_hi, GFP_DEFAULT)
    if pfn < 0:
        return -1
    page = s.mem.pages[pfn]
    set_flag(page, pg.PG_active)
    add_page_to_lru_list(s, page)
    if pinned:
        if s.v.longterm_pin_migrate and s.mem.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] == CMA:
            new = migrate_longterm_unpinnable(s, page, zone_hi)
            if new is None:
                return pfn  # the pin failed: the page stays, unpinned
            page = new
        page.refcount += 1  # the pin
    return page.pfn


def migrate_longterm_unpinnable(s, page, zone_hi: int):
    """``migrate_longterm_unpinnable_folios`` for a fresh anonymous page in a CMA
    pageblock: a ``GFP_USER`` target (unmovable, never CMA), the identity moved, the old
    page freed; None without a target. The page leaves the LRU (a reference) before the
    target is allocated, so reclaim cannot take it meanwhile; without a target it goes
    back."""
    del_page_from_lru_list(s, page)
    page.refcount += 1
    pfn = alloc_pages_slowpath(s, 0, UNMOVABLE, int(PageKind.ANON), page.mapping >> 2, False, zone_hi, GFP_DEFAULT)
    page.refcount -= 1
    if pfn < 0:
        add_page_to_lru_list(s, page)
        return None
    new = s.mem.pages[pfn]
    new.flags = page.flags
    new.mapcount = page.mapcount
    page.refcount = 0
    s.mem.free_pages(page.pfn, 0)
    add_page_to_lru_list(s, new)
    s.vm["pgmigrate_success"] += 1
    return new


def file_page(s, zone_hi: int, habits: int) -> int:
    pfn = alloc_pages_slowpath(s, 0, MOVABLE, int(PageKind.FILE), new_owner(s), False, zone_hi, GFP_DEFAULT)
    if pfn < 0:
        return -1
    page = s.mem.pages[pfn]
    for habit, bit in ((FILE_DIRTY, pg.PG_dirty), (FILE_CHECKED, pg.PG_checked),
                       (FILE_FSCACHE, pg.PG_fscache), (FILE_UNEVICTABLE, pg.PG_unevictable)):
        if habits & habit:
            set_flag(page, bit)
    if habits & FILE_MAPPED:
        page.mapcount = 0
    add_page_to_lru_list(s, page)
    return pfn


def folio_alloc(s, zone_hi: int, order: int, habits: int, file: bool) -> int:
    """A large folio of ``order`` (1-8) on the inactive list: a page-cache folio with the
    filesystem's habits (dirty, buffer heads, writeback) or an anonymous mTHP."""
    kind = int(PageKind.FILE if file else PageKind.ANON)
    pfn = alloc_pages_slowpath(s, order, MOVABLE, kind, new_owner(s), True, zone_hi, GFP_DEFAULT)
    if pfn < 0:
        return -1
    page = s.mem.pages[pfn]
    for habit, bit in ((FILE_DIRTY, pg.PG_dirty), (FILE_BUFFERS, pg.PG_private), (FILE_WRITEBACK, pg.PG_writeback)):
        if habits & habit:
            set_flag(page, bit)
    add_page_to_lru_list(s, page)
    return pfn


def thp_fault(s, zone_hi: int) -> int:
    pfn = alloc_pages_slowpath(s, 9, MOVABLE, int(PageKind.ANON), new_owner(s), True, zone_hi, GFP_TRANSHUGE)
    if pfn < 0:
        s.vm["thp_fault_fallback"] += 1
        return -1
    s.vm["thp_fault_alloc"] += 1
    page = s.mem.pages[pfn]
    set_flag(page, pg.PG_active)
    add_page_to_lru_list(s, page)
    return pfn


def kernel_alloc(s, zone_hi: int, order: int, kind: int) -> int:
    mt = RECLAIMABLE if kind == PageKind.SLAB_RECLAIMABLE else UNMOVABLE
    pfn = alloc_pages_slowpath(s, order, mt, kind, 0, order > 0, zone_hi, GFP_DEFAULT)
    if order in (2, 3):
        s.vm[f"order{order}_{'alloc' if pfn >= 0 else 'fail'}"] += 1
    return pfn


def head_order(s, pfn: int) -> int:
    page = s.mem.pages[pfn]
    return s.mem.pages[pfn + 1].private if test(page, pg.PG_head) else 0


def free_user_page(s, pfn: int) -> None:
    """munmap / truncate: off the LRU, then back to the buddy."""
    page = s.mem.pages[pfn]
    if test(page, pg.PG_lru):
        del_page_from_lru_list(s, page)
    order = head_order(s, pfn)
    page.refcount = 0
    s.mem.free_pages(pfn, order)


def free_kernel_page(s, pfn: int) -> None:
    order = head_order(s, pfn)
    s.mem.pages[pfn].refcount = 0
    s.mem.free_pages(pfn, order)
