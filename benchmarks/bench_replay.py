"""Replay speed and memory (issue #19 §2): events replayed per second per variant, the
whole replay against the recording's own duration, the replay's memory against the
start snapshot's Memory.

    .venv/bin/python benchmarks/bench_replay.py [--trace DIR] [--variants v4.5,v4.8,v6.18]

Prints, for the trace: its events and recorded seconds; per variant the engine loop's
rate (``replay_ticks`` alone, all ticks in one call, from the same start); then the whole
``mmkit.replay`` (snapshot rebuilt, variants in parallel threads, timeline samples,
contiguity rows) against the recording's duration; and the replay's own arrays (the
object tables) against the start Memory's arrays.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", type=Path, default=ROOT / "data" / "trace-sample")
    ap.add_argument("--variants", default="v4.5,v4.8,v6.18")
    args = ap.parse_args(argv)

    import mmkit
    import mmkit.trace
    from mmkit.engine import replay as R
    from mmkit.engine.sim import Sim
    from mmkit.run import _reencoded
    from mmkit.from_snapshot import build_memory
    from mmkit.trace.replay import replay_ops

    import threading

    tr = mmkit.trace.load(args.trace)
    vs = args.variants.split(",")
    t0 = time.perf_counter()
    base = build_memory(tr.start_snapshot(), vs[0])
    t_build = time.perf_counter() - t0
    ro = replay_ops(tr, base)
    m = ro.ops.shape[0]
    rec = tr.meta.get("durations_s", {})
    recorded = float(rec.get("tracing", ro.info["seconds"]))
    print(f"trace {args.trace}: {m:,} page events ({ro.info['allocs']:,} allocations, {ro.info['frees']:,} frees) "
          f"over {ro.info['seconds']} s; recording took {recorded} s; start memory "
          f"{base.nr_pages * 4096 / 2**30:g} GiB, rebuilt in {t_build:.2f} s")
    mem_bytes = sum(getattr(base, n).nbytes for n in base.__dataclass_fields__
                    if isinstance(getattr(base, n), np.ndarray))
    for v in vs:
        mem = _reencoded(base, mmkit.variant(v), threading.Event())
        sim = Sim(mem, 0)
        state = R.begin_replay(sim)
        t0 = time.perf_counter()
        R.replay_ticks(sim.A, sim.vc, sim.S, ro.ops, 0, 0, ro.ticks, *state, ro.proactive_period, ro.tick_ns)
        dt = time.perf_counter() - t0
        extra = sim.S.obj_page.nbytes + sum(a.nbytes for a in state)
        print(f"  {v:<8} engine loop: {dt:.3f} s, {m / dt / 1e6:.2f} M events/s; replay state "
              f"{extra / 2**20:.0f} MiB = {extra / mem_bytes:.2f} x the start Memory ({mem_bytes / 2**20:.0f} MiB)")
    t0 = time.perf_counter()
    res = mmkit.replay(args.trace, vs)
    wall = time.perf_counter() - t0
    print(f"mmkit.replay, {len(vs)} variants in parallel: {wall:.2f} s in all ({res.info['replay_seconds']:.2f} s "
          f"after the start memory and the operations), against {recorded} s recorded: "
          f"{recorded / wall:.2f} x real time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
