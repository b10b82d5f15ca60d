"""mmkit.sweep: the same frame on a local pool and on a Dask cluster, resumption after an
interrupt, bad grids refused before anything runs, the command line, the charts."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import mmkit
from mmkit.errors import ParameterError, VariantError
from mmkit.sweep import DEFAULT_METRICS, METRICS, plan, timeline
from mmkit.sweep.cli import main as sweep_main
from mmkit.sweep.store import TMP_PREFIX

GRID = {"seed": [1, 2], "variant": ["v4.5", "v4.8"], "thp_rate": [0.1, 0.3]}
SMALL = {"gib": 0.25, "ticks": 20}  # review-04 small and short: the sweeps' machinery, in seconds


@pytest.fixture(scope="module")
def local():
    return mmkit.sweep(GRID, **SMALL, workers=2)


@pytest.mark.slow  # the slow tier: worker processes and a Dask cluster
def test_frame_has_a_row_per_cell_and_variant(local):
    assert local.columns[:4] == ["cell", "seed", "thp_rate", "variant"]
    assert local.columns[4:-1] == list(DEFAULT_METRICS) and local.columns[-1] == "timeline"
    rows = local.select("cell", "seed", "thp_rate", "variant").rows()
    assert rows == [(0, 1, 0.1, "v4.5"), (0, 1, 0.1, "v4.8"), (1, 1, 0.3, "v4.5"), (1, 1, 0.3, "v4.8"),
                    (2, 2, 0.1, "v4.5"), (2, 2, 0.1, "v4.8"), (3, 2, 0.3, "v4.5"), (3, 2, 0.3, "v4.8")]
    assert local.schema["seed"] == pl.Int64 and local.schema["thp_rate"] == pl.Float64


def test_a_cell_is_the_compare_it_stands_for(local):
    """Bit for bit what compare gives in this process: determinism across processes."""
    res = mmkit.compare(workload="review-04", variants=["v4.5", "v4.8"], seed=2, thp_rate=0.3, **SMALL)
    fin = res.final().select("variant", *DEFAULT_METRICS)
    cell = local.filter(pl.col("cell") == 3).select("variant", *DEFAULT_METRICS)
    assert_frame_equal(cell, fin, check_exact=True)
    # the thinned timeline: the samples (here all 3: ticks 0, 10, 20), first and last kept
    tl = timeline(local).filter(pl.col("cell") == 3)
    assert tl["tick"].to_list() == [0, 10, 20, 0, 10, 20]
    full = res.timeline.select("variant", "tick", *DEFAULT_METRICS)
    assert_frame_equal(tl.select("variant", "tick", *DEFAULT_METRICS), full, check_exact=True)


def test_thin_keeps_evenly_spread_samples():
    from mmkit.sweep.cell import thin_index

    assert thin_index(5, 21).tolist() == [0, 1, 2, 3, 4]
    idx = thin_index(101, 21)
    assert idx[0] == 0 and idx[-1] == 100 and len(idx) == 21 and (idx[1:] - idx[:-1]).min() >= 4


@pytest.mark.slow  # the slow tier: worker processes and a Dask cluster
def test_local_pool_and_dask_cluster_give_identical_frames(local):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        on_dask = mmkit.sweep(GRID, **SMALL, client=client)
    assert_frame_equal(on_dask, local, check_exact=True)
    assert on_dask.write_ipc(None).getvalue() == local.write_ipc(None).getvalue()


@pytest.mark.slow  # the slow tier: worker processes and a Dask cluster
def test_resumption_after_an_interrupt_gives_the_same_frame(local, tmp_path):
    out = tmp_path / "sweep"

    def stop_after_two(done, total):
        if done >= 2:
            raise KeyboardInterrupt  # what Ctrl-C does between two finished cells

    with pytest.raises(KeyboardInterrupt):
        mmkit.sweep(GRID, **SMALL, out=out, workers=2, progress=stop_after_two)
    cells = sorted((out / "cells").glob("*.parquet"))
    assert len(cells) == 2  # two written whole, nothing half-written, no final frame
    assert not list((out / "cells").glob(f"{TMP_PREFIX}*")) and not (out / "sweep.parquet").exists()
    stamps = {p: p.stat().st_mtime_ns for p in cells}
    (out / "cells" / f"{TMP_PREFIX}left-by-a-killed-process.parquet").write_bytes(b"PAR1")
    seen = []
    again = mmkit.sweep(GRID, **SMALL, out=out, workers=2, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (2, 4) and seen[-1] == (4, 4)  # two read back, two run
    assert {p: p.stat().st_mtime_ns for p in cells} == stamps
    assert not list((out / "cells").glob(f"{TMP_PREFIX}*"))
    assert_frame_equal(again, local, check_exact=True)
    assert_frame_equal(mmkit.sweep.load(out), local, check_exact=True)
    # everything finished: a third run reads every cell back
    seen.clear()
    assert_frame_equal(mmkit.sweep(GRID, **SMALL, out=out, progress=lambda d, t: seen.append(d)), local,
                       check_exact=True)
    assert seen == [4]


@pytest.mark.parametrize(("grid", "kw", "error", "words"), [
    ({"seeds": [1, 2]}, {}, ParameterError, "unknown key 'seeds'"),
    ({"seed": []}, {}, ParameterError, "seed: an empty list"),
    ({"seed": 3}, {}, ParameterError, "seed: 3 is not a list"),
    ({"seed": [1, 1]}, {}, ParameterError, "seed: 1 appears twice"),
    ({"seed": [-1]}, {}, ParameterError, "seed: -1 is out of range"),
    ({"thp_rate": [0.1, 1.5]}, {}, ParameterError, "thp_rate: 1.5 is out of range"),
    ({"ops_per_tick": [0]}, {}, ParameterError, "ops_per_tick: 0 is out of range"),
    ({"swap": [True, 2]}, {}, ParameterError, "swap: 2 is not a bool"),
    ({"gib": [0.1]}, {}, ParameterError, "gib: memory size"),
    ({"ticks": [0]}, {}, ParameterError, "ticks: 0 is out of range"),
    ({"variant": ["v4.5", "v9"]}, {}, VariantError, "variant: unknown variant 'v9'"),
    ({"workload": ["review-04", "nope"]}, {}, ParameterError, "workload: unknown workload 'nope'"),
    ({"gib": [0.0625, 0.25]}, {}, ParameterError, "cma_blocks"),  # review-04's CMA area does not fit
    ({"seed": [1]}, {"seed": 2}, ParameterError, "seed is both a grid key and a keyword"),
    ({"seed": [1]}, {"variants": ["v4.5", "zz"]}, VariantError, "unknown variant 'zz'"),
    ({"seed": [1]}, {"thp_rat": 0.1}, ParameterError, "unknown keyword 'thp_rat'"),
    ({"seed": [1]}, {"metrics": ["nope"]}, ParameterError, "metrics: 'nope'"),
    ({"seed": [1]}, {"thin": 1}, ParameterError, "thin: 1"),
    ({"seed": [1]}, {"workers": 0}, ParameterError, "workers: 0"),
    ({}, {}, ParameterError, "grid: empty"),
    ([1, 2], {}, ParameterError, "dict of lists or a polars DataFrame"),
    (pl.DataFrame({"seed": [1, None]}), {}, ParameterError, "seed: row 1 is null"),
    (pl.DataFrame({"seed": [1, 1]}), {}, ParameterError, "appears 2 times"),
    (pl.DataFrame({"seed": [1, 1], "variant": ["v4.8", "v4.8"]}), {}, VariantError, "'v4.8' appears twice"),
    # a sweep of a trace: a replay's keys only
    ({"seed": [1]}, {"trace": "data/trace-sample", "gib": 1}, ParameterError, "gib: a sweep of a trace"),
    ({"thp_rate": [0.1]}, {"trace": "data/trace-sample"}, ParameterError, "grid: thp_rate: a sweep of a trace"),
    ({"workload": ["review-04"], "trace": ["data/trace-sample"]}, {}, ParameterError, "workload: a sweep of a trace"),
    ({"tick_ms": [100.0]}, {}, ParameterError, "tick_ms: a replay's tick; give trace="),
    ({"trace": ["data/nope"]}, {}, ParameterError, "trace: data/nope has no meta.json"),
    ({"trace": [3]}, {}, ParameterError, "trace: 3 is not a folder's path"),
    ({"seed": [1]}, {"trace": "data/trace-sample", "tick_ms": 0}, ParameterError, "tick_ms: 0 is out of range"),
])
def test_bad_grids_are_refused_before_anything_runs(grid, kw, error, words, tmp_path, monkeypatch):
    import mmkit.sweep.local

    monkeypatch.setattr(mmkit.sweep.local, "run_local", lambda *a, **k: pytest.fail("a cell ran"))
    with pytest.raises(error) as e:
        mmkit.sweep(grid, out=tmp_path / "out", **kw)
    assert words in str(e.value)
    assert not (tmp_path / "out").exists()


def test_a_frame_of_rows_is_the_same_sweep_as_the_dict():
    rows = pl.DataFrame({"seed": [1, 1, 1, 1, 2, 2, 2, 2], "variant": ["v4.5", "v4.8"] * 4,
                         "thp_rate": [0.1, 0.1, 0.3, 0.3] * 2})
    a, b = plan(rows, **SMALL), plan(GRID, **SMALL)
    assert [c.key for c in a.cells] == [c.key for c in b.cells]
    assert [c.row for c in a.cells] == [c.row for c in b.cells]
    # a row per cell, the variants shared
    c = plan(pl.DataFrame({"seed": [5, 6]}), variants="v4.5,v4.8", **SMALL)
    assert [(x.seed, [v.name for v in x.variants]) for x in c.cells] == [(5, ["v4.5", "v4.8"]), (6, ["v4.5", "v4.8"])]


def test_the_cell_key_follows_what_the_frames_depend_on():
    base = plan({"seed": [1]}, **SMALL).cells[0].key
    assert plan({"seed": [1]}, **SMALL).cells[0].key == base
    assert plan({"seed": [1]}, gib=0.25, ticks=21).cells[0].key != base
    assert plan({"seed": [1]}, **SMALL, metrics=["unusable_9"]).cells[0].key != base
    assert plan({"seed": [1]}, **SMALL, thp_rate=0.3).cells[0].key == base  # review-04's own value
    assert plan({"seed": [1]}, **SMALL, thp_rate=0.2).cells[0].key != base
    assert plan({"seed": [1]}, **SMALL, thp_rate=0.2).cells[0].key == plan({"thp_rate": [0.2]}, seed=1,
                                                                           **SMALL).cells[0].key
    assert plan({"seed": [1]}, "zram-pressure", **SMALL).cells[0].key != base


def test_metrics_are_the_timeline_columns():
    res = mmkit.simulate(workload="review-04", gib=0.25, ticks=2)
    assert list(METRICS) == [c for c in res.timeline.columns if c not in ("variant", "tick", "zone")]
    assert plan({"seed": [1]}, metrics="all").metrics == METRICS


def test_mmkit_sweep_is_the_package_and_the_function():
    from mmkit.sweep import sweep

    assert callable(mmkit.sweep) and mmkit.sweep.sweep is sweep
    assert mmkit.sweep.__name__ == "mmkit.sweep"


@pytest.mark.slow  # the slow tier: worker processes and a Dask cluster
def test_command_line_runs_and_resumes(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    # seeds 13 and 14: v3-02 misroutes zsmalloc pages within 60 ticks (of seeds 0-15 on
    # this machine, 0, 3, 7, 13 and 14 do, since cma_alloc walks its area)
    grid.write_text("workload: review-04\ngib: 0.25\nticks: 60\nvariants: [v3-02, v4.8]\nmetrics: [unusable_9, "
                    "misrouted_putback, thp_success]\nthin: 0\ngrid:\n  seed: 13..14\n")
    out = tmp_path / "out"
    assert sweep_main(["--grid", str(grid), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "2 cells, 4 rows" in text and "misrouted_putback" in text
    frame = mmkit.sweep.load(out)
    assert frame.columns == ["cell", "seed", "variant", "unusable_9", "misrouted_putback", "thp_success"]
    assert frame["seed"].to_list() == [13, 13, 14, 14]
    assert frame.filter(pl.col("variant") == "v3-02")["misrouted_putback"].min() > 0  # the series' bug
    assert frame.filter(pl.col("variant") == "v4.8")["misrouted_putback"].max() == 0
    # the same command again: read back, the same frame
    assert sweep_main(["--grid", str(grid), "--out", str(out), "--no-progress"]) == 0
    assert_frame_equal(mmkit.sweep.load(out), frame, check_exact=True)


@pytest.mark.parametrize(("text", "words"), [
    ("grid:\n  seed: [1]\nseeds: 3\n", "unknown key 'seeds'"),
    ("workload: review-04\n", "must be a mapping with a `grid:`"),
    ("grid:\n  seed: 5..1\n", "empty range"),
    ("grid:\n  seed: [1\n", "not valid YAML"),
    ("grid:\n  thp_rate: [2]\n", "thp_rate: 2 is out of range"),
])
def test_command_line_refuses_bad_grid_files(tmp_path, capsys, text, words):
    grid = tmp_path / "grid.yaml"
    grid.write_text(text)
    assert sweep_main(["--grid", str(grid), "--out", str(tmp_path / "out")]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ charts
def _charts(frame):
    from mmkit.viz import sweep as vs

    return {"fragmentation": vs.sweep_fragmentation(frame), "allocations": vs.sweep_allocations(frame),
            "faults": vs.sweep_faults(frame), "bands": vs.sweep_bands(frame, "unusable_9"),
            "by": vs.sweep_allocations(frame, by="thp_rate"),
            "mixed": vs.sweep_distribution(frame, ["mixed_movable_blocks"])}


def test_sweep_charts_are_titled_valid_and_small(local):
    from mmkit.viz.inputs import MAX_ROWS, data_rows

    specs = {}
    for name, chart in _charts(local).items():
        specs[name] = spec = chart.to_dict()  # validates against the Vega-Lite schema
        assert spec["title"]["text"], name
        assert 0 < data_rows(chart) <= MAX_ROWS, name
    # axis titles in the kernel's words (wrapped on lines)
    y_titles = [" ".join(layer["encoding"]["y"]["title"]) for panel in specs["allocations"]["concat"]
                for layer in panel["layer"] if "title" in layer["encoding"]["y"]]
    assert y_titles[0].startswith("order-2 allocation success: order2_alloc / (order2_alloc + order2_fail)")
    assert "thp_fault_alloc / (thp_fault_alloc + thp_fault_fallback)" in y_titles[2]
    # chart and panel titles in words, not column names
    assert specs["bands"]["title"]["text"] == "unusable index, order 9 over the run, across cells"
    from mmkit.viz import sweep as vs

    spec = vs.sweep_distribution(local, ["unusable_9", "free_o9"]).to_dict()
    assert spec["title"]["text"] == "Distribution across cells: unusable index, order 9, free blocks, order 9"
    assert [p["title"]["text"] for p in spec["concat"]] == ["unusable index, order 9", "free blocks, order 9"]


def test_sweep_charts_keep_to_the_row_budget_on_big_sweeps():
    from mmkit.viz.inputs import MAX_ROWS, data_rows
    from mmkit.viz.sweep import sweep_distribution, sweep_faults

    n = 3000  # cells: 9000 rows, more dots than a chart may embed
    rng = __import__("numpy").random.default_rng(1)
    frame = pl.DataFrame({"cell": list(range(n)) * 3, "seed": list(range(n)) * 3,
                          "variant": ["v4.5"] * n + ["v3-04"] * n + ["v4.8"] * n,
                          "unusable_9": rng.random(3 * n), "misrouted_putback": rng.integers(0, 30, 3 * n)})
    chart = sweep_distribution(frame, ["unusable_9", "misrouted_putback"])
    chart.to_dict()
    assert data_rows(chart) <= MAX_ROWS
    assert "dots left out" in str(chart.to_dict()["title"])
    assert data_rows(sweep_faults(frame)) <= MAX_ROWS


def test_sweep_charts_refuse_what_they_cannot_draw(local):
    from mmkit.viz import sweep as vs
    from mmkit.viz.inputs import data_rows

    with pytest.raises(ParameterError, match="frame: expected the frame mmkit.sweep returns"):
        vs.sweep_allocations(pl.DataFrame({"x": [1]}))
    with pytest.raises(ParameterError, match="order: 5 is not kept"):
        vs.sweep_fragmentation(local, order=5)
    with pytest.raises(ParameterError, match="metrics: 'nope'"):
        vs.sweep_distribution(local, ["nope"])
    with pytest.raises(ParameterError, match="by: 'gib'"):
        vs.sweep_allocations(local, by="gib")
    with pytest.raises(ParameterError, match="no timeline column"):
        vs.sweep_bands(local.drop("timeline"))
    with pytest.raises(ParameterError, match="faults: 'oom'"):
        vs.sweep_faults(local, ["oom"])
    with pytest.raises(ParameterError, match="faults: expected a fault name"):
        vs.sweep_faults(local, 5)
    with pytest.raises(ParameterError, match="columns"):
        vs.sweep_distribution(local, ["unusable_9"], columns=0)
    with pytest.raises(ParameterError, match="order: 9.0 is not kept"):
        vs.sweep_fragmentation(local, order=9.0)
    with pytest.raises(ParameterError, match="no column but seed"):
        vs.sweep_distribution(local.drop("thp_rate"), ["unusable_9"], by="thp_rate")
    # no fault happened and misrouted_putback was not kept: the first fault column, at zero
    quiet = local.drop("misrouted_putback").with_columns(
        [pl.lit(0, dtype=local.schema[f]).alias(f) for f in vs.FAULT_TITLES if f in local.columns and f != "misrouted_putback"])
    assert data_rows(vs.sweep_faults(quiet)) > 0



def test_notebook_05_is_what_build_05_writes_and_is_stripped():
    import subprocess
    import sys
    from pathlib import Path

    import nbformat

    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    r = subprocess.run([sys.executable, str(notebooks / "build_05.py"), "--check"], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr
    nb = nbformat.read(notebooks / "05-sweeps.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow  # a worker process, and two replays of a 24 GiB start snapshot
def test_a_cell_of_a_trace_is_its_replay():
    """With ``trace``, a cell is ``mmkit.replay`` of it: the final metrics bit for bit,
    a column per swept replay key, and a key that follows the tick."""
    metrics = ["unusable_9", "free_o9", "pgmigrate_success", "thp_success"]
    df = mmkit.sweep({"tick_ms": [100.0, 250.0]}, trace="data/trace-sample", variants=["v6.18", "v4.8"],
                     workers=1, thin=0, metrics=metrics)
    assert df.columns == ["cell", "tick_ms", "variant", *metrics]
    res = mmkit.replay("data/trace-sample", ["v6.18", "v4.8"], tick_ms=250.0)
    assert_frame_equal(df.filter(pl.col("cell") == 1).select("variant", *metrics),
                       res.final().select("variant", *metrics), check_exact=True)
    p = plan({"tick_ms": [100.0, 250.0]}, trace="data/trace-sample")
    assert p.fixed["trace"] == "data/trace-sample" and p.cells[0].key != p.cells[1].key
    assert plan({"tick_ms": [100.0]}, trace="data/trace-sample").cells[0].key == p.cells[0].key


def _in_main_thread_with_ctrl_c():
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("a signal handler needs the main thread")
    return signal.signal(signal.SIGINT, signal.default_int_handler)


def test_ctrl_c_during_a_cell_write_lands_after_it(tmp_path):
    """Ctrl-C while a cell is written (``sigint_deferred``): the write finishes, the file
    is whole and in place, no temporary file is left, then KeyboardInterrupt is raised;
    blocks nest, and without Ctrl-C nothing is raised."""
    import os
    import signal

    from mmkit.sweep.store import _atomic_write, sigint_deferred

    old = _in_main_thread_with_ctrl_c()
    try:
        frame = pl.DataFrame({"variant": ["v4.5"], "x": [1]})

        def write_interrupted(p):
            os.kill(os.getpid(), signal.SIGINT)  # arrives while the file is being written
            frame.write_parquet(p)

        target = tmp_path / "cell.parquet"
        with pytest.raises(KeyboardInterrupt):
            _atomic_write(target, write_interrupted)
        assert_frame_equal(pl.read_parquet(target), frame)
        assert [p.name for p in tmp_path.iterdir()] == ["cell.parquet"]
        done = []
        with pytest.raises(KeyboardInterrupt):
            with sigint_deferred():
                _atomic_write(tmp_path / "two.parquet", write_interrupted)
                done.append("after the inner block")
        assert done and (tmp_path / "two.parquet").is_file()
        with sigint_deferred():
            _atomic_write(tmp_path / "three.parquet", frame.write_parquet)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, old)


def test_a_fragmentation_index_of_minus_one_is_not_a_point_on_its_scale():
    """__fragmentation_index's -1 means a free block of the order exists: the boxes and
    bands leave those cells out instead of pulling the quartiles below 0."""
    from mmkit.viz.sweep import bands_frame, distribution_frame

    frame = pl.DataFrame({"cell": [0, 1, 2, 3], "seed": [1, 2, 3, 4], "variant": ["v4.8"] * 4,
                          "fragindex_9": [-1.0, -1.0, 0.9, 0.95], "unusable_9": [-1.0, 0.5, 0.6, 0.7],
                          "timeline": [[{"tick": 0, "fragindex_9": v}] for v in (-1.0, -1.0, 0.9, 0.95)]})
    s = distribution_frame(frame, ["fragindex_9", "unusable_9"], points=False)
    frag = s.filter(pl.col("metric") == "fragindex_9").row(0, named=True)
    assert frag["n"] == 2 and frag["lo"] == 0.9 and frag["q50"] == pytest.approx(0.925)
    assert s.filter(pl.col("metric") == "unusable_9")["n"].item() == 4  # -1 is only special for fragindex
    b = bands_frame(frame, "fragindex_9")
    assert b["n"].item() == 2 and b["q50"].item() == pytest.approx(0.925)
