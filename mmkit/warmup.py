"""Compile the engine on a fresh machine in two processes at once.

numba compiles a kernel on its first call, with every kernel it calls, one after another
in one process, and keeps each on disk (``mmkit.engine.CACHE_DIR``). The compaction
kernels (``try_to_compact_pages`` and everything under it: ``compact_zone``, both
scanners, ``migrate_pages``) call nothing of the allocator's slow path, and the rest of
the engine needs them only from ``alloc_pages_slowpath`` on. So a second process
compiles them while this one compiles boot, reclaim, the zsmalloc and balloon owners,
the samplers and the snapshot rebuild. On top of the compaction kernels, in a second
round, a second process compiles ``prefill`` (the allocation path inlined into it) while
this one compiles the tick and the allocation path it calls. Then this one runs the
workloads under every variant, finding everything in the cache (the gain, measured:
``docs/performance.md``). On a machine with one core it is one process; with a warm
cache (a mark file in the cache folder) it returns at once. ``tests/test_warmup.py``
checks, from the kernels' own source, that every kernel is reached.

Run: ``python -m mmkit.warmup`` (``run.sh`` does, before the main job and the tests).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import sys
import time
from pathlib import Path

_MARK = "mmkit-warm"  # written into the cache folder once everything is compiled
_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "fragmented"  # a source checkout's snapshot


def _machine():
    from mmkit.engine.sim import Sim
    from mmkit.model.memory import Memory

    mem = Memory.synthetic(gib=0.25, variant="v4.8")
    return Sim(mem, 0)


def _compaction_side() -> None:
    """The compaction kernels (in the second process)."""
    from mmkit.engine import page_alloc as _pa
    from mmkit.engine.buddy import MOVABLE
    from mmkit.model.kinds import PAGEBLOCK_NR_PAGES

    sim = _machine()
    _pa.try_to_compact_pages(sim.A, sim.vc, sim.S, 9, MOVABLE, sim.zone_hi, False)
    sim.compact_memory()
    sim.proactive_compact()
    end = int(sim.mem.zone_end[sim.zone_hi]) // PAGEBLOCK_NR_PAGES * PAGEBLOCK_NR_PAGES
    sim.alloc_contig_range(end - 4 * PAGEBLOCK_NR_PAGES, end)


def _other_side():
    """What needs no compaction kernel: reclaim, zsmalloc and the balloon, the free
    paths, the samplers, kpageflags, the invariant check, the allocator's op rows and the
    snapshot rebuild with its report; returns the rebuilt snapshot (None outside a source checkout)."""
    import numpy as np

    from mmkit.engine import reclaim as _rc
    from mmkit.engine import workload as W
    from mmkit.engine.alloc import OP_ALLOC
    from mmkit.engine.pages import run_ops
    from mmkit.model.memory import Memory

    sim = _machine()
    _rc.kswapd(sim.A, sim.vc, sim.S, 0)
    sim.zram_store(8)
    sim.zram_free(8)
    sim.balloon_inflate(8)
    sim.balloon_deflate(8)
    sim.kpageflags()
    sim.check()
    W.sample(sim.A, sim.vc, sim.S, np.zeros(W.NR_SM, dtype=np.int64))
    run_ops(Memory.synthetic(mib=32, variant="v4.8"), np.array([[OP_ALLOC, 0, 0, 0, 0, 0, 0]]))
    if not _SAMPLE.is_dir():
        return None
    from mmkit import snapshot

    snap = snapshot.load(str(_SAMPLE))
    mem = Memory.from_snapshot(snap)
    snapshot.from_snapshot_report(snap, mem)
    return mem


def _prefill_side() -> None:
    """``prefill``, with the whole allocation path inlined into it (in a second process)."""
    import numpy as np

    from mmkit.engine import workload as W

    sim = _machine()
    P = np.zeros(W.NR_P, dtype=np.int64)
    P[W.P_MIX_ANON] = 1
    W.prefill(sim.A, sim.vc, sim.S, P, 500_000, 1000)


def _ticks_side() -> None:
    """The workload's tick and the allocation path it calls, with no prefill, and the
    replay's kernels, which call the same path."""
    import mmkit

    mmkit.compare(workload="review-04", variants=["v4.8"], gib=0.25, ticks=5, seed=1, prefill=0)
    _replay_kernels()


def _everything(snapshot) -> None:
    """The workload's kernels under every variant, the rebuilt snapshot compacted and
    large folios."""
    import mmkit

    mmkit.compare(workload="review-04", variants=list(mmkit.NAMED), gib=0.25, ticks=40, seed=1)
    mmkit.compare(workload="zram-pressure", variants=["v4.5", "v4.8"], gib=0.25, ticks=20, seed=1)
    if snapshot is not None:
        mmkit.compact_memory(snapshot)
    sim = _machine()
    sim.folio(2, order=4)


def _replay_kernels() -> None:
    """mmkit.replay's kernels: a few allocations and frees replayed on a small machine."""
    import numpy as np

    from mmkit.engine import replay as R
    from mmkit.engine.sim import Sim
    from mmkit.model.kinds import PageKind
    from mmkit.model.memory import Memory

    mem = Memory.synthetic(gib=0.0625, variant="v6.18", cpus=2)
    sim = Sim(mem, 0)
    state = R.begin_replay(sim)
    pk = [R.pack(R.OP_ALLOC, 0, int(PageKind.ANON), 1, mem.nr_zones - 1, 0, 0, 0),
          R.pack(R.OP_FREE, 0, 0, 0, 0, 0, 0, 0)]
    ops = np.array([[0, 5, pk[0]], [0, 5, pk[1]]], dtype=np.int64)
    R.replay_ticks(sim.A, sim.vc, sim.S, ops, 0, 0, 1, *state, 5, 100_000_000)


KEEP_CACHES = 3  # compiled engine versions kept in the cache folder (the newest by last use)
_CACHE_NAME = re.compile(r"(numba|mmkit)-[0-9a-f]{16}")


def prune_caches(current: str | os.PathLike, keep: int = KEEP_CACHES) -> list[Path]:
    """Remove the compiled engines of other versions beside ``current`` (folders
    ``numba-<hash>`` / ``mmkit-<hash>`` with the same prefix), all but the ``keep - 1``
    last used (the time of their mark file, touched at each warm start; a folder without
    one counts as oldest). Every edit of the engine's code makes a new version, and each
    weighs about 18 MiB; nothing else removes them. Returns the folders removed."""
    current = Path(current)
    prefix = current.name.split("-")[0]
    try:
        others = [p for p in current.parent.iterdir() if p != current and p.is_dir()
                  and _CACHE_NAME.fullmatch(p.name) and p.name.startswith(prefix + "-")]
    except OSError:
        return []

    def last_used(p: Path) -> float:
        try:
            return (p / _MARK).stat().st_mtime
        except OSError:
            return 0.0

    gone = []
    for p in sorted(others, key=last_used, reverse=True)[max(keep - 1, 0):]:
        shutil.rmtree(p, ignore_errors=True)
        if not p.exists():
            gone.append(p)
    return gone


def warm(jobs: int | None = None, quiet: bool = False) -> float:
    """Compile (or load) every kernel the notebooks and the tests reach; returns seconds.
    After compiling a new engine version, the oldest versions beyond ``KEEP_CACHES`` are
    removed from the cache folder (``prune_caches``)."""
    from mmkit.engine import CACHE_DIR

    mark = Path(CACHE_DIR) / _MARK
    t0 = time.perf_counter()
    if mark.exists():
        try:
            os.utime(mark)  # last used now: prune_caches keeps the versions in use
        except OSError:
            pass  # a read-only cache folder
        return 0.0
    jobs = jobs if jobs is not None else min(2, os.cpu_count() or 1)
    say = (lambda s: None) if quiet else (lambda s: print(f"mmkit: {s}", file=sys.stderr, flush=True))
    say(f"compiling the engine into {CACHE_DIR} (once per engine version; minutes on a fresh machine)")
    # round one: the compaction kernels in a second process, what needs none of them here;
    # round two, on top of them: prefill in a second process, the tick here
    got = []
    for there, here, what in ((_compaction_side, _other_side, "compaction and migration"),
                              (_prefill_side, _ticks_side, "the allocation path, the tick and the prefill")):
        child = None
        if jobs > 1:
            child = multiprocessing.get_context("spawn").Process(target=there, name="mmkit-warmup", daemon=True)
            child.start()
        else:
            there()
        got.append(here())
        if child is not None:
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"mmkit.warmup: compiling {what} failed in the second process "
                                   f"(exit code {child.exitcode})")
        say(f"  {what}: done at {time.perf_counter() - t0:.0f} s")
    _everything(got[0])  # the snapshot round one rebuilt
    Path(CACHE_DIR).mkdir(parents=True, exist_ok=True)
    mark.write_text(f"{time.time():.0f}\n")
    secs = time.perf_counter() - t0
    say(f"engine compiled in {secs:.0f} s")
    gone = prune_caches(CACHE_DIR)
    if gone:
        say(f"removed {len(gone)} compiled engine(s) of older versions from {Path(CACHE_DIR).parent} "
            f"(the {KEEP_CACHES} last used are kept)")
    return secs


if __name__ == "__main__":
    warm()
