"""The Explorer without a browser: controls come from the parameter declaration, Run is
pressed programmatically, the charts and frames follow the widgets' values, bad values
are refused, Export writes one self-contained HTML file."""

import shutil
import subprocess

import ipywidgets as W
import polars as pl
import pytest
from test_viz import resolved

import mmkit
from mmkit.errors import ParameterError, VariantError
from mmkit.result import FAULTS
from mmkit.semantics import NAMED, NewpageRoute
from mmkit.widgets import Explorer, pageblock_pages
from mmkit.workloads import PARAMS, PRESETS

USER = NAMED["v4.8"].replace(name="v4.8+lru-route", newpage_route=NewpageRoute.SOURCE_IS_LRU)


@pytest.fixture(scope="module")
def explorer():
    ex = Explorer(gib=0.25, ticks=60, seed=0, variants=["v4.5", "v3-02", USER])  # v3-02 misroutes by tick 60
    ex.run_button.click()
    assert ex.result is not None, ex.status.value
    return ex


def test_controls_are_the_parameter_declaration():
    ex = Explorer()
    c = ex.controls
    wl = PRESETS["review-04"]
    assert c["workload"].options == tuple(PRESETS) and c["workload"].value == "review-04"
    assert c["gib"].value == wl.gib and c["ticks"].value == wl.ticks and c["seed"].value == 1
    assert c["variants"].value == ("v4.5", "v3-04", "v4.8") and set(NAMED) <= set(c["variants"].options)
    values = wl.params()
    for name, p in PARAMS.items():
        w = c[name]
        assert w.description == name and w.tooltip == p.doc
        assert w.value == values[name]
        if p.type is bool:
            assert isinstance(w, W.Checkbox)
        else:
            assert (w.min, w.max) == (p.lo, p.hi)
            assert isinstance(w, W.BoundedIntText if p.type is int else W.BoundedFloatText)
    # the preset's own knobs are shown first, the rest folded away
    assert [w.description for w in ex._params_own.children] == list(wl.own)
    assert len(ex._params_own.children) + len(ex._params_rest.children) == len(PARAMS)
    # another preset: its values, its size, its own knobs
    c["workload"].value = "zram-pressure"
    z = PRESETS["zram-pressure"]
    assert all(c[n].value == v for n, v in z.params().items())
    assert c["gib"].value == z.gib and c["ticks"].value == z.ticks
    assert [w.description for w in ex._params_own.children] == list(z.own)


def test_run_button_updates_frames_and_charts(explorer):
    ex = explorer
    r = ex.result
    assert r.variants == ["v4.5", "v3-02", USER.name]
    assert r.info["ticks"] == 60 and r.info["memory"].startswith("synthetic")
    assert set(ex.charts) == {"fragmentation", "misrouted", "buddyinfo", "memory_map", "table"}
    for name, chart in ex.charts.items():
        if name == "table":
            assert ">misrouted_putback<" in chart.to_html()
            continue
        spec = chart.to_dict(validate=True)
        variants = {row.get("variant", row.get("map")) for rows in spec["datasets"].values() for row in rows}
        assert set(r.variants) <= variants, name
    for name, out in ex.outputs.items():
        (item,) = out.outputs
        assert item["output_type"] == "display_data"
        body = item["data"]["text/html"]
        assert ("vegaEmbed" in body) != (name == "table")
    (loader,) = ex._loader.outputs
    assert "window.vegaEmbed" in loader["data"]["text/html"]
    assert ex.progress.value == ex.progress.max and ex.progress.bar_style == "success"
    assert set(ex.timings) == {"simulate", "charts", "total"}
    assert ex.controls["map_variant"].options == tuple(r.variants)
    # v3-02 misroutes zsmalloc pages; the faults chart shows it
    assert r.final().filter(pl.col("variant") == "v3-02")["misrouted_putback"][0] > 0


def test_widget_values_reach_compare(explorer):
    ex = explorer
    before = ex.result
    ex.controls["variants"].value = ("v4.5", USER.name)
    ex.controls["ticks"].value = 20
    ex.controls["seed"].value = 7
    ex.controls["target_used"].value = 1.3
    ex.controls["swap"].value = False
    try:
        r = ex.run()
        assert r is ex.result is not before
        assert r.variants == ["v4.5", USER.name]
        assert r.info["ticks"] == 20 and r.info["seed"] == 7
        assert r.info["params"]["target_used"] == 1.3 and r.info["params"]["swap"] is False
        assert r.timeline["tick"].max() == 20
        assert ex.controls["map_variant"].options == ("v4.5", USER.name)
        (item,) = ex.outputs["fragmentation"].outputs
        assert USER.name in item["data"]["text/html"]
    finally:
        ex.controls["variants"].value = ("v4.5", "v3-02", USER.name)
        ex.controls["ticks"].value = 60
        ex.controls["seed"].value = 0
        ex.controls["target_used"].value = PRESETS["review-04"].params()["target_used"]
        ex.controls["swap"].value = True
        ex.run()


def test_view_controls_redraw_without_running(explorer):
    ex = explorer
    r = ex.result
    ex.controls["order"].value = 3
    ex.controls["index"].value = "fragmentation"
    assert ex.result is r
    assert "order 3" in ex.charts["fragmentation"].to_dict()["title"]["text"]
    ex.controls["color"].value = "migratetype"
    spec = ex.charts["memory_map"].to_dict()
    assert any(layer["encoding"].get("color", {}).get("field") == "migratetype" for layer in spec["spec"]["layer"])
    # the pageblock picker: that block page by page, outlined on the map
    ev = r.events.filter((pl.col("variant") == "v3-02") & pl.col("event").is_in(list(FAULTS)))
    pfn = int(ev["pfn"][0])
    ex.controls["map_variant"].value = "v3-02"
    ex.controls["pageblock"].value = pfn >> 9
    view = ex.pageblock_view.value
    assert f"<b>pageblock {pfn >> 9}</b>" in view and "variant v3-02" in view
    assert view.count("<tr") == 1 + 512 and f"{pfn:#x}" in view and ev["event"][0] in view
    assert any(f"datum.cell == {pfn >> 9}" in str(t) for t in ex.charts["memory_map"].to_dict()["spec"]["layer"])
    ex.controls["order"].value = 9
    ex.controls["index"].value = "unusable"
    ex.controls["color"].value = "kind"


def test_pageblock_pages_says_what_each_struct_page_holds(explorer):
    r = explorer.result
    mem = r.memories["v3-02"]
    df = pageblock_pages(r, 5, "v3-02")
    assert df.height == 512 and df["pfn"].to_list() == list(range(5 * 512, 6 * 512))
    kinds = [mmkit.PageKind(int(k)).name.lower() for k in mem.kind[5 * 512:6 * 512]]
    assert df["kind"].to_list() == kinds
    buddy = df.filter(pl.col("kind") == "free")
    if buddy.height:
        assert buddy["mapcount"].str.contains("BUDDY").any()
    with pytest.raises(ParameterError, match="pageblock"):
        pageblock_pages(r, mem.nr_pageblocks, "v3-02")
    with pytest.raises(ParameterError, match="variant"):
        pageblock_pages(r, 0, "v4.9")


def test_bad_values_are_refused():
    ex = Explorer(gib=0.25, ticks=10, variants=["v4.8"])
    c = ex.controls
    # the widgets' ranges are the declaration's: out-of-range input is clamped back
    c["target_used"].value = 5.0
    assert c["target_used"].value == PARAMS["target_used"].hi
    c["ticks"].value = 0
    assert c["ticks"].value == 1
    c["gib"].value = 10_000
    assert c["gib"].value == c["gib"].max
    with pytest.raises(ParameterError, match="ticks"):
        ex.set(ticks=0)
    with pytest.raises(ParameterError, match="target_used"):
        ex.set(target_used=9)
    with pytest.raises(ParameterError, match="nonsense"):
        ex.set(nonsense=1)
    with pytest.raises(ParameterError, match="workload"):
        ex.set(workload="steady-state")
    with pytest.raises(ParameterError, match="workload"):
        Explorer(workload="nope")
    with pytest.raises(VariantError):
        Explorer(variants=["v9.9"])
    # no variant selected: run() raises, the Run button reports it and keeps the last result
    c["variants"].value = ()
    with pytest.raises(ParameterError, match="variants"):
        ex.run()
    ex.run_button.click()
    assert "variants" in ex.status.value and ex.progress.bar_style == "danger" and ex.result is None
    with pytest.raises(ParameterError, match="Run"):
        ex.export()


def test_export_writes_one_self_contained_file(explorer, tmp_path):
    path = explorer.export(tmp_path / "review.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "window.vegaEmbed" in text
    assert text.count('class="mmkit-chart"') == 4 and ">misrouted_putback<" in text
    assert "<script src" not in text and "cdn.jsdelivr" not in text and "esm.sh" not in text
    explorer.export_path.value = str(tmp_path / "button.html")
    explorer.export_button.click()
    assert (tmp_path / "button.html").is_file() and "exported" in explorer.status.value


@pytest.mark.slow  # the slow tier: a real browser
@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium to load the page in")
def test_exported_page_draws_its_charts_offline(explorer, tmp_path):
    path = explorer.export(tmp_path / "offline.html")
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
         "--dump-dom", path.resolve().as_uri()], check=False, capture_output=True, text=True, timeout=120).stdout
    assert dom.count('aria-roledescription="visualization"') == 4


def test_explorer_displays_in_jupyter(explorer):
    assert callable(explorer._ipython_display_)
    assert isinstance(explorer.widget, W.DOMWidget)
    bundle = explorer.widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def data_values(node) -> list:
    """Every row of inline data in a resolved spec."""
    if isinstance(node, dict):
        rows = list(node["values"]) if isinstance(node.get("values"), list) else []
        return rows + [r for k, v in node.items() if k != "values" for r in data_values(v)]
    if isinstance(node, list):
        return [r for v in node for r in data_values(v)]
    return []


def shown_spec(out: W.Output) -> dict:
    """The Vega-Lite spec an Output area draws."""
    import json

    (item,) = out.outputs
    body = item["data"]["text/html"]
    return json.loads(body.split("var spec=", 1)[1].split(";function draw()", 1)[0])


def test_rerun_updates_the_charts_in_place_with_the_new_results_data(explorer):
    ex = explorer
    outputs = dict(ex.outputs)
    before = {name: shown_spec(out) for name, out in outputs.items() if name != "table"}
    ex.controls["seed"].value = 5
    try:
        r = ex.run()
        assert ex.outputs == outputs  # the same output areas, redrawn
        for name, out in outputs.items():
            if name == "table":
                continue
            spec = shown_spec(out)
            chart = ex.charts[name]
            type(chart).validate(spec)
            # what is drawn is the chart of the new result, data and all
            assert resolved(spec) == resolved(chart.to_dict()), name
            assert data_values(resolved(spec)) != data_values(resolved(before[name])), name
        assert "seed 5" in " ".join(shown_spec(outputs["fragmentation"])["title"]["subtitle"])
        assert r.info["seed"] == 5
    finally:
        ex.controls["seed"].value = 0
        ex.run()


def test_explorer_replays_a_trace():
    """Explorer(trace=...) offers the trace beside the presets, selected, with the
    synthetic machine's controls disabled; Run replays it (mmkit.replay) and draws the
    same charts; switching to a preset runs compare again."""
    from pathlib import Path

    from mmkit.errors import TraceError

    sample = Path(__file__).resolve().parents[1] / "data" / "trace-sample"
    ex = Explorer(variants=["v4.8", "v6.18"], trace=sample)
    w = ex.controls["workload"]
    assert w.value == "trace: trace-sample" and w.options[0] == w.value
    assert ex.controls["gib"].disabled and ex.controls["ticks"].disabled and ex.controls["thp_rate"].disabled
    assert set(ex.values()) == {"trace", "variants", "seed"}
    r = ex.run()
    assert r.info["workload"] == "trace trace-sample" and r.variants == ["v4.8", "v6.18"]
    assert r.info["replay"]["v6.18"]["allocs"] > 100_000
    assert set(ex.charts) == {"fragmentation", "misrouted", "buddyinfo", "memory_map", "table"}
    assert ex.progress.bar_style == "success"
    w.value = "steady"
    assert not ex.controls["gib"].disabled and "workload" in ex.values()
    with pytest.raises(TraceError, match="no such trace folder"):
        Explorer(trace=sample.parent / "no-such-trace")
