"""``__alloc_pages_nodemask`` as the workloads use it: the fast path at the low
watermark, then kswapd, the min watermark, direct compaction (async, then sync) for
order > 0, and direct reclaim (with its drain of the per-CPU lists); counted under the kernel's vmstat names."""

from __future__ import annotations

from mmkit.engine.jit import inline_into, kernel

from mmkit.engine.alloc import alloc_pages, get_page_from_freelist
from mmkit.engine.buddy import WMARK_HIGH, WMARK_LOW, WMARK_MIN, ZONE_BOOSTED_WATERMARK
from mmkit.engine.buddy import clear_watermark_boosts, page_zone, zone_free_pages, zone_watermark_ok
from mmkit.engine.compaction import compact_zones_for, compaction_defer_reset, kcompactd_do_work
from mmkit.engine.pcp import drain_all_pages
from mmkit.engine.reclaim import kswapd, shrink_zone
from mmkit.engine.state import (
    ST_SWAP_ENABLED,
    VM_ALLOC_FAIL,
    VM_COMPACT_DAEMON_WAKE,
    VM_COMPACT_FAIL,
    VM_COMPACT_STALL,
    VM_COMPACT_SUCCESS,
    VM_OOM,
)
from mmkit.model.kinds import PAGEBLOCK_ORDER
from mmkit.semantics.variant import F_KCOMPACTD

GFP_RECLAIM = 1  # __GFP_DIRECT_RECLAIM
GFP_COMPACT = 2  # may direct-compact (order > 0)
GFP_COMPACT_SYNC = 4  # may retry compaction in sync mode
GFP_NORETRY = 8  # give up after one round (THP)
GFP_NOWAIT = 16  # the fast path only: no kswapd, no compaction, no reclaim
GFP_DEFAULT = GFP_RECLAIM | GFP_COMPACT | GFP_COMPACT_SYNC
GFP_TRANSHUGE = GFP_RECLAIM | GFP_COMPACT | GFP_NORETRY  # THP faults (defrag=always)


@kernel
def try_to_compact_pages(A, vc, S, order, mt, zone_hi, sync):
    """Direct compaction of each zone from ``zone_hi`` down, stopping at the first zone
    that ends with a suitable page; then the allocation is retried."""
    S.vm[VM_COMPACT_STALL] += 1
    return compact_zones_for(A, vc, S, order, mt, zone_hi, sync, 1)


@kernel(inline=inline_into("replay_ticks"))
def __alloc_pages_nodemask(A, vc, S, order, mt, kind, owner, compound, zone_hi, gfp):
    """``__alloc_pages_nodemask``: the fast path (``get_page_from_freelist`` at the low
    watermark), then the slow path unless the request may not wait (``GFP_NOWAIT``)."""
    pfn = alloc_pages(A, vc, order, mt, kind, owner, compound, zone_hi, WMARK_LOW)
    if pfn >= 0:
        z = page_zone(A, pfn)
        if A.zone_flags[z] & ZONE_BOOSTED_WATERMARK:
            # rmqueue's end (ALLOC_KSWAPD): wakeup_kswapd(zone, 0, 0, zone_idx(zone))
            A.zone_flags[z] &= ~ZONE_BOOSTED_WATERMARK
            wakeup_kswapd(A, vc, S, 0, z)
        return pfn
    if gfp & GFP_NOWAIT:
        return pfn
    return alloc_pages_slowpath(A, vc, S, order, mt, kind, owner, compound, zone_hi, gfp)


@kernel
def wakeup_kswapd(A, vc, S, order, zone_hi):
    """kswapd woken for ``order`` (``balance_pgdat``). With boosted watermarks (v5.0) and
    a balanced node (a zone at its high watermark), kswapd reclaims each zone's boost
    without swapping (``may_swap = may_writepage = 0``); otherwise it reclaims as usual
    (:func:`~mmkit.engine.reclaim.kswapd`). Any boost is then dropped and kcompactd woken
    at pageblock order."""
    boosted = False
    balanced = False
    for z in range(zone_hi + 1):
        if A.watermark_boost[z] > 0:
            boosted = True
        if zone_watermark_ok(A, z, order, A.wmark[z, WMARK_HIGH], False):  # no ALLOC_CMA
            balanced = True
    if boosted and balanced:
        swap = S.st[ST_SWAP_ENABLED]
        S.st[ST_SWAP_ENABLED] = 0
        for z in range(zone_hi + 1):
            b = A.watermark_boost[z]
            if b > 0:
                shrink_zone(A, vc, S, z, zone_free_pages(A, z) + b, A.zone_end[z] - A.zone_start[z])
        S.st[ST_SWAP_ENABLED] = swap
    else:
        kswapd(A, vc, S, order)
    if clear_watermark_boosts(A, zone_hi) and vc[F_KCOMPACTD] != 0:
        S.vm[VM_COMPACT_DAEMON_WAKE] += 1
        kcompactd_do_work(A, vc, S, PAGEBLOCK_ORDER, zone_hi)


@kernel
def alloc_pages_slowpath(A, vc, S, order, mt, kind, owner, compound, zone_hi, gfp):
    """Allocate or return -1, once the fast path has failed. v4.5 ``__alloc_pages_slowpath``
    in outline: wake kswapd (it reclaims for this order), retry at the min watermark,
    async direct compaction, direct reclaim, then sync compaction (for __GFP_NORETRY,
    THP, once: the ``noretry:`` compaction), and for other requests one more reclaim and
    compaction."""
    wakeup_kswapd(A, vc, S, order, zone_hi)
    pfn = get_page_from_freelist(A, vc, order, mt, kind, owner, compound, zone_hi, WMARK_MIN)
    if pfn >= 0:
        return pfn
    rounds = 1 if gfp & GFP_NORETRY else 2
    sync = False
    for r in range(rounds + 1):
        if order > 0 and gfp & GFP_COMPACT:
            try_to_compact_pages(A, vc, S, order, mt, zone_hi, sync)
            pfn = get_page_from_freelist(A, vc, order, mt, kind, owner, compound, zone_hi, WMARK_MIN)
            if pfn >= 0:
                S.vm[VM_COMPACT_SUCCESS] += 1
                compaction_defer_reset(S, page_zone(A, pfn), order, True)
                return pfn
            S.vm[VM_COMPACT_FAIL] += 1
        if r == rounds or not gfp & GFP_RECLAIM:
            break
        progress = 0
        for z in range(zone_hi, -1, -1):
            progress += shrink_zone(A, vc, S, z, A.wmark[z, WMARK_HIGH] + (2 << order), 4096)
        pfn = get_page_from_freelist(A, vc, order, mt, kind, owner, compound, zone_hi, WMARK_MIN)
        if pfn < 0 and progress > 0 and A.pcp.shape[1] > 0:
            # __alloc_pages_direct_reclaim: reclaim made progress but the pages went to
            # per-CPU lists: drain_all_pages(NULL) and retry, once
            drain_all_pages(A, vc, -1)
            pfn = get_page_from_freelist(A, vc, order, mt, kind, owner, compound, zone_hi, WMARK_MIN)
        if pfn >= 0:
            return pfn
        sync = (gfp & (GFP_COMPACT_SYNC | GFP_NORETRY)) != 0
    S.vm[VM_ALLOC_FAIL] += 1
    if order == 0:
        S.vm[VM_OOM] += 1
    return -1
