"""The twin's page owners: the LRU (``mm/swap.c``, ``mm/vmscan.c``), the virtio balloon
(``mm/balloon_compaction.c``, ``drivers/virtio/virtio_balloon.c``) and zsmalloc
(``mm/zsmalloc.c``), each marking its pages as the variant's era does.

The balloon keeps its pages on ``balloon->pages`` through ``page->lru``; with the v3.19
protocol (K-d6d) PagePrivate says "on the list, not isolated", with the generic one
(K-b11) PageIsolated says it. zsmalloc keeps no list: a zspage is 1-4 sub-pages, the first
PG_private, the last PG_private_2 (2016), huge-object pages PG_owner_priv_1 (v4.8).

zspage bookkeeping (:class:`ZsPool`) is mmkit's, not the kernel's: ids come from a stack
(the last freed id is the next used), and the live ids are kept in the order a random
``zs_free`` walks them: a new zspage goes first; a freed one's place is taken by the
first.
"""

from __future__ import annotations

from mmkit.model import flags as pg
from mmkit.model.encodings import PAGE_BALLOON_MAPCOUNT_VALUE
from mmkit.model.kinds import (
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
    LRU_UNEVICTABLE,
    PageKind,
)
from mmkit.reference.buddy import MOVABLE, UNMOVABLE, Page
from mmkit.reference.events import record
from mmkit.reference.lists import list_add, list_del
from mmkit.reference.predicates import (
    BALLOON_MAPPING,
    TYPE_OFFLINE,
    TYPE_ZSMALLOC,
    ZSMALLOC_MAPPING,
    PageIsolated,
    __ClearPageMovable,
    __SetPageMovable,
    clear_flag,
    set_flag,
    test,
    typed,
)
from mmkit.semantics import BalloonProtocol, PageBalloonTest

WMARK_MIN = 0
BALLOON_DEV = 1  # page->private of a balloon page: the balloon_dev_info

ZS_HUGE_CLASS = 4
ZS_CLASS_PAGES = (1, 2, 3, 4, 1)  # sub-pages per zspage, by size class
ZS_CLASS_OBJS = (3, 5, 4, 7, 1)  # objects per zspage


# ----------------------------------------------------------------------- LRU
def page_lru(page) -> int:
    """``page_lru``: unevictable, else anon/file by PG_swapbacked, +1 if PG_active."""
    if test(page, pg.PG_unevictable):
        return LRU_UNEVICTABLE
    lru = LRU_INACTIVE_ANON if test(page, pg.PG_swapbacked) else LRU_INACTIVE_FILE
    return lru + 1 if test(page, pg.PG_active) else lru


def add_page_to_lru_list(s, page) -> None:
    """``SetPageLRU`` and ``add_page_to_lru_list``: to the head of the zone's list."""
    set_flag(page, pg.PG_lru)
    z, lru = s.mem.zone_of(page.pfn), page_lru(page)
    list_add(page, s.lru_heads[z][lru])
    s.lru_size[z][lru] += 1


def del_page_from_lru_list(s, page) -> None:
    """Off its LRU list; the count of the list ``page_lru`` names goes down."""
    s.lru_size[s.mem.zone_of(page.pfn)][page_lru(page)] -= 1
    list_del(page)
    clear_flag(page, pg.PG_lru)


def putback_lru_page(s, page) -> None:
    """``putback_lru_page``: onto an LRU list, whatever the page is, then drop the
    isolation reference."""
    add_page_to_lru_list(s, page)
    page.refcount -= 1


def put_page(s, page) -> None:
    """The last reference frees the page (``__page_cache_release`` takes it off the LRU)."""
    page.refcount -= 1
    if page.refcount == 0:
        if test(page, pg.PG_lru):
            del_page_from_lru_list(s, page)
        s.mem.free_pages(page.pfn, 0)


# ----------------------------------------------------------------------- balloon
def balloon_page_insert(s, page) -> None:
    """``balloon_page_insert``: the era's balloon marks, then onto ``balloon->pages``."""
    v = s.v
    page.kind = int(PageKind.BALLOON)
    page.mapcount = TYPE_OFFLINE if typed(v) else PAGE_BALLOON_MAPCOUNT_VALUE  # __SetPageBalloon
    page.private = BALLOON_DEV
    if v.balloon_protocol == BalloonProtocol.GENERIC:
        __SetPageMovable(v, page, BALLOON_MAPPING)
    else:
        set_flag(page, pg.PG_private)
    if v.page_balloon == PageBalloonTest.BALLOON_MAPPING and page.mapping >> 2 == 0:
        page.mapping = BALLOON_MAPPING << 2
    if v.page_balloon == PageBalloonTest.MAPCOUNT_AND_PRIVATE_2:
        set_flag(page, pg.PG_private_2)
    list_add(page, s.balloon_head)


def balloon_page_delete(s, page) -> None:
    """``balloon_page_delete``: the marks go; the page leaves ``balloon->pages`` unless it
    is isolated (v3.19: PagePrivate clear; generic: PageIsolated)."""
    v = s.v
    if v.balloon_protocol == BalloonProtocol.GENERIC:
        on_list = not PageIsolated(v, page)
        __ClearPageMovable(v, page)
    else:
        on_list = test(page, pg.PG_private)
        clear_flag(page, pg.PG_private)
    if page.mapcount in (PAGE_BALLOON_MAPCOUNT_VALUE, TYPE_OFFLINE):
        page.mapcount = -1  # __ClearPageBalloon
    if v.page_balloon == PageBalloonTest.MAPCOUNT_AND_PRIVATE_2:
        clear_flag(page, pg.PG_private_2)
    if v.page_balloon == PageBalloonTest.BALLOON_MAPPING and page.mapping >> 2 == BALLOON_MAPPING:
        page.mapping &= 3
    page.private = 0
    if on_list:
        list_del(page)


def fill_balloon(s, n: int, zone_hi: int) -> int:
    """``fill_balloon``: ``balloon_page_enqueue`` n times (movable order-0 pages, no
    reclaim); returns how many went in."""
    done = 0
    for _ in range(n):
        pfn = s.mem.alloc_pages(0, MOVABLE, int(PageKind.BALLOON), 0, zone_hi, False, WMARK_MIN)
        if pfn < 0:
            break
        balloon_page_insert(s, s.mem.pages[pfn])
        s.balloon_count += 1
        s.vm["balloon_inflate"] += 1
        done += 1
    return done


def balloon_page_dequeue(s):
    """``balloon_page_dequeue``: the first balloon page on the list not isolated; the walk
    stops with a ``list_corruption`` event where the list is broken (a node that does not
    point back at the one before it)."""
    head = s.balloon_head
    prev, node = head, head.lru_next
    steps = 0
    while node is not head and steps < len(s.mem.pages):
        if getattr(node, "lru_prev", None) is not prev:
            record(s, node if isinstance(node, Page) else (prev if isinstance(prev, Page) else None), "list_corruption")
            return None
        if isinstance(node, Page) and node.kind == PageKind.BALLOON and not PageIsolated(s.v, node):
            balloon_page_delete(s, node)
            return node
        prev, node = node, node.lru_next
        steps += 1
    return None


def leak_balloon(s, n: int) -> int:
    """``leak_balloon``: dequeue n pages and drop the balloon's reference to each."""
    done = 0
    for _ in range(n):
        page = balloon_page_dequeue(s)
        if page is None:
            break
        s.balloon_count -= 1
        s.vm["balloon_deflate"] += 1
        page.kind = int(PageKind.KERNEL)
        put_page(s, page)
        done += 1
    return done


def balloon_isolate(s, page) -> None:
    """The balloon's isolate step: off ``balloon->pages`` (v3.19 clears PagePrivate)."""
    if s.v.balloon_protocol != BalloonProtocol.GENERIC:
        clear_flag(page, pg.PG_private)
    list_del(page)
    s.balloon_isolated += 1


def balloon_page_putback(s, page) -> None:
    """Back on ``balloon->pages`` (v3.19 sets PagePrivate again)."""
    if s.v.balloon_protocol != BalloonProtocol.GENERIC:
        set_flag(page, pg.PG_private)
    list_add(page, s.balloon_head)
    s.balloon_isolated -= 1


# ----------------------------------------------------------------------- zsmalloc
class ZsPool:
    """zspages by id: sub-page pfns, objects stored, capacity, size class."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.free_ids = list(range(capacity - 1, -1, -1))  # a stack: the end is its top
        self.live: list[int] = []  # the order zs_free walks them
        self.pages: dict[int, list[int]] = {}
        self.objs: dict[int, int] = {}
        self.max_objs: dict[int, int] = {}
        self.cls: dict[int, int] = {}
        self.current = [-1] * len(ZS_CLASS_PAGES)  # the zspage each class fills
        self.objects = 0  # objects stored in all

    def npages(self, zspage: int) -> int:
        return len(self.pages.get(zspage, ()))


def zs_mark_page(s, page, zspage: int, first: bool, last: bool, huge: bool) -> None:
    """What ``alloc_zspage`` (and ``zs_page_migrate``) set on a sub-page in this era."""
    v = s.v
    page.kind = int(PageKind.ZSMALLOC)
    page.private = zspage
    if typed(v):
        page.mapcount = TYPE_ZSMALLOC
    if first:
        set_flag(page, pg.PG_private)
    if last and v.zsmalloc_last_private_2:
        set_flag(page, pg.PG_private_2)
    if huge and v.zsmalloc_huge_owner_priv_1:
        set_flag(page, pg.PG_owner_priv_1)
    if v.zsmalloc_movable:
        __SetPageMovable(v, page, ZSMALLOC_MAPPING)


def alloc_zspage(s, cls: int, zone_hi: int, wmark: int) -> int:
    """``alloc_zspage``: the sub-pages from the buddy (movable only where zsmalloc
    migrates), then their marks. -1 when memory or ids run out."""
    zs = s.zs
    if not zs.free_ids:
        return -1
    zspage = zs.free_ids[-1]
    mt = MOVABLE if s.v.zsmalloc_movable else UNMOVABLE
    got: list[int] = []
    for _ in range(ZS_CLASS_PAGES[cls]):
        pfn = s.mem.alloc_pages(0, mt, int(PageKind.ZSMALLOC), 0, zone_hi, False, wmark)
        if pfn < 0:
            for p in got:
                s.mem.free_pages(p, 0)
            return -1
        got.append(pfn)
    zs.free_ids.pop()
    for i, pfn in enumerate(got):
        zs_mark_page(s, s.mem.pages[pfn], zspage, i == 0, i == len(got) - 1, cls == ZS_HUGE_CLASS)
    zs.pages[zspage] = got
    zs.objs[zspage] = 0
    zs.max_objs[zspage] = ZS_CLASS_OBJS[cls]
    zs.cls[zspage] = cls
    zs.live.insert(0, zspage)
    s.vm["zspage_alloc"] += 1
    return zspage


def zs_malloc(s, cls: int, zone_hi: int, wmark: int = WMARK_MIN) -> int:
    """Store one object of size class ``cls``; returns its zspage or -1. New zspage
    pages come from above ``wmark`` (-1, no watermark: a store from reclaim)."""
    zs = s.zs
    zspage = zs.current[cls]
    if zspage < 0 or zs.objs[zspage] >= zs.max_objs[zspage]:
        zspage = alloc_zspage(s, cls, zone_hi, wmark)
        if zspage < 0:
            return -1
        zs.current[cls] = zspage
    zs.objs[zspage] += 1
    zs.objects += 1
    return zspage


def free_zspage(s, zspage: int) -> None:
    """``free_zspage``: every sub-page zsmalloc still has goes back to the buddy."""
    zs = s.zs
    for pfn in zs.pages[zspage]:
        if pfn >= 0:
            page = s.mem.pages[pfn]
            if test(page, pg.PG_lru):  # put there by a misroute
                del_page_from_lru_list(s, page)
            s.mem.free_pages(pfn, 0)
    cls = zs.cls[zspage]
    if zs.current[cls] == zspage:
        zs.current[cls] = -1
    for table in (zs.pages, zs.objs, zs.max_objs, zs.cls):
        del table[zspage]
    i = zs.live.index(zspage)
    zs.live[i] = zs.live[0]
    zs.live.pop(0)
    zs.free_ids.append(zspage)
    s.vm["zspage_free"] += 1


def zs_free(s) -> int:
    """Drop one object from a random live zspage that has one (swap-in or discard); an
    emptied zspage other than its class's current one is freed."""
    zs = s.zs
    if not zs.live or zs.objects == 0:
        return -1
    n = len(zs.live)
    start = s.rng.below(n)
    for k in range(n):
        zspage = zs.live[(start + k) % n]
        if zs.objs[zspage] > 0:
            zs.objs[zspage] -= 1
            zs.objects -= 1
            if zs.objs[zspage] == 0 and zs.current[zs.cls[zspage]] != zspage:
                free_zspage(s, zspage)
            return zspage
    return -1


def replace_sub_page(s, zspage: int, old: int, new: int) -> int:
    """``replace_sub_page``: the zspage holds ``new`` where it held ``old``; the index."""
    pages = s.zs.pages[zspage]
    for i, pfn in enumerate(pages):
        if pfn == old:
            pages[i] = new
            return i
    return -1


def reclaim_zsmalloc_page(s, page, rule_: int) -> None:
    """Reclaim frees a zsmalloc sub-page its pool still uses: the zspage's objects are
    lost (the zspage itself stays, empty)."""
    zs = s.zs
    zspage = page.private
    lost = zs.objs[zspage]
    record(s, page, "objects_lost", rule_, lost)
    zs.objs[zspage] = 0
    zs.objects -= lost
    pages = zs.pages[zspage]
    for i, pfn in enumerate(pages):
        if pfn == page.pfn:
            pages[i] = -1
    cls = zs.cls[zspage]
    if cls >= 0 and zs.current[cls] == zspage:
        zs.current[cls] = -1
    page.refcount = 0
    s.mem.free_pages(page.pfn, 0)
