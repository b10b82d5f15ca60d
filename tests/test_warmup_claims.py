"""mmkit.warmup's processes share the compile: a process claims a function before it
compiles it, and one that meets another's claim leaves its door for later or waits, then
loads the function from the cache. Each test runs its own small module in fresh
processes with their own numba cache (``NUMBA_CACHE_DIR``), so nothing here touches the
engine's cache."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="NUMBA_DISABLE_JIT=1: no compiler")


def _loops(n):
    body = "".join(f"""
    for x in a:
        if x % {p} == 0:
            s += x * {p + 4}
        elif x % {p + 2} == 1:
            s ^= x << {k % 5 + 1}
        else:
            s += (x * x) % {p + 6}""" for k, p in enumerate(range(7, 7 + 4 * n, 4)))
    return f"""
@kernel
def big(a):
    s = 0{body}
    return s
"""


# two doors that both need ``big`` (a kernel slow enough to compile that two processes
# starting together both reach it), and a door of its own
_MODULE = """
import numpy as np
from mmkit.engine.jit import kernel
""" + _loops(24) + """

@kernel
def left(a):
    return big(a) + 1


@kernel
def right(a):
    return big(a) * 2


@kernel
def solo(a):
    return a[0] + 5


def door_left():
    left(np.arange(40, dtype=np.int64))


def door_right():
    right(np.arange(40, dtype=np.int64))


def door_solo():
    solo(np.arange(3, dtype=np.int64))


DOORS = (door_left, door_right, door_solo)
"""

_WORKER = """
import json, sys, time
import wk
from mmkit import warmup
warmup._work(sys.argv[1], time.monotonic(), True, lambda: True, wk.DOORS)
# each function: [compiled here, loaded from the cache] (a compile a _Busy unwound counts a miss, not an overload)
print(json.dumps({n: [len(f.overloads) - sum(f.stats.cache_hits.values()), sum(f.stats.cache_hits.values())]
                  for n, f in ((n, getattr(wk, n)) for n in ("big", "left", "right", "solo"))}))
"""


def _env(tmp_path):
    (tmp_path / "wk.py").write_text(_MODULE)
    return dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                NUMBA_CACHE_DIR=str(tmp_path / "cache"))


def test_two_processes_compile_each_function_once_and_run_every_door(tmp_path):
    """Two warm-up processes started together on doors that share a kernel: every door is
    run, and each function is compiled in one process only (the other, if it needs it,
    loads it from the cache)."""
    env = _env(tmp_path)
    folder = tmp_path / "claims"
    folder.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(folder)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    got = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    for name in ("big", "left", "right", "solo"):
        assert got[0][name][0] + got[1][name][0] == 1, (name, got)
    assert got[0]["big"][1] + got[1]["big"][1] <= 1  # loaded by the other process, if it needed it
    assert sorted(p.name for p in folder.iterdir()) == ["door-0.done", "door-1.done", "door-2.done"]


_CLAIMS = """
import json, os, subprocess, sys, time
from pathlib import Path
import numpy as np
from numba.core.dispatcher import Dispatcher
import wk
from mmkit import warmup

folder = Path(sys.argv[1])
compile_ = Dispatcher.compile
out = {}
seen = []

def leave(claim, lost):
    seen.append((claim.name, lost))
    raise warmup._Busy(claim)

# another live process (this one's parent, the test) holds big: left's compile leaves
claim = folder / "kernel-wk.big"
claim.write_text(str(os.getppid()))
with warmup.claims(folder, leave):
    try:
        wk.left(np.arange(40, dtype=np.int64))
        out["left"] = "ran"
    except warmup._Busy as b:
        out["left"] = b.claim.name
out["seen"] = seen
out["compiled"] = [len(wk.big.overloads), len(wk.left.overloads)]
out["claims_after_busy"] = sorted(p.name for p in folder.iterdir())
out["restored"] = Dispatcher.compile is compile_

# the holder died: the claim is released and the function compiled here
dead = subprocess.Popen(["true"])
dead.wait()
claim.write_text(str(dead.pid))
with warmup.claims(folder, lambda c, lost: warmup._wait_for(c)):
    out["value"] = int(wk.left(np.arange(40, dtype=np.int64)))
out["compiled_after"] = [len(wk.big.overloads), len(wk.left.overloads)]
out["claims_after"] = sorted(p.name for p in folder.iterdir())
print(json.dumps(out))
"""


def test_a_claim_held_by_a_live_process_leaves_the_door_and_a_dead_ones_is_taken_over(tmp_path):
    """``claims``: a function another live process holds is not compiled here; the door's
    compile is unwound (``_Busy``) with nothing compiled above the held function and no
    claim of this process left behind, and the work it threw away is reported. A claim
    whose process has died is taken over. ``Dispatcher.compile`` is numba's own again
    after."""
    env = _env(tmp_path)
    folder = tmp_path / "claims"
    folder.mkdir()
    out = subprocess.run([sys.executable, "-c", _CLAIMS, str(folder)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["left"] == "kernel-wk.big"
    [(name, lost)] = got["seen"]
    assert name == "kernel-wk.big" and 0 < lost < 60  # left's compile was under way
    assert got["compiled"] == [0, 0]
    assert got["claims_after_busy"] == ["kernel-wk.big"]  # the other's claim stays, left's is gone
    assert got["restored"] is True
    assert got["compiled_after"] == [1, 1] and got["claims_after"] == []
    import numpy as np

    a = np.arange(40, dtype=np.int64)
    expect = 0  # big's loops in Python
    for p in range(7, 7 + 4 * 24, 4):
        k = (p - 7) // 4
        for x in a:
            x = int(x)
            if x % p == 0:
                expect += x * (p + 4)
            elif x % (p + 2) == 1:
                expect ^= x << (k % 5 + 1)
            else:
                expect += (x * x) % (p + 6)
    assert got["value"] == expect + 1
