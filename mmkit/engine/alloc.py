"""Allocating and freeing pages of a given kind: ``prep_new_page`` with what the kernel
sets for that kind in the variant's era, ``__free_pages`` with ``free_pages_prepare``."""

from __future__ import annotations

import numpy as np
from mmkit.engine.jit import kernel

from mmkit.engine.buddy import (
    ISOLATE,
    MIGRATE_PCPTYPES,
    MOVABLE,
    WMARK_HIGH,
    WMARK_LOW,
    __free_one_page,
    __rmqueue,
    alloc_flags_nofragment,
    get_pageblock_migratetype,
    page_zone,
    zone_watermark_ok,
)
from mmkit.engine.pcp import ZONE_BELOW_HIGH, free_unref_page_commit, pcp_enabled, rmqueue_pcplist
from mmkit.engine.pageflags import set_page_kind, slab_value, table_value
from mmkit.model.encodings import PAGE_MAPPING_ANON
from mmkit.model.flags import PG_head, PG_slab, PG_swapbacked, PG_uptodate
from mmkit.model.kinds import PageKind
from mmkit.semantics.rules import PageTypes
from mmkit.semantics.variant import F_PAGE_TYPES, F_PCP_AUTOTUNE

K_FREE = int(PageKind.FREE)
K_PCP = int(PageKind.PCP)
K_KERNEL = int(PageKind.KERNEL)
K_PAGETABLE = int(PageKind.PAGETABLE)
K_SLAB = int(PageKind.SLAB)
K_SLAB_RECLAIMABLE = int(PageKind.SLAB_RECLAIMABLE)
K_ANON = int(PageKind.ANON)
K_FILE = int(PageKind.FILE)
_ONE_BYTE = int(PageTypes.ONE_BYTE)

# kinds prep_kind knows; balloon and zsmalloc pages are made by their owners
PREPPABLE_KINDS = (K_KERNEL, K_PAGETABLE, K_SLAB, K_SLAB_RECLAIMABLE, K_ANON, K_FILE)

OP_ALLOC = 0
OP_FREE = 1


@kernel(inline="always")
def prep_kind(A, vc, pfn, kind, owner):
    """What the kernel's allocator caller sets on a fresh page of ``kind``.

    slab: PG_slab (``__SetPageSlab``) up to v6.9, the PGTY_slab type after; page tables:
    PGTY_table in typed eras; anon: PG_swapbacked, PG_uptodate, mapping = anon_vma | 1,
    mapped once (``page_add_new_anon_rmap``); file: PG_uptodate, mapping = the inode's.
    """
    if kind == K_SLAB or kind == K_SLAB_RECLAIMABLE:
        if vc[F_PAGE_TYPES] == _ONE_BYTE:
            A.mapcount[pfn] = slab_value(vc)
        else:
            A.flags[pfn] |= np.uint32(1 << PG_slab)
    elif kind == K_PAGETABLE:
        A.mapcount[pfn] = table_value(vc)
    elif kind == K_ANON:
        A.flags[pfn] |= np.uint32((1 << PG_uptodate) | (1 << PG_swapbacked))
        A.mapping[pfn] = (owner << 2) | PAGE_MAPPING_ANON
        A.mapcount[pfn] = 0
    elif kind == K_FILE:
        A.flags[pfn] |= np.uint32(1 << PG_uptodate)
        A.mapping[pfn] = owner << 2


@kernel(inline="always")
def prep_new_page(A, vc, pfn, order, kind, owner, compound):
    """``prep_new_page`` (+ ``prep_compound_page``): refcount 1 on the head, tails point
    at the head through ``compound_head``, the order in ``page[1].compound_order``."""
    n = 1 << order
    for p in range(pfn, pfn + n):
        set_page_kind(A, p, kind)
        A.flags[p] = 0
        A.mapping[p] = 0
        A.mapcount[p] = -1
        A.private[p] = 0
        A.refcount[p] = 0
    A.refcount[pfn] = 1
    if compound and order > 0:
        A.flags[pfn] |= np.uint32(1 << PG_head)
        for p in range(pfn + 1, pfn + n):
            A.lru_next[p] = -2 - pfn
        A.private[pfn + 1] = order
    prep_kind(A, vc, pfn, kind, owner)


ALLOC_NO_WATERMARKS = -1  # a ``wmark`` for allocations from reclaim (PF_MEMALLOC)


@kernel(inline="always")
def alloc_pages(A, vc, order, mt, kind, owner, compound, zone_hi, wmark):
    """``get_page_from_freelist`` over the zonelist ``zone_hi`` .. 0 (no reclaim or
    compaction here): the first zone above watermark ``wmark`` that has a block.
    ``ALLOC_NO_WATERMARKS``: any zone with a block (a task in reclaim, PF_MEMALLOC).
    ``alloc_nofragment`` (v5.0): the fast path (``WMARK_LOW``) of a request whose
    preferred zone is Normal first tries every zone without taking less than a pageblock
    from another migratetype, then again without that limit."""
    # the fast path (low watermark) of a Normal-zone request: ALLOC_NOFRAGMENT first
    nofrag = wmark == WMARK_LOW and alloc_flags_nofragment(A, vc, zone_hi)
    while True:
        z = zone_hi
        while z >= 0:
            if A.pcp.shape[1] > 0 and vc[F_PCP_AUTOTUNE] != 0 and (A.zone_flags[z] & ZONE_BELOW_HIGH) == 0:
                # v6.7+ get_page_from_freelist: a zone found below its high watermark is
                # marked ZONE_BELOW_HIGH, which makes its per-CPU lists shrink
                if not zone_watermark_ok(A, z, order, A.wmark[z, WMARK_HIGH], mt == MOVABLE):
                    A.zone_flags[z] |= ZONE_BELOW_HIGH
            if wmark < 0 or zone_watermark_ok(A, z, order, A.wmark[z, wmark], mt == MOVABLE):
                pfn = -1
                if pcp_enabled(A, vc, order, mt):
                    pfn = rmqueue_pcplist(A, vc, z, order, mt, nofrag)
                if pfn < 0:
                    pfn = __rmqueue(A, vc, z, order, mt, nofrag)
                if pfn >= 0:
                    prep_new_page(A, vc, pfn, order, kind, owner, compound)
                    return pfn
            z -= 1
        if not nofrag:
            return -1
        nofrag = False  # no zone could serve it without fragmenting: again, allowed to


@kernel(inline="always")
def free_pages(A, vc, pfn, order):
    """``__free_pages``: ``free_pages_prepare`` clears the frames, then the block goes
    to this CPU's per-CPU list if the era keeps its order there
    (``free_unref_page_commit``; a block in an isolated pageblock never does), else
    ``__free_one_page`` into the list of the pageblock's migratetype."""
    mt = get_pageblock_migratetype(A, pfn)
    to_pcp = mt != ISOLATE and pcp_enabled(A, vc, order, MOVABLE if mt >= MIGRATE_PCPTYPES else mt)
    for p in range(pfn, pfn + (1 << order)):
        set_page_kind(A, p, K_PCP if to_pcp else K_FREE)
        A.flags[p] = 0
        A.mapping[p] = 0
        A.mapcount[p] = -1
        A.private[p] = 0
        A.refcount[p] = 0
        if A.lru_next[p] <= -2:  # compound_head of a tail page
            A.lru_next[p] = -1
    z = page_zone(A, pfn)
    if to_pcp:
        free_unref_page_commit(A, vc, pfn, z, order, mt)
    else:
        __free_one_page(A, vc, pfn, z, order, mt)


@kernel
def get_page_from_freelist(A, vc, order, mt, kind, owner, compound, zone_hi, wmark):
    """``alloc_pages`` as a call, for the cold paths (the slow path's retries, balloon
    and zsmalloc pages): one compiled copy of the allocator serves them all."""
    return alloc_pages(A, vc, order, mt, kind, owner, compound, zone_hi, wmark)


@kernel
def free_the_page(A, vc, pfn, order):
    """``free_pages`` as a call, for the cold paths (reclaim, zsmalloc, contiguous
    ranges, failed migrations to outside targets)."""
    free_pages(A, vc, pfn, order)


@kernel
def run_ops(A, vc, ops, out):
    """Run a batch of allocator operations (rows of ``ops``), results into ``out``.

    ``OP_ALLOC``: (order, migratetype, kind, owner, zone_hi, compound) -> pfn or -1;
    ``OP_FREE``: (pfn, order) -> 0. The wmark is WMARK_MIN.
    """
    for k in range(ops.shape[0]):
        op = ops[k, 0]
        if op == OP_ALLOC:
            out[k] = alloc_pages(A, vc, ops[k, 1], ops[k, 2], ops[k, 3], ops[k, 4], ops[k, 6] != 0, ops[k, 5], 0)
        else:
            free_pages(A, vc, ops[k, 1], ops[k, 2])
            out[k] = 0
