"""``simulate`` and ``compare``: the one place that ties a memory, a workload, variants
and the engine together and returns polars results (DESIGN.md)."""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

import numpy as np

from mmkit.engine import state as _st
from mmkit.engine import workload as W
from mmkit.engine.encode import reencode
from mmkit.engine.sim import Sim
from mmkit.errors import ParameterError
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, PageKind
from mmkit.model.memory import Memory
from mmkit.result import Result, RunData, run_parts
from mmkit.semantics import Variant, VariantLike, resolve
from mmkit.workloads import Workload, workload as get_workload
from mmkit.workloads.presets import PRESETS

# workload parameter -> engine P_* slot
SLOTS = {
    "ops_per_tick": W.P_OPS, "target_used": W.P_TARGET_USED_PPM, "churn": W.P_CHURN_PPM,
    "mix_anon": W.P_MIX_ANON, "mix_file": W.P_MIX_FILE, "mix_slab": W.P_MIX_SLAB,
    "mix_slab_reclaimable": W.P_MIX_SLAB_RECLAIMABLE, "mix_kernel": W.P_MIX_KERNEL,
    "mix_pagetable": W.P_MIX_PAGETABLE, "order2_rate": W.P_ORDER2_PPM, "order3_rate": W.P_ORDER3_PPM,
    "thp_rate": W.P_THP_PPM, "file_dirty": W.P_FILE_DIRTY_PPM, "file_checked": W.P_FILE_CHECKED_PPM,
    "file_fscache": W.P_FILE_FSCACHE_PPM, "file_unevictable": W.P_FILE_UNEVICTABLE_PPM,
    "file_mapped": W.P_FILE_MAPPED_PPM, "pinned_rate": W.P_PINNED_PPM, "zram_swapin": W.P_ZRAM_SWAPIN_PPM,
    "balloon_period": W.P_BALLOON_PERIOD, "balloon_pages": W.P_BALLOON_PAGES, "cma_period": W.P_CMA_PERIOD,
    "cma_blocks": W.P_CMA_BLOCKS, "kcompactd": W.P_KCOMPACTD, "sample_every": W.P_SAMPLE_EVERY,
}
MAX_TICKS = 1_000_000
CHUNKS = 10  # a run is cut into this many chunks for progress and interruption
MAX_THREADS = 16


def compile_params(params: dict[str, Any], mem: Memory) -> np.ndarray:
    """The engine's int64 parameter array for validated workload ``params``."""
    from mmkit.workloads import PARAMS

    P = np.zeros(W.NR_P, dtype=np.int64)
    for name, slot in SLOTS.items():
        P[slot] = PARAMS[name].engine_value(params[name])
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


def _start_memory(memory, variant: Variant, gib: float | None) -> Memory:
    """The starting Memory for ``variant``: synthetic, from a snapshot, or re-encoded."""
    if memory is None:
        return Memory.synthetic(gib=gib, variant=variant)
    if isinstance(memory, Memory):
        return reencode(memory, variant)
    from mmkit import snapshot as _snap

    snap = memory if isinstance(memory, _snap.Snapshot) else _snap.load(memory)
    return Memory.from_snapshot(snap, variant=variant)


# The last synthetic machine ``compare`` prefilled, with its compiled parameters: the
# prefill consults no variant rule and is a pure function of this key, so a compare that
# changes only the variants, the ticks or a parameter the prefill does not read (the
# Explorer's usual re-run) starts from a copy instead of filling the machine again.
_PREFILLED: dict = {}
_PREFILLED_LOCK = threading.Lock()
_PREFILL_MEMO_MAX_PAGES = 1 << 22  # 16 GiB: ~100 MB held


def _prefilled_base(gib: float, v0: Variant, wl: Workload, values: dict, seed: int) -> tuple[Memory, np.ndarray]:
    """A synthetic ``gib`` GiB machine under ``v0`` after the workload's prefill, and the
    compiled parameters; the caller must copy the Memory before running on it."""
    key = (float(gib), tuple(v0.compile().tolist()), wl.name, repr(sorted(values.items())), int(seed))
    with _PREFILLED_LOCK:
        hit = _PREFILLED.get(key)
    if hit is not None:
        return hit
    base = Memory.synthetic(gib=gib, variant=v0)
    P = compile_params(values, base)
    _prefill(base, P, values, seed)
    if base.nr_pages <= _PREFILL_MEMO_MAX_PAGES:
        with _PREFILLED_LOCK:
            _PREFILLED.clear()
            _PREFILLED[key] = (base, P)
    return base, P


def _prefill(mem: Memory, P: np.ndarray, values: dict, seed: int) -> None:
    """The CMA area is reserved first, as at boot (``cma_init_reserved_areas`` runs before
    anything else allocates): its pageblocks then only ever take movable pages. The
    workload's prefill follows."""
    sim = Sim(mem, seed)
    W.setup_cma_area(sim.A, sim.vc, P)
    if values["prefill"] > 0:
        W.prefill(sim.A, sim.vc, sim.S, P, int(round(values["prefill"] * 1_000_000)))


def _one_run(start: Callable[[], Memory], variant: Variant, P: np.ndarray, params: dict, ticks: int, seed: int,
             progress_cb, log_traffic: bool) -> RunData:
    mem = start()  # the variant's starting memory, made in the run's thread
    sim = Sim(mem, seed, deflate_race=params["deflate_race"], migrate_fail=params["migrate_fail"],
              concurrent_compaction=params["concurrent_compaction"], swap=params["swap"],
              log_traffic=log_traffic, event_capacity=1 << 18)
    cma_start = W.setup_cma_area(sim.A, sim.vc, P)  # reserved before the prefill: here it finds it so
    sim.S.st[_st.ST_CMA_START] = cma_start
    every = max(int(P[W.P_SAMPLE_EVERY]), 1)
    nsamples = ticks // every + 2
    samples = np.zeros((nsamples, W.NR_SM), dtype=np.int64)
    sfree = np.zeros((nsamples, mem.nr_zones, mem.nr_free.shape[1]), dtype=np.int64)
    svm = np.zeros((nsamples, _st.NR_VMSTAT), dtype=np.int64)
    sfaults = np.zeros((nsamples, _st.NR_EVENTS), dtype=np.int64)
    # sample 0: the starting state
    W.sample(sim.A, sim.vc, sim.S, samples[0])
    samples[0, W.SM_TICK] = 0
    sfree[0] = mem.nr_free
    sim.S.st[_st.ST_NS] = 1
    bounds = np.linspace(0, ticks, min(CHUNKS, ticks) + 1).astype(np.int64)
    for a, b in zip(bounds[:-1], bounds[1:]):
        W.run_ticks(sim.A, sim.vc, sim.S, P, int(a), int(b), ticks, samples, sfree, svm, sfaults)
        if progress_cb is not None:
            progress_cb(int(b - a))
    ns = int(sim.S.st[_st.ST_NS])
    run = RunData(variant=variant, sim=sim, samples=samples[:ns], sample_free=sfree[:ns],
                  sample_vm=svm[:ns], sample_faults=sfaults[:ns])
    run.parts = run_parts(run)  # here, in the run's thread, beside the other variants' runs
    return run


class _Progress:
    """tqdm.auto in notebooks and terminals when installed; otherwise a plain line."""

    def __init__(self, total: int, enabled, desc: str) -> None:
        self.callback = enabled if callable(enabled) else None  # progress=f: f(done, total)
        enabled = bool(enabled) and self.callback is None
        self.enabled, self.total, self.done, self.bar = enabled, total, 0, None
        self.t0 = time.perf_counter()
        self.lock = threading.Lock()
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc=desc, unit="tick")
            except ImportError:
                print(f"{desc}: {total} ticks", file=sys.stderr)

    def __call__(self, n: int) -> None:
        with self.lock:  # one call per chunk, from the variants' threads: in order
            self.done += n
            if self.callback is not None:
                self.callback(self.done, self.total)
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled:
            print(f"\r{self.done}/{self.total} ticks", end="", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            print(f" done in {time.perf_counter() - self.t0:.1f} s", file=sys.stderr)


def compare(
    memory: Memory | str | Any | None = None,
    workload: str | Workload = "review-04",
    variants: Iterable[VariantLike] | str = ("v4.5", "v3-04", "v4.8"),
    *,
    ticks: int | None = None,
    seed: int = 0,
    gib: float | None = None,
    progress: bool | Callable[[int, int], None] = False,
    log_traffic: bool = False,
    **params,
) -> Result:
    """Run one workload under each variant from the same memory and seed.

    ``memory``: None (a synthetic machine of ``gib`` GiB, the workload's default size),
    a ``Memory`` (re-encoded per variant), a snapshot folder or ``Snapshot``.
    ``params``: workload parameters (``mmkit.workloads.PARAMS``). ``progress``: True for
    a bar (tqdm) or a line on stderr, or a callable ``f(done, total)`` (ticks over all
    variants) called after each chunk of ticks. Returns a ``Result``.
    """
    if isinstance(memory, str) and memory in PRESETS and not os.path.exists(memory):
        raise ParameterError(f"memory: {memory!r} is a workload, not a memory; the first argument of compare "
                             f"is the starting memory (None, a Memory or a snapshot folder): "
                             f"compare(workload={memory!r}, variants=...)")
    wl = get_workload(workload)
    vs = resolve(variants)
    values = wl.params(**params)
    if ticks is None:
        ticks = wl.ticks
    if not isinstance(ticks, (int, np.integer)) or not 1 <= ticks <= MAX_TICKS:
        raise ParameterError(f"ticks: {ticks!r} is out of range; allowed integer 1..{MAX_TICKS}")
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ParameterError(f"seed: {seed!r} is out of range; allowed integer 0..2**63-1")
    if memory is None and gib is None:
        gib = wl.gib
    elif memory is not None and gib is not None:
        raise ParameterError("gib: give gib= only for a synthetic machine (memory=None)")
    # each variant's starting memory is made in its run's thread
    if memory is None:
        # the prefill consults no variant rule: fill one machine, re-encode (copy) it per variant
        base, P = _prefilled_base(gib, vs[0], wl, values, seed)
        starts = [lambda v=v: reencode(base, v) for v in vs]
    else:
        first = _start_memory(memory, vs[0], None)
        P = compile_params(values, first)

        def start(v: Variant, mem: Memory | None = None) -> Memory:
            mem = mem if mem is not None else _start_memory(memory, v, None)
            _prefill(mem, P, values, seed)
            return mem

        starts = [lambda: start(vs[0], first)] + [lambda v=v: start(v) for v in vs[1:]]
    bar = _Progress(ticks * len(vs), progress, f"{wl.name} x {len(vs)} variants")
    try:
        # one thread per variant (the kernels release the GIL): the runs differ in length,
        # and on two cores three threads end sooner than two taking turns (bench_compare)
        with ThreadPoolExecutor(max_workers=min(len(vs), MAX_THREADS)) as ex:
            futs = [ex.submit(_one_run, st, v, P, values, int(ticks), int(seed), bar, log_traffic)
                    for st, v in zip(starts, vs)]
            runs = [f.result() for f in futs]
    finally:
        bar.close()
    return Result.build(runs, workload=wl.name, params=values, ticks=int(ticks), seed=int(seed),
                        memory_desc=_describe(memory, runs[0].sim.mem))


def simulate(memory=None, workload: str | Workload = "review-04", variant: VariantLike = "v4.8", **kw) -> Result:
    """``compare`` with one variant."""
    if "variants" in kw:
        raise ParameterError("simulate takes variant=; use compare for several variants")
    return compare(memory, workload, [variant], **kw)


def _describe(memory, mem: Memory) -> str:
    size = f"{mem.nr_pages * 4096 / 2**30:g} GiB"
    if memory is None:
        return f"synthetic {size}"
    if isinstance(memory, Memory):
        return f"given Memory, {size}"
    return f"snapshot {getattr(memory, 'path', memory)}, {size}"
