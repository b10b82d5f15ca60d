"""Full compaction of a fragmented 16 GiB zone: pages scanned per second by each scanner
and migrations per second, measured in one run; and, when the Python twin has the
rules, the engine/twin speed ratio on the same small workload.

Run: python benchmarks/bench_compaction.py [--gib 16]"""

from __future__ import annotations

import argparse
import time

import numpy as np

import mmkit
from mmkit.engine import populate
from mmkit.engine import workload as W
from mmkit.engine.sim import Sim
from mmkit.model.kinds import PageKind


def fragmented(gib: float, seed: int) -> Sim:
    """One Normal zone filled to 90% with anonymous pages, then every other one freed."""
    mem = mmkit.Memory.synthetic(zones=[("Normal", int(gib * 1024))], variant="v4.8")
    sim = Sim(mem, seed)
    P = np.zeros(W.NR_P, dtype=np.int64)
    P[W.P_MIX_ANON] = 1
    W.prefill(sim.A, sim.vc, sim.S, P, 900_000)
    anon = np.flatnonzero(mem.kind == PageKind.ANON)
    rng = np.random.default_rng(seed)
    victims = rng.choice(anon, size=len(anon) // 2, replace=False)
    for pfn in victims.tolist():
        populate.free_user_page(sim.A, sim.vc, pfn)
    return sim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gib", type=float, default=16.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    fragmented(0.25, a.seed).compact_memory()  # compile outside the timing
    sim = fragmented(a.gib, a.seed)
    before = sim.vmstat
    t = time.perf_counter()
    res = sim.compact_memory()
    dt = time.perf_counter() - t
    after = sim.vmstat
    d = {k: after[k] - before[k] for k in after}
    sim.check()
    print(f"zone: {a.gib:g} GiB ({sim.mem.nr_pages} page frames), result {res}")
    print(f"full compaction: {dt * 1e3:.0f} ms")
    print(f"migrate scanner: {d['compact_migrate_scanned']} pages, {d['compact_migrate_scanned'] / dt / 1e6:.1f} M pages/s")
    print(f"free scanner:    {d['compact_free_scanned']} pages, {d['compact_free_scanned'] / dt / 1e6:.1f} M pages/s")
    print(f"migrations:      {d['pgmigrate_success']} pages, {d['pgmigrate_success'] / dt / 1e6:.2f} M/s")

    try:
        from mmkit.reference import RefSim  # the twin grows the engine's rules
    except ImportError:
        print("engine/twin ratio: the Python twin has no compaction yet")
        return
    ratio(a.seed)


def ratio(seed: int) -> None:
    """The same small workload (16 MiB, fragmented, then compacted) in engine and twin."""
    from mmkit.model.memory import synthetic_layout
    from mmkit.reference import RefSim

    def build_engine():
        s = Sim(mmkit.Memory.synthetic(zones=[("Normal", 16)], variant="v4.8"), seed)
        pf = s.anon(3600)
        s.free(pf[::2])
        return s

    def build_twin():
        from mmkit.reference import RefMemory

        s = RefSim(RefMemory.boot(synthetic_layout(zones=[("Normal", 16)]), "v4.8"), seed)
        pf = s.anon(3600)
        s.free(pf[::2])
        return s

    build_engine().compact_memory()
    e = build_engine()
    t = time.perf_counter()
    e.compact_memory()
    te = time.perf_counter() - t
    tw = build_twin()
    t = time.perf_counter()
    tw.compact_memory()
    tt = time.perf_counter() - t
    print(f"small workload (16 MiB compact_memory): engine {te * 1e3:.2f} ms, twin {tt * 1e3:.1f} ms, "
          f"engine/twin speed ratio {tt / te:.0f}x")


if __name__ == "__main__":
    main()
