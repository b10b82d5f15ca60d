"""The workload tick (``mmkit.engine.workload.run_ticks``) in plain Python on the twin
(``mmkit.reference.sim.RefSim``), for differential runs against the engine (tests only).

The twin has every memory-management operation the tick performs (the allocation paths
with their GFP_DEFAULT and GFP_TRANSHUGE slow paths, the user and kernel free paths,
the balloon's inflate and deflate, zs_free, alloc_contig_range and free_contig_range,
kcompactd_do_work or try_to_compact_pages for kcompactd, move_freepages_block for the CMA area). What it does
not have is the tick's own driver: the random choice of each operation (pick_kind,
file_habits, pick_zone, the chances), ``find_page`` (the random walk to a page to free),
``managed_pages``, ``setup_cma_area`` and the balloon and CMA schedules. This module is
that driver, written from the engine's source, drawing from the twin's generator in the
engine's order. The prefill is not here: the twin's allocation helpers take no gfp, so
its GFP_NOWAIT fast-path-only requests cannot be made (differential runs use prefill=0).
``sample`` only reads the memory and is not replayed. On a machine with CPUs each tick
starts with ``pcp_tick`` (the CPU it runs on, the decay of ``pcp->high``).
"""

from __future__ import annotations

from mmkit.engine import workload as W
from mmkit.model import flags as pg
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, PageKind
from mmkit.reference import compaction as _cp
from mmkit.reference import contig as _contig
from mmkit.reference import owners as _ow
from mmkit.reference import populate as _pop
from mmkit.reference.buddy import CMA, UNMOVABLE
from mmkit.reference.pcp import pcp_tick
from mmkit.reference.predicates import PageIsolated, test
from mmkit.reference.reclaim import zone_free_pages

KINDS = (PageKind.ANON, PageKind.FILE, PageKind.SLAB, PageKind.SLAB_RECLAIMABLE, PageKind.KERNEL, PageKind.PAGETABLE)
NOT_MANAGED = (PageKind.HOLE, PageKind.UNINIT, PageKind.RESERVED)


class TickTwin:
    """``run_ticks`` on a RefSim: ``setup()`` once (the CMA area), then ``tick(t, last)``."""

    def __init__(self, s, P) -> None:
        self.s = s
        self.P = [int(x) for x in P]
        self.zone_hi = len(s.mem.zones) - 1
        self.managed = sum(1 for p in s.mem.pages if p.kind not in NOT_MANAGED)
        self.target = self.managed * self.P[W.P_TARGET_USED_PPM] // 1_000_000
        self.cma_start = -1
        self.cma_held = -1

    # ---------------------------------------------------------------- the schedule
    def setup(self) -> int:
        """``setup_cma_area``: the top pageblocks of the highest zone become MIGRATE_CMA."""
        self.cma_start = self.s.mem.setup_cma_area(self.P[W.P_CMA_AREA_BLOCKS])
        return self.cma_start

    def tick(self, t: int, last: int) -> None:
        s, P = self.s, self.P
        pcp_tick(s.mem, t)
        if P[W.P_BALLOON_PERIOD] > 0:
            half = max(P[W.P_BALLOON_PERIOD] // 2, 1)
            if (t // half) % 2 == 0:
                _ow.fill_balloon(s, P[W.P_BALLOON_PAGES], self.zone_hi)
            else:
                _ow.leak_balloon(s, P[W.P_BALLOON_PAGES])
        if P[W.P_CMA_PERIOD] > 0 and self.cma_start >= 0 and t % P[W.P_CMA_PERIOD] == 0:
            nblocks = P[W.P_CMA_BLOCKS]
            if self.cma_held >= 0:
                _contig.free_contig_range(s, self.cma_held, self.cma_held + nblocks * PAGEBLOCK_NR_PAGES)
                self.cma_held = -1
            else:
                area_end = s.mem.zones[self.zone_hi].end & ~(PAGEBLOCK_NR_PAGES - 1)
                self.cma_held = _contig.cma_alloc(s, self.cma_start, (area_end - self.cma_start) // PAGEBLOCK_NR_PAGES,
                                                  nblocks)
        self.tick_ops()
        if t == last - 1 and self.cma_held >= 0:
            _contig.free_contig_range(s, self.cma_held, self.cma_held + P[W.P_CMA_BLOCKS] * PAGEBLOCK_NR_PAGES)
            self.cma_held = -1

    # ---------------------------------------------------------------- one tick's batch
    def tick_ops(self) -> None:
        s, P, zone_hi = self.s, self.P, self.zone_hi
        failed_order = 0
        for _ in range(P[W.P_OPS]):
            free_now = sum(zone_free_pages(s, z) for z in range(zone_hi + 1))
            used = self.managed - free_now + s.zs.objects
            kind = self.pick_kind()
            if used >= self.target or s.rng.chance_ppm(P[W.P_CHURN_PPM]):
                self.do_free(kind)
            else:
                failed_order = max(failed_order, self.do_alloc(kind))
            if s.rng.chance_ppm(P[W.P_ZRAM_SWAPIN_PPM]) and _ow.zs_free(s) >= 0:
                s.vm["pswpin"] += 1
                _pop.anon_fault(s, zone_hi, False)
        if P[W.P_KCOMPACTD] != 0 and failed_order > 0:
            s.vm["compact_daemon_wake"] += 1
            if s.v.kcompactd:
                _cp.kcompactd_do_work(s, failed_order, zone_hi)
            else:
                _cp.try_to_compact_pages(s, failed_order, UNMOVABLE, zone_hi, True, direct=False)

    def pick_kind(self) -> int:
        weights = self.P[W.P_MIX_ANON:W.P_MIX_PAGETABLE + 1]
        if sum(weights) <= 0:
            return PageKind.ANON
        r = self.s.rng.below(sum(weights))
        acc = 0
        for kind, w in zip(KINDS, weights):
            acc += w
            if r < acc:
                return kind
        return PageKind.ANON

    def file_habits(self) -> int:
        h = 0
        for slot, bit in ((W.P_FILE_DIRTY_PPM, _pop.FILE_DIRTY), (W.P_FILE_CHECKED_PPM, _pop.FILE_CHECKED),
                          (W.P_FILE_FSCACHE_PPM, _pop.FILE_FSCACHE), (W.P_FILE_UNEVICTABLE_PPM, _pop.FILE_UNEVICTABLE),
                          (W.P_FILE_MAPPED_PPM, _pop.FILE_MAPPED)):
            if self.s.rng.chance_ppm(self.P[slot]):
                h |= bit
        return h

    def do_alloc(self, kind: int) -> int:
        s, P, zone_hi = self.s, self.P, self.zone_hi
        if kind == PageKind.ANON:
            if s.rng.chance_ppm(P[W.P_THP_PPM]):
                if _pop.thp_fault(s, zone_hi) >= 0:
                    return 0
                return -1 if _pop.anon_fault(s, zone_hi, False) < 0 else 9
            pinned = s.rng.chance_ppm(P[W.P_PINNED_PPM])
            return 0 if _pop.anon_fault(s, zone_hi, pinned) >= 0 else -1
        if kind == PageKind.FILE:
            return 0 if _pop.file_page(s, zone_hi, self.file_habits()) >= 0 else -1
        order = 0
        if kind in (PageKind.KERNEL, PageKind.SLAB):
            if s.rng.chance_ppm(P[W.P_ORDER2_PPM]):
                order = 2
            elif s.rng.chance_ppm(P[W.P_ORDER3_PPM]):
                order = 3
        if _pop.kernel_alloc(s, zone_hi, order, int(kind)) < 0:
            return order if order > 0 else -1
        return 0

    def pick_zone(self) -> int:
        zones = self.s.mem.zones
        r = self.s.rng.below(sum(z.end - z.start for z in zones))
        for i, z in enumerate(zones):
            r -= z.end - z.start
            if r < 0:
                return i
        return len(zones) - 1

    def do_free(self, kind: int) -> bool:
        pfn = self.find_page(self.pick_zone(), kind, 1024)
        if pfn < 0:
            return False
        if kind in (PageKind.ANON, PageKind.FILE):
            _pop.free_user_page(self.s, pfn)
        else:
            _pop.free_kernel_page(self.s, pfn)
        return True

    def find_page(self, z: int, kind: int, budget: int) -> int:
        """A random allocated head page of ``kind`` in zone ``z`` (a bounded walk from a
        random pfn; a compound page of order k taken with probability 2**-k), or -1.
        Kernel pages in a MIGRATE_CMA pageblock are passed over, as the engine's are: they
        belong to a range cma_alloc gave out, freed whole by cma_release."""
        s = self.s
        pages, zone = s.mem.pages, s.mem.zones[z]
        start, end = zone.start, zone.end
        span = end - start
        if span <= 0:
            return -1
        p = start + s.rng.below(span)
        steps = 0
        while steps < min(budget, span):
            b = p - p % PAGEBLOCK_NR_PAGES
            if not any(q.kind == kind for q in pages[b:b + PAGEBLOCK_NR_PAGES]):
                nxt = min(b + PAGEBLOCK_NR_PAGES, end)
                steps += nxt - p
                p = nxt if nxt < end else start
                continue
            head = pages[p].compound_head if pages[p].compound_head >= 0 else p
            page = pages[head]
            if page.kind == kind and page.refcount > 0 and not PageIsolated(s.v, page) \
                    and not (kind == PageKind.KERNEL
                             and s.mem.pageblock_mt[head // PAGEBLOCK_NR_PAGES] == CMA):
                order = pages[head + 1].private if test(page, pg.PG_head) else 0
                if order == 0 or s.rng.below(1 << order) == 0:
                    return head
                nxt = head + (1 << order)
            else:
                nxt = p + 1
            steps += nxt - p if nxt > p else 1
            p = nxt if nxt > p else p + 1
            if p >= end:
                p = start
        return -1
