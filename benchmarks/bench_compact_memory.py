"""A simulated ``compact_memory`` of real machine states against the kernel's own.

Each argument is the folder of a run of ``verification/compaction_vs_kernel.py`` on this
machine: its ``before/`` snapshot (state A, captured just before the kernel compacted)
and, in ``figures.json``, how long the kernel's ``echo 1 > /proc/sys/vm/compact_memory``
took. For each, with a warm numba cache, the best of ``--repeat`` runs of:

* the engine's compaction alone: every zone of a fresh simulation of the state compacted
  whole, as ``compact_nodes`` does (``Sim.compact_memory``);
* ``mmkit.compact_memory`` as a user calls it: that, plus the copy of the Memory, a fresh
  simulation and the vmstat deltas.

and each as a multiple of the kernel's speed.

Run: python benchmarks/bench_compact_memory.py RUN_DIR [RUN_DIR ...] [--repeat 5]
(``sudo python verification/compaction_vs_kernel.py --out RUN_DIR`` makes a run folder.)"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import mmkit
from mmkit.engine.sim import Sim


def _engine_only(mem) -> float:
    """The seconds of the engine's compaction of a fresh simulation of a copy of ``mem``
    (the copy and the simulation's setup not counted)."""
    sim = Sim(mem.copy(), 0)
    t = time.perf_counter()
    sim.compact_memory()
    return time.perf_counter() - t


def _user(mem) -> float:
    """The seconds of ``mmkit.compact_memory(mem)``, all of it."""
    t = time.perf_counter()
    mmkit.compact_memory(mem)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", type=Path, help="folders of verification/compaction_vs_kernel.py runs")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each measure; the best is printed (default 5)")
    ap.add_argument("--variant", default="v6.18", help="the rules simulated (default v6.18)")
    a = ap.parse_args(argv)
    if a.repeat < 1:
        ap.error("--repeat: give 1 or more")
    if not a.runs:
        print("no run folder given: a run of verification/compaction_vs_kernel.py on this machine makes one "
              "(it compacts the real machine: root); nothing measured")
        return 0
    print(f"{'run':<12} {'pages':>10} {'kernel s':>9} {'engine s':>9} {'x kernel':>9} {'compact_memory s':>17} "
          f"{'x kernel':>9}")
    for run in a.runs:
        try:
            kernel_s = float(json.loads((run / "figures.json").read_text())["run"]["compact_seconds"])
            mem = mmkit.Memory.from_snapshot(mmkit.snapshot.load(str(run / "before")), variant=a.variant)
        except (OSError, KeyError, ValueError, mmkit.MmkitError) as e:
            print(f"{run}: not a compaction_vs_kernel run folder ({e})", file=sys.stderr)
            return 2
        mmkit.compact_memory(mem)  # the first call in the process (cache loads) is not timed
        eng = min(_engine_only(mem) for _ in range(a.repeat))
        user = min(_user(mem) for _ in range(a.repeat))
        print(f"{run.name:<12} {mem.nr_pages:>10,} {kernel_s:>9.3f} {eng:>9.3f} {kernel_s / eng:>8.1f}x "
              f"{user:>17.3f} {kernel_s / user:>8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
