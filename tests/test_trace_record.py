"""mmkit.trace.record on this machine (root and tracefs, else skipped with the reason):
the binary pages against the kernel's own text of the same events, a 2 s recording, and
the tracing settings restored exactly as found after success, an error, SIGINT, SIGTERM
and SIGKILL of a recorder process, and when tracefs was not mounted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from trace_helpers import can_trace, capture_pair, tracing_state

import mmkit.trace
from mmkit.trace.decode import CpuPages, decode
from mmkit.errors import TracingUnavailableError
from mmkit.trace.record import load_formats
from mmkit.trace.tracefs import tracefs_mounts

ROOT = Path(__file__).resolve().parent.parent
why = can_trace()
pytestmark = pytest.mark.skipif(why is not None, reason=f"records the real kernel: {why}")


def test_live_pages_match_the_kernels_text(tmp_path):
    """All CPUs' raw pages of a short window decode to what the kernel prints for them
    (every column; times to the microsecond, as it rounds)."""
    before = tracing_state()
    raw = capture_pair(tmp_path, ["sh", "-c", "dd if=/dev/zero bs=1M count=8 2>/dev/null | cat >/dev/null"])
    assert tracing_state() == before
    h, _, formats = load_formats(tmp_path / "formats")
    got = decode([CpuPages(c, b, f"cpu{c}") for c, b in raw.items()], h, formats).frame
    text = mmkit.trace.read_text(tmp_path / "kernel.txt", formats=tmp_path / "formats")
    assert got.height == text.height > 1000
    got = got.with_columns(((pl.col("ts_ns") + 500) // 1000 * 1000).alias("ts_ns"))
    # the kernel's text merges CPUs by time at us precision: compare each CPU's rows in order
    for c in raw:
        a = got.filter(pl.col("cpu") == c)
        b = text.filter(pl.col("cpu") == c)
        for col in got.columns:
            assert a[col].equals(b[col]), (c, col)


@pytest.mark.slow
def shm_raw() -> list:
    from mmkit.trace.record import SHM

    return sorted(SHM.glob("mmkit-trace-raw-*")) if SHM.is_dir() else []


def test_record_two_seconds(tmp_path):
    before = tracing_state()
    shm_before = shm_raw()
    seen = []
    info = mmkit.trace.record(tmp_path / "t", 2, progress=lambda d, t: seen.append((d, t)), attempts=1)
    assert tracing_state() == before
    assert [x for x in tmp_path.iterdir()] == [tmp_path / "t"]  # no temporary folder left
    assert shm_raw() == shm_before  # nor the raw pages' folder in /dev/shm
    assert info.events > 0 and info.lost_total == 0
    assert seen and seen[-1] == (2.0, 2.0)
    t = mmkit.trace.load(tmp_path / "t")
    m = t.meta
    assert m["kernel_release"] == os.uname().release
    # the raw pages were written to tmpfs (movable, never dirty page cache under writeback)
    from mmkit.trace.record import SHM, SHM_MIN_FREE

    shm = SHM.is_dir() and shutil.disk_usage(SHM).free >= SHM_MIN_FREE
    assert m["raw_scratch"] == ("tmpfs /dev/shm" if shm else "the destination's file system")
    assert m["cpus"] == info.cpus and set(m["lost"]) == {str(c) for c in info.cpus}
    assert "kmem:mm_page_alloc" in m["events_recorded"] and m["events"] == t.events.height == info.events
    assert m["durations_s"]["recording"] >= 2.0
    times = m["times_ns"]
    assert times["tracing_on_ns"] <= t.events["ts_ns"].min() <= t.events["ts_ns"].max() <= times["tracing_off_ns"]
    assert t.events["ts_ns"].is_sorted()
    assert t.start_snapshot().meta["kernel_release"] == os.uname().release
    assert (tmp_path / "t" / "formats" / "kmem" / "mm_page_alloc.format").exists()
    allocs = t.events.filter(pl.col("event") == "mm_page_alloc")
    assert allocs.height and allocs["order"].max() <= 10 and allocs["gfp_flags"].null_count() == 0


@pytest.mark.slow
def test_record_error_restores(tmp_path, monkeypatch):
    """An error in the middle (the start snapshot fails) leaves the settings and no folder."""
    import mmkit.snapshot.live

    before = tracing_state()

    def broken(*a, **k):
        raise OSError("disk on fire")

    monkeypatch.setattr(mmkit.snapshot.live, "capture", broken)
    with pytest.raises(OSError, match="disk on fire"):
        mmkit.trace.record(tmp_path / "t", 1, progress=False)
    assert tracing_state() == before
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_instance_clash_refused(tmp_path):
    """Our instance name taken (a recorder of the same pid left it): refused, left alone."""
    mounted_here = not tracefs_mounts()
    if mounted_here:
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True)
    root = tracefs_mounts()[0]
    inst = root / "instances" / f"mmkit-{os.getpid()}"
    inst.mkdir()
    try:
        with pytest.raises(TracingUnavailableError, match="already exists"):
            mmkit.trace.record(tmp_path / "t", 1, progress=False)
        assert inst.is_dir()
    finally:
        os.rmdir(inst)
        if mounted_here:
            subprocess.run(["umount", str(root)], check=True)
    assert list(tmp_path.iterdir()) == []


def _recorder(tmp_path: Path) -> subprocess.Popen:
    code = ("import sys; from mmkit.trace.cli import main_record; "
            f"sys.exit(main_record([{str(tmp_path / 't')!r}, '--seconds', '60', '--attempts', '1', '--no-progress']))")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_recording(p: subprocess.Popen, tmp_path: Path) -> None:
    """Until the recorder is inside its window (the start snapshot written)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any((d / "start" / "meta.json").exists() for d in tmp_path.glob(".t.tmp-*")):
            time.sleep(0.3)
            return
        assert p.poll() is None, p.communicate()
        time.sleep(0.05)
    raise AssertionError("the recorder never started recording")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_signal_restores_tracing(tmp_path, sig):
    before = tracing_state()
    shm_before = shm_raw()
    p = _recorder(tmp_path)
    try:
        _wait_recording(p, tmp_path)
        assert tracing_state() != before  # our instance exists while recording: the check can fail
        t0 = time.monotonic()
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
        if sig == signal.SIGKILL:
            assert p.returncode == -signal.SIGKILL
        else:
            assert p.returncode == 130, err
            assert "mmkit: interrupted: stopped during recording" in err
            assert time.monotonic() - t0 < 5
    finally:
        if p.poll() is None:
            p.kill()
    deadline = time.monotonic() + 20  # after SIGKILL the guardian restores
    while time.monotonic() < deadline and (tracing_state() != before or list(tmp_path.iterdir())):
        time.sleep(0.1)
    assert tracing_state() == before
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary twin
    while time.monotonic() < deadline and shm_raw() != shm_before:
        time.sleep(0.1)
    assert shm_raw() == shm_before  # nor the raw pages' folder in /dev/shm


@pytest.mark.slow
def test_mounts_and_unmounts_tracefs(tmp_path):
    """tracefs not mounted: record mounts it at /sys/kernel/tracing and unmounts it after."""
    mounts = tracefs_mounts()
    for m in mounts:
        if subprocess.run(["umount", str(m)], capture_output=True).returncode:
            for again in mounts:
                subprocess.run(["mount", "-t", "tracefs", "nodev", str(again)], capture_output=True)
            pytest.skip(f"cannot unmount {m} for the test")
    try:
        assert tracefs_mounts() == []
        before = tracing_state()
        info = mmkit.trace.record(tmp_path / "t", 0.5, progress=False, attempts=1)
        assert info.events > 0
        assert tracefs_mounts() == []
        assert tracing_state() == before
        assert json.loads((tmp_path / "t" / "meta.json").read_text())["tracefs"] == "/sys/kernel/tracing"
    finally:
        for m in mounts:
            if m not in tracefs_mounts():
                subprocess.run(["mount", "-t", "tracefs", "nodev", str(m)], check=False)


def test_guardian_undoes_a_dead_recorders_plan(tmp_path):
    """The guardian alone: the pipe closed without 'done' -> the plan is undone."""
    scratch = tmp_path / ".t.tmp-1"
    scratch.mkdir()
    (scratch / "x").write_text("half")
    g = subprocess.Popen([sys.executable, "-I", str(ROOT / "mmkit" / "trace" / "guardian.py")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    g.stdin.write(json.dumps({"instance": None, "unmount": None, "remove": str(scratch)}) + "\n")
    g.stdin.flush()
    assert g.stdout.readline().strip() == "ready"
    g.stdin.close()
    assert g.wait(timeout=10) == 0
    assert not scratch.exists()
    # and with 'done' it leaves everything alone
    scratch.mkdir()
    g = subprocess.Popen([sys.executable, "-I", str(ROOT / "mmkit" / "trace" / "guardian.py")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    g.stdin.write(json.dumps({"remove": str(scratch)}) + "\ndone")
    g.stdin.close()
    assert g.wait(timeout=10) == 0
    assert scratch.exists()


def test_raw_pages_are_whole_pages(tmp_path):
    """What trace_pipe_raw hands out is whole pages of header_page's size."""
    raw = capture_pair(tmp_path, ["true"])
    h, _, _ = load_formats(tmp_path / "formats")
    for b in raw.values():
        assert len(b) % h.page_size == 0
        if b:
            commits = np.frombuffer(b, np.uint64).reshape(-1, h.page_size // 8)[:, 1] & ((1 << 27) - 1)
            assert (commits <= h.data_size).all()
