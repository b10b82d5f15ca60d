"""Values stored in struct page words other than flags: ``_mapcount`` sentinels and
``page->mapping`` low bits (SEMANTICS.md §2).

``Memory.mapcount`` is an int16 holding the kernel's ``_mapcount`` (``-1`` = not mapped).
Up to v4.8 a page type is a negative sentinel in ``_mapcount`` and is stored literally.
From v6.12 the type is one byte at the top of ``page_type`` (which overlays
``_mapcount``); mmkit stores such a type byte ``t`` as ``t - 0x200`` (``PGTY_buddy``
0xf0 -> -272), a value no older sentinel uses, so one int16 serves every era.
"""

from __future__ import annotations

# v4.5 .. v4.8 _mapcount sentinels
PAGE_BUDDY_MAPCOUNT_VALUE = -128
PAGE_MOVABLE_MAPCOUNT_VALUE_V3_02 = -255  # v3 01-02: PG_movable && _mapcount == -255
PAGE_BALLOON_MAPCOUNT_VALUE = -256  # v3 04 makes the movable value an alias of this (v3-04)
PAGE_MAPCOUNT_NONE = -1

# v6.12+ one-byte page types (K-pf25)
PGTY_buddy = 0xF0
PGTY_offline = 0xF1
PGTY_table = 0xF2
PGTY_guard = 0xF3
PGTY_hugetlb = 0xF4
PGTY_slab = 0xF5
PGTY_zsmalloc = 0xF6
PGTY_unaccepted = 0xF7
PGTY_large_kmalloc = 0xF8

PGTY_STORE_BIAS = 0x200


def pgty_store(t: int) -> int:
    """The int16 that mmkit stores in ``Memory.mapcount`` for page type byte ``t``."""
    return t - PGTY_STORE_BIAS


# page->mapping low bits (K-bda)
PAGE_MAPPING_ANON = 0x1
PAGE_MAPPING_MOVABLE = 0x2
PAGE_MAPPING_KSM = PAGE_MAPPING_ANON | PAGE_MAPPING_MOVABLE
PAGE_MAPPING_FLAGS = PAGE_MAPPING_ANON | PAGE_MAPPING_MOVABLE

# page->mapping is stored as (object id << 2) | low bits; object ids below are fixed.
MAPPING_ID_SHIFT = 2
MAPPING_NULL = 0
MAPPING_ID_BALLOON = 1  # the balloon's address_space (balloon_dev_info / balloon inode)
MAPPING_ID_ZSMALLOC = 2  # the zsmalloc pool's inode mapping (v4.8 migration)
MAPPING_ID_FIRST_DYNAMIC = 16  # inodes and anon_vmas made by workloads start here


def make_mapping(obj_id: int, low_bits: int = 0) -> int:
    """Encode a ``page->mapping`` value: object id plus the kernel's two low bits."""
    return (obj_id << MAPPING_ID_SHIFT) | low_bits
