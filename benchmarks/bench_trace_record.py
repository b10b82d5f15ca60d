"""Recording speed of ``mmkit.trace.record`` on a machine whose page allocator is driven
hard: events per second recorded, events per second decoded, and the kernel's lost-event
counts per CPU. Root only.

The workload is a small C program compiled at run time (gcc): one process per CPU
(``--procs``), each mapping ``--mib`` MiB of anonymous memory (no THP), writing one byte
per page (one ``mm_page_alloc`` each), unmapping it (frees, mostly batched), again and
again; ``--rate`` paces each process to that many pages per second (0: as fast as it
goes).

Run: ``sudo .venv/bin/python benchmarks/bench_trace_record.py --seconds 10``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mmkit.trace
from mmkit.trace.decode import CpuPages, decode
from mmkit.trace.record import load_formats

C_SOURCE = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
    size_t mib = strtoul(argv[1], 0, 10);
    double seconds = atof(argv[2]);
    double rate = atof(argv[3]);           /* pages per second, 0 = unpaced */
    size_t len = mib << 20, pages = len / 4096, done = 0;
    double t0 = now();
    while (now() - t0 < seconds) {
        char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { perror("mmap"); return 1; }
        madvise(p, len, MADV_NOHUGEPAGE);
        for (size_t i = 0; i < pages; i++) {
            p[i * 4096] = 1;
            if (rate > 0 && (++done & 255) == 0) {
                double ahead = done / rate - (now() - t0);
                if (ahead > 0) usleep((useconds_t)(ahead * 1e6));
            }
        }
        munmap(p, len);
    }
    return 0;
}
"""


def build(tmp: Path) -> Path:
    src = tmp / "churn.c"
    src.write_text(C_SOURCE)
    exe = tmp / "churn"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True)
    return exe


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="recording window (default 10)")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="workload processes (default: one per CPU)")
    ap.add_argument("--mib", type=int, default=64, help="MiB each process maps per round (default 64)")
    ap.add_argument("--rate", type=float, default=0.0, help="pages/s per process, 0 = as fast as it goes")
    ap.add_argument("--buffer-kb", type=int, default=None, help="ring buffer per CPU (default: record's)")
    ap.add_argument("--out", default=None, help="trace folder (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_trace_record: needs root", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mmkit-bench-trace-") as td:
        tmp = Path(td)
        exe = build(tmp)
        out = Path(args.out) if args.out else tmp / "trace"
        # the workload runs from before the start snapshot to the end of the recording
        # window; the window between the snapshots is what the first rate measures
        span = args.seconds + 30
        procs = [subprocess.Popen([str(exe), str(args.mib), str(span), str(args.rate)]) for _ in range(args.procs)]
        try:
            time.sleep(0.5)
            def stop_workload(done: float, total: float) -> None:  # at the end of the window
                if done >= total:
                    for p in procs:
                        p.kill()

            info = mmkit.trace.record(out, args.seconds, buffer_kb=args.buffer_kb, overwrite=True,
                                      progress=stop_workload, attempts=1, keep_raw=True)
        finally:
            for p in procs:
                p.kill()
                p.wait()
        # decode again now that the workload is stopped: record's own decode ran beside it
        header, _, formats = load_formats(out / "formats")
        t0 = time.perf_counter()
        pages = [CpuPages(c, np.fromfile(out / "raw" / f"cpu{c}.raw", np.uint8), f"cpu{c}.raw") for c in info.cpus]
        t_read = time.perf_counter() - t0
        frame = decode(pages, header, formats).frame
        t_decode = time.perf_counter() - t0
        del pages, frame
        if not args.out:
            shutil.rmtree(out / "raw")
        t0 = time.perf_counter()
        tr = mmkit.trace.load(out)
        t_load = time.perf_counter() - t0
        t = tr.meta["times_ns"]
        window = tr.events.filter(pl.col("ts_ns").is_between(t["start_snapshot_end_ns"], t["record_end_ns"]))
        wsec = (t["record_end_ns"] - t["start_snapshot_end_ns"]) / 1e9
        print(f"workload: {args.procs} processes x {args.mib} MiB map/touch/unmap, rate "
              f"{'unpaced' if not args.rate else f'{args.rate:,.0f} pages/s each'}; buffer {info.buffer_kb} KiB per CPU")
        print(f"recording window: {window.height:,} events in {wsec:.2f} s = {window.height / wsec:,.0f} events/s recorded")
        print(f"whole trace (with both snapshots): {info.events:,} events in {info.seconds:.2f} s = "
              f"{info.record_rate:,.0f} events/s; raw {info.raw_bytes / 1e6:.1f} MB")
        print(f"decode inside record: {info.parse_seconds:.2f} s = {info.parse_rate:,.0f} events/s")
        print(f"decode, quiet machine: {info.events:,} events in {t_decode:.2f} s (reading the raw files {t_read:.2f} s) "
              f"= {info.events / t_decode:,.0f} events/s parsed")
        print(f"load of events.parquet: {t_load:.2f} s = {info.events / t_load:,.0f} events/s; "
              f"{(out / 'events.parquet').stat().st_size / 1e6:.1f} MB on disk")
        for c, d in info.lost.items():
            print(f"cpu{c}: lost {d['dropped_events'] + d['overrun']} (dropped_events {d['dropped_events']}, "
                  f"overrun {d['overrun']}, commit_overrun {d['commit_overrun']}, pages flagged missed "
                  f"{d['pages_missed']}, missed count stored {d['missed_stored']})")
        print(f"lost total: {info.lost_total}")
        print("events:", ", ".join(f"{k} {v:,}" for k, v in sorted(info.counts.items(), key=lambda kv: -kv[1])))
    return 0 if info.lost_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
