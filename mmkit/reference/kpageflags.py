"""``stable_page_flags`` (``fs/proc/page.c``) in the twin: each frame's /proc/kpageflags
word as the variant's kernel reports it (K-kpf bit numbers, SEMANTICS.md §4.5)."""

from __future__ import annotations

from mmkit.model import flags as pg
from mmkit.model import kpf
from mmkit.model.kinds import MAX_ORDER, PageKind
from mmkit.reference.predicates import TYPE_SLAB, TYPE_TABLE, PageBalloon, test, typed
from mmkit.semantics import SwapcacheBit

COPIED = (
    (kpf.KPF_LOCKED, pg.PG_locked), (kpf.KPF_ERROR, pg.PG_error), (kpf.KPF_DIRTY, pg.PG_dirty),
    (kpf.KPF_UPTODATE, pg.PG_uptodate), (kpf.KPF_WRITEBACK, pg.PG_writeback), (kpf.KPF_LRU, pg.PG_lru),
    (kpf.KPF_REFERENCED, pg.PG_referenced), (kpf.KPF_ACTIVE, pg.PG_active), (kpf.KPF_RECLAIM, pg.PG_reclaim),
    (kpf.KPF_SWAPBACKED, pg.PG_swapbacked), (kpf.KPF_UNEVICTABLE, pg.PG_unevictable),
    (kpf.KPF_MLOCKED, pg.PG_mlocked), (kpf.KPF_HWPOISON, pg.PG_hwpoison), (kpf.KPF_RESERVED, pg.PG_reserved),
    (kpf.KPF_MAPPEDTODISK, pg.PG_mappedtodisk), (kpf.KPF_PRIVATE, pg.PG_private),
    (kpf.KPF_PRIVATE_2, pg.PG_private_2), (kpf.KPF_OWNER_PRIVATE, pg.PG_owner_priv_1),
    (kpf.KPF_ARCH, pg.PG_arch_1), (kpf.KPF_IDLE, pg.PG_idle),
)


def is_free_buddy_page(mem, pfn: int) -> bool:
    """Some free block (a PageBuddy head of at least that order) covers the page."""
    for order in range(MAX_ORDER):
        head = pfn & ~((1 << order) - 1)
        if mem.PageBuddy(head) and mem.pages[head].private >= order:
            return True
    return False


def stable_page_flags(s) -> list[int]:
    v = s.v
    mem = s.mem
    is_typed = typed(v)
    out = []
    for pfn, page in enumerate(mem.pages):
        if page.kind == PageKind.HOLE:
            out.append(1 << kpf.KPF_NOPAGE)
            continue
        tail = page.compound_head >= 0
        head = mem.pages[page.compound_head] if tail else page
        u = 0
        # page_mapped: a compound page is mapped as a whole (its head says)
        if page.mapcount >= 0 or (test(head, pg.PG_head) and head.mapcount >= 0):
            u |= 1 << kpf.KPF_MMAP
        if head.mapping & 1:  # PageAnon looks at the head
            u |= 1 << kpf.KPF_ANON
            if head.mapping & 3 == 3:
                u |= 1 << kpf.KPF_KSM
        if test(page, pg.PG_head):
            u |= 1 << kpf.KPF_COMPOUND_HEAD
        if tail:
            u |= 1 << kpf.KPF_COMPOUND_TAIL
        if test(head, pg.PG_head) and (test(head, pg.PG_lru) or head.mapping & 1):
            u |= 1 << kpf.KPF_THP
        if mem.PageBuddy(pfn) or (v.kpf_buddy_all_pages and page.refcount == 0 and is_free_buddy_page(mem, pfn)):
            u |= 1 << kpf.KPF_BUDDY
        if PageBalloon(v, head if is_typed else page):
            u |= 1 << kpf.KPF_BALLOON
        if is_typed:
            if head.mapcount == TYPE_SLAB:
                u |= 1 << kpf.KPF_SLAB
            if head.mapcount == TYPE_TABLE:
                u |= 1 << kpf.KPF_PGTABLE
        # k = folio->flags in today's kernel, page->flags before
        fp = head if v.kpf_folio_flags else page
        if not is_typed and test(fp, pg.PG_slab):
            u |= 1 << kpf.KPF_SLAB
        for k, b in COPIED:
            if test(fp, b):
                u |= 1 << k
        if v.swapcache_bit == SwapcacheBit.OWN:
            if test(fp, pg.PG_swapcache_own):
                u |= 1 << kpf.KPF_SWAPCACHE
        elif test(fp, pg.PG_swapbacked) and test(fp, pg.PG_owner_priv_1):
            u |= 1 << kpf.KPF_SWAPCACHE
        out.append(u)
    return out
