"""Compile the engine on a fresh machine, on every core at once.

numba compiles a kernel on its first call, with every kernel it calls, one after another
in one process, and keeps each on disk (``mmkit.engine.CACHE_DIR``). The warm-up calls
every door of the engine (``DOORS``: each a short run that reaches a part of it) in as
many processes as there are cores, two at most: each process takes the next door no
process has taken. No list says which process compiles which kernel. A process claims a
kernel before it compiles it (a file named after the kernel, in a folder the processes
share); a process that needs a kernel another one is compiling leaves its door for later
and takes another, or, with no other door left, waits for the kernel and then loads it
from the cache. Each kernel is compiled once, in whichever process reaches it first: a
kernel is compiled on its own and calls the kernels below it by their symbols
(``mmkit.engine.linking``), so it can be compiled in one process and called from the
other. On one core it is one process; with a warm cache (a mark file in the cache folder)
it returns at once. ``tests/test_warmup.py`` checks, from the kernels' own source, that
the doors reach every kernel. The time it takes: ``benchmarks/bench_cold_compile.py``.

Run: ``python -m mmkit.warmup`` (``run.sh`` does, before the main job and the tests).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

_MARK = "mmkit-warm"  # written into the cache folder once everything is compiled
_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "fragmented"  # a source checkout's snapshot


def _sayer(quiet: bool):
    """The warm-up's progress lines (``mmkit: ...`` on stderr), or nothing when ``quiet``."""
    return (lambda s: None) if quiet else (lambda s: print(f"mmkit: {s}", file=sys.stderr, flush=True))


def _machine():
    from mmkit.engine.sim import Sim
    from mmkit.model.memory import Memory

    mem = Memory.synthetic(gib=0.25, variant="v4.8")
    return Sim(mem, 0)


def _migration() -> None:
    """alloc_contig_range: pageblock isolation, migrate_pages, the range's free."""
    from mmkit.model.kinds import PAGEBLOCK_NR_PAGES

    sim = _machine()
    end = int(sim.mem.zone_end[sim.zone_hi]) // PAGEBLOCK_NR_PAGES * PAGEBLOCK_NR_PAGES
    sim.alloc_contig_range(end - 4 * PAGEBLOCK_NR_PAGES, end)


def _direct_compaction() -> None:
    """try_to_compact_pages: compact_zone and both scanners."""
    from mmkit.engine import page_alloc as _pa
    from mmkit.engine.buddy import MOVABLE

    sim = _machine()
    _pa.try_to_compact_pages(sim.A, sim.vc, sim.S, 9, MOVABLE, sim.zone_hi, False)


def _owners() -> None:
    """kswapd's reclaim, zsmalloc (zram) and balloon pages."""
    from mmkit.engine import reclaim as _rc

    sim = _machine()
    _rc.kswapd(sim.A, sim.vc, sim.S, 0)
    sim.zram_store(8)
    sim.zram_free(8)
    sim.balloon_inflate(8)
    sim.balloon_deflate(8)


def _prefill() -> None:
    """prefill, with the whole allocation path inlined into it."""
    import numpy as np

    from mmkit.engine import workload as W

    sim = _machine()
    P = np.zeros(W.NR_P, dtype=np.int64)
    P[W.P_MIX_ANON] = 1
    W.prefill(sim.A, sim.vc, sim.S, P, 500_000, 1000)


def _views() -> None:
    """kpageflags, the invariant check, the samplers and the allocator's op rows."""
    import numpy as np

    from mmkit.engine import workload as W
    from mmkit.engine.alloc import OP_ALLOC
    from mmkit.engine.pages import run_ops
    from mmkit.model.memory import Memory

    sim = _machine()
    sim.kpageflags()
    sim.check()
    W.sample(sim.A, sim.vc, sim.S, np.zeros(W.NR_SM, dtype=np.int64))
    run_ops(Memory.synthetic(mib=32, variant="v4.8"), np.array([[OP_ALLOC, 0, 0, 0, 0, 0, 0]]))


def _tick() -> None:
    """The workload's tick and the allocation path it calls."""
    import mmkit

    mmkit.compare(workload="review-04", variants=["v4.8"], gib=0.25, ticks=5, seed=1, prefill=0)


def _replay() -> None:
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


def _compact_memory() -> None:
    """compact_memory and proactive compaction."""
    sim = _machine()
    sim.compact_memory()
    sim.proactive_compact()


def _snapshot() -> None:
    """The bundled snapshot rebuilt (with its report) and compacted."""
    if not _SAMPLE.is_dir():
        return
    import mmkit
    from mmkit import snapshot
    from mmkit.model.memory import Memory

    snap = snapshot.load(str(_SAMPLE))
    mem = Memory.from_snapshot(snap)
    snapshot.from_snapshot_report(snap, mem)
    mmkit.compact_memory(mem)


def _every_variant() -> None:
    """The workloads under every named variant, and large folios."""
    import mmkit

    mmkit.compare(workload="review-04", variants=list(mmkit.NAMED), gib=0.25, ticks=40, seed=1)
    mmkit.compare(workload="zram-pressure", variants=["v4.5", "v4.8"], gib=0.25, ticks=20, seed=1)
    _machine().folio(2, order=4)


# Every door of the engine, each a short run (its docstring says what it reaches). The
# order only decides which door a free process takes first: the slowest independent
# parts first (migration, the scanners), everything under every variant last.
DOORS = (_migration, _direct_compaction, _owners, _prefill, _views, _tick, _replay, _compact_memory,
         _snapshot, _every_variant)


class _Busy(BaseException):
    """A kernel this process needs is being compiled by another: take another door first.
    A BaseException, so that numba's compiler passes it through as it does KeyboardInterrupt."""

    def __init__(self, claim: Path):
        super().__init__(str(claim))
        self.claim = claim


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(path: Path) -> int | None:
    try:
        return int(path.read_text() or 0) or None
    except (OSError, ValueError):
        return None


def _take(path: Path) -> bool:
    """Create ``path`` holding this process's id, if no process has it."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def _wait_for(path: Path, poll: float = 0.05) -> None:
    """Until the claim ``path`` is released, or its process has died (then release it)."""
    while path.exists():
        pid = _holder(path)
        if pid is not None and not _alive(pid):
            with contextlib.suppress(OSError):
                path.unlink()
            return
        time.sleep(poll)


@contextlib.contextmanager
def claims(folder: Path, busy):
    """While inside: each cached numba function is compiled (or loaded) by one process at
    a time. Before compiling, a process claims the function: the file ``kernel-<module>.<name>``
    in ``folder``, created exclusively; it is removed once the function is compiled and
    saved. When another process holds it, ``busy(claim, lost)`` is called, ``lost`` the
    seconds of this process's compile that leaving the door would throw away (the
    functions begun and not finished, less the functions they finished inside): it raises
    ``_Busy`` (the door is left for later) or returns once the claim is gone (then the
    function is loaded from the cache). A function this process already has, or holds a
    claim on further up its own compile, is not claimed again. ``Dispatcher.compile`` (a
    public numba method) is wrapped for the duration; every numba compile, nested ones
    included, goes through it."""
    from numba.core import sigutils
    from numba.core.caching import NullCache
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.dispatcher import Dispatcher

    compile_ = Dispatcher.compile
    held: set[str] = set()
    stack: list[list[float]] = []  # the compiles under way here: [start, seconds of finished compiles inside]

    def compile(self, sig):
        cache = getattr(self, "_cache", None)
        if cache is None or isinstance(cache, NullCache):
            return compile_(self, sig)  # not cached: nothing another process could share
        args, _ = sigutils.normalize_signature(sig)
        key = f"{self.py_func.__module__}.{self.py_func.__qualname__}"
        if self.overloads.get(tuple(args)) is not None or key in held:
            return compile_(self, sig)
        claim = folder / f"kernel-{key}"
        with global_compiler_lock:  # numba's: one compile at a time in a process, whatever thread asks
            while not _take(claim):
                # the work a _Busy would throw away: the compiles under way, less what they finished
                busy(claim, time.monotonic() - stack[0][0] - sum(f[1] for f in stack) if stack else 0.0)
            held.add(key)
            stack.append([time.monotonic(), 0.0])
            try:
                return compile_(self, sig)
            finally:
                start, _ = stack.pop()
                if stack:
                    stack[-1][1] += time.monotonic() - start
                held.discard(key)
                with contextlib.suppress(OSError):
                    claim.unlink()

    Dispatcher.compile = compile
    try:
        yield
    finally:
        Dispatcher.compile = compile_


# A process that meets a kernel another one is compiling leaves its door for later only
# while that throws away less than this many seconds of its own compile (the functions it
# has begun and not finished); past that it waits for the kernel. Measured: a door left
# after 6-8 s of work cost that much again, while most waits end within seconds.
LOST_LIMIT = 3.0


def _work(folder: str, t0: float, quiet: bool, others_alive, doors=DOORS) -> None:
    """One process's share of the warm-up: take the next door no process has taken, run
    it; a door that meets a kernel another process is compiling is left for later
    (``claims``). Returns when every door is done, in this process or another."""
    folder = Path(folder)
    say = _sayer(quiet)
    taken = [folder / f"door-{i}" for i in range(len(doors))]
    done = [folder / f"door-{i}.done" for i in range(len(doors))]
    blocked: dict[int, Path] = {}  # a door left for later -> the claim it met
    running: list[int] = []

    def free() -> list[int]:
        return [i for i in range(len(doors)) if i not in running and not done[i].exists()
                and not taken[i].exists() and not (i in blocked and blocked[i].exists())]

    def busy(claim: Path, lost: float) -> None:
        if lost < LOST_LIMIT and free():
            raise _Busy(claim)
        _wait_for(claim)

    with claims(folder, busy):
        while not all(d.exists() for d in done):
            if not others_alive():
                raise RuntimeError("mmkit.warmup: another warm-up process failed")
            todo = free()
            if not todo:
                time.sleep(0.05)  # the rest run elsewhere, or wait for a kernel
                continue
            i = todo[0]
            if not _take(taken[i]):
                continue
            running.append(i)
            try:
                doors[i]()
            except _Busy as b:
                blocked[i] = b.claim
            else:
                done[i].touch()
                say(f"  {doors[i].__name__.strip('_').replace('_', ' ')}: done at {time.monotonic() - t0:.0f} s")
            finally:
                running.remove(i)
                with contextlib.suppress(OSError):
                    taken[i].unlink()


def _child(folder: str, t0: float, quiet: bool, parent: int) -> None:
    try:
        _work(folder, t0, quiet, lambda: os.getppid() == parent)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent says it
        sys.exit(130)


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
    """Compile (or load) every kernel the notebooks and the tests reach, in ``jobs``
    processes (default: the cores, two at most); returns seconds. After compiling a new
    engine version, the oldest versions beyond ``KEEP_CACHES`` are removed from the cache
    folder (``prune_caches``)."""
    from mmkit.engine import CACHE_DIR

    mark = Path(CACHE_DIR) / _MARK
    t0 = time.monotonic()
    if mark.exists():
        try:
            os.utime(mark)  # last used now: prune_caches keeps the versions in use
        except OSError:
            pass  # a read-only cache folder
        return 0.0
    jobs = jobs if jobs is not None else min(2, os.cpu_count() or 1)
    say = _sayer(quiet)
    say(f"compiling the engine into {CACHE_DIR} (once per engine version; minutes on a fresh machine)")
    folder = tempfile.mkdtemp(prefix="mmkit-warmup-")
    children = []
    try:
        ctx = multiprocessing.get_context("spawn")
        for _ in range(jobs - 1):
            child = ctx.Process(target=_child, args=(folder, t0, quiet, os.getpid()), name="mmkit-warmup",
                                daemon=True)
            child.start()
            children.append(child)
        _work(folder, t0, quiet, lambda: all(c.exitcode in (None, 0) for c in children))
        for child in children:
            child.join()
        failed = [c.exitcode for c in children if c.exitcode != 0]
        if failed:
            raise RuntimeError(f"mmkit.warmup: a warm-up process failed (exit code {failed[0]})")
    except BaseException:
        for child in children:
            child.terminate()
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    Path(CACHE_DIR).mkdir(parents=True, exist_ok=True)
    mark.write_text(f"{time.time():.0f}\n")
    secs = time.monotonic() - t0
    say(f"engine compiled in {secs:.0f} s")
    gone = prune_caches(CACHE_DIR)
    if gone:
        say(f"removed {len(gone)} compiled engine(s) of older versions from {Path(CACHE_DIR).parent} "
            f"(the {KEEP_CACHES} last used are kept)")
    return secs


if __name__ == "__main__":
    try:
        warm()
    except KeyboardInterrupt:
        print("mmkit: warm-up interrupted; what it compiled is kept in the cache, the next run compiles the rest",
              file=sys.stderr)
        sys.exit(130)
