"""Replaying a recorded machine's page allocator (``mmkit.replay``): each real
allocation becomes a request of the same order, migratetype, page kind, zone and gfp
class under this simulation's rules; each real free frees the object the real pfn's
allocation became here, wherever the simulation put it and wherever its compaction
moved it since.

Objects. ``S.obj_page[oid]`` is the head pfn of object ``oid`` here (-1: gone);
``obj_order[oid]`` its order. Ids ``0..n-1`` are the start snapshot's pages (the page
at pfn ``p`` is object ``p``); ids ``n..2n-1`` are handed out to the trace's
allocations from the stack ``free_ids``. ``real2oid[r]`` is the object the real pfn
``r`` holds (``OID_NONE``: none known; ``OID_FAILED``: the real allocation there
failed here). An anonymous or file object's pages carry ``oid + REPLAY_TAG_BASE`` as
their ``->mapping`` id: migration moves ``S.obj_page`` with them
(``migrate.replay_follow``), and a page freed by this simulation's own reclaim no
longer carries it, so a later real free of it is counted, not applied twice.

A real migration's source page is freed in the trace while its object lives on at a
destination the trace does not name (the free scanner takes free pages without an
allocation event): such frees (``OP_FREE_MIGRATED``) keep the object alive as an
*orphan* of its order, and the next free of a pfn the replay knows nothing of, of that
order, frees an orphan. ``docs/modelling.md`` ("Replaying a trace") lists every such
inference; the counters ``RC_*`` count each case.
"""

from __future__ import annotations

import numpy as np

from mmkit.engine.jit import kernel

from mmkit.engine.alloc import free_pages, free_the_page
from mmkit.engine.buddy import MOVABLE, set_pageblock_migratetype
from mmkit.engine.compaction import kcompactd_tick
from mmkit.engine.owners import add_page_to_lru_list
from mmkit.engine.page_alloc import __alloc_pages_nodemask
from mmkit.engine.pageflags import set_page_kind
from mmkit.engine.pcp import pcp_tick
from mmkit.engine.populate import free_kernel_page, free_user_page
from mmkit.engine.predicates import clear_bit, set_bit, test_bit
from mmkit.engine.state import (
    REPLAY_TAG_BASE,
    VM_ORDER2_ALLOC,
    VM_ORDER2_FAIL,
    VM_ORDER3_ALLOC,
    VM_ORDER3_FAIL,
    VM_THP_FAULT_ALLOC,
    VM_THP_FAULT_FALLBACK,
    ST_TICK,
)
from mmkit.model.flags import PG_active, PG_head, PG_lru
from mmkit.model.kinds import MAX_ORDER, PAGEBLOCK_NR_PAGES, PageKind

K_ANON = int(PageKind.ANON)
K_FILE = int(PageKind.FILE)
K_FREE = int(PageKind.FREE)
K_PCP = int(PageKind.PCP)
K_ISOLATED_FREE = int(PageKind.ISOLATED_FREE)
K_HOLE = int(PageKind.HOLE)
K_UNINIT = int(PageKind.UNINIT)
K_RESERVED = int(PageKind.RESERVED)
K_KERNEL = int(PageKind.KERNEL)

OID_NONE = -1
OID_FAILED = -2

# an operation: a row (tick, real pfn, packed) of the ops array; packed holds
OP_ALLOC = 0
OP_FREE = 1
OP_FREE_MIGRATED = 2  # the source page of a real migration: its object lives on
IN_CAPTURE = 1 << 49  # packed: the event came while the start snapshot was being read
OPS_COLUMNS = 3


def pack(op, order, kind, mt, zone_hi, gfp, compound, cpu):
    """The ops array's third column (numpy int64 arrays or ints): bits 0-7 the
    operation, 8-15 the order, 16-23 the page kind, 24-31 the migratetype, 32-39 the
    highest zone, 40-47 the engine's gfp class, 48 __GFP_COMP, 49 ``IN_CAPTURE``, 52-62 the CPU (an index
    into the memory's per-CPU lists)."""
    return (op | (order << 8) | (kind << 16) | (mt << 24) | (zone_hi << 32) | (gfp << 40)
            | (compound << 48) | (cpu << 52))


# counters (the rc array)
RC_ALLOCS = 0  # real allocations replayed that succeeded here
RC_ALLOC_FAILED = 1  # ... that failed here (the real one succeeded)
RC_FREES = 2  # real frees that freed an object here
RC_FREE_RECLAIMED = 3  # real frees of objects this simulation's reclaim had freed
RC_FREE_ALLOC_FAILED = 4  # real frees of objects whose allocation failed here
RC_FREE_UNKNOWN = 5  # real frees of pages the replay knows nothing of (free at the start, no orphan)
RC_FREE_SPLIT = 6  # real frees of part of a larger object (the object split here)
RC_MIGRATED = 7  # real migration sources: objects kept as orphans
RC_ORPHAN_FREED = 8  # frees of unknown pfns that freed an orphan of their order
RC_ALLOC_OVER_LIVE = 9  # real allocations at a pfn whose object was live here (a free not in the trace)
RC_SPLIT_LOST = 10  # pages of an object split here by migration, not found at its free
RC_OUT_OF_IDS = 11  # allocations not replayed for want of an object id (never, by the ids' count)
RC_FREE_TOP = 12  # the free id stack's size
RC_OPS_DONE = 13
RC_ALLOC_OVER_LIVE_CAPTURE = 14  # ... while the start snapshot was read: it saw the page allocated
RC_ORPHANS = 15  # orphans held (the orphans array's size)
RC_ORPHAN_OVERFLOW = 16  # migration sources freed at once: the orphans array was full
RC_DEFERRED_INIT = 17  # pages the real kernel initialised and freed (deferred struct page init)
NR_RC = 20
# the counters a replay reports (Result.info["replay"]), by name
RC_COUNTERS = {"allocs": RC_ALLOCS, "alloc_failed": RC_ALLOC_FAILED, "frees": RC_FREES,
               "free_reclaimed": RC_FREE_RECLAIMED, "free_alloc_failed": RC_FREE_ALLOC_FAILED,
               "free_unknown": RC_FREE_UNKNOWN, "free_split": RC_FREE_SPLIT, "migrated": RC_MIGRATED,
               "orphan_freed": RC_ORPHAN_FREED, "alloc_over_live": RC_ALLOC_OVER_LIVE, "split_lost": RC_SPLIT_LOST,
               "out_of_ids": RC_OUT_OF_IDS, "alloc_over_live_capture": RC_ALLOC_OVER_LIVE_CAPTURE,
               "orphan_overflow": RC_ORPHAN_OVERFLOW, "deferred_init_pages": RC_DEFERRED_INIT}
ORPHAN_SEARCH = 64  # orphans looked at (from the newest) for one of the freed order


def begin_replay(sim) -> tuple:
    """Make ``sim`` (a ``Sim`` at the start of a replay) follow objects: each allocated
    head page of its memory is object ``pfn`` (``S.obj_page``, installed in ``sim.S``),
    its anonymous and file objects tagged. Returns the replay's other arrays,
    ``(real2oid, obj_order, free_ids, orphans, rc)``, in :func:`replay_ticks`' order."""
    mem = sim.mem
    n = mem.nr_pages
    obj_page = np.full(2 * n, -1, dtype=np.int32)
    obj_order = np.zeros(2 * n, dtype=np.int8)
    k = mem.kind
    allocated = (k != K_FREE) & (k != K_PCP) & (k != K_ISOLATED_FREE) & (k != K_HOLE) & (k != K_UNINIT) \
        & (k != K_RESERVED) & (mem.lru_next[:n] > -2)  # not a compound tail (list heads follow the pages)
    heads = np.flatnonzero(allocated)
    obj_page[heads] = heads
    is_head = (mem.flags[heads] >> PG_head) & 1 != 0
    hh = heads[is_head]
    obj_order[hh] = mem.private[hh + 1]
    real2oid = np.arange(n, dtype=np.int32)
    free_ids = np.arange(2 * n - 1, n - 1, -1, dtype=np.int32)  # popped from the end: n first
    orphans = np.full(max(n // 16, 1024), -1, dtype=np.int32)  # a stack, newest last
    rc = np.zeros(NR_RC, dtype=np.int64)
    rc[RC_FREE_TOP] = n
    sim.S = sim.S._replace(obj_page=obj_page)
    tag_objects(sim.A, sim.S)
    return real2oid, obj_order, free_ids, orphans, rc


@kernel
def tag_objects(A, S):
    """Tag every anonymous and file object of the start with its id (its pfn)."""
    n = A.kind.shape[0]
    for p in range(n):
        if S.obj_page[p] == p:
            k = A.kind[p]
            if k == K_ANON or k == K_FILE:
                A.mapping[p] = ((p + REPLAY_TAG_BASE) << 2) | (A.mapping[p] & 3)


@kernel(inline="always")
def _freeish(k):
    return k == K_FREE or k == K_PCP or k == K_ISOLATED_FREE


@kernel(inline="always")
def obj_alive(A, S, oid):
    """Object ``oid`` still holds its page here (this simulation has not freed it)."""
    p = S.obj_page[oid]
    if p < 0:
        return False
    k = A.kind[p]
    if _freeish(k):
        return False
    if k == K_ANON or k == K_FILE:
        return (A.mapping[p] >> 2) == oid + REPLAY_TAG_BASE and A.refcount[p] > 0
    return A.lru_next[p] > -2  # a kernel page is never freed by the simulation itself


@kernel(inline="always")
def _release(S, oid, free_ids, rc):
    S.obj_page[oid] = -1
    if oid >= S.obj_page.shape[0] // 2:
        free_ids[rc[RC_FREE_TOP]] = oid
        rc[RC_FREE_TOP] += 1


@kernel(inline="always")
def free_whole(A, vc, p):
    """An object whole on its page (order 0 or a compound head) freed as its owner frees
    it: unmapped and freed (anonymous, file), or freed (kernel, slab, page tables)."""
    k = A.kind[p]
    if k == K_ANON or k == K_FILE:
        free_user_page(A, vc, p)
    else:
        free_kernel_page(A, vc, p)


@kernel
def free_obj(A, vc, S, oid, obj_order, free_ids, rc):
    """Free object ``oid``'s pages here, as its owner would."""
    p = S.obj_page[oid]
    k = A.kind[p]
    order = obj_order[oid]
    if order == 0 or test_bit(A, p, PG_head):
        free_whole(A, vc, p)
    elif k == K_ANON or k == K_FILE:
        # split here (a failed migration's try_split_folio): free what carries its tag
        tag = oid + REPLAY_TAG_BASE
        for q in range(p, p + (1 << order)):
            if (A.mapping[q] >> 2) == tag and A.refcount[q] > 0 and not _freeish(A.kind[q]) \
                    and A.lru_next[q] > -2:
                free_user_page(A, vc, q)
            else:
                rc[RC_SPLIT_LOST] += 1
    else:
        A.refcount[p] = 0  # a block of 2**order pages allocated without __GFP_COMP
        free_pages(A, vc, p, order)
    _release(S, oid, free_ids, rc)


@kernel
def split_obj(A, S, oid, h, real2oid, obj_order, free_ids, rc):
    """Object ``oid`` (at real pfn ``h``) becomes ``2**order`` order-0 objects, as
    ``split_page`` / ``split_folio`` make them: real ``h + j`` holds the ``j``-th."""
    p = S.obj_page[oid]
    order = obj_order[oid]
    k = A.kind[p]
    user = k == K_ANON or k == K_FILE
    compound = test_bit(A, p, PG_head)
    on_lru = test_bit(A, p, PG_lru)
    if compound:
        clear_bit(A, p, PG_head)
        A.private[p + 1] = 0
    obj_order[oid] = 0
    for j in range(1, 1 << order):
        q = p + j
        if compound:
            A.lru_next[q] = -1
            A.lru_prev[q] = -1
            A.flags[q] = A.flags[p] & ~np.uint32((1 << PG_lru) | (1 << PG_active))
            A.mapcount[q] = A.mapcount[p]
            A.refcount[q] = 1
        elif A.refcount[q] == 0:
            A.refcount[q] = 1  # split_page: every page its own reference
        if rc[RC_FREE_TOP] == 0:
            rc[RC_OUT_OF_IDS] += 1
            real2oid[h + j] = OID_NONE
            continue
        rc[RC_FREE_TOP] -= 1
        nid = free_ids[rc[RC_FREE_TOP]]
        S.obj_page[nid] = q
        obj_order[nid] = 0
        real2oid[h + j] = nid
        if user:
            A.mapping[q] = ((nid + REPLAY_TAG_BASE) << 2) | (A.mapping[p] & 3)
            if compound and on_lru:
                add_page_to_lru_list(A, q)


@kernel
def deferred_init_free(A, vc, p, order):
    """Frames not initialised in the start snapshot (deferred struct page init) that the
    real kernel has now initialised and freed (``deferred_init_pages`` /
    ``deferred_free_range``: each whole pageblock MIGRATE_MOVABLE, then
    ``__free_pages_core``, which fires ``mm_page_free``): here too they join the buddy."""
    n = 1 << order
    for q in range(p, p + n):
        set_page_kind(A, q, K_KERNEL)  # free_pages makes it free from here
        A.flags[q] = 0
        A.refcount[q] = 0
        A.lru_next[q] = -1
        A.lru_prev[q] = -1
    b = (p + PAGEBLOCK_NR_PAGES - 1) & ~(PAGEBLOCK_NR_PAGES - 1)
    while b + PAGEBLOCK_NR_PAGES <= p + n:
        set_pageblock_migratetype(A, b, MOVABLE)
        b += PAGEBLOCK_NR_PAGES
    free_the_page(A, vc, p, order)


@kernel
def _containing(A, S, r, real2oid, obj_order):
    """The real head pfn of a live object whose block holds real pfn ``r``, or -1."""
    n = real2oid.shape[0]
    for o in range(1, MAX_ORDER):
        h = r & ~((1 << o) - 1)
        if h >= n:
            continue
        oid = real2oid[h]
        if oid >= 0 and h != r and obj_order[oid] >= o and obj_alive(A, S, oid):
            return h
    return -1


@kernel
def replay_free(A, vc, S, r, order, migrated, real2oid, obj_order, free_ids, orphans, rc):
    """A real free of ``2**order`` pages at real pfn ``r``."""
    end = r + (1 << order)
    n = real2oid.shape[0]
    q = r
    while q < end and q < n:
        oid = real2oid[q]
        if oid == OID_FAILED:
            real2oid[q] = OID_NONE
            rc[RC_FREE_ALLOC_FAILED] += 1
            q += 1
            continue
        if oid >= 0 and S.obj_page[oid] >= 0:
            ko = obj_order[oid]
            if not obj_alive(A, S, oid):
                rc[RC_FREE_RECLAIMED] += 1
                _release(S, oid, free_ids, rc)
                real2oid[q] = OID_NONE
                q += 1 << ko
                continue
            if q + (1 << ko) > end:
                # the free covers part of the object: it was split (split_page, a
                # partly truncated large folio); the rest lives on as order-0 objects
                split_obj(A, S, oid, q, real2oid, obj_order, free_ids, rc)
                rc[RC_FREE_SPLIT] += 1
                continue  # q now holds an order-0 object
            if migrated and rc[RC_ORPHANS] < orphans.shape[0]:
                orphans[rc[RC_ORPHANS]] = oid
                rc[RC_ORPHANS] += 1
                rc[RC_MIGRATED] += 1
            else:
                if migrated:
                    rc[RC_ORPHAN_OVERFLOW] += 1
                free_obj(A, vc, S, oid, obj_order, free_ids, rc)
                rc[RC_FREES] += 1
            real2oid[q] = OID_NONE
            q += 1 << ko
            continue
        # nothing known at q: frames initialised just now, part of a larger object, or a
        # page the trace freed after a migration moved it there (an orphan's new home),
        # or unknown
        if A.kind[q] == K_UNINIT:
            o = 0
            if q == r:
                o = order
                for x in range(r, end):
                    if A.kind[x] != K_UNINIT:
                        o = 0
                        break
            deferred_init_free(A, vc, q, o)
            rc[RC_DEFERRED_INIT] += 1 << o
            q += 1 << o
            continue
        h = _containing(A, S, q, real2oid, obj_order)
        if h >= 0:
            split_obj(A, S, real2oid[h], h, real2oid, obj_order, free_ids, rc)
            rc[RC_FREE_SPLIT] += 1
            continue
        if migrated:
            rc[RC_FREE_UNKNOWN] += 1
            q += 1
            continue
        o = 0
        if q == r:
            o = order
        found = False
        j = rc[RC_ORPHANS] - 1
        while j >= 0 and j >= rc[RC_ORPHANS] - ORPHAN_SEARCH:
            cand = orphans[j]
            if obj_order[cand] == o or not obj_alive(A, S, cand):
                rc[RC_ORPHANS] -= 1
                orphans[j] = orphans[rc[RC_ORPHANS]]  # the newest takes its place
                if obj_alive(A, S, cand):
                    free_obj(A, vc, S, cand, obj_order, free_ids, rc)
                    rc[RC_ORPHAN_FREED] += 1
                    found = True
                    break
                rc[RC_FREE_RECLAIMED] += 1
                _release(S, cand, free_ids, rc)
            j -= 1
        if found:
            q += 1 << o
        else:
            rc[RC_FREE_UNKNOWN] += 1
            q += 1


@kernel(inline="always")
def replay_alloc(A, vc, S, r, order, kind, mt, zone_hi, gfp, compound, in_capture, real2oid, obj_order, free_ids,
                 orphans, rc):
    """A real allocation of ``2**order`` pages that landed at real pfn ``r``: the same
    request here. Returns the order of a failed request (0 on success)."""
    old = real2oid[r]
    if old >= 0 and obj_alive(A, S, old):
        # the trace never freed what was here (a free before the window, or lost): it is
        # gone in the real machine, so here too
        rc[RC_ALLOC_OVER_LIVE_CAPTURE if in_capture else RC_ALLOC_OVER_LIVE] += 1
        replay_free(A, vc, S, r, obj_order[old], False, real2oid, obj_order, free_ids, orphans, rc)
    if rc[RC_FREE_TOP] == 0:
        rc[RC_OUT_OF_IDS] += 1
        real2oid[r] = OID_NONE
        return 0
    oid = free_ids[rc[RC_FREE_TOP] - 1]
    pfn = __alloc_pages_nodemask(A, vc, S, order, mt, kind, oid + REPLAY_TAG_BASE, compound, zone_hi, gfp)
    if kind == K_ANON and order >= 9:
        S.vm[VM_THP_FAULT_ALLOC if pfn >= 0 else VM_THP_FAULT_FALLBACK] += 1
    elif order == 2 and mt != MOVABLE:
        S.vm[VM_ORDER2_ALLOC if pfn >= 0 else VM_ORDER2_FAIL] += 1
    elif order == 3 and mt != MOVABLE:
        S.vm[VM_ORDER3_ALLOC if pfn >= 0 else VM_ORDER3_FAIL] += 1
    if pfn < 0:
        real2oid[r] = OID_FAILED
        rc[RC_ALLOC_FAILED] += 1
        return order if order > 0 else 0
    rc[RC_FREE_TOP] -= 1
    S.obj_page[oid] = pfn
    obj_order[oid] = order
    real2oid[r] = oid
    if kind == K_ANON:
        set_bit(A, pfn, PG_active)
        add_page_to_lru_list(A, pfn)
    elif kind == K_FILE:
        add_page_to_lru_list(A, pfn)
    rc[RC_ALLOCS] += 1
    return 0


@kernel(nogil=True)
def replay_ticks(A, vc, S, ops, i, t0, t1, real2oid, obj_order, free_ids, orphans, rc, proactive_period,
                 tick_ns):
    """Ticks ``[t0, t1)`` of a replay: per tick the per-CPU lists' tick, the tick's
    operations from row ``i`` of ``ops`` on, then kcompactd (``kcompactd_tick``: woken
    for the highest order that failed, else a proactive check every
    ``proactive_period`` ticks of ``tick_ns``). Returns the row after the last one done. All state is in the arrays, so a
    replay cut into chunks equals the replay in one go."""
    m = ops.shape[0]
    n = real2oid.shape[0]
    ncpu = A.pcp.shape[1]
    for t in range(t0, t1):
        S.st[ST_TICK] = t
        pcp_tick(A, vc, t)
        failed_order = 0
        while i < m and ops[i, 0] == t:
            r = ops[i, 1]
            x = ops[i, 2]
            op = x & 0xFF
            order = (x >> 8) & 0xFF
            i += 1
            if r < 0 or r + (1 << order) > n:
                continue  # outside this memory (counted before the replay)
            if ncpu > 0:
                A.this_cpu[0] = ((x >> 52) & 0x7FF) % ncpu  # the CPU the event ran on
            if op == OP_ALLOC:
                fo = replay_alloc(A, vc, S, r, order, (x >> 16) & 0xFF, (x >> 24) & 0xFF, (x >> 32) & 0xFF,
                                  (x >> 40) & 0xFF, ((x >> 48) & 1) != 0, (x & IN_CAPTURE) != 0, real2oid,
                                  obj_order, free_ids,
                                  orphans, rc)
                if fo > failed_order:
                    failed_order = fo
            else:
                oid = real2oid[r]
                p = S.obj_page[oid] if oid >= 0 else -1
                if op == OP_FREE and p >= 0 and obj_order[oid] == order and (order == 0 or test_bit(A, p, PG_head)) \
                        and obj_alive(A, S, oid):
                    # the common case, inlined: the object is here whole; free it as its owner would
                    free_whole(A, vc, p)
                    _release(S, oid, free_ids, rc)
                    rc[RC_FREES] += 1
                    real2oid[r] = OID_NONE
                else:
                    replay_free(A, vc, S, r, order, op == OP_FREE_MIGRATED, real2oid, obj_order, free_ids,
                                orphans, rc)
        kcompactd_tick(A, vc, S, failed_order, A.zone_start.shape[0] - 1, proactive_period, tick_ns)
    rc[RC_OPS_DONE] = i
    return i
