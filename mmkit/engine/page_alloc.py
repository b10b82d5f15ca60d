"""``__alloc_pages_nodemask`` as the workloads use it: the fast path at the low
watermark, then kswapd, the min watermark, direct compaction (async, then sync) for
order > 0, and direct reclaim; counted under the kernel's vmstat names."""

from __future__ import annotations

from numba import njit

from mmkit.engine.alloc import alloc_pages
from mmkit.engine.buddy import MOVABLE, WMARK_HIGH, WMARK_LOW, WMARK_MIN
from mmkit.engine.compaction import COMPACT_PARTIAL, compact_zone, make_cc
from mmkit.engine.reclaim import kswapd, shrink_zone
from mmkit.engine.state import (
    VM_ALLOC_FAIL,
    VM_COMPACT_FAIL,
    VM_COMPACT_STALL,
    VM_COMPACT_SUCCESS,
    VM_OOM,
)

GFP_RECLAIM = 1  # __GFP_DIRECT_RECLAIM
GFP_COMPACT = 2  # may direct-compact (order > 0)
GFP_COMPACT_SYNC = 4  # may retry compaction in sync mode
GFP_NORETRY = 8  # give up after one round (THP)
GFP_DEFAULT = GFP_RECLAIM | GFP_COMPACT | GFP_COMPACT_SYNC
GFP_TRANSHUGE = GFP_COMPACT | GFP_NORETRY  # THP faults: async compaction, no reclaim


@njit(cache=True)
def try_to_compact_pages(A, vc, S, order, mt, zone_hi, sync):
    """Direct compaction of each zone from ``zone_hi`` down, stopping at the first zone
    that ends with a suitable page; then the allocation is retried."""
    S.vm[VM_COMPACT_STALL] += 1
    z = zone_hi
    while z >= 0:
        cc = make_cc(z, order, 1 if sync else 0, 0, mt)
        ret = compact_zone(A, vc, S, cc)
        if ret == COMPACT_PARTIAL:
            break
        z -= 1
    return -1


@njit(cache=True)
def alloc_pages_slowpath(A, vc, S, order, mt, kind, owner, compound, zone_hi, gfp):
    """Allocate or return -1; direct compaction and reclaim as ``gfp`` allows."""
    pfn = alloc_pages(A, vc, order, mt, kind, owner, compound, zone_hi, WMARK_LOW)
    if pfn >= 0:
        return pfn
    kswapd(A, vc, S)
    pfn = alloc_pages(A, vc, order, mt, kind, owner, compound, zone_hi, WMARK_MIN)
    if pfn >= 0:
        return pfn
    rounds = 1 if gfp & GFP_NORETRY else 2
    for r in range(rounds):
        if order > 0 and gfp & GFP_COMPACT:
            sync = r > 0 and (gfp & GFP_COMPACT_SYNC) != 0
            try_to_compact_pages(A, vc, S, order, mt, zone_hi, sync)
            pfn = alloc_pages(A, vc, order, mt, kind, owner, compound, zone_hi, WMARK_MIN)
            if pfn >= 0:
                S.vm[VM_COMPACT_SUCCESS] += 1
                return pfn
            S.vm[VM_COMPACT_FAIL] += 1
        if gfp & GFP_RECLAIM:
            for z in range(zone_hi, -1, -1):
                shrink_zone(A, vc, S, z, A.wmark[z, WMARK_HIGH] + (1 << order), 4096)
            pfn = alloc_pages(A, vc, order, mt, kind, owner, compound, zone_hi, WMARK_MIN)
            if pfn >= 0:
                return pfn
    S.vm[VM_ALLOC_FAIL] += 1
    if order == 0:
        S.vm[VM_OOM] += 1
    return -1
