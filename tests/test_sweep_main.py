"""A sweep started from a script with no file (``python - < script.py``, ``python -c``) or
from a script with no ``if __name__ == "__main__":`` guard: its spawn workers do not run
the main module, so each of these gives the frame an in-process sweep gives. Cells that
hold an object defined in a main module with no file are refused before any worker
starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import mmkit
from mmkit.errors import ParameterError
from mmkit.sweep import local

ROOT = Path(__file__).resolve().parent.parent
GRID = {"seed": [1, 2]}
KW = dict(gib=0.25, ticks=5, variants=["v4.5"], workers=2, thin=0)
SCRIPT = f"""
import json
import mmkit
frame = mmkit.sweep({GRID!r}, **{KW!r})
print("FRAME " + json.dumps(frame.to_dicts()))
"""

pytestmark = pytest.mark.slow  # the slow tier: scripts and their spawned workers


@pytest.fixture(scope="module")
def expected():
    return json.loads(json.dumps(mmkit.sweep(GRID, **KW).to_dicts()))


def run_python(args, tmp_path, stdin=None):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}  # the compiled engine, cached
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, timeout=600,
                         cwd=tmp_path, env=env, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("FRAME ")]
    assert len(line) == 1, out.stdout[-2000:]  # printed once: the workers did not run the script
    return json.loads(line[0].removeprefix("FRAME "))


def test_script_on_standard_input(expected, tmp_path):
    assert run_python(["-"], tmp_path, stdin=SCRIPT) == expected


def test_python_dash_c(expected, tmp_path):
    assert run_python(["-c", SCRIPT], tmp_path) == expected


def test_script_file_without_a_main_guard(expected, tmp_path):
    (tmp_path / "unguarded.py").write_text(SCRIPT)
    assert run_python(["unguarded.py"], tmp_path) == expected


# ------------------------------------------------------------------ the parts
class Probe:
    pass


def test_objects_defined_in_the_main_module_are_found(monkeypatch):
    main_cls = type("Mine", (), {"__module__": "__main__"})
    assert local.main_defined([{"a": (1, "x", Probe())}]) is None
    assert local.main_defined([{"a": (1, [main_cls()])}]) == "Mine"
    assert local.main_defined({"k": main_cls}) == "Mine"


def test_cells_needing_a_main_module_with_no_file_are_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    sys.modules["__main__"].__file__ = "<stdin>"
    sys.modules["__main__"].__spec__ = None
    mine = type("Mine", (), {"__module__": "__main__"})()
    with pytest.raises(ParameterError, match="Mine, defined in a main module that has no file"):
        local._worker_start([mine])
    with local._worker_start([1, 2]):  # nothing from __main__: started without it
        assert not hasattr(sys.modules["__main__"], "__file__") and sys.modules["__main__"].__spec__ is None
    assert sys.modules["__main__"].__file__ == "<stdin>"


def test_a_main_module_with_a_file_is_kept_for_cells_that_need_it(monkeypatch, tmp_path):
    main = types.ModuleType("__main__")
    main.__file__ = str(tmp_path / "script.py")
    main.__spec__ = None
    (tmp_path / "script.py").write_text("")
    monkeypatch.setitem(sys.modules, "__main__", main)
    mine = type("Mine", (), {"__module__": "__main__"})()
    with local._worker_start([mine]):
        assert sys.modules["__main__"].__file__ == str(tmp_path / "script.py")
