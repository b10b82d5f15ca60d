"""The engine's cold compile: ``python -m mmkit.warmup`` in a fresh, empty numba cache,
timed from the shell's side, as a new user's first run meets it.

Run: python benchmarks/bench_cold_compile.py            the warm-up as run.sh runs it
     python benchmarks/bench_cold_compile.py --profile  one process, with numba's event
                                                        recorder: where the time goes

``--profile`` attributes every second of the compile to exactly one place, with numba's
own events (``numba.core.event``: ``numba:compile``, ``numba:run_pass``,
``numba:llvm_lock``), nested as they happen (a callee is compiled inside its caller's
type inference): the seconds of each compiler pass and of LLVM, and of each function
(its own passes, not its callees'). The recorder costs a few per cent.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROFILE = r"""
import collections, json, sys, time
from numba.core import event as ev
import mmkit.warmup as W

bufs = []
t0 = time.perf_counter()
with ev.install_recorder("numba:compile") as c, ev.install_recorder("numba:run_pass") as p, \
        ev.install_recorder("numba:llvm_lock") as l:
    W.warm(jobs=1, quiet=True)
wall = time.perf_counter() - t0
events = sorted(c.buffer + p.buffer + l.buffer, key=lambda te: te[0])
own_pass = collections.Counter()
own_func = collections.Counter()
specs = collections.defaultdict(list)
n_compiles = 0
stack = []  # [kind, name, func, start, child_seconds]
for t, e in events:
    if e.is_start:
        if e.kind == "numba:compile":
            d = e.data["dispatcher"]
            func = d.py_func.__module__ + "." + d.py_func.__qualname__
            name = "compile"
            n_compiles += 1
            specs[func].append(str(e.data["args"]))
        elif e.kind == "numba:run_pass":
            func, name = e.data["module"] + "." + e.data["qualname"], e.data["name"].split(" [")[0]
        else:
            func, name = (stack[-1][2] if stack else "?"), "LLVM"
        stack.append([e.kind, name, func, t, 0.0])
    else:
        kind, name, func, start, child = stack.pop()
        dur = t - start
        if stack:
            stack[-1][4] += dur
        own_pass[name] += dur - child
        own_func[func] += dur - child
print(json.dumps({"wall": wall, "compiles": n_compiles, "passes": own_pass.most_common(),
                  "functions": own_func.most_common(), "specs": specs}))
"""


def cold_warmup(env: dict) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mmkit.warmup"], env=env, check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", action="store_true", help="one process, with numba's event recorder")
    ap.add_argument("--top", type=int, default=25, help="functions to list with --profile")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mmkit-cold-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        if not args.profile:
            secs = cold_warmup(env)
            print(f"cold compile (python -m mmkit.warmup, empty cache, {os.cpu_count()} CPUs): {secs:.0f} s")
            return
        import json

        out = subprocess.run([sys.executable, "-c", PROFILE], env=env, check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        total = sum(s for _, s in r["passes"])
        print(f"cold compile in one process: {r['wall']:.0f} s wall, {total:.0f} s inside numba, "
              f"{r['compiles']} compilations")
        print("\nby compiler pass (own seconds; LLVM = optimisation and machine code):")
        for name, s in r["passes"][:15]:
            print(f"  {s:7.1f} s  {100 * s / total:5.1f} %  {name}")
        multi = sorted(((len(v), k) for k, v in r["specs"].items() if len(v) > 1), reverse=True)
        print(f"\n{len(r['specs'])} functions compiled, {len(multi)} of them more than once "
              f"(one per argument types):")
        for n, name in multi[:args.top]:
            print(f"  {n:3d}x {name}")
        if os.environ.get("MMKIT_PROFILE_JSON"):
            Path(os.environ["MMKIT_PROFILE_JSON"]).write_text(json.dumps(r))
        print(f"\nby function (own seconds: its passes and LLVM, not its callees'), top {args.top}:")
        for name, s in r["functions"][:args.top]:
            print(f"  {s:7.1f} s  {name}")


if __name__ == "__main__":
    main()
