"""The README's two commands, run from a clean copy of the repository in a temporary
folder, as a new user would: ``bash run.sh`` makes its own .venv, installs mmkit from
PyPI's packages, loads the numba engine's cache (found by the sources' content, so a
copy of the same sources compiles nothing; on a fresh machine it compiles), executes the
flagship notebook and prints its report's path.

``bash run.sh test`` is run with ``--collect-only``: it sets up the same way and must
collect every test, but running the whole suite inside the suite would double CI's time
(the suite itself is what CI runs with that command).

The copy is a ``git clone`` of the checkout when its work tree is clean (CI: a fresh
clone of main); with uncommitted changes, the files git would commit (tracked and
untracked, not ignored) are copied instead, so the test checks the work in progress.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmkit.report import MAX_BYTES

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, check=True)


def clean_copy(dst: Path) -> str:
    """The repository as a new user gets it, in ``dst``; returns how it was made."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to make a clean copy")
    if not _git("status", "--porcelain").stdout.strip():
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(dst)], check=True)
        return "git clone"
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout.split(b"\0")
    for rel in filter(None, (p.decode() for p in listed)):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return "copy of the work tree (uncommitted changes)"


def new_user_env() -> dict[str, str]:
    """This environment without this venv: ``python3`` is the system's, as on a fresh machine."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    return env


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    dst = tmp_path_factory.mktemp("readme") / "mmkit"
    dst.mkdir()
    how = clean_copy(dst)
    print(f"clean copy ({how}) in {dst}")
    yield dst
    shutil.rmtree(dst, ignore_errors=True)


def test_main_command_writes_the_report(checkout):
    if shutil.which("python3", path=new_user_env()["PATH"]) is None:
        pytest.skip("no python3 outside this venv")
    t0 = time.perf_counter()
    r = subprocess.run(["bash", "run.sh"], cwd=checkout, env=new_user_env(), capture_output=True, text=True,
                       timeout=40 * 60, stdin=subprocess.DEVNULL, check=False)
    seconds = time.perf_counter() - t0
    print(f"bash run.sh: {seconds:.0f} s\n--- stderr (tail)\n{r.stderr[-3000:]}")
    assert r.returncode == 0, r.stderr[-5000:]
    printed = r.stdout.strip().splitlines()[-1]
    report = Path(printed) if Path(printed).is_absolute() else checkout / printed
    assert report.resolve() == (checkout / "reports" / "02-the-review.html").resolve()
    text = report.read_text(encoding="utf-8")
    assert 0 < len(text.encode()) < MAX_BYTES
    assert text.count('class="vega-spec"') > 0 and text.count("window.vegaEmbed=") == 1
    assert "[1/1] 02-the-review: executed in" in r.stderr


def test_test_command_sets_up_and_collects(checkout):
    """Runs after the main command, so the .venv exists; the command must still check it."""
    r = subprocess.run(["bash", "run.sh", "test", "--collect-only"], cwd=checkout, env=new_user_env(),
                       capture_output=True, text=True, timeout=20 * 60, stdin=subprocess.DEVNULL, check=False)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    # both tiers: the fast one on every core, then the slow one; together the whole suite
    lines = [ln for ln in r.stdout.splitlines() if "tests collected" in ln]
    assert len(lines) == 2 and not any("error" in ln for ln in lines), lines
    (fast, total), (slow, total2) = [map(int, ln.split()[0].split("/")) for ln in lines]
    assert fast > 0 and slow > 0 and fast + slow == total == total2, lines
