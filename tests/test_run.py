"""simulate / compare: frames, determinism, persistence, progress, bad input."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

import mmkit
from mmkit.result import FAULTS, load_result
from mmkit.workloads import PARAMS, PRESETS

SMALL = dict(gib=0.5, ticks=80)  # review-04 shows every review point from this size on


@pytest.fixture(scope="module")
def result():
    return mmkit.compare(workload="review-04", variants=["v4.5", "v3-02", "v3-04", "v4.8"], seed=3, **SMALL)


def frame_hash(res) -> str:
    h = hashlib.sha256()
    for name in res.FRAMES:
        df = getattr(res, name)
        h.update(name.encode())
        h.update(df.write_csv().encode())
    for v, m in res.memories.items():
        for a in ("flags", "mapcount", "kind", "private", "lru_next", "pb_flags"):
            h.update(getattr(m, a).tobytes())
    return h.hexdigest()


def test_frames_have_the_promised_shape(result):
    tl = result.timeline
    assert tl["variant"].unique(maintain_order=True).to_list() == ["v4.5", "v3-02", "v3-04", "v4.8"]
    for col in ("tick", "free_o0", "free_o10", "unusable_2", "unusable_3", "unusable_9", "fragindex_9",
                "mixed_blocks", "thp_success", "order2_success", "order3_success", "misrouted_putback",
                "compact_stall", "pgmigrate_success"):
        assert col in tl.columns
    assert tl.filter(pl.col("variant") == "v4.8")["tick"].to_list()[0] == 0
    assert tl.filter(pl.col("variant") == "v4.8")["tick"].to_list()[-1] == SMALL["ticks"]
    # faults: every fault x kind x variant, zeros included
    f = result.faults
    assert f.height == 4 * len(FAULTS) * len(mmkit.PageKind)
    assert set(f["fault"].unique()) == set(FAULTS)
    assert (f["count"] >= 0).all()
    # the events name things the way the kernel does
    ev = result.events
    assert set(ev.columns) == {"variant", "tick", "pfn", "event", "kind", "rule", "extra"}
    assert result.vmstat.filter(pl.col("counter") == "compact_stall").height == 4
    pb = result.pageblocks
    assert pb.height == 4 * result.memories["v4.8"].nr_pageblocks
    assert {"migratetype", "mixed", "anon", "zsmalloc", "free"} <= set(pb.columns)


def test_the_review_shows_up_in_review_04(result):
    fin = result.final()
    row = {r["variant"]: r for r in fin.iter_rows(named=True)}
    f = result.faults.filter(pl.col("fault") == "misrouted_putback")
    zs = {r["variant"]: r["count"] for r in f.filter(pl.col("kind") == "zsmalloc").iter_rows(named=True)}
    assert zs["v3-02"] > 0 and zs["v4.5"] == zs["v3-04"] == zs["v4.8"] == 0  # point 2
    # v4.5 and v3-04 also misroute balloon pages a deflate overtook (D-2019); v4.8 never
    races = {r["variant"]: r["deflate_race"] for r in fin.iter_rows(named=True)}
    assert races["v4.5"] > 0 and row["v4.5"]["misrouted_putback"] == races["v4.5"]
    assert row["v4.8"]["misrouted_putback"] == 0 and row["v4.8"]["list_corruption"] == 0
    assert row["v3-04"]["cma_skip_false_positive"] > 0
    assert row["v4.8"]["cma_skip_false_positive"] == 0
    assert row["v3-04"]["kpf_balloon_false_positive"] > 0
    assert row["v4.8"]["kpf_balloon_false_positive"] == 0
    # point 1 in the faults frame: v3-04's misreports are zsmalloc pages (their last sub-page)
    k = result.faults.filter(pl.col("fault") == "kpf_balloon_misreport")
    by = {(r["variant"], r["kind"]): r["count"] for r in k.iter_rows(named=True)}
    assert by[("v3-04", "zsmalloc")] > 0
    assert sum(c for (v, _), c in by.items() if v in ("v4.5", "v3-02", "v4.8")) == 0


def test_table_is_mmtests_like(result):
    t = result.table()
    assert t.columns == ["counter", "v4.5", "v3-02", "v3-04", "v4.8", "v3-02 %", "v3-04 %", "v4.8 %"]
    assert "compact_stall" in t["counter"].to_list()
    html = result._repr_html_()
    assert "<table>" in html and "review-04" in html
    with pytest.raises(mmkit.ParameterError, match="not a timeline column"):
        result.table(counters=("nope",))


def test_determinism_in_process_and_in_a_fresh_process(result):
    again = mmkit.compare(workload="review-04", variants=["v4.5", "v3-02", "v3-04", "v4.8"], seed=3, **SMALL)
    assert frame_hash(again) == frame_hash(result)
    code = ("import mmkit, sys; sys.path.insert(0, 'tests'); from test_run import frame_hash;"
            "r = mmkit.compare(workload='review-04', variants=['v4.5','v3-02','v3-04','v4.8'], seed=3, gib=0.5, ticks=80);"
            "print(frame_hash(r))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == frame_hash(result)
    other = mmkit.compare(workload="review-04", variants=["v4.8"], seed=4, **SMALL)
    assert other.final()["used_pages"][0] != result.final().filter(pl.col("variant") == "v4.8")["used_pages"][0]


def test_a_reused_prefilled_machine_gives_the_same_result_as_a_fresh_one():
    """compare keeps the last prefilled machine: a second run on it, after the first run's
    final memories were scribbled on, equals a run with the memo emptied."""
    from mmkit import run as _run

    kw = dict(workload="review-04", variants=["v4.5", "v4.8"], seed=5, gib=0.25, ticks=20)
    first = mmkit.compare(**kw)
    h = frame_hash(first)
    for m in first.memories.values():
        m.kind[:] = 0  # a caller's edits to a result must not reach the next compare
    again = mmkit.compare(**kw)
    _run._PREFILLED.clear()
    fresh = mmkit.compare(**kw)
    assert frame_hash(again) == frame_hash(fresh) == h
    # a change of variants only (the Explorer's re-run) starts from the same machine
    one = mmkit.compare(**{**kw, "variants": ["v4.5"]})
    assert one.timeline.equals(first.timeline.filter(pl.col("variant") == "v4.5"))


def test_simulate_is_compare_of_one(result):
    one = mmkit.simulate(workload="review-04", variant="v4.8", seed=3, **SMALL)
    assert one.variants == ["v4.8"]
    a = one.timeline.drop("variant")
    b = result.timeline.filter(pl.col("variant") == "v4.8").drop("variant")
    assert a.equals(b)


def test_save_and_load_round_trip(result, tmp_path):
    out = result.save(tmp_path / "res")
    assert sorted(p.name for p in out.iterdir())[:4] == ["contiguity.parquet", "events.parquet", "faults.parquet",
                                                         "memory-v3-02.npz"]
    back = load_result(out)
    for name in result.FRAMES:
        assert getattr(back, name).equals(getattr(result, name)), name
    assert back.info["workload"] == "review-04"
    m = back.memories["v4.8"]
    assert np.array_equal(m.kind, result.memories["v4.8"].kind)
    m.check()
    with pytest.raises(mmkit.ParameterError, match="exists"):
        result.save(out)
    with pytest.raises(mmkit.SnapshotError, match="not a saved mmkit result"):
        load_result(tmp_path)


def test_a_pickle_in_a_result_folder_is_refused(result, tmp_path):
    import pickle

    out = result.save(tmp_path / "res")
    (out / "memory-v4.8.npz").write_bytes(pickle.dumps({"kind": np.zeros(3)}))
    with pytest.raises(mmkit.SnapshotError, match="cannot read the saved memory"):
        load_result(out)


def test_user_built_variant_runs(result):
    v = mmkit.variant("v3-04").replace(name="v3-04+huge", zsmalloc_huge_owner_priv_1=True)
    r = mmkit.compare(workload="review-04", variants=["v3-04", v], seed=4, **SMALL)
    assert r.variants == ["v3-04", "v3-04+huge"]
    fin = {row["variant"]: row for row in r.final().iter_rows(named=True)}
    # every huge-object zsmalloc page now reads as isolated: compaction skips them
    assert fin["v3-04+huge"]["isolated_false_positive"] > 0
    assert fin["v3-04"]["isolated_false_positive"] == 0


def test_every_preset_runs_small():
    for name in PRESETS:
        r = mmkit.simulate(workload=name, variant="v4.8", gib=0.25, ticks=5, seed=1)
        assert r.final()["tick"][0] == 5
        for m in r.memories.values():
            m.check()


@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(workload="nope"), "unknown workload 'nope'"),
        (dict(workload=["review-04"]), "workload: expected a workload name or a Workload, got list"),
        (dict(memory="review-04"), "'review-04' is a workload, not a memory"),
        (dict(variants="v4.5,v9"), "unknown variant 'v9'"),
        (dict(ticks=0), "ticks: 0 is out of range"),
        (dict(ticks=2.5), "ticks"),
        (dict(seed=-1), "seed"),
        (dict(thp_rate=1.5), "thp_rate: 1.5 is out of range; allowed number 0..1"),
        (dict(ops_per_tick=0), "ops_per_tick: 0 is out of range; allowed integer 1..100000"),
        (dict(ops_per_tick=2.5), "ops_per_tick"),
        (dict(swap="maybe"), "swap"),
        (dict(no_such_knob=1), "unknown parameter"),
        (dict(gib=-1), "memory size"),
        (dict(gib=100000), "more than"),
        (dict(cma_area=0.01, cma_period=5, cma_blocks=100), "cma_blocks: 100 pageblocks do not fit"),
    ],
)
def test_bad_input_names_the_parameter(kw, words):
    kw = {"gib": 0.25, "ticks": 2, **kw}
    with pytest.raises(mmkit.MmkitError, match=words.replace("(", r"\(").replace(")", r"\)")):
        mmkit.compare(**kw)


def test_cli_run_variants_workloads(tmp_path, capsys):
    from mmkit.cli import main

    assert main(["variants", "--json"]) == 0
    names = [v["name"] for v in json.loads(capsys.readouterr().out)]
    assert names == list(mmkit.semantics.NAMED)
    assert main(["workloads"]) == 0
    assert "zram-pressure" in capsys.readouterr().out
    rc = main(["run", "--workload", "steady", "--variants", "v4.5,v4.8", "--gib", "0.25", "--ticks", "3",
               "--seed", "1", "--json", "--out", str(tmp_path / "r"), "--set", "thp_rate=0.1"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["info"]["params"]["thp_rate"] == 0.1
    assert (tmp_path / "r" / "timeline.parquet").is_file()
    assert main(["run", "--variants", "v9", "--gib", "0.25", "--ticks", "1"]) == 2
    assert "unknown variant" in capsys.readouterr().err
    assert main(["run", "--set", "bogus=1", "--gib", "0.25"]) == 2


def test_params_table_is_the_single_source():
    for w in PRESETS.values():
        decl = w.declaration()
        assert [p.name for p in decl][: len(w.own)] == list(w.own)
        assert {p.name for p in decl} == set(PARAMS)
        for p in decl:
            assert p.lo <= p.default <= p.hi, (w.name, p.name)


def test_progress_callback_sees_every_tick_of_every_variant():
    seen = []
    mmkit.compare(workload="review-04", variants=["v4.5", "v4.8"], seed=1, gib=0.25, ticks=30,
                  progress=lambda done, total: seen.append((done, total)))
    assert seen and all(t == 60 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # monotone, whatever the threads did
    assert seen[-1][0] == 60


def test_snapshot_subpackage_after_plain_import():
    import importlib

    m = importlib.reload(mmkit)
    assert callable(m.snapshot.load)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        m.nope  # noqa: B018


@pytest.mark.parametrize("damage", ["json_empty", "json_garbage", "parquet", "npz_missing", "npz_garbage"])
def test_a_damaged_result_folder_is_a_snapshot_error(result, tmp_path, damage):
    out = result.save(tmp_path / "r")
    if damage == "json_empty":
        (out / "result.json").write_text("{}")
    elif damage == "json_garbage":
        (out / "result.json").write_text("[" * 100000)
    elif damage == "parquet":
        (out / "timeline.parquet").write_bytes(b"PAR1 not really")
    else:
        f = next(out.glob("memory-*.npz"))
        if damage == "npz_missing":
            np.savez(f, flags=np.zeros(3, dtype=np.uint32))
        else:
            f.write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(mmkit.SnapshotError):
        mmkit.load_result(out)
