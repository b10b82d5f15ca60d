"""``alloc_contig_range`` in the twin (v4.5 ``mm/page_alloc.c``): isolate the pageblocks,
migrate the range's movable pages out (clean file pages are dropped instead where the
variant's rule allows, SEMANTICS.md §4.4), and take the range once every page is free.

Pageblocks are isolated in whole MAX_ORDER blocks (``pfn_max_align_down`` /
``pfn_max_align_up``, kept inside the zone), so no free block straddles the isolation
(from v5.19, ``contig_pageblock_isolation``: the range's own pageblocks, a free block
across the window's edge split); the free blocks taken may begin before ``start`` or end
after ``end``, and those pages are given back (``outer_start``, ``outer_end``). Before
any of it, the range is refused if it holds a page that is neither free, on the LRU,
non-LRU movable nor unreferenced (mmkit's ``has_unmovable_pages``, checked over
[start, end) only).

``cma_alloc`` (``mm/cma.c``) walks the area's positions first fit and tries the next
after each -EBUSY; -ENOMEM (no migration target) ends the walk.
"""

from __future__ import annotations

from mmkit.model import flags as pg
from mmkit.model.kinds import MAX_ORDER, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, PageKind
from mmkit.reference.buddy import CMA
from mmkit.reference.compaction import (
    ISOLATE,
    CompactControl,
    isolate_migratepages_block,
    migrate_folios,
)
from mmkit.reference.events import record, rule
from mmkit.reference.lists import list_del, list_empty
from mmkit.reference.migrate import folio_order, migrate_pages, putback_movable_pages
from mmkit.reference.owners import reclaim_zsmalloc_page
from mmkit.reference.reclaim import release_zsmalloc_page
from mmkit.reference.pcp import ZONE_HAS_ISOLATE, drain_all_pages
from mmkit.reference.reclaim import shrink_zone
from mmkit.reference.predicates import (
    PageBalloon,
    PageIsolated,
    PageLRU,
    __PageMovable,
    test,
)
from mmkit.semantics import CmaCleanRule, FallbackRule, PageblockMerge

MAX_ORDER_NR_PAGES = 1 << (MAX_ORDER - 1)
EBUSY = 16
ENOMEM = 12
WMARK_MIN = 0
WMARK_HIGH = 2


def clean_page_droppable(v, page) -> bool:
    """The variant's test in ``reclaim_clean_pages_from_list``: file (not swap-backed)
    and not dirty, and then not PageBalloon (v4.5), not PageIsolated (v3-04), not
    __PageMovable (v4.8); today movable_ops pages are refused first, and unevictable
    pages too."""
    r = v.cma_clean_rule
    if r == CmaCleanRule.MOVABLE_OPS_THEN_EVICTABLE:
        if __PageMovable(v, page):
            return False
        return not (test(page, pg.PG_swapbacked) or test(page, pg.PG_dirty) or test(page, pg.PG_unevictable))
    if test(page, pg.PG_swapbacked) or test(page, pg.PG_dirty):
        return False
    if r == CmaCleanRule.NOT_BALLOON:
        return not PageBalloon(v, page)
    if r == CmaCleanRule.NOT_ISOLATED:
        return not PageIsolated(v, page)
    return not __PageMovable(v, page)


def reclaim_clean_pages_from_list(s, head, res: dict) -> None:
    """Drop the clean file pages the rule lets through (``shrink_page_list`` frees them,
    culling unevictable ones); a driver's page let through is handed to reclaim. A
    clean evictable file page the rule keeps is a false positive (R-04 point 3).

    mmkit walks the list once and leaves kept pages where they are; the kernel moves
    the pages the rule passes to a private list and splices the survivors back at the
    front of the migration list."""
    v = s.v
    r = rule("cma_clean_rule")
    page = head.lru_next
    while page is not head:
        nxt = page.lru_next
        truly = (page.kind == PageKind.FILE and not test(page, pg.PG_dirty)
                 and not test(page, pg.PG_unevictable))
        if clean_page_droppable(v, page):
            if page.kind == PageKind.FILE:
                if not test(page, pg.PG_unevictable):
                    order = folio_order(s, page)  # a large folio (alloc_contig_thp) goes whole
                    list_del(page)
                    page.refcount = 0
                    s.mem.free_pages(page.pfn, order)
                    res["reclaimed"] += 1 << order
                    s.vm["cma_reclaimed"] += 1 << order
            elif page.kind == PageKind.ZSMALLOC:
                out = release_zsmalloc_page(s, page, r)
                if out != "kept":  # a page whose release failed stays for migration
                    list_del(page)
                if out == "removed":
                    reclaim_zsmalloc_page(s, page, r)
                    res["reclaimed"] += 1
            elif page.kind != PageKind.ANON:
                record(s, page, "nonlru_to_reclaim", r)
        elif truly:
            record(s, page, "cma_skip_false_positive", r)
            res["skipped_clean"] += 1
        page = nxt


def pageblocks(start: int, end: int):
    """The first pfn of each pageblock [start, end) touches (start itself first)."""
    b = start
    while b < end:
        yield b
        b = (b & ~(PAGEBLOCK_NR_PAGES - 1)) + PAGEBLOCK_NR_PAGES


def has_unmovable_pages(s, start: int, end: int) -> bool:
    """A referenced page that is neither free, on the LRU, nor non-LRU movable, and not
    the tail of a compound page. A CMA pageblock is trusted."""
    mem = s.mem
    for pfn in range(start, end):
        if mem.pageblock_mt[pfn >> PAGEBLOCK_ORDER] == CMA:
            return False
        page = mem.pages[pfn]
        if mem.PageBuddy(pfn) or PageLRU(page) or __PageMovable(s.v, page) or page.refcount == 0:
            continue
        if page.compound_head >= 0:
            continue
        return True
    return False


def start_isolate_page_range(s, z: int, start: int, end: int) -> list[int]:
    """Every pageblock MIGRATE_ISOLATE, its free pages moved there; the old types."""
    saved = []
    s.mem.zone_flags[z] |= ZONE_HAS_ISOLATE  # zone->nr_isolate_pageblock > 0
    for b in pageblocks(start, end):
        saved.append(s.mem.pageblock_mt[b >> PAGEBLOCK_ORDER])
        s.mem.pageblock_mt[b >> PAGEBLOCK_ORDER] = ISOLATE
        if s.v.fallback_rule == FallbackRule.CLAIM_OR_STEAL_ONE or s.v.contig_pageblock_isolation:
            s.mem.split_large_buddy(z, b)  # v6.10 move_freepages_block_isolate; v5.19 the window's edges
        s.mem.move_freepages_block(z, b, ISOLATE)
    return saved


def undo_isolate_page_range(s, z: int, start: int, end: int, saved: list[int]) -> None:
    s.mem.zone_flags[z] &= ~ZONE_HAS_ISOLATE
    for b, mt in zip(pageblocks(start, end), saved):
        s.mem.pageblock_mt[b >> PAGEBLOCK_ORDER] = mt
        s.mem.move_freepages_block(z, b, mt)
        if s.v.pageblock_merge != PageblockMerge.ANY:
            s.mem.remerge_pageblock(z, b - b % (1 << PAGEBLOCK_ORDER))


def test_pages_isolated(s, start: int, end: int) -> bool:
    """Every page of [start, end) is inside a free block starting in the range."""
    pfn = start
    while pfn < end:
        if not s.mem.PageBuddy(pfn):
            return False
        pfn += 1 << s.mem.pages[pfn].private
    return True


def isolate_migratepages_range(s, cc, pfn: int, end: int) -> int:
    while pfn < end:
        block_end = min((pfn + PAGEBLOCK_NR_PAGES) & ~(PAGEBLOCK_NR_PAGES - 1), end)
        pfn = isolate_migratepages_block(s, cc, pfn, block_end, s.contig_head)
        if pfn < 0:
            return -1
        if cc.nr_migratepages >= 32:
            break
    return pfn


def alloc_migrate_target(s, page, order: int = 0):
    """A movable block of ``order`` from the allocator (``GFP_USER | __GFP_MOVABLE``: it
    may reclaim directly, each zone up to its high watermark plus 2 << order, and try
    once more; no compaction); the isolated blocks cannot give one."""
    zone_hi = len(s.mem.zones) - 1
    pfn = s.mem.alloc_pages(order, 1, int(PageKind.ISOLATED_FREE), 0, zone_hi, False, WMARK_MIN)
    if pfn < 0:
        for z in range(zone_hi, -1, -1):
            shrink_zone(s, z, s.mem.zones[z].wmark[WMARK_HIGH] + (2 << order), 4096)
        pfn = s.mem.alloc_pages(order, 1, int(PageKind.ISOLATED_FREE), 0, zone_hi, False, WMARK_MIN)
    return s.mem.pages[pfn] if pfn >= 0 else None


def free_target(s, page, order: int = 0) -> None:
    page.refcount = 0
    s.mem.free_pages(page.pfn, order)


def free_contig_range(s, start: int, end: int) -> None:
    for pfn in range(start, end):
        s.mem.pages[pfn].refcount = 0
        s.mem.free_pages(pfn, 0)


def new_result() -> dict:
    return dict.fromkeys(("ok", "reclaimed", "migrated", "failed", "skipped_clean", "ret"), 0)


def alloc_contig_range(s, start: int, end: int, res: dict | None = None) -> dict:
    """Allocate [start, end); on success every page of it is a KERNEL page, count 1.
    ``res`` (a fresh one if None) adds up the cost; its ``ret`` is 0, -EBUSY or -ENOMEM."""
    res = new_result() if res is None else res
    res["ok"] = 0
    mem = s.mem
    z = mem.zone_of(start)
    zone = mem.zones[z]
    if has_unmovable_pages(s, start, end):
        res["ret"] = -EBUSY
        return res
    align = PAGEBLOCK_NR_PAGES if s.v.contig_pageblock_isolation else MAX_ORDER_NR_PAGES  # v5.19: pageblocks
    iso_start = max(start & ~(align - 1), zone.start)
    iso_end = min(-(-end // align) * align, zone.end)
    first = iso_start & ~(PAGEBLOCK_NR_PAGES - 1)
    if s.v.fallback_rule == FallbackRule.CLAIM_OR_STEAL_ONE and any(
            not (zone.start <= b and b + PAGEBLOCK_NR_PAGES <= zone.end)
            for b in range(first, iso_end, PAGEBLOCK_NR_PAGES)):
        # v6.10 set_migratetype_isolate: a pageblock across the zone's edge is refused (-EBUSY)
        res["ret"] = -EBUSY
        return res
    saved = start_isolate_page_range(s, z, iso_start, iso_end)
    # drain_all_pages(cc.zone): the range's pages on per-CPU lists go to the buddy (to the
    # isolated free lists), where test_pages_isolated finds them
    drain_all_pages(mem, z)
    cc = CompactControl(zone=z, order=-1, sync=True, ignore_skip_hint=True)
    head = s.contig_head
    pfn, tries, busy, nomem = start, 0, False, False
    while pfn < end or not list_empty(head):
        if list_empty(head):
            cc.nr_migratepages = 0
            pfn = isolate_migratepages_range(s, cc, pfn, end)
            if pfn < 0:
                busy = True
                break
            tries = 0
        else:
            tries += 1
            if tries == 5:
                busy = True
                break
        reclaim_clean_pages_from_list(s, head, res)
        if s.v.alloc_contig_thp:
            # v5.7+: THPs in the range are isolated; each folio gets a target of its order
            nomem = migrate_folios(s, cc, head, lambda page, order: alloc_migrate_target(s, page, order),
                                   lambda page, order: free_target(s, page, order))
        else:
            ok, _, nomem = migrate_pages(s, head, lambda page: alloc_migrate_target(s, page),
                                         lambda page: free_target(s, page))
            cc.nr_migrated += ok
        if nomem and s.v.contig_enomem_bail:  # v5.13: -ENOMEM ends the loop at once
            busy = True
            break
    node = head.lru_next
    while node is not head:
        res["failed"] += 1
        node = node.lru_next
    putback_movable_pages(s, head)
    res["migrated"] += cc.nr_migrated
    s.vm["cma_migrated"] += cc.nr_migrated
    outer_start = start
    if not busy:
        order = 0
        while not mem.PageBuddy(outer_start):
            order += 1
            if order >= MAX_ORDER:
                outer_start = start
                break
            outer_start &= ~((1 << order) - 1)
        if outer_start != start and outer_start + (1 << mem.pages[outer_start].private) <= start:
            outer_start = start
    if busy or not test_pages_isolated(s, outer_start, end):
        undo_isolate_page_range(s, z, iso_start, iso_end, saved)
        res["ret"] = -ENOMEM if busy and nomem else -EBUSY
        return res
    pfn = outer_start
    while pfn < end:  # isolate_freepages_range
        order = mem.pages[pfn].private
        mem.list_del(pfn)
        zone.nr_free[order] -= 1
        mem.rmv_page_order(pfn)
        for p in range(pfn, pfn + (1 << order)):
            mem.pages[p].kind = int(PageKind.KERNEL)
            mem.pages[p].refcount = 1
        pfn += 1 << order
    free_contig_range(s, outer_start, start)
    free_contig_range(s, end, pfn)
    undo_isolate_page_range(s, z, iso_start, iso_end, saved)
    res["ok"] = 1
    res["ret"] = 0
    return res


def cma_alloc(s, base: int, area_blocks: int, nblocks: int, res: dict | None = None) -> int:
    """``cma_alloc`` of ``nblocks`` pageblocks on an area of ``area_blocks`` at ``base``,
    none of it given out: first fit, the next position (a pageblock on) after each
    -EBUSY, until a range is allocated, one fails otherwise, or none is left. Returns the
    range's first pfn, or -1."""
    res = new_result() if res is None else res
    res["ok"] = 0
    pos = 0
    while pos + nblocks <= area_blocks:
        start = base + pos * PAGEBLOCK_NR_PAGES
        alloc_contig_range(s, start, start + nblocks * PAGEBLOCK_NR_PAGES, res)
        if res["ret"] == 0:
            s.vm["cma_alloc_success"] += 1
            return start
        if res["ret"] != -EBUSY or s.oopsed:
            break
        s.vm["cma_alloc_busy_retry"] += 1
        pos += 1
    s.vm["cma_alloc_fail"] += 1
    return -1
