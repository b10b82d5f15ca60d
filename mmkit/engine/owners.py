"""Page owners: the LRU, the virtio balloon and zsmalloc, each marking its pages as the
variant's era does, so that the kernel's predicates have something real to misjudge.

LRU (``mm/swap.c``, ``mm/vmscan.c``): ``add_page_to_lru_list``, ``putback_lru_page``.
Balloon (``mm/balloon_compaction.c``, ``drivers/virtio/virtio_balloon.c``):
``balloon_page_insert`` / ``balloon_page_delete`` / isolate / putback / migrate, in the
v3.19 PagePrivate protocol or on the generic movable feature (K-d6d, K-b11).
zsmalloc (``mm/zsmalloc.c``): zspages of 1-4 sub-pages; the first sub-page PG_private,
the last PG_private_2 (2016 habit), huge-object pages PG_owner_priv_1 (v4.8 habit);
movable where the variant says so.
"""

from __future__ import annotations

import numpy as np
from mmkit.engine.jit import kernel

from mmkit.engine.alloc import free_pages, free_the_page, get_page_from_freelist
from mmkit.engine.buddy import MOVABLE, UNMOVABLE, page_zone
from mmkit.engine.pageflags import set_page_kind
from mmkit.engine.lists import list_add, list_del, lru_head, misc_head
from mmkit.engine.predicates import (
    PB_MAPPING,
    PB_PRIVATE_2,
    TY_OFFLINE,
    TY_ZSMALLOC,
    PageIsolated,
    __ClearPageMovable,
    __SetPageMovable,
    clear_bit,
    set_bit,
    test_bit,
    typed_era,
)
from mmkit.engine.state import (
    EV_LIST_CORRUPTION,
    HEAD_BALLOON,
    RULE_NONE,
    ST_BALLOON_ISOLATED,
    ST_BALLOON_PAGES,
    ST_ZS_IDS_USED,
    ST_ZS_LIVE,
    ST_ZS_OBJECTS,
    VM_BALLOON_DEFLATE,
    VM_BALLOON_INFLATE,
    VM_ZSPAGE_ALLOC,
    VM_ZSPAGE_FREE,
    ZS_HUGE_CLASS,
    ZS_MAX_PAGES,
    rand_below,
    record,
)
from mmkit.model.encodings import MAPPING_ID_BALLOON, MAPPING_ID_ZSMALLOC, PAGE_BALLOON_MAPCOUNT_VALUE
from mmkit.model.flags import (
    PG_active,
    PG_lru,
    PG_owner_priv_1,
    PG_private,
    PG_private_2,
    PG_swapbacked,
    PG_unevictable,
)
from mmkit.model.kinds import (
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
    LRU_UNEVICTABLE,
    PageKind,
)
from mmkit.semantics.rules import BalloonProtocol
from mmkit.semantics.variant import (
    F_BALLOON_PROTOCOL,
    F_PAGE_BALLOON,
    F_ZSMALLOC_HUGE_OWNER_PRIV_1,
    F_ZSMALLOC_LAST_PRIVATE_2,
    F_ZSMALLOC_MOVABLE,
)

K_BALLOON = int(PageKind.BALLOON)
K_ZSMALLOC = int(PageKind.ZSMALLOC)
K_KERNEL = int(PageKind.KERNEL)
BP_GENERIC = int(BalloonProtocol.GENERIC)
BALLOON_ID = 1  # page->private of a balloon page: its balloon_dev_info

# zsmalloc size classes modelled: pages per zspage and objects per zspage
ZS_CLASS_PAGES = np.array([1, 2, 3, 4, 1], dtype=np.int64)
ZS_CLASS_OBJS = np.array([3, 5, 4, 7, 1], dtype=np.int64)


# ------------------------------------------------------------------------ LRU
@kernel(inline="always")
def page_lru(A, pfn):
    """``page_lru``: unevictable, else file/anon by PG_swapbacked, active by PG_active."""
    if test_bit(A, pfn, PG_unevictable):
        return LRU_UNEVICTABLE
    lru = LRU_INACTIVE_FILE if not test_bit(A, pfn, PG_swapbacked) else LRU_INACTIVE_ANON
    if test_bit(A, pfn, PG_active):
        lru += 1
    return lru


@kernel(inline="always")
def add_page_to_lru_list(A, pfn):
    """``SetPageLRU`` + ``add_page_to_lru_list`` at the list head (``lru_cache_add``),
    counted in the zone's ``lru_size``."""
    set_bit(A, pfn, PG_lru)
    z = page_zone(A, pfn)
    lru = page_lru(A, pfn)
    list_add(A, pfn, lru_head(A, z, lru))
    A.lru_size[z, lru] += 1


@kernel(inline="always")
def del_page_from_lru_list(A, pfn):
    """Off its LRU list; ``lru_size`` of the list ``page_lru`` names now goes down (a
    page that left a list some other way, as a misrouted driver page does, leaves the
    count wrong, as it would in the kernel)."""
    A.lru_size[page_zone(A, pfn), page_lru(A, pfn)] -= 1
    list_del(A, pfn)
    clear_bit(A, pfn, PG_lru)


@kernel(nogil=True)
def recount_lru(A):
    """``lru_size`` from the lists themselves (a Memory built outside the engine)."""
    for z in range(A.zone_start.shape[0]):
        for lru in range(A.lru_size.shape[1]):
            head = lru_head(A, z, lru)
            n = 0
            node = A.lru_next[head]
            while node != head and node >= 0 and n < A.flags.shape[0]:
                n += 1
                node = A.lru_next[node]
            A.lru_size[z, lru] = n


@kernel(inline="always")
def putback_lru_page(A, pfn):
    """``putback_lru_page``: back onto the LRU, then drop the isolation reference.

    It threads ``page->lru`` onto an LRU list whatever the page is: on a driver's page
    that is the LRU corruption of SEMANTICS.md §4.2."""
    add_page_to_lru_list(A, pfn)
    A.refcount[pfn] -= 1


@kernel
def put_page(A, vc, pfn):
    """``put_page``: drop a reference; the last one frees the page."""
    A.refcount[pfn] -= 1
    if A.refcount[pfn] == 0:
        if test_bit(A, pfn, PG_lru):
            del_page_from_lru_list(A, pfn)  # __page_cache_release
        free_pages(A, vc, pfn, 0)


# ------------------------------------------------------------------------ balloon
@kernel
def balloon_page_insert(A, vc, S, pfn):
    """``balloon_page_insert`` with the era's marks, then onto ``balloon->pages``."""
    set_page_kind(A, pfn, K_BALLOON)
    A.mapcount[pfn] = TY_OFFLINE if typed_era(vc) else PAGE_BALLOON_MAPCOUNT_VALUE
    A.private[pfn] = BALLOON_ID
    if vc[F_BALLOON_PROTOCOL] == BP_GENERIC:
        __SetPageMovable(A, vc, pfn, MAPPING_ID_BALLOON)
    else:
        set_bit(A, pfn, PG_private)
    if vc[F_PAGE_BALLOON] == PB_MAPPING and A.mapping[pfn] >> 2 == 0:
        A.mapping[pfn] = MAPPING_ID_BALLOON << 2
    if vc[F_PAGE_BALLOON] == PB_PRIVATE_2:
        set_bit(A, pfn, PG_private_2)
    list_add(A, pfn, misc_head(A, HEAD_BALLOON))


@kernel
def balloon_page_delete(A, vc, pfn):
    """``balloon_page_delete``: clear the marks; take the page off ``balloon->pages``
    unless it is isolated (v3.19: PagePrivate tells; generic: PageIsolated tells)."""
    on_list = False
    if vc[F_BALLOON_PROTOCOL] == BP_GENERIC:
        on_list = not PageIsolated(A, vc, pfn)
        __ClearPageMovable(A, vc, pfn)
    else:
        on_list = test_bit(A, pfn, PG_private)
        clear_bit(A, pfn, PG_private)
    if A.mapcount[pfn] == PAGE_BALLOON_MAPCOUNT_VALUE or A.mapcount[pfn] == TY_OFFLINE:
        A.mapcount[pfn] = -1
    if vc[F_PAGE_BALLOON] == PB_PRIVATE_2:
        clear_bit(A, pfn, PG_private_2)
    if vc[F_PAGE_BALLOON] == PB_MAPPING and A.mapping[pfn] >> 2 == MAPPING_ID_BALLOON:
        A.mapping[pfn] = A.mapping[pfn] & 3
    A.private[pfn] = 0
    if on_list:
        list_del(A, pfn)


@kernel
def balloon_inflate(A, vc, S, n, zone_hi):
    """``fill_balloon``: allocate ``n`` movable pages (``balloon_page_alloc``) and enqueue
    them. Returns the pages inflated (fewer when memory runs out)."""
    done = 0
    for _ in range(n):
        pfn = get_page_from_freelist(A, vc, 0, MOVABLE, K_BALLOON, 0, False, zone_hi, 0)
        if pfn < 0:
            break
        balloon_page_insert(A, vc, S, pfn)
        S.st[ST_BALLOON_PAGES] += 1
        S.vm[VM_BALLOON_INFLATE] += 1
        done += 1
    return done


@kernel
def balloon_page_dequeue(A, vc, S):
    """``balloon_page_dequeue``: the first page on ``balloon->pages`` that is not isolated.

    Where the list is broken (a node that does not point back at the one before it: a
    page a misrouted putback threaded onto an LRU list, since freed or moved), the
    kernel's ``list_for_each_entry_safe`` would walk on into that other list; the walk
    stops there with a ``list_corruption`` event, and the pages behind it stay lost."""
    head = misc_head(A, HEAD_BALLOON)
    n = A.flags.shape[0]
    prev = head
    node = A.lru_next[head]
    steps = 0
    while node != head and steps < n:
        if node < 0 or A.lru_prev[node] != prev:
            record(S, A, node if 0 <= node < n else (prev if prev < n else -1), EV_LIST_CORRUPTION, RULE_NONE, 0)
            return -1
        if node < n and A.kind[node] == K_BALLOON and not PageIsolated(A, vc, node):
            balloon_page_delete(A, vc, node)
            return node
        prev = node
        node = A.lru_next[node]
        steps += 1
    return -1


@kernel
def balloon_deflate(A, vc, S, n):
    """``leak_balloon``: dequeue ``n`` pages and give them back (``release_pages_balloon``)."""
    done = 0
    for _ in range(n):
        pfn = balloon_page_dequeue(A, vc, S)
        if pfn < 0:
            break
        S.st[ST_BALLOON_PAGES] -= 1
        S.vm[VM_BALLOON_DEFLATE] += 1
        set_page_kind(A, pfn, K_KERNEL)  # the balloon's reference, about to be dropped
        put_page(A, vc, pfn)
        done += 1
    return done


@kernel
def balloon_isolate(A, vc, S, pfn):
    """The balloon's isolate step: off ``balloon->pages``; v3.19 clears PagePrivate."""
    if vc[F_BALLOON_PROTOCOL] != BP_GENERIC:
        clear_bit(A, pfn, PG_private)
    list_del(A, pfn)
    S.st[ST_BALLOON_ISOLATED] += 1


@kernel
def balloon_putback(A, vc, S, pfn):
    """``balloon_page_putback``: back on ``balloon->pages`` (v3.19: PagePrivate again)."""
    if vc[F_BALLOON_PROTOCOL] != BP_GENERIC:
        set_bit(A, pfn, PG_private)
    list_add(A, pfn, misc_head(A, HEAD_BALLOON))
    S.st[ST_BALLOON_ISOLATED] -= 1


# ------------------------------------------------------------------------ zsmalloc
@kernel
def zs_mark_page(A, vc, pfn, zspage, first, last, huge):
    """What ``alloc_zspage`` / ``zs_page_migrate`` set on one sub-page in this era."""
    set_page_kind(A, pfn, K_ZSMALLOC)
    A.private[pfn] = zspage
    if typed_era(vc):
        A.mapcount[pfn] = TY_ZSMALLOC
    if first:
        set_bit(A, pfn, PG_private)
    if last and vc[F_ZSMALLOC_LAST_PRIVATE_2] != 0:
        set_bit(A, pfn, PG_private_2)
    if huge and vc[F_ZSMALLOC_HUGE_OWNER_PRIV_1] != 0:
        set_bit(A, pfn, PG_owner_priv_1)
    if vc[F_ZSMALLOC_MOVABLE] != 0:
        __SetPageMovable(A, vc, pfn, MAPPING_ID_ZSMALLOC)


@kernel
def alloc_zspage(A, vc, S, cls, zone_hi, wmark):
    """``alloc_zspage``: sub-pages from the buddy, movable only where zsmalloc is, above
    watermark ``wmark`` (``ALLOC_NO_WATERMARKS`` when zram writes from reclaim)."""
    cap = S.zs_free_ids.shape[0]
    live = S.st[ST_ZS_LIVE]
    if cap == 0 or live >= cap:
        return -1
    if live >= S.st[ST_ZS_IDS_USED]:
        # a stack slot never popped: it holds id ``live`` (the stack starts as cap-1 .. 0;
        # ids 0..live-1 are all below it), an id never used, whose row starts clean
        S.zs_free_ids[cap - 1 - live] = live
        for i in range(ZS_MAX_PAGES):
            S.zs_pages[live, i] = -1
        S.zs_class[live] = -1
        S.st[ST_ZS_IDS_USED] = live + 1
    zspage = S.zs_free_ids[cap - 1 - live]
    npages = ZS_CLASS_PAGES[cls]
    mt = MOVABLE if vc[F_ZSMALLOC_MOVABLE] != 0 else UNMOVABLE
    for i in range(npages):
        pfn = get_page_from_freelist(A, vc, 0, mt, K_ZSMALLOC, 0, False, zone_hi, wmark)
        if pfn < 0:
            for j in range(i):
                free_the_page(A, vc, S.zs_pages[zspage, j], 0)
                S.zs_pages[zspage, j] = -1
            return -1
        S.zs_pages[zspage, i] = pfn
    for i in range(npages):
        zs_mark_page(A, vc, S.zs_pages[zspage, i], zspage, i == 0, i == npages - 1, cls == ZS_HUGE_CLASS)
    S.zs_npages[zspage] = npages
    S.zs_objs[zspage] = 0
    S.zs_max[zspage] = ZS_CLASS_OBJS[cls]
    S.zs_class[zspage] = cls
    S.st[ST_ZS_LIVE] += 1
    S.vm[VM_ZSPAGE_ALLOC] += 1
    return zspage


@kernel
def zs_malloc(A, vc, S, cls, zone_hi, wmark):
    """Store one compressed object of size class ``cls``; returns the zspage or -1.
    A new zspage's pages come from above watermark ``wmark``: zram writes a swapped
    page from reclaim, whose PF_MEMALLOC gives it ALLOC_NO_WATERMARKS."""
    zspage = S.zs_current[cls]
    if zspage < 0 or S.zs_objs[zspage] >= S.zs_max[zspage]:
        zspage = alloc_zspage(A, vc, S, cls, zone_hi, wmark)
        if zspage < 0:
            return -1
        S.zs_current[cls] = zspage
    S.zs_objs[zspage] += 1
    S.st[ST_ZS_OBJECTS] += 1
    return zspage


@kernel
def free_zspage(A, vc, S, zspage):
    """``free_zspage``: reset and free every sub-page zsmalloc still has."""
    for i in range(S.zs_npages[zspage]):
        pfn = S.zs_pages[zspage, i]
        if pfn >= 0:
            if test_bit(A, pfn, PG_lru):  # a misrouted page still on an LRU list
                del_page_from_lru_list(A, pfn)
            free_the_page(A, vc, pfn, 0)
        S.zs_pages[zspage, i] = -1
    cls = S.zs_class[zspage]
    if S.zs_current[cls] == zspage:
        S.zs_current[cls] = -1
    S.zs_npages[zspage] = 0
    S.zs_objs[zspage] = 0
    S.zs_max[zspage] = 0
    S.zs_class[zspage] = -1
    # give the id back: the stack's live region shrinks by one, id goes to its top
    live = S.st[ST_ZS_LIVE]
    top = S.zs_free_ids.shape[0] - live
    for k in range(top, S.zs_free_ids.shape[0]):
        if S.zs_free_ids[k] == zspage:
            S.zs_free_ids[k] = S.zs_free_ids[top]
            S.zs_free_ids[top] = zspage
            break
    S.st[ST_ZS_LIVE] = live - 1
    S.vm[VM_ZSPAGE_FREE] += 1


@kernel
def zs_free(A, vc, S):
    """Free one compressed object (a swap-in or a discard) from a random live zspage;
    an emptied zspage is freed. Returns the zspage or -1 when zram is empty."""
    live = S.st[ST_ZS_LIVE]
    if live == 0 or S.st[ST_ZS_OBJECTS] == 0:
        return -1
    cap = S.zs_free_ids.shape[0]
    start = rand_below(S, live)
    for k in range(live):
        zspage = S.zs_free_ids[cap - live + (start + k) % live]
        if S.zs_objs[zspage] > 0:
            S.zs_objs[zspage] -= 1
            S.st[ST_ZS_OBJECTS] -= 1
            if S.zs_objs[zspage] == 0 and S.zs_current[S.zs_class[zspage]] != zspage:
                free_zspage(A, vc, S, zspage)
            return zspage
    return -1


@kernel
def zs_replace_page(S, zspage, oldpfn, newpfn):
    """``replace_sub_page``: the zspage now holds ``newpfn`` where it held ``oldpfn``."""
    for i in range(S.zs_npages[zspage]):
        if S.zs_pages[zspage, i] == oldpfn:
            S.zs_pages[zspage, i] = newpfn
            return i
    return -1
