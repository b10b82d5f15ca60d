"""``mmkit.replay``: a recorded machine's page allocator stream (``mmkit trace record``) run
under each variant's rules, from the trace's start snapshot, as a ``Result`` with the
same frames as ``compare``.

The engine's side is ``mmkit.engine.replay``; what is inferred from the trace, and how,
is in ``docs/modelling.md`` ("Replaying a trace").
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import polars as pl

from mmkit.engine import page_alloc as _pa
from mmkit.engine import replay as R
from mmkit.engine.sim import Sim
from mmkit.errors import Interrupted, ParameterError, TraceError
from mmkit.inputs import check_flag, check_number, check_seed, check_tick_ms
from mmkit.metrics import unusable_free_index
from mmkit.metrics.contiguity import contiguity_row
from mmkit.model.kinds import PageKind
from mmkit.model.memory import Memory
from mmkit.pieces import Pacer
from mmkit.result import CONTIGUITY_POINTS, Result, RunData
from mmkit.semantics import REPLAY_VARIANTS, Variant, VariantLike, resolve

__all__ = ["DEFAULT_VARIANTS", "ReplayOps", "replay", "replay_ops", "requests", "versus_real"]

DEFAULT_VARIANTS = REPLAY_VARIANTS
MAX_THREADS = 16
# a trace whose pfns fall outside its start snapshot's zones more often than this is
# not that snapshot's machine's (a few may: pages of another node)
MAX_OUTSIDE_SHARE = 0.01
# vmstat counters compared with the real machine's (end snapshot minus start snapshot)
# (the simulation's counter: the kernel's counters that add up to it)
COMPARED_VMSTAT = {name: (name,) for name in ("pgmigrate_success", "compact_stall", "compact_success", "compact_fail",
                                              "compact_daemon_wake", "thp_fault_alloc", "thp_fault_fallback")}
COMPARED_VMSTAT["pgsteal"] = ("pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged")

K_ANON, K_FILE, K_KERNEL, K_SLAB_RECLAIMABLE = (int(PageKind.ANON), int(PageKind.FILE), int(PageKind.KERNEL),
                                                int(PageKind.SLAB_RECLAIMABLE))


@dataclass
class ReplayOps:
    """A trace as the engine replays it (the same for every variant)."""

    ops: np.ndarray  # int64 (m, 3): tick, real pfn, packed (mmkit.engine.replay.pack)
    ticks: int
    tick_ns: int
    t0_ns: int  # the trace time of tick 0
    info: dict  # what was read, inferred and left out, counted

    @property
    def proactive_period(self) -> int:
        """Ticks in kcompactd's wait between proactive checks (HPAGE_FRAG_CHECK_INTERVAL_MSEC)."""
        from mmkit.engine.compaction import HPAGE_FRAG_CHECK_INTERVAL_MSEC

        return max(1, round(HPAGE_FRAG_CHECK_INTERVAL_MSEC * 1_000_000 / self.tick_ns))


def _gfp_bits(tr) -> dict[str, int]:
    """The tracing kernel's gfp names (its mm_page_alloc format), or v6.18's."""
    from mmkit.trace.text import _tables

    formats = tr.path / "formats"
    names, _ = _tables(formats if formats.is_dir() else None)
    return names


def _kinds(gfp: np.ndarray, mt: np.ndarray, names: dict[str, int]) -> np.ndarray:
    """The page kind each allocation is replayed as (docs/modelling.md): movable with
    __GFP_ZERO or __GFP_NOMEMALLOC anonymous, other movable page cache, reclaimable slab
    from MIGRATE_RECLAIMABLE, a kernel page from MIGRATE_UNMOVABLE."""
    gfp = gfp.astype(np.uint64)
    anon_bits = np.uint64(int(names.get("__GFP_ZERO", 0)) | int(names.get("__GFP_NOMEMALLOC", 0)))
    movable = mt == 1
    anon = movable & ((gfp & anon_bits) != 0)
    kind = np.where(mt == 2, K_SLAB_RECLAIMABLE, K_KERNEL)
    return np.where(movable, np.where(anon, K_ANON, K_FILE), kind)


def requests(trace, *, bin_ms: float = 100.0) -> pl.DataFrame:
    """The trace's allocation requests as the replay reads them, counted per time bin.

    Parameters
    ----------
    trace : str, os.PathLike or mmkit.trace.Trace
        A recorded trace folder.
    bin_ms : float
        The bins' width in ms of trace time.

    Returns
    -------
    polars.DataFrame
        ``seconds`` (the bin's start, from the first event), ``kind`` (the page kind the
        replay makes: anon, file, slab_reclaimable, kernel), ``order``, ``requests`` and
        ``pages`` (requests times 2**order); successful allocations only.

    Examples
    --------
    >>> mmkit.trace.replay.requests("data/trace-sample")            # doctest: +SKIP
    """
    tr = _load(trace)
    bin_ms = check_number("bin_ms", bin_ms)
    if not bin_ms > 0:
        raise ParameterError(f"bin_ms: {bin_ms!r}; give a positive width in ms")
    a = tr.events.filter((pl.col("event") == "mm_page_alloc") & pl.col("pfn").is_not_null())
    if a.height == 0:
        return pl.DataFrame(schema={"seconds": pl.Float64, "kind": pl.String, "order": pl.Int16,
                                    "requests": pl.UInt32, "pages": pl.Int64})
    kind = _kinds(a["gfp_flags"].fill_null(0).to_numpy(), a["migratetype"].fill_null(0).to_numpy(), _gfp_bits(tr))
    names = np.array([k.name.lower() for k in PageKind], dtype=object)
    t0 = int(tr.events["ts_ns"].min())
    width = int(round(bin_ms * 1e6))
    df = pl.DataFrame({"seconds": ((a["ts_ns"] - t0) // width * width / 1e9), "kind": names[kind].tolist(),
                       "order": a["order"]})
    return (df.group_by("seconds", "kind", "order").agg(pl.len().alias("requests"))
            .with_columns(pages=pl.col("requests").cast(pl.Int64) * pl.lit(2, pl.Int64).pow(pl.col("order").cast(pl.Int64)))
            .sort("seconds", "kind", "order"))


def replay_ops(tr, mem: Memory, *, tick_ms: float = 100.0) -> ReplayOps:
    """The replay's operations from trace ``tr`` for a memory shaped like ``mem`` (its
    zones and CPUs): allocations with their request, frees (a real migration's source
    marked), each on the tick of its time; counts of what could not be used.

    Raises :class:`TraceError` when the trace is not its start snapshot's machine's (too
    many pfns outside the zones) or has no allocation events."""
    ev = tr.events
    ts = ev["ts_ns"].to_numpy()
    back = np.flatnonzero(ts[1:] < ts[:-1])
    if back.size:
        i = int(back[0]) + 1
        raise TraceError(f"{tr.path / 'events.parquet'}: events out of time order at row {i} ({ev['event'][i]} at "
                         f"ts {int(ts[i])} ns after ts {int(ts[i - 1])} ns); a recorded trace is in time order, so "
                         f"this file was edited or damaged")
    times = tr.meta.get("times_ns", {})
    t0 = int(times.get("start_snapshot_begin_ns", ts.min() if ev.height else 0))
    rec_end = int(times.get("record_end_ns", ts.max() if ev.height else 0))
    end_snap = int(times.get("end_snapshot_end_ns", rec_end))
    t1 = (rec_end + end_snap) // 2  # the end snapshot is read over a while: its middle
    tick_ns = int(round(tick_ms * 1e6))
    ticks = max(1, math.ceil((t1 - t0) / tick_ns))
    names = _gfp_bits(tr)

    def bit(name: str) -> int:
        return int(names.get(name, 0))

    known = 0
    for n, v in names.items():
        if n.startswith("__GFP_") and v and v & (v - 1) == 0:
            known |= v
    # the window, and the compaction windows: a free by a task inside its compaction
    # (between mm_compaction_begin and mm_compaction_end) is a migration's source page
    win = ev.filter(pl.col("ts_ns").is_between(t0, t1, closed="left"))
    comp = (pl.when(pl.col("event") == "mm_compaction_begin").then(1)
            .when(pl.col("event") == "mm_compaction_end").then(-1).otherwise(0))
    win = win.with_columns(comp.cum_sum().over("pid").alias("_in_compaction"))
    pages = win.filter(pl.col("event").is_in(["mm_page_alloc", "mm_page_free"]))
    alloc = pages["event"] == "mm_page_alloc"
    failed = alloc & pages["pfn"].is_null()
    real_failed = pages.filter(failed).group_by("order").len().sort("order")
    pages = pages.filter(~failed)
    alloc = (pages["event"] == "mm_page_alloc").to_numpy()
    pfn = pages["pfn"].to_numpy().astype(np.int64)
    order = pages["order"].fill_null(0).to_numpy().astype(np.int64)
    gfp = pages["gfp_flags"].fill_null(0).to_numpy().astype(np.uint64)
    mt = pages["migratetype"].fill_null(0).to_numpy().astype(np.int64)
    cpu = pages["cpu"].to_numpy().astype(np.int64)
    in_comp = (pages["_in_compaction"].to_numpy() > 0) & ~alloc
    pts = pages["ts_ns"].to_numpy()
    tick = (pts - t0) // tick_ns

    inside_zone = np.zeros(pfn.shape[0], dtype=bool)  # the zones lie inside the memory's pfns
    for z in range(mem.nr_zones):
        inside_zone |= (pfn >= mem.zone_start[z]) & (pfn + (1 << order) <= mem.zone_end[z])
    outside = ~inside_zone
    if pfn.shape[0] and outside.mean() > MAX_OUTSIDE_SHARE:
        i = int(np.flatnonzero(outside)[0])
        raise TraceError(
            f"{tr.path}: {int(outside.sum())} of {pfn.shape[0]} page events name pfns outside the start snapshot's "
            f"zones (the first: {pages['event'][i]} at ts {int(pages['ts_ns'][i])} ns, pfn {int(pfn[i]):#x}; the "
            f"zones end at {int(mem.zone_end.max()):#x}): the trace and its snapshots are not of the same machine")
    if not alloc.any():
        raise TraceError(f"{tr.path}: no mm_page_alloc event in the trace's window: nothing to replay")
    unknown = gfp & ~np.uint64(known) if known else np.zeros_like(gfp)
    unknown_bits = int(np.bitwise_or.reduce(unknown[alloc]))

    kind = _kinds(gfp, mt, names)
    emt = np.where((mt >= 0) & (mt <= 2), mt, 0)
    # gfp_zone: the highest zone the request may use
    zone_idx = {z: i for i, z in enumerate(mem.zone_names)}
    top = mem.nr_zones - 1
    normal = zone_idx.get("Normal", top)
    zone_hi = np.full(pfn.shape[0], normal, dtype=np.int64)
    if "Movable" in zone_idx:
        both = np.uint64(bit("__GFP_HIGHMEM") | bit("__GFP_MOVABLE"))
        zone_hi[(gfp & both) == both] = zone_idx["Movable"]
    if "DMA32" in zone_idx:
        zone_hi[(gfp & np.uint64(bit("__GFP_DMA32"))) != 0] = zone_idx["DMA32"]
    if "DMA" in zone_idx:
        zone_hi[(gfp & np.uint64(bit("__GFP_DMA"))) != 0] = zone_idx["DMA"]
    direct = (gfp & np.uint64(bit("__GFP_DIRECT_RECLAIM"))) != 0
    noretry = (gfp & np.uint64(bit("__GFP_NORETRY"))) != 0
    gclass = np.where(~direct, _pa.GFP_NOWAIT, np.where(noretry, _pa.GFP_TRANSHUGE, _pa.GFP_DEFAULT))
    compound = ((gfp & np.uint64(bit("__GFP_COMP"))) != 0) & (order > 0)
    cpu_ids = list(mem.meta.get("cpu_ids") or range(mem.pcp.shape[1]))
    cpu_index = np.zeros(int(cpu.max()) + 1 if cpu.shape[0] else 1, dtype=np.int64)
    for i, c in enumerate(cpu_ids):
        if c < cpu_index.shape[0]:
            cpu_index[c] = i
    op = np.where(alloc, R.OP_ALLOC, np.where(in_comp, R.OP_FREE_MIGRATED, R.OP_FREE))
    packed = R.pack(op.astype(np.int64), order, kind.astype(np.int64), emt.astype(np.int64), zone_hi,
                    gclass.astype(np.int64), compound.astype(np.int64), cpu_index[cpu])
    capture_end = int(times.get("start_snapshot_end_ns", t0))
    packed |= np.where(pts < capture_end, R.IN_CAPTURE, 0)
    keep = ~outside
    ops = np.stack([tick[keep], pfn[keep], packed[keep]], axis=1).astype(np.int64)
    ev_counts = {k: int(v) for k, v in win.group_by("event").len().iter_rows()}
    info = {
        "trace": str(tr.path),
        "kernel_release": tr.meta.get("kernel_release"),
        "window_ns": [t0, t1],
        "seconds": round((t1 - t0) / 1e9, 3),
        "tick_ms": tick_ms,
        "ticks": ticks,
        "allocs": int(alloc[keep].sum()),
        "frees": int((~alloc[keep]).sum()),
        "frees_in_compaction": int(in_comp[keep].sum()),
        "real_failed_allocs_by_order": {int(o): int(c) for o, c in real_failed.iter_rows()},
        "outside_zones": int(outside.sum()),
        "unknown_gfp_bits": hex(unknown_bits),
        "lost_events": int(tr.lost_total),
        "events_in_window": ev_counts,
        "kinds": {PageKind(k).name.lower(): int(c) for k, c in zip(*np.unique(kind[alloc & keep], return_counts=True))},
    }
    return ReplayOps(ops=ops, ticks=ticks, tick_ns=tick_ns, t0_ns=t0, info=info)


def _load(trace):
    from mmkit.trace import Trace, load

    if isinstance(trace, Trace):
        return trace
    if isinstance(trace, (str, os.PathLike)):
        return load(trace)
    raise ParameterError(f"trace: expected a trace folder (mmkit trace record DIR) or a mmkit.trace.Trace, "
                         f"got {type(trace).__name__}")


class _Stop(Exception):
    pass


def _one(start: Callable[[], Memory], v: Variant, ro: ReplayOps, seed: int, swap: bool, log_traffic: bool,
         sample_every: int,
         bar, stop: threading.Event) -> tuple[RunData, dict] | None:
    from mmkit.run import _sample_now, finish_run, sample_buffers

    try:
        mem = start()  # the variant's own build of the start snapshot, in the run's thread
    except _Stop:
        return None
    sim = Sim(mem, seed, swap=swap, log_traffic=log_traffic, event_capacity=1 << 18)
    real2oid, obj_order, free_ids, orphans, rc = R.begin_replay(sim)
    ticks = ro.ticks
    nsamples = ticks // sample_every + 2
    samples, sfree, svm, sfaults = sample_buffers(mem, nsamples)
    _sample_now(sim, 0, samples[0], sfree[0], svm[0], sfaults[0])
    ns = 1
    cevery = max(ticks // CONTIGUITY_POINTS, 1)
    contig = [(0, contiguity_row(mem))]
    i = 0
    t = 0
    pace = Pacer(1)
    while t < ticks and not stop.is_set():
        n = min(pace.next(), ticks - t)
        n = min(n, sample_every - t % sample_every)  # chunks end on sample ticks
        i0 = i
        i = int(R.replay_ticks(sim.A, sim.vc, sim.S, ro.ops, i, t, t + n, real2oid, obj_order, free_ids,
                               orphans, rc, ro.proactive_period, ro.tick_ns))
        pace.done(n)
        t += n
        if (t % sample_every == 0 or t == ticks) and ns < nsamples:
            _sample_now(sim, t, samples[ns], sfree[ns], svm[ns], sfaults[ns])
            ns += 1
        if t % cevery == 0 or t == ticks:
            contig.append((t, contiguity_row(mem)))
        if bar is not None:
            bar(i - i0)
    run = finish_run(v, sim, (samples, sfree, svm, sfaults), ns, t, contig)
    counts = {name: int(rc[j]) for name, j in R.RC_COUNTERS.items()}
    counts["ops_done"] = int(rc[R.RC_OPS_DONE])
    return run, counts


def replay(
    trace,
    variants: Iterable[VariantLike] | str = DEFAULT_VARIANTS,
    *,
    tick_ms: float = 100.0,
    sample_every: int = 1,
    seed: int = 0,
    swap: bool = False,
    progress: bool | Callable[[int, int], None] = False,
    log_traffic: bool = False,
    stop: threading.Event | None = None,
) -> Result:
    """Replay a recorded trace under each variant, from its start snapshot.

    Parameters
    ----------
    trace : str, os.PathLike or mmkit.trace.Trace
        A folder written by ``mmkit trace record`` (or ``mmkit.trace.record``).
    variants : iterable of str or Variant, or "all"
        The rules to replay under (default v4.5, v4.8 and v6.18).
    tick_ms : float
        Trace time per tick (the timeline's step; kcompactd runs at the end of a tick
        in which a high-order request failed). Default 100 ms.
    sample_every : int
        Ticks between timeline rows.
    seed : int
        Seeds the simulation's own random choices (reclaim, compaction's failures).
    swap : bool
        Let this simulation's reclaim swap anonymous pages (into zram). Default False:
        it drops clean file pages only.
    progress : bool or callable
        True for a bar; a callable ``f(done, total)`` (events over all variants).
    log_traffic : bool
        Log every migration and putback in ``Result.events``.
    stop : threading.Event, optional
        ``stop.set()`` from another thread stops every run as an interrupt does.

    Returns
    -------
    Result
        The frames of :func:`mmkit.compare` (timeline, zones, vmstat, faults, events,
        pageblocks, contiguity); ``info["replay"]`` holds, per variant, the counts of
        each inference (``mmkit.engine.replay.RC_COUNTERS``), ``info["trace"]`` what was
        read from the trace; :func:`versus_real` compares the end with the real machine.

    Raises
    ------
    TraceError
        The trace folder is missing, truncated or corrupt, or its pfns do not fit its
        start snapshot (the message names the file or the event).
    ParameterError, VariantError
        A bad argument or variant name.
    Interrupted
        Ctrl-C or ``stop.set()``: every run stops within a second; ``.partial`` is the
        Result up to there.

    Notes
    -----
    Each allocation is replayed as a request (order, migratetype, page kind, zone and
    gfp class from the event), not as a pfn; each free frees the object that the real
    pfn's allocation became here. Compaction and reclaim are this simulation's own.
    ``docs/modelling.md`` ("Replaying a trace") lists every inference.

    Examples
    --------
    >>> res = mmkit.replay("data/trace-sample", ["v4.5", "v6.18"])     # doctest: +SKIP
    >>> mmkit.versus_real(res)                                          # doctest: +SKIP
    """
    from mmkit.progress import Progress
    from mmkit.run import _wait_runs
    from mmkit.from_snapshot import _build_memory

    tr = _load(trace)
    vs = resolve(variants)
    tick_ms = check_tick_ms(tick_ms)
    if not isinstance(sample_every, (int, np.integer)) or isinstance(sample_every, bool) or sample_every < 1:
        raise ParameterError(f"sample_every: {sample_every!r}; give a whole number of ticks >= 1")
    seed = check_seed(seed)
    check_flag("swap", swap)
    check_flag("log_traffic", log_traffic)
    if not (callable(progress) or isinstance(progress, bool)):
        raise ParameterError(f"progress: {progress!r}; give True (a bar), False or a callable f(done, total)")
    stop = threading.Event() if stop is None else stop

    def step(_name: str) -> None:
        if stop.is_set():
            raise _Stop

    snap = tr.start_snapshot()
    rel = tr.meta.get("kernel_release")
    if rel and snap.kernel_release and rel != snap.kernel_release:
        raise TraceError(f"{tr.path / 'meta.json'}: the trace was recorded on kernel {rel} but its start snapshot "
                         f"({tr.start / 'meta.json'}) on {snap.kernel_release}: not the same machine's")
    try:
        base = _build_memory(snap, vs[0], 0, step)
        ro = replay_ops(tr, base, tick_ms=tick_ms)  # the zones and CPUs are every build's
    except (KeyboardInterrupt, _Stop):
        raise Interrupted("replay stopped before its first tick, while reading the trace and its start snapshot") \
            from None
    # each variant starts from its own build of the snapshot, as compare does with a
    # snapshot: a variant's result does not depend on which others run beside it
    starts = [lambda: base] + [lambda v=v: _build_memory(snap, v, 0, step) for v in vs[1:]]
    bar = Progress(ro.ops.shape[0] * len(vs), progress, f"replay {tr.path.name} x {len(vs)} variants", "event")
    bar_unit = getattr(bar, "bar", None)
    if bar_unit is not None:
        bar_unit.unit = "event"
    t_start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=min(len(vs), MAX_THREADS)) as ex:
            futs = [ex.submit(_one, st, v, ro, seed, swap, log_traffic, int(sample_every), bar, stop)
                    for st, v in zip(starts, vs)]
            outs = _wait_runs(futs, stop)
    finally:
        bar.close()
    wall = time.perf_counter() - t_start
    done = [o for o in outs if o is not None]
    res = None
    if done:
        params = {"trace": str(tr.path), "tick_ms": tick_ms, "sample_every": int(sample_every), "swap": swap}
        res = Result.build([r for r, _ in done], workload=f"trace {tr.path.name}", params=params, ticks=ro.ticks,
                           seed=seed, memory_desc=f"trace {tr.path} start snapshot, "
                                                  f"{base.nr_pages * 4096 / 2**30:g} GiB")
        res.info["trace"] = ro.info
        res.info["replay"] = {r.variant.name: c for r, c in done}
        res.info["replay_seconds"] = round(wall, 3)
        res.info["versus_real"] = _versus_real_rows(res, tr, snap)
    if stop.is_set():
        at = {v.name: (o[0].ticks_done if o is not None else 0) for v, o in zip(vs, outs)}
        lo = min(at.values())
        if res is not None:
            res.info["stopped_at"] = at
        msg = f"replay stopped at tick {lo} of {ro.ticks}"
        raise Interrupted(msg + ("; the Result up to there is the exception's .partial" if res is not None else ""),
                          partial=res, progress=msg)
    return res


def _free_by_order(free: np.ndarray) -> np.ndarray:
    """Free pages (not blocks) by order, summed over zones."""
    f = np.asarray(free, dtype=np.int64)
    return f.sum(axis=0) << np.arange(f.shape[1])


def _versus_real_rows(res: Result, tr, start) -> list[dict]:
    """Per variant: the end of the replay against the end snapshot (free pages by order,
    L1 share; unusable index at order 9 of the main zone) and vmstat counters against the
    real machine's change over the recording."""
    from mmkit.snapshot.parse import buddyinfo_zone_table

    try:
        end = tr.end_snapshot()
        zones, _, table = buddyinfo_zone_table(end.buddyinfo)
    except Exception as e:  # a trace without a readable end snapshot: nothing to compare
        return [{"error": f"{type(e).__name__}: {e}"}]
    real_by_order = _free_by_order(table)
    real_vm: dict[str, int] = {}
    try:
        a = dict(start.vmstat.iter_rows())
        b = dict(end.vmstat.iter_rows())
        for key, names in COMPARED_VMSTAT.items():
            have = [k for k in names if k in a and k in b]
            if have:
                real_vm[key] = sum(int(b[k]) - int(a[k]) for k in have)
    except Exception:  # vmstat is optional in a snapshot
        pass
    rows = []
    for name, mem in res.memories.items():
        sim_by_order = _free_by_order(mem.nr_free)
        k = min(sim_by_order.shape[0], real_by_order.shape[0])
        l1 = float(np.abs(sim_by_order[:k] - real_by_order[:k]).sum() / max(real_by_order[:k].sum(), 1))
        main = "Normal" if "Normal" in zones else zones[-1]
        zi_real = zones.index(main)
        zi_sim = mem.zone_names.index(main) if main in mem.zone_names else mem.nr_zones - 1
        row = {"variant": name, "free_pages_sim": int(sim_by_order.sum()), "free_pages_real": int(real_by_order.sum()),
               "free_l1_share": round(l1, 4),
               "unusable_9_sim": unusable_free_index(mem.nr_free[zi_sim].tolist(), 9) / 1000,
               "unusable_9_real": unusable_free_index(table[zi_real].tolist(), 9) / 1000}
        tl = res.timeline.filter(pl.col("variant") == name)
        last = tl.row(tl.height - 1, named=True) if tl.height else {}
        for key in COMPARED_VMSTAT:
            row[f"{key}_sim"] = int(last.get(key, 0) or 0)
            row[f"{key}_real"] = real_vm.get(key)
        rows.append(row)
    return rows


def versus_real(res: Result) -> pl.DataFrame:
    """A replay's end against the real machine's end snapshot.

    Parameters
    ----------
    res : Result
        What :func:`replay` returned.

    Returns
    -------
    polars.DataFrame
        One row per variant: free pages simulated and real (``free_pages_sim``,
        ``free_pages_real``), ``free_l1_share`` (the L1 distance of free pages by order,
        summed over zones, as a share of the real free pages), the unusable free index at
        order 9 of the Normal zone (``unusable_9_sim``, ``unusable_9_real``), and for each
        counter of ``COMPARED_VMSTAT`` its simulated value and the real machine's change
        between the snapshots (``*_sim``, ``*_real``; null when the snapshots have no
        vmstat).

    Raises
    ------
    ParameterError
        ``res`` is not a replay's Result.

    Examples
    --------
    >>> mmkit.versus_real(mmkit.replay("data/trace-sample", ["v6.18"]))   # doctest: +SKIP
    """
    rows = res.info.get("versus_real")
    if rows is None:
        raise ParameterError("res: not a replay's Result (no info['versus_real']); make one with mmkit.replay(...)")
    return pl.DataFrame(rows)
