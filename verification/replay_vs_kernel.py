"""Replay against reality: record workloads on this machine, replay each under the
variants, compare the replay's end with the real end snapshot (issue #19 §2).

Run as root from the repository root::

    .venv/bin/python verification/replay_vs_kernel.py --seconds 20 --out /tmp/replays

For each workload: ``mmkit trace record`` while it runs (the workload starts three seconds
after the recording does, in a child process), then ``mmkit.replay`` under v6.18 (and
``--variants``), then one row per (workload, variant) of ``mmkit.versus_real``: free
pages by order (L1 share of the real free pages), unusable index at order 9 of Normal,
migrations, compaction stalls, simulated against real; with the replay's speed. The
workloads:

- ``compileall``: ``python -m compileall -f -j 2`` over the venv's site-packages (many
  small files read and written, short-lived processes);
- ``copy-anon``: write 1.5 GiB to a file, churn 200 MB of anonymous arrays, copy the
  file (page cache, large folios, anonymous THPs);
- ``fragmenter``: ``verification/capture_fragmented.py``'s steps (4 GiB anonymous held
  as every other page, 10000 small files with every other deleted, THPs faulted until
  Normal has no order-9 block), held until the recording ends, then released;
- ``compaction``: 14 GiB anonymous held as every other page, THPs (``MADV_HUGEPAGE``)
  faulted until Normal has no free order-9 block and then ``--extra-thp`` more, each of
  which the kernel can only make by direct compaction (migrating the held pages), held
  until the recording ends. The recording must be long enough for all of it
  (``--seconds 40`` here);
- ``compaction-full``: as ``compaction`` on the whole of Normal. Before the recording,
  all but 512 MiB of the available memory is faulted in and released (the kernel
  initialises the rest of Normal and drops its page cache); the workload then holds
  every other page of all but 1.5 GiB of what is available, and faults THPs as
  ``compaction`` does (``--seconds 60``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
EXTRA_THP = 300

COPY_ANON = """
import numpy as np, os, shutil, sys, time
d = sys.argv[1]
with open(os.path.join(d, 'big'), 'wb') as f:
    for _ in range(1536):
        f.write(os.urandom(1 << 20))
xs = []
for i in range(40):
    xs.append(np.ones(20_000_000, dtype=np.int8))
    if len(xs) > 10:
        xs.pop(0)
shutil.copy(os.path.join(d, 'big'), os.path.join(d, 'big2'))
os.sync()
"""

COMPACTION = """
import mmap, sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
import capture_fragmented as c
if sys.argv[5] == "all":  # all but 1.5 GiB of what is available
    avail = int(next(l.split()[1] for l in open('/proc/meminfo') if l.startswith('MemAvailable:'))) << 10
    held = c.fragment_anon((avail - (1536 << 20)) / (1 << 30))
else:
    held = c.fragment_anon(float(sys.argv[5]))
huge = 2 << 20
extra = int(sys.argv[4])
mm = mmap.mmap(-1, (4096 + extra + 1) * huge, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
view = np.frombuffer(mm, dtype=np.uint8)
base = (-view.ctypes.data) % huge
mm.madvise(mmap.MADV_HUGEPAGE, base, (4096 + extra) * huge)
n = 0
while n < 4096 and sum(c.zone_free_counts("Normal")[9:]):
    view[base + n * huge] = 1
    n += 1
for i in range(extra):
    view[base + (n + i) * huge] = 1
print(n, "THPs from free blocks,", extra, "more", file=sys.stderr)
time.sleep(float(sys.argv[3]))
"""


# Before the compaction-full recording: fault in all but 512 MiB of what is available
# and exit, so that the kernel has initialised every frame of Normal (deferred struct
# page init) and dropped most of its page cache; the workload then fragments the whole
# zone and the kernel has no fresh pageblock left to give.
PRIME = """
import mmap
import numpy as np
avail = int(next(l.split()[1] for l in open('/proc/meminfo') if l.startswith('MemAvailable:'))) << 10
mm = mmap.mmap(-1, avail - (512 << 20), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
np.frombuffer(mm, dtype=np.uint8)[::4096] = 1
"""

FRAGMENTER = """
import sys, time
sys.path.insert(0, sys.argv[2])
import capture_fragmented as c
from pathlib import Path
mm = c.fragment_anon(4)
c.churn_files(Path(sys.argv[1]), 10000)
held, n = c.eat_high_orders('Normal', 9, 400)
time.sleep(float(sys.argv[3]))
"""


def workload_cmd(name: str, tmp: Path, seconds: float, extra_thp: int = EXTRA_THP) -> list[str]:
    if name == "compileall":
        return [sys.executable, "-m", "compileall", "-f", "-q", "-j", "2", sysconfig.get_paths()["purelib"]]
    if name == "copy-anon":
        return [sys.executable, "-c", COPY_ANON, str(tmp)]
    if name == "fragmenter":
        return [sys.executable, "-c", FRAGMENTER, str(tmp), str(HERE), str(seconds)]
    if name in ("compaction", "compaction-full"):
        gib = "14" if name == "compaction" else "all"
        return [sys.executable, "-c", COMPACTION, str(tmp), str(HERE), str(seconds), str(extra_thp), gib]
    raise SystemExit(f"unknown workload {name!r}")


def record_one(name: str, out: Path, seconds: float, extra_thp: int = EXTRA_THP) -> Path:
    import mmkit.trace

    dest = out / name
    if name == "compaction-full":
        subprocess.run([sys.executable, "-c", PRIME], check=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        cmd = workload_cmd(name, Path(tmp), seconds, extra_thp)
        proc = subprocess.Popen(["bash", "-c", 'sleep 3; exec "$@"', "_", *cmd], stdout=subprocess.DEVNULL)
        try:
            mmkit.trace.record(dest, seconds, overwrite=True, progress=False)
        finally:
            proc.wait()
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/mmkit-replays"))
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workloads", default="compileall,copy-anon,fragmenter")
    ap.add_argument("--variants", default="v6.18")
    ap.add_argument("--replay-only", action="store_true", help="replay traces already in --out")
    ap.add_argument("--record-only", action="store_true", help="record the traces, do not replay them")
    ap.add_argument("--extra-thp", type=int, default=EXTRA_THP, help="THPs past the last free order-9 block "
                                                                      "(the compaction workload)")
    args = ap.parse_args(argv)
    import mmkit

    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.workloads.split(","):
        path = args.out / name
        if not args.replay_only:
            t0 = time.perf_counter()
            record_one(name, args.out, args.seconds, args.extra_thp)
            print(f"{name}: recorded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if args.record_only:
            continue
        t0 = time.perf_counter()
        res = mmkit.replay(path, args.variants.split(","))
        wall = time.perf_counter() - t0
        tr = res.info["trace"]
        vs = mmkit.versus_real(res)
        for r in vs.iter_rows(named=True):
            c = res.info["replay"][r["variant"]]
            rows.append({"workload": name, "variant": r["variant"], "seconds": tr["seconds"],
                         "events": tr["allocs"] + tr["frees"], "lost": tr["lost_events"],
                         "free_real": r["free_pages_real"], "free_sim": r["free_pages_sim"],
                         "L1": r["free_l1_share"], "unusable9_real": r["unusable_9_real"],
                         "unusable9_sim": r["unusable_9_sim"],
                         "migrated_real": r["pgmigrate_success_real"], "migrated_sim": r["pgmigrate_success_sim"],
                         "stalls_real": r["compact_stall_real"], "stalls_sim": r["compact_stall_sim"],
                         "unknown_frees": c["free_unknown"], "alloc_failed": c["alloc_failed"],
                         "migrated_src": c["migrated"], "orphans_freed": c["orphan_freed"],
                         "replay_s": round(wall, 2), "replay_loop_s": res.info["replay_seconds"]})
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=250, float_precision=3):
        print(pl.DataFrame(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
