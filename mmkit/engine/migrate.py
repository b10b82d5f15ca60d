"""Migration (``mm/migrate.c``): ``isolate_movable_page``, ``migrate_pages`` and its
loop over the isolated pages, ``unmap_and_move``, ``move_to_new_page`` and the routes
that release pages afterwards, each read from the Variant (SEMANTICS.md §4.2-§4.3);
``putback_movable_pages`` for what is left.

The new page takes the old one's identity (kind, owner, flags as ``migrate_page_copy``
copies them); the old page is freed. Where the variant's test sends a page down the
path meant for another kind, the truth beside the flags says so and an event is logged.
Compaction's targets come from ``compaction_alloc`` (``compaction.py``, called by name
where the kernel calls a function pointer); a contiguous range's from the page allocator
(``alloc_target_outside``).
"""
from __future__ import annotations

from mmkit.engine.jit import kernel

from mmkit.engine.alloc import alloc_pages, free_pages, free_the_page
from mmkit.engine.buddy import MOVABLE, WMARK_HIGH, WMARK_MIN
from mmkit.engine.pageflags import set_page_kind
from mmkit.engine.lists import list_add, list_add_tail, list_del, list_first, misc_head
from mmkit.engine.owners import (
    BALLOON_ID,
    balloon_isolate,
    balloon_page_delete,
    balloon_page_insert,
    balloon_putback,
    del_page_from_lru_list,
    put_page,
    putback_lru_page,
    zs_mark_page,
    zs_replace_page,
)
from mmkit.engine.predicates import (
    MM_OPS,
    TY_OFFLINE,
    TY_ZSMALLOC,
    ClearPageIsolated,
    SetPageIsolated,
    PageBalloon,
    PageIsolated,
    __ClearPageMovable,
    __PageMovable,
    marker_movable,
    page_has_movable_ops,
    test_bit,
    typed_era,
)
from mmkit.engine.reclaim import shrink_zone
from mmkit.engine.state import (
    CC_FAILED,
    CC_MIGRATED,
    EV_MIGRATE_FAILED,
    HEAD_SPLIT,
    VM_PGMIGRATE_FAIL,
    VM_PGMIGRATE_SUCCESS,
    EV_DEFLATE_RACE,
    EV_LIST_CORRUPTION,
    EV_LOST_FROM_LRU,
    EV_LRU_CORRUPTION,
    EV_MIGRATED,
    EV_MISROUTED_PUTBACK,
    EV_PUT_PAGE_NEWPAGE,
    EV_PUTBACK_LRU,
    EV_PUTBACK_MOVABLE,
    EV_RELEASED_FALSE_POSITIVE,
    HEAD_DEFLATE,
    REPLAY_TAG_BASE,
    RULE_NONE,
    ST_BALLOON_ISOLATED,
    ST_BALLOON_PAGES,
    ST_FAIL_PPM,
    ST_RACE_PPM,
    VM_BALLOON_DEFLATE,
    VM_BALLOON_MIGRATE,
    ZS_HUGE_CLASS,
    chance_ppm,
    record,
)
from mmkit.model.encodings import MAPPING_ID_BALLOON, MAPPING_ID_ZSMALLOC, PAGE_BALLOON_MAPCOUNT_VALUE
from mmkit.model.flags import PG_dirty, PG_head, PG_lru, PG_locked, PG_private, PG_writeback
from mmkit.model.kinds import PageKind
from mmkit.semantics.rules import BalloonProtocol, FailureRoute, NewpageRoute
from mmkit.semantics.variant import (
    F_ALLOC_CONTIG_THP,
    F_BALLOON_DEFLATE_LIST,
    F_BALLOON_PROTOCOL,
    F_COMPACT_LARGE_FOLIOS,
    F_FAILURE_ROUTE,
    F_MOVABLE_MARKER,
    F_NEWPAGE_ROUTE,
    F_RELEASED_IF_NOT_ISOLATED,
)

K_ANON = int(PageKind.ANON)
K_FILE = int(PageKind.FILE)
K_BALLOON = int(PageKind.BALLOON)
K_ZSMALLOC = int(PageKind.ZSMALLOC)
K_KERNEL = int(PageKind.KERNEL)
K_ISOLATED_FREE = int(PageKind.ISOLATED_FREE)
NR_PAGE_BALLOON = int(NewpageRoute.PAGE_BALLOON)
NR_PAGE_MOVABLE = int(NewpageRoute.PAGE_MOVABLE)
NR_BALLOON_OR_MOVABLE = int(NewpageRoute.BALLOON_OR_PAGE_MOVABLE)
NR_MAPPING_BIT = int(NewpageRoute.MAPPING_BIT)
NR_SOURCE_IS_LRU = int(NewpageRoute.SOURCE_IS_LRU)
FR_V45 = int(FailureRoute.V4_5)
FR_V3_02 = int(FailureRoute.V3_02)
FR_V3_04 = int(FailureRoute.V3_04)
BP_PAGE_PRIVATE = int(BalloonProtocol.PAGE_PRIVATE)

MIGRATEPAGE_SUCCESS = 0
EAGAIN = 1
ENOMEM = 2
DRIVER_NONE = 0
DRIVER_BALLOON = 1
DRIVER_ZSMALLOC = 2
MIGRATE_PASSES = 10

# the flags migrate_page_copy carries to the new page: everything but PG_lru, PG_locked
# and PG_head (compound pages are not migrated here)
_NOT_COPIED = (1 << PG_lru) | (1 << PG_locked) | (1 << PG_head)
_COPY_MASK = 0xFFFFFFFF ^ _NOT_COPIED
_SPLIT_MASK = 0xFFFFFFFF ^ ((1 << PG_head) | (1 << PG_private))


@kernel(inline="always")
def is_lru_kind(kind):
    return kind == K_ANON or kind == K_FILE


@kernel(inline="always")
def driver_of(A, vc, pfn):
    """Which driver's ``address_space_operations`` the kernel would call for this page:
    by ``page->mapping`` (v3, v4.8) or by the page type (movable_ops era)."""
    if vc[F_MOVABLE_MARKER] == MM_OPS or typed_era(vc):
        mc = A.mapcount[pfn]
        if mc == TY_OFFLINE:
            return DRIVER_BALLOON
        if mc == TY_ZSMALLOC:
            return DRIVER_ZSMALLOC
        return DRIVER_NONE
    mid = A.mapping[pfn] >> 2
    if mid == MAPPING_ID_BALLOON:
        return DRIVER_BALLOON
    if mid == MAPPING_ID_ZSMALLOC:
        return DRIVER_ZSMALLOC
    if A.mapcount[pfn] == PAGE_BALLOON_MAPCOUNT_VALUE and A.private[pfn] == BALLOON_ID:
        return DRIVER_BALLOON  # the v3.19 protocol: no mapping; page->private is the balloon
    return DRIVER_NONE


# ------------------------------------------------------------------ releasing pages
@kernel(inline="always")
def route_putback_lru(A, vc, S, pfn, rule):
    """``putback_lru_page`` with the truth checked: a driver's page here is a misroute."""
    kind = A.kind[pfn]
    if is_lru_kind(kind):
        record(S, A, pfn, EV_PUTBACK_LRU, rule, 0)
    else:
        record(S, A, pfn, EV_MISROUTED_PUTBACK, rule, 0)
        if kind == K_BALLOON or kind == K_ZSMALLOC:
            record(S, A, pfn, EV_LRU_CORRUPTION, rule, 0)
    putback_lru_page(A, pfn)


@kernel
def driver_putback(A, vc, S, pfn, rule):
    """``mapping->a_ops->putback_page`` (balloon or zsmalloc), then PG_isolated cleared
    and the isolation reference dropped (``putback_movable_page``)."""
    d = driver_of(A, vc, pfn)
    if d == DRIVER_BALLOON:
        balloon_putback(A, vc, S, pfn)
    ClearPageIsolated(A, vc, pfn)
    record(S, A, pfn, EV_PUTBACK_MOVABLE, rule, 0)
    put_page(A, vc, pfn)


@kernel
def putback_movable_pages(A, vc, S, head_id):
    """``putback_movable_pages`` (and ``unmap_and_move``'s permanent-failure path): return
    every page left on the list by the variant's failure route (§4.3)."""
    head = misc_head(A, head_id)
    r = vc[F_FAILURE_ROUTE]
    while True:
        pfn = list_first(A, head)
        if pfn < 0 or not list_del(A, pfn):  # refused: a broken list ends the drain
            break
        if (r == FR_V45 or r == FR_V3_02) and PageBalloon(A, vc, pfn):
            # the v3.19 protocol: balloon_page_putback
            balloon_putback(A, vc, S, pfn)
            record(S, A, pfn, EV_PUTBACK_MOVABLE, F_FAILURE_ROUTE, 0)
            put_page(A, vc, pfn)
        elif r == FR_V45:
            route_putback_lru(A, vc, S, pfn, F_FAILURE_ROUTE)
        elif r == FR_V3_02 or r == FR_V3_04:
            if marker_movable(A, vc, pfn):
                if PageIsolated(A, vc, pfn):
                    driver_putback(A, vc, S, pfn, F_FAILURE_ROUTE)
                else:
                    __ClearPageMovable(A, vc, pfn)
                    put_page(A, vc, pfn)
            else:
                route_putback_lru(A, vc, S, pfn, F_FAILURE_ROUTE)
        else:  # v4.8, v6.18: cheap __PageMovable, then under the page lock
            if __PageMovable(A, vc, pfn):
                if page_has_movable_ops(A, vc, pfn):
                    driver_putback(A, vc, S, pfn, F_FAILURE_ROUTE)
                else:
                    if A.kind[pfn] == K_BALLOON or A.kind[pfn] == K_ZSMALLOC:
                        # the driver still owns it, but no putback_page is called: a
                        # v3.19-protocol balloon page under a route without the balloon
                        # branch stays off its list (a user-built mix)
                        record(S, A, pfn, EV_MISROUTED_PUTBACK, F_FAILURE_ROUTE, 0)
                    ClearPageIsolated(A, vc, pfn)
                    put_page(A, vc, pfn)
            else:
                route_putback_lru(A, vc, S, pfn, F_FAILURE_ROUTE)


@kernel
def release_pages_balloon(A, vc, S):
    """``release_pages_balloon``: walk the deflated pages and drop the balloon's
    reference. A node whose neighbour does not point back is D-2019's list corruption."""
    head = misc_head(A, HEAD_DEFLATE)
    prev = head
    node = A.lru_next[head]
    n = A.flags.shape[0]
    while node != head:
        if node < 0 or node >= n or A.lru_prev[node] != prev:
            # list_del corruption: the page was threaded onto another list meanwhile
            bad = node if 0 <= node < n else prev
            record(S, A, bad, EV_LIST_CORRUPTION, F_NEWPAGE_ROUTE, 0)
            if 0 <= node < n:
                if test_bit(A, node, PG_lru):
                    del_page_from_lru_list(A, node)
                else:
                    list_del(A, node)
                put_page(A, vc, node)
            break
        nxt = A.lru_next[node]
        list_del(A, node)
        put_page(A, vc, node)
        prev = head
        node = nxt
    A.lru_next[head] = head
    A.lru_prev[head] = head


@kernel
def deflate_newpage(A, vc, S, newpage):
    """A deflate that lands between ``unlock_page(newpage)`` and the newpage test
    (D-2019): the balloon dequeues the new page and clears its marks; the driver keeps
    it on its deflate list (``balloon_deflate_list``) or by its pfn."""
    balloon_page_delete(A, vc, newpage)
    S.st[ST_BALLOON_PAGES] -= 1
    S.vm[VM_BALLOON_DEFLATE] += 1
    set_page_kind(A, newpage, K_KERNEL)  # released by the balloon, its reference about to drop
    if vc[F_BALLOON_DEFLATE_LIST] != 0:
        list_add(A, newpage, misc_head(A, HEAD_DEFLATE))
    record(S, A, newpage, EV_DEFLATE_RACE, F_NEWPAGE_ROUTE, 0)


@kernel(inline="always")
def release_newpage(A, vc, S, newpage, src_was_lru):
    """``__unmap_and_move``'s last step: ``put_page`` or ``putback_lru_page`` by the
    variant's newpage test (§4.2), with the truth checked both ways."""
    r = vc[F_NEWPAGE_ROUTE]
    if r == NR_PAGE_BALLOON:
        to_lru = not PageBalloon(A, vc, newpage)
    elif r == NR_PAGE_MOVABLE:
        to_lru = not marker_movable(A, vc, newpage)
    elif r == NR_BALLOON_OR_MOVABLE:
        to_lru = not (PageBalloon(A, vc, newpage) or marker_movable(A, vc, newpage))
    elif r == NR_MAPPING_BIT:
        to_lru = not __PageMovable(A, vc, newpage)
    else:
        to_lru = src_was_lru
    if to_lru:
        route_putback_lru(A, vc, S, newpage, F_NEWPAGE_ROUTE)
    else:
        if is_lru_kind(A.kind[newpage]):
            record(S, A, newpage, EV_LOST_FROM_LRU, F_NEWPAGE_ROUTE, 0)
        else:
            record(S, A, newpage, EV_PUT_PAGE_NEWPAGE, F_NEWPAGE_ROUTE, 0)
        put_page(A, vc, newpage)


# ------------------------------------------------------------------ moving one page
@kernel(inline="always")
def move_to_new_page(A, vc, S, page, newpage, order):
    """``move_to_new_page``: LRU pages and folios through ``migrate_page`` (identity and
    flags copied; a large folio's tails point at the new head), balloon and zsmalloc
    pages through their driver's ``migratepage``."""
    d = driver_of(A, vc, page)
    if d == DRIVER_BALLOON:
        # virtballoon_migratepage: inflate newpage, deflate page
        A.refcount[newpage] += 1  # the balloon's reference
        balloon_page_insert(A, vc, S, newpage)
        S.st[ST_BALLOON_ISOLATED] -= 1
        S.vm[VM_BALLOON_MIGRATE] += 1
        balloon_page_delete(A, vc, page)
        A.refcount[page] -= 1
    elif d == DRIVER_ZSMALLOC:
        zspage = A.private[page]
        i = zs_replace_page(S, zspage, page, newpage)
        npages = S.zs_npages[zspage]
        A.refcount[newpage] += 1  # zsmalloc's reference
        zs_mark_page(A, vc, newpage, zspage, i == 0, i == npages - 1, S.zs_class[zspage] == ZS_HUGE_CLASS)
        A.refcount[page] -= 1
    else:
        # migrate_page_move_mapping + migrate_page_copy + remove_migration_ptes
        for i in range(1, 1 << order):
            set_page_kind(A, newpage + i, A.kind[page + i])
            A.flags[newpage + i] = A.flags[page + i]
            A.mapping[newpage + i] = A.mapping[page + i]
            A.mapcount[newpage + i] = A.mapcount[page + i]
            A.private[newpage + i] = A.private[page + i]
            A.refcount[newpage + i] = 0
            A.lru_next[newpage + i] = -2 - newpage
        set_page_kind(A, newpage, A.kind[page])
        A.mapping[newpage] = A.mapping[page]
        A.private[newpage] = A.private[page]
        A.mapcount[newpage] = A.mapcount[page]
        A.flags[newpage] = (A.flags[page] & _COPY_MASK) | ((1 << PG_head) if order > 0 else 0)
        A.refcount[newpage] += 1  # the mapping's / page tables' reference moves over
        A.refcount[page] -= 1
        A.mapping[page] = 0
        A.mapcount[page] = -1
        replay_follow(A, S, page, newpage)
    ClearPageIsolated(A, vc, page)


@kernel(inline="always")
def replay_follow(A, S, page, newpage):
    """A replay (``mmkit.replay``) follows its objects: the one on ``page`` now lives on
    ``newpage`` (``S.obj_page`` is empty outside a replay)."""
    if S.obj_page.shape[0] != 0:
        oid = (A.mapping[newpage] >> 2) - REPLAY_TAG_BASE
        if 0 <= oid < S.obj_page.shape[0] and S.obj_page[oid] == page:
            S.obj_page[oid] = newpage


@kernel(inline="always")
def released_by_driver(A, vc, page):
    """v3 02/16's ``move_to_new_page`` test (``released_if_not_isolated``): PageMovable and
    not PageIsolated means the driver released the page after isolation. A balloon page of
    the v3.19 protocol never gets there: ``__unmap_and_move``'s ``isolated_balloon_page``
    branch comes first."""
    if vc[F_RELEASED_IF_NOT_ISOLATED] == 0:
        return False
    if vc[F_BALLOON_PROTOCOL] == BP_PAGE_PRIVATE and PageBalloon(A, vc, page):
        return False
    return marker_movable(A, vc, page) and not PageIsolated(A, vc, page)


@kernel
def migrate_released(A, vc, S, page, newpage):
    """v3 02/16: ``rc = MIGRATEPAGE_SUCCESS; __ClearPageMovable(page); goto out``: nothing
    is copied. The old page goes off the migration list and ``put_page`` drops the
    isolation's reference; a driver that still holds the page keeps it (a false release:
    its page is no longer movable and was not moved). The unused new page goes down
    ``putback_lru_page`` (not a balloon page) with its only reference and is freed."""
    __ClearPageMovable(A, vc, page)
    list_del(A, page)
    A.refcount[page] -= 1
    if A.refcount[page] > 0:
        record(S, A, page, EV_RELEASED_FALSE_POSITIVE, F_RELEASED_IF_NOT_ISOLATED, 0)
    else:
        free_pages(A, vc, page, 0)
    put_page(A, vc, newpage)


@kernel(inline="always")
def unmap_and_move(A, vc, S, page, newpage):
    """``__unmap_and_move`` for one page or folio into ``newpage`` (a free block of its
    order); -EAGAIN when it has a reference migration cannot account for, or by the
    workload's transient failure rate."""
    if A.refcount[page] > 2 or chance_ppm(S, S.st[ST_FAIL_PPM]):
        return EAGAIN
    if released_by_driver(A, vc, page):
        migrate_released(A, vc, S, page, newpage)
        return MIGRATEPAGE_SUCCESS
    order = folio_order(A, page)
    src_was_lru = not __PageMovable(A, vc, page)  # folio_test_movable(src), before migration
    move_to_new_page(A, vc, S, page, newpage, order)
    record(S, A, newpage, EV_MIGRATED, RULE_NONE, page)
    # the old page: off the migration list, last reference dropped. A balloon page that
    # a misrouted putback left on an LRU list and compaction then isolated from there is
    # off the list already: the balloon's migratepage took it off in balloon_page_delete
    # (PagePrivate set), so this list_del meets LIST_POISON (CONFIG_DEBUG_LIST reports
    # "list_del corruption" and skips it; without it the kernel oopses)
    if A.lru_next[page] < 0:
        record(S, A, page, EV_LIST_CORRUPTION, F_NEWPAGE_ROUTE, 0)
    else:
        list_del(A, page)
    A.refcount[page] = 0
    free_pages(A, vc, page, order)
    # unlock_page(newpage) ... then the newpage test, which a deflate can overtake
    raced = A.kind[newpage] == K_BALLOON and chance_ppm(S, S.st[ST_RACE_PPM])
    if raced:
        deflate_newpage(A, vc, S, newpage)
    release_newpage(A, vc, S, newpage, src_was_lru)
    if vc[F_BALLOON_DEFLATE_LIST] != 0:
        if not list_first(A, misc_head(A, HEAD_DEFLATE)) < 0:
            release_pages_balloon(A, vc, S)
    elif raced:
        put_page(A, vc, newpage)  # v4.5 release_pages_balloon: by pfn (vb->pfns)
    return MIGRATEPAGE_SUCCESS


# ------------------------------------------------------------------ large folios (v6.9)
@kernel(inline="always")
def folio_order(A, pfn):
    """``folio_order``: the compound order of a head page, 0 for any other page."""
    if test_bit(A, pfn, PG_head):
        return A.private[pfn + 1]
    return 0


@kernel
def folio_splittable(A, pfn):
    """``split_folio`` can succeed: not under writeback, and a file folio's buffers can be
    released (``filemap_release_folio``: not with dirty buffers)."""
    if test_bit(A, pfn, PG_writeback):
        return False
    if A.kind[pfn] == K_FILE and test_bit(A, pfn, PG_private) and test_bit(A, pfn, PG_dirty):
        return False
    return True


@kernel
def split_folio_to_list(A, pfn, order, head):
    """``try_split_folio``: split an isolated large folio into order-0 folios, each
    isolated (the split's reference) and added to ``head``, the old head last; each new
    folio takes the head's flags but PG_head and PG_private (released buffers)."""
    n = 1 << order
    flags = A.flags[pfn] & _SPLIT_MASK
    list_del(A, pfn)
    for p in range(pfn + 1, pfn + n):
        set_page_kind(A, p, A.kind[pfn])
        A.flags[p] = flags
        A.mapping[p] = A.mapping[pfn]
        A.mapcount[p] = A.mapcount[pfn]
        A.private[p] = 0
        A.refcount[p] = A.refcount[pfn]
        A.lru_next[p] = -1
        list_add_tail(A, p, head)
    A.flags[pfn] = flags
    A.private[pfn] = 0
    list_add_tail(A, pfn, head)


# ------------------------------------------------------------------ isolation and the migration loop
@kernel
def isolate_movable_page(A, vc, S, pfn):
    """``isolate_movable_page`` (v3 / v4.8): a reference, the movable test under the page
    lock, the driver's ``isolate_page``, then PG_isolated. Returns 1 isolated, 0 not,
    -1 oops (``->mapping`` is NULL: the v3-02 balloon page of SEMANTICS.md §4.1)."""
    if A.refcount[pfn] == 0:
        return 0
    A.refcount[pfn] += 1
    if not __PageMovable(A, vc, pfn) or PageIsolated(A, vc, pfn):
        A.refcount[pfn] -= 1
        return 0
    if not page_has_movable_ops(A, vc, pfn):
        if A.mapping[pfn] >> 2 == 0 and vc[F_MOVABLE_MARKER] <= 2:
            # v3: PageMovable passed (PageBalloon counts), mapping->a_ops on NULL
            A.refcount[pfn] -= 1
            return -1
        A.refcount[pfn] -= 1
        return 0
    if driver_of(A, vc, pfn) == DRIVER_BALLOON:
        balloon_isolate(A, vc, S, pfn)
    SetPageIsolated(A, vc, pfn)
    return 1


@kernel(inline="always")
def count_migration(S, cc, succeeded, failed):
    """pgmigrate_success / pgmigrate_fail, and the compaction's own tally."""
    S.vm[VM_PGMIGRATE_SUCCESS] += succeeded
    S.vm[VM_PGMIGRATE_FAIL] += failed
    cc[CC_MIGRATED] += succeeded
    cc[CC_FAILED] += failed


@kernel
def migrate_pages(A, vc, S, cc, head_id, contig_alloc):
    """``migrate_pages``: up to ten passes over the list; -EAGAIN pages are retried,
    the rest migrated or left for ``putback_movable_pages``. Targets come from
    ``compaction_alloc`` (or, with ``contig_alloc``, from the page allocator outside
    the isolated range). Returns True when it ran out of targets (-ENOMEM)."""
    if vc[F_ALLOC_CONTIG_THP if contig_alloc else F_COMPACT_LARGE_FOLIOS] != 0:
        return migrate_folios(A, vc, S, cc, head_id, contig_alloc)
    head = misc_head(A, head_id)
    succeeded = 0
    failed = 0
    nomem = False
    for _pass in range(MIGRATE_PASSES):
        retry = 0
        node = A.lru_next[head]
        while node != head:
            nxt = A.lru_next[node]
            if contig_alloc:
                newpage = alloc_target_outside(A, vc, S, node, 0)
            else:
                newpage = _compaction.compaction_alloc(A, vc, S, cc)
            if newpage < 0:
                nomem = True
                break
            rc = unmap_and_move(A, vc, S, node, newpage)
            if rc == MIGRATEPAGE_SUCCESS:
                succeeded += 1
            else:
                retry += 1
                if contig_alloc:
                    A.refcount[newpage] = 0
                    free_the_page(A, vc, newpage, 0)
                else:
                    _compaction.compaction_free(A, cc, newpage)
                if _pass == MIGRATE_PASSES - 1:
                    record(S, A, node, EV_MIGRATE_FAILED, RULE_NONE, 0)
            node = nxt
        if nomem or retry == 0:
            break
    if not nomem:
        # what is left after the last pass failed for good
        node = A.lru_next[head]
        while node != head:
            failed += 1
            node = A.lru_next[node]
    count_migration(S, cc, succeeded, failed)
    return nomem


@kernel(inline="always")
def migrate_one_folio(A, vc, S, cc, node, newpage, order, last_pass, contig_alloc):
    """One folio into its target; on failure the target goes back to cc->freepages (a
    contiguous range's: to the buddy). Returns the pages migrated (0 on -EAGAIN)."""
    rc = unmap_and_move(A, vc, S, node, newpage)
    if rc == MIGRATEPAGE_SUCCESS:
        return 1 << order
    if contig_alloc:
        A.refcount[newpage] = 0
        free_the_page(A, vc, newpage, order)
    else:
        _compaction.compaction_free_order(A, cc, newpage, order)
    if last_pass:
        record(S, A, node, EV_MIGRATE_FAILED, RULE_NONE, 0)
    return 0


@kernel
def migrate_folios_pass(A, vc, S, cc, head, split, last_pass, contig_alloc):
    """One pass of ``migrate_pages_batch`` over the folios on the list ``head``, each
    into a target of its order (``compaction_alloc_order``, or with ``contig_alloc``
    :func:`alloc_target_outside`); a large folio that gets none
    is split onto the list ``split`` (-1: the pass over the split folios, which splits
    nothing). Returns (pages migrated, folios to retry, their pages, the pages of the
    folio that got no target and stayed whole: 0 unless the pass stopped there).

    A pass is one call, the migration of each folio inlined in it: a call per folio read
    the hundred-odd array descriptors its inlined steps use at each entry, a fifth of a
    whole-zone compaction's time."""
    succeeded = 0
    retry = 0
    retry_pages = 0
    node = A.lru_next[head]
    while node != head:
        nxt = A.lru_next[node]
        order = folio_order(A, node)
        if contig_alloc:
            newpage = alloc_target_outside(A, vc, S, node, order)
        else:
            newpage = _compaction.compaction_alloc_order(A, vc, S, cc, order)
        if newpage < 0:
            if split >= 0 and order > 0 and folio_splittable(A, node):
                split_folio_to_list(A, node, order, split)
                node = nxt
                continue
            return succeeded, retry, retry_pages, 1 << order
        got = migrate_one_folio(A, vc, S, cc, node, newpage, order, last_pass, contig_alloc)
        succeeded += got
        if got == 0:
            retry += 1
            retry_pages += 1 << order
        node = nxt
    return succeeded, retry, retry_pages, 0


@kernel
def migrate_folios(A, vc, S, cc, head_id, contig_alloc):
    """v6.9 ``migrate_pages`` for compaction: each folio gets a target of its own order
    (``compaction_alloc_order``; for a contiguous range, with ``contig_alloc``, from the
    page allocator: :func:`alloc_target_outside`). A large folio that gets none is split
    (``try_split_folio``) and its order-0 folios are tried once after the others; one
    that cannot be split, or an order-0 one that gets none, is -ENOMEM: migration stops,
    the split folios are not tried, and everything left is put back. pgmigrate_fail
    counts as ``migrate_pages_batch`` does (``stats->nr_failed_pages``): at -ENOMEM the
    folio's pages plus those that asked for a retry earlier in the pass, otherwise the
    pages still -EAGAIN after the last pass; folios never tried count nothing. Returns
    True on -ENOMEM."""
    head = misc_head(A, head_id)
    split = misc_head(A, HEAD_SPLIT)
    succeeded = 0
    failed = 0
    retry_pages = 0
    nomem = False
    for _pass in range(MIGRATE_PASSES):
        got, retry, retry_pages, nomem_pages = migrate_folios_pass(A, vc, S, cc, head, split,
                                                                   _pass == MIGRATE_PASSES - 1, contig_alloc)
        succeeded += got
        if nomem_pages != 0:
            nomem = True
            failed += nomem_pages + retry_pages
            break
        if retry == 0:
            break
    if not nomem:
        failed += retry_pages
        # the split folios: one try each (MIGRATE_ASYNC, one pass); running out of
        # targets here ends the try (that page counts as failed) but is not -ENOMEM for
        # the caller
        got, _, retry_pages, nomem_pages = migrate_folios_pass(A, vc, S, cc, split, -1, True, contig_alloc)
        succeeded += got
        failed += nomem_pages + retry_pages
    # what is left (and the split folios) goes back through putback_movable_pages
    while True:
        node = list_first(A, split)
        if node < 0 or not list_del(A, node):
            break
        list_add_tail(A, node, head)
    count_migration(S, cc, succeeded, failed)
    return nomem


@kernel
def alloc_target_outside(A, vc, S, page, order):
    """``alloc_migrate_target`` for ``alloc_contig_range``: a block of ``order`` from
    the page allocator with ``GFP_USER | __GFP_MOVABLE`` (v4.5 ``alloc_page``; 6.x adds
    ``__GFP_RETRY_MAYFAIL``, and ``GFP_TRANSHUGE`` for a large folio), which may reclaim
    directly: when no zone has a block above its min watermark, each zone is reclaimed
    to its high watermark plus 2 << order (as the slow path's direct reclaim) and the
    allocation tried once more. A large folio's target gets no direct compaction here
    (the kernel's may). The range itself is MIGRATE_ISOLATE, so the buddy never hands
    out pages from it."""
    zone_hi = A.zone_start.shape[0] - 1
    p = alloc_pages(A, vc, order, MOVABLE, K_ISOLATED_FREE, 0, False, zone_hi, WMARK_MIN)
    if p < 0:
        for z in range(zone_hi, -1, -1):
            shrink_zone(A, vc, S, z, A.wmark[z, WMARK_HIGH] + (2 << order), 4096)
        p = alloc_pages(A, vc, order, MOVABLE, K_ISOLATED_FREE, 0, False, zone_hi, WMARK_MIN)
    return p


# migrate_pages takes compaction_alloc / compaction_free (mm/compaction.c) as its
# get_new_page / put_new_page callbacks. numba calls them by name: the module is bound
# here, after this file's kernels (compaction.py imports them), and its functions are
# looked up when migrate_pages is compiled.
from mmkit.engine import compaction as _compaction  # noqa: E402
