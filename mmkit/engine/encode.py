"""Re-encoding a Memory built under one variant for another: the same pages, the era's
marks (PageBuddy, slab and page-table types) rewritten; the free lists are untouched."""

from __future__ import annotations

import numpy as np
from mmkit.engine.jit import kernel

from mmkit.engine.pageflags import buddy_value, slab_value, table_value
from mmkit.errors import ParameterError
from mmkit.model.flags import PG_slab
from mmkit.model.kinds import PageKind

K_SLAB = int(PageKind.SLAB)
K_SLAB_RECLAIMABLE = int(PageKind.SLAB_RECLAIMABLE)
K_PAGETABLE = int(PageKind.PAGETABLE)


@kernel(nogil=True)
def _reencode(A, vc_from, vc_to):
    b_from = buddy_value(vc_from)
    b_to = buddy_value(vc_to)
    typed_to = slab_value(vc_to) != -1
    for p in range(A.flags.shape[0]):
        k = A.kind[p]
        if A.mapcount[p] == b_from:
            A.mapcount[p] = b_to
        elif (k == K_SLAB or k == K_SLAB_RECLAIMABLE) and A.lru_next[p] > -2:
            if typed_to:
                A.flags[p] &= np.uint32(0xFFFFFFFF ^ (1 << PG_slab))
                A.mapcount[p] = slab_value(vc_to)
            else:
                A.flags[p] |= np.uint32(1 << PG_slab)
                A.mapcount[p] = -1
        elif k == K_PAGETABLE:
            A.mapcount[p] = table_value(vc_to)


def reencode(mem, variant, *, copy: bool = True):
    """A copy of ``mem`` with ``variant``'s encodings (``mem`` itself is not changed);
    with ``copy=False``, ``mem`` itself re-encoded (for a caller that made the copy)."""
    from mmkit.semantics import variant as get_variant

    v = get_variant(variant)
    out = mem.copy() if copy else mem
    if mem.variant is not None and mem.variant.compile().tolist() == v.compile().tolist():
        out.variant = v
        return out
    from mmkit.engine.pcp import setup_pcp
    bad = np.isin(mem.kind, [PageKind.BALLOON, PageKind.ZSMALLOC, PageKind.ISOLATED_FREE])
    if bad.any():
        raise ParameterError(
            "memory: this Memory holds balloon or zsmalloc pages, whose marks differ between "
            f"variants (first at pfn {int(np.flatnonzero(bad)[0]):#x}); start from a synthetic machine "
            "or a snapshot, which are built per variant"
        )
    _reencode(out.arrays(), mem.variant.compile(), v.compile())
    out.variant = v
    setup_pcp(out, v)  # the per-CPU lists as the era sizes and keeps them
    return out
