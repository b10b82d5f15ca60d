"""Making and ending the page populations the workloads need: anonymous and file LRU
pages with filesystem flag habits, THP, slab, kernel and page-table pages. Each goes
through ``__alloc_pages_nodemask`` (so it may reclaim and compact) and is marked as the
kernel marks such a page."""

from __future__ import annotations

from mmkit.engine.jit import inline_into, kernel

from mmkit.engine.alloc import free_pages
from mmkit.engine.buddy import CMA, MOVABLE, RECLAIMABLE, UNMOVABLE, get_pageblock_migratetype
from mmkit.engine.owners import add_page_to_lru_list, del_page_from_lru_list
from mmkit.engine.page_alloc import GFP_DEFAULT, GFP_TRANSHUGE, __alloc_pages_nodemask
from mmkit.engine.predicates import PageIsolated, set_bit, test_bit
from mmkit.engine.state import (
    ST_OWNER_NEXT,
    VM_ORDER2_ALLOC,
    VM_ORDER2_FAIL,
    VM_ORDER3_ALLOC,
    VM_ORDER3_FAIL,
    VM_PGMIGRATE_SUCCESS,
    VM_THP_FAULT_ALLOC,
    VM_THP_FAULT_FALLBACK,
    rand_below,
)
from mmkit.model.flags import (
    PG_active,
    PG_dirty,
    PG_head,
    PG_lru,
    PG_owner_priv_1,
    PG_private,
    PG_private_2,
    PG_unevictable,
    PG_writeback,
)
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, PageKind
from mmkit.semantics.variant import F_LONGTERM_PIN_MIGRATE

K_ANON = int(PageKind.ANON)
K_FILE = int(PageKind.FILE)
K_KERNEL = int(PageKind.KERNEL)
K_SLAB = int(PageKind.SLAB)
K_SLAB_RECLAIMABLE = int(PageKind.SLAB_RECLAIMABLE)
K_PAGETABLE = int(PageKind.PAGETABLE)

# file page habits (bits of the ``habits`` argument)
FILE_DIRTY = 1
FILE_CHECKED = 2  # PG_checked: ext4 data=journal
FILE_FSCACHE = 4  # PG_private_2: fscache / btrfs
FILE_UNEVICTABLE = 8
FILE_MAPPED = 16
FILE_BUFFERS = 32  # PG_private: buffer heads attached
FILE_WRITEBACK = 64  # PG_writeback: under writeback


@kernel(inline="always")
def new_owner(S):
    o = S.st[ST_OWNER_NEXT]
    S.st[ST_OWNER_NEXT] = 16 + (o - 15) % (1 << 28)
    return o


@kernel
def anon_fault(A, vc, S, zone_hi, pinned, gfp=GFP_DEFAULT):
    """A page fault on anonymous memory: a new page on the active anon list; with
    ``pinned``, a long-term pin of it (``pin_user_pages(FOLL_LONGTERM)``), which from
    v5.1 (``longterm_pin_migrate``) first moves a page of a CMA pageblock out. Returns
    the page (-1 if the fault failed)."""
    pfn = __alloc_pages_nodemask(A, vc, S, 0, MOVABLE, K_ANON, new_owner(S), False, zone_hi, gfp)
    if pfn < 0:
        return -1
    set_bit(A, pfn, PG_active)
    add_page_to_lru_list(A, pfn)
    if pinned:
        if vc[F_LONGTERM_PIN_MIGRATE] != 0 and get_pageblock_migratetype(A, pfn) == CMA:
            new = migrate_longterm_unpinnable(A, vc, S, pfn, zone_hi, gfp)
            if new < 0:
                return pfn  # the pin failed (-ENOMEM): the page stays, unpinned
            pfn = new
        A.refcount[pfn] += 1  # the pin
    return pfn


@kernel
def migrate_longterm_unpinnable(A, vc, S, pfn, zone_hi, gfp):
    """``migrate_longterm_unpinnable_folios`` for one fresh anonymous page of a CMA
    pageblock (``folio_is_longterm_pinnable`` is false there): a target from
    ``GFP_USER`` (an unmovable request: never CMA), the page's identity moved into it
    (pgmigrate_success), the old page freed. -1 if no target was found. The page is
    isolated from the LRU (``folio_isolate_lru``, a reference) before the target is
    allocated, so the reclaim that allocation may do cannot take it; without a target
    it is put back."""
    owner = A.mapping[pfn] >> 2
    del_page_from_lru_list(A, pfn)
    A.refcount[pfn] += 1
    new = __alloc_pages_nodemask(A, vc, S, 0, UNMOVABLE, K_ANON, owner, False, zone_hi, gfp)
    A.refcount[pfn] -= 1
    if new < 0:
        add_page_to_lru_list(A, pfn)  # putback_movable_pages
        return -1
    A.flags[new] = A.flags[pfn]
    A.mapcount[new] = A.mapcount[pfn]
    A.refcount[pfn] = 0
    free_pages(A, vc, pfn, 0)
    add_page_to_lru_list(A, new)
    S.vm[VM_PGMIGRATE_SUCCESS] += 1
    return new


@kernel(inline="always")
def set_file_habits(A, pfn, habits):
    """The page flags a filesystem's habits (``FILE_*`` bits) leave on a page or folio."""
    if habits & FILE_DIRTY:
        set_bit(A, pfn, PG_dirty)
    if habits & FILE_CHECKED:
        set_bit(A, pfn, PG_owner_priv_1)
    if habits & FILE_FSCACHE:
        set_bit(A, pfn, PG_private_2)
    if habits & FILE_UNEVICTABLE:
        set_bit(A, pfn, PG_unevictable)
    if habits & FILE_BUFFERS:
        set_bit(A, pfn, PG_private)
    if habits & FILE_WRITEBACK:
        set_bit(A, pfn, PG_writeback)
    if habits & FILE_MAPPED:
        A.mapcount[pfn] = 0


@kernel
def file_page(A, vc, S, zone_hi, habits, gfp=GFP_DEFAULT):
    """A page-cache page (read or written), with the filesystem's flag habits."""
    pfn = __alloc_pages_nodemask(A, vc, S, 0, MOVABLE, K_FILE, new_owner(S), False, zone_hi, gfp)
    if pfn < 0:
        return -1
    set_file_habits(A, pfn, habits)
    add_page_to_lru_list(A, pfn)
    return pfn


@kernel
def folio_alloc(A, vc, S, zone_hi, order, habits, file, gfp=GFP_DEFAULT):
    """A large folio of ``order`` (1-8): a page-cache folio with the filesystem's flag
    habits (``FILE_BUFFERS``: buffer heads, PG_private) or an anonymous mTHP, on the
    inactive list."""
    kind = K_FILE if file else K_ANON
    pfn = __alloc_pages_nodemask(A, vc, S, order, MOVABLE, kind, new_owner(S), True, zone_hi, gfp)
    if pfn < 0:
        return -1
    set_file_habits(A, pfn, habits)
    add_page_to_lru_list(A, pfn)
    return pfn


@kernel
def thp_fault(A, vc, S, zone_hi, gfp=GFP_TRANSHUGE):
    """An order-9 anonymous THP (async compaction only); -1 is a fallback."""
    pfn = __alloc_pages_nodemask(A, vc, S, 9, MOVABLE, K_ANON, new_owner(S), True, zone_hi, gfp)
    if pfn < 0:
        S.vm[VM_THP_FAULT_FALLBACK] += 1
        return -1
    S.vm[VM_THP_FAULT_ALLOC] += 1
    set_bit(A, pfn, PG_active)
    add_page_to_lru_list(A, pfn)
    return pfn


@kernel
def kernel_alloc(A, vc, S, zone_hi, order, kind, gfp=GFP_DEFAULT):
    """An unmovable (kernel, slab, page table) or reclaimable (slab) allocation;
    order-2/3 ones are counted (fork's kernel stacks, slab caches)."""
    mt = RECLAIMABLE if kind == K_SLAB_RECLAIMABLE else UNMOVABLE
    pfn = __alloc_pages_nodemask(A, vc, S, order, mt, kind, 0, order > 0, zone_hi, gfp)
    if order == 2:
        S.vm[VM_ORDER2_ALLOC if pfn >= 0 else VM_ORDER2_FAIL] += 1
    elif order == 3:
        S.vm[VM_ORDER3_ALLOC if pfn >= 0 else VM_ORDER3_FAIL] += 1
    return pfn


@kernel
def find_page(A, vc, S, z, kind, budget):
    """A random allocated head page of ``kind`` in zone ``z``, or -1: a bounded walk
    from a random pfn to the first allocation of the kind. A compound page of order k is
    taken with probability 2**-k (else the walk goes on past it), so size does not make
    an allocation likelier; where it lies does: one after a long run of other frames is
    reached from more starting pfns than one inside a run (on review-04 at 512 MiB,
    tick 100, the tenth of anonymous pages after the longest runs take 59 % of the
    frees, of slab pages 84 %). Isolated pages are passed over, and so are kernel pages
    in a MIGRATE_CMA pageblock: unmovable requests never get CMA pages, so those are a
    range ``cma_alloc`` gave out, which its owner frees whole (``cma_release``), not
    page by page."""
    start = A.zone_start[z]
    span = A.zone_end[z] - start
    if span <= 0:
        return -1
    p = start + rand_below(S, span)
    steps = 0
    while steps < min(budget, span):
        if A.pb_nr_kind[p >> PAGEBLOCK_ORDER, kind] == 0:
            # no frame of this pageblock has the kind (a folio's tails have its head's):
            # the walk would step over the rest of the block a page at a time
            nxt = min((p | (PAGEBLOCK_NR_PAGES - 1)) + 1, A.zone_end[z])
            steps += nxt - p
            p = nxt if nxt < A.zone_end[z] else start
            continue
        head = p
        if A.lru_next[p] <= -2:
            head = -2 - A.lru_next[p]
        if A.kind[head] == kind and A.refcount[head] > 0 and not PageIsolated(A, vc, head) \
                and not (kind == K_KERNEL and get_pageblock_migratetype(A, head) == CMA):
            order = A.private[head + 1] if test_bit(A, head, PG_head) else 0
            if order == 0 or rand_below(S, 1 << order) == 0:
                return head
            nxt = head + (1 << order)
        else:
            nxt = p + 1
        steps += nxt - p if nxt > p else 1
        p = nxt if nxt > p else p + 1
        if p >= A.zone_end[z]:
            p = start
    return -1


@kernel(inline=inline_into("replay_ticks"))
def free_user_page(A, vc, pfn):
    """Unmap and free an anonymous or file page (exit, munmap, truncate)."""
    if test_bit(A, pfn, PG_lru):
        del_page_from_lru_list(A, pfn)
    order = 0
    if test_bit(A, pfn, PG_head):
        order = A.private[pfn + 1]
    A.refcount[pfn] = 0
    free_pages(A, vc, pfn, order)


@kernel(inline=inline_into("replay_ticks"))
def free_kernel_page(A, vc, pfn):
    """Free a kernel, slab or page-table allocation (its order from the compound head,
    or 0)."""
    order = 0
    if test_bit(A, pfn, PG_head):
        order = A.private[pfn + 1]
    A.refcount[pfn] = 0
    free_pages(A, vc, pfn, order)
