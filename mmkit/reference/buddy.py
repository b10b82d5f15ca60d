"""The twin of ``mmkit.engine.buddy`` / ``alloc`` / ``boot``: pages are objects, free
lists are Python lists (index 0 is the list's head end), written to be read, not run fast.
Each method names the kernel function it stands for (v4.5 ``mm/page_alloc.c``). A memory
with CPUs (``cpus=``) has per-CPU page lists in front of the buddy (:mod:`mmkit.reference.pcp`)."""

from __future__ import annotations

import math

import numpy as np

from mmkit.model import encodings as enc
from mmkit.model import flags as pg
from mmkit.model.kinds import FALLBACKS, MAX_ORDER, MIGRATE_TYPES, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, MigrateType, PageKind
from mmkit.model.memory import NR_PCP_FIELDS, NR_PCP_LISTS, check_cpus, nr_heads
from mmkit.reference import pcp as _pcp
from mmkit.reference.predicates import PageLRU
from mmkit.reference.predicates import __PageMovable as _PageMovable_lockless  # no name mangling in the class
from mmkit.semantics import FallbackRule, PageblockMerge, PageTypes, variant as get_variant

MOVABLE, UNMOVABLE, RECLAIMABLE, CMA = (int(MigrateType.MOVABLE), int(MigrateType.UNMOVABLE),
                                        int(MigrateType.RECLAIMABLE), int(MigrateType.CMA))
ISOLATE = int(MigrateType.ISOLATE)
MIGRATE_PCPTYPES = 3
WMARK_LOW = 1
WMARK_HIGH = 2
ZONE_HAS_ISOLATE = 4
ZONE_BOOSTED_WATERMARK = 8
ZONE_NORMAL_START_PFN = 1 << 20  # x86-64: ZONE_NORMAL begins at 4 GiB


class TailOf:
    """What a tail page's ``compound_head`` word holds: its head page (the kernel stores
    the head's address with bit 0 set, in the word ``lru.next`` also uses)."""

    __slots__ = ("head",)

    def __init__(self, head: int) -> None:
        self.head = head


class Page:
    """One ``struct page``. ``lru_next`` / ``lru_prev`` are its ``lru`` list_head: a Page,
    a list head object, or None (never linked, or poisoned by ``list_del``). While the page
    is on a buddy free list (a Python list here, ``on_list`` says which), its links are
    implied by its place in that list."""

    __slots__ = ("pfn", "flags", "mapcount", "refcount", "kind", "mapping", "private", "lru_next", "lru_prev",
                 "on_list")

    def __init__(self, pfn: int = -1) -> None:
        self.pfn = pfn
        self.flags = 0
        self.mapcount = -1
        self.refcount = 0
        self.kind = int(PageKind.HOLE)
        self.mapping = 0
        self.private = 0
        self.lru_next = None
        self.lru_prev = None
        self.on_list = None  # (zone, order, migratetype) of the free list holding it

    @property
    def compound_head(self) -> int:
        """pfn of the head page on a tail page (``compound_head`` overlays ``lru.next``), else -1."""
        return self.lru_next.head if isinstance(self.lru_next, TailOf) else -1

    @compound_head.setter
    def compound_head(self, head: int) -> None:
        if head >= 0:
            self.lru_next = TailOf(head)
        elif isinstance(self.lru_next, TailOf):
            self.lru_next = None  # clear_compound_head


class Zone:
    def __init__(self, name: str, start: int, end: int) -> None:
        self.name, self.start, self.end = name, start, end
        self.free_list = [[[] for _ in range(MIGRATE_TYPES)] for _ in range(MAX_ORDER)]
        self.nr_free = [0] * MAX_ORDER
        self.wmark = [0, 0, 0]  # what min/low/high_wmark_pages() return: the boost included
        self.watermark_boost = 0


class RefMemory:
    """Physical memory as Page objects; same layout and rules as ``mmkit.Memory``.
    ``pcp[z][cpu]`` are the per-CPU lists of ``cpus`` CPUs (none by default),
    ``zone_flags[z]`` the ``zone->flags`` bits they read, ``this_cpu`` the CPU running."""

    def __init__(self, layout, variant="v4.5", cpus: int = 0) -> None:
        self.variant = get_variant(variant)
        self.cpus = check_cpus(cpus)
        n = layout[-1][1] + layout[-1][2]
        self.pages = [Page(pfn) for pfn in range(n)]
        self.zones = [Zone(name, start, start + span) for name, start, span in layout]
        self.pcp = [[_pcp.PerCpuPages(f"pcp{z}.{cpu}") for cpu in range(self.cpus)] for z in range(len(self.zones))]
        self.zone_flags = [0] * len(self.zones)
        self.this_cpu = 0
        self.pageblock_mt = [MOVABLE] * ((n + PAGEBLOCK_NR_PAGES - 1) // PAGEBLOCK_NR_PAGES)
        self.pageblock_skip = [False] * len(self.pageblock_mt)  # PB_migrate_skip
        typed = self.variant.page_types == PageTypes.ONE_BYTE
        self.buddy_value = enc.pgty_store(enc.PGTY_buddy) if typed else enc.PAGE_BUDDY_MAPCOUNT_VALUE
        self.slab_value = enc.pgty_store(enc.PGTY_slab) if typed else None
        self.table_value = enc.pgty_store(enc.PGTY_table) if typed else None

    # ------------------------------------------------------------ boot
    @classmethod
    def boot(cls, layout, variant="v4.5", cpus: int = 0) -> "RefMemory":
        """memmap_init_zone, __free_pages_memory, __setup_per_zone_wmarks, then the
        per-CPU lists' sizes (setup_pcp)."""
        m = cls(layout, variant, cpus)
        for z, zone in enumerate(m.zones):
            for pfn in range(zone.start, zone.end):
                if pfn % PAGEBLOCK_NR_PAGES == 0:
                    m.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] = MOVABLE
            start = zone.start
            while start < zone.end:
                order = MAX_ORDER - 1
                if start != 0:
                    order = min(order, (start & -start).bit_length() - 1)
                while start + (1 << order) > zone.end:
                    order -= 1
                for p in range(start, start + (1 << order)):
                    m.pages[p].kind = int(PageKind.FREE)
                m.free_one_page(start, z, order, MOVABLE)
                start += 1 << order
        managed = [zn.end - zn.start for zn in m.zones]
        lowmem = sum(managed)
        min_free_kbytes = max(128, min(65536, math.isqrt(lowmem * 4 * 16)))
        pages_min = min_free_kbytes // 4
        for zone, man in zip(m.zones, managed):
            tmp = pages_min * man // lowmem
            zone.wmark = [tmp, tmp + tmp // 4, tmp + tmp // 2]
        _pcp.setup_pcp(m)
        return m

    # ------------------------------------------------------------ helpers
    def PageBuddy(self, pfn: int) -> bool:
        return self.pages[pfn].mapcount == self.buddy_value

    def zone_of(self, pfn: int) -> int:
        for z, zone in enumerate(self.zones):
            if zone.start <= pfn < zone.end:
                return z
        return -1

    def list_add(self, pfn, z, order, mt, tail=False):
        lst = self.zones[z].free_list[order][mt]
        if tail:
            lst.append(pfn)
        else:
            lst.insert(0, pfn)
        self.pages[pfn].on_list = (z, order, mt)

    def list_del(self, pfn):
        """list_del from its free list: the links are poisoned."""
        page = self.pages[pfn]
        z, order, mt = page.on_list
        self.zones[z].free_list[order][mt].remove(pfn)
        page.on_list = None
        page.lru_next = page.lru_prev = None

    def set_page_order(self, pfn, order):
        self.pages[pfn].private = order
        self.pages[pfn].mapcount = self.buddy_value

    def rmv_page_order(self, pfn):
        self.pages[pfn].private = 0
        self.pages[pfn].mapcount = -1

    # ------------------------------------------------------------ freeing
    def page_is_buddy(self, z, pfn, order) -> bool:
        zone = self.zones[z]
        if not zone.start <= pfn < zone.end:
            return False
        return self.PageBuddy(pfn) and self.pages[pfn].private == order

    def merge_stops(self, z, mt, buddy_mt) -> bool:
        """__free_one_page at pageblock order or more: the era's pageblock_merge rule."""
        rule = self.variant.pageblock_merge
        if rule == PageblockMerge.ANY or buddy_mt == mt:
            return False
        if rule == PageblockMerge.NOT_ISOLATE:
            return bool(self.zone_flags[z] & ZONE_HAS_ISOLATE) and ISOLATE in (mt, buddy_mt)
        return mt >= MIGRATE_PCPTYPES or buddy_mt >= MIGRATE_PCPTYPES

    def free_one_page(self, pfn, z, order, mt):
        """__free_one_page: merge upward (across pageblocks as the era allows, the
        buddy's pageblock retyped with v6.10's free lists), then head or tail of the list."""
        while order < MAX_ORDER - 1:
            buddy = pfn ^ (1 << order)
            if not self.page_is_buddy(z, buddy, order):
                break
            if order >= PAGEBLOCK_ORDER:
                buddy_mt = self.pageblock_mt[buddy // PAGEBLOCK_NR_PAGES]
                if self.merge_stops(z, mt, buddy_mt):
                    break
                if buddy_mt != mt and self.variant.fallback_rule == FallbackRule.CLAIM_OR_STEAL_ONE:
                    self.pageblock_mt[buddy // PAGEBLOCK_NR_PAGES] = mt
            self.list_del(buddy)
            self.zones[z].nr_free[order] -= 1
            self.rmv_page_order(buddy)
            pfn = min(pfn, buddy)
            order += 1
        self.set_page_order(pfn, order)
        tail = False
        if order < MAX_ORDER - 2:
            higher_buddy = (pfn & ~((1 << (order + 1)) - 1)) ^ (1 << (order + 1))
            tail = self.page_is_buddy(z, higher_buddy, order + 1)
        self.list_add(pfn, z, order, mt, tail=tail)
        self.zones[z].nr_free[order] += 1

    def split_large_buddy(self, z, pfn):
        """v6.10: a free block larger than a pageblock holding pfn's pageblock is freed
        again one pageblock at a time, each with its own pageblock's type."""
        zone = self.zones[z]
        for o in range(PAGEBLOCK_ORDER + 1, MAX_ORDER):
            head = pfn & ~((1 << o) - 1)
            if zone.start <= head < zone.end and self.PageBuddy(head) and self.pages[head].private == o:
                self.list_del(head)
                zone.nr_free[o] -= 1
                self.rmv_page_order(head)
                for p in range(head, head + (1 << o), PAGEBLOCK_NR_PAGES):
                    self.free_one_page(p, z, PAGEBLOCK_ORDER, self.pageblock_mt[p // PAGEBLOCK_NR_PAGES])
                return

    def setup_cma_area(self, nb: int) -> int:
        """``setup_cma_area`` (the workload's): the top ``nb`` pageblocks of the highest
        zone become MIGRATE_CMA, their free pages moved to the CMA lists (v6.10's free
        lists: no free block across the area's edge). The area's first pfn, or -1."""
        if nb <= 0:
            return -1
        z = len(self.zones) - 1
        zone = self.zones[z]
        end = zone.end & ~(PAGEBLOCK_NR_PAGES - 1)
        start = max(end - nb * PAGEBLOCK_NR_PAGES, (zone.start + PAGEBLOCK_NR_PAGES - 1) & ~(PAGEBLOCK_NR_PAGES - 1))
        hygiene = self.variant.fallback_rule == FallbackRule.CLAIM_OR_STEAL_ONE
        for b in range(start, end, PAGEBLOCK_NR_PAGES):
            self.pageblock_mt[b // PAGEBLOCK_NR_PAGES] = CMA
            if hygiene:
                self.split_large_buddy(z, b)
            self.move_freepages_block(z, b, CMA)
        if hygiene:
            for b in range(start, end, PAGEBLOCK_NR_PAGES):
                self.remerge_pageblock(z, b)
        return start

    def remerge_pageblock(self, z, pfn):
        """unset_migratetype_isolate: a free block of pageblock order left unmerged is
        freed again so that it merges with its (not isolated) buddy."""
        if not self.PageBuddy(pfn):
            return
        order = self.pages[pfn].private
        if order < PAGEBLOCK_ORDER or order >= MAX_ORDER - 1:
            return
        buddy = pfn ^ (1 << order)
        if not self.page_is_buddy(z, buddy, order) or self.pageblock_mt[buddy // PAGEBLOCK_NR_PAGES] == ISOLATE:
            return
        self.list_del(pfn)
        self.zones[z].nr_free[order] -= 1
        self.rmv_page_order(pfn)
        self.free_one_page(pfn, z, order, self.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES])

    def free_pages(self, pfn, order):
        """__free_pages: free_pages_prepare, then onto this CPU's per-CPU list if the era
        keeps the order there and the pageblock is not isolated (free_unref_page_commit),
        else into the pageblock's migratetype list."""
        mt = self.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES]
        to_pcp = mt != ISOLATE and _pcp.pcp_enabled(self, order, MOVABLE if mt >= MIGRATE_PCPTYPES else mt)
        for p in range(pfn, pfn + (1 << order)):
            page = self.pages[p]
            page.kind = int(PageKind.PCP) if to_pcp else int(PageKind.FREE)
            page.flags = page.mapping = page.private = page.refcount = 0
            page.mapcount = -1
            page.compound_head = -1  # only a tail page has one to clear
        if to_pcp:
            _pcp.free_unref_page_commit(self, pfn, self.zone_of(pfn), order, mt)
        else:
            self.free_one_page(pfn, self.zone_of(pfn), order, mt)

    # ------------------------------------------------------------ allocating
    def expand(self, z, pfn, low, high, mt):
        while high > low:
            high -= 1
            half = pfn + (1 << high)
            self.list_add(half, z, high, mt)
            self.zones[z].nr_free[high] += 1
            self.set_page_order(half, high)

    def rmqueue_smallest(self, z, order, mt):
        zone = self.zones[z]
        for current in range(order, MAX_ORDER):
            if zone.free_list[current][mt]:
                pfn = zone.free_list[current][mt][0]
                self.list_del(pfn)
                self.rmv_page_order(pfn)
                zone.nr_free[current] -= 1
                self.expand(z, pfn, order, current, mt)
                return pfn
        return -1

    def move_freepages_block(self, z, pfn, mt) -> int:
        """move_freepages_block: v4.5 moves from pfn when the pageblock starts before the
        zone, 0 when it ends after; v6.10 moves nothing (-1) and moves to list tails."""
        zone = self.zones[z]
        hygiene = self.variant.fallback_rule == FallbackRule.CLAIM_OR_STEAL_ONE
        start = pfn - pfn % PAGEBLOCK_NR_PAGES
        end = start + PAGEBLOCK_NR_PAGES - 1
        if not zone.start <= start < zone.end:
            if hygiene:
                return -1
            start = pfn
        if not zone.start <= end < zone.end:
            return -1 if hygiene else 0
        return self.move_freepages(z, start, end, mt, tail=hygiene)

    def move_freepages(self, z, start, end, mt, tail=False) -> int:
        moved, p = 0, start
        while p <= end:
            if self.PageBuddy(p):
                order = self.pages[p].private
                self.list_del(p)
                self.list_add(p, z, order, mt, tail=tail)
                p += 1 << order
                moved += 1 << order
            else:
                p += 1
        return moved

    def find_suitable_fallback(self, z, order, start_mt):
        """find_suitable_fallback: (the first fallback type with a block of this order,
        whether the pageblock may be taken) or (-1, False)."""
        zone = self.zones[z]
        if zone.nr_free[order] == 0:
            return -1, False
        for fmt in FALLBACKS[start_mt]:
            if fmt == -1:
                break
            if zone.free_list[order][fmt]:
                return fmt, self.can_steal(order, start_mt)
        return -1, False

    @staticmethod
    def can_steal(order, start_mt) -> bool:
        return order >= PAGEBLOCK_ORDER // 2 or start_mt in (RECLAIMABLE, UNMOVABLE)

    def alike_pages(self, pfn, start_mt, block_mt, free_pages) -> int:
        """v4.12+: the pages of pfn's pageblock alike the request (movable ones for a
        movable request; for another request in a MOVABLE pageblock, neither free nor
        movable ones)."""
        start = pfn - pfn % PAGEBLOCK_NR_PAGES
        movable, p = 0, start
        while p < start + PAGEBLOCK_NR_PAGES:
            if self.PageBuddy(p):
                p += 1 << self.pages[p].private
                continue
            if PageLRU(self.pages[p]) or _PageMovable_lockless(self.variant, self.pages[p]):
                movable += 1
            p += 1
        if start_mt == MOVABLE:
            return movable
        return PAGEBLOCK_NR_PAGES - (free_pages + movable) if block_mt == MOVABLE else 0

    def take(self, z, pfn, order):
        self.list_del(pfn)
        self.zones[z].nr_free[order] -= 1
        self.rmv_page_order(pfn)

    def retype_range(self, pfn, order, mt):
        for i in range(1 << (order - PAGEBLOCK_ORDER)):
            self.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES + i] = mt

    def rmqueue_fallback(self, z, order, start_mt, nofrag=False):
        """__rmqueue_fallback of the era; nofrag (ALLOC_NOFRAGMENT, v5.0): only blocks of
        pageblock order or more from other types, and no v6.10 single-page steal."""
        rule = self.variant.fallback_rule
        min_order = PAGEBLOCK_ORDER if nofrag and order < PAGEBLOCK_ORDER else order
        if rule == FallbackRule.CLAIM_OR_STEAL_ONE:
            return self.rmqueue_claim_or_steal(z, order, start_mt, nofrag)
        if rule == FallbackRule.MOVE_FREE_CLAIM_HALF_ALIKE:
            return self.rmqueue_fallback_alike(z, order, start_mt, min_order)
        zone = self.zones[z]
        for current in range(MAX_ORDER - 1, min_order - 1, -1):
            fmt, can_steal = self.find_suitable_fallback(z, current, start_mt)
            if fmt < 0:
                continue
            pfn = zone.free_list[current][fmt][0]
            if can_steal:
                if current >= PAGEBLOCK_ORDER:
                    self.retype_range(pfn, current, start_mt)
                else:
                    self.boost_watermark(z)
                    if self.move_freepages_block(z, pfn, start_mt) >= PAGEBLOCK_NR_PAGES // 2:
                        self.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] = start_mt
            self.take(z, pfn, current)
            self.expand(z, pfn, order, current, start_mt)
            return pfn
        return -1

    def rmqueue_fallback_alike(self, z, order, start_mt, min_order):
        """v4.12-v6.9: steal (free + alike pages decide the pageblock), then
        __rmqueue_smallest of the requested type."""
        zone = self.zones[z]
        found = None
        for current in range(MAX_ORDER - 1, min_order - 1, -1):
            fmt, can_steal = self.find_suitable_fallback(z, current, start_mt)
            if fmt >= 0:
                found = (current, fmt, can_steal)
                break
        if found is None:
            return -1
        current, fmt, can_steal = found
        if not can_steal and start_mt == MOVABLE and current > order:
            for current in range(order, MAX_ORDER):  # find_smallest
                fmt, can_steal = self.find_suitable_fallback(z, current, start_mt)
                if fmt >= 0:
                    break
        pfn = zone.free_list[current][fmt][0]
        block_mt = self.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES]
        if current >= PAGEBLOCK_ORDER:
            self.retype_range(pfn, current, start_mt)
            self.move_page(z, pfn, current, start_mt)
        elif not can_steal:
            self.boost_watermark(z)
            self.move_page(z, pfn, current, start_mt)
        else:
            self.boost_watermark(z)
            free = self.move_freepages_block(z, pfn, start_mt)
            if free == 0:
                self.move_page(z, pfn, current, start_mt)
            elif free + self.alike_pages(pfn, start_mt, block_mt, free) >= PAGEBLOCK_NR_PAGES // 2:
                self.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] = start_mt
        return self.rmqueue_smallest(z, order, start_mt)

    def boost_watermark(self, z):
        """v5.0 boost_watermark: the marks rise by a pageblock, up to 1.5 x high."""
        zone = self.zones[z]
        if not self.variant.watermark_boost or PAGEBLOCK_NR_PAGES * 4 > zone.end - zone.start:
            return
        max_boost = (zone.wmark[WMARK_HIGH] - zone.watermark_boost) * 15000 // 10000
        if max_boost == 0:
            return
        boost = min(zone.watermark_boost + PAGEBLOCK_NR_PAGES, max(PAGEBLOCK_NR_PAGES, max_boost))
        zone.wmark = [w + boost - zone.watermark_boost for w in zone.wmark]
        zone.watermark_boost = boost
        self.zone_flags[z] |= ZONE_BOOSTED_WATERMARK

    def clear_watermark_boosts(self, zone_hi: int) -> bool:
        """balance_pgdat's end: the boosts of zones up to zone_hi taken back off their marks."""
        any_boost = False
        for zone in self.zones[:zone_hi + 1]:
            if zone.watermark_boost:
                any_boost = True
                zone.wmark = [w - zone.watermark_boost for w in zone.wmark]
                zone.watermark_boost = 0
        return any_boost

    def move_page(self, z, pfn, order, mt):
        """list_move to the head of another type's list (move_to_free_list, v4.12)."""
        self.list_del(pfn)
        self.list_add(pfn, z, order, mt)

    def rmqueue_claim_or_steal(self, z, order, start_mt, nofrag):
        """v6.10+ __rmqueue_claim (try_to_claim_block), then __rmqueue_steal."""
        zone = self.zones[z]
        min_order = PAGEBLOCK_ORDER if nofrag and order < PAGEBLOCK_ORDER else order
        for current in range(MAX_ORDER - 1, min_order - 1, -1):
            if current < PAGEBLOCK_ORDER and not self.can_steal(current, start_mt):
                break
            fmt, _ = self.find_suitable_fallback(z, current, start_mt)
            if fmt < 0:
                continue
            pfn = zone.free_list[current][fmt][0]
            if current >= PAGEBLOCK_ORDER:
                self.take(z, pfn, current)
                self.retype_range(pfn, current, start_mt)
                self.expand(z, pfn, order, current, start_mt)
                return pfn
            self.boost_watermark(z)
            start = pfn - pfn % PAGEBLOCK_NR_PAGES
            if not (zone.start <= start and start + PAGEBLOCK_NR_PAGES <= zone.end):
                continue
            free = sum(1 << self.pages[p].private for p in range(start, start + PAGEBLOCK_NR_PAGES)
                       if self.PageBuddy(p))
            if free + self.alike_pages(pfn, start_mt, fmt, free) < PAGEBLOCK_NR_PAGES // 2:
                continue
            self.move_freepages(z, start, start + PAGEBLOCK_NR_PAGES - 1, start_mt, tail=True)
            self.pageblock_mt[start // PAGEBLOCK_NR_PAGES] = start_mt
            return self.rmqueue_smallest(z, order, start_mt)
        if nofrag:
            return -1
        return self.rmqueue_steal(z, order, start_mt)

    def rmqueue_steal(self, z, order, start_mt):
        """v6.15+ __rmqueue_steal: the smallest fallback block, split on its own lists."""
        for current in range(order, MAX_ORDER):
            fmt, _ = self.find_suitable_fallback(z, current, start_mt)
            if fmt >= 0:
                pfn = self.zones[z].free_list[current][fmt][0]
                self.take(z, pfn, current)
                self.expand(z, pfn, order, current, fmt)
                return pfn
        return -1

    def free_pages_of(self, z) -> int:
        """NR_FREE_PAGES of zone ``z``: the sum of nr_free << order, less the free pages on
        the MIGRATE_ISOLATE lists while the zone has an isolated pageblock (the kernel
        leaves them out in every era)."""
        zone = self.zones[z]
        n = sum(nr << o for o, nr in enumerate(zone.nr_free))
        if self.zone_flags[z] & ZONE_HAS_ISOLATE:
            n -= sum(len(zone.free_list[o][ISOLATE]) << o for o in range(MAX_ORDER))
        return n

    def nr_free_cma(self, z) -> int:
        """NR_FREE_CMA_PAGES: the free pages of the zone's CMA pageblocks, counted from
        the free lists at each call."""
        zone = self.zones[z]
        lo, hi = zone.start // PAGEBLOCK_NR_PAGES, (zone.end - 1) // PAGEBLOCK_NR_PAGES
        if CMA not in self.pageblock_mt[lo:hi + 1]:
            return 0
        n = 0
        for o in range(MAX_ORDER):
            for lst in zone.free_list[o]:
                for pfn in lst:
                    n += sum(min(1 << o, PAGEBLOCK_NR_PAGES)
                             for b in range(pfn // PAGEBLOCK_NR_PAGES, (pfn + (1 << o) - 1) // PAGEBLOCK_NR_PAGES + 1)
                             if self.pageblock_mt[b] == CMA)
        return n

    def rmqueue(self, z, order, mt, nofrag=False):
        """__rmqueue; v5.7 (cma_balance): a movable request takes CMA first while more
        than half of the zone's free pages are CMA's."""
        if mt == MOVABLE and self.variant.cma_balance:
            if self.nr_free_cma(z) > self.free_pages_of(z) // 2:
                pfn = self.rmqueue_smallest(z, order, CMA)
                if pfn >= 0:
                    return pfn
        pfn = self.rmqueue_smallest(z, order, mt)
        if pfn < 0 and mt == MOVABLE:
            pfn = self.rmqueue_smallest(z, order, CMA)
        if pfn < 0:
            pfn = self.rmqueue_fallback(z, order, mt, nofrag)
        return pfn

    def watermark_ok(self, z, order, mark, alloc_cma) -> bool:
        zone = self.zones[z]
        free = self.free_pages_of(z) - ((1 << order) - 1)
        if not alloc_cma:
            free -= self.nr_free_cma(z)
        if free <= mark:
            return False
        if order == 0:
            return True
        for o in range(order, MAX_ORDER):
            if zone.nr_free[o] == 0:
                continue
            if any(zone.free_list[o][mt] for mt in (UNMOVABLE, MOVABLE, RECLAIMABLE)):
                return True
            if alloc_cma and zone.free_list[o][CMA]:
                return True
        return False

    def prep_new_page(self, pfn, order, kind, owner, compound):
        for p in range(pfn, pfn + (1 << order)):
            page = self.pages[p]
            page.kind = kind
            page.flags = page.mapping = page.private = page.refcount = 0
            page.mapcount = -1
        head = self.pages[pfn]
        head.refcount = 1
        if compound and order > 0:
            head.flags |= 1 << pg.PG_head
            for p in range(pfn + 1, pfn + (1 << order)):
                self.pages[p].compound_head = pfn
            self.pages[pfn + 1].private = order
        if kind in (PageKind.SLAB, PageKind.SLAB_RECLAIMABLE):
            if self.slab_value is not None:
                head.mapcount = self.slab_value
            else:
                head.flags |= 1 << pg.PG_slab
        elif kind == PageKind.PAGETABLE:
            if self.table_value is not None:
                head.mapcount = self.table_value
        elif kind == PageKind.ANON:
            head.flags |= (1 << pg.PG_uptodate) | (1 << pg.PG_swapbacked)
            head.mapping = enc.make_mapping(owner, enc.PAGE_MAPPING_ANON)
            head.mapcount = 0
        elif kind == PageKind.FILE:
            head.flags |= 1 << pg.PG_uptodate
            head.mapping = enc.make_mapping(owner)

    def alloc_pages(self, order, mt, kind, owner, zone_hi, compound=False, wmark=0):
        """get_page_from_freelist: the first zone down from ``zone_hi`` above ``wmark``
        (-1: none) with a block, from this CPU's per-CPU list where the era keeps the
        order (rmqueue_pcplist), else from the buddy. v6.7+ marks a zone found below its
        high watermark ZONE_BELOW_HIGH. alloc_nofragment (v5.0): the fast path (the low
        watermark) of a Normal-zone request first goes down without fragmenting."""
        nofrag = (wmark == WMARK_LOW and self.variant.alloc_nofragment and zone_hi > 0
                  and self.zones[zone_hi].start >= ZONE_NORMAL_START_PFN)
        while True:
            for z in range(zone_hi, -1, -1):
                if self.cpus and self.variant.pcp_autotune and not self.zone_flags[z] & _pcp.ZONE_BELOW_HIGH:
                    if not self.watermark_ok(z, order, self.zones[z].wmark[WMARK_HIGH], mt == MOVABLE):
                        self.zone_flags[z] |= _pcp.ZONE_BELOW_HIGH
                if wmark < 0 or self.watermark_ok(z, order, self.zones[z].wmark[wmark], mt == MOVABLE):
                    pfn = -1
                    if _pcp.pcp_enabled(self, order, mt):
                        pfn = _pcp.rmqueue_pcplist(self, z, order, mt, nofrag)
                    if pfn < 0:
                        pfn = self.rmqueue(z, order, mt, nofrag)
                    if pfn >= 0:
                        self.prep_new_page(pfn, order, kind, owner, compound)
                        return pfn
            if not nofrag:
                return -1
            nofrag = False

    # ------------------------------------------------------------ comparison
    def state(self) -> dict:
        """Everything the engine must agree on, as plain arrays and dicts."""
        out = {name: np.array([getattr(p, name) for p in self.pages])
               for name in ("flags", "mapcount", "refcount", "kind", "mapping", "private", "compound_head")}
        out["free_lists"] = {(z, o, mt): list(zone.free_list[o][mt])
                             for z, zone in enumerate(self.zones)
                             for o in range(MAX_ORDER) for mt in range(MIGRATE_TYPES)}
        out["nr_free"] = np.array([zone.nr_free for zone in self.zones])
        out["pageblock_mt"] = np.array(self.pageblock_mt)
        out["wmark"] = np.array([zone.wmark for zone in self.zones])
        out["pcp"] = np.array([[pcp.row() for pcp in row] for row in self.pcp],
                              dtype=np.int64).reshape(len(self.zones), self.cpus, NR_PCP_FIELDS)
        out["pcp_lists"] = {(z, cpu, i): pcp.blocks(i) for z, row in enumerate(self.pcp)
                            for cpu, pcp in enumerate(row) for i in range(NR_PCP_LISTS)}
        out["zone_flags"] = np.array(self.zone_flags, dtype=np.int64)
        out["watermark_boost"] = np.array([zone.watermark_boost for zone in self.zones], dtype=np.int64)
        out["nr_free_cma"] = np.array([self.nr_free_cma(z) for z in range(len(self.zones))], dtype=np.int64)
        out["this_cpu"] = self.this_cpu
        return out


def engine_state(mem) -> dict:
    """The same view of an engine ``Memory`` (free lists walked from their heads)."""

    n = mem.nr_pages
    out = {name: getattr(mem, name).astype(np.int64) for name in
           ("flags", "mapcount", "refcount", "kind", "mapping", "private")}
    nxt = mem.lru_next[:n].astype(np.int64)
    out["compound_head"] = np.where(nxt <= -2, -2 - nxt, -1)
    lists = {}
    for z in range(mem.nr_zones):
        for o in range(MAX_ORDER):
            for mt in range(MIGRATE_TYPES):
                head = n + (z * MAX_ORDER + o) * MIGRATE_TYPES + mt
                node, seq = int(mem.lru_next[head]), []
                while node != head and len(seq) <= n:
                    seq.append(node)
                    node = int(mem.lru_next[node])
                lists[(z, o, mt)] = seq
    out["free_lists"] = lists
    out["nr_free"] = mem.nr_free.copy()
    out["pageblock_mt"] = (mem.pb_flags & 0x7).astype(np.int64)
    out["wmark"] = mem.wmark.copy()
    out["pcp"] = mem.pcp.copy()
    pcp_lists = {}
    for z in range(mem.nr_zones):
        for cpu in range(mem.cpus):
            for i in range(NR_PCP_LISTS):
                head = pcp_head_index(mem, z, cpu, i)
                node, seq = int(mem.lru_next[head]), []
                while node != head and 0 <= node < n and len(seq) <= n:
                    seq.append(node)
                    node = int(mem.lru_next[node])
                pcp_lists[(z, cpu, i)] = seq
    out["pcp_lists"] = pcp_lists
    # ZONE_ISOLATE_EDGE: the engine's choice of how to count NR_FREE_PAGES, not a zone flag
    from mmkit.engine.buddy import ZONE_ISOLATE_EDGE

    out["zone_flags"] = mem.zone_flags & ~ZONE_ISOLATE_EDGE
    out["watermark_boost"] = mem.watermark_boost.copy()
    out["nr_free_cma"] = mem.nr_free_cma.copy()
    out["this_cpu"] = int(mem.this_cpu[0])
    return out


def pcp_head_index(mem, z: int, cpu: int, pindex: int) -> int:
    """The node number of a per-CPU list's head, as ``mmkit.engine.lists.pcp_head`` numbers
    it: after the free-list, LRU and misc heads (``mmkit.model.memory.nr_heads``)."""
    base = mem.nr_pages + nr_heads(mem.nr_zones, 0)
    return base + (z * mem.cpus + cpu) * NR_PCP_LISTS + pindex
