"""Migration in the twin (``mm/migrate.c``): ``migrate_pages`` with its ten passes,
``unmap_and_move``, ``move_to_new_page``, and the routes that release pages afterwards,
each chosen by the variant's field as SEMANTICS.md §4.2-§4.3 tabulates them.

The new page takes the old page's identity; the old page is freed. Then the new page is
released by the era's test (``put_page`` for a driver's page, ``putback_lru_page`` for an
LRU page); where the test picks the path meant for the other kind, the page's true kind
says so and an event is logged. A deflate of the balloon may land between
``unlock_page(newpage)`` and that test (D-2019), at the workload's rate.

Ordering: the old page is freed before the new page is released. v4.5 does it in that
order (``unmap_and_move``); from v4.8 the new page is released first, inside
``__unmap_and_move``. The two orders differ only when the release frees the new page.
"""

from __future__ import annotations

from mmkit.model import flags as pg
from mmkit.model.encodings import PAGE_BALLOON_MAPCOUNT_VALUE
from mmkit.model.kinds import PageKind
from mmkit.reference.buddy import Page
from mmkit.reference.events import RULE_NONE, record, rule
from mmkit.reference.lists import (
    INIT_LIST_HEAD,
    list_add,
    list_add_tail,
    list_del,
    list_empty,
    list_first,
)
from mmkit.reference.owners import (
    BALLOON_DEV,
    ZS_HUGE_CLASS,
    balloon_page_delete,
    balloon_page_insert,
    balloon_page_putback,
    del_page_from_lru_list,
    put_page,
    putback_lru_page,
    replace_sub_page,
    zs_mark_page,
)
from mmkit.reference.predicates import (
    BALLOON_MAPPING,
    TYPE_OFFLINE,
    TYPE_ZSMALLOC,
    ZSMALLOC_MAPPING,
    ClearPageIsolated,
    PageBalloon,
    PageIsolated,
    PageMovable,
    __ClearPageMovable,
    __PageMovable,
    movable_mark,
    test,
    typed,
)
from mmkit.semantics import BalloonProtocol, FailureRoute, MovableMarker, NewpageRoute

MIGRATEPAGE_SUCCESS = 0
EAGAIN = 1
MIGRATE_PASSES = 10

LRU_KINDS = (PageKind.ANON, PageKind.FILE)
DRIVER_KINDS = (PageKind.BALLOON, PageKind.ZSMALLOC)
_NOT_COPIED = (1 << pg.PG_lru) | (1 << pg.PG_locked) | (1 << pg.PG_head)


def driver_of(s, page) -> str | None:
    """Whose ``migratepage`` / ``putback_page`` the kernel calls for a non-LRU page: found
    through the page type (movable_ops era), ``page->mapping`` (v3, v4.8), or, in the
    v3.19 protocol, the balloon sentinel with ``page->private`` naming the balloon."""
    v = s.v
    if v.movable_marker == MovableMarker.PG_MOVABLE_OPS or typed(v):
        return {TYPE_OFFLINE: "balloon", TYPE_ZSMALLOC: "zsmalloc"}.get(page.mapcount)
    owner = page.mapping >> 2
    if owner == BALLOON_MAPPING:
        return "balloon"
    if owner == ZSMALLOC_MAPPING:
        return "zsmalloc"
    if page.mapcount == PAGE_BALLOON_MAPCOUNT_VALUE and page.private == BALLOON_DEV:
        return "balloon"
    return None


# ------------------------------------------------------------------ releasing pages
def putback_lru_checked(s, page, rule_: int) -> None:
    """``putback_lru_page``; a page of a driver arriving here is misrouted and, threaded
    onto an LRU list while its owner holds it, corrupts that list."""
    if page.kind in LRU_KINDS:
        record(s, page, "putback_lru", rule_)
    else:
        record(s, page, "misrouted_putback", rule_)
        if page.kind in DRIVER_KINDS:
            record(s, page, "lru_corruption", rule_)
    putback_lru_page(s, page)


def putback_movable_page(s, page, rule_: int) -> None:
    """The driver's ``putback_page`` (the balloon puts it back on its list), PG_isolated
    cleared, the isolation reference dropped."""
    if driver_of(s, page) == "balloon":
        balloon_page_putback(s, page)
    ClearPageIsolated(s.v, page)
    record(s, page, "putback_movable", rule_)
    put_page(s, page)


def putback_movable_pages(s, head) -> None:
    """``putback_movable_pages``: every page still on ``head`` goes back by the variant's
    failure route (SEMANTICS.md §4.3)."""
    v = s.v
    r = rule("failure_route")
    route = v.failure_route
    while not list_empty(head):
        page = list_first(head)
        if not list_del(page):
            break
        if route == FailureRoute.V4_5:
            # isolated_balloon_page ? balloon_page_putback : putback_lru_page
            if PageBalloon(v, page):
                balloon_page_putback(s, page)
                record(s, page, "putback_movable", r)
                put_page(s, page)
            else:
                putback_lru_checked(s, page, r)
        elif route in (FailureRoute.V3_02, FailureRoute.V3_04):
            if route == FailureRoute.V3_02 and PageBalloon(v, page):
                balloon_page_putback(s, page)
                record(s, page, "putback_movable", r)
                put_page(s, page)
            elif movable_mark(v, page):
                if PageIsolated(v, page):
                    putback_movable_page(s, page, r)
                else:
                    __ClearPageMovable(v, page)
                    put_page(s, page)
            else:
                putback_lru_checked(s, page, r)
        else:
            # v4.8 on: the cheap __PageMovable, then PageMovable under the page lock
            if __PageMovable(v, page):
                if PageMovable(v, page):
                    putback_movable_page(s, page, r)
                else:
                    if page.kind in DRIVER_KINDS:
                        # its driver still owns it, and no putback_page is called
                        record(s, page, "misrouted_putback", r)
                    ClearPageIsolated(v, page)
                    put_page(s, page)
            else:
                putback_lru_checked(s, page, r)


def release_pages_balloon(s) -> None:
    """The deflate's ``release_pages_balloon``: walk its private list dropping the
    balloon's reference. A page whose ``lru.prev`` no longer points back was threaded
    onto another list meanwhile: list corruption (D-2019)."""
    head = s.deflated_head
    r = rule("newpage_route")
    prev = head
    node = head.lru_next
    while node is not head:
        if not isinstance(node, Page) or node.lru_prev is not prev:
            bad = node if isinstance(node, Page) else prev
            record(s, bad, "list_corruption", r)
            if isinstance(node, Page):
                if test(node, pg.PG_lru):
                    del_page_from_lru_list(s, node)
                else:
                    list_del(node)
                put_page(s, node)
            break
        nxt = node.lru_next
        list_del(node)
        put_page(s, node)
        node = nxt
    INIT_LIST_HEAD(head)


def deflate_lands_on(s, newpage) -> None:
    """A balloon deflate between ``unlock_page(newpage)`` and the newpage test: the
    balloon dequeues the new page (its marks cleared) onto the deflate's private list."""
    balloon_page_delete(s, newpage)
    s.balloon_count -= 1
    s.vm["balloon_deflate"] += 1
    newpage.kind = int(PageKind.KERNEL)
    if s.v.balloon_deflate_list:  # else the driver keeps its pfn (vb->pfns)
        list_add(newpage, s.deflated_head)
    record(s, newpage, "deflate_race", rule("newpage_route"))


def release_newpage(s, newpage, src_was_lru: bool) -> None:
    """The newpage test of SEMANTICS.md §4.2, then ``put_page`` or ``putback_lru_page``."""
    v = s.v
    route = v.newpage_route
    if route == NewpageRoute.PAGE_BALLOON:
        to_lru = not PageBalloon(v, newpage)  # __is_movable_balloon_page
    elif route == NewpageRoute.PAGE_MOVABLE:
        to_lru = not movable_mark(v, newpage)
    elif route == NewpageRoute.BALLOON_OR_PAGE_MOVABLE:
        to_lru = not (PageBalloon(v, newpage) or movable_mark(v, newpage))
    elif route == NewpageRoute.MAPPING_BIT:
        to_lru = not __PageMovable(v, newpage)
    else:
        to_lru = src_was_lru
    r = rule("newpage_route")
    if to_lru:
        putback_lru_checked(s, newpage, r)
    else:
        record(s, newpage, "lost_from_lru" if newpage.kind in LRU_KINDS else "put_page_newpage", r)
        put_page(s, newpage)


# ------------------------------------------------------------------ moving one page
def move_to_new_page(s, page, newpage) -> None:
    """A balloon page through ``virtballoon_migratepage`` (inflate newpage, deflate
    page), a zsmalloc page through ``zs_page_migrate``, an LRU page through
    ``migrate_page`` (mapping moved, flags copied, page tables pointed at newpage)."""
    v = s.v
    d = driver_of(s, page)
    if d == "balloon":
        newpage.refcount += 1  # the balloon's reference
        balloon_page_insert(s, newpage)
        s.balloon_isolated -= 1
        s.vm["balloon_migrate"] += 1
        balloon_page_delete(s, page)
        page.refcount -= 1
    elif d == "zsmalloc":
        zspage = page.private
        i = replace_sub_page(s, zspage, page.pfn, newpage.pfn)
        newpage.refcount += 1
        zs_mark_page(s, newpage, zspage, i == 0, i == s.zs.npages(zspage) - 1, s.zs.cls[zspage] == ZS_HUGE_CLASS)
        page.refcount -= 1
    else:
        newpage.kind = page.kind
        newpage.mapping = page.mapping
        newpage.private = page.private
        newpage.mapcount = page.mapcount
        newpage.flags = page.flags & ~_NOT_COPIED
        newpage.refcount += 1
        page.refcount -= 1
        page.mapping = 0
        page.mapcount = -1
    ClearPageIsolated(v, page)


def released_by_driver(s, page) -> bool:
    """v3 02/16's ``move_to_new_page``: PageMovable and not PageIsolated means the driver
    released the page after isolation (a v3.19-protocol balloon page takes
    ``__unmap_and_move``'s ``isolated_balloon_page`` branch before it)."""
    v = s.v
    if not v.released_if_not_isolated:
        return False
    if v.balloon_protocol == BalloonProtocol.PAGE_PRIVATE and PageBalloon(v, page):
        return False
    return movable_mark(v, page) and not PageIsolated(v, page)


def migrate_released(s, page, newpage) -> None:
    """``rc = MIGRATEPAGE_SUCCESS; __ClearPageMovable(page)``, nothing copied: the isolation's
    reference dropped (a driver still holding the page keeps it, unmoved and no longer
    movable: a false release), the unused new page freed through ``putback_lru_page``."""
    __ClearPageMovable(s.v, page)
    list_del(page)
    page.refcount -= 1
    if page.refcount > 0:
        record(s, page, "released_false_positive", rule("released_if_not_isolated"))
    else:
        s.mem.free_pages(page.pfn, 0)
    put_page(s, newpage)


def unmap_and_move(s, page, newpage) -> int:
    """One page into ``newpage``. -EAGAIN for a page with references migration cannot
    account for (more than the owner's and the isolation's), or by the workload's
    transient failure rate; otherwise it moves."""
    if page.refcount > 2 or s.rng.chance_ppm(s.fail_ppm):
        return EAGAIN
    if released_by_driver(s, page):
        migrate_released(s, page, newpage)
        return MIGRATEPAGE_SUCCESS
    src_was_lru = not __PageMovable(s.v, page)
    move_to_new_page(s, page, newpage)
    record(s, newpage, "migrated", RULE_NONE, page.pfn)
    if page.lru_next is None:  # taken off already by the balloon's migratepage (misrouted before)
        record(s, page, "list_corruption", rule("newpage_route"))
    else:
        list_del(page)
    page.refcount = 0
    s.mem.free_pages(page.pfn, 0)
    raced = newpage.kind == PageKind.BALLOON and s.rng.chance_ppm(s.race_ppm)
    if raced:
        deflate_lands_on(s, newpage)
    release_newpage(s, newpage, src_was_lru)
    if s.v.balloon_deflate_list:
        if not list_empty(s.deflated_head):
            release_pages_balloon(s)
    elif raced:
        put_page(s, newpage)  # v4.5 release_pages_balloon: by pfn
    return MIGRATEPAGE_SUCCESS


def migrate_pages(s, head, get_new_page, put_new_page) -> tuple[int, int, bool]:
    """``migrate_pages``: up to ten passes while pages ask to be retried. Pages still
    -EAGAIN after the last pass fail (and stay on ``head`` for the caller's putback).
    Returns (succeeded, failed, ran out of targets: -ENOMEM)."""
    succeeded = 0
    retry = 1
    nomem = False
    for npass in range(MIGRATE_PASSES):
        if not retry:
            break
        retry = 0
        page = head.lru_next
        while page is not head:
            nxt = page.lru_next
            newpage = get_new_page(page)
            if newpage is None:
                nomem = True
                break
            if unmap_and_move(s, page, newpage) == MIGRATEPAGE_SUCCESS:
                succeeded += 1
            else:
                retry += 1
                put_new_page(newpage)
                if npass == MIGRATE_PASSES - 1:
                    record(s, page, "migrate_failed")
            page = nxt
        if nomem:
            break
    failed = 0 if nomem else retry
    s.vm["pgmigrate_success"] += succeeded
    s.vm["pgmigrate_fail"] += failed
    return succeeded, failed, nomem


# ------------------------------------------------------------------ large folios (v6.9)
_SPLIT_CLEARED = (1 << pg.PG_head) | (1 << pg.PG_private)


def folio_order(s, page) -> int:
    """``folio_order``: the compound order of a head page, 0 for any other page."""
    return s.mem.pages[page.pfn + 1].private if test(page, pg.PG_head) else 0


def folio_splittable(page) -> bool:
    """``split_folio`` can succeed: not under writeback (-EBUSY), and a file folio's
    buffers can be released (``filemap_release_folio``: not while they are dirty)."""
    if test(page, pg.PG_writeback):
        return False
    return not (page.kind == PageKind.FILE and test(page, pg.PG_private) and test(page, pg.PG_dirty))


def split_folio_to_list(s, head, order: int, split) -> None:
    """``try_split_folio``: the isolated large folio becomes order-0 folios, each taking
    the head's kind, flags (but PG_head, and PG_private: the buffers were released),
    mapping, mapcount and references, added to ``split`` in pfn order, the old head
    last."""
    pages = s.mem.pages
    flags = head.flags & ~_SPLIT_CLEARED
    list_del(head)
    for page in pages[head.pfn + 1: head.pfn + (1 << order)]:
        page.kind = head.kind
        page.flags = flags
        page.mapping = head.mapping
        page.mapcount = head.mapcount
        page.private = 0
        page.refcount = head.refcount
        page.lru_next = None  # clear_compound_head
        list_add_tail(page, split)
    head.flags = flags
    head.private = 0
    list_add_tail(head, split)


def unmap_and_move_folio(s, page, newpage, order: int) -> int:
    """``migrate_folio`` of an LRU large folio into the free block ``newpage`` of its
    order: -EAGAIN as ``unmap_and_move``; else the new folio takes the old one's identity
    and flags page by page (PG_head on the new head, its tails pointing at it), the old
    folio is freed whole, and the new one released by the variant's newpage route."""
    if page.refcount > 2 or s.rng.chance_ppm(s.fail_ppm):
        return EAGAIN
    if released_by_driver(s, page):
        migrate_released(s, page, newpage)
        return MIGRATEPAGE_SUCCESS
    src_was_lru = not __PageMovable(s.v, page)
    pages = s.mem.pages
    for i in range(1, 1 << order):
        old, new = pages[page.pfn + i], pages[newpage.pfn + i]
        new.kind = old.kind
        new.flags = old.flags
        new.mapping = old.mapping
        new.mapcount = old.mapcount
        new.private = old.private
        new.refcount = 0
        new.compound_head = newpage.pfn
    newpage.kind = page.kind
    newpage.mapping = page.mapping
    newpage.private = page.private
    newpage.mapcount = page.mapcount
    newpage.flags = (page.flags & ~_NOT_COPIED) | (1 << pg.PG_head)
    newpage.refcount += 1
    record(s, newpage, "migrated", RULE_NONE, page.pfn)
    list_del(page)
    page.refcount = 0
    s.mem.free_pages(page.pfn, order)
    release_newpage(s, newpage, src_was_lru)
    return MIGRATEPAGE_SUCCESS
