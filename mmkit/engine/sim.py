"""``Sim``: one Memory, its simulation state and its variant, with validated Python
methods over the kernels (the door for tests, notebooks and the workloads layer).

Everything here checks its arguments and raises ``ParameterError``; the loops run in
the numba kernels. Results are numpy arrays and dicts; frames are built above.
"""

from __future__ import annotations

import numpy as np

from mmkit.engine import compaction as _cp
from mmkit.engine import contig as _contig
from mmkit.engine import owners as _ow
from mmkit.engine import page_alloc as _pa
from mmkit.engine import populate as _pop
from mmkit.engine import reclaim as _rc
from mmkit.engine import state as _st
from mmkit.engine.kpageflags import stable_page_flags
from mmkit.engine.lists import misc_head
from mmkit.engine.pcp import setup_pcp
from mmkit.errors import InvariantError, ParameterError
from mmkit.inputs import check_flag, check_int, check_number, check_seed
from mmkit.engine.buddy import recount_free_counts
from mmkit.engine.pageflags import recount_pb_nr_kind
from mmkit.model.kinds import MAX_ORDER, NR_KINDS, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, MigrateType, PageKind
from mmkit.model.memory import Memory

PROACTIVE_RESULT_NAMES = {0: "not needed", 1: "progress", 2: "no progress"}
COMPACT_RESULT_NAMES = {
    _cp.COMPACT_SKIPPED: "skipped",
    _cp.COMPACT_CONTINUE: "continue",
    _cp.COMPACT_PARTIAL: "success",
    _cp.COMPACT_COMPLETE: "complete",
    _cp.COMPACT_NO_SUITABLE_PAGE: "no_suitable_page",
    _cp.COMPACT_CONTENDED: "contended",
    _cp.COMPACT_NOT_SUITABLE_ZONE: "not_suitable_zone",
}


def _rate(name: str, p: float) -> int:
    if not 0.0 <= check_number(name, p) <= 1.0:
        raise ParameterError(f"{name}: {p!r} is out of range; a probability is 0.0..1.0")
    return int(round(p * 1_000_000))


def _count(name: str, n, hi: int = 1 << 40) -> int:
    return check_int(name, n, 0, hi)


def _contig_result(res: np.ndarray) -> dict[str, int]:
    return {"ok": int(res[_contig.CR_OK]), "reclaimed": int(res[_contig.CR_RECLAIMED]),
            "migrated": int(res[_contig.CR_MIGRATED]), "failed": int(res[_contig.CR_FAILED]),
            "skipped_clean": int(res[_contig.CR_SKIPPED_CLEAN]), "ret": int(res[_contig.CR_RET])}


class Sim:
    """A Memory under one variant, with owners, counters and the event log."""

    def __init__(self, mem: Memory, seed: int = 0, *, deflate_race: float = 0.0,
                 migrate_fail: float = 0.0, concurrent_compaction: float = 0.0,
                 swap: bool = True, log_traffic: bool = False, event_capacity: int = 1 << 16,
                 zspage_capacity: int | None = None) -> None:
        if not isinstance(mem, Memory):
            raise ParameterError(f"mem: expected a mmkit.Memory, got {type(mem).__name__}")
        seed = check_seed(seed)
        self.mem = mem
        self.variant = mem.variant
        self.vc = mem.variant.compile()
        self.A = mem.arrays()
        self.last_cc = None  # the compact_control of the last compact_zone
        cap = zspage_capacity if zspage_capacity is not None else max(1024, mem.nr_pages // 2)
        self.S = _st.new_sim(int(seed), _count("event_capacity", event_capacity, 1 << 26), cap,
                             check_flag("log_traffic", log_traffic))
        self.S.st[_st.ST_RACE_PPM] = _rate("deflate_race", deflate_race)
        self.S.st[_st.ST_FAIL_PPM] = _rate("migrate_fail", migrate_fail)
        self.S.st[_st.ST_CONCURRENT_PPM] = _rate("concurrent_compaction", concurrent_compaction)
        self.S.st[_st.ST_SWAP_ENABLED] = int(bool(swap))
        _ow.recount_lru(self.A)
        if mem.nr_pages and int(mem.kind.max()) >= NR_KINDS:
            bad = int(np.flatnonzero(mem.kind >= NR_KINDS)[0])
            raise InvariantError(f"frame {bad:#x} has kind {int(mem.kind[bad])}, outside PageKind", bad)
        recount_pb_nr_kind(self.A)
        recount_free_counts(self.A, self.vc)
        setup_pcp(mem, self.variant)
        for z in range(mem.nr_zones):
            self.S.zc[z, _st.ZC_INACTIVE_RATIO] = _st.inactive_ratio(int(mem.zone_managed[z]))

    # ------------------------------------------------------------ helpers
    @property
    def zone_hi(self) -> int:
        return self.mem.nr_zones - 1

    def _zone(self, zone) -> int:
        if zone is None:
            return self.zone_hi
        if isinstance(zone, str) and zone in self.mem.zone_names:
            return self.mem.zone_names.index(zone)
        if isinstance(zone, (int, np.integer)) and 0 <= zone < self.mem.nr_zones:
            return int(zone)
        raise ParameterError(f"zone: {zone!r} is not one of {list(self.mem.zone_names)}")

    def _loop(self, n, fn, *args) -> np.ndarray:
        out = np.full(_count("n", n, self.mem.nr_pages), -1, dtype=np.int64)
        for i in range(len(out)):
            out[i] = fn(self.A, self.vc, self.S, *args)
        return out

    # ------------------------------------------------------------ populations
    def anon(self, n: int = 1, *, pinned: bool = False, zone=None) -> np.ndarray:
        """Fault in ``n`` anonymous pages; returns their pfns (-1 where allocation failed)."""
        return self._loop(n, _pop.anon_fault, self._zone(zone), bool(pinned), _pa.GFP_DEFAULT)

    def file(self, n: int = 1, *, dirty=False, checked=False, fscache=False, unevictable=False,
             mapped=False, zone=None) -> np.ndarray:
        """Read ``n`` file pages into the page cache with the given flag habits
        (``checked``: PG_checked as ext4 data=journal sets it; ``fscache``: PG_private_2)."""
        habits = (_pop.FILE_DIRTY * bool(dirty) | _pop.FILE_CHECKED * bool(checked)
                  | _pop.FILE_FSCACHE * bool(fscache) | _pop.FILE_UNEVICTABLE * bool(unevictable)
                  | _pop.FILE_MAPPED * bool(mapped))
        return self._loop(n, _pop.file_page, self._zone(zone), habits, _pa.GFP_DEFAULT)

    def folio(self, n: int = 1, *, order: int = 2, file: bool = True, dirty=False, buffers=False,
              writeback=False, zone=None) -> np.ndarray:
        """``n`` large folios of ``order`` (1..8) on the LRU: page-cache folios (``buffers``:
        PG_private, ``dirty``, ``writeback``) or, with ``file=False``, anonymous mTHPs."""
        if not isinstance(order, (int, np.integer)) or not 1 <= order <= 8:
            raise ParameterError(f"order: {order!r} is out of range 1..8 (order 9 is thp())")
        habits = (_pop.FILE_DIRTY * bool(dirty) | _pop.FILE_BUFFERS * bool(buffers)
                  | _pop.FILE_WRITEBACK * bool(writeback))
        return self._loop(n, _pop.folio_alloc, self._zone(zone), int(order), habits, bool(file), _pa.GFP_DEFAULT)

    def thp(self, n: int = 1, *, zone=None) -> np.ndarray:
        return self._loop(n, _pop.thp_fault, self._zone(zone), _pa.GFP_TRANSHUGE)

    def kernel(self, n: int = 1, *, order: int = 0, kind: PageKind = PageKind.KERNEL, zone=None) -> np.ndarray:
        """Unmovable or reclaimable kernel allocations of ``kind`` (KERNEL, SLAB,
        SLAB_RECLAIMABLE, PAGETABLE)."""
        if int(kind) not in (PageKind.KERNEL, PageKind.SLAB, PageKind.SLAB_RECLAIMABLE, PageKind.PAGETABLE):
            raise ParameterError(f"kind: {kind!r} is not a kernel allocation kind (KERNEL, SLAB, SLAB_RECLAIMABLE, PAGETABLE)")
        if not isinstance(order, (int, np.integer)) or not 0 <= order <= 10:
            raise ParameterError(f"order: {order!r} is out of range 0..10")
        return self._loop(n, _pop.kernel_alloc, self._zone(zone), int(order), int(kind), _pa.GFP_DEFAULT)

    def free(self, pfns) -> None:
        """Free user or kernel pages made by this Sim (by pfn of the head page)."""
        for pfn in np.atleast_1d(np.asarray(pfns, dtype=np.int64)):
            if not 0 <= pfn < self.mem.nr_pages:
                raise ParameterError(f"pfns: {pfn} is out of range 0..{self.mem.nr_pages - 1}")
            k = int(self.mem.kind[pfn])
            if self.mem.lru_next[pfn] <= -2 or self.mem.refcount[pfn] <= 0:
                raise ParameterError(f"pfns: {pfn:#x} is not the head of an allocated page")
            if k in (PageKind.ANON, PageKind.FILE):
                _pop.free_user_page(self.A, self.vc, int(pfn))
            elif k in (PageKind.KERNEL, PageKind.SLAB, PageKind.SLAB_RECLAIMABLE, PageKind.PAGETABLE):
                _pop.free_kernel_page(self.A, self.vc, int(pfn))
            else:
                raise ParameterError(f"pfns: {pfn:#x} is a {PageKind(k).name} page; free those through their owner")

    def balloon_inflate(self, n: int, *, zone=None) -> int:
        return int(_ow.balloon_inflate(self.A, self.vc, self.S, _count("n", n), self._zone(zone)))

    def balloon_deflate(self, n: int) -> int:
        return int(_ow.balloon_deflate(self.A, self.vc, self.S, _count("n", n)))

    def zram_store(self, n: int = 1, *, size_class: int | None = None, zone=None) -> np.ndarray:
        """Store ``n`` compressed objects (random size classes unless given); returns
        the zspage ids (-1 where zsmalloc could not get memory)."""
        z = self._zone(zone)
        out = np.full(_count("n", n), -1, dtype=np.int64)
        for i in range(len(out)):
            c = _rc.pick_zs_class(self.S) if size_class is None else size_class
            if not 0 <= c < _st.NR_ZS_CLASSES:
                raise ParameterError(f"size_class: {c!r} is out of range 0..{_st.NR_ZS_CLASSES - 1}")
            out[i] = _ow.zs_malloc(self.A, self.vc, self.S, int(c), z, 0)  # WMARK_MIN
        return out

    def zram_free(self, n: int = 1) -> int:
        freed = 0
        for _ in range(_count("n", n)):
            if _ow.zs_free(self.A, self.vc, self.S) < 0:
                break
            freed += 1
        return freed

    # ------------------------------------------------------------ the kernel's jobs
    def compact_zone(self, zone=None, *, order: int = -1, sync: bool = True, ignore_skip: bool = True,
                     migratetype: int = MigrateType.MOVABLE) -> str:
        """``compact_zone`` on one zone; returns the result name (``success`` is the
        kernel's COMPACT_PARTIAL: a suitable page is free). An order above 0 compacts as
        direct compaction does (``compact_zone_order``: cc->direct_compaction).
        ``self.last_cc`` keeps its ``compact_control`` (where the scanners stopped)."""
        if not isinstance(order, (int, np.integer)) or not -1 <= order <= 10:
            raise ParameterError(f"order: {order!r} is out of range -1..10 (-1: compact everything)")
        self.last_cc = cc = _cp.new_cc(self._zone(zone), int(order), sync, ignore_skip, int(migratetype),
                                       direct=order > 0)
        return COMPACT_RESULT_NAMES[int(_cp.compact_zone(self.A, self.vc, self.S, cc))]

    def compact_memory(self) -> dict[str, str]:
        """``echo 1 > /proc/sys/vm/compact_memory``: every zone, order -1, sync, skip
        hints ignored."""
        return {name: self.compact_zone(z, order=-1, sync=True, ignore_skip=True)
                for z, name in enumerate(self.mem.zone_names)}

    def proactive_compact(self) -> str:
        """kcompactd's proactive check (v5.9, whatever the variant says): "not needed"
        when the node's fragmentation score is at most the high mark; otherwise every
        zone compacted until its score is at the low mark, "progress" or "no progress"
        (the score did not go down)."""
        return PROACTIVE_RESULT_NAMES[int(_cp.proactive_compaction_check(self.A, self.vc, self.S))]

    def alloc_contig_range(self, start: int, end: int) -> dict[str, int]:
        """``alloc_contig_range`` of [start, end) (pageblock aligned, inside one zone)."""
        for name, v in (("start", start), ("end", end)):
            if not isinstance(v, (int, np.integer)) or v % PAGEBLOCK_NR_PAGES:
                raise ParameterError(f"{name}: {v!r} must be a pfn aligned to a pageblock ({PAGEBLOCK_NR_PAGES} pages)")
        z = self.mem.zone_of(int(start))
        if not start < end or z < 0 or end > self.mem.zone_end[z]:
            raise ParameterError(f"range: [{start:#x}, {end:#x}) must be non-empty and inside one zone")
        res = np.zeros(_contig.NR_CR, dtype=np.int64)
        _contig.alloc_contig_range(self.A, self.vc, self.S, int(start), int(end), res)
        return _contig_result(res)

    def cma_alloc(self, base: int, area_blocks: int, nblocks: int) -> tuple[int, dict[str, int]]:
        """``cma_alloc`` of ``nblocks`` pageblocks on the CMA area of ``area_blocks``
        pageblocks at ``base`` (none of it given out): ``alloc_contig_range`` at each
        position in turn, a pageblock apart, until one is allocated, one fails with
        -ENOMEM or none is left. Returns the range's first pfn (-1: none) and the cost
        of every try added up (``ret`` is the last try's: 0, -EBUSY or -ENOMEM)."""
        if not isinstance(base, (int, np.integer)) or base % PAGEBLOCK_NR_PAGES:
            raise ParameterError(f"base: {base!r} must be a pfn aligned to a pageblock ({PAGEBLOCK_NR_PAGES} pages)")
        area_blocks, nblocks = _count("area_blocks", area_blocks), _count("nblocks", nblocks)
        z = self.mem.zone_of(int(base))
        if not 0 < nblocks <= area_blocks or z < 0 or base + area_blocks * PAGEBLOCK_NR_PAGES > self.mem.zone_end[z]:
            raise ParameterError(f"area: {area_blocks} pageblocks at {base:#x} must lie inside one zone and hold "
                                 f"the {nblocks} asked for (at least one)")
        res = np.zeros(_contig.NR_CR, dtype=np.int64)
        start = _contig.cma_alloc(self.A, self.vc, self.S, int(base), area_blocks, nblocks, res)
        return int(start), _contig_result(res)

    def free_contig_range(self, start: int, end: int) -> None:
        if (self.mem.kind[start:end] != PageKind.KERNEL).any():
            raise ParameterError(f"range: [{start:#x}, {end:#x}) is not a range alloc_contig_range gave out")
        _contig.free_contig_range(self.A, self.vc, int(start), int(end))

    def reclaim(self, zone=None, *, target_free: int | None = None) -> int:
        """Reclaim in one zone (kswapd-like) up to ``target_free`` free pages (default:
        the high watermark); returns the pages freed."""
        z = self._zone(zone)
        target = int(self.mem.wmark[z, 2]) if target_free is None else _count("target_free", target_free)
        span = int(self.mem.zone_end[z] - self.mem.zone_start[z])
        return int(_rc.shrink_zone(self.A, self.vc, self.S, z, target, span))

    def kpageflags(self) -> np.ndarray:
        """/proc/kpageflags as this variant's kernel would report it (uint64 per pfn)."""
        out = np.zeros(self.mem.nr_pages, dtype=np.uint64)
        stable_page_flags(self.A, self.vc, out)
        return out

    # ------------------------------------------------------------ results
    @property
    def vmstat(self) -> dict[str, int]:
        return dict(zip(_st.VMSTAT_NAMES, (int(x) for x in self.S.vm)))

    def events(self) -> np.ndarray:
        """The logged events, rows of (tick, pfn, event, kind, rule, extra)."""
        return self.S.events[: int(self.S.st[_st.ST_NEV])].copy()

    def fault_counts(self) -> np.ndarray:
        """Counts by (event, true page kind), including events not logged."""
        return self.S.faults.copy()

    def count(self, event: str, kind: PageKind | None = None) -> int:
        """How many times ``event`` happened (logged or not), to pages of ``kind`` if given."""
        if not isinstance(event, str) or event not in _st.EVENT_NAMES:
            raise ParameterError(f"event: {event!r} is not an event; events are {', '.join(_st.EVENT_NAMES)}")
        row = self.S.faults[_st.EVENT_NAMES.index(event)]
        if kind is None:
            return int(row.sum())
        if isinstance(kind, bool) or not isinstance(kind, (int, np.integer)) or not 0 <= int(kind) < NR_KINDS:
            raise ParameterError(f"kind: {kind!r} is not a page kind; give a mmkit.PageKind "
                                 f"({', '.join(k.name for k in PageKind)}) or None for every kind")
        return int(row[int(kind)])

    @property
    def oopsed(self) -> bool:
        return bool(self.S.st[_st.ST_OOPSED])

    def check(self) -> None:
        """``Memory.check`` plus the owners' bookkeeping: no page left on compaction's
        private lists, the balloon's count matches its list, every zspage sub-page is a
        zsmalloc page of that zspage."""
        self.mem.check()
        A, S = self.A, self.S
        nb, nk = A.pb_nr_kind.shape
        cell = (np.arange(self.mem.nr_pages) >> PAGEBLOCK_ORDER) * nk + self.mem.kind
        want = np.bincount(cell, minlength=nb * nk).reshape(nb, nk)
        if not np.array_equal(want, A.pb_nr_kind):
            b = int(np.flatnonzero((want != A.pb_nr_kind).any(axis=1))[0])
            raise InvariantError(f"pageblock {b}: pb_nr_kind {A.pb_nr_kind[b].tolist()} but its frames count "
                                 f"{want[b].tolist()}", b << PAGEBLOCK_ORDER)
        for h in (_st.HEAD_MIGRATEPAGES, _st.HEAD_FREEPAGES, _st.HEAD_CONTIG, _st.HEAD_DEFLATE, _st.HEAD_SPLIT,
                  *range(_st.HEAD_FREEPAGES_ORDER1, _st.HEAD_FREEPAGES_ORDER1 + MAX_ORDER - 1)):
            head = misc_head(A, h)
            if A.lru_next[head] != head:
                raise InvariantError(f"a private list (head {h}) is not empty between operations", int(A.lru_next[head]))
        live = self.mem.kind == PageKind.BALLOON
        if int(live.sum()) != int(S.st[_st.ST_BALLOON_PAGES]):
            raise InvariantError(f"balloon holds {int(S.st[_st.ST_BALLOON_PAGES])} pages but {int(live.sum())} frames are balloon pages",
                                 int(np.flatnonzero(live)[0]) if live.any() else -1)
        cap = S.zs_free_ids.shape[0]
        nlive = int(S.st[_st.ST_ZS_LIVE])
        for zspage in S.zs_free_ids[cap - nlive:]:
            for i in range(int(S.zs_npages[zspage])):
                pfn = int(S.zs_pages[zspage, i])
                if pfn >= 0 and (self.mem.kind[pfn] != PageKind.ZSMALLOC or self.mem.private[pfn] != zspage):
                    raise InvariantError(f"zspage {zspage} sub-page {i} is not a zsmalloc page of that zspage", pfn)
