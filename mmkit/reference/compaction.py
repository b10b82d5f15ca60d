"""Compaction in the twin (``mm/compaction.c`` of v4.5 / v4.8): ``compact_zone``, the
migrate scanner walking up from the zone start and the free scanner down from its end a
pageblock at a time, ``COMPACT_CLUSTER_MAX`` pages per batch, pageblock skip bits,
``compaction_suitable``, ``compact_finished``. With the v6.9 rules
(``compact_large_folios``) LRU large folios are isolated whole, free blocks stay whole on
``cc->freepages[order]``, each folio gets a target of its order and one that gets none
is split or, if it cannot be, ends the run (-ENOMEM, COMPACT_CONTENDED). With v5.1's
``compact_fast_search`` an order above 0 searches the free lists first
(``fast_isolate_freepages``, ``fast_find_migrateblock``); the twin keeps a buddy free
list as a Python list, so the kernel's list rotations are slices of it.

Per zone, as ``struct zone`` keeps it (:class:`ZoneCompaction`): where the scanners
restart (``compact_cached_migrate_pfn[async, sync]``, ``compact_cached_free_pfn``) and the
deferral after failures (``compact_considered``, ``compact_defer_shift``,
``compact_order_failed``). A run that ignores the skip hints (compact_memory) starts at
the zone's ends. The skip bits of a zone whose last run completed are cleared, and its
scanners reset, when the next run that honours them starts (``compact_blockskip_flush``;
kswapd does it when it goes to sleep in the kernel).
"""

from __future__ import annotations

from dataclasses import dataclass

from mmkit.model import flags as pg
from mmkit.model.kinds import (
    FALLBACKS,
    MAX_ORDER,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
    PageKind,
)
from mmkit.reference.buddy import CMA, MOVABLE, RECLAIMABLE, UNMOVABLE
from mmkit.semantics import FallbackRule
from mmkit.reference.events import record, rule
from mmkit.reference.lists import (
    list_add,
    list_add_tail,
    list_del,
    list_empty,
    list_first,
)
from mmkit.reference.migrate import (
    MIGRATE_PASSES,
    MIGRATEPAGE_SUCCESS,
    driver_of,
    folio_order,
    folio_splittable,
    migrate_pages,
    putback_movable_pages,
    split_folio_to_list,
    unmap_and_move,
    unmap_and_move_folio,
)
from mmkit.reference.owners import balloon_isolate, del_page_from_lru_list
from mmkit.reference.pcp import drain_all_pages, drain_local_pages
from mmkit.reference.predicates import (
    PageAnon,
    PageBalloon,
    PageIsolated,
    PageLRU,
    PageMovable,
    PagePrivate,
    SetPageIsolated,
    __PageMovable,
    clear_flag,
    flag_marker,
    set_flag,
    test,
)

COMPACT_CLUSTER_MAX = 32
EXTFRAG_THRESHOLD = 500
PAGE_ALLOC_COSTLY_ORDER = 3
ISOLATE = 5
WMARK_MIN, WMARK_LOW = 0, 1

# results, named as Sim reports them
SKIPPED, CONTINUE, PARTIAL, COMPLETE, CONTENDED, NOT_SUITABLE_ZONE = (
    "skipped", "continue", "success", "complete", "contended", "not_suitable_zone")

ISOLATE_NONE, ISOLATE_SUCCESS, ISOLATE_ABORT = 0, 1, 2
NOT_FRAMES = (PageKind.HOLE, PageKind.UNINIT)


@dataclass
class CompactControl:
    """``struct compact_control``: the lists are the simulation's migratepages and
    freepages heads."""

    zone: int
    order: int
    sync: bool
    ignore_skip_hint: bool
    migratetype: int = MOVABLE
    migrate_pfn: int = 0
    free_pfn: int = 0
    nr_migratepages: int = 0
    nr_freepages: int = 0
    nr_migrated: int = 0
    nr_failed: int = 0
    finish_pageblock: bool = False
    proactive: bool = False  # cc->proactive_compaction (v5.9)
    direct: bool = False  # cc->direct_compaction
    search_order: int | None = None  # cc->search_order: the order (compact_zone_order, kcompactd)
    fast_search_fail: int = 0  # v5.1
    fast_start_pfn: int = 0  # FAST_START_USED once reinit_migrate_pfn used it

    def __post_init__(self) -> None:
        if self.search_order is None:
            self.search_order = self.order


COMPACT_MAX_DEFER_SHIFT = 6
# proactive compaction (v5.9): HPAGE_PMD_ORDER, vm.compaction_proactiveness's default
COMPACTION_HPAGE_ORDER = PAGEBLOCK_ORDER
COMPACTION_PROACTIVENESS = 20


@dataclass
class ZoneCompaction:
    """A zone's compaction fields; -1 positions mean "reset" (invalid, start afresh)."""

    considered: int = 0
    defer_shift: int = 0
    order_failed: int = 0
    cached_migrate_async: int = -1
    cached_migrate_sync: int = -1
    cached_free: int = -1
    init_free: int = 0  # compact_init_free_pfn (v5.1), set where the skip bits are cleared

    def row(self) -> list[int]:
        return [self.considered, self.defer_shift, self.order_failed, self.cached_migrate_async,
                self.cached_migrate_sync, self.cached_free, self.init_free]


# ------------------------------------------------------------------ helpers
def pageblock_of(pfn: int) -> int:
    return pfn >> PAGEBLOCK_ORDER


def compound_order(s, pfn: int) -> int:
    """``page[1].compound_order`` of a head page; 0 for any other page."""
    if test(s.mem.pages[pfn], pg.PG_head):
        return s.mem.pages[pfn + 1].private
    return 0


def is_frame(s, pfn: int) -> bool:
    return s.mem.pages[pfn].kind not in NOT_FRAMES


def migrate_async_suitable(mt: int) -> bool:
    return mt in (MOVABLE, CMA)


def isolation_suitable(s, cc, pfn: int) -> bool:
    return cc.ignore_skip_hint or not s.mem.pageblock_skip[pageblock_of(pfn)]


def update_pageblock_skip(s, cc, valid_pfn, nr_isolated: int, migrate_scanner: bool) -> None:
    """v4.x: a pageblock scanned to its end without isolating a page, the hints honoured,
    is skipped next time, and the scanner's cached restart point moves past it (the
    migrate scanner's only up, the sync one only for sync compaction; the free scanner's
    only down). ``skip_hints_scanned`` (v5.1): the free scanner marks every block it
    scanned whole, hints ignored or not (the migrate scanner's rule is in
    ``isolate_migratepages_block``)."""
    if valid_pfn is None:
        return
    if not (s.v.skip_hints_scanned and not migrate_scanner) and (cc.ignore_skip_hint or nr_isolated):
        return
    s.mem.pageblock_skip[pageblock_of(valid_pfn)] = True
    if migrate_scanner:
        update_cached_migrate(s, cc, valid_pfn)
    else:
        zc = s.zc[cc.zone]
        zc.cached_free = min(zc.cached_free, valid_pfn)


def update_cached_migrate(s, cc, pfn: int) -> None:
    zc = s.zc[cc.zone]
    zc.cached_migrate_async = max(zc.cached_migrate_async, pfn)
    if cc.sync:
        zc.cached_migrate_sync = max(zc.cached_migrate_sync, pfn)


def test_and_set_skip(s, cc, pfn: int, no_set: bool) -> bool:
    """``test_and_set_skip`` (v5.1): at the first LRU page of a block, whether the block
    was already marked skip, marking it if not (nothing under ``ignore_skip_hint``)."""
    if cc.ignore_skip_hint:
        return False
    b = pageblock_of(pfn)
    skip = bool(s.mem.pageblock_skip[b])
    if not skip and not no_set:
        s.mem.pageblock_skip[b] = True
    return skip


def reset_cached_positions(s, z: int) -> None:
    zone = s.mem.zones[z]
    zc = s.zc[z]
    zc.cached_migrate_async = zc.cached_migrate_sync = zone.start
    zc.cached_free = (zone.end - 1) & ~(PAGEBLOCK_NR_PAGES - 1)


def reset_isolation_suitable(s, z: int) -> None:
    """``__reset_isolation_suitable``: every skip bit of the zone cleared, the scanners
    back at the zone's ends (the free scanner's is ``compact_init_free_pfn``, v5.1),
    ``compact_blockskip_flush`` cleared."""
    zone = s.mem.zones[z]
    for b in range(pageblock_of(zone.start), pageblock_of(zone.end - 1) + 1):
        s.mem.pageblock_skip[b] = False
    reset_cached_positions(s, z)
    s.zc[z].init_free = s.zc[z].cached_free
    s.blockskip_flush[z] = False


def compact_scanners_met(cc) -> bool:
    return pageblock_of(cc.free_pfn) <= pageblock_of(cc.migrate_pfn)


def fill_contig_page_info(s, z: int, order: int) -> tuple[int, int, int]:
    """``fill_contig_page_info``: free blocks, free pages, and the free blocks of ``order``
    those pages would make."""
    total = free = suitable = 0
    for o, blocks in enumerate(s.mem.zones[z].nr_free):
        total += blocks
        free += blocks << o
        if o >= order:
            suitable += blocks << (o - order)
    return total, free, suitable


def fragmentation_index(s, z: int, order: int) -> int:
    """``__fragmentation_index`` from ``fill_contig_page_info`` (SEMANTICS.md §5)."""
    total, free, suitable = fill_contig_page_info(s, z, order)
    if total == 0:
        return 0
    if suitable > 0:
        return -1000
    return 1000 - (1000 + free * 1000 // (1 << order)) // total


def extfrag_for_order(s, z: int, order: int) -> int:
    """``extfrag_for_order``: percent of the zone's free pages in blocks below ``order``."""
    _, free, suitable = fill_contig_page_info(s, z, order)
    return (free - (suitable << order)) * 100 // free if free else 0


def zone_present_pages(s, z: int) -> int:
    """``zone->present_pages``: the zone's frames that are not holes."""
    zone = s.mem.zones[z]
    return sum(1 for p in s.mem.pages[zone.start:zone.end] if p.kind != int(PageKind.HOLE))


def fragmentation_score_node(s) -> int:
    """``fragmentation_score_node``: the zones' ``extfrag_for_order`` at
    COMPACTION_HPAGE_ORDER, each weighted by its present pages over the node's + 1."""
    present = [zone_present_pages(s, z) for z in range(len(s.mem.zones))]
    node = sum(present)
    return sum(p * extfrag_for_order(s, z, COMPACTION_HPAGE_ORDER) // (node + 1)
               for z, p in enumerate(present) if p)


def fragmentation_score_wmark(low: bool) -> int:
    wmark_low = max(100 - COMPACTION_PROACTIVENESS, 5)
    return wmark_low if low else min(wmark_low + 10, 100)


# ------------------------------------------------------------------ migrate scanner
def balloon_page_isolate(s, page) -> bool:
    """v3.19-v4.5 ``balloon_page_isolate``: ``get_page_unless_zero``, ``trylock_page``,
    then ``balloon_page_movable`` (PageBalloon && PagePrivate) again under the lock: the
    page loses PagePrivate and leaves the balloon list, the reference kept."""
    if page.refcount == 0 or test(page, pg.PG_locked):
        return False
    page.refcount += 1
    if not (PageBalloon(s.v, page) and test(page, pg.PG_private)):
        page.refcount -= 1
        return False
    balloon_isolate(s, page)
    return True


def isolate_movable_page(s, page) -> int:
    """``isolate_movable_page``: a reference, the lockless test again, ``PageMovable``
    and not isolated under the page lock, the driver's ``isolate_page``, PG_isolated.
    Returns 1 isolated, 0 not, -1 oops: v3's PageMovable is a flag test, so a page that
    passes it with a NULL ``page->mapping`` has its driver called through NULL."""
    v = s.v
    if page.refcount == 0:
        return 0
    page.refcount += 1
    if not __PageMovable(v, page) or PageIsolated(v, page):
        page.refcount -= 1
        return 0
    if not PageMovable(v, page):
        page.refcount -= 1
        return -1 if flag_marker(v) and page.mapping >> 2 == 0 else 0
    if driver_of(s, page) == "balloon":
        balloon_isolate(s, page)
    SetPageIsolated(v, page)
    return 1


def isolate_nonlru(s, page) -> int:
    """The non-LRU branch: ``__PageMovable(page) && !PageIsolated(page)``, then
    ``isolate_movable_page``. A driver's page nobody isolated (no extra reference) that
    reads as isolated is a false positive of the variant's PG_isolated."""
    v = s.v
    if not __PageMovable(v, page):
        return 0
    if PageIsolated(v, page):
        if page.refcount == 1 and page.kind in (PageKind.BALLOON, PageKind.ZSMALLOC):
            record(s, page, "isolated_false_positive", rule("pg_isolated"))
        return 0
    return isolate_movable_page(s, page)


def isolate_balloon_v319(s, page) -> int:
    """v4.5's branch for a page that is not on the LRU: ``balloon_page_movable``
    (PageBalloon && PagePrivate) then ``balloon_page_isolate``. Another compactor may hold
    the page (the workload's concurrency rate): it has cleared PagePrivate. A page this
    branch does not take goes on to the generic test where the era has one."""
    v = s.v
    if not (PageBalloon(v, page) and PagePrivate(page)):
        return isolate_nonlru(s, page)
    held = s.rng.chance_ppm(s.concurrent_ppm)
    got = 0
    if held:
        clear_flag(page, pg.PG_private)
    elif balloon_page_isolate(s, page):
        got = 1
    if got == 0:
        got = isolate_nonlru(s, page)
    if held:
        set_flag(page, pg.PG_private)
    return got


def skip_isolation_on_order(order: int, target_order: int) -> bool:
    """``skip_isolation_on_order`` (v6.9): a folio of the target order or more is not
    worth moving (unless compact_memory asks, target -1), nor one of pageblock order."""
    if target_order != -1 and order >= target_order:
        return True
    return order >= PAGEBLOCK_ORDER


def lru_pinned(page) -> bool:
    """A pinned anonymous page (``page_count > page_mapcount`` with no ``page_mapping``)."""
    return PageAnon(page) and page.refcount > page.mapcount + 1


def isolate_lru_folio(s, page) -> bool:
    """An LRU page or folio head: not a pinned anonymous one, then
    ``__isolate_lru_page``: a reference and off its LRU list."""
    if lru_pinned(page):
        return False
    page.refcount += 1
    del_page_from_lru_list(s, page)
    return True


def isolate_migratepages_block(s, cc, low_pfn: int, end_pfn: int, head) -> int:
    """Scan [low_pfn, end_pfn) and isolate pages onto ``head`` until the batch is full.
    Returns where the scan stopped, or -1 after an oops.

    v4.5 tries the balloon branch before skipping compound pages (``balloon_branch_first``);
    v4.8 skips compound pages first, then tries the generic non-LRU branch.
    ``compact_count_skipped`` (v5.1): a free block or compound page stepped over counts
    all its pages as scanned (the balloon-first branch counts one, as v4.5 did).
    ``compact_large_folios`` (v6.9): compaction (not a contiguous range) isolates an LRU
    large folio that ``skip_isolation_on_order`` lets through, whole, counting its pages;
    one that cannot be isolated is stepped over, all its pages counted."""
    v = s.v
    pages = s.mem.pages
    nr_scanned = nr_isolated = 0
    valid = None
    count_skipped = v.compact_count_skipped
    folios = v.compact_large_folios and head is s.migratepages_head
    contig_folios = v.alloc_contig_thp and head is s.contig_head  # cc->alloc_contig (v5.7)
    # skip_hints_scanned (v5.1): valid_page only when the scan starts the block; a
    # contiguous range sets no skip bit (no_set_skip_hint)
    scanned_hints = v.skip_hints_scanned
    no_set = head is not s.migratepages_head
    block_start = low_pfn % PAGEBLOCK_NR_PAGES == 0 or low_pfn == s.mem.zones[cc.zone].start
    skip_updated = False

    def skip_block(page) -> bool:
        """test_and_set_skip at the first LRU page of the block: True to leave the block."""
        nonlocal skip_updated
        if not scanned_hints or skip_updated or valid is None or lru_pinned(page):
            return False
        skip_updated = True
        return test_and_set_skip(s, cc, valid, no_set) and not cc.finish_pageblock

    while low_pfn < end_pfn:
        pfn = low_pfn
        low_pfn += 1
        nr_scanned += 1
        if not is_frame(s, pfn):
            continue
        page = pages[pfn]
        if valid is None and (block_start or not scanned_hints):
            valid = pfn
        if s.mem.PageBuddy(pfn):
            order = page.private
            if 0 < order < MAX_ORDER:
                low_pfn += (1 << order) - 1
                if count_skipped:
                    nr_scanned += (1 << order) - 1
            continue
        is_lru = PageLRU(page)
        if v.balloon_branch_first:
            if not is_lru:
                got = isolate_balloon_v319(s, page)
                if got < 0:
                    return oops(s, page, nr_scanned)
                if got:
                    isolate_success(s, cc, page, head)
                    nr_isolated += 1
                    if cc.nr_migratepages >= COMPACT_CLUSTER_MAX and not cc.finish_pageblock:
                        break
                    continue
            if page.compound_head >= 0 or test(page, pg.PG_head):
                low_pfn += (1 << compound_order(s, pfn)) - 1
                continue
            if not is_lru:
                continue
        else:
            if page.compound_head >= 0:
                continue  # a tail: PageCompound, of order 0
            if test(page, pg.PG_head):
                nr = 1 << compound_order(s, pfn)
                low_pfn += nr - 1
                if not (is_lru and (contig_folios or (
                        folios and not skip_isolation_on_order(compound_order(s, pfn), cc.order)))):
                    if count_skipped:
                        nr_scanned += nr - 1
                    continue
                # a large folio compaction may move (v6.9): taken whole, or stepped over
                if skip_block(page):
                    low_pfn = end_pfn
                    break
                nr_scanned += nr - 1
                if not isolate_lru_folio(s, page):
                    continue
                isolate_success(s, cc, page, head, nr)
                nr_isolated += nr
                if cc.nr_migratepages >= COMPACT_CLUSTER_MAX and not cc.finish_pageblock:
                    break
                continue
            if not is_lru:
                got = isolate_nonlru(s, page)
                if got < 0:
                    return oops(s, page, nr_scanned)
                if not got:
                    continue
                isolate_success(s, cc, page, head)
                nr_isolated += 1
                if cc.nr_migratepages >= COMPACT_CLUSTER_MAX and not cc.finish_pageblock:
                    break
                continue
        # an LRU page: a pinned anonymous page would not migrate (page_count > page_mapcount)
        if skip_block(page):
            low_pfn = end_pfn
            break
        if not isolate_lru_folio(s, page):
            continue
        isolate_success(s, cc, page, head)
        nr_isolated += 1
        if cc.nr_migratepages >= COMPACT_CLUSTER_MAX and not cc.finish_pageblock:
            break
    low_pfn = min(low_pfn, end_pfn)
    if scanned_hints:
        # a block scanned whole that gave nothing, or that the scan finished, is marked
        # (hints ignored or not) unless test_and_set_skip did it, and the restart point
        # moves past it (update_cached_migrate)
        if low_pfn == end_pfn and not no_set and (not nr_isolated or cc.finish_pageblock):
            if valid is not None and not skip_updated:
                s.mem.pageblock_skip[pageblock_of(valid)] = True
            update_cached_migrate(s, cc, low_pfn)
    elif low_pfn == end_pfn:
        update_pageblock_skip(s, cc, valid, nr_isolated, True)
    s.vm["compact_migrate_scanned"] += nr_scanned
    s.vm["compact_isolated"] += nr_isolated
    return low_pfn


def isolate_success(s, cc, page, head, nr: int = 1) -> None:
    list_add(page, head)
    cc.nr_migratepages += nr
    record(s, page, "isolated")


def oops(s, page, nr_scanned: int) -> int:
    """The kernel oopses in ``isolate_movable_page``: compaction is over for this run."""
    record(s, page, "oops", rule("movable_marker"))
    s.oopsed = True
    s.vm["compact_migrate_scanned"] += nr_scanned
    return -1


def pageblock_pfn_to_page(s, start: int, end: int) -> bool:
    """``pageblock_pfn_to_page``: a pageblock whose first or last page frame has no
    struct page (a hole, memory not online) is passed over by both scanners, uncounted."""
    return is_frame(s, start) and is_frame(s, end - 1)


# ------------------------------------------------------------------ free-list searches (v5.1)
FAST_START_USED = -1


def freelist_scan_limit(cc) -> int:
    """How many free-list entries a fast search looks at, fewer after each failure."""
    return (COMPACT_CLUSTER_MAX >> min(63, cc.fast_search_fail)) + 1


def move_freelist_head(lst: list, i: int) -> None:
    """``move_freelist_head``: the free list rotated so its entry ``i`` is first."""
    lst[:] = lst[i:] + lst[:i]


def move_freelist_tail(lst: list, i: int) -> None:
    """``move_freelist_tail``: the free list rotated so its entry ``i`` is last."""
    lst[:] = lst[i + 1:] + lst[:i + 1]


def update_fast_start_pfn(cc, pfn: int) -> None:
    if cc.fast_start_pfn != FAST_START_USED and (cc.fast_start_pfn == 0 or pfn < cc.fast_start_pfn):
        cc.fast_start_pfn = pfn


def reinit_migrate_pfn(cc) -> int:
    if cc.fast_start_pfn in (0, FAST_START_USED):
        return cc.migrate_pfn
    cc.migrate_pfn = cc.fast_start_pfn
    cc.fast_start_pfn = FAST_START_USED
    return cc.migrate_pfn


def fast_find_migrateblock(s, cc) -> int:
    """``fast_find_migrateblock``: for an order above PAGE_ALLOC_COSTLY_ORDER, hints
    honoured, at a pageblock's start, the first MOVABLE free page of order ``order - 1``
    down to 3 (from each list's head, ``freelist_scan_limit`` entries in all) below the
    first half (at the zone's start) or eighth of the space between the scanners, in a
    pageblock not marked skip, is where the migrate scanner goes; none: the linear scan
    resumes (``reinit_migrate_pfn``)."""
    zone = s.mem.zones[cc.zone]
    pfn = cc.migrate_pfn
    if cc.ignore_skip_hint or cc.finish_pageblock:
        return pfn
    if pfn != zone.start and pfn % PAGEBLOCK_NR_PAGES:
        return pfn
    if cc.order <= PAGE_ALLOC_COSTLY_ORDER or (cc.direct and cc.migratetype != MOVABLE):
        return pfn
    limit = freelist_scan_limit(cc)
    nr_scanned = 0
    found = False
    distance = (cc.free_pfn - cc.migrate_pfn) >> 1
    if cc.migrate_pfn != zone.start:
        distance >>= 2
    high_pfn = (cc.migrate_pfn + distance) & ~(PAGEBLOCK_NR_PAGES - 1)
    order = cc.order - 1
    while order >= PAGE_ALLOC_COSTLY_ORDER and not found and nr_scanned < limit:
        if zone.nr_free[order]:
            lst = zone.free_list[order][MOVABLE]
            for i, free_pfn in enumerate(lst):
                nr_scanned += 1
                if nr_scanned - 1 >= limit:
                    move_freelist_tail(lst, i)
                    break
                if free_pfn < high_pfn:
                    if s.mem.pageblock_skip[pageblock_of(free_pfn)]:
                        continue
                    move_freelist_tail(lst, i)
                    update_fast_start_pfn(cc, free_pfn)
                    pfn = max(free_pfn & ~(PAGEBLOCK_NR_PAGES - 1), zone.start)
                    cc.fast_search_fail = 0
                    found = True
                    break
        order -= 1
    s.vm["compact_migrate_scanned"] += nr_scanned
    if not found:
        cc.fast_search_fail += 1
        pfn = reinit_migrate_pfn(cc)
    return pfn


def isolate_migratepages(s, cc) -> int:
    """``isolate_migratepages``: the next pageblock below the free scanner that has its
    pages, is not skipped (and, for async compaction, is MOVABLE or CMA), from where
    ``fast_find_migrateblock`` points with ``compact_fast_search``. With
    ``skip_hints_scanned`` (v5.1) the skip bit is tested where the scanner enters a block,
    not where it resumes one, nor in the block the fast search picked."""
    zone = s.mem.zones[cc.zone]
    entry_only = s.v.skip_hints_scanned
    low_pfn = fast_find_migrateblock(s, cc) if s.v.compact_fast_search else cc.migrate_pfn
    fast_find_block = low_pfn != cc.migrate_pfn and not cc.fast_search_fail
    end_pfn = (low_pfn + PAGEBLOCK_NR_PAGES) & ~(PAGEBLOCK_NR_PAGES - 1)
    while end_pfn <= cc.free_pfn:
        first = max(low_pfn & ~(PAGEBLOCK_NR_PAGES - 1), zone.start)
        block_end = min(end_pfn, zone.end)
        tested = not fast_find_block and (not entry_only or low_pfn <= first)
        if pageblock_pfn_to_page(s, first, block_end) and (not tested or isolation_suitable(s, cc, first)) and (
                cc.sync or migrate_async_suitable(s.mem.pageblock_mt[pageblock_of(first)])):
            low_pfn = isolate_migratepages_block(s, cc, max(low_pfn, first), block_end, s.migratepages_head)
            if low_pfn < 0:
                return ISOLATE_ABORT
            cc.migrate_pfn = low_pfn
            return ISOLATE_SUCCESS if cc.nr_migratepages else ISOLATE_NONE
        low_pfn = end_pfn
        end_pfn += PAGEBLOCK_NR_PAGES
        fast_find_block = False
    cc.migrate_pfn = low_pfn
    return ISOLATE_NONE


# ------------------------------------------------------------------ free scanner
def suitable_migration_target(s, pfn: int) -> bool:
    """Not a free block of pageblock order or more; a MOVABLE or CMA pageblock."""
    if s.mem.PageBuddy(pfn) and s.mem.pages[pfn].private >= PAGEBLOCK_ORDER:
        return False
    return migrate_async_suitable(s.mem.pageblock_mt[pageblock_of(pfn)])


def __isolate_free_page(s, z: int, pfn: int, order: int) -> int:
    """Take a free block out of the buddy, if the zone stays above its low watermark not
    counting free CMA pages (its min watermark counting them with
    ``isolate_free_min_wmark``, v4.9), the block counted; a block
    of pageblock_order - 1 or more makes its pageblocks MOVABLE unless they are ISOLATE
    or CMA."""
    mem = s.mem
    zone = mem.zones[z]
    mark = zone.wmark[WMARK_MIN if s.v.isolate_free_min_wmark else WMARK_LOW]
    # v4.9 counts free CMA pages (ALLOC_CMA), with the min watermark
    if not mem.watermark_ok(z, 0, mark + (1 << order), mem.variant.isolate_free_min_wmark):
        return 0
    mem.list_del(pfn)
    zone.nr_free[order] -= 1
    mem.rmv_page_order(pfn)
    if order >= PAGEBLOCK_ORDER - 1:
        for p in range(pfn, pfn + (1 << order), PAGEBLOCK_NR_PAGES):
            if s.v.fallback_rule == FallbackRule.CLAIM_OR_STEAL_ONE:
                # v6.10: mergeable types only, their free blocks moving with them
                if mem.pageblock_mt[pageblock_of(p)] < 3 and mem.move_freepages_block(z, p, MOVABLE) >= 0:
                    mem.pageblock_mt[pageblock_of(p)] = MOVABLE
            elif mem.pageblock_mt[pageblock_of(p)] not in (CMA, ISOLATE):
                mem.pageblock_mt[pageblock_of(p)] = MOVABLE
    return 1 << order


def freepages_add(s, pfn: int, order: int, isolated: int) -> None:
    """An isolated free block onto cc->freepages: whole at the tail of
    ``cc->freepages[order]`` (``compact_large_folios``), else split into order-0 pages,
    each ``list_add``-ed (``split_free_page``)."""
    mem = s.mem
    if s.v.compact_large_folios:
        for p in range(pfn, pfn + isolated):
            mem.pages[p].kind = int(PageKind.ISOLATED_FREE)
        mem.pages[pfn].private = order
        list_add_tail(mem.pages[pfn], s.freepages_order[order])
    else:
        for p in range(pfn, pfn + isolated):
            q = mem.pages[p]
            q.kind = int(PageKind.ISOLATED_FREE)
            q.refcount = 1
            list_add(q, s.freepages_head)


def isolate_freepages_block(s, cc, start: int, end: int, stride: int = 1, update_skip: bool = True) -> int:
    """Take the free blocks of [start, end) onto cc->freepages until there are as many
    free pages as pages to migrate; compound pages are passed by their order. Returns
    where the scan stopped.

    v4.5: each block is split into order-0 pages (``split_free_page``); a block the
    watermark refuses is stepped over. ``compact_large_folios`` (v6.9): the block stays
    whole on ``cc->freepages[order]`` (``set_page_private(page, order)``, at the tail)
    and a refusal ends the scan of the block. ``compact_count_skipped``: a compound page
    that ends inside the range, and a block isolated, count all their pages. ``free_scanner_stride``
    (v5.1): only every ``stride``-th page frame is looked at, counting from the end of
    the last one looked at (a compound page or an isolated block: its last page).
    ``update_skip``: a block scanned to its end goes through ``update_pageblock_skip``
    (else the caller marks it)."""
    mem = s.mem
    v = s.v
    count_skipped = v.compact_count_skipped
    nr_scanned = total = 0
    valid = None
    pfn = start
    while pfn < end:
        nr_scanned += 1
        if not is_frame(s, pfn):
            pfn += stride
            continue
        if valid is None:
            valid = pfn
        page = mem.pages[pfn]
        if test(page, pg.PG_head):
            n = 1 << compound_order(s, pfn)
            if not count_skipped:
                pfn += n - 1
            elif pfn + n <= end:
                nr_scanned += n - 1
                pfn += n - 1
            pfn += stride
            continue
        if not mem.PageBuddy(pfn):
            pfn += stride
            continue
        order = page.private
        isolated = __isolate_free_page(s, cc.zone, pfn, order)
        if not isolated:
            if v.free_isolate_fail_break:  # v4.8: if (!isolated) break
                break
            pfn += stride
            continue
        freepages_add(s, pfn, order, isolated)
        if count_skipped:
            nr_scanned += isolated - 1
        total += isolated
        cc.nr_freepages += isolated
        if cc.nr_migratepages <= cc.nr_freepages:
            pfn += isolated
            break
        pfn += isolated - 1 + stride
    pfn = min(pfn, end)
    if pfn == end and update_skip:
        update_pageblock_skip(s, cc, valid, total, False)
    s.vm["compact_free_scanned"] += nr_scanned
    s.vm["compact_isolated"] += total
    return pfn


def fast_isolate_around(s, cc, pfn: int) -> None:
    """``fast_isolate_around``: the rest of the taken block's pageblock, page by page
    (not for async direct compaction, nor with free pages enough); a pageblock scanned
    to its end is marked skip."""
    if cc.nr_freepages >= cc.nr_migratepages or (cc.direct and not cc.sync):
        return
    zone = s.mem.zones[cc.zone]
    block = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
    start, end = max(block, zone.start), min(block + PAGEBLOCK_NR_PAGES, zone.end)
    if not pageblock_pfn_to_page(s, start, end):
        return
    if isolate_freepages_block(s, cc, start, end, 1, update_skip=False) == end:
        s.mem.pageblock_skip[pageblock_of(start)] = True


def next_search_order(cc, order: int) -> int:
    """The orders below cc->order round robin from ``search_order``; -1 once round."""
    order -= 1
    if order < 0:
        order = cc.order - 1
    if order == cc.search_order:
        cc.search_order -= 1
        if cc.search_order < 0:
            cc.search_order = cc.order - 1
        return -1
    return order


def fast_isolate_freepages(s, cc) -> None:
    """``fast_isolate_freepages`` (v5.1), order above 0: the MOVABLE free lists below
    cc->order from ``search_order`` round robin, each walked from its tail for a limited
    number of entries; the first block in the top quarter of the space between the
    scanners is taken, else the highest seen in the top half; the list rotated past what
    was seen; a refused block ends the search. Found nothing at the scanner's start: the
    free scanner moves to the highest pageblock seen in the top half (direct compaction:
    else the half's bottom). The cached free position drops below the highest pageblock
    seen; the rest of the chosen pageblock is scanned (``fast_isolate_around``)."""
    if cc.order <= 0:
        return
    mem = s.mem
    zone = mem.zones[cc.zone]
    zc = s.zc[cc.zone]
    limit = max(1, freelist_scan_limit(cc) >> 1)
    nr_scanned = total_isolated = highest = 0
    page = None
    scan_start = False
    if cc.free_pfn >= zc.init_free:
        limit = PAGEBLOCK_NR_PAGES >> 1
        scan_start = True
    distance = cc.free_pfn - cc.migrate_pfn
    if distance >= 0:
        low_pfn = (cc.free_pfn - (distance >> 2)) & ~(PAGEBLOCK_NR_PAGES - 1)
        min_pfn = (cc.free_pfn - (distance >> 1)) & ~(PAGEBLOCK_NR_PAGES - 1)
    else:  # the kernel's unsigned distance wraps: both marks above every pfn
        low_pfn = min_pfn = 1 << 62
    low_pfn = max(low_pfn, min_pfn)
    cc.search_order = min(cc.order - 1, cc.search_order)
    order = cc.search_order
    while page is None and order >= 0:
        if zone.nr_free[order]:
            lst = zone.free_list[order][MOVABLE]
            order_scanned = 0
            high_pfn = 0
            stop = None  # where the walk stopped (None: it went round)
            for i in range(len(lst) - 1, -1, -1):
                pfn = lst[i]
                order_scanned += 1
                nr_scanned += 1
                if pfn >= highest:
                    highest = max(pfn & ~(PAGEBLOCK_NR_PAGES - 1), zone.start)
                if pfn >= low_pfn:
                    cc.fast_search_fail = 0
                    cc.search_order = order
                    page, stop = pfn, i
                    break
                if pfn >= min_pfn and pfn > high_pfn:
                    high_pfn = pfn
                    limit >>= 1
                if order_scanned >= limit:
                    stop = i
                    break
            if page is None and high_pfn:
                page = high_pfn
                stop = lst.index(high_pfn)
            if stop is not None:
                move_freelist_head(lst, stop)
            if page is not None:
                isolated = __isolate_free_page(s, cc.zone, page, order)
                if isolated:
                    freepages_add(s, page, order, isolated)
                    nr_scanned += isolated - 1
                    total_isolated += isolated
                    cc.nr_freepages += isolated
                else:
                    order = cc.search_order + 1
                    page = None
            if cc.nr_freepages >= cc.nr_migratepages:
                break
            if order_scanned >= limit:
                limit = max(1, limit >> 1)
        order = next_search_order(cc, order)
    if page is None:
        cc.fast_search_fail += 1
        if scan_start:
            if highest >= min_pfn:
                page = cc.free_pfn = highest
            elif cc.direct and min_pfn < len(mem.pages) and is_frame(s, min_pfn):
                if pageblock_pfn_to_page(s, min_pfn, min(min_pfn + PAGEBLOCK_NR_PAGES, zone.end)):
                    page = min_pfn
                cc.free_pfn = min_pfn
    if highest and highest >= zc.cached_free:
        zc.cached_free = highest - PAGEBLOCK_NR_PAGES
    s.vm["compact_free_scanned"] += nr_scanned
    s.vm["compact_isolated"] += total_isolated
    if page is not None:
        fast_isolate_around(s, cc, page)


def isolate_freepages(s, cc) -> None:
    """``isolate_freepages``: pageblocks from the free scanner down to the one above the
    migrate scanner's; remember where to restart. With ``free_isolate_fail_break`` a block
    whose isolation stopped early ends the scan (v4.8: "do not continue needlessly").
    ``compact_fast_search``: the free lists first; the scan only when that left no free
    page isolated."""
    if s.v.compact_fast_search:
        fast_isolate_freepages(s, cc)
        if cc.nr_freepages:
            return
    zone = s.mem.zones[cc.zone]
    block_start = cc.free_pfn & ~(PAGEBLOCK_NR_PAGES - 1)
    isolate_start = cc.free_pfn
    low_pfn = (cc.migrate_pfn + PAGEBLOCK_NR_PAGES) & ~(PAGEBLOCK_NR_PAGES - 1)
    sampled = s.v.free_scanner_stride
    stride = COMPACT_CLUSTER_MAX if sampled and not cc.sync else 1
    while block_start >= low_pfn:
        block_end = min(block_start + PAGEBLOCK_NR_PAGES, zone.end)
        first = max(block_start, zone.start)
        if (pageblock_pfn_to_page(s, first, block_end) and suitable_migration_target(s, first)
                and isolation_suitable(s, cc, first)):
            had = cc.nr_freepages
            stop = isolate_freepages_block(s, cc, max(isolate_start, first), block_end, stride)
            if cc.nr_freepages >= cc.nr_migratepages:
                cc.free_pfn = block_start - PAGEBLOCK_NR_PAGES if stop >= block_end else stop
                return
            if s.v.free_isolate_fail_break and stop < block_end:
                cc.free_pfn = stop
                return
            if sampled:  # "Adjust stride depending on isolation"
                stride = 1 if cc.nr_freepages > had else min(COMPACT_CLUSTER_MAX, stride * 2)
        block_start -= PAGEBLOCK_NR_PAGES
        isolate_start = block_start
    cc.free_pfn = block_start


def compaction_alloc(s, cc):
    """The next page of cc->freepages, isolating more when it is empty."""
    if list_empty(s.freepages_head):
        isolate_freepages(s, cc)
        if list_empty(s.freepages_head):
            return None
    page = list_first(s.freepages_head)
    list_del(page)
    cc.nr_freepages -= 1
    return page


def compaction_free(s, cc, page) -> None:
    list_add(page, s.freepages_head)
    cc.nr_freepages += 1


def release_freepages(s, head) -> int:
    """Every page left on a private free list back to the buddy; the highest pfn."""
    high = -1
    while not list_empty(head):
        page = list_first(head)
        if not list_del(page):
            break
        page.refcount = 0
        s.mem.free_pages(page.pfn, 0)
        high = max(high, page.pfn)
    return high


# ------------------------------------------------------------------ large folios (v6.9)
def compaction_alloc_folio(s, cc, order: int):
    """v6.9 ``compaction_alloc`` for a folio of ``order``: the first block of the
    smallest non-empty ``cc->freepages[o]``, o >= order, split down to the order (each
    upper half onto the list of its order, ``page_private`` its order); when every list
    is empty, isolate once more. None when that found nothing."""
    has_isolated = False
    while True:
        start = next((o for o in range(order, MAX_ORDER) if not list_empty(s.freepages_order[o])), None)
        if start is not None:
            break
        if has_isolated:
            return None
        isolate_freepages(s, cc)
        has_isolated = True
    page = list_first(s.freepages_order[start])
    list_del(page)
    pages = s.mem.pages
    while start > order:
        start -= 1
        half = pages[page.pfn + (1 << start)]
        list_add(half, s.freepages_order[start])
        half.private = start
    page.private = 0
    page.refcount = 1  # post_alloc_hook, set_page_refcounted
    cc.nr_freepages -= 1 << order
    cc.nr_migratepages -= 1 << order
    return page


def compaction_free_folio(s, cc, page, order: int) -> None:
    """v6.9 ``compaction_free``: an unused target back onto ``cc->freepages[order]``."""
    page.refcount = 0
    page.private = order
    list_add(page, s.freepages_order[order])
    cc.nr_freepages += 1 << order
    cc.nr_migratepages += 1 << order


def release_free_list(s) -> int:
    """v6.9 ``release_free_list`` for orders 1..10 (order 0 is ``release_freepages``):
    each block back to the buddy whole; the highest pfn, or -1."""
    high = -1
    for order in range(1, MAX_ORDER):
        head = s.freepages_order[order]
        while not list_empty(head):
            page = list_first(head)
            if not list_del(page):
                break
            page.refcount = 0
            page.private = 0
            s.mem.free_pages(page.pfn, order)
            high = max(high, page.pfn)
    return high


def migrate_one_folio(s, cc, page, newpage, order: int, last_pass: bool, put_new=None) -> int:
    """One folio into its target; a failed one gives the target back (to cc->freepages,
    or through ``put_new``). The pages moved."""
    if order == 0:
        rc = unmap_and_move(s, page, newpage)
    else:
        rc = unmap_and_move_folio(s, page, newpage, order)
    if rc == MIGRATEPAGE_SUCCESS:
        return 1 << order
    if put_new is not None:
        put_new(newpage, order)
    else:
        compaction_free_folio(s, cc, newpage, order)
    if last_pass:
        record(s, page, "migrate_failed")
    return 0


def migrate_folios(s, cc, head, get_new=None, put_new=None) -> bool:
    """v6.9 ``migrate_pages`` for compaction: every folio gets a target of its own order
    (from cc->freepages, or ``get_new(page, order)`` / ``put_new(page, order)``: a
    contiguous range's targets from the allocator).
    A large folio that gets none is split (``try_split_folio``) onto the split list,
    whose order-0 folios get one try after the rest (MIGRATE_ASYNC, one pass); a folio
    that cannot be split, or an order-0 one that gets none, is -ENOMEM: migration stops,
    the split folios are not tried. What is left goes back on ``head`` (the split folios
    after the rest) for the caller's putback. Returns True on -ENOMEM."""
    split = s.split_head
    succeeded = 0
    failed_pages = 0  # stats->nr_failed_pages
    nomem = False
    for npass in range(MIGRATE_PASSES):
        retry = retry_pages = 0
        page = head.lru_next
        while page is not head:
            nxt = page.lru_next
            order = folio_order(s, page)
            newpage = compaction_alloc_folio(s, cc, order) if get_new is None else get_new(page, order)
            if newpage is None:
                if order > 0 and folio_splittable(page):
                    split_folio_to_list(s, page, order, split)
                    page = nxt
                    continue
                nomem = True
                failed_pages += (1 << order) + retry_pages
                break
            got = migrate_one_folio(s, cc, page, newpage, order, npass == MIGRATE_PASSES - 1, put_new)
            succeeded += got
            if not got:
                retry += 1
                retry_pages += 1 << order
            page = nxt
        if nomem or not retry:
            break
    if not nomem:
        failed_pages += retry_pages
        # the split folios: one pass, MIGRATE_ASYNC; its -ENOMEM is not the caller's
        retry_pages = 0
        page = split.lru_next
        while page is not split:
            nxt = page.lru_next
            newpage = compaction_alloc_folio(s, cc, 0) if get_new is None else get_new(page, 0)
            if newpage is None:
                failed_pages += 1
                break
            got = migrate_one_folio(s, cc, page, newpage, 0, True, put_new)
            succeeded += got
            if not got:
                retry_pages += 1
            page = nxt
        failed_pages += retry_pages
    while not list_empty(split):
        page = list_first(split)
        if not list_del(page):
            break
        list_add_tail(page, head)
    failed = failed_pages
    s.vm["pgmigrate_success"] += succeeded
    s.vm["pgmigrate_fail"] += failed
    cc.nr_migrated += succeeded
    cc.nr_failed += failed
    return nomem


# ------------------------------------------------------------------ compact_zone
def cc_alloc_cma(cc) -> bool:
    """ALLOC_CMA in cc->alloc_flags: the allocator's own compaction for a movable request;
    kcompactd and v4.5 kswapd ask with UNMOVABLE (GFP_KERNEL, gfp 0) and no ALLOC_CMA."""
    return cc.direct and cc.migratetype == MOVABLE


def compaction_suitable(s, z: int, order: int, alloc_cma: bool, async_: bool) -> str:
    """``__compaction_suitable``: order -1 always goes on; a suitable page already free
    is success; below the order-0 low watermark plus 2 << order it is skipped; a failure
    from lack of memory rather than fragmentation (fragindex <= 500; modern kernels ask
    only above PAGE_ALLOC_COSTLY_ORDER) is not worth compacting. ``compaction_min_wmark``
    (v6.x): the caller's min watermark instead of the low one, and for costly orders the
    gap grows by low - min. Free CMA pages count for the caller that has ALLOC_CMA, and
    in the order-0 test for every caller from v4.9 (``isolate_free_min_wmark``); v6.13:
    an async costly request without ALLOC_CMA needs the watermark plus the gap outside
    CMA."""
    if order < 0:
        return CONTINUE
    wmark = s.mem.zones[z].wmark
    gap = 2 << order
    if s.v.compaction_min_wmark:
        mark = wmark[WMARK_MIN]
        if order > PAGE_ALLOC_COSTLY_ORDER:
            gap += wmark[WMARK_LOW] - mark
    else:
        mark = wmark[WMARK_LOW]
    if s.mem.watermark_ok(z, order, mark, alloc_cma):
        return PARTIAL
    if s.v.compaction_min_wmark and order > PAGE_ALLOC_COSTLY_ORDER and async_ and not alloc_cma:
        if not s.mem.watermark_ok(z, 0, mark + (2 << order), False):
            return SKIPPED
    if not s.mem.watermark_ok(z, 0, mark + gap, alloc_cma or s.v.isolate_free_min_wmark):
        return SKIPPED
    if not s.v.extfrag_costly_only or order > PAGE_ALLOC_COSTLY_ORDER:
        if 0 <= fragmentation_index(s, z, order) <= EXTFRAG_THRESHOLD:
            return NOT_SUITABLE_ZONE
    return CONTINUE


def can_steal_fallback(order: int, start_mt: int) -> bool:
    return order >= PAGEBLOCK_ORDER // 2 or start_mt in (RECLAIMABLE, UNMOVABLE)


def compact_finished(s, cc) -> str:
    """``compact_finished``: the scanners met (COMPLETE); otherwise, for a real order,
    success once the watermark holds and a free page of the order is on the
    migratetype's list (or CMA's, or one it may steal). ``__compact_finished``'s
    NO_SUITABLE_PAGE means go on. ``compact_finished_aligned`` (v4.12): only with the
    migrate scanner at a pageblock boundary; ``compact_finished_low_wmark`` (v4.x): the
    watermark test first."""
    z = cc.zone
    if compact_scanners_met(cc):
        return COMPLETE
    if cc.proactive:  # v5.9: until the zone's own score is at the low mark
        low = fragmentation_score_wmark(True)
        return CONTINUE if extfrag_for_order(s, z, COMPACTION_HPAGE_ORDER) > low else PARTIAL
    if cc.order < 0:
        return CONTINUE
    if s.v.compact_finished_aligned and cc.migrate_pfn % PAGEBLOCK_NR_PAGES:
        return CONTINUE
    zone = s.mem.zones[z]
    if s.v.compact_finished_low_wmark and not s.mem.watermark_ok(z, cc.order, zone.wmark[WMARK_LOW],
                                                                  cc_alloc_cma(cc)):
        return CONTINUE
    mt = cc.migratetype
    for o in range(cc.order, MAX_ORDER):
        if zone.free_list[o][mt]:
            return PARTIAL
        if mt == MOVABLE and zone.free_list[o][CMA]:
            return PARTIAL
        if zone.nr_free[o] and can_steal_fallback(o, mt):
            if any(fmt >= 0 and zone.free_list[o][fmt] for fmt in FALLBACKS[mt]):
                return PARTIAL
    return CONTINUE


def compact_zone(s, cc) -> str:
    """Isolate a batch, migrate it, put back what failed, until compact_finished says
    stop; free pages left over go back to the buddy. The scanners start where the
    zone's last run left them."""
    z = cc.zone
    if s.oopsed:
        return CONTENDED
    ret = compaction_suitable(s, z, cc.order, cc_alloc_cma(cc), not cc.sync)
    if ret != CONTINUE:
        return ret
    # on the retry after the longest deferral, before v4.x's compact_memory
    # (__compact_pgdat), and at the first run honouring the hints after a complete one
    if (compaction_restarting(s, z, cc.order)
            or (cc.ignore_skip_hint and cc.order < 0 and not s.v.skip_hints_scanned)
            or (not cc.ignore_skip_hint and s.blockskip_flush[z])):
        reset_isolation_suitable(s, z)
    zone = s.mem.zones[z]
    zc = s.zc[z]
    last_block = (zone.end - 1) & ~(PAGEBLOCK_NR_PAGES - 1)
    if cc.ignore_skip_hint:
        cc.migrate_pfn, cc.free_pfn = zone.start, last_block
    else:
        if not zone.start <= zc.cached_free < zone.end:
            zc.cached_free = last_block
        if not zone.start <= (zc.cached_migrate_sync if cc.sync else zc.cached_migrate_async) < zone.end:
            zc.cached_migrate_async = zc.cached_migrate_sync = zone.start
        cc.migrate_pfn = zc.cached_migrate_sync if cc.sync else zc.cached_migrate_async
        cc.free_pfn = zc.cached_free
    cc.fast_start_pfn = 0

    def get_new(page):
        return compaction_alloc(s, cc)

    def put_new(page):
        compaction_free(s, cc, page)

    ret = compact_finished(s, cc)
    last_migrated_pfn = 0
    drain_pfn = 0  # v4.x: where migration may have freed pages to this CPU's lists (0: none)
    while ret == CONTINUE:
        # v5.1 rescan / v6.2 finish_pageblock: back in the block isolated from last time,
        # isolate all the rest of it
        cc.finish_pageblock = (s.v.compact_finish_pageblock
                               and pageblock_of(last_migrated_pfn) == pageblock_of(cc.migrate_pfn))
        isolate_start_pfn = cc.migrate_pfn
        r = isolate_migratepages(s, cc)
        if r == ISOLATE_SUCCESS:
            last_migrated_pfn = max(zone.start, (cc.migrate_pfn - 1) & ~(PAGEBLOCK_NR_PAGES - 1))
            # v4.x: the first isolation since the flush; v6.x: last_migrated_pfn itself
            if not s.v.compact_finish_pageblock and not drain_pfn:
                drain_pfn = isolate_start_pfn
        if r == ISOLATE_ABORT:
            ret = CONTENDED
            putback_movable_pages(s, s.migratepages_head)
            cc.nr_migratepages = 0
            break
        if r == ISOLATE_SUCCESS:
            if s.v.compact_large_folios:
                nomem = migrate_folios(s, cc, s.migratepages_head)
            else:
                ok, failed, nomem = migrate_pages(s, s.migratepages_head, get_new, put_new)
                cc.nr_migrated += ok
                cc.nr_failed += failed
            cc.nr_migratepages = 0
            if not list_empty(s.migratepages_head):
                putback_movable_pages(s, s.migratepages_head)
                if nomem and not compact_scanners_met(cc):
                    ret = CONTENDED
                    break
        # check_drain: the migrate scanner has left the cc->order aligned block it last
        # migrated from: this CPU's lists of the zone go to the buddy (drain_local_pages),
        # so the pages migration freed can merge. Not for order -1.
        flush_pfn = last_migrated_pfn if s.v.compact_finish_pageblock else drain_pfn
        if cc.order > 0 and flush_pfn and s.mem.cpus:
            if flush_pfn < cc.migrate_pfn & ~((1 << cc.order) - 1):
                drain_local_pages(s.mem, z)
                if s.v.compact_finish_pageblock:  # v6.x: the flush zeroes last_migrated_pfn
                    last_migrated_pfn = 0
                else:
                    drain_pfn = 0
        ret = compact_finished(s, cc)
    if ret == COMPLETE:
        reset_cached_positions(s, z)
        s.blockskip_flush[z] = True
    high = release_freepages(s, s.freepages_head)
    if s.v.compact_large_folios:
        high = max(high, release_free_list(s))
    if high >= 0 and not cc.ignore_skip_hint and ret != COMPLETE:
        zc.cached_free = max(zc.cached_free, high & ~(PAGEBLOCK_NR_PAGES - 1))
    cc.nr_freepages = 0
    return ret


# ------------------------------------------------------------------ deferral
def compaction_deferred(s, z: int, order: int) -> bool:
    """After failures, compaction of the zone at this order or more is tried only once
    in 2**compact_defer_shift requests."""
    zc = s.zc[z]
    limit = 1 << zc.defer_shift
    if order < zc.order_failed:
        return False
    zc.considered = min(zc.considered + 1, limit)
    return zc.considered < limit


def compaction_restarting(s, z: int, order: int) -> bool:
    """``compaction_restarting``: deferred as far as it goes for this order, and every
    deferred request counted; ``compact_zone`` then clears the zone's skip bits."""
    zc = s.zc[z]
    if order < 0 or order < zc.order_failed:
        return False
    return zc.defer_shift == COMPACT_MAX_DEFER_SHIFT and zc.considered >= 1 << zc.defer_shift


def defer_compaction(s, z: int, order: int) -> None:
    zc = s.zc[z]
    zc.considered = 0
    zc.defer_shift = min(zc.defer_shift + 1, COMPACT_MAX_DEFER_SHIFT)
    zc.order_failed = min(zc.order_failed, order)


def compaction_defer_reset(s, z: int, order: int, alloc_success: bool) -> None:
    zc = s.zc[z]
    if alloc_success:
        zc.considered = 0
        zc.defer_shift = 0
    if order >= zc.order_failed:
        zc.order_failed = order + 1


def compaction_succeeded(s, z: int, order: int, ret: str, alloc_cma: bool) -> bool:
    """After ``compact_zone``: v6.x trusts its COMPACT_SUCCESS (``compaction_min_wmark``);
    v4.5 tests the zone's low watermark at the order, with the caller's ALLOC_CMA."""
    if s.v.compaction_min_wmark:
        return ret == PARTIAL
    return s.mem.watermark_ok(z, order, s.mem.zones[z].wmark[WMARK_LOW], alloc_cma)


def kcompactd_do_work(s, order: int, zone_hi: int) -> None:
    """``kcompactd_do_work`` (v4.6): every zone from the lowest up to ``zone_hi`` that is
    not deferred and is suitable, sync-light, with the era's ``ignore_skip_hint``; success
    resets the zone's deferral, a run to the end without it defers the zone (and, with
    ``kcompactd_drain``, v6.x, drains every CPU's lists of the zone)."""
    for z in range(zone_hi + 1):
        if compaction_deferred(s, z, order):
            continue
        if compaction_suitable(s, z, order, False, False) != CONTINUE:
            continue
        cc = CompactControl(zone=z, order=order, sync=True, ignore_skip_hint=s.v.kcompactd_ignore_skip_hint,
                            migratetype=UNMOVABLE)  # GFP_KERNEL: no ALLOC_CMA
        ret = compact_zone(s, cc)
        if compaction_succeeded(s, z, order, ret, False):
            compaction_defer_reset(s, z, order, False)
        elif ret == COMPLETE:
            defer_compaction(s, z, order)
        if s.v.kcompactd_drain and ret == COMPLETE:
            drain_all_pages(s.mem, z)  # v6.x: pages stranded on per-CPU lists may merge


def proactive_compaction_check(s) -> str:
    """kcompactd's proactive check (v5.9): above the high mark, ``compact_node(pgdat,
    true)`` (every populated zone, order -1, sync-light, skip hints ignored, until the
    zone's score is at the low mark). Returns "not needed", "progress" or "no progress"
    (the score did not go down)."""
    prev = fragmentation_score_node(s)
    if prev <= fragmentation_score_wmark(False):
        return "not needed"
    for z in range(len(s.mem.zones)):
        if zone_present_pages(s, z):
            compact_zone(s, CompactControl(zone=z, order=-1, sync=True, ignore_skip_hint=True,
                                           migratetype=MOVABLE, proactive=True))
    return "no progress" if fragmentation_score_node(s) >= prev else "progress"


def try_to_compact_pages(s, order: int, mt: int, zone_hi: int, sync: bool, direct: bool = True) -> int:
    """Each zone down the zonelist whose compaction is not deferred, until one reaches
    its low watermark at ``order`` (that zone is returned). A sync run that went through
    the whole zone and failed defers the zone's next ones. ``direct``: the allocator's
    own (cc->direct_compaction), not v4.5 kswapd's."""
    for z in range(zone_hi, -1, -1):
        if compaction_deferred(s, z, order):
            continue
        cc = CompactControl(zone=z, order=order, sync=sync, ignore_skip_hint=False, migratetype=mt, direct=direct)
        ret = compact_zone(s, cc)
        if compaction_succeeded(s, z, order, ret, cc_alloc_cma(cc)):
            compaction_defer_reset(s, z, order, False)
            return z
        if sync and ret == COMPLETE:
            defer_compaction(s, z, order)
    return -1
