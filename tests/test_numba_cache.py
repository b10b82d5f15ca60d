"""The engine's numba cache is found by the functions' place in the package and the
content of their files: a second copy of the same sources loads it instead of compiling
(a clean clone, a reinstall, Binder's image)."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import mmkit
from mmkit.engine import CACHE_DIR, buddy

ROOT = Path(mmkit.__file__).resolve().parent

PROBE = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
import mmkit
assert mmkit.__file__.startswith({root!r}), mmkit.__file__
from mmkit.engine import CACHE_DIR, buddy
m = mmkit.Memory.synthetic(mib=32, variant="v4.8")
buddy.zone_free_pages(m.arrays(), 0)
print(CACHE_DIR)
print(sum(buddy.zone_free_pages.stats.cache_hits.values()), sum(buddy.zone_free_pages.stats.cache_misses.values()))
"""


def test_a_second_copy_of_the_sources_loads_the_cache(tmp_path):
    m = mmkit.Memory.synthetic(mib=32, variant="v4.8")
    buddy.zone_free_pages(m.arrays(), 0)  # compiled or loaded here first
    copy = tmp_path / "src"
    shutil.copytree(ROOT, copy / "mmkit", ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(copy))], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.splitlines()
    assert out[0] == CACHE_DIR  # same sources, same cache folder
    hits, misses = (int(x) for x in out[1].split())
    assert (hits, misses) == (1, 0)


def test_a_docstring_edit_in_a_kernel_file_loads_the_cache(tmp_path):
    """numba checks a kernel's cache against its file's stamp: mmkit's is the digest of
    the file's code, so a docstring edit in the kernel's own file compiles nothing."""
    m = mmkit.Memory.synthetic(mib=32, variant="v4.8")
    buddy.zone_free_pages(m.arrays(), 0)  # compiled or loaded here first
    copy = tmp_path / "src"
    shutil.copytree(ROOT, copy / "mmkit", ignore=shutil.ignore_patterns("__pycache__"))
    _edit(copy / "mmkit" / "engine" / "buddy.py", '"""``zone_page_state(zone, NR_FREE_PAGES)``',
          '"""An edited docstring: ``zone_page_state``')
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(copy))], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.splitlines()
    assert out[0] == CACHE_DIR
    hits, misses = (int(x) for x in out[1].split())
    assert (hits, misses) == (1, 0)


@pytest.mark.slow  # the slow tier: a fresh process compiling
def test_an_edited_copy_gets_its_own_cache(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(ROOT, copy / "mmkit", ignore=shutil.ignore_patterns("__pycache__"))
    f = copy / "mmkit" / "engine" / "buddy.py"
    f.write_text(f.read_text() + "\n_AN_EDIT = 1\n")
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(copy)).replace(
        "buddy.zone_free_pages(m.arrays(), 0)\n", "")], capture_output=True, text=True, check=True,
        cwd=tmp_path).stdout.splitlines()
    assert out[0] != CACHE_DIR and Path(out[0]).parent == Path(CACHE_DIR).parent


CACHE_DIR_OF = """
import sys
sys.path.insert(0, {root!r})
import mmkit.engine
assert mmkit.engine.__file__.startswith({root!r})
print(mmkit.engine.CACHE_DIR)
"""


def _cache_dir_of(src: Path) -> str:
    return subprocess.run([sys.executable, "-c", CACHE_DIR_OF.format(root=str(src))], capture_output=True, text=True,
                          check=True, cwd=src).stdout.strip()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_the_cache_folder_follows_code_not_docstrings(tmp_path):
    """A docstring or comment edit, in the engine or in a module it imports (a Variant
    field's docstring too), keeps the compiled engine; a changed constant in an imported
    module starts a fresh one."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT, copy / "mmkit", ignore=shutil.ignore_patterns("__pycache__"))
    assert _cache_dir_of(copy) == CACHE_DIR
    engine, memory, kinds, variant = (copy / "mmkit" / f for f in (
        "engine/buddy.py", "model/memory.py", "model/kinds.py", "semantics/variant.py"))
    _edit(memory, '"""', '"""An edited module docstring. ')
    _edit(engine, '"""``zone_page_state(zone, NR_FREE_PAGES)``', '"""An edited docstring: ``zone_page_state``')
    _edit(variant, '"""Compaction for an order above 0 first', '"""An edited field docstring: compaction first')
    engine.write_text(engine.read_text() + "\n# a comment\n")
    assert _cache_dir_of(copy) == CACHE_DIR
    _edit(kinds, "PAGEBLOCK_ORDER = 9", "PAGEBLOCK_ORDER = 10")
    assert _cache_dir_of(copy) != CACHE_DIR


def test_the_cache_key_covers_what_the_engine_imports():
    from mmkit.engine import _PACKAGE, engine_sources

    files = {str(p.relative_to(_PACKAGE)) for p in engine_sources()}
    assert {"engine/buddy.py", "engine/jit.py", "model/kinds.py", "model/flags.py", "semantics/variant.py",
            "semantics/rules.py"} <= files
    assert not any(f.startswith(("viz/", "report/", "sweep/", "snapshot/")) for f in files)


def test_an_unwritable_cache_folder_falls_back_to_a_private_one(tmp_path):
    """A cache folder this user cannot write (here XDG_CACHE_HOME under a file; a
    read-only home, another user's XDG_CACHE_HOME): mmkit says so on stderr and compiles
    into ``<tmp>/mmkit-<uid>`` (0700), where numba alone would fail at the first kernel
    with "no locator available"."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    (tmp_path / "t").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(XDG_CACHE_HOME=str(blocker / "cache"), TMPDIR=str(tmp_path / "t"))
    code = ("import mmkit; from mmkit.engine import CACHE_DIR, buddy; "
            "m = mmkit.Memory.synthetic(mib=32, variant='v4.8'); print(CACHE_DIR); "
            "print(buddy.zone_free_pages(m.arrays(), 0))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    mine = tmp_path / "t" / f"mmkit-{os.getuid()}"
    cache_dir, free = r.stdout.split()
    assert Path(cache_dir).parent == mine and int(free) > 0
    assert f"{blocker / 'cache'}" in r.stderr and "is not writable" in r.stderr
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700
    assert any(Path(cache_dir).rglob("*.nbi"))  # the kernel was compiled and kept there


def test_a_fallback_folder_others_may_write_is_refused(tmp_path, monkeypatch):
    """Compiled code is loaded from the fallback folder, so one that another user could
    write (or own) is not used: a clear error names the way out."""
    import tempfile

    from mmkit.engine import _private_fallback
    from mmkit.errors import MmkitError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"mmkit-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(MmkitError, match="set NUMBA_CACHE_DIR"):
        _private_fallback(tmp_path / "a-file" / "cache", "0123")
