"""The ``mmkit`` command line: snapshot, page-types and debugfs subcommands."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmkit import cli
from mmkit.snapshot import live

ROOT = Path(__file__).parent.parent
FIXTURE = ROOT / "tests" / "data" / "linux-6.18-idle"


def test_page_types_prints_the_kernel_layout(capsys):
    assert cli.main(["page-types", str(FIXTURE)]) == 0
    assert capsys.readouterr().out == (FIXTURE / "page-types.txt").read_text()


def test_page_types_bits(capsys):
    want = (ROOT / "tests" / "data" / "page-types-bits" / "case17.txt").read_text()  # -b lru -b ~active
    assert cli.main(["page-types", str(FIXTURE), "-b", "lru", "--bits", "~active"]) == 0
    assert capsys.readouterr().out == want


@pytest.mark.parametrize("which", ["extfrag_index", "unusable_index"])
def test_debugfs(capsys, which):
    assert cli.main(["debugfs", str(ROOT / "data" / "fragmented"), which]) == 0
    assert capsys.readouterr().out == (ROOT / "data" / "fragmented" / which).read_text()


def test_debugfs_legacy_style(capsys):
    assert cli.main(["debugfs", str(FIXTURE), "extfrag_index", "--style", "legacy"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "Node 0, zone      DMA" + " -1.000" * 11 + " "


def test_snapshot_check(capsys):
    assert cli.main(["snapshot", "check", str(FIXTURE)]) == 0
    assert "extfrag_index, unusable_index identical" in capsys.readouterr().out


def test_snapshot_capture_with_fake_proc(tmp_path, monkeypatch, capsys):
    proc = tmp_path / "proc"
    proc.mkdir()
    for name in ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo"):
        shutil.copy(FIXTURE / name, proc / name)
    np.zeros(100, dtype="<u8").tofile(proc / "kpageflags")
    np.zeros(100, dtype="<u8").tofile(proc / "kpagecount")
    monkeypatch.setattr(live, "PROC_ROOT", proc)
    monkeypatch.setattr(live, "DEBUGFS_ROOT", tmp_path / "nodebug")
    assert cli.main(["snapshot", "capture", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "100 page frames" in out and "consistent" in out
    assert (tmp_path / "out" / "kpageflags.gz").is_file()
    # a second capture into the same folder is an error, one line, exit 2
    assert cli.main(["snapshot", "capture", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmkit: error: ") and "already exists" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, msg", [
    (["page-types", "/no/such/snapshot"], "does not exist"),
    (["page-types", str(FIXTURE), "-b", "nosuchflag"], "invalid name or number: nosuchflag"),
    (["debugfs", "/no/such/snapshot", "extfrag_index"], "does not exist"),
    (["snapshot", "check", "/no/such/snapshot"], "does not exist"),
])
def test_errors_are_one_line(capsys, argv, msg):
    assert cli.main(argv) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.startswith("mmkit: error: ") and msg in cap.err and cap.err.count("\n") == 1
    assert "Traceback" not in cap.err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["debugfs", str(FIXTURE), "buddyinfo"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        cli.main([])
    assert e.value.code == 2


def test_command_table_is_complete():
    names = {c.name for c in cli.COMMANDS}
    assert {"snapshot", "page-types", "debugfs"} <= names
    snap = next(c for c in cli.COMMANDS if c.name == "snapshot")
    assert {c.name for c in snap.children} == {"capture", "check"}


def test_real_process_exit_status_and_no_traceback():
    r = subprocess.run([sys.executable, "-m", "mmkit.cli", "page-types", "/no/such/snapshot"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("mmkit: error:") and "Traceback" not in r.stderr


def test_broken_pipe_is_quiet():
    p = subprocess.Popen([sys.executable, "-m", "mmkit.cli", "page-types", str(FIXTURE)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    first = p.stdout.readline()
    p.stdout.close()  # the reader goes away, like `| head -1`
    err = p.stderr.read().decode()
    assert p.wait() == 0 and first.startswith(b"             flags")
    assert "Traceback" not in err
