"""The page tests and markers whose meaning depends on the kernel version, read from the
Variant's fields as SEMANTICS.md §2-§3 tabulates them: ``__PageMovable`` (the lockless
test of ``isolate_migratepages_block``), ``PageMovable`` under the page lock,
``PageBalloon``, ``PageIsolated``, ``__SetPageMovable`` / ``__ClearPageMovable``.

Each function takes the Variant ``v`` and a :class:`~mmkit.reference.buddy.Page`.
"""

from __future__ import annotations

from mmkit.model import encodings as enc
from mmkit.model import flags as pg
from mmkit.semantics import (
    BalloonProtocol,
    IsolatedBit,
    MovableMarker,
    PageBalloonTest,
    PageTypes,
)

TYPE_OFFLINE = enc.pgty_store(enc.PGTY_offline)
TYPE_ZSMALLOC = enc.pgty_store(enc.PGTY_zsmalloc)
TYPE_BUDDY = enc.pgty_store(enc.PGTY_buddy)
TYPE_SLAB = enc.pgty_store(enc.PGTY_slab)
TYPE_TABLE = enc.pgty_store(enc.PGTY_table)

BALLOON_MAPPING = enc.MAPPING_ID_BALLOON
ZSMALLOC_MAPPING = enc.MAPPING_ID_ZSMALLOC


def test(page, bit: int) -> bool:
    return bool(page.flags >> bit & 1)


def set_flag(page, bit: int) -> None:
    page.flags |= 1 << bit


def clear_flag(page, bit: int) -> None:
    page.flags &= ~(1 << bit)


def typed(v) -> bool:
    """Page types are one byte in ``page_type`` (v6.12+), not ``_mapcount`` sentinels."""
    return v.page_types == PageTypes.ONE_BYTE


def mapping_object(page) -> int:
    """The object ``page->mapping`` points at (0: NULL), without the two low bits."""
    return page.mapping >> 2


def PageLRU(page) -> bool:
    return test(page, pg.PG_lru)


def PagePrivate(page) -> bool:
    return test(page, pg.PG_private)


def PageAnon(page) -> bool:
    return bool(page.mapping & enc.PAGE_MAPPING_ANON)


def movable_mark(v, page) -> bool:
    """The generic non-LRU movable marker as the era sets it.

    v3 01-02: PG_movable (= PG_reclaim) and ``_mapcount == -255``; v3 04: the same with
    -256; v4.8: ``page->mapping`` low bits == PAGE_MAPPING_MOVABLE; mid-2025:
    PG_movable_ops (= PG_uptodate) on a page typed offline or zsmalloc."""
    m = v.movable_marker
    if m == MovableMarker.PG_RECLAIM_MAPCOUNT_255:
        return test(page, pg.PG_reclaim) and page.mapcount == enc.PAGE_MOVABLE_MAPCOUNT_VALUE_V3_02
    if m == MovableMarker.PG_RECLAIM_MAPCOUNT_256:
        return test(page, pg.PG_reclaim) and page.mapcount == enc.PAGE_BALLOON_MAPCOUNT_VALUE
    if m == MovableMarker.MAPPING_BIT:
        return page.mapping & enc.PAGE_MAPPING_FLAGS == enc.PAGE_MAPPING_MOVABLE
    if m == MovableMarker.PG_MOVABLE_OPS:
        return test(page, pg.PG_movable_ops) and page.mapcount in (TYPE_OFFLINE, TYPE_ZSMALLOC)
    return False


def PageBalloon(v, page) -> bool:
    """``PageBalloon()``: the balloon sentinel (v4.5-v4.8), v3 04's
    ``_mapcount == -256 && PagePrivate2``, the balloon's mapping (the review's fix) or
    ``PageOffline`` (today)."""
    t = v.page_balloon
    if t == PageBalloonTest.MAPCOUNT:
        return page.mapcount == enc.PAGE_BALLOON_MAPCOUNT_VALUE
    if t == PageBalloonTest.MAPCOUNT_AND_PRIVATE_2:  # v3 04: -256 && PG_private_2, no PG_movable test
        return page.mapcount == enc.PAGE_BALLOON_MAPCOUNT_VALUE and test(page, pg.PG_private_2)
    if t == PageBalloonTest.BALLOON_MAPPING:
        return mapping_object(page) == BALLOON_MAPPING
    return page.mapcount == TYPE_OFFLINE


def __PageMovable(v, page) -> bool:
    """The lockless non-LRU movable test. With the v3.19 balloon protocol beside a generic
    marker (v3 01-02) balloon pages are special-cased in: ``PageMovable || PageBalloon``."""
    if movable_mark(v, page):
        return True
    return (v.movable_marker != MovableMarker.NONE and v.balloon_protocol == BalloonProtocol.PAGE_PRIVATE
            and PageBalloon(v, page))


def PageMovable(v, page) -> bool:
    """``PageMovable`` under the page lock: the marker and operations to call, i.e. a
    ``page->mapping`` (or, with movable_ops, the page type)."""
    if not movable_mark(v, page):
        return False
    return v.movable_marker == MovableMarker.PG_MOVABLE_OPS or mapping_object(page) != 0


def flag_marker(v) -> bool:
    """v3's markers are page flags: ``PageMovable`` does not look at ``page->mapping``
    before the driver's operations are called through it."""
    return v.movable_marker in (MovableMarker.PG_RECLAIM_MAPCOUNT_255, MovableMarker.PG_RECLAIM_MAPCOUNT_256)


def isolated_bit(v):
    return {IsolatedBit.PG_OWNER_PRIV_1: pg.PG_owner_priv_1, IsolatedBit.PG_RECLAIM: pg.PG_reclaim,
            IsolatedBit.OWN_BIT: pg.PG_isolated_own}.get(v.pg_isolated)


def PageIsolated(v, page) -> bool:
    b = isolated_bit(v)
    return b is not None and test(page, b)


def SetPageIsolated(v, page) -> None:
    b = isolated_bit(v)
    if b is not None:
        set_flag(page, b)


def ClearPageIsolated(v, page) -> None:
    b = isolated_bit(v)
    if b is not None:
        clear_flag(page, b)


def __SetPageMovable(v, page, mapping_obj: int) -> None:
    m = v.movable_marker
    if m in (MovableMarker.PG_RECLAIM_MAPCOUNT_255, MovableMarker.PG_RECLAIM_MAPCOUNT_256):
        set_flag(page, pg.PG_reclaim)
        page.mapcount = (enc.PAGE_MOVABLE_MAPCOUNT_VALUE_V3_02 if m == MovableMarker.PG_RECLAIM_MAPCOUNT_255
                         else enc.PAGE_BALLOON_MAPCOUNT_VALUE)
        page.mapping = enc.make_mapping(mapping_obj)
    elif m == MovableMarker.MAPPING_BIT:
        page.mapping = enc.make_mapping(mapping_obj, enc.PAGE_MAPPING_MOVABLE)
    elif m == MovableMarker.PG_MOVABLE_OPS:
        set_flag(page, pg.PG_movable_ops)


def __ClearPageMovable(v, page) -> None:
    """v4.8 leaves PAGE_MAPPING_MOVABLE in ``page->mapping`` (only the object goes), so a
    racing lockless test still says movable (K-bda)."""
    m = v.movable_marker
    if m in (MovableMarker.PG_RECLAIM_MAPCOUNT_255, MovableMarker.PG_RECLAIM_MAPCOUNT_256):
        clear_flag(page, pg.PG_reclaim)
        page.mapcount = -1
        page.mapping = 0
    elif m == MovableMarker.MAPPING_BIT:
        page.mapping &= enc.PAGE_MAPPING_MOVABLE
    elif m == MovableMarker.PG_MOVABLE_OPS:
        clear_flag(page, pg.PG_movable_ops)
