"""Stop means stop: an interrupt ends compare, sweep and the command line within a second,
says how far they got, and leaves nothing half-written; cutting the work into pieces
(ticks, the prefill, a compaction, the boot) changes no result."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import mmkit
from mmkit import run as R
from mmkit.engine import workload as W
from mmkit.engine.sim import Sim
from mmkit.errors import Interrupted
from mmkit.model.memory import Memory
from mmkit.sweep.store import TMP_PREFIX

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_us():
    """A test run started in the background by a non-interactive shell (``cmd &``)
    ignores SIGINT, and the commands it starts inherit that: Python's own handler is put
    back for each test (a handler, unlike SIG_IGN, is reset to the default in a started
    command), so SIGINT meets this process and its commands as a terminal's Ctrl-C does."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


LIMIT = 1.5  # seconds from the interrupt to the end (the goal is 1 s; room for a busy machine)
SMALL = {"gib": 0.25, "ticks": 60, "seed": 3}


class Fixed:
    """A Pacer that always hands out ``n`` (to cut work into pieces of a chosen size)."""

    def __init__(self, n: int):
        self.n = n

    def __call__(self, first: int = 1):
        return self

    def next(self) -> int:
        return self.n

    def done(self, units: int) -> None:
        pass


def _same_memory(a: Memory, b: Memory) -> None:
    for name in a.__dataclass_fields__:
        x = getattr(a, name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, getattr(b, name)), name


def _same_result(a, b) -> None:
    for name in a.FRAMES:
        assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    for v in a.variants:
        _same_memory(a.memories[v], b.memories[v])


# ------------------------------------------------------------------ pieces change nothing
@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_compare_is_the_same_however_the_ticks_are_chunked(chunk, monkeypatch):
    default = mmkit.compare(workload="review-04", **SMALL)
    R._PREFILLED.clear()  # the prefill too is cut into pieces of `chunk` allocations
    monkeypatch.setattr(R, "Pacer", Fixed(chunk))
    cut = mmkit.compare(workload="review-04", **SMALL)
    _same_result(default, cut)
    assert "stopped_at" not in cut.info


@pytest.mark.parametrize("preset", ["review-04", "zram-pressure"])
def test_prefill_in_pieces_is_the_prefill_in_one_call(preset):
    values = mmkit.workloads.workload(preset).params()
    share = round(values["prefill"] * 1_000_000)
    out = []
    for piece in (-1, 1, 333):
        mem = Memory.synthetic(gib=0.25, variant="v4.5")
        P = R.compile_params(values, mem)
        sim = Sim(mem, 5)
        calls = 1
        while (used := int(W.prefill(sim.A, sim.vc, sim.S, P, share, piece))) < 0:
            calls += 1
        out.append((used, mem, sim.S.st.copy()))
        assert (calls == 1) == (piece == -1)
    for used, mem, st in out[1:]:
        assert used == out[0][0] > 0
        _same_memory(out[0][1], mem)
        assert np.array_equal(st, out[0][2])


@pytest.mark.parametrize("batches", [1, 5])
def test_compact_memory_in_pieces_is_compact_zone_in_one_call(batches, monkeypatch):
    import mmkit.compact as C

    mem = Memory.synthetic(mib=256, variant="v4.8")
    sim = Sim(mem, seed=3)
    sim.free(sim.anon(30000)[::2])  # every other page: much to migrate
    monkeypatch.setattr(C, "Pacer", Fixed(batches))
    cut, vm = mmkit.compact_memory(mem, seed=2)
    whole = mem.copy()
    C.lru_add_drain_all(whole)
    sim = Sim(whole, 2)
    sim.S.st[mmkit.engine.state.ST_BALLOON_PAGES] = int(np.count_nonzero(whole.kind == mmkit.PageKind.BALLOON))
    results = {whole.zone_names[z]: sim.compact_zone(z, order=-1, sync=True, ignore_skip=True)
               for z in range(whole.nr_zones) if whole.zone_present[z]}
    assert cut.meta["compact_memory"]["results"] == results
    assert vm["pgmigrate_success"] > 0
    _same_memory(cut, whole)


def test_a_machine_booted_in_pieces_is_the_machine_booted_in_one_call():
    from mmkit.engine import boot

    assert boot.BOOT_PIECE < (8 << 18)  # 8 GiB: several pieces in the Normal zone
    pieces = Memory.synthetic(gib=8, variant="v4.8")
    one = Memory.empty(mmkit.model.memory.synthetic_layout(gib=8, mib=None, zones=None))
    one.variant = mmkit.variant("v4.8")
    A, vc = one.arrays(), one.variant.compile()
    for z in range(one.nr_zones):
        boot.memmap_init_zone(A, z)
        boot.__free_pages_memory(A, vc, z, int(one.zone_start[z]), int(one.zone_end[z]))
    for name in ("flags", "mapcount", "kind", "lru_next", "lru_prev", "private", "nr_free", "pb_flags"):
        assert np.array_equal(getattr(one, name), getattr(pieces, name)), name


# ------------------------------------------------------------------ compare, stopped
def test_compare_stopped_by_its_event_returns_the_runs_up_to_there():
    # long enough that no run ends before the stop (a run's chunks last about 0.1 s, on
    # a loaded machine far more ticks than 60), short enough to run in full here
    long = dict(SMALL, ticks=2000)
    full = mmkit.compare(workload="review-04", **long)
    stop = threading.Event()

    def after_some_ticks(done, total):
        if done >= 20:
            stop.set()

    with pytest.raises(Interrupted) as e:
        mmkit.compare(workload="review-04", **long, stop=stop, progress=after_some_ticks)
    part = e.value.partial
    assert isinstance(e.value, KeyboardInterrupt) and not isinstance(e.value, mmkit.MmkitError)
    assert re.match(r"compare stopped at tick \d+ of 2000", str(e.value)), str(e.value)
    at = part.info["stopped_at"]
    # each run stops where it was; on a loaded machine a run whose thread had not yet
    # had a turn stops at tick 0 (or is left out, had it not made its starting memory),
    # but the stop came after 20 ticks, so some run had them
    assert set(at) <= set(full.variants) and all(0 <= t < 2000 for t in at.values()), at
    assert max(at.values()) > 0, at
    for v, t in at.items():
        got = part.timeline.filter(pl.col("variant") == v)
        if t == 0 and got.height == 0:
            continue
        assert got["tick"][-1] == t  # each timeline ends where its run stopped
        # up to there, the same rows as the run that was not stopped
        want = full.timeline.filter((pl.col("variant") == v) & pl.col("tick").is_in(got["tick"][:-1].implode()))
        assert_frame_equal(got[:-1], want, check_exact=True)


@pytest.mark.slow
def test_ctrl_c_stops_compare_within_a_second():
    """SIGINT to this process while compare's runs tick on a 16 GiB machine."""
    started = threading.Event()
    latency = {}

    def interrupt():
        started.wait(120)
        time.sleep(0.5)
        latency["t"] = time.perf_counter()
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(Interrupted) as e:
        mmkit.compare(workload="steady", gib=16, ticks=100_000, seed=9, progress=lambda d, t: started.set())
    took = time.perf_counter() - latency["t"]
    print(f"compare (16 GiB, 3 variants): stopped {took:.2f} s after SIGINT: {e.value}")
    assert took < LIMIT
    # on a loaded machine a run's thread may not have had its turn before the stop: some
    # run got past tick 0, and each run's timeline ends where it stopped
    stopped = e.value.partial.info["stopped_at"] if e.value.partial is not None else {}
    assert stopped and max(stopped.values()) > 0
    last = dict(e.value.partial.timeline.group_by("variant").agg(pl.col("tick").max()).iter_rows())
    assert all(last[v] == t for v, t in stopped.items() if t > 0), (last, stopped)


# ------------------------------------------------------------------ the command line
def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _interrupt(cmd: list[str], ready, cwd: Path, settle: float = 0.0) -> tuple[float, int, str]:
    """Start ``cmd`` in a session of its own, wait until ``ready(stderr so far)`` and
    ``settle`` seconds more, send SIGINT to its process group (as Ctrl-C in a terminal
    does) and time the exit."""
    p = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    err = b""
    os.set_blocking(p.stderr.fileno(), False)
    deadline = time.monotonic() + 300
    while not ready(err.decode(errors="replace")):
        assert p.poll() is None, err.decode(errors="replace")
        assert time.monotonic() < deadline, "never got ready"
        time.sleep(0.05)
        err += p.stderr.read() or b""
    time.sleep(settle)
    t = time.perf_counter()
    os.killpg(p.pid, signal.SIGINT)
    p.wait(30)
    took = time.perf_counter() - t
    os.set_blocking(p.stderr.fileno(), True)
    err += p.stderr.read()
    return took, p.returncode, err.decode(errors="replace")


def _ticking(err: str) -> bool:
    return any(int(a) > 0 for a, _ in re.findall(r"(\d+)/(\d+)", err))


@pytest.mark.slow
def test_ctrl_c_stops_mmkit_run_within_a_second(tmp_path):
    out = tmp_path / "result"
    took, rc, err = _interrupt([sys.executable, "-m", "mmkit.cli", "run", "--workload", "steady", "--gib", "16",
                                "--ticks", "100000", "--progress", "--out", str(out)], _ticking, tmp_path, 1.0)
    last = err.strip().splitlines()[-1].split("\r")[-1]
    print(f"mmkit run (16 GiB): exit {rc} {took:.2f} s after SIGINT: {last}")
    assert rc == 130 and took < LIMIT
    assert "Traceback" not in err
    assert re.search(r"mmkit: interrupted: compare stopped at tick \d+ of 100000 .*nothing written to", last), last
    assert list(tmp_path.iterdir()) == []  # no result, no temporary folder


GRID_FILE = """\
workload: steady
gib: 1
ticks: 300
variants: [v4.5, v4.8]
grid:
  seed: 1..6
"""


@pytest.mark.slow
def test_ctrl_c_stops_mmkit_sweep_and_it_resumes(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID_FILE)
    out = tmp_path / "sweep"
    cells = out / "cells"

    def one_cell_done(_err: str) -> bool:
        return cells.is_dir() and any(not p.name.startswith(TMP_PREFIX) for p in cells.glob("*.parquet"))

    took, rc, err = _interrupt([sys.executable, "-m", "mmkit.cli", "sweep", "--grid", str(grid), "--out", str(out),
                                "--workers", "2", "--no-progress"], one_cell_done, tmp_path)
    # multiprocessing's resource tracker, a process of its own in the group SIGINT reaches,
    # can print its cleanup warning after mmkit's last line (seen once in a clean clone);
    # mmkit's own output is what is checked here
    last = [line for line in err.strip().splitlines() if "resource_tracker" not in line][-1]
    print(f"mmkit sweep: exit {rc} {took:.2f} s after SIGINT: {last}")
    assert rc == 130 and took < LIMIT
    assert "Traceback" not in err
    m = re.search(r"^mmkit sweep: stopped with (\d) of 6 cells finished; finished cells are kept in", last)
    assert m, last
    kept = sorted(cells.iterdir())
    assert len(kept) == int(m.group(1)) >= 1
    assert not [p for p in kept if p.name.startswith(TMP_PREFIX)] and not (out / "sweep.parquet").exists()
    for p in kept:
        pl.read_parquet(p)  # whole
    stamps = {p: p.stat().st_mtime_ns for p in kept}
    seen = []
    frame = mmkit.sweep({"seed": list(range(1, 7))}, workload="steady", gib=1, ticks=300, variants=["v4.5", "v4.8"],
                        out=out, workers=2, progress=lambda d, t: seen.append(d))
    assert seen[0] == len(kept) and seen[-1] == 6  # the finished cells read back, the others run
    assert {p: p.stat().st_mtime_ns for p in kept} == stamps
    assert frame["cell"].n_unique() == 6
