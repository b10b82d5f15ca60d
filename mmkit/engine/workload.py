"""The workload tick (``run_ticks``): per tick a batch of allocations and frees by the
workload's mix, balloon and CMA cycles, zram swap-ins, kswapd under pressure and
background compaction after high-order failures (kcompactd); samples taken every few
ticks for the timeline. Parameters come as an int64 array indexed by the ``P_*`` slots
(built by ``mmkit.workloads``); rates are parts per million."""

from __future__ import annotations

import numpy as np
from numba import njit

from mmkit.engine.jit import kernel

from mmkit.engine.buddy import (
    CMA,
    FB_CLAIM,
    MOVABLE,
    move_freepages_block,
    remerge_pageblock,
    retype_pageblock,
    split_large_buddy,
    zone_free_pages,
)
from mmkit.engine.compaction import kcompactd_wake
from mmkit.engine.pcp import pcp_tick
from mmkit.engine.contig import cma_alloc, free_contig_range, NR_CR
from mmkit.engine.owners import balloon_deflate, balloon_inflate, zs_free
from mmkit.engine.page_alloc import GFP_DEFAULT, GFP_NOWAIT, GFP_TRANSHUGE
from mmkit.engine.populate import (
    anon_fault,
    file_page,
    find_page,
    free_kernel_page,
    free_user_page,
    kernel_alloc,
    thp_fault,
    FILE_CHECKED,
    FILE_DIRTY,
    FILE_FSCACHE,
    FILE_MAPPED,
    FILE_UNEVICTABLE,
)
from mmkit.engine.pageflags import PageBuddy, page_order
from mmkit.engine.kpageflags import kpf_balloon
from mmkit.engine.predicates import typed_era
from mmkit.engine.state import (
    NR_EVENTS,
    NR_VMSTAT,
    ST_CMA_HELD,
    ST_CMA_START,
    ST_NS,
    ST_MANAGED,
    ST_PREFILL_MISSES,
    ST_TICK,
    ST_ZS_OBJECTS,
    VM_PSWPIN,
    chance_ppm,
    rand_below,
)
from mmkit.model.encodings import MAPPING_ID_BALLOON
from mmkit.model.flags import PG_head
from mmkit.model.kinds import MAX_ORDER, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, PageKind
from mmkit.model.codes import check_codes
from mmkit.model.samples import SAMPLE_NAMES
from mmkit.semantics.rules import FallbackRule, PageblockMerge
from mmkit.semantics.variant import (
    F_ALLOC_NOFRAGMENT,
    F_CMA_BALANCE,
    F_FALLBACK_RULE,
    F_LONGTERM_PIN_MIGRATE,
    F_PAGEBLOCK_MERGE,
    F_PCP_MT_AT_DRAIN,
    F_WATERMARK_BOOST,
    F_ZSMALLOC_MOVABLE,
)

K_FREE = int(PageKind.FREE)
K_ANON = int(PageKind.ANON)
K_FILE = int(PageKind.FILE)
K_SLAB = int(PageKind.SLAB)
K_SLAB_RECLAIMABLE = int(PageKind.SLAB_RECLAIMABLE)
K_KERNEL = int(PageKind.KERNEL)
K_PAGETABLE = int(PageKind.PAGETABLE)
K_BALLOON = int(PageKind.BALLOON)
K_ZSMALLOC = int(PageKind.ZSMALLOC)
K_ISOLATED_FREE = int(PageKind.ISOLATED_FREE)
K_PCP = int(PageKind.PCP)
K_HOLE = int(PageKind.HOLE)
K_UNINIT = int(PageKind.UNINIT)
K_RESERVED = int(PageKind.RESERVED)
NR_KIND_SLOTS = 32  # the per-kind tables' size (kinds are < 32)

# parameter slots
P_OPS = 0  # operations per tick
P_TARGET_USED_PPM = 1  # memory the workload wants in use, ppm of managed pages
P_CHURN_PPM = 2  # share of operations that free even below the target
P_MIX_ANON = 3  # allocation mix weights (any scale)
P_MIX_FILE = 4
P_MIX_SLAB = 5
P_MIX_SLAB_RECLAIMABLE = 6
P_MIX_KERNEL = 7
P_MIX_PAGETABLE = 8
P_ORDER2_PPM = 9  # kernel allocations of order 2 (fork: kernel stacks)
P_ORDER3_PPM = 10
P_THP_PPM = 11  # anonymous faults tried as THP first
P_FILE_DIRTY_PPM = 12
P_FILE_CHECKED_PPM = 13  # ext4 data=journal: PG_checked
P_FILE_FSCACHE_PPM = 14  # PG_private_2
P_FILE_UNEVICTABLE_PPM = 15
P_FILE_MAPPED_PPM = 16
P_PINNED_PPM = 17
P_ZRAM_SWAPIN_PPM = 18  # per operation: a swap-in (zram object freed, anon page back)
P_BALLOON_PERIOD = 19  # ticks per inflate/deflate cycle (0: no balloon)
P_BALLOON_PAGES = 20  # pages moved per tick in either half of the cycle
P_CMA_PERIOD = 21  # ticks between contiguous allocations (0: none)
P_CMA_BLOCKS = 22  # pageblocks per allocation
P_CMA_AREA_BLOCKS = 23  # pageblocks of the CMA area at the top of the highest zone
P_KCOMPACTD = 24  # 1: background compaction after a high-order failure
P_SAMPLE_EVERY = 25
NR_P = 26

# sample slots, one per row of mmkit.model.samples (besides nr_free per zone and order,
# vmstat and fault counts)
SM_TICK = 0
SM_MIXED_BLOCKS = 1
SM_MOVABLE_BLOCKS = 2
SM_MIXED_MOVABLE_BLOCKS = 3
SM_FREE_BLOCKS = 4
SM_USED_PAGES = 5
SM_UNMOVABLE_PAGES = 6
SM_BLOCKS_TOUCHED_UNMOVABLE = 7
SM_BALLOON_PAGES = 8
SM_ZSMALLOC_PAGES = 9
SM_ZRAM_OBJECTS = 10
SM_KPF_BALLOON_FALSE_POSITIVE = 11
SM_KPF_BALLOON_FALSE_NEGATIVE = 12
NR_SM = len(SAMPLE_NAMES)
check_codes(globals(), "SM_", SAMPLE_NAMES, __name__, "mmkit.model.samples' rows")


@kernel
def alloc_migratetype(vc, kind):
    """The migratetype a page of ``kind`` was allocated with (what page_owner records)."""
    if kind == K_SLAB or kind == K_KERNEL or kind == K_PAGETABLE:
        return 0
    if kind == K_SLAB_RECLAIMABLE:
        return 2
    if kind == K_ZSMALLOC:
        return MOVABLE if vc[F_ZSMALLOC_MOVABLE] != 0 else 0
    return MOVABLE


@kernel(inline="always")
def mixes(block_mt, mt):
    """A page allocated with migratetype ``mt`` (-1: not allocated) makes a pageblock of
    ``block_mt`` mixed; movable pages in a CMA block do not."""
    return mt >= 0 and mt != block_mt and not (block_mt == CMA and mt == MOVABLE)


@njit(cache=True)
def sample(A, vc, S, out):
    """Whole-memory counts for one timeline row: from the pageblocks' counts of frames
    by kind, reading frames only where a KPF_BALLOON misreport can be."""
    out[SM_TICK] = S.st[ST_TICK]
    kind_mt = np.empty(32, dtype=np.int64)  # page_owner's migratetype by kind; -1: none
    for k in range(32):
        kind_mt[k] = -1
    for k in (K_ANON, K_FILE, K_BALLOON, K_SLAB, K_KERNEL, K_PAGETABLE, K_SLAB_RECLAIMABLE, K_ZSMALLOC):
        kind_mt[k] = alloc_migratetype(vc, k)
    # per kind: a page frame? free? in use? unmovable in use? (tables: each count is a
    # sum over kinds, with no branch on the kind)
    t_frame = np.ones(32, dtype=np.int64)
    t_free = np.zeros(32, dtype=np.int64)
    t_used = np.zeros(32, dtype=np.int64)
    t_unmov = np.zeros(32, dtype=np.int64)
    t_frame[K_HOLE] = 0
    t_frame[K_UNINIT] = 0
    t_free[K_FREE] = 1
    t_free[K_ISOLATED_FREE] = 1
    t_free[K_PCP] = 1  # free, on a per-CPU list
    for k in range(32):
        if t_frame[k] and not t_free[k] and k != K_RESERVED:
            t_used[k] = 1
            if kind_mt[k] >= 0 and kind_mt[k] != MOVABLE:
                t_unmov[k] = 1
    t_balloonish = np.zeros(NR_KIND_SLOTS, dtype=np.bool_)
    for k in (K_BALLOON, K_ZSMALLOC, K_KERNEL, K_RESERVED):
        t_balloonish[k] = True
    # t_mix[bmt, k]: a page in use of kind k in a pageblock of migratetype bmt mixes it
    t_mix = np.zeros((8, 32), dtype=np.int64)
    for bm in range(8):
        for k in range(32):
            mt = kind_mt[k]
            if t_used[k] and mixes(bm, mt):
                t_mix[bm, k] = 1
    _sample_pageblocks(A, vc, S, out, t_frame, t_free, t_used, t_unmov, t_balloonish, t_mix)


@kernel
def _sample_pageblocks(A, vc, S, out, t_frame, t_free, t_used, t_unmov, t_balloonish, t_mix):
    """``sample``'s pass over the pageblocks, with its per-kind tables (a kernel: no
    reference counting in the loops)."""
    n = A.flags.shape[0]
    typed = typed_era(vc)
    nk = A.pb_nr_kind.shape[1]
    nb = A.pb_flags.shape[0]
    mixed = 0
    movable = 0
    mixed_movable = 0
    touched = 0
    free_blocks = 0
    unmov = 0
    used = 0
    fp = 0
    fn = 0
    zsp = 0
    bal = 0
    for b in range(nb):
        start = b << PAGEBLOCK_ORDER
        end = min(start + PAGEBLOCK_NR_PAGES, n)
        bmt = A.pb_flags[b] & 7
        if end - start == PAGEBLOCK_NR_PAGES and A.kind[start] == K_FREE and PageBuddy(A, vc, start) \
                and page_order(A, start) >= PAGEBLOCK_ORDER:
            # one free buddy block covers the pageblock: no page in it needs a look
            free_blocks += 1
            if bmt == MOVABLE:
                movable += 1
            continue
        # every count below is a sum over kinds of the pageblock's frames by kind, which
        # the engine keeps (set_page_kind): no frame is read for them
        h = A.pb_nr_kind[b]
        n_mixed = 0
        n_unmov = 0
        nfree = 0
        nframes = 0
        for k in range(nk):
            c = h[k]
            if c != 0:
                nframes += c * t_frame[k]
                nfree += c * t_free[k]
                used += c * t_used[k]
                n_unmov += c * t_unmov[k]
                n_mixed += c * t_mix[bmt, k]
        zsp += h[K_ZSMALLOC]
        bal += h[K_BALLOON]
        # KPF_BALLOON against the truth. Only a page of a kind the balloon or zsmalloc
        # marks, or a kernel page (PageOffline users, ex-balloon pages), can read as a
        # balloon page, and only with a sentinel _mapcount or a movable or balloon
        # ->mapping: count those first (no branch), look at them only if there are any
        fn += h[K_BALLOON]
        marked = 0
        for k in range(nk):
            marked += h[k] * t_balloonish[k]
        if marked != 0:
            cands = 0
            for p in range(start, end):
                cands += t_balloonish[A.kind[p]] & ((A.mapcount[p] < -1) | ((A.mapping[p] & 2) != 0)
                                                    | ((A.mapping[p] >> 2) == MAPPING_ID_BALLOON))
            if cands != 0:
                for p in range(start, end):
                    k = A.kind[p]
                    if t_balloonish[k] == 0 or not (A.mapcount[p] < -1 or (A.mapping[p] & 2) != 0
                                                    or (A.mapping[p] >> 2) == MAPPING_ID_BALLOON):
                        continue
                    if typed and A.lru_next[p] <= -2:
                        continue  # a tail reads as its folio's head: counted with the head
                    if kpf_balloon(A, vc, p, p, typed):
                        nr = 1
                        if typed and (A.flags[p] >> PG_head) & 1:
                            nr = 1 << A.private[p + 1]  # the folio's tails read as it does
                        for q in range(p, p + nr):
                            if A.kind[q] == K_BALLOON:
                                fn -= 1
                            elif t_balloonish[A.kind[q]]:
                                fp += 1
        unmov += n_unmov
        if nframes == 0:
            continue
        if nfree == nframes:
            free_blocks += 1
        if n_mixed > 0:
            mixed += 1
        if bmt == MOVABLE:
            movable += 1
            if n_mixed > 0:
                mixed_movable += 1
        if n_unmov > 0:
            touched += 1
    out[SM_MIXED_BLOCKS] = mixed
    out[SM_MOVABLE_BLOCKS] = movable
    out[SM_MIXED_MOVABLE_BLOCKS] = mixed_movable
    out[SM_KPF_BALLOON_FALSE_POSITIVE] = fp
    out[SM_KPF_BALLOON_FALSE_NEGATIVE] = fn
    out[SM_UNMOVABLE_PAGES] = unmov
    out[SM_BLOCKS_TOUCHED_UNMOVABLE] = touched
    out[SM_USED_PAGES] = used
    out[SM_BALLOON_PAGES] = bal
    out[SM_ZRAM_OBJECTS] = S.st[ST_ZS_OBJECTS]
    out[SM_ZSMALLOC_PAGES] = zsp
    out[SM_FREE_BLOCKS] = free_blocks


@kernel
def setup_cma_area(A, vc, P):
    """Reserve the top ``P_CMA_AREA_BLOCKS`` pageblocks of the highest zone as
    MIGRATE_CMA (``cma_init_reserved_areas``: free pages move to the CMA lists).
    Returns the first pfn of the area, or -1."""
    nb = P[P_CMA_AREA_BLOCKS]
    if nb <= 0:
        return -1
    z = A.zone_start.shape[0] - 1
    end = A.zone_end[z] & ~(PAGEBLOCK_NR_PAGES - 1)
    start = max(end - nb * PAGEBLOCK_NR_PAGES, (A.zone_start[z] + PAGEBLOCK_NR_PAGES - 1) & ~(PAGEBLOCK_NR_PAGES - 1))
    b = start
    while b < end:
        retype_pageblock(A, vc, z, b, CMA)
        if vc[F_FALLBACK_RULE] == FB_CLAIM:
            split_large_buddy(A, vc, z, b)  # no free block across a CMA area's edge
        move_freepages_block(A, vc, z, b, CMA)
        b += PAGEBLOCK_NR_PAGES
    if vc[F_FALLBACK_RULE] == FB_CLAIM:
        b = start
        while b < end:
            remerge_pageblock(A, vc, z, b)  # the area's own pageblocks merge again
            b += PAGEBLOCK_NR_PAGES
    return start


@kernel(inline="always")
def pick_kind(S, P):
    total = 0
    for i in range(P_MIX_ANON, P_MIX_PAGETABLE + 1):
        total += P[i]
    if total <= 0:
        return K_ANON
    r = rand_below(S, total)
    acc = 0
    kinds = (K_ANON, K_FILE, K_SLAB, K_SLAB_RECLAIMABLE, K_KERNEL, K_PAGETABLE)
    for i in range(6):
        acc += P[P_MIX_ANON + i]
        if r < acc:
            return kinds[i]
    return K_ANON


@kernel(inline="always")
def file_habits(S, P):
    h = 0
    if chance_ppm(S, P[P_FILE_DIRTY_PPM]):
        h |= FILE_DIRTY
    if chance_ppm(S, P[P_FILE_CHECKED_PPM]):
        h |= FILE_CHECKED
    if chance_ppm(S, P[P_FILE_FSCACHE_PPM]):
        h |= FILE_FSCACHE
    if chance_ppm(S, P[P_FILE_UNEVICTABLE_PPM]):
        h |= FILE_UNEVICTABLE
    if chance_ppm(S, P[P_FILE_MAPPED_PPM]):
        h |= FILE_MAPPED
    return h


@kernel
def do_alloc(A, vc, S, P, kind, zone_hi, nowait):
    """One allocation of ``kind``; returns the order of a failed request (9 for a THP
    fallback; kcompactd is woken for orders > 0), 0 on success, -1 when an order-0
    request failed. ``nowait``: the fast path only (the prefill)."""
    if kind == K_ANON:
        if chance_ppm(S, P[P_THP_PPM]):
            if thp_fault(A, vc, S, zone_hi, GFP_NOWAIT if nowait else GFP_TRANSHUGE) >= 0:
                return 0
            if anon_fault(A, vc, S, zone_hi, False, GFP_NOWAIT if nowait else GFP_DEFAULT) < 0:
                return -1
            return 9
        pinned = chance_ppm(S, P[P_PINNED_PPM])
        return 0 if anon_fault(A, vc, S, zone_hi, pinned, GFP_NOWAIT if nowait else GFP_DEFAULT) >= 0 else -1
    if kind == K_FILE:
        ok = file_page(A, vc, S, zone_hi, file_habits(S, P), GFP_NOWAIT if nowait else GFP_DEFAULT) >= 0
        return 0 if ok else -1
    order = 0
    if kind == K_KERNEL or kind == K_SLAB:
        if chance_ppm(S, P[P_ORDER2_PPM]):
            order = 2
        elif chance_ppm(S, P[P_ORDER3_PPM]):
            order = 3
    if kernel_alloc(A, vc, S, zone_hi, order, kind, GFP_NOWAIT if nowait else GFP_DEFAULT) < 0:
        return order if order > 0 else -1
    return 0


def prefill_rules(vc: np.ndarray) -> np.ndarray:
    """The rules the prefill (and the CMA area's reservation before it) runs under: the
    variant's, with the allocator's free-list rules fixed to v6.10's (free lists that
    match their pageblocks, a state every era's rules accept), no ALLOC_NOFRAGMENT, no
    watermark boost (which would wake kswapd) and no CMA-first rule (v5.7's
    ``cma_balance``: movable pages go to a CMA area only once the MOVABLE lists are
    empty), so that one prefill serves every variant and each starts from the same
    machine. That includes its long-term pins, which stay where the fault put the page
    (no ``longterm_pin_migrate``): every variant, v6.18 too, starts with the pinned
    pages the prefill left in a CMA area, and v6.18 moves out only the pages it pins
    from tick 0. Moving them out in the prefill for every variant was tried: on
    review-04 at 4 GiB (seeds 0 and 1) v4.8 then entered direct compaction 0 times
    against 14 and 16, and migrated no balloon page."""
    out = vc.copy()
    out[F_FALLBACK_RULE] = int(FallbackRule.CLAIM_OR_STEAL_ONE)
    out[F_PAGEBLOCK_MERGE] = int(PageblockMerge.NOT_UNMERGEABLE)
    out[F_PCP_MT_AT_DRAIN] = 1
    out[F_ALLOC_NOFRAGMENT] = 0
    out[F_WATERMARK_BOOST] = 0
    out[F_CMA_BALANCE] = 0
    out[F_LONGTERM_PIN_MIGRATE] = 0
    return out


@kernel(nogil=True)
def prefill(A, vc, S, P, share_ppm, max_ops):
    """Before tick 0: allocate with the workload's mix, fast path only, until
    ``share_ppm`` of the managed pages are in use or the fast path fails 64 times in a
    row (the low watermark). Called with :func:`prefill_rules`, so that one prefill
    serves every variant. Returns the pages in use.

    ``max_ops`` -1 runs it to the end; ``max_ops`` >= 0 cuts it into pieces, so that a
    caller can stop between them: after that many allocations it returns -1, keeping its
    count of failures in a row in ``S.st[ST_PREFILL_MISSES]``, and the next call goes on
    from there; the pieces end as one call does."""
    zone_hi = A.zone_start.shape[0] - 1
    managed = managed_pages(A)
    target = managed * share_ppm // 1000000
    misses = S.st[ST_PREFILL_MISSES]
    used = 0
    ops = 0
    while misses < 64:
        free_now = 0
        for z in range(zone_hi + 1):
            free_now += zone_free_pages(A, z)
        used = managed - free_now
        if used >= target:
            break
        if ops == max_ops:
            S.st[ST_PREFILL_MISSES] = misses
            return -1
        ops += 1
        if do_alloc(A, vc, S, P, pick_kind(S, P), zone_hi, True) != 0:
            misses += 1
        else:
            misses = 0
    S.st[ST_PREFILL_MISSES] = 0
    return used


@kernel(inline="always")
def pick_zone(A, S):
    """A zone, weighted by its span."""
    nz = A.zone_start.shape[0]
    total = 0
    for z in range(nz):
        total += A.zone_end[z] - A.zone_start[z]
    r = rand_below(S, total)
    for z in range(nz):
        r -= A.zone_end[z] - A.zone_start[z]
        if r < 0:
            return z
    return nz - 1


@kernel
def do_free(A, vc, S, P, kind):
    """Free one random page of ``kind`` (exit, munmap, truncate, kfree)."""
    z = pick_zone(A, S)
    pfn = find_page(A, vc, S, z, kind, 1024)
    if pfn < 0:
        return False
    if kind == K_ANON or kind == K_FILE:
        free_user_page(A, vc, pfn)
    else:
        free_kernel_page(A, vc, pfn)
    return True


@kernel
def managed_pages(A):
    s = 0
    for p in range(A.flags.shape[0]):
        k = A.kind[p]
        if k != K_HOLE and k != K_UNINIT and k != K_RESERVED:
            s += 1
    return s


@kernel(nogil=True)
def tick_ops(A, vc, S, P, zone_hi, managed, target):
    """One tick's batch of operations, then kcompactd for the highest order that failed.
    (A kernel of its own: ``run_ticks`` allocates, so it counts references, and the
    allocator and free paths inlined here would pay for that on every array access.)"""
    failed_order = 0
    for _ in range(P[P_OPS]):
        free_now = 0
        for z in range(zone_hi + 1):
            free_now += zone_free_pages(A, z)
        # the workload's footprint: its pages in memory plus those swapped out to zram
        used = managed - free_now + S.st[ST_ZS_OBJECTS]
        kind = pick_kind(S, P)
        if used >= target or chance_ppm(S, P[P_CHURN_PPM]):
            do_free(A, vc, S, P, kind)
        else:
            fo = do_alloc(A, vc, S, P, kind, zone_hi, False)
            if fo > failed_order:
                failed_order = fo
        if chance_ppm(S, P[P_ZRAM_SWAPIN_PPM]):
            if zs_free(A, vc, S) >= 0:
                S.vm[VM_PSWPIN] += 1
                anon_fault(A, vc, S, zone_hi, False)
    # kcompactd: background compaction for the order that failed
    if P[P_KCOMPACTD] != 0 and failed_order > 0:
        kcompactd_wake(A, vc, S, failed_order, zone_hi)


@njit(cache=True, nogil=True)
def run_ticks(A, vc, S, P, t0, t1, last, samples, sample_free, sample_vm, sample_faults):
    """Run ticks [t0, t1) of a run whose last tick is ``last - 1``; write a sample every
    P_SAMPLE_EVERY ticks and after the last one (slot ``S.st[ST_NS]`` onwards). All state
    lives in the arrays, so a run cut into chunks equals the run in one go, however it
    is cut."""
    zone_hi = A.zone_start.shape[0] - 1
    managed = S.st[ST_MANAGED]
    if managed == 0:  # the first chunk counts them (a pass over every frame), the others reuse it
        managed = managed_pages(A)
        S.st[ST_MANAGED] = managed
    target = managed * P[P_TARGET_USED_PPM] // 1000000
    cma_start = S.st[ST_CMA_START]
    cma_held = S.st[ST_CMA_HELD]
    ns = S.st[ST_NS]
    every = max(P[P_SAMPLE_EVERY], 1)
    res = np.zeros(NR_CR, dtype=np.int64)
    for t in range(t0, t1):
        S.st[ST_TICK] = t
        pcp_tick(A, vc, t)
        # the balloon's inflate/deflate cycle
        if P[P_BALLOON_PERIOD] > 0:
            half = max(P[P_BALLOON_PERIOD] // 2, 1)
            if (t // half) % 2 == 0:
                balloon_inflate(A, vc, S, P[P_BALLOON_PAGES], zone_hi)
            else:
                balloon_deflate(A, vc, S, P[P_BALLOON_PAGES])
        # contiguous allocations on the CMA area
        if P[P_CMA_PERIOD] > 0 and cma_start >= 0 and t % P[P_CMA_PERIOD] == 0:
            nblocks = P[P_CMA_BLOCKS]
            if cma_held >= 0:
                free_contig_range(A, vc, cma_held, cma_held + nblocks * PAGEBLOCK_NR_PAGES)
                cma_held = -1
            else:
                # the area setup_cma_area made: up to the zone's last whole pageblock
                area_blocks = ((A.zone_end[zone_hi] & ~(PAGEBLOCK_NR_PAGES - 1)) - cma_start) // PAGEBLOCK_NR_PAGES
                res[:] = 0
                cma_held = cma_alloc(A, vc, S, cma_start, area_blocks, nblocks, res)
        tick_ops(A, vc, S, P, zone_hi, managed, target)
        # samples
        if (t % every == every - 1 or t == last - 1) and ns < samples.shape[0]:
            sample(A, vc, S, samples[ns])
            samples[ns, SM_TICK] = t + 1
            for z in range(zone_hi + 1):
                for o in range(MAX_ORDER):
                    sample_free[ns, z, o] = A.nr_free[z, o]
            for i in range(NR_VMSTAT):
                sample_vm[ns, i] = S.vm[i]
            for e in range(NR_EVENTS):
                s = 0
                for k in range(S.faults.shape[1]):
                    s += S.faults[e, k]
                sample_faults[ns, e] = s
            ns += 1
    if t1 >= last and cma_held >= 0:
        free_contig_range(A, vc, cma_held, cma_held + P[P_CMA_BLOCKS] * PAGEBLOCK_NR_PAGES)
        cma_held = -1
    S.st[ST_CMA_HELD] = cma_held
    S.st[ST_NS] = ns
    return ns
