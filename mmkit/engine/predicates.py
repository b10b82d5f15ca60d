"""The kernel's page predicates and markers whose meaning depends on the variant:
``__PageMovable``, ``PageMovable``, ``PageIsolated``, ``PageBalloon``, ``__SetPageMovable``,
``__ClearPageMovable`` (SEMANTICS.md §2-§3). Every rule is read from the compiled Variant."""

from __future__ import annotations

import numpy as np
from mmkit.engine.jit import kernel

from mmkit.model.encodings import (
    MAPPING_ID_BALLOON,
    PAGE_BALLOON_MAPCOUNT_VALUE,
    PAGE_MAPPING_MOVABLE,
    PAGE_MOVABLE_MAPCOUNT_VALUE_V3_02,
    PGTY_offline,
    PGTY_STORE_BIAS,
    PGTY_zsmalloc,
)
from mmkit.model.flags import (
    PG_isolated_own,
    PG_lru,
    PG_owner_priv_1,
    PG_private,
    PG_private_2,
    PG_reclaim,
    PG_uptodate,
)
from mmkit.semantics.rules import BalloonProtocol, IsolatedBit, MovableMarker, PageBalloonTest, PageTypes
from mmkit.semantics.variant import (
    F_BALLOON_PROTOCOL,
    F_MOVABLE_MARKER,
    F_PAGE_BALLOON,
    F_PAGE_TYPES,
    F_PG_ISOLATED,
)

MM_NONE = int(MovableMarker.NONE)
MM_255 = int(MovableMarker.PG_RECLAIM_MAPCOUNT_255)
MM_256 = int(MovableMarker.PG_RECLAIM_MAPCOUNT_256)
MM_MAPPING = int(MovableMarker.MAPPING_BIT)
MM_OPS = int(MovableMarker.PG_MOVABLE_OPS)
PB_MAPCOUNT = int(PageBalloonTest.MAPCOUNT)
PB_PRIVATE_2 = int(PageBalloonTest.MAPCOUNT_AND_PRIVATE_2)
PB_MAPPING = int(PageBalloonTest.BALLOON_MAPPING)
PB_OFFLINE = int(PageBalloonTest.PAGE_OFFLINE)
IB_NONE = int(IsolatedBit.NONE)
IB_OPR1 = int(IsolatedBit.PG_OWNER_PRIV_1)
IB_RECLAIM = int(IsolatedBit.PG_RECLAIM)
IB_OWN = int(IsolatedBit.OWN_BIT)
BP_PRIVATE = int(BalloonProtocol.PAGE_PRIVATE)
ONE_BYTE = int(PageTypes.ONE_BYTE)
TY_OFFLINE = PGTY_offline - PGTY_STORE_BIAS
TY_ZSMALLOC = PGTY_zsmalloc - PGTY_STORE_BIAS


@kernel(inline="always")
def test_bit(A, pfn, b):
    return (A.flags[pfn] >> b) & 1 == 1


@kernel(inline="always")
def set_bit(A, pfn, b):
    A.flags[pfn] |= np.uint32(1 << b)


@kernel(inline="always")
def clear_bit(A, pfn, b):
    A.flags[pfn] &= np.uint32(0xFFFFFFFF ^ (1 << b))


@kernel(inline="always")
def PageLRU(A, pfn):
    return test_bit(A, pfn, PG_lru)


@kernel(inline="always")
def mapping_id(A, pfn):
    return A.mapping[pfn] >> 2


@kernel(inline="always")
def marker_movable(A, vc, pfn):
    """The generic marker's lockless test (``__PageMovable`` / v3's PageMovable)."""
    m = vc[F_MOVABLE_MARKER]
    if m == MM_255:
        return test_bit(A, pfn, PG_reclaim) and A.mapcount[pfn] == PAGE_MOVABLE_MAPCOUNT_VALUE_V3_02
    if m == MM_256:
        return test_bit(A, pfn, PG_reclaim) and A.mapcount[pfn] == PAGE_BALLOON_MAPCOUNT_VALUE
    if m == MM_MAPPING:
        return (A.mapping[pfn] & 3) == PAGE_MAPPING_MOVABLE
    if m == MM_OPS:
        mc = A.mapcount[pfn]
        return test_bit(A, pfn, PG_uptodate) and (mc == TY_OFFLINE or mc == TY_ZSMALLOC)
    return False


@kernel(inline="always")
def PageBalloon(A, vc, pfn):
    """``PageBalloon()`` as the variant builds it; feeds KPF_BALLOON (bit 23)."""
    t = vc[F_PAGE_BALLOON]
    if t == PB_MAPCOUNT:
        return A.mapcount[pfn] == PAGE_BALLOON_MAPCOUNT_VALUE
    if t == PB_PRIVATE_2:
        # v3 04 as written: atomic_read(&page->_mapcount) == PAGE_BALLOON_MAPCOUNT_VALUE
        # && PagePrivate2(page), where -256 is every movable page's value; no PG_movable test
        return A.mapcount[pfn] == PAGE_BALLOON_MAPCOUNT_VALUE and test_bit(A, pfn, PG_private_2)
    if t == PB_MAPPING:
        return mapping_id(A, pfn) == MAPPING_ID_BALLOON
    return A.mapcount[pfn] == TY_OFFLINE


@kernel(inline="always")
def __PageMovable(A, vc, pfn):
    """The lockless non-LRU movable test of ``isolate_migratepages_block`` (§3 row 1).

    v3-02 special-cases balloon pages: its test is ``PageMovable || PageBalloon`` (R-02)."""
    if marker_movable(A, vc, pfn):
        return True
    if vc[F_MOVABLE_MARKER] != MM_NONE and vc[F_BALLOON_PROTOCOL] == BP_PRIVATE:
        return PageBalloon(A, vc, pfn)
    return False


@kernel(inline="always")
def page_has_movable_ops(A, vc, pfn):
    """``PageMovable`` under the page lock: the marker plus a mapping (or type) whose
    operations can be called. False where ``isolate_movable_page`` would oops."""
    m = vc[F_MOVABLE_MARKER]
    if not marker_movable(A, vc, pfn):
        return False
    if m == MM_OPS:
        return True
    return mapping_id(A, pfn) != 0


@kernel(inline="always")
def PageIsolated(A, vc, pfn):
    b = vc[F_PG_ISOLATED]
    if b == IB_OPR1:
        return test_bit(A, pfn, PG_owner_priv_1)
    if b == IB_RECLAIM:
        return test_bit(A, pfn, PG_reclaim)
    if b == IB_OWN:
        return test_bit(A, pfn, PG_isolated_own)
    return False


@kernel(inline="always")
def isolated_bit(vc):
    b = vc[F_PG_ISOLATED]
    if b == IB_OPR1:
        return PG_owner_priv_1
    if b == IB_RECLAIM:
        return PG_reclaim
    return PG_isolated_own


@kernel(inline="always")
def SetPageIsolated(A, vc, pfn):
    if vc[F_PG_ISOLATED] != IB_NONE:
        set_bit(A, pfn, isolated_bit(vc))


@kernel(inline="always")
def ClearPageIsolated(A, vc, pfn):
    if vc[F_PG_ISOLATED] != IB_NONE:
        clear_bit(A, pfn, isolated_bit(vc))


@kernel
def __SetPageMovable(A, vc, pfn, mapping_obj):
    """Mark a driver page movable with the variant's marker, under ``mapping_obj``."""
    m = vc[F_MOVABLE_MARKER]
    if m == MM_255 or m == MM_256:
        set_bit(A, pfn, PG_reclaim)
        A.mapcount[pfn] = PAGE_MOVABLE_MAPCOUNT_VALUE_V3_02 if m == MM_255 else PAGE_BALLOON_MAPCOUNT_VALUE
        A.mapping[pfn] = mapping_obj << 2
    elif m == MM_MAPPING:
        A.mapping[pfn] = (mapping_obj << 2) | PAGE_MAPPING_MOVABLE
    elif m == MM_OPS:
        set_bit(A, pfn, PG_uptodate)


@kernel
def __ClearPageMovable(A, vc, pfn):
    """Undo the marker. v4.8 keeps PAGE_MAPPING_MOVABLE so that a racing
    ``__PageMovable`` test still answers yes (K-bda; the D-2019 race)."""
    m = vc[F_MOVABLE_MARKER]
    if m == MM_255 or m == MM_256:
        clear_bit(A, pfn, PG_reclaim)
        A.mapcount[pfn] = -1
        A.mapping[pfn] = 0
    elif m == MM_MAPPING:
        A.mapping[pfn] = A.mapping[pfn] & PAGE_MAPPING_MOVABLE
    elif m == MM_OPS:
        clear_bit(A, pfn, PG_uptodate)


@kernel(inline="always")
def PagePrivate(A, pfn):
    return test_bit(A, pfn, PG_private)


@kernel(inline="always")
def typed_era(vc):
    return vc[F_PAGE_TYPES] == ONE_BYTE
