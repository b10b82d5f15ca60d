"""A ``Memory`` rebuilt from a real kernel snapshot (:func:`build_memory`), and the report
that says how faithful it is (:func:`from_snapshot_report`).

Every page frame is classified from its ``/proc/kpageflags`` word and ``/proc/kpagecount``
(torvalds/linux ``fs/proc/page.c``: ``stable_page_flags`` reports the *folio's* flags on
tail pages, sets ``KPF_BUDDY`` on every page of a free block through
``is_free_buddy_page``; ``kpagecount_read`` reports ``folio_precise_page_mapcount``, a
map count, not the reference count):

* pfn outside every zone's span: HOLE;
* flags 0 and count 0 in a MAX_ORDER-aligned run inside a zone's span, up to the zone's
  ``spanned - present`` absent pages: HOLE (a memory hole);
* flags 0 and count 0 in the zone's tail run, when ``present - managed`` exceeds the
  reserved pages: UNINIT (deferred struct page init fills sections in order from
  ``first_deferred_pfn``);
* buddy: FREE (runs split into naturally aligned blocks);
* slab: SLAB, or SLAB_RECLAIMABLE in a RECLAIMABLE pageblock;
* pgtable: PAGETABLE;
* offline with PG_movable_ops (= uptodate): BALLOON (``balloon_page_insert``); offline
  without it: KERNEL (virtio-mem and other PageOffline users);
* reserved: RESERVED;
* lru and anonymous: ANON; lru: FILE (page cache, shmem);
* anonymous, not lru: ANON off the LRU (held by a per-CPU lru_add batch);
* anything else, flags 0 and count 0 included: KERNEL (vmalloc, stacks), except the
  pages picked for the per-CPU free lists (below).

Pages on the per-CPU free lists (zoneinfo's ``pagesets``: ``count`` per zone and CPU)
are free but not in the buddy, and look like any unmapped kernel page (flags 0, count 0:
``free_pages_prepare`` clears their flags). ``kpageflags`` cannot tell them apart, so
``pcp_estimate`` picks, per zone, as many flagless pages as zoneinfo counts: first those
in MOVABLE pageblocks (the lists are refilled from, and fed by frees of, the movable
pages that fill those blocks; flagless kernel allocations are unmovable and grouped in
UNMOVABLE blocks), then the rest, each group by the free pages in the page's aligned
32-page block (most first; chosen on eleven states of this machine's kernel), then by
pfn. They become order-0 PCP pages on the lists of their pageblock's migratetype, CPU
by CPU as zoneinfo counts them; ``pcp->high`` is the snapshot's live value. A zoneinfo without ``pagesets`` (a partial capture) gives empty
lists, and the fidelity report says so.

Compound pages (head plus a naturally aligned power-of-two run of tails) get PG_head,
``compound_head`` in the tails and the order in ``page[1]``. Allocated heads get refcount
1, ``_mapcount`` from kpagecount (``count - 1``; -1 when unmapped), the raw-copy flags of
``stable_page_flags`` carried back as PG_* bits (PG_owner_2 as PG_mappedtodisk,
PG_swapcache as the variant has it; on free block heads PG_uptodate is PG_reported, set by
free page reporting), LRU pages go on their zone's LRU list
(``add_page_to_lru_list``). Free runs become the blocks ``__free_one_page`` would hold
(every buddy pair merged, up to order 10), placed on the free list of their pageblock's
migratetype (v6.10+ keeps free lists and pageblock types in step), ``set_page_order``
in the variant's encoding. Pageblock migratetypes are inferred to match pagetypeinfo's
per-zone block counts and, as closely as possible, its free counts per migratetype.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from mmkit.engine import rebuild
from mmkit.engine.state import new_sim
from mmkit.errors import Interrupted, ParameterError, SnapshotError
from mmkit.model import flags as pg
from mmkit.model import kpf
from mmkit.model.encodings import (
    MAPPING_ID_FIRST_DYNAMIC,
    PAGE_MAPPING_ANON,
    PAGE_MAPPING_KSM,
    PGTY_offline,
    PGTY_slab,
    PGTY_table,
    pgty_store,
)
from mmkit.model.kinds import (
    MAX_ORDER,
    MIGRATE_TYPES,
    MIGRATETYPE_NAMES,
    NR_KINDS,
    PAGE_SIZE,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
    MigrateType,
    PageKind,
)
from mmkit.model.memory import Memory
from mmkit.semantics.rules import PageTypes, SwapcacheBit

__all__ = [
    "ANON_OWNER",
    "FILE_OWNER",
    "KPF_MODELLED_MASK",
    "FromSnapshotReport",
    "build_memory",
    "from_snapshot_report",
]

ANON_OWNER = MAPPING_ID_FIRST_DYNAMIC  # the anon_vma every rebuilt anonymous page points at
FILE_OWNER = MAPPING_ID_FIRST_DYNAMIC + 1  # the address_space every rebuilt page-cache page points at

_K = {k.name: int(k) for k in PageKind}
_U64 = np.uint64

# (kpf bit, PG bit): the raw copies of stable_page_flags (kpf_copy_bit), carried back.
# KPF_SWAPCACHE is handled per variant; KPF_LRU by the LRU lists; head/slab by kind.
_CARRY = tuple(p for p in kpf.KPF_COPIED_PG if p[0] != kpf.KPF_LRU) + ((kpf.KPF_UNCACHED, pg.PG_uncached),)

_CARRY_TABLE = np.array(_CARRY, dtype=np.int64)

# The /proc/kpageflags bits mmkit's emulation (mmkit.engine.kpageflags) can produce.
# Not modelled: KPF_HUGE (hugetlbfs), KPF_ZERO_PAGE, KPF_UNCACHED, KPF_SOFTDIRTY,
# KPF_ARCH_2, KPF_ARCH_3.
_MODELLED_BITS = (
    kpf.KPF_LOCKED, kpf.KPF_ERROR, kpf.KPF_REFERENCED, kpf.KPF_UPTODATE, kpf.KPF_DIRTY, kpf.KPF_LRU,
    kpf.KPF_ACTIVE, kpf.KPF_SLAB, kpf.KPF_WRITEBACK, kpf.KPF_RECLAIM, kpf.KPF_BUDDY, kpf.KPF_MMAP,
    kpf.KPF_ANON, kpf.KPF_SWAPCACHE, kpf.KPF_SWAPBACKED, kpf.KPF_COMPOUND_HEAD, kpf.KPF_COMPOUND_TAIL,
    kpf.KPF_UNEVICTABLE, kpf.KPF_HWPOISON, kpf.KPF_NOPAGE, kpf.KPF_KSM, kpf.KPF_THP, kpf.KPF_OFFLINE,
    kpf.KPF_IDLE, kpf.KPF_PGTABLE, kpf.KPF_RESERVED, kpf.KPF_MLOCKED, kpf.KPF_MAPPEDTODISK,
    kpf.KPF_PRIVATE, kpf.KPF_PRIVATE_2, kpf.KPF_OWNER_PRIVATE, kpf.KPF_ARCH,
)
KPF_MODELLED_MASK = sum(1 << b for b in _MODELLED_BITS)
# the bits stable_page_flags copies from folio->flags (what tail pages show of their head)
_FOLIO_COPY_MASK = sum(1 << b for b, _ in _CARRY if b != kpf.KPF_UNCACHED) | (1 << kpf.KPF_LRU) | (
    1 << kpf.KPF_SWAPCACHE)

# pagetypeinfo's migratetype names -> MigrateType (migratetype_names[], v4.4+)
_MT_BY_NAME = {name: i for i, name in enumerate(MIGRATETYPE_NAMES)}

# the weight of one free block of disagreement with pagetypeinfo against one page placed
# in a pageblock of a type that does not suit it (free counts first)
_FREE_WEIGHT = PAGEBLOCK_NR_PAGES


# --------------------------------------------------------------------------- zones
@dataclass(frozen=True)
class _Zone:
    name: str
    node: int
    start: int
    spanned: int
    present: int
    managed: int
    wmark: tuple[int, int, int]
    nr_free_pages: int | None
    pcp_pages: int
    managed_from: str = "zoneinfo"
    pcp: dict = field(default_factory=dict)  # cpu -> {"count": .., "high": .., ...} from pagesets

    @property
    def end(self) -> int:
        return self.start + self.spanned


def _zones(snap, node: int) -> list[_Zone]:
    """The node's zones with a span, from zoneinfo (``zoneinfo_show_print``)."""
    all_zi = snap.zoneinfo
    zi = all_zi.filter((pl.col("scope") == "zone") & (pl.col("node") == node))
    pcp_fields: dict = {}
    for zname, cpu, key, value in all_zi.filter(
            (pl.col("scope") == "cpu") & (pl.col("node") == node)
            & pl.col("key").is_in(["count", "high", "batch", "high_min", "high_max"])
    ).select("zone", "cpu", "key", "value").iter_rows():
        if cpu is not None:
            pcp_fields.setdefault(zname, {}).setdefault(int(cpu), {})[key] = int(value)
    if zi.height == 0:
        nodes = sorted(set(snap.zoneinfo["node"].to_list()))
        raise ParameterError(f"node: {node} is not in {snap.path}/zoneinfo; its nodes are {nodes}")
    out = []
    for (zname,), g in zi.group_by(["zone"], maintain_order=True):
        kv = dict(zip(g["key"].to_list(), g["value"].to_list()))
        missing = [k for k in ("spanned", "present", "min", "low", "high") if k not in kv]
        if missing:
            raise SnapshotError(f"{snap.path}/zoneinfo: zone {zname} of node {node} has no {', '.join(missing)} line")
        managed_from = "zoneinfo"
        if "managed" not in kv:  # zoneinfo_show_print prints managed_pages since v3.8 (9feedc9d831e)
            kv["managed"] = kv["present"]
            managed_from = "present (zoneinfo has no managed line: a kernel before v3.8)"
        if kv["spanned"] == 0:
            continue
        if "start_pfn" not in kv:
            raise SnapshotError(f"{snap.path}/zoneinfo: zone {zname} of node {node} spans pages but has no start_pfn")
        out.append(_Zone(str(zname), node, kv["start_pfn"], kv["spanned"], kv["present"], kv["managed"],
                         (kv["min"], kv["low"], kv["high"]), kv.get("nr_free_pages"),
                         sum(c.get("count", 0) for c in pcp_fields.get(zname, {}).values()), managed_from,
                         pcp_fields.get(zname, {})))
    if not out:
        raise SnapshotError(f"{snap.path}/zoneinfo: node {node} has no zone that spans any page")
    out.sort(key=lambda z: z.start)
    for a, b in itertools.pairwise(out):
        if b.start < a.end:
            raise SnapshotError(f"{snap.path}/zoneinfo: zones {a.name} and {b.name} of node {node} overlap")
    return out


def _check_geometry(snap) -> None:
    """mmkit models x86-64: 4 KiB pages, pageblock order 9, orders 0..10."""
    if snap.page_size != PAGE_SIZE:
        raise SnapshotError(f"{snap.path}: page size {snap.page_size}; mmkit models {PAGE_SIZE}-byte pages (x86-64)")
    try:
        pb_order = snap.pageblock_order
    except SnapshotError:  # neither meta.json nor pagetypeinfo: x86-64's, as the page size
        pb_order = PAGEBLOCK_ORDER
    if pb_order != PAGEBLOCK_ORDER:
        raise SnapshotError(f"{snap.path}: pageblock order {pb_order}; mmkit models {PAGEBLOCK_ORDER}")
    if snap.nr_free.shape[1] != MAX_ORDER:
        raise SnapshotError(f"{snap.path}/buddyinfo: {snap.nr_free.shape[1]} orders; mmkit models {MAX_ORDER} (0..10)")


# --------------------------------------------------------------------------- helpers
def _bit(f: np.ndarray, b: int) -> np.ndarray:
    return ((f >> _U64(b)) & _U64(1)).astype(bool)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (exclusive) of the runs of True in ``mask``."""
    d = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


# ------------------------------------------------------------------ pageblock types
def _mismatch(fhat: np.ndarray, target: np.ndarray, capped: np.ndarray) -> np.ndarray:
    """L1 distance per row; where the kernel printed ``>N`` only a shortfall counts."""
    d = fhat - target
    return np.where(capped, np.maximum(-d, 0), np.abs(d)).sum(axis=-1)


_ASSIGNED: dict[str, tuple[np.ndarray, dict]] = {}  # _assign_types' answers by their inputs' bytes
_ASSIGNED_KEEP = 16


def _assign_types(counts: np.ndarray, hist: np.ndarray, sizes: np.ndarray, targets: np.ndarray,
                  free_target: np.ndarray | None, free_capped: np.ndarray | None,
                  pool: int = 1024, max_iter: int = 400) -> tuple[np.ndarray, dict]:
    """:func:`_search_types`, remembered by its inputs (the search is deterministic and
    takes most of a large snapshot's build: a replay builds its start snapshot once per
    variant, a notebook rebuilds it on every run)."""
    h = hashlib.sha256(repr((pool, max_iter, free_target is None)).encode())
    for a in (counts, hist, sizes, targets, free_target, free_capped):
        if a is not None:
            h.update(repr((a.dtype.str, a.shape)).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    key = h.hexdigest()
    if key not in _ASSIGNED:
        if len(_ASSIGNED) >= _ASSIGNED_KEEP:
            del _ASSIGNED[next(iter(_ASSIGNED))]
        _ASSIGNED[key] = _search_types(counts, hist, sizes, targets, free_target, free_capped, pool, max_iter)
    assign, stats = _ASSIGNED[key]
    return assign.copy(), dict(stats)


def _search_types(counts: np.ndarray, hist: np.ndarray, sizes: np.ndarray, targets: np.ndarray,
                  free_target: np.ndarray | None, free_capped: np.ndarray | None,
                  pool: int = 1024, max_iter: int = 400) -> tuple[np.ndarray, dict]:
    """Migratetype per unit (a pageblock, or the pageblocks one free block spans).

    ``counts[u]``: pages of each kind; ``hist[u]``: free blocks per order whose head is in
    the unit; ``targets[t]``: pageblocks of type t (pagetypeinfo); ``free_target[t, o]``:
    pagetypeinfo's free counts. Start from the pages (unmovable and slab pages make a
    block non-movable; slab-only blocks reclaimable), then swap units of equal size
    between types while that lowers ``_FREE_WEIGHT * free-count error + misplaced pages``.
    """
    nu = counts.shape[0]
    k = counts
    unmov = (k[:, _K["KERNEL"]] + k[:, _K["PAGETABLE"]] + k[:, _K["RESERVED"]] + k[:, _K["SLAB"]]).astype(np.int64)
    slab = k[:, _K["SLAB"]].astype(np.int64)
    mov = (k[:, _K["ANON"]] + k[:, _K["FILE"]] + k[:, _K["BALLOON"]]).astype(np.int64)
    cost = np.zeros((nu, MIGRATE_TYPES), dtype=np.int64)
    cost[:, MigrateType.MOVABLE] = unmov
    cost[:, MigrateType.CMA] = unmov
    cost[:, MigrateType.UNMOVABLE] = mov
    cost[:, MigrateType.HIGHATOMIC] = mov
    cost[:, MigrateType.ISOLATE] = mov
    cost[:, MigrateType.RECLAIMABLE] = mov + (unmov - slab)

    assign = np.full(nu, int(MigrateType.MOVABLE), dtype=np.int64)
    order_non = np.lexsort((np.arange(nu), -unmov, -(unmov - mov)))  # most unmovable first
    want_non = int(targets.sum() - targets[MigrateType.MOVABLE])
    chosen, got = [], 0
    for u in order_non:
        if got >= want_non:
            break
        if got + sizes[u] <= want_non:
            chosen.append(u)
            got += int(sizes[u])
    chosen = np.array(chosen, dtype=np.int64)
    if chosen.size:
        # reclaimable: the most slab-dominated; then the rare types; the rest unmovable
        share = slab[chosen] - (unmov[chosen] - slab[chosen])
        rank = chosen[np.lexsort((chosen, -share))]
        fill = [MigrateType.RECLAIMABLE, MigrateType.HIGHATOMIC, MigrateType.CMA, MigrateType.ISOLATE,
                MigrateType.UNMOVABLE]
        i = 0
        for t in fill:
            need = int(targets[t]) if t != MigrateType.UNMOVABLE else 1 << 60
            have = 0
            while i < rank.size and have + sizes[rank[i]] <= need:
                assign[rank[i]] = int(t)
                have += int(sizes[rank[i]])
                i += 1

    stats = {"iterations": 0, "swaps": 0}
    if free_target is None or nu < 2:
        return assign, stats
    types = [t for t in range(MIGRATE_TYPES)]
    fhat = np.zeros((MIGRATE_TYPES, hist.shape[1]), dtype=np.int64)
    np.add.at(fhat, assign, hist)

    def free_err(fh):
        return int(_mismatch(fh, free_target, free_capped).sum())

    for it in range(max_iter):
        stats["iterations"] = it + 1
        best = (0, None)
        for t1 in types:
            u1s = np.flatnonzero(assign == t1)
            if u1s.size == 0 or t1 == MigrateType.MOVABLE:
                continue
            for t2 in types:
                if t2 == t1:
                    continue
                u2s = np.flatnonzero(assign == t2)
                if u2s.size == 0:
                    continue
                if u2s.size > pool:
                    # the candidates most like a t1 block, plus those with the most free
                    # high-order blocks (a nearly empty block fits any type)
                    like = cost[u2s, t1] - cost[u2s, t2]
                    hi = -(hist[u2s, 3:] << np.arange(3, hist.shape[1])).sum(axis=1)
                    pick = np.union1d(u2s[np.argsort(like, kind="stable")[: pool // 2]],
                                      u2s[np.argsort(hi, kind="stable")[: pool // 2]])
                    u2s = pick
                same = sizes[u1s][:, None] == sizes[u2s][None, :]
                d = hist[u2s][None, :, :] - hist[u1s][:, None, :]  # what t1 gains
                e1 = _mismatch(fhat[t1] + d, free_target[t1], free_capped[t1])
                e2 = _mismatch(fhat[t2] - d, free_target[t2], free_capped[t2])
                base1 = _mismatch(fhat[t1], free_target[t1], free_capped[t1])
                base2 = _mismatch(fhat[t2], free_target[t2], free_capped[t2])
                dfree = (e1 - base1) + (e2 - base2)
                dcost = (cost[u2s, t1][None, :] + cost[u1s, t2][:, None]) - (cost[u1s, t1][:, None]
                                                                              + cost[u2s, t2][None, :])
                delta = np.where(same, _FREE_WEIGHT * dfree + dcost, 0)
                i = np.unravel_index(np.argmin(delta), delta.shape)
                if delta[i] < best[0]:
                    best = (int(delta[i]), (int(u1s[i[0]]), int(u2s[i[1]]), t1, t2))
        if best[1] is None:
            break
        u1, u2, t1, t2 = best[1]
        fhat[t1] += hist[u2] - hist[u1]
        fhat[t2] += hist[u1] - hist[u2]
        assign[u1], assign[u2] = t2, t1
        stats["swaps"] += 1
    stats["free_error"] = free_err(fhat)
    return assign, stats


# --------------------------------------------------------------------------- build
# what build_memory does, in order (an interrupt's message names the one it was in)
BUILD_STEPS = ("reading kpageflags and kpagecount", "classifying page frames", "finding compound pages",
               "finding free blocks", "inferring pageblock types", "writing page words",
               "filling the free and LRU lists")


def _as_snapshot(snapshot):
    from mmkit.snapshot.snapshot import Snapshot, load

    if isinstance(snapshot, Snapshot):
        return snapshot
    if isinstance(snapshot, (str, Path)):
        return load(snapshot)
    raise ParameterError(
        f"snapshot: expected a mmkit.snapshot.Snapshot or a folder path, got {type(snapshot).__name__}")


def build_memory(snapshot, variant: Any = "v6.18", *, node: int = 0) -> Memory:
    """Rebuild node ``node``'s physical memory from ``snapshot`` (a :class:`Snapshot` or a
    folder), encoded as ``variant``'s kernel encodes its pages.

    Needs ``kpageflags``, ``kpagecount`` and ``zoneinfo`` (a :class:`SnapshotError` names a
    missing one); ``pagetypeinfo`` is used when present to match the pageblock counts. The
    module docstring gives the classification. The result passes ``Memory.check()`` and
    can be compacted (:func:`mmkit.compact.compact_memory`). ``memory.meta`` holds what
    the build found (``meta["from_snapshot"]``), the balloon's page count
    (``meta["balloon_pages"]``) and the pages a per-CPU ``lru_add`` batch held
    (``meta["lru_add_pending"]``); :func:`from_snapshot_report` compares the result with
    the snapshot.

    An interrupt (Ctrl-C) stops it within a second, between its steps, with
    ``mmkit.errors.Interrupted`` naming the step; nothing is returned.
    """
    steps: list[str] = []
    t0 = time.perf_counter()
    try:
        return _build_memory(snapshot, variant, node, steps.append)
    except KeyboardInterrupt:
        raise Interrupted(f"Memory.from_snapshot stopped after {time.perf_counter() - t0:.1f} s, while "
                          f"{steps[-1] if steps else BUILD_STEPS[0]} (step {max(len(steps), 1)} of "
                          f"{len(BUILD_STEPS)}); nothing was built") from None


def _build_memory(snapshot, variant: Any, node: int, step: Callable[[str], None]) -> Memory:
    """``build_memory``, calling ``step(name)`` as it starts each of ``BUILD_STEPS`` (a
    caller may raise there to stop it)."""
    from mmkit.semantics import variant as get_variant

    t0 = time.perf_counter()
    step(BUILD_STEPS[0])
    snap = _as_snapshot(snapshot)
    v = get_variant(variant)
    if not isinstance(node, (int, np.integer)) or node < 0:
        raise ParameterError(f"node: {node!r}; give a NUMA node number >= 0")
    flags_all = snap.kpageflags  # SnapshotError naming the file if absent
    count_all = snap.kpagecount
    zones = _zones(snap, int(node))
    _check_geometry(snap)
    n = max(z.end for z in zones)
    if flags_all.shape[0] < n:
        raise SnapshotError(
            f"{snap.path}: kpageflags has {flags_all.shape[0]} page frames but zoneinfo's zones end at pfn {n}: "
            f"the files are not from the same machine, or kpageflags is truncated"
        )
    f = np.ascontiguousarray(flags_all[:n])
    c = np.ascontiguousarray(count_all[:n])
    vc = v.compile()
    typed = v.page_types == PageTypes.ONE_BYTE

    cpu_ids = sorted({c for z in zones for c in z.pcp})
    mem = Memory.empty([(z.name, z.start, z.spanned) for z in zones], len(cpu_ids))
    mem.variant = v
    for i, z in enumerate(zones):
        mem.zone_present[i] = z.present
        mem.zone_managed[i] = z.managed
        mem.wmark[i] = z.wmark

    # ---------------------------------------------------------------- kinds
    step(BUILD_STEPS[1])
    zone_id = np.full(n, -1, dtype=np.int8)
    for i, z in enumerate(zones):
        zone_id[z.start:z.end] = i
    zero = (f == 0) & (c == 0)
    reserved = _bit(f, kpf.KPF_RESERVED)
    kind = np.full(n, _K["KERNEL"], dtype=np.uint8)
    kind[zone_id < 0] = _K["HOLE"]
    zone_rows = []
    for i, z in enumerate(zones):
        s, e = z.start, z.end
        reserved_z = int(reserved[s:e].sum())
        exp_uninit = max(z.present - z.managed - reserved_z, 0)
        exp_absent = z.spanned - z.present
        starts, ends = _runs(zero[s:e])
        starts += s
        ends += s
        uninit = 0
        if exp_uninit > 0 and ends.size and ends[-1] == e:
            u0 = -(-int(starts[-1]) // PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES
            if u0 < e:
                kind[u0:e] = _K["UNINIT"]
                uninit = e - u0
                starts, ends = starts[:-1], ends[:-1]
        holes, budget = 0, exp_absent
        blk = 1 << (MAX_ORDER - 1)
        for j in np.argsort(-(ends - starts), kind="stable"):
            a = -(-int(starts[j]) // blk) * blk
            b = int(ends[j]) // blk * blk
            if b - a >= blk and b - a <= budget:
                kind[a:b] = _K["HOLE"]
                holes += b - a
                budget -= b - a
        zone_rows.append({"zone": z.name, "start_pfn": z.start, "end_pfn": z.end, "spanned": z.spanned,
                          "present": z.present, "managed": z.managed, "managed_from": z.managed_from,
                          "reserved": reserved_z,
                          "absent_expected": exp_absent, "holes_found": holes,
                          "uninit_expected": exp_uninit, "uninit_found": uninit})
    framed = (kind != _K["HOLE"]) & (kind != _K["UNINIT"])

    buddy = _bit(f, kpf.KPF_BUDDY) & framed
    for i, z in enumerate(zones):
        marked = int(buddy[z.start:z.end].sum())
        zone_rows[i].update({"free_pages_kpageflags": marked, "nr_free_pages": z.nr_free_pages,
                             "pcp_pages": z.pcp_pages})
        if z.nr_free_pages is not None and z.nr_free_pages >= 4096 and marked * 4 < z.nr_free_pages:
            raise SnapshotError(
                f"{snap.path}: zone {z.name} has {z.nr_free_pages} free pages (zoneinfo) but only {marked} "
                f"page frames with KPF_BUDDY: this kernel marks only the first page of a free block, so the "
                f"blocks' orders cannot be read from kpageflags; build_memory needs a kernel that marks every "
                f"page of a free block (is_free_buddy_page in stable_page_flags)"
            )
    slab = _bit(f, kpf.KPF_SLAB)
    table = _bit(f, kpf.KPF_PGTABLE)
    offline = _bit(f, kpf.KPF_OFFLINE)
    lru = _bit(f, kpf.KPF_LRU)
    anon = _bit(f, kpf.KPF_ANON)
    uptodate = _bit(f, kpf.KPF_UPTODATE)
    k = kind
    sel = framed.copy()
    for mask, name in ((buddy, "FREE"), (slab, "SLAB"), (table, "PAGETABLE"), (offline, "BALLOON"),
                       (reserved, "RESERVED"), (lru & anon, "ANON"), (lru, "FILE"), (anon, "ANON")):
        hit = sel & mask
        k[hit] = _K[name]
        sel &= ~mask
    offline_unmovable = (k == _K["BALLOON"]) & ~uptodate
    k[offline_unmovable] = _K["KERNEL"]

    # ---------------------------------------------------------------- compound pages
    step(BUILD_STEPS[2])
    eligible = framed & ~buddy
    cheads, corders, head_of, bad_groups = rebuild.compound_groups(
        _bit(f, kpf.KPF_COMPOUND_HEAD), _bit(f, kpf.KPF_COMPOUND_TAIL), eligible)
    tails = (head_of >= 0) & (head_of != np.arange(n))
    tail_pfns = np.flatnonzero(tails)
    tail_head = head_of[tail_pfns]
    k[tail_pfns] = k[tail_head]
    balloon_compound = (k[cheads] == _K["BALLOON"])
    if balloon_compound.any():  # balloon pages are order 0 (balloon_page_alloc)
        k[cheads[balloon_compound]] = _K["KERNEL"]
        k[tail_pfns[k[tail_head] == _K["KERNEL"]]] = _K["KERNEL"]

    # ---------------------------------------------------------------- free blocks
    step(BUILD_STEPS[3])
    zs = np.array([z.start for z in zones], dtype=np.int64)
    ze = np.array([z.end for z in zones], dtype=np.int64)
    fheads, forders, fzones = rebuild.buddy_blocks(k == _K["FREE"], zs, ze)

    # ---------------------------------------------------------------- pageblock types
    step(BUILD_STEPS[4])
    pb_counts, pb_rows = _infer_pageblocks(snap, zones, k, fheads, forders, mem)
    slab_recl = (k == _K["SLAB"]) & (mem.pb_flags[np.arange(n) >> PAGEBLOCK_ORDER] & 0x7 == MigrateType.RECLAIMABLE)
    k[slab_recl] = _K["SLAB_RECLAIMABLE"]
    pcp_pfns, pcp_rows = pcp_estimate(k, zero, zones, mem.pb_flags)
    for i, rows in enumerate(pcp_rows):
        zone_rows[i]["pcp"] = rows
    for pf in pcp_pfns:
        k[pf] = _K["PCP"]

    # ---------------------------------------------------------------- page words
    step(BUILD_STEPS[5])
    allocated = (k != _K["HOLE"]) & (k != _K["UNINIT"]) & (k != _K["FREE"]) & (k != _K["PCP"])
    carried = rebuild.carry_flags(f, _CARRY_TABLE)
    if v.swapcache_bit == SwapcacheBit.OWN:  # PG_swapcache has its own bit before v4.10
        sc = _bit(f, kpf.KPF_SWAPCACHE)
        carried[sc] = (carried[sc] & ~np.uint32(1 << pg.PG_owner_priv_1)) | np.uint32(1 << pg.PG_swapcache_own)
    framed_alloc_or_free = allocated | (k == _K["FREE"])
    flags = np.where(framed_alloc_or_free & ~tails, carried, np.uint32(0)).astype(np.uint32)
    flags[cheads] |= np.uint32(1 << pg.PG_head)
    is_slab = (k == _K["SLAB"]) | (k == _K["SLAB_RECLAIMABLE"])
    if not typed:
        flags[is_slab & ~tails] |= np.uint32(1 << pg.PG_slab)
    mmap = _bit(f, kpf.KPF_MMAP) & allocated
    mapcount = np.full(n, -1, dtype=np.int16)
    mapcount[mmap] = np.minimum(np.maximum(c[mmap].astype(np.int64) - 1, 0), np.iinfo(np.int16).max)
    clipped = int((mmap & (c > np.iinfo(np.int16).max)).sum())
    if typed:
        mapcount[is_slab & ~tails] = pgty_store(PGTY_slab)
        mapcount[table & allocated & (k == _K["PAGETABLE"])] = pgty_store(PGTY_table)
        mapcount[offline_unmovable] = pgty_store(PGTY_offline)
    ksm = _bit(f, kpf.KPF_KSM)
    mapping = np.zeros(n, dtype=np.int32)
    heads_or_single = allocated & ~tails
    mapping[heads_or_single & anon] = (ANON_OWNER << 2) | PAGE_MAPPING_ANON
    mapping[heads_or_single & anon & ksm] = (ANON_OWNER << 2) | PAGE_MAPPING_KSM
    mapping[heads_or_single & (k == _K["FILE"])] = FILE_OWNER << 2
    slab_anon = heads_or_single & is_slab & anon
    mapping[slab_anon] = np.where(ksm[slab_anon], PAGE_MAPPING_KSM, PAGE_MAPPING_ANON)
    refcount = np.zeros(n, dtype=np.int8)
    refcount[heads_or_single] = 1

    mem.kind[:] = k
    mem.flags[:] = flags
    mem.mapcount[:] = mapcount
    mem.mapping[:] = mapping
    mem.refcount[:] = refcount
    mem.private[:] = 0
    mem.lru_next[tail_pfns] = (-2 - tail_head).astype(np.int32)
    mem.private[cheads + 1] = corders.astype(np.int32)

    lru_pfns = np.flatnonzero(lru & heads_or_single & ((k == _K["ANON"]) | (k == _K["FILE"])))
    balloon_pfns = np.flatnonzero((k == _K["BALLOON"]) & ~tails)
    if not typed:  # PG_uptodate is PG_movable_ops on typed pages only
        mem.flags[balloon_pfns] &= ~np.uint32(1 << pg.PG_uptodate)
    step(BUILD_STEPS[6])
    S = new_sim(0, 1, 1)
    rebuild.fill_lists(mem.arrays(), vc, S, fheads, forders, fzones, lru_pfns, balloon_pfns)
    _fill_pcp_lists(mem, zones, cpu_ids, pcp_pfns)
    from mmkit.engine.pcp import PCP_BATCH, PCP_HIGH_MAX, PCP_HIGH_MIN, setup_pcp

    setup_pcp(mem, v)
    for zi, z in enumerate(zones):  # the era's sizes against the kernel's own
        sizes = []
        for ci, cpu in enumerate(cpu_ids):
            kern = z.pcp.get(cpu, {})
            for key, col in (("batch", PCP_BATCH), ("high_min", PCP_HIGH_MIN), ("high_max", PCP_HIGH_MAX)):
                if key in kern:
                    sizes.append((key, int(kern[key]), int(mem.pcp[zi, ci, col])))
        # compared only where the kernel prints the same era's sizes (high_min: v6.7+)
        same_era = bool(v.pcp_autotune) and any(key == "high_min" for key, _, _ in sizes)
        zone_rows[zi]["pcp"]["sizes_differ"] = sorted({(key, a, b) for key, a, b in sizes if a != b}) if same_era else []
        zone_rows[zi]["pcp"]["sizes_compared"] = len(sizes) if same_era else 0
        if cpu_ids:
            zone_rows[zi]["pcp"]["sizes"] = {"batch": int(mem.pcp[zi, 0, PCP_BATCH]),
                                             "high_min": int(mem.pcp[zi, 0, PCP_HIGH_MIN]),
                                             "high_max": int(mem.pcp[zi, 0, PCP_HIGH_MAX])}
    pending = np.flatnonzero((k == _K["ANON"]) & heads_or_single & ~lru)

    # ---------------------------------------------------------------- meta
    kinds = np.bincount(k, minlength=NR_KINDS)
    orders_by_kind = {}
    for kk, o in zip(k[cheads].tolist(), corders.tolist()):
        key = f"{PageKind(kk).name.lower()}:{o}"
        orders_by_kind[key] = orders_by_kind.get(key, 0) + 1
    mem.meta.update({
        "source": "snapshot",
        "snapshot_path": str(snap.path),
        "kernel_release": snap.kernel_release,
        "node": int(node),
        "cpu_ids": tuple(int(c) for c in cpu_ids),  # the kernel's CPU number of each per-CPU list column
        "balloon_pages": int(balloon_pfns.size),
        "lru_add_pending": tuple(int(p) for p in pending),
        "from_snapshot": {
            "variant": v.name,
            "build_seconds": round(time.perf_counter() - t0, 3),
            "kinds": {PageKind(i).name: int(kinds[i]) for i in range(NR_KINDS) if kinds[i]},
            "zones": zone_rows,
            "pageblocks": pb_rows,
            "pageblock_search": pb_counts,
            "compound": dict(sorted(orders_by_kind.items())),
            "compound_rejected": int(bad_groups),
            "mapcount_clipped": clipped,
            "lru_pages": int(lru_pfns.size),
        },
    })
    return mem


_PCP_NEAR_ORDER = 5  # pcp_estimate ranks a candidate by the free pages in its aligned 2^5-page block


def pcp_estimate(k: np.ndarray, zero: np.ndarray, zones: list[_Zone],
                 pb_flags: np.ndarray) -> tuple[list[np.ndarray], list[dict]]:
    """Which flagless pages are on per-CPU lists: per zone, as many as zoneinfo's
    ``pagesets`` count, from the flagless, unmapped kernel pages (flags 0, count 0) that
    ``kpageflags`` cannot tell apart. First those in MOVABLE pageblocks, then the rest;
    within each, pages with the most free (buddy) pages in their aligned 32-page block
    first, then by pfn. Returns the picked pfns per zone and a row per zone: how many
    zoneinfo counts, how many candidates there were, how many were picked by which rule,
    and the shortfall when zoneinfo counts more than there are candidates.

    The ranking was chosen on the eleven kernel runs of ``data/compaction-runs``
    (docs/validation.md) by the free pages by order and the unusable index it gives after
    ``compact_memory``, against the share of free and user pages in the pageblock (as
    before), no ranking, and blocks of 8 and 512 pages. It does not find the listed pages
    more often (``pcp_estimate_check``'s recall fell in two runs); what it changes is how
    many blocks its picks keep from merging."""
    n = k.shape[0]
    free_near = np.bincount(np.arange(n, dtype=np.int64) >> _PCP_NEAR_ORDER, weights=k == _K["FREE"],
                            minlength=(n >> _PCP_NEAR_ORDER) + 1)
    picked, rows = [], []
    for z in zones:
        want = z.pcp_pages
        cand = np.flatnonzero(zero[z.start:z.end] & (k[z.start:z.end] == _K["KERNEL"])) + z.start
        movable = (pb_flags[cand >> PAGEBLOCK_ORDER] & 0x7) == int(MigrateType.MOVABLE)
        order = np.lexsort((cand, -free_near[cand >> _PCP_NEAR_ORDER], ~movable))
        take = np.sort(cand[order[:want]])
        from_movable = int(np.count_nonzero(movable[order[:want]]))
        picked.append(take)
        rows.append({"zoneinfo_count": want, "candidates": int(cand.size), "picked": int(take.size),
                     "in_movable_blocks": from_movable, "elsewhere": int(take.size) - from_movable,
                     "shortfall": max(want - int(cand.size), 0), "cpus": len(z.pcp)})
    return picked, rows


_DEAL = "pfn-desc"  # how _fill_pcp_lists deals the picks: "pfn-desc", "pfn" or "shuffle" (for comparisons)


def _fill_pcp_lists(mem: Memory, zones: list[_Zone], cpu_ids: list[int], pcp_pfns: list[np.ndarray]) -> None:
    """The picked pages onto their zone's per-CPU lists, order 0 on the list of their
    pageblock's migratetype (MOVABLE for CMA and HIGHATOMIC blocks), each CPU taking as
    many as zoneinfo counts for it; ``count`` and the live ``high`` from zoneinfo."""
    from mmkit.engine.lists import pcp_head
    from mmkit.engine.pcp import PCP_COUNT, PCP_HIGH

    A = mem.arrays()
    for zi, (z, pfns) in enumerate(zip(zones, pcp_pfns)):
        # which CPU held a page, and how long it had been there (a list's tail goes back
        # to the buddy first), kpageflags cannot say. A list holds runs of neighbours
        # (rmqueue_bulk refills it with the pieces of one free block; reclaim, munmap and
        # compaction free pages in address order), so each CPU gets a run of the picks,
        # in descending pfn order: frees in address order leave the highest pfn at the
        # head (list_add) and the lowest at the tail. Measured against two alternatives
        # on nine states of this machine's kernel (docs/validation.md)
        if _DEAL == "shuffle":  # a fixed scramble (Fibonacci hashing of the rank)
            pfns = pfns[np.argsort((np.arange(pfns.size, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
                                   >> np.uint64(32), kind="stable")]
        elif _DEAL == "pfn-desc":
            pfns = pfns[::-1]
        at = 0
        for ci, cpu in enumerate(cpu_ids):
            fields = z.pcp.get(cpu, {})
            mine = pfns[at:at + max(int(fields.get("count", 0)), 0)]
            at += mine.size
            mem.pcp[zi, ci, PCP_HIGH] = max(int(fields.get("high", 0)), 0)
            mt = mem.pb_flags[mine >> PAGEBLOCK_ORDER].astype(np.int64) & 0x7
            lmt = np.where(mt < 3, mt, int(MigrateType.MOVABLE))
            mem.private[mine] = (mt << 8).astype(np.int32)
            for pindex in range(3):
                nodes = mine[lmt == pindex]
                head = int(pcp_head(A, zi, ci, pindex))
                chain = np.concatenate(([head], nodes, [head])).astype(np.int32)
                mem.lru_next[chain[:-1]] = chain[1:]
                mem.lru_prev[chain[1:]] = chain[:-1]
            mem.pcp[zi, ci, PCP_COUNT] = mine.size


def _infer_pageblocks(snap, zones: list[_Zone], k: np.ndarray, fheads: np.ndarray, forders: np.ndarray,
                      mem: Memory) -> tuple[list[dict], list[dict]]:
    """Set ``mem.pb_flags`` per zone; returns the search statistics and per-zone rows."""
    n = k.shape[0]
    nb = mem.nr_pageblocks
    # pageblocks the kernel counts (pagetypeinfo_showblockcount_print: from zone_start_pfn in
    # steps of pageblock_nr_pages, online pages whose page_zone is the zone); the others
    # (holes, uninitialised memmap) keep the zeroed pageblock bitmap: MIGRATE_UNMOVABLE
    mem.pb_flags[:] = int(MigrateType.UNMOVABLE)
    blk_of = np.arange(n) >> PAGEBLOCK_ORDER
    kb = np.bincount(blk_of * NR_KINDS + k, minlength=nb * NR_KINDS).reshape(nb, NR_KINDS).astype(np.int64)
    hist = np.bincount((fheads >> PAGEBLOCK_ORDER) * MAX_ORDER + forders,
                       minlength=nb * MAX_ORDER).reshape(nb, MAX_ORDER).astype(np.int64)
    pti = snap.pagetypeinfo if snap.has("pagetypeinfo") else None
    stats, rows = [], []
    for zi, z in enumerate(zones):
        probes = np.arange(z.start, z.end, PAGEBLOCK_NR_PAGES)
        counted = probes[(k[probes] != _K["HOLE"]) & (k[probes] != _K["UNINIT"])]
        blocks = np.unique(counted >> PAGEBLOCK_ORDER)
        # units: a free block above pageblock order spans several pageblocks of one type
        unit = {int(b): int(b) for b in blocks}
        big = (forders > PAGEBLOCK_ORDER) & (fheads >= z.start) & (fheads < z.end)
        for h, o in zip(fheads[big].tolist(), forders[big].tolist()):
            first = h >> PAGEBLOCK_ORDER
            for b in range(first + 1, first + (1 << (o - PAGEBLOCK_ORDER))):
                if b in unit:
                    unit[b] = first
        roots = np.array(sorted(set(unit.values())), dtype=np.int64)
        root_of = np.array([unit[int(b)] for b in blocks], dtype=np.int64)
        idx = np.searchsorted(roots, root_of)
        sizes = np.bincount(idx, minlength=roots.size).astype(np.int64)
        ucounts = np.zeros((roots.size, NR_KINDS), dtype=np.int64)
        np.add.at(ucounts, idx, kb[blocks])
        uhist = np.zeros((roots.size, MAX_ORDER), dtype=np.int64)
        np.add.at(uhist, idx, hist[blocks])

        targets = np.zeros(MIGRATE_TYPES, dtype=np.int64)
        free_t = free_c = None
        source = "pages only (no pagetypeinfo)"
        raw_total = None  # the kernel's count of the zone's pageblocks, as pagetypeinfo prints it
        if pti is not None:
            bl = pti.blocks.filter((pl.col("node") == z.node) & (pl.col("zone") == z.name))
            raw_total = 0
            for t, cnt in zip(bl["type"].to_list(), bl["count"].to_list()):
                if t in _MT_BY_NAME:
                    raw_total += int(cnt)
                    # a count past the zone's own blocks (a damaged file) is cut to them below;
                    # cut here first, so that a 64-bit count cannot overflow the sum
                    targets[_MT_BY_NAME[t]] += min(int(cnt), int(blocks.size))
            fr = pti.free.filter((pl.col("node") == z.node) & (pl.col("zone") == z.name))
            if bl.height and fr.height:
                source = "pagetypeinfo"
                free_t = np.zeros((MIGRATE_TYPES, MAX_ORDER), dtype=np.int64)
                free_c = np.zeros((MIGRATE_TYPES, MAX_ORDER), dtype=bool)
                for t, o, nf, cap in fr.select("type", "order", "nr_free", "capped").iter_rows():
                    if t in _MT_BY_NAME and o < MAX_ORDER:
                        free_t[_MT_BY_NAME[t], o] = min(int(nf), 1 << 62)
                        free_c[_MT_BY_NAME[t], o] = cap
        if source != "pagetypeinfo":
            # without the kernel's counts: blocks with more unmovable than movable pages
            unmov = ucounts[:, _K["KERNEL"]] + ucounts[:, _K["PAGETABLE"]] + ucounts[:, _K["RESERVED"]] + \
                ucounts[:, _K["SLAB"]]
            mov = ucounts[:, _K["ANON"]] + ucounts[:, _K["FILE"]] + ucounts[:, _K["BALLOON"]]
            targets[:] = 0
            targets[MigrateType.UNMOVABLE] = int(sizes[unmov > mov].sum())
        kernel_total = int(targets.sum())
        targets[MigrateType.MOVABLE] += int(blocks.size) - kernel_total
        if targets[MigrateType.MOVABLE] < 0:
            over = -targets[MigrateType.MOVABLE]
            targets[MigrateType.MOVABLE] = 0
            for t in (MigrateType.UNMOVABLE, MigrateType.RECLAIMABLE, MigrateType.HIGHATOMIC,
                      MigrateType.CMA, MigrateType.ISOLATE):
                cut = min(over, int(targets[t]))
                targets[t] -= cut
                over -= cut
        assign, st = _assign_types(ucounts, uhist, sizes, targets, free_t, free_c)
        mem.pb_flags[blocks] = assign[idx].astype(np.uint8)
        got = np.bincount(assign[idx], minlength=MIGRATE_TYPES)
        fhat = np.zeros((MIGRATE_TYPES, MAX_ORDER), dtype=np.int64)
        np.add.at(fhat, assign, uhist)
        st.update({"zone": z.name, "source": source, "units": int(roots.size)})
        stats.append(st)
        row = {"zone": z.name, "source": source, "blocks_counted": int(blocks.size),
               "blocks_kernel": raw_total if source == "pagetypeinfo" else None}
        for t in range(MIGRATE_TYPES):
            row[f"{MIGRATETYPE_NAMES[t]}_target"] = int(targets[t])
            row[f"{MIGRATETYPE_NAMES[t]}_built"] = int(got[t])
        if free_t is not None:
            row["free_error_by_type"] = {MIGRATETYPE_NAMES[t]: int(_mismatch(fhat[t], free_t[t], free_c[t]))
                                         for t in range(MIGRATE_TYPES) if free_t[t].any() or fhat[t].any()}
        rows.append(row)
    return stats, rows


# --------------------------------------------------------------------------- report
@dataclass
class FromSnapshotReport:
    """How faithful a Memory built by :func:`build_memory` is to its snapshot.

    ``buddyinfo``: per zone, the rebuilt ``nr_free`` against the snapshot's buddyinfo
    (``exact``, ``diff`` = built - kernel per order). ``roundtrip_*``: the emulated
    /proc/kpageflags of the rebuilt memory (its variant's ``stable_page_flags``) against
    the real one on :data:`KPF_MODELLED_MASK`, over every pfn and over page frames (not
    holes); ``roundtrip_bits`` per bit; ``roundtrip_folio_flags_pct`` the agreement if the
    emulation read tail pages' flags from their head, as 6.18's ``stable_page_flags`` does
    (``k = folio->flags``). ``build`` is what the build recorded in ``memory.meta``.
    """

    snapshot: str
    variant: str
    buddyinfo: list[dict]
    roundtrip_pct: float
    roundtrip_frames_pct: float
    roundtrip_folio_flags_pct: float
    roundtrip_folio_flags_frames_pct: float
    roundtrip_bits: list[dict]
    roundtrip_top: list[dict]
    nr_pfns: int
    nr_frames: int
    build: dict = field(default_factory=dict)

    @property
    def buddyinfo_exact(self) -> bool:
        return all(r["exact"] for r in self.buddyinfo)

    @property
    def approximations(self) -> list[str]:
        """What the build had to assume because the snapshot does not say it."""
        return [f"zone {z['zone']}: managed pages taken from {z['managed_from']}"
                for z in self.build.get("zones", []) if z.get("managed_from", "zoneinfo") != "zoneinfo"]

    def text(self) -> str:
        """A plain-text summary (what the verification scripts and notebooks print)."""
        b = self.build
        out = [f"snapshot {self.snapshot} rebuilt under {self.variant} in {b.get('build_seconds')} s"]
        out.append("kinds: " + ", ".join(f"{name.lower()} {v}" for name, v in b.get("kinds", {}).items()))
        for z in b.get("zones", []):
            out.append(f"  {z['zone']:>7}: pfn {z['start_pfn']:#x}-{z['end_pfn']:#x}, holes {z['holes_found']}"
                       f"/{z['absent_expected']} absent, uninit {z['uninit_found']}/{z['uninit_expected']},"
                       f" reserved {z['reserved']}")
            pc = z.get("pcp")
            if pc is not None:
                if pc["cpus"] == 0:
                    out.append("           per-CPU lists: zoneinfo has no pagesets (a partial capture or an old "
                               "kernel): the lists start empty, as if drained")
                else:
                    line = (f"           per-CPU lists: zoneinfo counts {pc['zoneinfo_count']} pages on "
                            f"{pc['cpus']} CPUs; picked {pc['picked']} of {pc['candidates']} flagless pages "
                            f"({pc['in_movable_blocks']} in MOVABLE pageblocks, {pc['elsewhere']} elsewhere)")
                    if pc["shortfall"]:
                        line += (f"; zoneinfo counts {pc['shortfall']} more than there are flagless pages: "
                                 f"the lists hold only {pc['picked']}")
                    out.append(line)
                    sz = pc.get("sizes")
                    if sz:
                        out.append(f"           per-CPU sizes ({self.variant}'s rules): batch {sz['batch']}, high "
                                   + (f"{sz['high_min']}" if sz["high_min"] == sz["high_max"]
                                      else f"{sz['high_min']}..{sz['high_max']}")
                                   + (f"; the kernel's agree ({pc['sizes_compared']} values)"
                                      if pc.get("sizes_compared") and not pc.get("sizes_differ") else ""))
                    if pc.get("sizes_differ"):
                        out.append("           per-CPU sizes by the variant's era differ from the kernel's: "
                                   + ", ".join(f"{key} {a} (kernel) vs {b}" for key, a, b in pc["sizes_differ"]))
            if z.get("managed_from", "zoneinfo") != "zoneinfo":
                out.append(f"           managed pages {z['managed']}: {z['managed_from']}; uninitialised "
                           f"memmap cannot be told from reserved pages")
        out.append("buddyinfo (built vs kernel):")
        for r in self.buddyinfo:
            tag = "exact" if r["exact"] else "diff " + " ".join(f"{d:+d}" for d in r["diff"])
            out.append(f"  {r['zone']:>7}: {tag}  (free pages {r['free_pages_built']} vs {r['free_pages_kernel']})")
        for r in b.get("pageblocks", []):
            parts = [f"{t} {r[t + '_built']}/{r[t + '_target']}" for t in MIGRATETYPE_NAMES
                     if r[t + "_target"] or r[t + "_built"]]
            fe = r.get("free_error_by_type")
            out.append(f"  pageblocks {r['zone']:>7} ({r['source']}): " + ", ".join(parts)
                       + (f"; free-count error by type {fe}" if fe is not None else ""))
        out.append(f"kpageflags round trip on modelled bits: {self.roundtrip_pct:.3f}% of {self.nr_pfns} pfns, "
                   f"{self.roundtrip_frames_pct:.3f}% of {self.nr_frames} page frames "
                   f"(with folio flags on tail pages: {self.roundtrip_folio_flags_pct:.3f}% and "
                   f"{self.roundtrip_folio_flags_frames_pct:.3f}%)")
        bad = [r for r in self.roundtrip_bits if r["mismatch"]]
        for r in bad:
            out.append(f"  {r['name']:>14} (bit {r['bit']:2d}): {r['mismatch']} pfns differ "
                       f"(real {r['real']}, emulated {r['emulated']})")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()


def _kpf_names(w: int) -> str:
    return ",".join(kpf.KPF_NAMES.get(b, str(b)) for b in range(64) if w >> b & 1) or "0"


def from_snapshot_report(snapshot, memory: Memory) -> FromSnapshotReport:
    """Compare ``memory`` (from :func:`build_memory`) with ``snapshot``: buddyinfo per zone,
    and the kpageflags round trip (see :class:`FromSnapshotReport`)."""
    from mmkit.engine.kpageflags import kpageflags as emulate

    snap = _as_snapshot(snapshot)
    if not isinstance(memory, Memory):
        raise ParameterError(f"memory: expected a mmkit.Memory, got {type(memory).__name__}")
    node = int(memory.meta.get("node", 0))
    rows = []
    keyed = {(nd, name): i for i, (nd, name) in enumerate(zip(snap.zone_nodes, snap.zone_names))}
    kernel_nr_free = snap.nr_free
    shifts = np.arange(MAX_ORDER, dtype=np.int64)
    for z, name in enumerate(memory.zone_names):
        built = memory.nr_free[z]
        i = keyed.get((node, name))
        if i is None:
            if memory.zone_present[z] == 0:
                continue
            raise SnapshotError(f"{snap.path}/buddyinfo: no line for node {node}, zone {name}")
        kern = kernel_nr_free[i, :MAX_ORDER]
        diff = (built - kern).astype(np.int64)
        rows.append({"zone": name, "exact": bool((diff == 0).all()), "diff": diff.tolist(),
                     "built": built.tolist(), "kernel": kern.tolist(),
                     "free_pages_built": int((built << shifts).sum()),
                     "free_pages_kernel": int((kern << shifts).sum())})

    n = memory.nr_pages
    real = np.zeros(n, dtype=np.uint64)
    have = min(n, snap.kpageflags.shape[0])
    real[:have] = snap.kpageflags[:have]
    emu = emulate(memory)
    mask = _U64(KPF_MODELLED_MASK)
    rm, em = real & mask, emu & mask
    agree = rm == em
    frames = memory.kind != _K["HOLE"]
    # what a folio-flags emulation would say: tails show their head's copied flags
    tails = np.flatnonzero(memory.lru_next[:n] <= -2)
    heads = (-2 - memory.lru_next[tails]).astype(np.int64)
    fmask = _U64(_FOLIO_COPY_MASK)
    em_folio = em.copy()
    em_folio[tails] = (em[tails] & ~fmask) | (em[heads] & fmask)
    real_bits, emu_bits, diff_bits = rebuild.bit_counts(rm), rebuild.bit_counts(em), rebuild.bit_counts(rm ^ em)
    bits = [{"bit": b, "name": kpf.KPF_NAMES[b], "real": int(real_bits[b]), "emulated": int(emu_bits[b]),
             "mismatch": int(diff_bits[b])} for b in _MODELLED_BITS]
    top = []
    bad = np.flatnonzero(~agree)
    if bad.size:
        r_bad, e_bad = rm[bad], em[bad]
        order = np.lexsort((e_bad, r_bad))
        r_s, e_s = r_bad[order], e_bad[order]
        cut = np.flatnonzero((r_s[1:] != r_s[:-1]) | (e_s[1:] != e_s[:-1])) + 1
        starts = np.concatenate(([0], cut))
        sizes = np.diff(np.concatenate((starts, [bad.size])))
        for j in np.argsort(-sizes, kind="stable")[:12]:
            r_, e_ = int(r_s[starts[j]]), int(e_s[starts[j]])
            top.append({"pages": int(sizes[j]), "real": _kpf_names(r_), "emulated": _kpf_names(e_),
                        "only_real": _kpf_names(r_ & ~e_), "only_emulated": _kpf_names(e_ & ~r_)})
    agree_folio = rm == em_folio
    return FromSnapshotReport(
        snapshot=str(snap.path),
        variant=memory.variant.name if memory.variant is not None else "?",
        buddyinfo=rows,
        roundtrip_pct=100.0 * float(agree.mean()),
        roundtrip_frames_pct=100.0 * float(agree[frames].mean()) if frames.any() else 100.0,
        roundtrip_folio_flags_pct=100.0 * float(agree_folio.mean()),
        roundtrip_folio_flags_frames_pct=100.0 * float(agree_folio[frames].mean()) if frames.any() else 100.0,
        roundtrip_bits=bits,
        roundtrip_top=top,
        nr_pfns=int(n),
        nr_frames=int(frames.sum()),
        build=dict(memory.meta.get("from_snapshot", {})),
    )
