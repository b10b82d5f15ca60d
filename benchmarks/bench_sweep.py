"""Sweep throughput: cells per minute on the local process pool and on a 2-worker Dask
LocalCluster, for the same grid.

The issue's sweep is 200 cells of 16 GiB machines, half ``review-04`` and half
``zram-pressure``, each cell a compare of v4.5, v3-04 and v4.8 at the workload's own
length; those are the defaults. On 2 cores a 16 GiB cell takes about 9 s (the prefill of
the machine is most of it), so the full sweep takes about half an hour per executor;
``--cells`` and ``--gib`` make it smaller. The time counted is the whole ``sweep`` call:
starting the pool's processes (the Dask cluster is started before, as a real one would
be) and loading the compiled kernels in each worker included.

Run: python benchmarks/bench_sweep.py [--cells 200] [--gib 16] [--workers N] [--only local|dask] [--serial]
"""

from __future__ import annotations

import argparse
import time

import mmkit
from mmkit.sweep.local import default_workers

WORKLOADS = ("review-04", "zram-pressure")
VARIANTS = ("v4.5", "v3-04", "v4.8")


def grid(cells: int) -> dict:
    per = max(cells // len(WORKLOADS), 1)
    return {"workload": list(WORKLOADS), "seed": list(range(1, per + 1))}


def report(what: str, n: int, seconds: float) -> None:
    print(f"  {what:<34} {n} cells in {seconds:6.1f} s: {60 * n / seconds:6.1f} cells per minute")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=200, help="cells, split between the two workloads (default 200)")
    p.add_argument("--gib", type=float, default=16, help="machine size in GiB (default 16)")
    p.add_argument("--ticks", type=int, default=None, help="ticks per run (default: each workload's own)")
    p.add_argument("--workers", type=int, default=default_workers(), help="local pool processes (default: cores)")
    p.add_argument("--only", choices=("local", "dask"), default=None, help="run one executor only")
    p.add_argument("--serial", action="store_true",
                   help="also run the cells one after another in this process, for comparison")
    args = p.parse_args(argv)
    g = grid(args.cells)
    n = len(g["workload"]) * len(g["seed"])
    kw = {"gib": args.gib, "ticks": args.ticks, "variants": list(VARIANTS)}
    mmkit.simulate(workload="review-04", gib=0.25, ticks=5)  # compile (or load) the engine once, here
    length = f"{args.ticks} ticks" if args.ticks else "each workload's own length"
    print(f"sweep of {n} cells ({', '.join(WORKLOADS)}; {args.gib:g} GiB; variants {', '.join(VARIANTS)}; "
          f"{length}), {default_workers()} cores:")
    frames = {}
    if args.serial:
        from mmkit.sweep.cell import run_cell
        from mmkit.sweep.grid import plan

        cells = plan(g, **kw)
        t = time.perf_counter()
        for cell in cells.cells:
            run_cell(cell, cells.metrics, cells.thin)
        report("this process, one cell at a time", n, time.perf_counter() - t)
    if args.only in (None, "local"):
        t = time.perf_counter()
        frames["local"] = mmkit.sweep(g, **kw, workers=args.workers)
        report(f"local pool, {args.workers} processes", n, time.perf_counter() - t)
    if args.only in (None, "dask"):
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            t = time.perf_counter()
            frames["dask"] = mmkit.sweep(g, **kw, client=client)
            report("Dask LocalCluster, 2 workers", n, time.perf_counter() - t)
    if len(frames) == 2:
        same = frames["local"].equals(frames["dask"])
        print(f"  frames identical: {same}")


if __name__ == "__main__":
    main()
