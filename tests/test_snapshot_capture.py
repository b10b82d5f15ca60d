"""capture(): against a fake /proc (every path), and once against this machine's real one."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from denied import deny_opens
from nobody import as_nobody

import mmkit.metrics
import mmkit.snapshot
from mmkit.errors import ParameterError, SnapshotError
from mmkit.snapshot import live as capmod

FIXTURE = Path(__file__).parent / "data" / "linux-6.18-idle"
TEXTS = ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo")
N = 5000  # page frames in the fake kpageflags


@pytest.fixture
def fake(tmp_path):
    """A fake /proc and debugfs holding the fixture's texts and a small kpageflags."""
    proc = tmp_path / "proc"
    (proc / "sys" / "kernel").mkdir(parents=True)
    for name in TEXTS:
        shutil.copy(FIXTURE / name, proc / name)
    (proc / "sys" / "kernel" / "osrelease").write_text("6.18.0-fake\n")
    flags = np.arange(N, dtype="<u8") % 7 * 0x400
    counts = np.arange(N, dtype="<u8") % 3
    flags.tofile(proc / "kpageflags")
    counts.tofile(proc / "kpagecount")
    dbg = tmp_path / "debug"
    (dbg / "extfrag").mkdir(parents=True)
    for name in ("extfrag_index", "unusable_index"):
        shutil.copy(FIXTURE / name, dbg / "extfrag" / name)
    return {"proc_root": proc, "debugfs_root": dbg, "flags": flags, "counts": counts, "tmp": tmp_path}


def run(fake, out="snap", **kw):
    return mmkit.snapshot.capture(fake["tmp"] / out, proc_root=fake["proc_root"],
                                  debugfs_root=fake["debugfs_root"], **kw)


def test_capture_from_fake_proc(fake):
    s = run(fake)
    assert s.files == TEXTS + ("extfrag_index", "unusable_index", "kpageflags.gz", "kpagecount.gz", "meta.json")
    for name in TEXTS:
        assert (s.path / name).read_bytes() == (FIXTURE / name).read_bytes()
    assert s.kpageflags.tolist() == fake["flags"].tolist()
    assert s.kpagecount.tolist() == fake["counts"].tolist()
    # stored gzip-compressed, and plain gzip: zcat reads it
    assert gzip.decompress((s.path / "kpageflags.gz").read_bytes()) == fake["flags"].tobytes()
    m = s.meta
    assert m["kernel_release"] == "6.18.0-fake" and m["nr_pfns"] == N and m["pageblock_order"] == 9
    assert m["consistent"] is True and m["attempts"] == 1 and m["debugfs"] == "read"
    assert m["page_size"] == os.sysconf("SC_PAGE_SIZE") and m["capture_seconds"] >= 0
    assert mmkit.metrics.check(s) == ("extfrag_index", "unusable_index")
    # written atomically: nothing else is left beside the snapshot
    assert sorted(p.name for p in fake["tmp"].iterdir()) == ["debug", "proc", "snap"]


def test_same_state_same_bytes(fake):
    a, b = run(fake, "a"), run(fake, "b")
    for name in ("kpageflags.gz", "kpagecount.gz"):  # gzip mtime 0: reproducible
        assert (a.path / name).read_bytes() == (b.path / name).read_bytes()


def test_refuses_existing_folder(fake):
    run(fake)
    with pytest.raises(SnapshotError, match="already exists"):
        run(fake)
    s = run(fake, overwrite=True)
    assert s.meta["consistent"]
    assert sorted(p.name for p in fake["tmp"].iterdir()) == ["debug", "proc", "snap"]


def test_empty_folder_is_fine(fake):
    (fake["tmp"] / "snap").mkdir()
    assert run(fake).has("kpageflags")


def test_missing_parent(fake):
    with pytest.raises(SnapshotError, match="does not exist; create it first"):
        run(fake, "no/such/dir")


_deny = deny_opens


def test_not_root_writes_what_it_can_and_says_what_is_missing(fake, monkeypatch):
    _deny(monkeypatch, ("kpageflags", "kpagecount", "pagetypeinfo"))
    s = run(fake)
    assert s.files == ("buddyinfo", "zoneinfo", "vmstat", "meminfo", "extfrag_index", "unusable_index", "meta.json")
    m = s.meta
    assert m["missing"] == {"pagetypeinfo": "needs root (0400 since 5.6)", "kpageflags": "needs root (0400)",
                            "kpagecount": "needs root (0400)"}
    assert m["nr_pfns"] is None and "pageblock_order" not in m and m["consistent"] is True
    # what is there loads; what is not names the file and how to get it
    s.validate()
    assert s.zone_names == ("DMA", "DMA32", "Normal") and s.vmstat.height > 100
    assert mmkit.metrics.check(s) == ("extfrag_index", "unusable_index")
    with pytest.raises(SnapshotError, match=r"no kpageflags file .*\(as root\)"):
        s.kpageflags
    with pytest.raises(SnapshotError, match="no pagetypeinfo file"):
        s.pagetypeinfo
    assert sorted(p.name for p in fake["tmp"].iterdir()) == ["debug", "proc", "snap"]  # no temporary left


def test_pagetypeinfo_unreadable(fake, monkeypatch):
    _deny(monkeypatch, ("pagetypeinfo",))  # 0400 since v5.6
    s = run(fake)
    assert s.meta["missing"] == {"pagetypeinfo": "needs root (0400 since 5.6)"}
    assert s.has("kpageflags") and not s.has("pagetypeinfo") and s.meta["nr_pfns"] == N


def test_root_capture_records_nothing_missing(fake):
    assert run(fake).meta["missing"] == {}


def test_missing_proc_file(fake):
    (fake["proc_root"] / "kpagecount").unlink()  # a kernel without it: left out, said why
    s = run(fake)
    assert s.meta["missing"] == {"kpagecount": "not in this kernel (no such file)"}
    assert s.kpageflags.tolist() == fake["flags"].tolist()
    (fake["proc_root"] / "buddyinfo").unlink()  # the one file a snapshot needs
    with pytest.raises(SnapshotError, match=r"cannot read .*buddyinfo: No such file"):
        run(fake, "b")


def test_proc_root_via_module_default(fake, monkeypatch):
    monkeypatch.setattr(capmod, "PROC_ROOT", fake["proc_root"])
    monkeypatch.setattr(capmod, "DEBUGFS_ROOT", fake["debugfs_root"])
    assert mmkit.snapshot.capture(fake["tmp"] / "x").meta["kernel_release"] == "6.18.0-fake"


def test_without_debugfs(fake):
    shutil.rmtree(fake["debugfs_root"] / "extfrag")
    s = run(fake)
    assert not s.has("extfrag_index") and s.meta["debugfs"].startswith("missing")
    with pytest.raises(SnapshotError, match="no extfrag_index or unusable_index"):
        mmkit.metrics.check(s)


def test_lengths_must_match(fake):
    fake["flags"][:10].tofile(fake["proc_root"] / "kpagecount")
    with pytest.raises(SnapshotError, match="different lengths"):
        run(fake)


def test_odd_length_array(fake):
    (fake["proc_root"] / "kpageflags").write_bytes(b"\0" * 12)
    with pytest.raises(SnapshotError, match="not a whole number of u64"):
        run(fake)


def test_array_longer_than_zoneinfo_says(fake):
    # the buffers are sized from zoneinfo; a kernel returning more spills into extra chunks
    reader = capmod._ArrayReader(fake["proc_root"], 1)  # room for 1 pfn + one read chunk
    big = np.arange(3 * capmod._READ_CHUNK // 8, dtype="<u8")
    big.tofile(fake["proc_root"] / "kpageflags")
    reader.read()
    assert reader.data("kpageflags") == big.tobytes()
    assert reader.data("kpagecount") == fake["counts"].tobytes()


def test_inconsistent_state_is_retried_then_recorded(fake, monkeypatch):
    """buddyinfo changes during every array read: all attempts used, meta says so."""
    real_read = capmod._ArrayReader.read
    calls = []

    def read_and_disturb(self):
        real_read(self)
        calls.append(1)
        bi = fake["proc_root"] / "buddyinfo"
        bi.write_text(re.sub(r"Normal +\d+", f"Normal   {1091 + len(calls)}", bi.read_text()))

    monkeypatch.setattr(capmod._ArrayReader, "read", read_and_disturb)
    s = run(fake, attempts=3)
    assert len(calls) == 3
    assert s.meta["consistent"] is False and s.meta["attempts"] == 3


def test_unstable_buddyinfo_within_a_group(fake, monkeypatch):
    real = capmod._read_all
    n = [0]

    def flaky(path, limit):
        data = real(path, limit)
        if Path(path).name == "buddyinfo":
            n[0] += 1
            data += b"Node 0, zone  Movable" + b"      0" * 11 + b" \n" if n[0] % 2 else b""
        return data

    monkeypatch.setattr(capmod, "_read_all", flaky)
    with pytest.raises(SnapshotError, match="changed on each of 20 quick re-reads"):
        run(fake)


@pytest.mark.parametrize("kw", [{"attempts": 0}, {"compresslevel": 10}])
def test_bad_arguments(fake, kw):
    with pytest.raises(ParameterError):
        run(fake, **kw)


# ------------------------------------------------------------------ the real machine
def _can_capture() -> bool:
    try:
        fd = os.open("/proc/kpageflags", os.O_RDONLY)
    except OSError:
        return False
    os.close(fd)
    return os.geteuid() == 0


@pytest.mark.slow  # the slow tier: this machine's real /proc
@pytest.mark.skipif(not _can_capture(), reason="needs root and /proc/kpageflags")
def test_capture_this_machine(tmp_path):
    s = mmkit.snapshot.capture(tmp_path / "live")
    m = s.meta
    assert m["capture_seconds"] < 30 and m["nr_pfns"] == s.kpagecount.shape[0] == s.kpageflags.shape[0]
    assert m["kernel_release"] == os.uname().release
    assert json.loads((s.path / "meta.json").read_text()) == m
    s.validate()
    text = mmkit.snapshot.page_types_text(s)
    assert text.splitlines()[-1].split()[1] == str(m["nr_pfns"])
    if m["consistent"] and s.has("extfrag_index"):
        assert mmkit.metrics.check(s) == ("extfrag_index", "unusable_index")


def test_destination_is_a_file(fake):
    (fake["tmp"] / "snap").write_text("x")
    with pytest.raises(SnapshotError, match="not a folder"):
        run(fake, overwrite=True)


# ------------------------------------------------------------------ a real unprivileged user
def test_capture_as_nobody_from_the_command_line():
    """``mmkit snapshot capture`` run as the user nobody on this machine's real /proc."""
    import tempfile

    root = Path(__file__).resolve().parent.parent
    nobody = as_nobody()
    tmp_path = Path(tempfile.mkdtemp(prefix="mmkit-nobody-"))  # pytest's tmp_path is root's alone
    os.chmod(tmp_path, 0o777)
    try:
        _capture_as_nobody(nobody, root, tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _capture_as_nobody(nobody: list[str], root: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run(nobody + [sys.executable, "-m", "mmkit", "snapshot", "capture", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=120, cwd=root,
                       env={**os.environ, "PYTHONPATH": str(root), "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "no page arrays" in r.stdout
    assert "left out pagetypeinfo: needs root (0400 since 5.6)" in r.stdout
    assert "left out kpageflags: needs root (0400)" in r.stdout
    s = mmkit.snapshot.load(tmp_path / "s")
    assert set(s.files) >= {"buddyinfo", "zoneinfo", "vmstat", "meminfo", "meta.json"}
    assert not s.has("kpageflags") and not s.has("pagetypeinfo")
    assert s.validate().nr_free.sum() > 0
