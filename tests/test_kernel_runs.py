"""``mmkit.compact_memory`` (v6.18) against this machine's kernel compacting the same
state, on the runs kept in ``data/compaction-runs`` (each made by
``verification/compaction_vs_kernel.py ... --bundle``; docs/validation.md has them all).

A run keeps state A (what the kernel compacted), the kernel's own figures after it
(buddyinfo, the vmstat deltas, where each zone's compact_zone ended) and the figures
mmkit gave when the run was bundled. The test rebuilds state A and compacts it again:
every target of issue 16 that the run met then must still be met, so a change of the
model that makes a prediction of the real kernel worse fails here. The targets, Normal
zone: free pages by order within 5 % (L1), the unusable free space index at order 9
within 0.020, pgmigrate_success and compact_free_scanned within 3 %, and a
compact_zone the kernel ended contended ended by mmkit in the same pageblock; the
smaller zones, free pages by order exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "verification"))
import compaction_vs_kernel as cvk  # noqa: E402

RUNS_DIR = ROOT / "data" / "compaction-runs"
RUNS = sorted(p for p in RUNS_DIR.iterdir() if (p / "kernel_run.json").is_file()) if RUNS_DIR.is_dir() else []


def targets(fig: dict) -> dict[str, bool]:
    """Which of issue 16's targets the figures of one run meet."""
    out = {}
    for z in fig["zones"]:
        if z["zone"] != "Normal":
            out[f"{z['zone']} exact"] = z["error_l1_pct"] == 0
            continue
        out["L1 <= 5 %"] = z["error_l1_pct"] <= 5.0
        out["unusable index at 9 within 0.020"] = abs(z["unusable9_mmkit"] - z["unusable9_kernel"]) <= 20
        ke, sc = z.get("kernel_end"), z.get("scanners") or {}
        if ke and ke["status"] == "contended":
            out["contended in the kernel's pageblock"] = (
                z["result"] == "contended" and sc.get("migrate_pfn", -1) >> 9 == ke["migrate_pfn"] >> 9)
    for r in fig["vmstat"]:
        if r["counter"] in ("pgmigrate_success", "compact_free_scanned"):
            out[f"{r['counter']} within 3 %"] = r["error_pct"] is not None and abs(r["error_pct"]) <= 3.0
    return out


def summary(fig: dict) -> str:
    n = next(z for z in fig["zones"] if z["zone"] == "Normal")
    vm = {r["counter"]: r["error_pct"] for r in fig["vmstat"]}
    return (f"L1 {n['error_l1_pct']} %, unusable index {n['unusable9_kernel']} / {n['unusable9_mmkit']} (x1000), "
            f"pgmigrate_success {vm['pgmigrate_success']:+} %, compact_free_scanned {vm['compact_free_scanned']:+} %, "
            f"ended {n['result']} at {(n.get('scanners') or {}).get('migrate_pfn', -1):#x}")


def test_the_runs_are_there_and_each_met_some_target():
    """Not a test that cannot fail: at least six runs, of more than one recipe, and each
    met targets when it was bundled (else it would hold nothing)."""
    assert len(RUNS) >= 6, RUNS
    recipes = set()
    for run in RUNS:
        k = json.loads((run / "kernel_run.json").read_text())
        recipes.add((k["gib"], k["files"], k["drop_caches"], k["sync"], bool(k["live_mib"])))
        assert any(targets(json.loads((run / "figures.json").read_text())).values()), run.name
    assert len(recipes) >= 4, recipes


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS, ids=[r.name for r in RUNS])
def test_a_kernel_run_keeps_every_target_it_met(run):
    recorded = json.loads((run / "figures.json").read_text())
    fig = cvk.compare(argparse.Namespace(out=run), json.loads((run / "kernel_run.json").read_text()))
    was, now = targets(recorded), targets(fig)
    lost = [k for k, ok in was.items() if ok and not now.get(k, False)]
    assert not lost, f"{run.name} no longer meets {lost}: now {summary(fig)}; when bundled {summary(recorded)}"


@pytest.mark.slow
def test_bundling_a_kept_run_again_keeps_it_whole(tmp_path):
    """``--bundle`` of a run (here a kept one, whose arrays are zstd already): the same
    page arrays, the same recipe and kernel figures, and mmkit's figures recomputed from
    the new folder equal those recomputed from the old."""
    import mmkit.snapshot

    run = RUNS_DIR / "r26"
    kernel_run = json.loads((run / "kernel_run.json").read_text())
    fig = cvk.compare(argparse.Namespace(out=run), kernel_run)
    cvk.bundle(run, tmp_path / "r26", kernel_run, fig)
    a, b = mmkit.snapshot.load(run / "before"), mmkit.snapshot.load(tmp_path / "r26" / "before")
    assert (a.kpageflags == b.kpageflags).all() and (a.kpagecount == b.kpagecount).all()
    assert json.loads((tmp_path / "r26" / "kernel_run.json").read_text()) == kernel_run
    again = cvk.compare(argparse.Namespace(out=tmp_path / "r26"), kernel_run)
    drop = ("build_seconds", "simulate_seconds")
    assert {k: v for k, v in again.items() if k not in drop} == {k: v for k, v in fig.items() if k not in drop}
    with pytest.raises(SystemExit, match="exists"):
        cvk.bundle(run, tmp_path / "r26", kernel_run, fig)
