"""compare() speed and memory: the default review-04 scenario (4 GiB, 3 variants,
default ticks) with a warm numba cache, in this process and in a fresh process, and what
the contiguity rows (``Result.contiguity``) cost; and
the peak memory of a steady run on a 64 GiB machine.

Run: python benchmarks/bench_compare.py"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import mmkit

VARIANTS = ["v4.5", "v3-04", "v4.8"]

FRESH = """
import time
t = time.perf_counter()
import mmkit
r = mmkit.compare(workload="review-04", variants={variants!r}, seed=1)
print(time.perf_counter() - t)
"""

BIG = """
import resource, time, mmkit
t = time.perf_counter()
r = mmkit.simulate(workload="steady", variant="v4.8", gib=64, ticks={ticks}, seed=1)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
"""


def main() -> None:
    mmkit.compare(workload="review-04", variants=VARIANTS, seed=1, gib=0.25, ticks=5)  # warm the cache
    new, repeat = float("inf"), float("inf")
    for seed in (11, 12, 13):
        t = time.perf_counter()
        mmkit.compare(workload="review-04", variants=VARIANTS, seed=seed)  # a machine not filled before
        new = min(new, time.perf_counter() - t)
        t = time.perf_counter()
        mmkit.compare(workload="review-04", variants=VARIANTS, seed=seed)  # the same machine again
        repeat = min(repeat, time.perf_counter() - t)
    print(f"compare review-04 (4 GiB, {len(VARIANTS)} variants, default ticks), warm, best of 3:")
    print(f"  a new machine (prefill included): {new * 1e3:.0f} ms")
    print(f"  the same machine again (prefilled machine reused): {repeat * 1e3:.0f} ms")
    # the contiguity rows (Result.contiguity, nine per run) against runs without them, in turn
    import mmkit.run as _run

    row = _run.contiguity_row
    with_rows, without = float("inf"), float("inf")
    for _ in range(4):
        t = time.perf_counter()
        mmkit.compare(workload="review-04", variants=VARIANTS, seed=11)
        with_rows = min(with_rows, time.perf_counter() - t)
        _run.contiguity_row = lambda mem: {}
        try:
            t = time.perf_counter()
            mmkit.compare(workload="review-04", variants=VARIANTS, seed=11)
            without = min(without, time.perf_counter() - t)
        finally:
            _run.contiguity_row = row
    print(f"  contiguity rows: {with_rows * 1e3:.0f} ms with, {without * 1e3:.0f} ms without "
          f"(x{with_rows / without:.2f}, the same machine, best of 4)")
    out = subprocess.run([sys.executable, "-c", FRESH.format(variants=VARIANTS)], capture_output=True, text=True, check=True)
    print(f"fresh process, warm cache, import + first compare: {float(out.stdout.strip()):.2f} s")
    ticks = 20
    out = subprocess.run([sys.executable, "-c", BIG.format(ticks=ticks)], capture_output=True, text=True, check=True)
    secs, gib = (float(x) for x in out.stdout.split())
    print(f"steady on 64 GiB ({ticks} ticks): {secs:.1f} s, peak resident memory {gib:.2f} GiB")
    print(f"(this process peak: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB)")


if __name__ == "__main__":
    main()
