"""Page predicates and setters whose encoding depends on the era (``PageBuddy``,
``__SetPageBuddy``, ``set_page_order``, ...), reading the compiled Variant."""

from __future__ import annotations

from mmkit.engine.jit import kernel

from mmkit.model.encodings import (
    PAGE_BUDDY_MAPCOUNT_VALUE,
    PAGE_MAPCOUNT_NONE,
    PGTY_buddy,
    PGTY_slab,
    PGTY_STORE_BIAS,
    PGTY_table,
)
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER
from mmkit.semantics.rules import PageTypes
from mmkit.semantics.variant import F_PAGE_TYPES

_ONE_BYTE = int(PageTypes.ONE_BYTE)
_PGTY_BUDDY = PGTY_buddy - PGTY_STORE_BIAS
_PGTY_SLAB = PGTY_slab - PGTY_STORE_BIAS
_PGTY_TABLE = PGTY_table - PGTY_STORE_BIAS


@kernel(inline="always")
def buddy_value(vc):
    """The ``_mapcount`` / ``page_type`` word of a PageBuddy page in this era."""
    return _PGTY_BUDDY if vc[F_PAGE_TYPES] == _ONE_BYTE else PAGE_BUDDY_MAPCOUNT_VALUE


@kernel(inline="always")
def PageBuddy(A, vc, pfn):
    return A.mapcount[pfn] == buddy_value(vc)


@kernel(inline="always")
def set_page_order(A, vc, pfn, order):
    """``set_page_order``: order in page->private, then ``__SetPageBuddy``."""
    A.private[pfn] = order
    A.mapcount[pfn] = buddy_value(vc)


@kernel(inline="always")
def rmv_page_order(A, pfn):
    """``rmv_page_order``: ``__ClearPageBuddy`` and clear page->private."""
    A.mapcount[pfn] = PAGE_MAPCOUNT_NONE
    A.private[pfn] = 0


@kernel(inline="always")
def page_order(A, pfn):
    return A.private[pfn]


@kernel(inline="always")
def slab_value(vc):
    """``page_type`` of a slab page from v6.10 (PG_slab before: returns -1, untyped)."""
    return _PGTY_SLAB if vc[F_PAGE_TYPES] == _ONE_BYTE else PAGE_MAPCOUNT_NONE


@kernel(inline="always")
def table_value(vc):
    """``page_type`` of a page-table page in typed eras (untyped before)."""
    return _PGTY_TABLE if vc[F_PAGE_TYPES] == _ONE_BYTE else PAGE_MAPCOUNT_NONE


@kernel(inline="always")
def set_page_kind(A, pfn, kind):
    """A frame's kind, with its pageblock's count of frames by kind (``pb_nr_kind``,
    what ``sample`` reads instead of the frames) kept in step: every write of ``A.kind``
    goes through here."""
    b = pfn >> PAGEBLOCK_ORDER
    A.pb_nr_kind[b, A.kind[pfn]] -= 1
    A.pb_nr_kind[b, kind] += 1
    A.kind[pfn] = kind


@kernel(nogil=True)
def recount_pb_nr_kind(A):
    """``pb_nr_kind`` from the frames (a Memory built or edited outside the engine).
    Kinds must be below ``pb_nr_kind.shape[1]`` (``Sim`` checks before calling)."""
    n = A.kind.shape[0]
    for b in range(A.pb_nr_kind.shape[0]):
        for k in range(A.pb_nr_kind.shape[1]):
            A.pb_nr_kind[b, k] = 0
        # by runs of one kind (free blocks, folios): one count per run, not per frame
        # (5.2 ms against 8.2 ms for a 24 GiB state)
        p = b << PAGEBLOCK_ORDER
        hi = min(p + PAGEBLOCK_NR_PAGES, n)
        while p < hi:
            k = A.kind[p]
            q = p + 1
            while q < hi and A.kind[q] == k:
                q += 1
            A.pb_nr_kind[b, k] += q - p
            p = q
