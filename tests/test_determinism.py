"""Determinism: the same memory, workload, variants and seed give the same frames and final
memories bit for bit in this process, in a fresh one, and in two processes running at
once with different hash seeds and numba thread counts. (On a Dask worker: the sweep's
tests.) Random numbers come only from the engine's seeded splitmix64.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_run import frame_hash

import mmkit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "verification"))
import fuzz  # make_mini: a small real snapshot


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return fuzz.make_mini(tmp_path_factory.mktemp("det") / "mini")


def memory_hash(mem) -> str:
    h = hashlib.sha256()
    for name in ("flags", "mapcount", "mapping", "refcount", "kind", "private", "lru_next", "lru_prev",
                 "pb_flags", "nr_free"):
        h.update(getattr(mem, name).tobytes())
    build = {k: v for k, v in mem.meta["from_snapshot"].items() if k != "build_seconds"}
    h.update(json.dumps(build, sort_keys=True, default=str).encode())
    return h.hexdigest()


def hashes(mini: str) -> dict[str, str]:
    """The hashes compared across processes: a compare of every named variant and a
    user-built one on a synthetic machine, a snapshot rebuilt, and a compare from it."""
    import mmkit.snapshot

    built = mmkit.variant("v3-04").replace(name="v3-04+huge", zsmalloc_huge_owner_priv_1=True)
    synthetic = mmkit.compare(workload="review-04", variants=[*mmkit.semantics.NAMED, built], seed=7,
                              gib=0.25, ticks=60)
    rebuilt = mmkit.Memory.from_snapshot(mmkit.snapshot.load(mini), variant="v3-04")
    from_snap = mmkit.compare(mini, workload="zram-pressure", variants=["v4.5", "v3-02", "v4.8"], seed=7, ticks=40)
    return {"synthetic": frame_hash(synthetic), "rebuilt": memory_hash(rebuilt), "from_snapshot": frame_hash(from_snap)}


CHILD = ("import json, sys; sys.path.insert(0, sys.argv[1]); from test_determinism import hashes; "
         "print(json.dumps(hashes(sys.argv[2])))")


# the pure-Python engine (coverage runs) takes minutes per compare: children always jit
NO_JIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"
JIT_ENV = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}


def child(mini: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT / "tests"), str(mini)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**JIT_ENV, **env}, cwd=ROOT)


def result_of(p: subprocess.Popen) -> dict[str, str]:
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def here(mini):
    return result_of(child(mini)) if NO_JIT else hashes(str(mini))


@pytest.mark.skipif(NO_JIT, reason="minutes without the JIT; the other tests compare processes")
def test_same_hashes_in_this_process_twice(mini, here):
    assert hashes(str(mini)) == here


@pytest.mark.slow  # the slow tier: fresh processes
def test_same_hashes_in_a_fresh_process_and_in_two_at_once(mini, here):
    """One child alone, then two children started together (different PYTHONHASHSEED,
    one numba thread or two): every hash equals this process's."""
    alone = result_of(child(mini, PYTHONHASHSEED="0"))
    a, b = child(mini, PYTHONHASHSEED="1", NUMBA_NUM_THREADS="1"), child(mini, PYTHONHASHSEED="4242")
    both = [result_of(a), result_of(b)]
    assert alone == here
    assert both == [here, here]


@pytest.mark.skipif(NO_JIT, reason="minutes without the JIT")
def test_different_seeds_differ():
    other = mmkit.compare(workload="review-04", variants=["v4.5", "v4.8"], seed=8, gib=0.25, ticks=60)
    same_seed = mmkit.compare(workload="review-04", variants=["v4.5", "v4.8"], seed=7, gib=0.25, ticks=60)
    assert frame_hash(other) != frame_hash(same_seed)


@pytest.mark.skipif(NO_JIT, reason="minutes without the JIT")
@pytest.mark.parametrize("cpus", [0, 2])
def test_a_variant_runs_the_same_whatever_runs_beside_it(cpus):
    """One prefill serves every variant of a compare, so it may read no variant rule: a
    variant's frames and end state do not depend on the others in the list, nor (without
    CPUs) on which comes first (v6.18 first: its CMA-first rule, ``cma_balance``, once
    changed the prefill of review-04's CMA area). With CPUs the prefill runs under the
    first variant's per-CPU rules, as ``compare`` documents."""
    import polars as pl

    from mmkit.engine.kpageflags import kpageflags

    lists = (["v6.18"], ["v6.18", "v4.5"], ["v4.5", "v3-04", "v6.18"] if cpus == 0 else ["v6.18", "v3-04", "v4.8"])
    runs = [mmkit.compare(workload="review-04", variants=vs, seed=3, gib=0.25, ticks=40, cpus=cpus)
            for vs in lists]
    for name in ("timeline", "zone_timeline", "events", "vmstat"):
        frames = [getattr(r, name).filter(pl.col("variant") == "v6.18") for r in runs]
        assert all(f.equals(frames[0]) for f in frames[1:]), name
    ends = [kpageflags(r.memories["v6.18"]).tobytes() for r in runs]
    assert ends[1] == ends[0] and ends[2] == ends[0]


# what would draw random numbers, or vary from process to process, outside the seeded
# generator (uuid4 names of temporary files and HTML elements are not results)
UNSEEDED = re.compile(r"\bnp\.random\b|\bnumpy\.random\b|^\s*import random\b|^\s*from random import|"
                      r"\bos\.urandom\b|\bsecrets\.|\buuid\.uuid[14]\b|\bhash\(", re.MULTILINE)
RESULT_CODE = ("engine", "model", "semantics", "workloads", "metrics", "snapshot", "reference", "run.py",
               "result.py", "compact.py")


def test_randomness_only_from_the_seeded_generator():
    """The engine draws from splitmix64 in its state (``mmkit.engine.state.rand_u64``) and
    the reference twin from the same generator in Python; no code that computes a result
    uses numpy's or Python's global generators, OS entropy, uuid4 or ``hash()`` (which
    varies with PYTHONHASHSEED)."""
    hits = []
    for part in RESULT_CODE:
        root = ROOT / "mmkit" / part
        for p in sorted(root.rglob("*.py") if root.is_dir() else [root]):
            text = p.read_text()
            for m in UNSEEDED.finditer(text):
                hits.append(f"{p.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}: {m.group(0).strip()}")
    assert not hits, hits
