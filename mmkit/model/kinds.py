"""Truth kept beside belief: each page frame's real owner, plus migratetypes and zones.

``Memory.kind`` says what a page really is, whatever its flags claim; a fault is a place
where a kernel predicate and this disagree (DESIGN.md, "Truth beside belief").
"""

from __future__ import annotations

from enum import IntEnum


class PageKind(IntEnum):
    """The real owner of a page frame."""

    HOLE = 0  # no page frame here (outside every zone's span, or a memory hole)
    RESERVED = 1  # memblock-reserved: kernel image, firmware, struct pages
    FREE = 2  # in the buddy allocator (head or inside a free block)
    KERNEL = 3  # unmovable kernel allocation (vmalloc, driver buffers, ...)
    PAGETABLE = 4  # page-table page
    SLAB = 5  # unreclaimable slab
    SLAB_RECLAIMABLE = 6  # reclaimable slab (dentries, inodes)
    ANON = 7  # anonymous user memory (THP heads and tails too)
    FILE = 8  # page cache
    BALLOON = 9  # owned by the virtio balloon driver
    ZSMALLOC = 10  # a zspage sub-page of zram's zsmalloc pool
    UNINIT = 11  # present but struct page not initialised yet (deferred init)
    ISOLATED_FREE = 12  # a free page the free scanner took out of the buddy (cc->freepages)
    PCP = 13  # a free page on a per-CPU list (struct per_cpu_pages): free, but not in the buddy


KIND_NAMES = {k: k.name.lower() for k in PageKind}
NR_KINDS = len(PageKind)


class MigrateType(IntEnum):
    """``enum migratetype`` as in v4.5 ``include/linux/mmzone.h`` (MIGRATE_PCPTYPES = 3)."""

    UNMOVABLE = 0
    MOVABLE = 1
    RECLAIMABLE = 2
    HIGHATOMIC = 3
    CMA = 4
    ISOLATE = 5


MIGRATE_TYPES = len(MigrateType)
MIGRATETYPE_NAMES = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"]

# __rmqueue_fallback's table (v4.5 mm/page_alloc.c: fallbacks[][]); -1 ends a row.
FALLBACKS = (
    (MigrateType.RECLAIMABLE, MigrateType.MOVABLE, -1),  # UNMOVABLE
    (MigrateType.RECLAIMABLE, MigrateType.UNMOVABLE, -1),  # MOVABLE
    (MigrateType.UNMOVABLE, MigrateType.MOVABLE, -1),  # RECLAIMABLE
    (-1, -1, -1),  # HIGHATOMIC
    (-1, -1, -1),  # CMA
    (-1, -1, -1),  # ISOLATE
)

MAX_ORDER = 11  # orders 0..10 (NR_PAGE_ORDERS in today's kernels)
PAGEBLOCK_ORDER = 9  # x86-64 with 4 KiB pages: 2 MiB pageblocks
PAGEBLOCK_NR_PAGES = 1 << PAGEBLOCK_ORDER
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

# pageblock_flags layout (PB_migrate: 3 bits, then PB_migrate_skip)
PB_MIGRATETYPE_MASK = 0x7
PB_MIGRATE_SKIP = 0x8

# LRU lists (enum lru_list)
LRU_INACTIVE_ANON = 0
LRU_ACTIVE_ANON = 1
LRU_INACTIVE_FILE = 2
LRU_ACTIVE_FILE = 3
LRU_UNEVICTABLE = 4
NR_LRU_LISTS = 5
