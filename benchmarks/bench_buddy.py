"""Buddy allocator speed: allocations + frees per second, engine vs the Python twin on the
same operation sequence, and bytes per page frame. Run: python benchmarks/bench_buddy.py"""

from __future__ import annotations

import argparse
import time

import numpy as np

import mmkit
from mmkit.engine.alloc import OP_ALLOC, OP_FREE
from mmkit.engine.pages import run_ops
from mmkit.model.memory import synthetic_layout
from mmkit.reference import RefMemory

KINDS = {0: (3, 5, 4), 1: (7, 8), 2: (6,)}  # migratetype -> kinds it allocates


def make_ops(mem: mmkit.Memory, n: int, seed: int) -> np.ndarray:
    """A replayable sequence: run it once on ``mem`` op by op, recording each op."""
    rng = np.random.default_rng(seed)
    ops = np.zeros((n, 7), dtype=np.int64)
    live: list[tuple[int, int]] = []
    orders = np.array([0] * 12 + [1] * 3 + [2, 2, 3, 4, 9])
    row = np.zeros((1, 7), dtype=np.int64)
    for k in range(n):
        if live and rng.random() < 0.48:
            pfn, order = live.pop(int(rng.integers(len(live))))
            row[0] = (OP_FREE, pfn, order, 0, 0, 0, 0)
        else:
            mt = int(rng.choice([0, 1, 1, 1, 1, 2]))
            kinds = KINDS[mt]
            order = int(orders[rng.integers(len(orders))])
            row[0] = (OP_ALLOC, order, mt, kinds[int(rng.integers(len(kinds)))], 16, mem.nr_zones - 1, int(order > 0))
        ops[k] = row[0]
        r = run_ops(mem, row)[0]
        if row[0, 0] == OP_ALLOC and r >= 0:
            live.append((int(r), int(row[0, 1])))
    return ops


def replay_twin(twin: RefMemory, ops: np.ndarray) -> None:
    for op, a, b, c, d, e, f in ops.tolist():
        if op == OP_ALLOC:
            twin.alloc_pages(a, b, c, d, e, bool(f))
        else:
            twin.free_pages(a, b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--twin-ops", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    rec = mmkit.Memory.synthetic(gib=a.gib)
    ops = make_ops(rec, a.ops, a.seed)
    run_ops(mmkit.Memory.synthetic(mib=64), ops[:1])  # compile outside the timing

    mem = mmkit.Memory.synthetic(gib=a.gib)
    t = time.perf_counter()
    out = run_ops(mem, ops)
    t_engine = time.perf_counter() - t
    mem.check()
    assert np.array_equal(mem.kind, rec.kind), "replay diverged from the recording"

    twin = RefMemory.boot(synthetic_layout(gib=a.gib))
    sub = ops[: a.twin_ops]
    t = time.perf_counter()
    replay_twin(twin, sub)
    t_twin = time.perf_counter() - t

    eng_rate = len(ops) / t_engine
    twin_rate = len(sub) / t_twin
    failed = int(((ops[:, 0] == OP_ALLOC) & (out < 0)).sum())
    print(f"machine: {a.gib:g} GiB, {mem.nr_pages} page frames, {mem.nr_zones} zones")
    print(f"bytes per page frame: {mem.nbytes_per_page:.3f} (page arrays {mem.nr_pages * 24 / 2**20:.1f} MiB + list heads)")
    print(f"engine: {len(ops)} ops ({failed} failed allocations) in {t_engine * 1e3:.1f} ms = {eng_rate / 1e6:.2f} M ops/s")
    print(f"twin:   {len(sub)} ops in {t_twin * 1e3:.1f} ms = {twin_rate / 1e3:.1f} k ops/s")
    print(f"engine/twin speed ratio: {eng_rate / twin_rate:.0f}x")


if __name__ == "__main__":
    main()
