"""Differential runs of the workload tick on fresh seeds: each run a preset (its own
mix, on a small machine, no prefill), a named or user-built variant and a seed, the
engine's ``run_ticks`` against the twin (``tests/ticktwin.py``), compared and checked
(``Sim.check()``) after every tick (``tests/tickdiff.py``).

How to run (from the repository root)::

    .venv/bin/python verification/tick_differential.py --runs 20            # a fresh seed
    .venv/bin/python verification/tick_differential.py --runs 20 --seed 7   # seed 7
    .venv/bin/python verification/tick_differential.py --repro 3 --seed 7   # run 3 of seed 7
    .venv/bin/python verification/tick_differential.py --runs 20 --cpus 2 --gib 0.125  # per-CPU lists

The seed comes first, with the command that repeats the run. Each run's line is printed
before it starts, so a run that never ends (an engine loop) is the last line; with
``--hang-seconds`` the process then stops with a traceback.
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "verification"))

from seeds import announce  # noqa: E402
from soak import random_variant  # noqa: E402
from tickdiff import tick_differential  # noqa: E402

from mmkit.workloads import PRESETS  # noqa: E402


def case_of(index: int, seed: int) -> tuple[str, object, int, int]:
    """Run ``index`` of ``seed``: (preset, variant, the run's seed, ticks)."""
    rng = np.random.default_rng([seed, index, 4])
    presets = sorted(PRESETS)
    preset = presets[int(rng.integers(len(presets)))]
    return preset, random_variant(rng), int(rng.integers(2**40)), int(rng.integers(10, 31))


def describe(index: int, seed: int) -> str:
    preset, variant, s, ticks = case_of(index, seed)
    return f"run {index}: {preset}, {getattr(variant, 'name', variant)}, seed {s}, {ticks} ticks"


def one(index: int, seed: int, cpus: int = 0, gib: float | None = None) -> list[str]:
    """What went wrong in run ``index`` (empty: nothing); an exception from either side
    is reported with its innermost frames. ``cpus``, ``gib``: a machine of ``gib`` GiB
    (default: the small two-zone one) with that many CPUs' per-CPU page lists."""
    preset, variant, s, ticks = case_of(index, seed)
    try:
        return tick_differential(preset, variant, s, ticks, cpus=cpus, gib=gib)[1]
    except Exception as e:  # noqa: BLE001 - reported, and the next run goes on
        return ["".join(traceback.format_exception(type(e), e, e.__traceback__, limit=-6))]


def campaign(runs: int, seed: int, hang_seconds: float = 0.0, cpus: int = 0,
             gib: float | None = None) -> tuple[int, list[tuple[int, list[str]]], float]:
    """Runs ``0..runs-1``: (runs done, failures (index, what), seconds)."""
    t0 = time.perf_counter()
    failures = []
    for i in range(runs):
        print(describe(i, seed), flush=True)
        if hang_seconds:
            faulthandler.dump_traceback_later(hang_seconds, exit=True)
        problems = one(i, seed, cpus, gib)
        faulthandler.cancel_dump_traceback_later()
        if problems:
            failures.append((i, problems))
            machine = (f" --cpus {cpus}" if cpus else "") + (f" --gib {gib}" if gib is not None else "")
            print("  " + "\n  ".join(problems)[:3000] + f"\n  replay: .venv/bin/python verification/tick_differential.py "
                  f"--repro {i} --seed {seed}{machine}", flush=True)
    return runs, failures, time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None, help="default: a fresh one, printed first")
    ap.add_argument("--repro", type=int, metavar="RUN", help="run number RUN again")
    ap.add_argument("--hang-seconds", type=float, default=600.0, help="stop after a run this long (0: never)")
    ap.add_argument("--cpus", type=int, default=0, help="CPUs with per-CPU page lists (default 0: none)")
    ap.add_argument("--gib", type=float, default=None,
                    help="a synthetic machine of this size (default: DMA32 4 MiB + Normal 8 MiB)")
    args = ap.parse_args(argv)
    if args.repro is not None:
        if args.seed is None:
            ap.error("--repro needs the --seed of the run it replays")
        print(describe(args.repro, args.seed))
        problems = one(args.repro, args.seed, args.cpus, args.gib)
        print("\n".join(problems) or "the engine and the twin agree; the invariants hold")
        return 1 if problems else 0
    seed = announce("verification/tick_differential.py", args.seed, sys.argv[1:] if argv is None else argv)
    runs, failures, seconds = campaign(args.runs, seed, args.hang_seconds, args.cpus, args.gib)
    print(f"{runs} runs, {len(failures)} failed {[i for i, _ in failures]}, {seconds:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
