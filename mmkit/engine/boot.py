"""Bringing up a synthetic machine: ``memmap_init_zone``, ``__free_pages_memory`` and
``__setup_per_zone_wmarks`` as v4.5 does at boot."""

from __future__ import annotations

import math

from mmkit.engine.jit import kernel

from mmkit.engine.pageflags import set_page_kind
from mmkit.engine.buddy import MOVABLE, __free_one_page, set_pageblock_migratetype
from mmkit.engine.pcp import setup_pcp
from mmkit.model.kinds import MAX_ORDER, PAGEBLOCK_NR_PAGES, PageKind
from mmkit.model.memory import Memory

K_FREE = int(PageKind.FREE)
BOOT_PIECE = 1 << 20  # pages (4 GiB) freed by one call: about 0.1 s
assert BOOT_PIECE % (1 << (MAX_ORDER - 1)) == 0


@kernel
def __free_pages_memory(A, vc, z, start, end):
    """Free [start, end) in the largest naturally aligned blocks, lowest first."""
    while start < end:
        order = MAX_ORDER - 1
        if start != 0:
            low = 0
            while (start >> low) & 1 == 0:
                low += 1
            order = min(order, low)
        while start + (1 << order) > end:
            order -= 1
        for p in range(start, start + (1 << order)):
            set_page_kind(A, p, K_FREE)
        __free_one_page(A, vc, start, z, order, MOVABLE)
        start += 1 << order


@kernel
def memmap_init_zone(A, z):
    """Every pageblock that starts inside the zone is MOVABLE at boot."""
    pfn = A.zone_start[z]
    while pfn < A.zone_end[z]:
        if pfn & (PAGEBLOCK_NR_PAGES - 1) == 0:
            set_pageblock_migratetype(A, pfn, MOVABLE)
        pfn += 1


def setup_per_zone_wmarks(mem: Memory) -> None:
    """v4.5 ``__setup_per_zone_wmarks`` with ``min_free_kbytes = sqrt(lowmem_kbytes * 16)``
    clamped to [128, 65536]; low = min + min/4, high = min + min/2, per zone by share."""
    lowmem_pages = int(mem.zone_managed.sum())
    lowmem_kbytes = lowmem_pages * 4
    min_free_kbytes = max(128, min(65536, math.isqrt(lowmem_kbytes * 16)))
    pages_min = min_free_kbytes >> 2
    for z in range(mem.nr_zones):
        tmp = pages_min * int(mem.zone_managed[z]) // max(lowmem_pages, 1)
        mem.wmark[z] = (tmp, tmp + (tmp >> 2), tmp + (tmp >> 1))


def boot_memory(mem: Memory, variant="v4.5") -> Memory:
    """Fill an empty ``Memory`` as after boot: all spanned frames free, blocks MOVABLE."""
    from mmkit.semantics import variant as get_variant

    v = get_variant(variant)
    mem.variant = v
    vc = v.compile()
    A = mem.arrays()
    for z in range(mem.nr_zones):
        memmap_init_zone(A, z)
        # in pieces of BOOT_PIECE pages (a multiple of the largest block, so no block
        # crosses a cut and the lists come out as from one call): a caller can stop between
        start, end = int(mem.zone_start[z]), int(mem.zone_end[z])
        for lo in range(start, end, BOOT_PIECE):
            __free_pages_memory(A, vc, z, lo, min(end, (lo // BOOT_PIECE + 1) * BOOT_PIECE))
        span = int(mem.zone_end[z] - mem.zone_start[z])
        mem.zone_present[z] = span
        mem.zone_managed[z] = span
    setup_per_zone_wmarks(mem)
    setup_pcp(mem, v)
    return mem
