"""Reclaim in the twin, mmkit's reduced model of v4.5 ``mm/vmscan.c``: per zone, the
inactive file list and (with swap) the inactive anon list are scanned from their tails
in SWAP_CLUSTER_MAX batches, the active list aged onto the inactive one when the latter
runs short. ``shrink_page_list`` per page: a clean file page is dropped, a dirty one
written back (clean at once here) and rotated, an anonymous page compressed into zram.

A driver's page that a misroute left on an LRU list looks like a clean file page to
reclaim (not swap-backed, not dirty) and is freed while its owner still uses it. A node
whose neighbour does not point back ends the scan of that list: the list is cut there.

mmkit takes one page at a time from the tail, so a page put back at the head of a short
list can be met again in the same batch; the kernel isolates the batch first.
"""

from __future__ import annotations

from mmkit.model import flags as pg
from mmkit.model.events import OOPS_PAGE_BUFFERS
from mmkit.model.kinds import LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, PageKind
from mmkit.reference.buddy import Page
from mmkit.reference.events import RULE_NONE, record, rule
from mmkit.reference.lists import INIT_LIST_HEAD
from mmkit.reference.owners import (
    add_page_to_lru_list,
    del_page_from_lru_list,
    reclaim_zsmalloc_page,
    zs_malloc,
)
from mmkit.reference.pcp import ZONE_RECLAIM_ACTIVE
from mmkit.reference.predicates import clear_flag, set_flag, test

SWAP_CLUSTER_MAX = 32
WMARK_LOW, WMARK_HIGH = 1, 2
ZS_CLASS_PPM = (300000, 250000, 200000, 150000, 100000)  # how anonymous pages compress


def pick_zs_class(s) -> int:
    r = s.rng.below(1_000_000)
    acc = 0
    for c, ppm in enumerate(ZS_CLASS_PPM):
        acc += ppm
        if r < acc:
            return c
    return len(ZS_CLASS_PPM) - 1


def zone_free_pages(s, z: int) -> int:
    return s.mem.free_pages_of(z)


def split_huge_page(s, head) -> None:
    """``split_huge_page``: the THP becomes order-0 anonymous pages, each with the head's
    flags, mapping and mapcount and a reference; the tails go on the LRU
    (``lru_add_page_tail``; the kernel puts them on reclaim's list when reclaim splits)."""
    pages = s.mem.pages
    order = pages[head.pfn + 1].private
    clear_flag(head, pg.PG_head)
    pages[head.pfn + 1].private = 0
    for tail in pages[head.pfn + 1: head.pfn + (1 << order)]:
        tail.lru_next = tail.lru_prev = None
        tail.flags = head.flags
        tail.mapping = head.mapping
        tail.mapcount = head.mapcount
        tail.refcount = 1
        add_page_to_lru_list(s, tail)


def release_zsmalloc_page(s, page, r: int) -> str:
    """A zsmalloc page in ``shrink_page_list`` (a misroute's LRU page or a CMA rule's),
    taken for a clean file page: ``page_has_private`` sends it to
    ``try_to_release_page`` and, with no ``->releasepage``, ``try_to_free_buffers``.
    PG_private (a zspage's first page): zsmalloc's ``page->private`` read as buffer heads,
    taken as busy, "kept". PG_private_2 alone (its last page): ``page_buffers()``'s
    ``BUG_ON(!PagePrivate)``, "oops", the page stays with the dead task. Neither:
    "removed" by ``__remove_mapping``, for the caller to free with its objects."""
    record(s, page, "nonlru_to_reclaim", r)
    if test(page, pg.PG_private):
        return "kept"
    if test(page, pg.PG_private_2):
        record(s, page, "oops", r, OOPS_PAGE_BUFFERS)
        return "oops"
    return "removed"


def shrink_page(s, page, zone_hi: int) -> bool:
    """``shrink_page_list`` for one isolated page; True when it was freed."""
    if page.kind == PageKind.FILE:
        if test(page, pg.PG_dirty):
            clear_flag(page, pg.PG_dirty)  # pageout(), done by the next scan
            add_page_to_lru_list(s, page)
            return False
        # __remove_mapping; a large folio goes back whole
        order = s.mem.pages[page.pfn + 1].private if test(page, pg.PG_head) else 0
        page.refcount = 0
        s.mem.free_pages(page.pfn, order)
        return True
    if page.kind == PageKind.ANON:
        if test(page, pg.PG_head):
            if not s.swap:
                add_page_to_lru_list(s, page)
                return False
            split_huge_page(s, page)  # add_to_swap splits a THP first
        if page.refcount > 1 or not s.swap:
            add_page_to_lru_list(s, page)
            return False
        if zs_malloc(s, pick_zs_class(s), zone_hi, -1) < 0:  # PF_MEMALLOC: no watermark
            add_page_to_lru_list(s, page)
            return False
        s.vm["pswpout"] += 1
        page.refcount = 0
        s.mem.free_pages(page.pfn, 0)
        return True
    if page.kind == PageKind.ZSMALLOC:
        r = rule("newpage_route")
        out = release_zsmalloc_page(s, page, r)
        if out == "kept":  # activate_locked
            set_flag(page, pg.PG_active)
            add_page_to_lru_list(s, page)
        elif out == "removed":
            reclaim_zsmalloc_page(s, page, r)
        return out == "removed"
    if page.kind == PageKind.BALLOON:
        record(s, page, "bad_page_freed", rule("newpage_route"))
        return False  # the balloon's list still points at it: left off the LRU
    add_page_to_lru_list(s, page)
    return False


def shrink_inactive_list(s, z: int, lru: int, nr_to_scan: int, zone_hi: int) -> int:
    head = s.lru_heads[z][lru]
    freed = 0
    # isolate_lru_pages takes the pages off first: none is met twice in one call
    for _ in range(list_length_bounded(head, nr_to_scan)):
        page = head.lru_prev
        if page is head:
            break
        if not isinstance(page, Page) or page.lru_next is not head:
            record(s, page if isinstance(page, Page) else None, "list_corruption", RULE_NONE, lru)
            INIT_LIST_HEAD(head)
            break
        s.vm["pgscan"] += 1
        del_page_from_lru_list(s, page)
        if shrink_page(s, page, zone_hi):
            freed += 1
            s.vm["pgsteal"] += 1
    return freed


def shrink_active_list(s, z: int, lru_active: int, nr_to_scan: int) -> None:
    """Pages from the active list's tail go to the inactive list's head, PG_active off."""
    head = s.lru_heads[z][lru_active]
    for _ in range(nr_to_scan):
        page = head.lru_prev
        if page is head or not isinstance(page, Page):
            break
        del_page_from_lru_list(s, page)
        clear_flag(page, pg.PG_active)
        add_page_to_lru_list(s, page)


def inactive_list_is_low(s, z: int, inactive: int) -> bool:
    """v4.5: anon when inactive * inactive_ratio < active; file when active > inactive."""
    ni, na = s.lru_size[z][inactive], s.lru_size[z][inactive + 1]
    if inactive == LRU_INACTIVE_ANON:
        return ni * s.inactive_ratio[z] < na
    return na > ni


def list_length_bounded(head, bound: int) -> int:
    n = 0
    node = head.lru_next
    while node is not head and n < bound and node is not None:
        n += 1
        node = node.lru_next
    return n


def shrink_zone(s, z: int, target_free: int, max_scan: int) -> int:
    """Scan file then anon until ``target_free`` pages are free or ``max_scan`` scanned;
    give up after eight batches that freed nothing."""
    scanned = freed = 0
    zone_hi = len(s.mem.zones) - 1
    while zone_free_pages(s, z) < target_free and scanned < max_scan:
        progress = 0
        for inactive in (LRU_INACTIVE_FILE, LRU_INACTIVE_ANON):
            if inactive == LRU_INACTIVE_ANON and not s.swap:
                continue
            if inactive_list_is_low(s, z, inactive):
                shrink_active_list(s, z, inactive + 1, SWAP_CLUSTER_MAX)
            f = shrink_inactive_list(s, z, inactive, SWAP_CLUSTER_MAX, zone_hi)
            freed += f
            progress += f
        scanned += 2 * SWAP_CLUSTER_MAX
        if progress == 0 and scanned > 8 * SWAP_CLUSTER_MAX:
            break
    return freed


def kswapd(s, order: int = 0) -> int:
    """``balance_pgdat`` woken for ``order``: every zone below its low watermark (plus the
    compaction gap, 2 << order, for a high-order wakeup: ``zone_balanced``) is reclaimed
    up to its high watermark plus that gap. Free CMA pages do not count
    (zone_watermark_ok_safe: no ALLOC_CMA)."""
    gap = 2 << order if order > 0 else 0
    freed = 0
    for z, zone in enumerate(s.mem.zones):
        cma = s.mem.nr_free_cma(z)
        if zone_free_pages(s, z) - cma < zone.wmark[WMARK_LOW] + gap:
            # set_reclaim_active: v6.x per-CPU lists keep at most four batches meanwhile
            s.mem.zone_flags[z] |= ZONE_RECLAIM_ACTIVE
            freed += shrink_zone(s, z, zone.wmark[WMARK_HIGH] + gap + cma, zone.end - zone.start)
            s.mem.zone_flags[z] &= ~ZONE_RECLAIM_ACTIVE
    return freed
