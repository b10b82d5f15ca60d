"""``simulate`` and ``compare``: the one place that ties a memory, a workload, variants
and the engine together and returns polars results (DESIGN.md)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable

import numpy as np

from mmkit.engine import state as _st
from mmkit.engine import workload as W
from mmkit.engine.encode import reencode
from mmkit.engine.sim import Sim
from mmkit.errors import Interrupted, ParameterError
from mmkit.inputs import check_flag, check_gib, check_seed, check_ticks
from mmkit.model.kinds import PAGE_SIZE, PAGEBLOCK_NR_PAGES
from mmkit.model.memory import Memory, check_cpus
from mmkit.pieces import Pacer
from mmkit.progress import Progress
from mmkit.metrics.contiguity import contiguity_row
from mmkit.result import CONTIGUITY_POINTS, Result, RunData, run_parts
from mmkit.semantics import COMPARE_VARIANTS, Variant, VariantLike, resolve
from mmkit.workloads import Workload, workload as get_workload
from mmkit.workloads.presets import PRESETS

MAX_THREADS = 16
# A run is cut into chunks of ticks of about ``pieces.PIECE_SECONDS`` each (sized from
# the last chunk's speed): progress is reported and a stop is seen between chunks. The
# engine's state lives in its arrays, so the result is the same however the run is cut.
FIRST_CHUNK = 1  # ticks
PREFILL_FIRST = 1 << 14  # allocations in the prefill's first piece
WAIT_SECONDS = 0.1  # how often the waiting main thread looks up (signals are handled then)


class _Stopped(Exception):
    """``stop`` was set while a starting memory was being made (before tick 1)."""


def compile_params(params: dict[str, Any], mem: Memory) -> np.ndarray:
    """The engine's int64 parameter array for validated workload ``params``."""
    from mmkit.workloads import PARAMS

    P = np.zeros(W.NR_P, dtype=np.int64)
    for name, p in PARAMS.items():
        if p.slot:
            P[getattr(W, p.slot)] = p.engine_value(params[name])
    # the per-tick counts are for a machine of scale_from_gib; a larger one gets more
    scale = pressure_scale(params, mem)
    P[W.P_OPS] = max(1, round(params["ops_per_tick"] * scale))
    P[W.P_BALLOON_PAGES] = round(params["balloon_pages"] * scale)
    # thp_rate is a share of anonymous memory: as a chance per fault, r / (512 - 511 r)
    r = params["thp_rate"]
    P[W.P_THP_PPM] = int(round(1_000_000 * r / (512 - 511 * r))) if r < 1 else 1_000_000
    nb = int(round(params["cma_area"] * mem.nr_pages / PAGEBLOCK_NR_PAGES))
    P[W.P_CMA_AREA_BLOCKS] = nb
    if params["cma_period"] and nb < params["cma_blocks"]:
        raise ParameterError(
            f"cma_blocks: {params['cma_blocks']} pageblocks do not fit in a CMA area of {nb} "
            f"(cma_area={params['cma_area']} of this machine); raise cma_area or lower cma_blocks"
        )
    return P


def pressure_scale(params: dict[str, Any], mem: Memory) -> float:
    """The factor ``ops_per_tick`` and ``balloon_pages`` are multiplied by on ``mem``: its
    managed memory over ``scale_from_gib`` when larger, else 1 (and 1 when that is 0).
    (A sweep checks a cell's parameters against a stand-in that has only ``nr_pages``.)"""
    ref = params["scale_from_gib"]
    if ref <= 0:
        return 1.0
    managed = mem.zone_managed.sum() if hasattr(mem, "zone_managed") else mem.nr_pages
    return max(1.0, float(managed) * PAGE_SIZE / 2**30 / ref)


def _start_memory(memory, variant: Variant, gib: float | None, stop: threading.Event | None = None,
                  cpus: int = 0) -> Memory:
    """The starting Memory for ``variant``: synthetic, from a snapshot, or re-encoded;
    ``_Stopped`` if ``stop`` is set meanwhile (looked at between steps)."""
    stop = stop if stop is not None else threading.Event()
    if memory is None:
        return Memory.synthetic(gib=gib, variant=variant, cpus=cpus)
    if isinstance(memory, Memory):
        return _reencoded(memory, variant, stop)
    from mmkit import snapshot as _snap
    from mmkit.from_snapshot import _build_memory

    def step(_name: str) -> None:
        if stop.is_set():
            raise _Stopped

    snap = memory if isinstance(memory, _snap.Snapshot) else _snap.load(memory)
    return _build_memory(snap, variant, 0, step)


# The last synthetic machine ``compare`` prefilled, with its compiled parameters: the
# prefill consults no variant rule and is a pure function of this key, so a compare that
# changes only the variants, the ticks or a parameter the prefill does not read (the
# Explorer's usual re-run) starts from a copy instead of filling the machine again.
_PREFILLED: dict = {}
_PREFILLED_LOCK = threading.Lock()
_PREFILL_MEMO_MAX_PAGES = 1 << 22  # 16 GiB: ~100 MB held


def _prefilled_base(gib: float, v0: Variant, wl: Workload, values: dict, seed: int,
                    stop: threading.Event | None = None, cpus: int = 0) -> tuple[Memory, np.ndarray]:
    """A synthetic ``gib`` GiB machine with ``cpus`` CPUs under ``v0`` after the
    workload's prefill, and the compiled parameters; the caller must copy the Memory
    before running on it."""
    key = (float(gib), int(cpus), tuple(v0.compile().tolist()), wl.name, repr(sorted(values.items())), int(seed))
    with _PREFILLED_LOCK:
        hit = _PREFILLED.get(key)
    if hit is not None:
        return hit
    base = Memory.synthetic(gib=gib, variant=v0, cpus=cpus)
    P = compile_params(values, base)
    _prefill(base, P, values, seed, stop)
    if base.nr_pages <= _PREFILL_MEMO_MAX_PAGES:
        with _PREFILLED_LOCK:
            _PREFILLED.clear()
            _PREFILLED[key] = (base, P)
    return base, P


def _prefill(mem: Memory, P: np.ndarray, values: dict, seed: int, stop: threading.Event | None = None) -> None:
    """The CMA area is reserved first, as at boot (``cma_init_reserved_areas`` runs before
    anything else allocates): its pageblocks then only ever take movable pages. The
    workload's prefill follows, in pieces of about 0.1 s: in the main thread an interrupt
    is seen between them, in a run's thread ``stop`` (raising ``_Stopped``)."""
    sim = Sim(mem, seed)
    vc = W.prefill_rules(sim.vc)  # the same machine for every variant
    W.setup_cma_area(sim.A, vc, P)
    if values["prefill"] <= 0:
        return
    share = int(round(values["prefill"] * 1_000_000))
    pace = Pacer(PREFILL_FIRST)
    while True:
        if stop is not None and stop.is_set():
            raise _Stopped
        n = pace.next()
        if W.prefill(sim.A, vc, sim.S, P, share, n) >= 0:
            return
        pace.done(n)


def _reencoded(base: Memory, v: Variant, stop: threading.Event) -> Memory:
    """``reencode(base, v)`` with ``stop`` looked at between the arrays' copies (a 64 GiB
    machine's take about a second in all); ``_Stopped`` if it is set."""
    kw = {}
    for n in base.__dataclass_fields__:
        a = getattr(base, n)
        if isinstance(a, np.ndarray):
            if stop.is_set():
                raise _Stopped
            kw[n] = a.copy()
    copy = Memory(zone_names=base.zone_names, variant=base.variant, meta=dict(base.meta), **kw)
    return reencode(copy, v, copy=False)


def _one_run(start: Callable[[], Memory], variant: Variant, P: np.ndarray, params: dict, ticks: int, seed: int,
             progress_cb, log_traffic: bool, stop: threading.Event) -> RunData | None:
    """One variant's run in chunks of ticks; when ``stop`` is set it ends after the
    chunk it is in (``RunData.ticks_done`` < ``ticks``), or returns None if it had not
    started its ticks."""
    try:
        mem = start()  # the variant's starting memory, made in the run's thread
    except _Stopped:
        return None
    if stop.is_set():
        return None
    sim = Sim(mem, seed, deflate_race=params["deflate_race"], migrate_fail=params["migrate_fail"],
              concurrent_compaction=params["concurrent_compaction"], swap=params["swap"],
              log_traffic=log_traffic, event_capacity=1 << 18)
    cma_start = W.setup_cma_area(sim.A, sim.vc, P)  # reserved before the prefill: here it finds it so
    sim.S.st[_st.ST_CMA_START] = cma_start
    every = max(int(P[W.P_SAMPLE_EVERY]), 1)
    samples, sfree, svm, sfaults = sample_buffers(mem, ticks // every + 2)
    # sample 0: the starting state
    W.sample(sim.A, sim.vc, sim.S, samples[0])
    samples[0, W.SM_TICK] = 0
    sfree[0] = mem.nr_free
    sim.S.st[_st.ST_NS] = 1
    t = 0
    pace = Pacer(FIRST_CHUNK)
    # contiguity beyond MAX_ORDER at a few ticks (numpy over the memory, between chunks)
    cevery = max(ticks // CONTIGUITY_POINTS, 1)
    contig = [(0, contiguity_row(mem))]
    while t < ticks and not stop.is_set():
        n = min(pace.next(), ticks - t, cevery - t % cevery)
        W.run_ticks(sim.A, sim.vc, sim.S, P, t, t + n, ticks, samples, sfree, svm, sfaults)
        pace.done(n)
        t += n
        if t % cevery == 0 or t == ticks:
            contig.append((t, contiguity_row(mem)))
        if progress_cb is not None:
            progress_cb(n)
    return finish_run(variant, sim, (samples, sfree, svm, sfaults), int(sim.S.st[_st.ST_NS]), t, contig)


def sample_buffers(mem: Memory, nsamples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The timeline's buffers for ``nsamples`` rows of a run on ``mem``: the sample
    columns (``W.SM_*``), free blocks by zone and order, vmstat, fault counts."""
    return (np.zeros((nsamples, W.NR_SM), dtype=np.int64),
            np.zeros((nsamples, mem.nr_zones, mem.nr_free.shape[1]), dtype=np.int64),
            np.zeros((nsamples, _st.NR_VMSTAT), dtype=np.int64),
            np.zeros((nsamples, _st.NR_EVENTS), dtype=np.int64))


def finish_run(variant: Variant, sim: Sim, buffers: tuple, ns: int, t: int, contig: list) -> RunData:
    """A run (``compare``'s or ``replay``'s) as it ended at tick ``t`` with ``ns`` timeline
    rows written: a contiguity row and a timeline row for the state it ended in unless
    one was taken there, then its frames (made here, in the run's thread)."""
    samples, sfree, svm, sfaults = buffers
    mem = sim.mem
    if contig[-1][0] != t:
        contig.append((t, contiguity_row(mem)))  # the state the run stopped in
    if samples[ns - 1, W.SM_TICK] != t:
        _sample_now(sim, t, samples[ns], sfree[ns], svm[ns], sfaults[ns])  # the state the run stopped in
        ns += 1
    run = RunData(variant=variant, sim=sim, samples=samples[:ns], sample_free=sfree[:ns],
                  sample_vm=svm[:ns], sample_faults=sfaults[:ns], ticks_done=t, contiguity=contig)
    run.parts = run_parts(run)  # here, in the run's thread, beside the other variants' runs
    return run


def _sample_now(sim: Sim, tick: int, sample, free, vm, faults) -> None:
    """A timeline row after tick ``tick - 1``, as ``run_ticks`` writes one."""
    W.sample(sim.A, sim.vc, sim.S, sample)
    sample[W.SM_TICK] = tick
    free[:] = sim.mem.nr_free
    vm[:] = sim.S.vm
    faults[:] = sim.S.faults.sum(axis=1)


def _checked(memory, workload, variants, ticks, seed, gib, progress, log_traffic, params: dict) -> tuple:
    """``compare``'s arguments checked before any work: the workload, the variants, the
    workload parameters, ticks, seed and gib (the workload's defaults filled in)."""
    from mmkit.snapshot import Snapshot

    if isinstance(memory, str) and memory in PRESETS and not os.path.exists(memory):
        raise ParameterError(f"memory: {memory!r} is a workload, not a memory; the first argument of compare "
                             f"is the starting memory (None, a Memory or a snapshot folder): "
                             f"compare(workload={memory!r}, variants=...)")
    if memory is not None and not isinstance(memory, (Memory, Snapshot, str, os.PathLike)):
        raise ParameterError(f"memory: expected None (a synthetic machine), a mmkit.Memory, a Snapshot or a "
                             f"snapshot folder, got {type(memory).__name__}")
    wl = get_workload(workload)
    vs = resolve(variants)
    values = wl.params(**params)
    ticks = check_ticks(wl.ticks if ticks is None else ticks)
    seed = check_seed(seed)
    if memory is None:
        gib = check_gib(wl.gib if gib is None else gib)
    elif gib is not None:
        raise ParameterError("gib: give gib= only for a synthetic machine (memory=None)")
    if not (callable(progress) or isinstance(progress, bool)):
        raise ParameterError(f"progress: {progress!r}; give True (a bar), False or a callable f(done, total)")
    check_flag("log_traffic", log_traffic)
    return wl, vs, values, ticks, seed, gib


def compare(
    memory: Memory | str | Any | None = None,
    workload: str | Workload = "review-04",
    variants: Iterable[VariantLike] | str = COMPARE_VARIANTS,
    *,
    ticks: int | None = None,
    seed: int = 0,
    gib: float | None = None,
    cpus: int = 0,
    progress: bool | Callable[[int, int], None] = False,
    log_traffic: bool = False,
    stop: threading.Event | None = None,
    **params,
) -> Result:
    """Run one workload under each variant from the same memory and seed.

    Parameters
    ----------
    memory : None, Memory, str or Snapshot
        None: a synthetic machine of ``gib`` GiB (the workload's default size) with
        ``cpus`` CPUs' per-CPU page lists. A ``Memory``: re-encoded per variant; its CPUs
        are its own. A snapshot folder or ``Snapshot``: node 0 rebuilt, with the CPUs its
        zoneinfo lists. The synthetic machine's prefill runs under the first variant's
        per-CPU rules and v6.10's free-list rules (``workload.prefill_rules``), and each
        variant starts from that same memory.
    workload : str or Workload
        A preset name (``mmkit.workloads.PRESETS``) or a ``Workload``.
    variants : iterable of str or Variant, or "all"
        The rules to compare: named variants (``mmkit.variants()``) or ones built with
        ``Variant.replace``. By default ``mmkit.semantics.COMPARE_VARIANTS``: v4.5,
        v3-04 and v4.8 (before the series, the reviewed code, as merged).
    ticks, seed, gib
        Run length (the workload's default when None), the seed every run shares, and
        the synthetic machine's size.
    cpus : int
        Per-CPU page lists of a synthetic machine (0, the default: none).
    progress : bool or callable
        True for a bar (tqdm) or a line on stderr; a callable ``f(done, total)`` (ticks
        over all variants) is called after each chunk of ticks.
    log_traffic : bool
        Log every migration and putback, not only the faults.
    stop : threading.Event, optional
        ``stop.set()`` from another thread stops every run as an interrupt does.
    **params
        Workload parameters (``mmkit.workloads.PARAMS``), e.g. ``balloon_pages=``.

    Returns
    -------
    Result
        Per variant: the timeline, vmstat, fault counts, events, contiguity rows.

    Raises
    ------
    ParameterError
        A parameter out of range or of the wrong type (the message names it).
    VariantError
        An unknown variant name, or a combination of rules that cannot exist.
    Interrupted
        Ctrl-C, JupyterLab's stop button, SIGINT or ``stop.set()``: every run stops
        within a second (runs go in chunks of about 0.1 s and each ends after the chunk
        it is in). The message says the tick each run reached; ``.partial`` is the
        ``Result`` up to there (each timeline ends with a row at the tick it stopped at,
        ``info["stopped_at"]`` gives the ticks), or None if no run had started.

    Notes
    -----
    The results are the same bit for bit however a run is cut into chunks, and for the
    same inputs and seed. Each variant's rules, with the kernel source each models, are
    in ``mmkit.variants()`` and ``docs/modelling.md``.

    Examples
    --------
    >>> res = mmkit.compare(workload="review-04", variants=["v4.5", "v3-04", "v4.8"], gib=0.25, ticks=40)
    >>> res.table()                                    # doctest: +SKIP
    """
    wl, vs, values, ticks, seed, gib = _checked(memory, workload, variants, ticks, seed, gib, progress, log_traffic,
                                                params)
    cpus = check_cpus(cpus)
    if memory is not None and cpus:
        raise ParameterError("cpus: give cpus= only for a synthetic machine (memory=None); a Memory has its own "
                             "CPUs (Memory.synthetic(..., cpus=)) and a snapshot those its zoneinfo lists")
    stop = threading.Event() if stop is None else stop
    try:
        starts, P = _starts(memory, gib, vs, wl, values, seed, stop, cpus)
    except (KeyboardInterrupt, _Stopped):
        raise Interrupted(f"compare stopped before tick 1 of {ticks}, while making the starting memory") from None
    bar = Progress(ticks * len(vs), progress, f"{wl.name} x {len(vs)} variants", "tick")
    try:
        # one thread per variant (the kernels release the GIL): the runs differ in length,
        # and on two cores three threads end sooner than two taking turns (bench_compare)
        with ThreadPoolExecutor(max_workers=min(len(vs), MAX_THREADS)) as ex:
            futs = [ex.submit(_one_run, st, v, P, values, int(ticks), int(seed), bar, log_traffic, stop)
                    for st, v in zip(starts, vs)]
            runs = _wait_runs(futs, stop)
    finally:
        bar.close()
    done = [r for r in runs if r is not None]
    res = None
    if done:
        res = Result.build(done, workload=wl.name, params=values, ticks=int(ticks), seed=int(seed),
                           memory_desc=_describe(memory, done[0].sim.mem))
    if stop.is_set():
        at = {v.name: (r.ticks_done if r is not None else 0) for v, r in zip(vs, runs)}
        if res is not None:
            res.info["stopped_at"] = {r.variant.name: r.ticks_done for r in done}
        raise _interrupted(at, int(ticks), res)
    return res


def _starts(memory, gib, vs: list[Variant], wl: Workload, values: dict, seed: int,
            stop: threading.Event, cpus: int = 0) -> tuple[list[Callable[[], Memory]], np.ndarray]:
    """Each variant's starting memory as a function its run's thread calls, and the
    compiled parameters."""
    if memory is None:
        # the prefill consults no variant rule: fill one machine, re-encode (copy) it per variant
        base, P = _prefilled_base(gib, vs[0], wl, values, seed, stop, cpus)
        return [lambda v=v: _reencoded(base, v, stop) for v in vs], P
    first = _start_memory(memory, vs[0], None)
    P = compile_params(values, first)

    def start(v: Variant, mem: Memory | None = None) -> Memory:
        mem = mem if mem is not None else _start_memory(memory, v, None, stop)
        _prefill(mem, P, values, seed, stop)
        return mem

    return [lambda: start(vs[0], first)] + [lambda v=v: start(v) for v in vs[1:]], P


def _wait_runs(futs: list, stop: threading.Event) -> list[RunData | None]:
    """The runs' results, waited for in short sleeps so that this (main) thread handles
    Ctrl-C: then ``stop`` is set, and each run ends after the chunk it is in. A run that
    fails stops the others too."""
    try:
        while True:
            done, pending = wait(futs, timeout=WAIT_SECONDS, return_when=FIRST_EXCEPTION)
            if not pending:
                break
            if any(f.exception() is not None for f in done):
                stop.set()
                wait(futs)
                break
    except KeyboardInterrupt:
        stop.set()
        wait(futs)
    return [f.result() for f in futs]


def _interrupted(at: dict[str, int], ticks: int, res: Result | None) -> Interrupted:
    """How far each variant's run got, as ``Interrupted``'s message."""
    lo = min(at.values())
    where = f"at tick {lo} of {ticks}"
    if len(set(at.values())) > 1:
        where += " (" + ", ".join(f"{n} at {t}" for n, t in at.items()) + ")"
    hint = "; the Result up to there is the exception's .partial" if res is not None else ""
    return Interrupted(f"compare stopped {where}{hint}", partial=res, progress=f"compare stopped {where}")


def simulate(memory=None, workload: str | Workload = "review-04", variant: VariantLike = "v4.8", **kw) -> Result:
    """Run one workload under one variant: ``compare`` with ``variants=[variant]``.

    Parameters
    ----------
    memory, workload
        As for :func:`compare`.
    variant : str or Variant
        One variant (``mmkit.variants()`` lists the named ones).
    **kw
        Any other keyword of :func:`compare` (``ticks``, ``seed``, ``gib``, ``cpus``,
        ``progress``, workload parameters).

    Returns
    -------
    Result

    Raises
    ------
    ParameterError
        ``variants=`` or a list given: ``simulate`` takes one variant.

    Examples
    --------
    >>> res = mmkit.simulate(workload="zram-pressure", variant="v3-02", gib=0.25, ticks=40)
    >>> res.final()["misrouted_putback"]               # doctest: +SKIP
    """
    if "variants" in kw or isinstance(variant, (list, tuple)):
        raise ParameterError("variant: simulate takes one variant (variant='v4.8'); use compare(variants=[...]) "
                             "for several")
    return compare(memory, workload, [variant], **kw)


def _describe(memory, mem: Memory) -> str:
    size = f"{mem.nr_pages * 4096 / 2**30:g} GiB"
    if memory is None:
        return f"synthetic {size}"
    if isinstance(memory, Memory):
        return f"given Memory, {size}"
    return f"snapshot {getattr(memory, 'path', memory)}, {size}"
