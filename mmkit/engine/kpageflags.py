"""``stable_page_flags`` (``fs/proc/page.c``): the /proc/kpageflags word of every page
frame as the variant's kernel would report it, with the kernel's bit numbers (K-kpf), so
one decoder reads a real snapshot and a simulated one."""

from __future__ import annotations

import numpy as np
from mmkit.engine.jit import kernel

from mmkit.engine.pageflags import PageBuddy
from mmkit.engine.predicates import PageBalloon, typed_era
from mmkit.model import flags as pg
from mmkit.model import kpf
from mmkit.model.encodings import PGTY_STORE_BIAS, PGTY_slab, PGTY_table
from mmkit.model.kinds import PageKind
from mmkit.semantics.rules import SwapcacheBit
from mmkit.semantics.variant import F_KPF_BUDDY_ALL_PAGES, F_KPF_FOLIO_FLAGS, F_SWAPCACHE_BIT

K_HOLE = int(PageKind.HOLE)
K_UNINIT = int(PageKind.UNINIT)
K_BALLOON = int(PageKind.BALLOON)
TY_SLAB = PGTY_slab - PGTY_STORE_BIAS
TY_TABLE = PGTY_table - PGTY_STORE_BIAS
SC_OWN = int(SwapcacheBit.OWN)

# (kpf bit, page flag bit) copied as they are (kpf_copy_bit)
_COPY = np.array(kpf.KPF_COPIED_PG, dtype=np.int64)


@kernel(inline="always")
def kpf_balloon(A, vc, pfn, head, typed):
    """KPF_BALLOON of frame ``pfn`` (``head``: its folio's head): ``PageBalloon()``, on
    the folio where the page type lives in the folio (the one-byte page-type era)."""
    return PageBalloon(A, vc, head if typed else pfn)


@kernel(nogil=True)
def kpf_balloon_misreports(A, vc, by_kind):
    """``by_kind[kind]``: frames of each true kind whose KPF_BALLOON (as
    ``stable_page_flags`` reports it) disagrees with the truth (a balloon page or not).
    One pass, without building the words."""
    typed = typed_era(vc)
    for pfn in range(A.flags.shape[0]):
        k = A.kind[pfn]
        if k == K_HOLE:
            continue
        head = pfn
        if A.lru_next[pfn] <= -2:
            head = -2 - A.lru_next[pfn]
        if kpf_balloon(A, vc, pfn, head, typed) != (k == K_BALLOON):
            by_kind[k] += 1


@kernel
def stable_page_flags(A, vc, out):
    """Fill ``out`` (uint64 per pfn) with each frame's /proc/kpageflags word."""
    n = A.flags.shape[0]
    typed = typed_era(vc)
    buddy_all = vc[F_KPF_BUDDY_ALL_PAGES] != 0
    folio_flags = vc[F_KPF_FOLIO_FLAGS] != 0
    buddy_left = 0  # frames left in the free block being walked
    for pfn in range(n):
        k = A.kind[pfn]
        if k == K_HOLE:
            out[pfn] = np.uint64(1) << np.uint64(kpf.KPF_NOPAGE)
            buddy_left = 0
            continue
        u = np.uint64(0)
        head = pfn
        tail = A.lru_next[pfn] <= -2
        if tail:
            head = -2 - A.lru_next[pfn]
        f = np.uint64(A.flags[head if folio_flags else pfn])
        if A.mapcount[pfn] >= 0 or ((A.flags[head] >> pg.PG_head) & 1 and A.mapcount[head] >= 0):
            u |= np.uint64(1) << np.uint64(kpf.KPF_MMAP)  # page_mapped: a compound page by its head
        if A.mapping[head] & 1:
            u |= np.uint64(1) << np.uint64(kpf.KPF_ANON)
            if A.mapping[head] & 3 == 3:
                u |= np.uint64(1) << np.uint64(kpf.KPF_KSM)
        if (A.flags[pfn] >> pg.PG_head) & 1:
            u |= np.uint64(1) << np.uint64(kpf.KPF_COMPOUND_HEAD)
        if tail:
            u |= np.uint64(1) << np.uint64(kpf.KPF_COMPOUND_TAIL)
        if (A.flags[head] >> pg.PG_head) & 1 and ((A.flags[head] >> pg.PG_lru) & 1 or A.mapping[head] & 1):
            u |= np.uint64(1) << np.uint64(kpf.KPF_THP)
        if PageBuddy(A, vc, pfn):
            u |= np.uint64(1) << np.uint64(kpf.KPF_BUDDY)
            buddy_left = (1 << A.private[pfn]) - 1
        elif buddy_left > 0:
            buddy_left -= 1
            if buddy_all:
                u |= np.uint64(1) << np.uint64(kpf.KPF_BUDDY)
        if kpf_balloon(A, vc, pfn, head, typed):
            u |= np.uint64(1) << np.uint64(kpf.KPF_BALLOON)
        if typed:
            if A.mapcount[head] == TY_SLAB:
                u |= np.uint64(1) << np.uint64(kpf.KPF_SLAB)
            if A.mapcount[head] == TY_TABLE:
                u |= np.uint64(1) << np.uint64(kpf.KPF_PGTABLE)
        else:
            u |= ((f >> np.uint64(pg.PG_slab)) & np.uint64(1)) << np.uint64(kpf.KPF_SLAB)
        for i in range(_COPY.shape[0]):
            u |= ((f >> np.uint64(_COPY[i, 1])) & np.uint64(1)) << np.uint64(_COPY[i, 0])
        if vc[F_SWAPCACHE_BIT] == SC_OWN:
            u |= ((f >> np.uint64(pg.PG_swapcache_own)) & np.uint64(1)) << np.uint64(kpf.KPF_SWAPCACHE)
        elif (f >> np.uint64(pg.PG_swapbacked)) & np.uint64(1) and (f >> np.uint64(pg.PG_owner_priv_1)) & np.uint64(1):
            u |= np.uint64(1) << np.uint64(kpf.KPF_SWAPCACHE)
        out[pfn] = u


def kpageflags(mem) -> np.ndarray:
    """The emulated /proc/kpageflags of ``mem`` under its variant (uint64 per pfn)."""
    out = np.zeros(mem.nr_pages, dtype=np.uint64)
    stable_page_flags(mem.arrays(), mem.variant.compile(), out)
    return out
