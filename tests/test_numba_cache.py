"""The engine's numba cache is found by the functions' place in the package and the
content of their files: a second copy of the same sources loads it instead of compiling
(a clean clone, a reinstall, Binder's image)."""

import shutil
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


@pytest.mark.slow  # the slow tier: a fresh process compiling
def test_an_edited_copy_gets_its_own_cache(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(ROOT, copy / "mmkit", ignore=shutil.ignore_patterns("__pycache__"))
    f = copy / "mmkit" / "engine" / "buddy.py"
    f.write_text(f.read_text() + "\n# an edit\n")
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(copy)).replace(
        "buddy.zone_free_pages(m.arrays(), 0)\n", "")], capture_output=True, text=True, check=True,
        cwd=tmp_path).stdout.splitlines()
    assert out[0] != CACHE_DIR and Path(out[0]).parent == Path(CACHE_DIR).parent
