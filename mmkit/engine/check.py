"""``Memory.check``: the page-model invariants, checked in one numba pass."""

from __future__ import annotations

import numpy as np
from numba import njit

from mmkit.engine.buddy import ZONE_ISOLATE_EDGE
from mmkit.engine.lists import free_head, pcp_head
from mmkit.engine.pageflags import PageBuddy
from mmkit.engine.pcp import PCP_COUNT, pcp_page_order, pindex_to_order
from mmkit.errors import InvariantError
from mmkit.model.flags import PG_lru
from mmkit.model.kinds import (
    MAX_ORDER,
    MIGRATE_TYPES,
    NR_KINDS,
    PAGEBLOCK_ORDER,
    PB_MIGRATETYPE_MASK,
    MigrateType,
    PageKind,
)
from mmkit.model.memory import NR_PCP_LISTS
from mmkit.semantics.rules import FallbackRule
from mmkit.semantics.variant import F_FALLBACK_RULE

K_HOLE = int(PageKind.HOLE)
K_FREE = int(PageKind.FREE)
K_RESERVED = int(PageKind.RESERVED)
K_UNINIT = int(PageKind.UNINIT)
K_PCP = int(PageKind.PCP)
FB_CLAIM = int(FallbackRule.CLAIM_OR_STEAL_ONE)
K_MIGRATE_CMA = int(MigrateType.CMA)
K_MIGRATE_ISOLATE = int(MigrateType.ISOLATE)

# rule code -> text (the kernels return codes; Python raises InvariantError with the text)
RULES = {
    1: "negative refcount",
    2: "free list broken: a node's neighbour does not point back at it",
    3: "free list holds a node that is not a page frame",
    4: "block on a free list is not PageBuddy",
    5: "block's order (page->private) differs from its free list's order",
    6: "free block not aligned to its order",
    7: "free block outside its zone",
    8: "free blocks overlap",
    9: "nr_free disagrees with the free lists",
    10: "frame inside a free block is not FREE",
    11: "FREE frame outside every free block",
    12: "PageBuddy frame not on any free list",
    13: "free list does not return to its head (cycle or runaway)",
    14: "kind outside PageKind",
    15: "page on an LRU list (PG_lru) with refcount 0",
    16: "frame outside every zone is not a hole",
    17: "tail frame's kind differs from its folio head's",
    18: "per-CPU list broken: a node's neighbour does not point back at it",
    19: "per-CPU list holds a block that is not a PCP block of the list's order",
    20: "per-CPU count disagrees with the pages on its lists",
    21: "PCP frame outside every per-CPU list's block",
    22: "free block on the list of another migratetype than its pageblock's (v6.10 free lists)",
    23: "NR_FREE_CMA_PAGES disagrees with the free pages of the zone's CMA pageblocks",
    24: "nr_free_isolate disagrees with the free pages of the zone's MIGRATE_ISOLATE pageblocks",
    25: "free pages of MIGRATE_ISOLATE pageblocks off the isolate lists, or the reverse, where "
        "NR_FREE_PAGES reads nr_free_isolate for the pages on those lists",
}


@njit(cache=True)
def _check(A, vc):
    """Return (rule code, pfn, detail) of the first broken invariant, or (0, -1, 0)."""
    n = A.flags.shape[0]
    nz = A.zone_start.shape[0]
    hygiene = vc[F_FALLBACK_RULE] == FB_CLAIM
    covered = np.zeros(n, dtype=np.uint8)
    listed = np.zeros(n, dtype=np.uint8)
    for p in range(n):
        if A.refcount[p] < 0:
            return 1, p, A.refcount[p]
        if A.kind[p] >= NR_KINDS:
            return 14, p, A.kind[p]
    for z in range(nz):
        free_cma = 0
        free_iso = 0  # in MIGRATE_ISOLATE pageblocks
        listed_iso = 0  # on the MIGRATE_ISOLATE lists
        for order in range(MAX_ORDER):
            count = 0
            for mt in range(MIGRATE_TYPES):
                head = free_head(A, z, order, mt)
                prev = head
                node = A.lru_next[head]
                steps = 0
                while node != head:
                    if node < 0 or node >= n:
                        return 3, prev if prev < n else -1, node
                    if A.lru_prev[node] != prev:
                        return 2, node, A.lru_prev[node]
                    steps += 1
                    if steps > n:
                        return 13, node, z * 1000 + order
                    if not PageBuddy(A, vc, node):
                        return 4, node, A.mapcount[node]
                    if A.private[node] != order:
                        return 5, node, A.private[node]
                    if node & ((1 << order) - 1) != 0:
                        return 6, node, order
                    if node < A.zone_start[z] or node + (1 << order) > A.zone_end[z]:
                        return 7, node, z
                    if hygiene:
                        for b in range(node >> PAGEBLOCK_ORDER, ((node + (1 << order) - 1) >> PAGEBLOCK_ORDER) + 1):
                            if (A.pb_flags[b] & PB_MIGRATETYPE_MASK) != mt:
                                return 22, node, mt * 100 + (A.pb_flags[b] & PB_MIGRATETYPE_MASK)
                    listed[node] = 1
                    for p in range(node, node + (1 << order)):
                        if covered[p]:
                            return 8, p, order
                        covered[p] = 1
                        if A.kind[p] != K_FREE:
                            return 10, p, A.kind[p]
                        pmt = A.pb_flags[p >> PAGEBLOCK_ORDER] & PB_MIGRATETYPE_MASK
                        if pmt == K_MIGRATE_CMA:
                            free_cma += 1
                        elif pmt == K_MIGRATE_ISOLATE:
                            free_iso += 1
                    if mt == K_MIGRATE_ISOLATE:
                        listed_iso += 1 << order
                    count += 1
                    prev = node
                    node = A.lru_next[node]
                if A.lru_prev[head] != prev:
                    return 2, head, A.lru_prev[head]
            if count != A.nr_free[z, order]:
                return 9, A.zone_start[z], z * 1000 + order
        if free_cma != A.nr_free_cma[z]:
            return 23, A.zone_start[z], A.nr_free_cma[z] - free_cma
        if free_iso != A.nr_free_isolate[z]:
            return 24, A.zone_start[z], A.nr_free_isolate[z] - free_iso
        if not A.zone_flags[z] & ZONE_ISOLATE_EDGE and listed_iso != free_iso:
            return 25, A.zone_start[z], listed_iso - free_iso
    for z in range(nz):
        for cpu in range(A.pcp.shape[1]):
            count = 0
            for pindex in range(NR_PCP_LISTS):
                order = pindex_to_order(pindex)
                head = pcp_head(A, z, cpu, pindex)
                prev = head
                node = A.lru_next[head]
                steps = 0
                while node != head:
                    if node < 0 or node >= n:
                        return 18, prev if prev < n else -1, node
                    if A.lru_prev[node] != prev:
                        return 18, node, A.lru_prev[node]
                    steps += 1
                    if steps > n:
                        return 13, node, z * 1000 + pindex
                    if pcp_page_order(A, node) != order or PageBuddy(A, vc, node) or node & ((1 << order) - 1):
                        return 19, node, A.private[node]
                    if node < A.zone_start[z] or node + (1 << order) > A.zone_end[z]:
                        return 7, node, z
                    for p in range(node, node + (1 << order)):
                        if covered[p]:
                            return 8, p, order
                        covered[p] = 1
                        if A.kind[p] != K_PCP:
                            return 19, p, A.kind[p]
                    count += 1 << order
                    prev = node
                    node = A.lru_next[node]
            if count != A.pcp[z, cpu, PCP_COUNT]:
                return 20, A.zone_start[z], z * 1000 + cpu
    for p in range(n):
        k = A.kind[p]
        if k == K_PCP and not covered[p]:
            return 21, p, 0
        if k == K_FREE and not covered[p]:
            return 11, p, 0
        if PageBuddy(A, vc, p) and not listed[p]:
            return 12, p, A.private[p]
        if k != K_HOLE:
            inzone = False
            for z in range(nz):
                if A.zone_start[z] <= p < A.zone_end[z]:
                    inzone = True
            if not inzone:
                return 16, p, k
        if A.flags[p] & (1 << PG_lru) and A.refcount[p] == 0:
            return 15, p, k
        if A.lru_next[p] <= -2:  # compound_head: find_page and sample rely on this
            head = -2 - A.lru_next[p]
            if head < 0 or head >= n or A.kind[head] != k:
                return 17, p, head
    return 0, -1, 0


def check_memory(mem) -> None:
    """Raise :class:`InvariantError` for the first broken invariant of ``mem``."""
    code, pfn, detail = _check(mem.arrays(), mem.variant.compile())
    if code:
        raise InvariantError(RULES[int(code)], int(pfn), f"detail {int(detail)}")
