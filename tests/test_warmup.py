"""mmkit.warmup: each door and the whole warm-up run (the cache is warm here, so each
loads in seconds), the mark that makes a second run return at once, and every kernel
reached. How its processes share the compile: tests/test_warmup_claims.py."""

import pytest

import mmkit.engine
from mmkit import warmup

pytestmark = pytest.mark.slow  # the slow tier: the warm-up's processes


def test_each_door_runs():
    for door in warmup.DOORS:
        door()


@pytest.mark.parametrize("jobs", [1, 2])
def test_warm_writes_its_mark_and_then_returns_at_once(tmp_path, monkeypatch, capfd, jobs):
    monkeypatch.setattr(mmkit.engine, "CACHE_DIR", str(tmp_path / "cache"))
    assert warmup.warm(jobs=jobs) > 0
    assert (tmp_path / "cache" / warmup._MARK).is_file()
    err = capfd.readouterr().err
    assert all(f"{d.__name__.strip('_').replace('_', ' ')}: done at" in err for d in warmup.DOORS), err
    assert "engine compiled in" in err
    assert warmup.warm(jobs=jobs) == 0.0
    assert capfd.readouterr().err == ""


ENTRIES = """
import json
from mmkit import warmup
for door in warmup.DOORS:  # what warm() runs, in its order (jobs=1)
    door()
import kernelgraph
ks = kernelgraph.kernels()
print(json.dumps(sorted(n for n, d in ks.items() if d.signatures)))
# every door of a Sim, after the warm-up: each must find its kernel in the cache
before = {n: sum(d.stats.cache_misses.values()) for n, d in ks.items()}
sim = warmup._machine()
sim.anon(4); sim.anon(2, pinned=True); sim.file(4, dirty=True); sim.folio(2, order=3, file=False); sim.thp(1)
pfns = sim.kernel(4, order=1)
sim.free(sim.anon(3))
sim.balloon_inflate(4); sim.balloon_deflate(2); sim.zram_store(4); sim.zram_free(2)
sim.reclaim(); sim.compact_zone(order=9); sim.compact_memory()
r = sim.alloc_contig_range(4096, 4096 + 1024)
if r["ok"]:
    sim.free_contig_range(4096, 4096 + 1024)
sim.kpageflags(); sim.check()
print(json.dumps(sorted(n for n, d in ks.items() if sum(d.stats.cache_misses.values()) > before[n])))
"""


def test_every_kernel_is_compiled_by_the_warm_up():
    """Every numba kernel of the engine is one that the warm-up compiles (as a kernel
    called from Python) or one that such a kernel calls, read from the kernels' own
    source; and each door of a Sim then finds its kernel compiled, with the argument
    types it passes. A kernel the warm-up missed would compile, for minutes on a fresh
    machine, in the middle of someone's notebook or test."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import kernelgraph

    here = Path(__file__).resolve().parent
    out = subprocess.run([sys.executable, "-c", ENTRIES], capture_output=True, text=True, check=True,
                         cwd=here).stdout.strip().splitlines()
    entries, compiled_after = json.loads(out[-2]), json.loads(out[-1])
    ks = kernelgraph.kernels()
    assert len(entries) >= 20 and set(entries) <= set(ks)
    graph = {n: kernelgraph.callees(d) for n, d in ks.items()}
    missing = sorted(set(ks) - kernelgraph.reachable(entries, graph))
    assert not missing, f"kernels the warm-up does not compile: {missing}"
    assert not compiled_after, f"kernels a Sim compiled after the warm-up: {compiled_after}"


def test_ctrl_c_stops_a_cold_warm_up_within_a_second(tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) in the middle of a
    cold compile: the warm-up and its second process end within a second, with one line
    and no traceback, no mark is written and no claim folder is left."""
    import glob
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    claims = os.path.join(tempfile.gettempdir(), "mmkit-warmup-*")
    before = set(glob.glob(claims))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    p = subprocess.Popen([sys.executable, "-m", "mmkit.warmup"], env=env, start_new_session=True,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # compiling: an empty cache takes more than a minute
    assert p.poll() is None
    t = time.monotonic()
    os.killpg(p.pid, signal.SIGINT)
    err = p.communicate(timeout=30)[1]
    assert time.monotonic() - t < 1.5 and p.returncode == 130, err[-2000:]
    assert "warm-up interrupted" in err and "Traceback" not in err, err[-2000:]
    assert not glob.glob(str(tmp_path / "cache" / "*" / warmup._MARK))
    assert set(glob.glob(claims)) <= before
