"""Fragment this machine's free memory on purpose, then capture a snapshot while it lasts.

How (run as root, from the repository root)::

    .venv/bin/python verification/capture_fragmented.py data/fragmented --gib 6 --files 20000

1. Map ``--gib`` GiB of anonymous memory with ``MADV_NOHUGEPAGE`` (4 KiB pages only, so
   the holes below are real order-0 holes, not parts of a THP) and write one byte into
   every page, so each page frame is allocated.
2. ``madvise(MADV_DONTNEED)`` every other page: half the frames go back to the buddy
   allocator, each next to a frame still held, so they cannot merge.
3. Write ``--files`` small files (4 to 64 KiB, sizes from a fixed seed) into a
   temporary folder beside the output, ``fsync`` them, and delete every other one: page
   cache pages freed in between pages still cached.
4. Eat the zone's remaining order >= ``--eat-from`` blocks (default 9): fault in
   transparent huge pages (``MADV_HUGEPAGE``, one 2 MiB page at a time, each taking an
   order-9 block or splitting an order-10 one) until buddyinfo shows none left in the
   ``--zone`` (default Normal), at most ``--max-thp`` of them. Then the kernel's
   extfrag_index for those orders leaves its ``-1.000`` branch ("an allocation would
   succeed") and shows the real formula.
5. With all that still held, call ``mmkit.snapshot.capture(OUT)``, then print buddyinfo
   and check that mmkit's debugfs text equals the kernel's.
6. Release the memory and delete the files.

The Normal zone of the machine this was written on grows its managed pages on demand
(deferred struct page init), so asking for more memory than is already initialised
consumes the new sections too and leaves Normal short of order-9/10 blocks, which makes
the kernel's extfrag_index leave its ``-1.000`` branch.
"""

from __future__ import annotations

import argparse
import mmap
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PAGE = mmap.PAGESIZE


def fragment_anon(gib: float) -> mmap.mmap:
    size = int(gib * (1 << 30)) // PAGE * PAGE
    mm = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    mm.madvise(mmap.MADV_NOHUGEPAGE)
    view = np.frombuffer(mm, dtype=np.uint8)
    view[::PAGE] = 1  # fault in every page
    del view
    for off in range(PAGE, size, 2 * PAGE):  # free every other page
        mm.madvise(mmap.MADV_DONTNEED, off, PAGE)
    return mm


def churn_files(folder: Path, count: int, seed: int = 4) -> None:
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        p = folder / f"f{i:06d}"
        with open(p, "wb") as f:
            f.write(os.urandom(rng.randrange(1, 17) * 4096))
        paths.append(p)
    os.sync()
    for p in paths[::2]:
        p.unlink()


def zone_free_counts(zone: str) -> list[int]:
    for line in Path("/proc/buddyinfo").read_text().splitlines():
        toks = line.replace(",", " ").split()
        if toks[3] == zone:
            return [int(t) for t in toks[4:]]
    raise SystemExit(f"zone {zone} not in /proc/buddyinfo")


def eat_high_orders(zone: str, from_order: int, max_thp: int) -> tuple[mmap.mmap, int]:
    huge = 2 << 20
    mm = mmap.mmap(-1, (max_thp + 1) * huge, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    view = np.frombuffer(mm, dtype=np.uint8)
    base = (-view.ctypes.data) % huge  # first 2 MiB-aligned offset
    mm.madvise(mmap.MADV_HUGEPAGE, base, max_thp * huge)
    n = 0
    while n < max_thp and sum(zone_free_counts(zone)[from_order:]):
        view[base + n * huge] = 1
        n += 1
    del view
    return mm, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="snapshot folder to create")
    ap.add_argument("--gib", type=float, default=6.0, help="anonymous memory to fragment (GiB)")
    ap.add_argument("--files", type=int, default=20000, help="small files to write (half are deleted)")
    ap.add_argument("--zone", default="Normal", help="zone whose high-order blocks to eat")
    ap.add_argument("--eat-from", type=int, default=9, help="eat free blocks of this order and above")
    ap.add_argument("--max-thp", type=int, default=512, help="at most this many huge pages (2 MiB each)")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import mmkit.metrics
    import mmkit.snapshot

    if args.out.exists():
        print(f"{args.out} exists; remove it first", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    mm = fragment_anon(args.gib)
    print(f"anonymous memory fragmented in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="mmkit-frag-", dir=args.out.resolve().parent))
    try:
        churn_files(scratch, args.files)
        print(f"files written and half deleted at {time.monotonic() - t0:.1f} s", file=sys.stderr)
        eater, n = eat_high_orders(args.zone, args.eat_from, args.max_thp)
        print(f"{n} huge pages faulted in; {args.zone} free counts now {zone_free_counts(args.zone)}",
              file=sys.stderr)
        snap = mmkit.snapshot.capture(args.out)
        print(Path("/proc/buddyinfo").read_text(), end="", file=sys.stderr)
        print(f"capture: {snap.meta['capture_seconds']} s, attempts {snap.meta['attempts']}, "
              f"consistent {snap.meta['consistent']}", file=sys.stderr)
        print("debugfs identical:", ", ".join(mmkit.metrics.check(snap)), file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        mm.close()
        if "eater" in locals():
            eater.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
