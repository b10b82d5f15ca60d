"""``struct list_head`` over the page arrays: circular doubly-linked lists through
``lru_next`` / ``lru_prev``, with head nodes stored after the last page frame.

Node ids below ``nr_pages`` are pfns; list heads follow. Removal needs no list id (the
kernel's ``list_del``), so a page added to a second list without leaving the first
corrupts the first, as ``page->lru`` reuse does in the kernel.

Every add and delete is checked as a kernel built with ``CONFIG_DEBUG_LIST`` checks it
(``__list_add_valid`` and ``__list_del_entry_valid`` in ``lib/list_debug.c``, v4.10 and
later): an operation whose neighbours do not point back, or a delete through
LIST_POISON, is reported and not done (``list_del`` still poisons the entry). The
operations return whether they were done. So a list that a misrouted page broke stays
broken where it broke, and no write through it reaches another list: the buddy free
lists, which share ``lru_next`` / ``lru_prev``, stay whole.
"""

from __future__ import annotations

from mmkit.engine.jit import kernel

from mmkit.model.kinds import MAX_ORDER, MIGRATE_TYPES, NR_LRU_LISTS
from mmkit.model.memory import NR_MISC_HEADS, NR_PCP_LISTS

_FREE_HEADS_PER_ZONE = MAX_ORDER * MIGRATE_TYPES
_LIST_POISON = -1  # list_del leaves the links poisoned (LIST_POISON1/2)


@kernel(inline="always")
def free_head(A, z, order, mt):
    """Head node of ``zone->free_area[order].free_list[mt]``."""
    return A.flags.shape[0] + (z * MAX_ORDER + order) * MIGRATE_TYPES + mt


@kernel(inline="always")
def lru_head(A, z, lru):
    """Head node of the zone's LRU list ``lru`` (``enum lru_list``)."""
    nz = A.zone_start.shape[0]
    return A.flags.shape[0] + nz * _FREE_HEADS_PER_ZONE + z * NR_LRU_LISTS + lru


@kernel(inline="always")
def misc_head(A, i):
    """Head node ``i`` of the lists owners and compaction keep (balloon pages, ...)."""
    nz = A.zone_start.shape[0]
    return A.flags.shape[0] + nz * (_FREE_HEADS_PER_ZONE + NR_LRU_LISTS) + i


@kernel(inline="always")
def pcp_head(A, z, cpu, pindex):
    """Head node of ``per_cpu_ptr(zone->per_cpu_pageset, cpu)->lists[pindex]``."""
    nz = A.zone_start.shape[0]
    base = A.flags.shape[0] + nz * (_FREE_HEADS_PER_ZONE + NR_LRU_LISTS) + NR_MISC_HEADS
    return base + (z * A.pcp.shape[1] + cpu) * NR_PCP_LISTS + pindex


# The buddy allocator's free lists, the per-CPU lists and compaction's isolated free
# pages are written by nothing but the unchecked operations here (the checked ones below
# are these behind CONFIG_DEBUG_LIST's checks), always on intact lists (Sim.check
# walks the free lists after every soak operation), so CONFIG_DEBUG_LIST's checks could
# not fail there: these skip them, which keeps the free scanner and the allocator at their
# speed (the checks cost about a fifth of a full compaction: benchmarks/bench_compaction.py).
@kernel(inline="always")
def buddy_list_add(A, node, head):
    """``list_add`` on a list only the buddy allocator writes, unchecked."""
    nxt = A.lru_next[head]
    A.lru_next[node] = nxt
    A.lru_prev[node] = head
    A.lru_prev[nxt] = node
    A.lru_next[head] = node


@kernel(inline="always")
def buddy_list_add_tail(A, node, head):
    """``list_add_tail`` on a list only the buddy allocator writes, unchecked."""
    prv = A.lru_prev[head]
    A.lru_next[node] = head
    A.lru_prev[node] = prv
    A.lru_next[prv] = node
    A.lru_prev[head] = node


@kernel(inline="always")
def buddy_list_del(A, node):
    """``list_del`` from a list only the buddy allocator writes, unchecked."""
    nxt = A.lru_next[node]
    prv = A.lru_prev[node]
    if nxt >= 0 and prv >= 0:  # never through LIST_POISON (-1 would index the last head)
        A.lru_prev[nxt] = prv
        A.lru_next[prv] = nxt
    A.lru_next[node] = _LIST_POISON
    A.lru_prev[node] = _LIST_POISON


@kernel(inline="always")
def __list_add_valid(A, node, prv, nxt):
    """``__list_add_valid``: ``prv`` and ``nxt`` point at each other (neither through
    LIST_POISON) and ``node`` is neither of them."""
    return (prv >= 0 and nxt >= 0 and A.lru_prev[nxt] == prv and A.lru_next[prv] == nxt
            and node != prv and node != nxt)


@kernel(inline="always")
def list_add(A, node, head):
    """``list_add``: insert ``node`` right after ``head`` (at the front), unless
    ``__list_add_valid`` refuses. Returns whether it was added."""
    if not __list_add_valid(A, node, head, A.lru_next[head]):
        return False
    buddy_list_add(A, node, head)
    return True


@kernel(inline="always")
def list_add_tail(A, node, head):
    """``list_add_tail``: insert ``node`` right before ``head`` (at the back), unless
    ``__list_add_valid`` refuses. Returns whether it was added."""
    if not __list_add_valid(A, node, A.lru_prev[head], head):
        return False
    buddy_list_add_tail(A, node, head)
    return True


@kernel(inline="always")
def list_del(A, node):
    """``list_del``: unlink ``node`` from whatever list it is on, unless
    ``__list_del_entry_valid`` refuses (a link is LIST_POISON, or a neighbour does not
    point back); the entry's links are poisoned either way. Returns whether it was
    unlinked."""
    nxt = A.lru_next[node]
    prv = A.lru_prev[node]
    ok = nxt >= 0 and prv >= 0 and A.lru_next[prv] == node and A.lru_prev[nxt] == node
    if ok:
        buddy_list_del(A, node)
    else:
        A.lru_next[node] = _LIST_POISON
        A.lru_prev[node] = _LIST_POISON
    return ok


@kernel(inline="always")
def buddy_list_move(A, node, head):
    """``list_move`` within the buddy allocator's lists, unchecked."""
    buddy_list_del(A, node)
    buddy_list_add(A, node, head)


@kernel(inline="always")
def list_empty(A, head):
    return A.lru_next[head] == head


@kernel(inline="always")
def list_first(A, head):
    """First node after ``head``, or -1 if the list is empty."""
    n = A.lru_next[head]
    return -1 if n == head else n
