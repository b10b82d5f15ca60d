"""``RefSim``: the plain-Python twin of ``mmkit.engine.sim.Sim`` for small memories, with
the same methods, arguments and results, built on :class:`RefMemory` and the twin's
owners, compaction, migration, contig ranges and reclaim.

``state()`` (twin) and :func:`engine_sim_state` (engine) give one comparable view of a
simulation: every per-page field, every list head and ``page->lru`` link numbered as the
engine numbers its nodes (pfns, then the free-list heads, the LRU heads, the other heads,
the per-CPU list heads), buddy free lists, per-CPU lists and counts, pageblock flags, the
owners' bookkeeping and the generator's state.
"""

from __future__ import annotations

import math

import numpy as np

from mmkit.engine.state import EVENT_NAMES, NR_EVENTS
from mmkit.errors import ParameterError
from mmkit.model.kinds import MAX_ORDER, MIGRATE_TYPES, NR_KINDS, NR_LRU_LISTS, PageKind
from mmkit.model.memory import NR_PCP_LISTS, nr_heads
from mmkit.reference import compaction as _cp
from mmkit.reference import contig as _contig
from mmkit.reference import owners as _ow
from mmkit.reference import pcp as _pcp
from mmkit.reference import populate as _pop
from mmkit.reference import reclaim as _rc
from mmkit.reference.buddy import Page, RefMemory, TailOf
from mmkit.reference.events import new_vmstat
from mmkit.reference.kpageflags import stable_page_flags
from mmkit.reference.lists import ListHead
from mmkit.reference.rng import SplitMix64

# numbered as mmkit.engine.state numbers them: cc->freepages[1..10] (v6.9) are heads 5..14,
# migrate_pages' split_folios head 15
MISC_HEADS = ("balloon", "migratepages", "freepages", "deflated", "contig",
              *(f"freepages{o}" for o in range(1, MAX_ORDER)), "split")
KERNEL_KINDS = (PageKind.KERNEL, PageKind.SLAB, PageKind.SLAB_RECLAIMABLE, PageKind.PAGETABLE)


def _ppm(p: float) -> int:
    return int(round(p * 1_000_000))


class RefSim:
    """A RefMemory under one variant, with owners, counters and the event log."""

    def __init__(self, mem: RefMemory, seed: int = 0, *, deflate_race: float = 0.0, migrate_fail: float = 0.0,
                 concurrent_compaction: float = 0.0, swap: bool = True, log_traffic: bool = False,
                 event_capacity: int = 1 << 16, zspage_capacity: int | None = None) -> None:
        self.mem = mem
        self.v = mem.variant
        self.rng = SplitMix64(seed)
        self.race_ppm = _ppm(deflate_race)
        self.fail_ppm = _ppm(migrate_fail)
        self.concurrent_ppm = _ppm(concurrent_compaction)
        self.swap = bool(swap)
        self.log_traffic = bool(log_traffic)
        self.event_capacity = event_capacity
        self.event_log: list[tuple] = []
        self.events_dropped = 0
        self.faults = [[0] * NR_KINDS for _ in range(NR_EVENTS)]
        self.vm = new_vmstat()
        self.oopsed = False
        self.owner_next = 16
        self.blockskip_flush = [False] * len(mem.zones)
        self.zc = [_cp.ZoneCompaction() for _ in mem.zones]
        self.lru_heads = [[ListHead(f"lru{z}.{i}") for i in range(NR_LRU_LISTS)] for z in range(len(mem.zones))]
        self.lru_size = [[0] * NR_LRU_LISTS for _ in mem.zones]
        # zone->inactive_ratio (v4.5 calculate_zone_inactive_ratio), from the managed pages
        self.inactive_ratio = [math.isqrt(10 * ((zn.end - zn.start) >> 18)) or 1 for zn in mem.zones]
        self.misc_heads = [ListHead(name) for name in MISC_HEADS]
        (self.balloon_head, self.migratepages_head, self.freepages_head, self.deflated_head,
         self.contig_head) = self.misc_heads[:5]
        self.freepages_order = [self.freepages_head, *self.misc_heads[5:5 + MAX_ORDER - 1]]  # cc->freepages[order]
        self.split_head = self.misc_heads[-1]
        self.balloon_count = 0
        self.balloon_isolated = 0
        cap = zspage_capacity if zspage_capacity is not None else max(1024, len(mem.pages) // 2)
        self.zs = _ow.ZsPool(cap)
        _pcp.setup_pcp(mem)  # as Sim does: the per-CPU lists sized for the variant

    # ------------------------------------------------------------ populations
    @property
    def zone_hi(self) -> int:
        return len(self.mem.zones) - 1

    def _zone(self, zone) -> int:
        if zone is None:
            return self.zone_hi
        if isinstance(zone, str):
            return [z.name for z in self.mem.zones].index(zone)
        return int(zone)

    def anon(self, n: int = 1, *, pinned: bool = False, zone=None) -> np.ndarray:
        z = self._zone(zone)
        return np.array([_pop.anon_fault(self, z, bool(pinned)) for _ in range(n)], dtype=np.int64)

    def file(self, n: int = 1, *, dirty=False, checked=False, fscache=False, unevictable=False, mapped=False,
             zone=None) -> np.ndarray:
        habits = (_pop.FILE_DIRTY * bool(dirty) | _pop.FILE_CHECKED * bool(checked) | _pop.FILE_FSCACHE * bool(fscache)
                  | _pop.FILE_UNEVICTABLE * bool(unevictable) | _pop.FILE_MAPPED * bool(mapped))
        z = self._zone(zone)
        return np.array([_pop.file_page(self, z, habits) for _ in range(n)], dtype=np.int64)

    def folio(self, n: int = 1, *, order: int = 2, file: bool = True, dirty=False, buffers=False,
              writeback=False, zone=None) -> np.ndarray:
        if not isinstance(order, (int, np.integer)) or not 1 <= order <= 8:
            raise ParameterError(f"order: {order!r} is out of range 1..8 (order 9 is thp())")
        habits = (_pop.FILE_DIRTY * bool(dirty) | _pop.FILE_BUFFERS * bool(buffers)
                  | _pop.FILE_WRITEBACK * bool(writeback))
        z = self._zone(zone)
        return np.array([_pop.folio_alloc(self, z, int(order), habits, bool(file)) for _ in range(n)], dtype=np.int64)

    def thp(self, n: int = 1, *, zone=None) -> np.ndarray:
        z = self._zone(zone)
        return np.array([_pop.thp_fault(self, z) for _ in range(n)], dtype=np.int64)

    def kernel(self, n: int = 1, *, order: int = 0, kind: PageKind = PageKind.KERNEL, zone=None) -> np.ndarray:
        z = self._zone(zone)
        return np.array([_pop.kernel_alloc(self, z, int(order), int(kind)) for _ in range(n)], dtype=np.int64)

    def free(self, pfns) -> None:
        for pfn in np.atleast_1d(np.asarray(pfns, dtype=np.int64)):
            pfn = int(pfn)
            page = self.mem.pages[pfn]
            if page.compound_head >= 0 or page.refcount <= 0:
                raise ValueError(f"pfns: {pfn:#x} is not the head of an allocated page")
            if page.kind in (PageKind.ANON, PageKind.FILE):
                _pop.free_user_page(self, pfn)
            elif page.kind in KERNEL_KINDS:
                _pop.free_kernel_page(self, pfn)
            else:
                raise ValueError(f"pfns: {pfn:#x} is a {PageKind(page.kind).name} page")

    def balloon_inflate(self, n: int, *, zone=None) -> int:
        return _ow.fill_balloon(self, n, self._zone(zone))

    def balloon_deflate(self, n: int) -> int:
        return _ow.leak_balloon(self, n)

    def zram_store(self, n: int = 1, *, size_class: int | None = None, zone=None) -> np.ndarray:
        z = self._zone(zone)
        out = []
        for _ in range(n):
            c = _rc.pick_zs_class(self) if size_class is None else size_class
            out.append(_ow.zs_malloc(self, int(c), z))
        return np.array(out, dtype=np.int64)

    def zram_free(self, n: int = 1) -> int:
        freed = 0
        for _ in range(n):
            if _ow.zs_free(self) < 0:
                break
            freed += 1
        return freed

    # ------------------------------------------------------------ the kernel's jobs
    def compact_zone(self, zone=None, *, order: int = -1, sync: bool = True, ignore_skip: bool = True,
                     migratetype: int = 1) -> str:
        cc = _cp.CompactControl(zone=self._zone(zone), order=int(order), sync=bool(sync),
                                ignore_skip_hint=bool(ignore_skip), migratetype=int(migratetype),
                                direct=int(order) > 0)
        return _cp.compact_zone(self, cc)

    def compact_memory(self) -> dict[str, str]:
        return {zone.name: self.compact_zone(z, order=-1, sync=True, ignore_skip=True)
                for z, zone in enumerate(self.mem.zones)}

    def proactive_compact(self) -> str:
        return _cp.proactive_compaction_check(self)

    def alloc_contig_range(self, start: int, end: int) -> dict[str, int]:
        return _contig.alloc_contig_range(self, int(start), int(end))

    def cma_alloc(self, base: int, area_blocks: int, nblocks: int) -> tuple[int, dict[str, int]]:
        res = _contig.new_result()
        return _contig.cma_alloc(self, int(base), int(area_blocks), int(nblocks), res), res

    def free_contig_range(self, start: int, end: int) -> None:
        _contig.free_contig_range(self, int(start), int(end))

    def reclaim(self, zone=None, *, target_free: int | None = None) -> int:
        z = self._zone(zone)
        zone_ = self.mem.zones[z]
        target = zone_.wmark[2] if target_free is None else int(target_free)
        return _rc.shrink_zone(self, z, target, zone_.end - zone_.start)

    def kpageflags(self) -> np.ndarray:
        return np.array(stable_page_flags(self), dtype=np.uint64)

    # ------------------------------------------------------------ results
    @property
    def vmstat(self) -> dict[str, int]:
        return dict(self.vm)

    def events(self) -> np.ndarray:
        return np.array(self.event_log, dtype=np.int64).reshape(-1, 6)

    def fault_counts(self) -> np.ndarray:
        return np.array(self.faults, dtype=np.int64)

    def count(self, event: str, kind: PageKind | None = None) -> int:
        row = self.faults[EVENT_NAMES.index(event)]
        return sum(row) if kind is None else row[int(kind)]

    # ------------------------------------------------------------ comparison
    def state(self) -> dict:
        """The comparable view (see the module docstring)."""
        mem = self.mem
        n = len(mem.pages)
        nz = len(mem.zones)
        ids: dict[int, int] = {}
        for z in range(nz):
            for lru, head in enumerate(self.lru_heads[z]):
                ids[id(head)] = n + nz * MAX_ORDER * MIGRATE_TYPES + z * NR_LRU_LISTS + lru
        for i, head in enumerate(self.misc_heads):
            ids[id(head)] = n + nz * (MAX_ORDER * MIGRATE_TYPES + NR_LRU_LISTS) + i
        pcp_base = n + nr_heads(nz, 0)
        pcp_heads = []
        for z in range(nz):
            for cpu, pcp in enumerate(mem.pcp[z]):
                for i, head in enumerate(pcp.lists):
                    ids[id(head)] = pcp_base + (z * mem.cpus + cpu) * NR_PCP_LISTS + i
                    pcp_heads.append(head)

        def node_id(x) -> int:
            if x is None:
                return -1
            if isinstance(x, TailOf):
                return -2 - x.head
            if isinstance(x, Page):
                return x.pfn
            return ids[id(x)]

        total = n + nr_heads(nz, mem.cpus)  # mmkit.model.memory.nr_heads: the per-CPU heads last
        nxt = np.arange(total, dtype=np.int64)
        prv = nxt.copy()
        for page in mem.pages:
            nxt[page.pfn] = node_id(page.lru_next)
            prv[page.pfn] = node_id(page.lru_prev)
        for heads in self.lru_heads + [self.misc_heads, pcp_heads]:
            for head in heads:
                nxt[ids[id(head)]] = node_id(head.lru_next)
                prv[ids[id(head)]] = node_id(head.lru_prev)
        for z, zone in enumerate(mem.zones):
            for o in range(MAX_ORDER):
                for mt in range(MIGRATE_TYPES):
                    hid = n + (z * MAX_ORDER + o) * MIGRATE_TYPES + mt
                    chain = [hid] + zone.free_list[o][mt] + [hid]
                    for a, b in zip(chain, chain[1:]):
                        nxt[a] = b
                        prv[b] = a
        out = mem.state()
        out["lru_next"] = nxt
        out["lru_prev"] = prv
        out["pb_flags"] = np.array([mt | (8 if skip else 0) for mt, skip in zip(mem.pageblock_mt, mem.pageblock_skip)])
        zs = self.zs
        out["sim"] = {
            "rng": self.rng.state, "events_dropped": self.events_dropped, "balloon_pages": self.balloon_count,
            "balloon_isolated": self.balloon_isolated, "zs_live": len(zs.live), "zs_objects": zs.objects,
            "oopsed": int(self.oopsed), "owner_next": self.owner_next,
            "blockskip_flush": sum(1 << z for z, f in enumerate(self.blockskip_flush) if f),
        }
        out["zspages"] = [(z, list(zs.pages[z]), zs.objs[z], zs.max_objs[z], zs.cls[z]) for z in zs.live]
        out["zs_free_ids"] = list(zs.free_ids)
        out["zs_current"] = list(zs.current)
        out["zone_compaction"] = [zc.row() for zc in self.zc]
        out["lru_size"] = [list(row) for row in self.lru_size]
        return out


def engine_sim_state(sim) -> dict:
    """The same view of an engine ``Sim``."""
    from mmkit.engine import state as st
    from mmkit.reference.buddy import engine_state

    mem, S = sim.mem, sim.S
    out = engine_state(mem)
    out["lru_next"] = mem.lru_next.astype(np.int64)
    out["lru_prev"] = mem.lru_prev.astype(np.int64)
    out["pb_flags"] = mem.pb_flags.astype(np.int64)
    cap = S.zs_free_ids.shape[0]
    live = int(S.st[st.ST_ZS_LIVE])
    out["sim"] = {
        "rng": int(np.int64(S.st[st.ST_RNG]).view(np.uint64)), "events_dropped": int(S.st[st.ST_NEV_DROPPED]),
        "balloon_pages": int(S.st[st.ST_BALLOON_PAGES]), "balloon_isolated": int(S.st[st.ST_BALLOON_ISOLATED]),
        "zs_live": live, "zs_objects": int(S.st[st.ST_ZS_OBJECTS]), "oopsed": int(S.st[st.ST_OOPSED]),
        "owner_next": int(S.st[st.ST_OWNER_NEXT]), "blockskip_flush": int(S.st[st.ST_BLOCKSKIP_FLUSH]),
    }
    ids = [int(z) for z in S.zs_free_ids[cap - live:]]
    out["zspages"] = [(z, [int(p) for p in S.zs_pages[z, : int(S.zs_npages[z])]], int(S.zs_objs[z]),
                       int(S.zs_max[z]), int(S.zs_class[z])) for z in ids]
    # the engine writes a stack slot when it first pops it; the ones below never popped
    # still hold their starting value (the stack starts as cap-1 .. 0)
    used = int(S.st[st.ST_ZS_IDS_USED])
    free = S.zs_free_ids[: cap - live].copy()
    free[: cap - used] = np.arange(cap - 1, used - 1, -1)
    out["zs_free_ids"] = [int(z) for z in free]
    out["zs_current"] = [int(c) for c in S.zs_current]
    out["zone_compaction"] = [[int(x) for x in row[: st.ZC_INACTIVE_RATIO]] + [int(row[st.ZC_INIT_FREE])]
                              for row in S.zc[: mem.nr_zones]]
    out["lru_size"] = mem.lru_size.tolist()
    return out


def compare_states(a: dict, b: dict) -> list[str]:
    """Differences between two state views, each named with where it first differs."""
    diffs = []
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x).ravel(), np.asarray(y).ravel()
            if x.shape != y.shape:
                diffs.append(f"{key}: shapes {x.shape} and {y.shape}")
                continue
            bad = np.flatnonzero(x != y)
            if bad.size:
                i = int(bad[0])
                diffs.append(f"{key}: {bad.size} differ, first at {i}: {x[i]} and {y[i]}")
        elif x != y:
            if isinstance(x, dict):
                ks = [k for k in x if x[k] != y.get(k)]
                diffs.append(f"{key}: differ at {ks[:5]}: {[(x[k], y.get(k)) for k in ks[:3]]}")
            elif isinstance(x, list):
                i = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
                diffs.append(f"{key}: first differs at {i}: {x[i:i + 1]} and {y[i:i + 1]} (lengths {len(x)}, {len(y)})")
            else:
                diffs.append(f"{key}: {x!r} and {y!r}")
    return diffs
