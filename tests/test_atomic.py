"""Nothing lost: a writer killed mid-way (SIGKILL, no cleanup) leaves no partial folder
under the final name, and loading never unpickles.

``Result.save`` and ``mmkit.snapshot.capture`` write into a temporary folder beside the
final one (``.NAME.*``, hidden) and rename it at the end. A kill leaves that temporary
folder behind; the next write to the same name does not remove it (it makes a new one),
so the tests only require every leftover to be a hidden temporary.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import mmkit
import mmkit.snapshot
from mmkit.errors import SnapshotError

pytestmark = pytest.mark.slow  # the slow tier: processes killed while writing

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "data" / "linux-6.18-idle"


# the writers jit even when the tests run without (coverage): a compare takes minutes there
JIT_ENV = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}


def start(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=JIT_ENV)


def wait_for(p: subprocess.Popen, word: str, timeout: float = 180) -> list[str]:
    """Lines the child printed up to the first one starting with ``word``."""
    lines = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = p.stdout.readline()
        if not line:
            raise AssertionError(f"the writer ended before {word!r}: {p.stderr.read()[-3000:]}")
        lines.append(line.strip())
        if line.startswith(word):
            return lines
    raise AssertionError(f"no {word!r} within {timeout} s")


def kill(p: subprocess.Popen) -> None:
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL
    p.stdout.close()
    p.stderr.close()


def leftovers(folder: Path, final: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in final)


# ------------------------------------------------------------------ Result.save
SAVE = """
import sys, time
import numpy as np
import mmkit
r = mmkit.compare(workload="review-04", variants=["v4.5", "v4.8"], seed=1, gib=0.25, ticks=5)
if sys.argv[2] == "stall":
    real = np.savez_compressed
    def stall(*a, **k):  # write one memory file, then hang: the kill lands mid-save
        real(*a, **k)
        print("MIDWAY", flush=True)
        time.sleep(600)
    np.savez_compressed = stall
r.save(sys.argv[1])
print("SAVED", flush=True)
"""


def save_in_child(out: Path) -> Path:
    p = start(SAVE, str(out), "whole")
    wait_for(p, "SAVED")
    assert p.wait(timeout=60) == 0
    p.stdout.close()
    p.stderr.close()
    return out


def test_result_save_killed_mid_way(tmp_path):
    out = tmp_path / "res"
    p = start(SAVE, str(out), "stall")
    wait_for(p, "MIDWAY")
    tmp = [d for d in tmp_path.iterdir() if d.name.startswith(".res.")]
    assert len(tmp) == 1 and any(tmp[0].glob("memory-*.npz")) and any(tmp[0].glob("*.parquet"))
    kill(p)
    assert not out.exists()
    assert leftovers(tmp_path, set()) == [tmp[0].name]  # hidden, not under the final name
    with pytest.raises(SnapshotError, match="not a saved mmkit result"):
        mmkit.load_result(out)
    # the next write to the name succeeds and is whole; the old temporary stays
    back = mmkit.load_result(save_in_child(out))
    assert back.variants == ["v4.5", "v4.8"] and back.timeline["tick"].max() == 5
    assert all(name.startswith(".res.") for name in leftovers(tmp_path, {"res"}))


SAVE_LOOP = """
import sys
import mmkit
r = mmkit.compare(workload="review-04", variants=list(mmkit.semantics.NAMED), seed=1, gib=1, ticks=3)
print("READY", flush=True)
i = 0
while True:
    r.save(f"{sys.argv[1]}/res-{i}")
    print(f"SAVED {i}", flush=True)
    i += 1
"""


def test_result_save_killed_while_saving(tmp_path):
    """Saves of a 1 GiB, six-variant result (seconds each) one after the other, killed
    during the second: every folder under a final name loads whole; the one being
    written exists only as a hidden temporary."""
    p = start(SAVE_LOOP, str(tmp_path))
    wait_for(p, "SAVED 0")
    time.sleep(1.0)
    kill(p)
    finals = sorted(d for d in tmp_path.iterdir() if not d.name.startswith("."))
    assert [d.name for d in finals] == [f"res-{i}" for i in range(len(finals))]
    for d in finals:
        r = mmkit.load_result(d)
        assert r.variants == list(mmkit.semantics.NAMED)
        for m in r.memories.values():
            m.check()
    assert all(re.fullmatch(r"\.res-\d+\..+", n) for n in leftovers(tmp_path, {d.name for d in finals}))


# ------------------------------------------------------------------ snapshot capture
def fake_proc(root: Path, pfns: int = 200_000) -> tuple[Path, Path]:
    proc, dbg = root / "proc", root / "debug"
    (proc / "sys" / "kernel").mkdir(parents=True)
    for name in ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo"):
        shutil.copy(FIXTURE / name, proc / name)
    (proc / "sys" / "kernel" / "osrelease").write_text("6.18.0-fake\n")
    (np.arange(pfns, dtype="<u8") % 7 * 0x400).tofile(proc / "kpageflags")
    (np.arange(pfns, dtype="<u8") % 3).tofile(proc / "kpagecount")
    (dbg / "extfrag").mkdir(parents=True)
    for name in ("extfrag_index", "unusable_index"):
        shutil.copy(FIXTURE / name, dbg / "extfrag" / name)
    return proc, dbg


CAPTURE_STALLED = """
import sys, time
from mmkit.snapshot import live
real = live._write
n = 0
def stall(path, data):  # three files written, then hang: the kill lands mid-capture
    global n
    real(path, data)
    n += 1
    if n == 3:
        print("MIDWAY", flush=True)
        time.sleep(600)
live._write = stall
live.capture(sys.argv[1], proc_root=sys.argv[2], debugfs_root=sys.argv[3], overwrite=sys.argv[4] == "1")
"""


@pytest.mark.parametrize("overwrite", [False, True])
def test_snapshot_capture_killed_mid_way(tmp_path, overwrite):
    proc, dbg = fake_proc(tmp_path / "fake")
    out = tmp_path / "snap"
    before = None
    if overwrite:  # a whole snapshot is already there: it must survive the killed rewrite
        mmkit.snapshot.capture(out, proc_root=proc, debugfs_root=dbg)
        before = {p.name: p.read_bytes() for p in out.iterdir()}
    p = start(CAPTURE_STALLED, str(out), str(proc), str(dbg), "1" if overwrite else "0")
    wait_for(p, "MIDWAY")
    kill(p)
    left = leftovers(tmp_path, {"fake", "snap"})
    assert len(left) == 1 and left[0].startswith(".snap.tmp-")
    assert len(list((tmp_path / left[0]).iterdir())) == 3  # killed with three files written
    if overwrite:
        assert {q.name: q.read_bytes() for q in out.iterdir()} == before
        assert mmkit.snapshot.load(out).validate().nr_pfns == 200_000
    else:
        assert not out.exists()
    # the next capture to the name succeeds and is whole
    s = mmkit.snapshot.capture(out, proc_root=proc, debugfs_root=dbg, overwrite=True)
    assert s.validate().meta["nr_pfns"] == 200_000


# ------------------------------------------------------------------ loading never unpickles
def test_every_np_load_refuses_pickles():
    """Every ``np.load`` in mmkit passes ``allow_pickle=False``, and nothing unpickles:
    no pickle.load / loads / Unpickler, no dill, joblib or cloudpickle. (sweep/local.py
    walks a task with a ``pickle.Pickler`` subclass to find objects of ``__main__``
    before any worker starts: pickling only, never loading.)"""
    calls, loads, libs = [], [], []
    for p in sorted((ROOT / "mmkit").rglob("*.py")):
        text = p.read_text()
        for m in re.finditer(r"\bnp\.load\(([^)]*)\)", text):
            calls.append((p.name, m.group(1)))
        if re.search(r"\b(c?pickle\.(loads?|Unpickler)|Unpickler)\b", text):
            loads.append(p.name)
        if re.search(r"^\s*(import|from)\s+(dill|joblib|cloudpickle)\b", text, re.MULTILINE):
            libs.append(p.name)
    assert calls, "no np.load found: the pattern is stale"
    assert all("allow_pickle=False" in args for _, args in calls), calls
    assert not loads and not libs, (loads, libs)


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_in_child(tmp_path_factory.mktemp("saved") / "res")


@pytest.mark.parametrize("how", ["pickle as npz", "object array in npz", "pickle as npy"])
def test_pickles_disguised_as_arrays_are_refused(tmp_path, saved, how):
    target = tmp_path / "unpickled"
    res = tmp_path / "res"
    shutil.copytree(saved, res)
    if how == "pickle as npz":
        (res / "memory-v4.8.npz").write_bytes(pickle.dumps(_Evil(str(target))))
    elif how == "object array in npz":
        with np.load(saved / "memory-v4.8.npz") as z:
            arrays = {k: z[k] for k in z.files}
        arrays["kind"] = np.array([_Evil(str(target))] * 3, dtype=object)
        np.savez(res / "memory-v4.8.npz", **arrays)
    if how == "pickle as npy":
        snap = tmp_path / "snap"
        snap.mkdir()
        shutil.copy(FIXTURE / "buddyinfo", snap / "buddyinfo")
        (snap / "kpagecount.npy").write_bytes(pickle.dumps(_Evil(str(target))))
        with pytest.raises(SnapshotError, match="not a .npy array file"):
            _ = mmkit.snapshot.load(snap).kpagecount
    else:
        with pytest.raises(SnapshotError, match="cannot read the saved memory"):
            mmkit.load_result(res)
    assert not target.exists()
