"""A long verification campaign: the soak and the fuzzers across many fresh seeds, and the
hypothesis properties of ``tests/test_soak.py`` and ``tests/test_fuzz.py`` unseeded
(``derandomize`` off, a fresh hypothesis seed each).

How to run (from the repository root)::

    .venv/bin/python verification/campaign.py --seeds 10 --runs 1000 --fuzz-inputs 100000 --tick-runs 20
    .venv/bin/python verification/campaign.py --seeds 2 --runs 100 --fuzz-inputs 10000  # small
    .venv/bin/python verification/campaign.py --seed-list 7,8 --runs 100  # given seeds

Seeds are fresh (from the operating system) unless ``--seed-list`` gives them; each is
printed before its work, with the soak's and the fuzzer's commands for that seed. At the
end: per seed and in all, the soak runs and operations, violations, owner findings, the
fuzzed inputs and their untyped exceptions (failures, hangs, crashes), the hypothesis
properties run and failed, the time and the throughput (runs/s, inputs/s). Each violation, finding and
failure is printed with its replay command and minimal operation list. A hypothesis
failure is printed shrunk: keep it as a regression test (``@example`` or a test of its
own). Exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "verification"))
sys.path.insert(0, str(ROOT / "tests"))

import fuzz  # noqa: E402
import soak  # noqa: E402
import tick_differential  # noqa: E402
from seeds import fresh_seed  # noqa: E402

FUZZ_TOTAL = sum(fuzz.SHARE.values())  # inputs at --scale 1


def hypothesis_properties(workdir: Path):
    """(name, property, arguments) of each hypothesis property of the soak and the fuzz
    tests, imported under a profile without derandomize or example database (pytest's
    conftest, not loaded here, derandomizes them): each property keeps its own number of
    examples, and ``hypothesis.seed`` picks them."""
    from hypothesis import settings

    settings.register_profile("campaign", derandomize=False, database=None, deadline=None)
    settings.load_profile("campaign")  # before the imports: the properties' settings inherit it
    import test_fuzz
    import test_soak

    props = [("test_soak.random_operations", test_soak.test_random_operations_keep_every_invariant, ())]
    props += [(f"test_fuzz.parser[{n}]", test_fuzz.test_parser_on_corrupted_real_files, (n,)) for n in fuzz.TEXT_NAMES]
    props += [("test_fuzz.page_types_bits", test_fuzz.test_page_types_bits_specs, ()),
              ("test_fuzz.arrays", test_fuzz.test_arrays_in_every_form, (workdir,)),
              ("test_fuzz.snapshot", test_fuzz.test_snapshot_folder_through_every_reader, (workdir,)),
              ("test_fuzz.from_snapshot", test_fuzz.test_memory_from_corrupted_snapshot, (workdir,))]
    return props


def run_hypothesis(seed: int, workdir: Path) -> tuple[int, list[str]]:
    """Each property from hypothesis seed ``seed``: the properties run and the failures
    (hypothesis's shrunk falsifying example)."""
    from hypothesis import seed as hseed

    failures = []
    props = hypothesis_properties(workdir)
    for name, prop, args in props:
        try:
            hseed(seed)(prop)(*args)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failures.append(f"{name} (hypothesis seed {seed}): "
                            + "".join(traceback.format_exception(type(e), e, None)).strip()[-3000:])
    return len(props), failures


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="fresh seeds to run")
    ap.add_argument("--seed-list", help="comma-separated seeds instead of fresh ones")
    ap.add_argument("--runs", type=int, default=1000, help="soak runs per seed")
    ap.add_argument("--fuzz-inputs", type=int, default=100_000, help="fuzzed inputs per seed (every target)")
    ap.add_argument("--tick-runs", type=int, default=0, help="workload-tick differential runs per seed")
    ap.add_argument("--snapshot-runs", type=int, default=0,
                    help="soak runs per seed on the bundled real snapshot (soak.py --snapshot)")
    ap.add_argument("--hypothesis", action="store_true",
                    help="also each hypothesis property of tests/test_soak.py and tests/test_fuzz.py per seed")
    ap.add_argument("--workdir", type=Path, default=None, help="the fuzzers' work folder (default: a new one)")
    ap.add_argument("--shrink-budget", type=float, default=120.0)
    args = ap.parse_args(argv)
    seeds = ([int(s) for s in args.seed_list.split(",") if s] if args.seed_list
             else [fresh_seed() for _ in range(args.seeds)])
    workdir = fuzz.workdir_for(args.workdir or Path(tempfile.mkdtemp(prefix="mmkit-campaign-")))
    scale = args.fuzz_inputs / FUZZ_TOTAL
    print(f"campaign: seeds {seeds}; {args.runs} soak runs, ~{args.fuzz_inputs} fuzzed inputs "
          f"{'and the hypothesis properties ' if args.hypothesis else ''}per seed; fuzz work folder {workdir}", flush=True)
    rows = []
    bad = 0
    t_all = time.perf_counter()
    for seed in seeds:
        print(f"\n== seed {seed}: .venv/bin/python verification/soak.py --runs {args.runs} --seed {seed}; "
              f".venv/bin/python verification/fuzz.py --scale {scale:g} --seed {seed}", flush=True)
        row = {"seed": seed}
        if args.runs:
            s = soak.soak(args.runs, seed, progress=False)
            row.update(runs=len(s.outcomes), ops=sum(o.ops for o in s.outcomes), soak_s=s.seconds,
                       violations=sum(len(o.violations) for o in s.outcomes),
                       findings=sum(len(o.findings) for o in s.outcomes))
            if row["violations"] or row["findings"]:
                bad += soak.report(s, seed, shrink_budget=args.shrink_budget)
        if args.snapshot_runs:
            s = soak.soak(args.snapshot_runs, seed, progress=False, snapshot=True)
            row.update(snap_runs=len(s.outcomes), snap_ops=sum(o.ops for o in s.outcomes), snap_s=s.seconds,
                       snap_violations=sum(len(o.violations) for o in s.outcomes),
                       snap_findings=sum(len(o.findings) for o in s.outcomes))
            if row["snap_violations"] or row["snap_findings"]:
                bad += soak.report(s, seed, shrink_budget=args.shrink_budget)
        if args.fuzz_inputs:
            t0 = time.perf_counter()
            tallies = fuzz.fuzz(list(fuzz.SHARE), seed, scale, workdir, progress=False)
            row.update(inputs=sum(t.tried for t in tallies), untyped=sum(len(t.failures) for t in tallies),
                       fuzz_s=time.perf_counter() - t0)
            if row["untyped"]:
                bad += fuzz.report(tallies, seed, row["fuzz_s"], workdir)
        if args.tick_runs:
            n, fails, secs = tick_differential.campaign(args.tick_runs, seed, hang_seconds=600)
            row.update(tick_runs=n, tick_fail=len(fails), tick_s=secs)
            bad += bool(fails)
        if args.hypothesis:
            t0 = time.perf_counter()
            row["properties"], fails = run_hypothesis(seed, workdir)
            row.update(hyp_fail=len(fails), hyp_s=time.perf_counter() - t0)
            for f in fails:
                print("hypothesis failure (keep its shrunk example as a regression test):\n  " + f, flush=True)
            bad += bool(fails)
        rows.append(row)
        print(" ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    total = time.perf_counter() - t_all

    def tot(k):
        return sum(r.get(k, 0) for r in rows)

    print(f"\n{'seed':>11} {'runs':>6} {'ops':>7} {'viol':>5} {'find':>5} {'soak s':>7} {'runs/s':>7} "
          f"{'inputs':>8} {'untyped':>8} {'fuzz s':>7} {'inp/s':>7} {'ticks':>5} {'t fail':>6} {'tick s':>7} {'h props':>7} {'hyp fail':>8}")
    for r in rows + [dict(seed="total", **{k: tot(k) for k in ("runs", "ops", "violations", "findings", "soak_s",
                                                                  "inputs", "untyped", "fuzz_s", "tick_runs", "tick_fail",
                                                                  "tick_s", "properties", "hyp_fail")})]:
        print(f"{r['seed']:>11} {r.get('runs', 0):>6} {r.get('ops', 0):>7} {r.get('violations', 0):>5} "
              f"{r.get('findings', 0):>5} {r.get('soak_s', 0):>7.1f} {r.get('runs', 0) / max(r.get('soak_s', 0), 1e-9):>7.2f} "
              f"{r.get('inputs', 0):>8} {r.get('untyped', 0):>8} {r.get('fuzz_s', 0):>7.1f} "
              f"{r.get('inputs', 0) / max(r.get('fuzz_s', 0), 1e-9):>7.1f} {r.get('tick_runs', 0):>5} "
              f"{r.get('tick_fail', 0):>6} {r.get('tick_s', 0):>7.1f} {r.get('properties', 0):>7} "
              f"{r.get('hyp_fail', 0):>8}")
    if tot("snap_runs"):
        print(f"on the real snapshot ({soak.SNAPSHOT_DIR.name}): {tot('snap_runs')} runs, {tot('snap_ops')} operations, "
              f"{tot('snap_violations')} violations, {tot('snap_findings')} findings, {tot('snap_s'):.0f} s")
    print(f"seeds {seeds}; total time {total:.0f} s; {'FAILURES above' if bad else 'no failures'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
