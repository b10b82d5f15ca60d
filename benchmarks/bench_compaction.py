"""Full compaction of a fragmented 16 GiB zone: pages scanned per second by each scanner
and migrations per second, measured in one run; and, when the Python twin has the
rules, the engine/twin speed ratio on the same small workload.

Run: python benchmarks/bench_compaction.py [--gib 16] [--small-mib 64]"""

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
    W.prefill(sim.A, sim.vc, sim.S, P, 900_000, -1)
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
    ap.add_argument("--small-mib", type=int, default=64, help="size of the engine/twin workload")
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

    scanners_alone(a.gib, a.seed)
    ratio(a.seed, a.small_mib)


def scanners_alone(gib: float, seed: int) -> None:
    """Each scanner over the whole fragmented zone without migrating: the migrate scanner
    isolates pages (batches of 32) and puts each batch back; the free scanner isolates
    every free page and releases them. Their rates include that isolation work. The loops
    over pageblocks are jitted too, so no Python call sits between batches."""
    from numba import njit

    from mmkit.engine import compaction as C
    from mmkit.engine.migrate import putback_movable_pages
    from mmkit.engine.state import HEAD_MIGRATEPAGES, VM_COMPACT_FREE_SCANNED, VM_COMPACT_MIGRATE_SCANNED
    from mmkit.model.kinds import PAGEBLOCK_NR_PAGES

    @njit(_nrt=False)  # as the engine's kernels: no reference counting in the loops
    def migrate_scan(A, vc, S, cc, start, end):
        for b in range(start, end, PAGEBLOCK_NR_PAGES):
            pfn = b
            while pfn < b + PAGEBLOCK_NR_PAGES:
                cc[C.CC_NR_MIGRATE] = 0
                pfn = C.isolate_migratepages_block(A, vc, S, cc, pfn, b + PAGEBLOCK_NR_PAGES, HEAD_MIGRATEPAGES)
                putback_movable_pages(A, vc, S, HEAD_MIGRATEPAGES)

    @njit(_nrt=False)  # as the engine's kernels: no reference counting in the loops
    def free_scan(A, vc, S, cc, start, end):
        cc[C.CC_NR_MIGRATE] = 1 << 40  # never enough: take every free page
        cc[C.CC_NR_FREE] = 0
        C.isolate_freepages_block(A, vc, S, cc, start, end, 1, True)  # stride 1: every page frame
        C.release_freepages(A, vc, C.HEAD_FREEPAGES)

    small = fragmented(0.25, seed)  # compile outside the timing
    cc = C.new_cc(0, -1, True, True)
    for fn in (migrate_scan, free_scan):
        fn(small.A, small.vc, small.S, cc, int(small.A.zone_start[0]), int(small.A.zone_end[0]))

    sim = fragmented(gib, seed)
    A, vc, S = sim.A, sim.vc, sim.S
    start, end = int(A.zone_start[0]), int(A.zone_end[0])
    for name, fn, slot in (("migrate", migrate_scan, VM_COMPACT_MIGRATE_SCANNED),
                           ("free", free_scan, VM_COMPACT_FREE_SCANNED)):
        before = int(S.vm[slot])
        t = time.perf_counter()
        fn(A, vc, S, cc, start, end)
        dt = time.perf_counter() - t
        n = int(S.vm[slot]) - before
        print(f"{name} scanner alone: {n} pages in {dt * 1e3:.0f} ms, {n / dt / 1e6:.1f} M pages/s")
    sim.check()


def ratio(seed: int, mib: int) -> None:
    """The same small workload (``mib`` MiB filled to 90% with anonymous pages, every
    other one freed, then compact_memory) in engine and twin; the engine's time is the
    best of five (it includes the Python call into the kernel)."""
    from mmkit.model.memory import synthetic_layout
    from mmkit.reference import RefMemory, RefSim

    n = mib * 256 * 9 // 10

    def build(twin: bool):
        if twin:
            s = RefSim(RefMemory.boot(synthetic_layout(zones=[("Normal", mib)]), "v4.8"), seed)
        else:
            s = Sim(mmkit.Memory.synthetic(zones=[("Normal", mib)], variant="v4.8"), seed)
        pf = s.anon(n)
        s.free(pf[::2])
        return s

    def timed(s) -> float:
        t = time.perf_counter()
        s.compact_memory()
        return time.perf_counter() - t

    timed(build(False))
    te = min(timed(build(False)) for _ in range(5))
    tt = timed(build(True))
    print(f"small workload ({mib} MiB compact_memory): engine {te * 1e3:.2f} ms, twin {tt * 1e3:.0f} ms, "
          f"engine/twin speed ratio {tt / te:.0f}x")


if __name__ == "__main__":
    main()
