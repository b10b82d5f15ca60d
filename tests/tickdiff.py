"""Differential runs of the workload tick: the engine's ``run_ticks`` (as ``compare`` runs
it, one tick at a time) against :class:`ticktwin.TickTwin` on the twin, compared after
every tick (tests and ``verification/campaign.py``)."""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np

import mmkit
from mmkit.engine import state as _st
from mmkit.engine import workload as W
from mmkit.engine.sim import Sim
from mmkit.errors import InvariantError
from mmkit.model.memory import synthetic_layout
from mmkit.reference.buddy import RefMemory
from mmkit.reference.sim import RefSim, compare_states, engine_sim_state
from mmkit.run import compile_params
from mmkit.workloads import PRESETS
from ticktwin import TickTwin

ZONES = (("DMA32", 4), ("Normal", 8))
# the presets' own mixes on a small machine, no prefill (see ticktwin), fewer ops a tick
SMALL = {"prefill": 0.0, "ops_per_tick": 120}
FIT = {"cma": {"cma_area": 0.34, "cma_blocks": 2, "cma_period": 4},
       "review-04": {"cma_area": 0.34, "cma_blocks": 2, "cma_period": 5, "balloon_pages": 60},
       "balloon-vm": {"balloon_period": 10, "balloon_pages": 150}}


def differences(e: Sim, t: RefSim) -> list[str]:
    """What differs between the two simulations (events compared without their tick: the
    twin does not keep one)."""
    out = []
    if e.vmstat != t.vmstat:
        out.append("vmstat " + str({k: (v, t.vmstat[k]) for k, v in e.vmstat.items() if v != t.vmstat[k]}))
    ea, ta = e.events()[:, 1:], t.events()[:, 1:]
    if not np.array_equal(ea, ta):
        n = min(len(ea), len(ta))
        i = next((i for i in range(n) if (ea[i] != ta[i]).any()), n)
        out.append(f"events: {len(ea)} and {len(ta)}, first differ at {i}: {ea[i:i + 1].tolist()} and "
                   f"{ta[i:i + 1].tolist()}")
    if not np.array_equal(e.fault_counts(), t.fault_counts()):
        out.append(f"fault counts differ at {np.argwhere(e.fault_counts() != t.fault_counts()).tolist()[:5]}")
    return out + compare_states(engine_sim_state(e), t.state())


def _where(err: BaseException) -> str:
    tb = traceback.extract_tb(err.__traceback__)
    return f"{Path(tb[-1].filename).name}:{tb[-1].lineno} {tb[-1].name}" if tb else "?"


def tick_differential(preset: str, variant, seed: int, ticks: int, zones=ZONES, changes: dict | None = None,
                      cpus: int = 0, gib: float | None = None, observe=None) -> tuple[int, list[str]]:
    """Run ``ticks`` ticks of ``preset`` on both, comparing them and running the engine's
    ``Sim.check()`` after each tick; the ticks run and what went wrong after the first
    tick where anything did (empty: they agree and the invariants hold throughout).
    ``cpus``: the machine's CPUs with per-CPU page lists; ``gib``: a ``Memory.synthetic(gib=)``
    layout instead of ``zones``; ``observe(engine_sim, twin_sim, t)``, if given, is called
    after each tick that agreed."""
    changes = {**SMALL, **FIT.get(preset, {}), **(changes or {})}
    layout_kw = dict(gib=gib) if gib is not None else dict(zones=list(zones))
    mem = mmkit.Memory.synthetic(**layout_kw, variant=variant, cpus=cpus)
    values = PRESETS[preset].params(**changes)
    P = compile_params(values, mem)
    kw = dict(deflate_race=values["deflate_race"], migrate_fail=values["migrate_fail"],
              concurrent_compaction=values["concurrent_compaction"], swap=values["swap"], log_traffic=True,
              event_capacity=1 << 18)
    e = Sim(mem, seed, **kw)
    twin = TickTwin(RefSim(RefMemory.boot(synthetic_layout(**layout_kw), variant, cpus), seed, **kw), P)
    e.S.st[_st.ST_CMA_START] = W.setup_cma_area(e.A, e.vc, P)
    if twin.setup() != e.S.st[_st.ST_CMA_START]:
        return 0, [f"CMA area at {twin.cma_start} and {e.S.st[_st.ST_CMA_START]}"]
    samples = np.zeros((ticks + 2, W.NR_SM), dtype=np.int64)
    sfree = np.zeros((ticks + 2, mem.nr_zones, mem.nr_free.shape[1]), dtype=np.int64)
    svm = np.zeros((ticks + 2, _st.NR_VMSTAT), dtype=np.int64)
    sfaults = np.zeros((ticks + 2, _st.NR_EVENTS), dtype=np.int64)
    diff = differences(e, twin.s)
    if diff:
        return 0, ["before tick 0:", *diff]
    for t in range(ticks):
        W.run_ticks(e.A, e.vc, e.S, P, t, t + 1, ticks, samples, sfree, svm, sfaults)
        try:
            twin.tick(t, ticks)
        except Exception as err:  # noqa: BLE001 - the twin's own failure, reported with the engine's state
            diff = [f"the twin raised {type(err).__name__} in tick {t}: {err} (at {_where(err)})"]
        else:
            diff = differences(e, twin.s)
        try:
            e.check()
        except InvariantError as err:
            diff.append(f"Sim.check(): {err}")
        if diff:
            return t + 1, [f"after tick {t}:", *diff]
        if observe is not None:
            observe(e, twin.s, t)
    return ticks, []
