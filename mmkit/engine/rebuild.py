"""The loops of rebuilding a ``Memory`` from a real kernel snapshot (``mmkit.from_snapshot``
decides what each page frame is; these turn its arrays into the engine's state): flags
carried back from kpageflags words, compound pages found, free runs cut into buddy
blocks, the free, LRU and balloon lists filled. They allocate their results, so they keep
plain ``@njit(cache=True)`` (``mmkit.engine.jit``), and call kernels for the list work."""

from __future__ import annotations

import numpy as np
from numba import njit

from mmkit.engine.buddy import account_free_block
from mmkit.engine.lists import free_head, list_add_tail
from mmkit.engine.owners import add_page_to_lru_list, balloon_page_insert
from mmkit.engine.pageflags import set_page_order
from mmkit.model.kinds import MAX_ORDER, PAGEBLOCK_ORDER


@njit(cache=True)
def carry_flags(f, table):
    """PG_* words from kpageflags words: the inverse of ``kpf_copy_bit`` for each pair."""
    out = np.zeros(f.shape[0], dtype=np.uint32)
    for i in range(f.shape[0]):
        w = f[i]
        if w == 0:
            continue
        x = np.uint32(0)
        for j in range(table.shape[0]):
            if (w >> np.uint64(table[j, 0])) & np.uint64(1):
                x |= np.uint32(1) << np.uint32(table[j, 1])
        out[i] = x
    return out


@njit(cache=True)
def compound_groups(head, tail, eligible):
    """For each head with a naturally aligned power-of-two run of tails after it: the head,
    its order; and per pfn the head it belongs to (-1 if none)."""
    n = head.shape[0]
    head_of = np.full(n, -1, dtype=np.int64)
    heads = np.empty(n, dtype=np.int64)
    orders = np.empty(n, dtype=np.int64)
    bad = 0
    k = 0
    p = 0
    while p < n:
        if not (head[p] and eligible[p]):
            p += 1
            continue
        q = p + 1
        while q < n and tail[q] and eligible[q]:
            q += 1
        size = q - p
        order = 0
        while (1 << order) < size:
            order += 1
        if size >= 2 and (1 << order) == size and p % size == 0:
            heads[k] = p
            orders[k] = order
            k += 1
            for t in range(p, q):
                head_of[t] = p
        else:
            bad += 1
        p = q
    return heads[:k], orders[:k], head_of, bad


@njit(cache=True)
def buddy_blocks(free, zone_start, zone_end):
    """Free runs as the naturally aligned blocks the buddy allocator holds them in
    (``__free_one_page`` merges every free buddy pair up to order MAX_ORDER - 1):
    at each pfn the largest order it is aligned to that fits in the run and the zone."""
    n = free.shape[0]
    heads = np.empty(n, dtype=np.int64)
    orders = np.empty(n, dtype=np.int64)
    zones = np.empty(n, dtype=np.int64)
    k = 0
    for z in range(zone_start.shape[0]):
        p = zone_start[z]
        e = zone_end[z]
        while p < e:
            if not free[p]:
                p += 1
                continue
            q = p
            while q < e and free[q]:
                q += 1
            while p < q:
                o = MAX_ORDER - 1
                while o > 0 and ((p & ((1 << o) - 1)) != 0 or p + (1 << o) > q):
                    o -= 1
                heads[k] = p
                orders[k] = o
                zones[k] = z
                k += 1
                p += 1 << o
    return heads[:k], orders[:k], zones[:k]


@njit(cache=True)
def fill_lists(A, vc, S, free_heads, free_orders, free_zones, lru_pfns, balloon_pfns):
    """Free blocks onto the free list of their pageblock's migratetype (``set_page_order``
    and ``list_add_tail``, lowest pfn first), LRU pages onto their zone's LRU list
    (``add_page_to_lru_list``), balloon pages into the balloon (``balloon_page_insert``)."""
    for i in range(free_heads.shape[0]):
        p = free_heads[i]
        o = free_orders[i]
        z = free_zones[i]
        mt = np.int64(A.pb_flags[p >> PAGEBLOCK_ORDER] & 0x7)
        set_page_order(A, vc, p, o)
        list_add_tail(A, p, free_head(A, z, o, mt))
        account_free_block(A, z, p, o, 1)
    for i in range(lru_pfns.shape[0] - 1, -1, -1):
        add_page_to_lru_list(A, lru_pfns[i])
    for i in range(balloon_pfns.shape[0]):
        balloon_page_insert(A, vc, S, balloon_pfns[i])


@njit(cache=True)
def bit_counts(words):
    """How many words have each of the 64 bits set."""
    out = np.zeros(64, dtype=np.int64)
    for i in range(words.shape[0]):
        w = words[i]
        b = 0
        while w:
            if w & np.uint64(1):
                out[b] += 1
            w >>= np.uint64(1)
            b += 1
    return out
