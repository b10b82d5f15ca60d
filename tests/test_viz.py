"""mmkit.viz: every chart for every named variant and a user-built one, on simulated,
synthetic and real-snapshot inputs; specs validate, embed at most 5,000 rows, carry
titles; rendered images are not blank; the frames behind the charts agree with the
Result they come from; bad input is refused by name."""

import re
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import altair as alt
import numpy as np
import polars as pl
import pytest
import vl_convert as vlc

import mmkit
from mmkit import viz
from mmkit.errors import ParameterError
from mmkit.metrics import fragmentation_index, unusable_free_index
from mmkit.result import FAULTS
from mmkit.semantics import NAMED, NewpageRoute
from mmkit.viz.memmap import pageblocks_of_memory, pageblocks_of_result

FRAGMENTED = Path(__file__).parent.parent / "data" / "fragmented"
USER = NAMED["v4.8"].replace(name="v4.8+lru-route", newpage_route=NewpageRoute.SOURCE_IS_LRU)
ALL = list(NAMED) + [USER.name]


@pytest.fixture(scope="module")
def result():
    return mmkit.compare(workload="review-04", variants=list(NAMED.values()) + [USER], gib=0.25, ticks=60, seed=0)


@pytest.fixture(scope="module")
def snapshot_memory():
    return mmkit.Memory.from_snapshot(FRAGMENTED)


def builders(result):
    return {
        "fragmentation": lambda: viz.fragmentation(result),
        "fragmentation-index-4": lambda: viz.fragmentation(result, order=4, index="fragmentation"),
        "misrouted": lambda: viz.misrouted(result),
        "buddyinfo": lambda: viz.buddyinfo(result),
        "memory_map-kind": lambda: viz.memory_map(result),
        "memory_map-mixed": lambda: viz.memory_map(result, color="mixed", variant=USER.name, highlight=3),
        "memory_map-migratetype": lambda: viz.memory_map(result, color="migratetype", variant=["v3-02", "v4.8"]),
    }


def walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def data_values(spec) -> list[dict]:
    rows = [r for rows in spec.get("datasets", {}).values() for r in rows]
    return rows + [r for n in walk(spec) if isinstance(n.get("data"), dict) for r in n["data"].get("values", [])]


def check_spec(chart) -> dict:
    """Valid Vega-Lite, at most 5,000 rows, a title, a title on every positional axis."""
    spec = chart.to_dict(validate=True)
    assert viz.data_rows(chart) == len(data_values(spec)) <= viz.MAX_ROWS
    assert spec.get("title", {}).get("text")
    encodings = [n["encoding"] for n in walk(spec) if isinstance(n.get("encoding"), dict)]
    for ch in ("x", "y"):
        used = [e[ch] for e in encodings if "field" in e.get(ch, {})]
        # layers share an axis: one titled encoding per channel names it
        assert not used or any(u.get("title") for u in used), f"{ch} axis without a title"
    return spec


# ------------------------------------------------------------------ theme
def test_the_theme_is_enabled_and_colours_are_colour_blind_safe_and_stable():
    assert alt.theme.active == viz.THEME == "mmkit"
    assert set(NAMED) <= set(viz.VARIANT_COLORS)
    assert set(viz.KIND_COLORS) == {k.name.lower() for k in mmkit.PageKind}
    for colors in (viz.VARIANT_COLORS, viz.KIND_COLORS, viz.MIGRATETYPE_COLORS):
        assert len(set(colors.values())) == len(colors)
        assert all(c.startswith("#") and len(c) == 7 for c in colors.values())
    # a user-built variant: a spare colour, the same in every call
    assert viz.variant_color(USER.name) not in viz.VARIANT_COLORS.values()
    assert viz.variant_color(USER.name) == viz.variant_color(USER.name)


# ------------------------------------------------------------------ every chart
@pytest.mark.parametrize("name", ["fragmentation", "fragmentation-index-4", "misrouted", "buddyinfo",
                                  "memory_map-kind", "memory_map-mixed", "memory_map-migratetype"])
def test_each_chart_validates_and_stays_small(result, name):
    chart = builders(result)[name]()
    spec = check_spec(chart)
    rows = data_values(spec)
    assert rows, "a chart without data"


def test_every_variant_is_drawn_in_its_own_colour(result):
    for name in ("fragmentation", "misrouted", "buddyinfo", "memory_map-kind"):
        spec = builders(result)[name]().to_dict()
        rows = data_values(spec)
        key = "map" if name.startswith("memory_map") else "variant"
        assert {r[key] for r in rows if key in r} == set(ALL), name
    spec = viz.fragmentation(result).to_dict()
    scales = [n["color"]["scale"] for n in walk(spec)
              if isinstance(n.get("color"), dict) and n["color"].get("field") == "variant"]
    assert scales
    for s in scales:
        colors = dict(zip(s["domain"], s["range"]))
        assert all(colors[v] == viz.VARIANT_COLORS[v] for v in NAMED)
        assert colors[USER.name] == viz.variant_color(USER.name)


def test_misrouted_splits_faults_by_kind_and_names_the_rule(result):
    df = viz.faults_frame(result)
    fin = result.final()
    happened = [f for f in FAULTS if (fin[f] > 0).any()]
    assert set(df["fault"]) == set(happened)
    last = df.filter(pl.col("tick") == df["tick"].max())
    for v, f, total in fin.unpivot(index="variant", on=happened, variable_name="f").rows():
        shown = last.filter((pl.col("variant") == v) & (pl.col("fault") == f))["count"].sum()
        if f == "kpf_balloon_misreport":
            assert shown == total  # a state, not cumulative
        else:
            # the timeline counts faults of ticks before the last sample, as the chart does
            assert shown == total, (v, f)
    mis = df.filter((pl.col("fault") == "misrouted_putback") & (pl.col("variant") == "v3-02") & (pl.col("count") > 0))
    assert mis.height and set(mis["kind"]) <= {"zsmalloc", "kernel", "balloon", "slab"}
    rule = result.info["rules"]["v3-02"]["newpage_route"]
    assert f"newpage_route = {rule}" in set(mis["rule_value"])
    spec = viz.misrouted(result, faults="misrouted_putback").to_dict()
    tips = [t.get("title") for n in walk(spec) for t in (n.get("tooltip") or []) if isinstance(t, dict)]
    assert "decided by rule" in tips
    # a fault that never happened: drawn as zero and said so
    never = [f for f in FAULTS if not (fin[f] > 0).any()]
    if never:
        chart = viz.misrouted(result, faults=never[:1])
        assert "none of these faults happened in any variant" in chart.to_dict()["title"]["subtitle"]
        assert viz.faults_frame(result, never[:1])["count"].sum() == 0
    # cumulative counts never go down
    for _, g in df.filter(pl.col("fault") != "kpf_balloon_misreport").group_by("variant", "fault", "kind", "rule"):
        assert (np.diff(g.sort("tick")["count"].to_numpy()) >= 0).all()


def test_fragmentation_is_kernel_exact_at_any_order(result):
    zone = result.timeline["zone"][0]
    for order in (4, 9):
        df = viz.fragmentation_frame(result, order)
        zt = result.zone_timeline.filter(pl.col("zone") == zone).join(df, on=["variant", "tick"])
        for row in zt.iter_rows(named=True):
            free = np.array([row[f"free_o{o}"] for o in range(11)], dtype=np.int64)
            assert row["unusable"] == unusable_free_index(free, order) / 1000
            assert row["fragindex"] == fragmentation_index(free, order) / 1000
    nine = viz.fragmentation_frame(result, 9).join(result.timeline.select("variant", "tick", "unusable_9"),
                                                   on=["variant", "tick"])
    assert (nine["unusable"] == nine["unusable_9"]).all()
    spec = viz.fragmentation(result, index="fragmentation").to_dict()
    assert any(r.get("threshold") == 0.5 for r in data_values(spec))


def test_memory_map_agrees_with_the_result_pageblocks(result):
    # the Memory path (numpy) and the Result path (Result.pageblocks) see the same blocks
    for v in ALL:
        mem = result.memories[v]
        mem.variant = NAMED.get(v, USER)
        a, b = pageblocks_of_memory(mem), pageblocks_of_result(result, v)
        assert (a.counts == b.counts).all() and (a.migratetype == b.migratetype).all()
        assert (a.mixed == b.mixed).all(), v
    # the rule itself: a page whose natural migratetype is not its block's makes it mixed
    # (movable pages in a CMA block do not); v4.8's zsmalloc pages are movable
    K = mmkit.PageKind
    mem = result.memories["v4.8"].copy()
    mem.variant = NAMED["v4.8"]
    cases = [(K.BALLOON, 0, True), (K.BALLOON, 1, False), (K.BALLOON, 4, False), (K.ANON, 0, True),
             (K.ANON, 4, False), (K.FILE, 2, True), (K.SLAB, 1, True), (K.SLAB, 0, False),
             (K.SLAB_RECLAIMABLE, 1, True), (K.SLAB_RECLAIMABLE, 2, False), (K.ZSMALLOC, 0, True),
             (K.ZSMALLOC, 1, False), (K.FREE, 0, False)]
    for kind, mt, expected in cases:
        mem.kind[:] = K.FREE
        mem.pb_flags[:] = mt
        mem.kind[512 * 7 + 3] = kind
        mixed = pageblocks_of_memory(mem).mixed
        assert mixed.tolist() == [expected and b == 7 for b in range(mem.nr_pageblocks)], (kind, mt)
    spec = viz.memory_map(result, variant="v3-02").to_dict()
    rows = data_values(spec)
    faulted = sum(r["faults"] for r in rows)
    assert faulted == result.events.filter((pl.col("variant") == "v3-02") & pl.col("event").is_in(list(FAULTS))).height


# ------------------------------------------------------------------ other inputs
def test_real_snapshot_of_24_gib_is_binned_under_the_limit(snapshot_memory):
    chart = viz.memory_map(snapshot_memory)
    spec = check_spec(chart)
    rows = data_values(spec)
    assert 1000 < len(rows) <= 4000
    assert "8 MiB cell (4 pageblocks)" in " ".join(spec["title"]["subtitle"])
    assert {"anon", "file", "free"} <= {r["kind"] for r in rows}
    for color in ("mixed", "migratetype"):
        check_spec(viz.memory_map(snapshot_memory, color=color, max_cells=500))


def test_buddyinfo_of_memory_snapshot_and_folder(snapshot_memory):
    from mmkit.snapshot import load

    snap = load(FRAGMENTED)
    for obj in (snap, str(FRAGMENTED), snapshot_memory, mmkit.Memory.synthetic(gib=0.25)):
        spec = check_spec(viz.buddyinfo(obj))
        rows = data_values(spec)
        assert {r["order"] for r in rows} == set(range(11))
    rows = data_values(viz.buddyinfo(snap, zone="Normal").to_dict())
    normal = snap.buddyinfo.filter(pl.col("zone") == "Normal")["nr_free"].to_list()
    assert [r["nr_free"] for r in sorted(rows, key=lambda r: r["order"])] == normal


def test_memory_map_of_a_synthetic_memory():
    mem = mmkit.Memory.synthetic(gib=0.25)
    rows = data_values(check_spec(viz.memory_map(mem)))
    assert {r["kind"] for r in rows} == {"free"}
    assert len(rows) == mem.nr_pageblocks


# ------------------------------------------------------------------ pictures
def png_pixels(png: bytes) -> np.ndarray:
    """RGBA pixels of an 8-bit RGBA, non-interlaced PNG (what vl-convert writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert (depth, ctype) == (8, 6)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride = zlib.decompress(idat), 4 * w
    prev, rows = bytearray(stride), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        cur = bytearray(stride)
        for i in range(stride):
            a = cur[i - 4] if i >= 4 else 0
            b, c = prev[i], prev[i - 4] if i >= 4 else 0
            if f == 0:
                p = 0
            elif f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) >> 1
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else b if pb <= pc else c
            cur[i] = (line[i] + p) & 255
        rows.append(bytes(cur))
        prev = cur
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(h, w, 4).astype(np.int32)


def test_rendered_png_is_the_right_size_and_not_blank(result):
    chart = viz.memory_map(result, variant="v3-02")
    px = png_pixels(vlc.vegalite_to_png(chart.to_dict(), scale=0.5))
    h, w, _ = px.shape
    assert w > 300 and h > 100
    ink = (px[..., :3].sum(axis=2) < 600) & (px[..., 3] > 0)
    assert ink.mean() > 0.2  # a map of colored cells, not an empty frame
    # the anonymous-page colour is on the picture
    anon = tuple(int(viz.KIND_COLORS["anon"][i:i + 2], 16) for i in (1, 3, 5))
    assert (np.abs(px[..., :3] - np.array(anon)).sum(axis=2) < 12).sum() > 200


def test_rendered_svg_has_one_line_per_variant(result):
    svg = vlc.vegalite_to_svg(viz.fragmentation(result, index="fragmentation").to_dict())
    root = ET.fromstring(svg)
    assert float(root.get("width")) > 400 and float(root.get("height")) > 200
    strokes = {e.get("stroke") for e in root.iter() if e.get("stroke")}
    assert {viz.VARIANT_COLORS[v] for v in NAMED} <= {s.upper() for s in strokes if s.startswith("#")}
    assert "extfrag_threshold" in svg


# ------------------------------------------------------------------ table
def test_compare_table_is_styled_html_for_every_variant(result):
    t = viz.compare_table(result)
    html = t.to_html()
    assert t._repr_html_() == html and "<script" not in html
    for v in ALL:
        assert f">{v}<" in html or f">{v}<br>" in html
    n = len(ALL)
    rows = html.split("<tr>")[1:]
    assert len(rows) == t.frame.height
    assert all(r.count("<td") == 1 + n + (n - 1) for r in rows)
    # v3-02 misroutes more than v4.5: a worse fault is shaded orange
    row = next(r for r in rows if ">misrouted_putback<" in r)
    assert "#FBE0D2" in row
    small = viz.compare_table(result, counters=["free_o9", "misrouted_putback"])
    assert small.frame["counter"].to_list() == ["free_o9", "misrouted_putback"]


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, words", [
    (lambda r: viz.fragmentation(r, order=11), ["order", "0..10"]),
    (lambda r: viz.compare_table(r, counters=5), ["counters", "a column name or a list"]),
    (lambda r: viz.fragmentation(r, order="9"), ["order"]),
    (lambda r: viz.fragmentation(r, index="extfrag"), ["index", "'unusable'", "'fragmentation'"]),
    (lambda r: viz.fragmentation(r, zone="HighMem"), ["zone", "DMA32"]),
    (lambda r: viz.fragmentation(r.timeline), ["result", "mmkit.Result"]),
    (lambda r: viz.misrouted(r, faults=["misrouted"]), ["faults", "misrouted_putback"]),
    (lambda r: viz.misrouted(r, faults=[]), ["faults"]),
    (lambda r: viz.memory_map(r, variant="v4.9"), ["variant", "v4.8+lru-route"]),
    (lambda r: viz.memory_map(r, color="owner"), ["color", "'kind'", "'mixed'", "'migratetype'"]),
    (lambda r: viz.memory_map(r, max_cells=100_000), ["max_cells", "16..5000"]),
    (lambda r: viz.memory_map(r, highlight=10**9), ["highlight"]),
    (lambda r: viz.memory_map(r.memories["v4.8"], variant="v4.8"), ["variant"]),
    (lambda r: viz.memory_map(42), ["obj", "Memory"]),
    (lambda r: viz.buddyinfo(42), ["obj", "Snapshot"]),
    (lambda r: viz.contiguity(42), ["obj: expected a Contiguity"]),
    (lambda r: viz.contiguity(r.memories["v4.8"], zones=[]), ["zones: give at least one zone"]),
    (lambda r: viz.buddyinfo(r, zone="Normal"), ["zone", "DMA32"]),
    (lambda r: viz.compare_table(r, counters=["nope"]), ["counters", "free_o9"]),
    (lambda r: viz.compare_table("result"), ["result"]),
])
def test_bad_input_is_refused_by_name(result, call, words):
    with pytest.raises(ParameterError) as e:
        call(result)
    for w in words:
        assert w in str(e.value)


def test_html_page_needs_no_network(result, tmp_path):
    path = viz.save_page(tmp_path / "p.html", "t", [viz.embed_html(viz.buddyinfo(result))])
    text = path.read_text()
    assert "window.vegaEmbed" in text and "<script src" not in text
    assert "cdn.jsdelivr" not in text and "esm.sh" not in text


# ------------------------------------------------------------------ the live view's JSON
def resolved(spec: dict) -> dict:
    """``spec`` with each named dataset put in place of its name (names are hashes of
    how the values were written, not part of what the chart shows)."""
    datasets = spec.get("datasets", {})

    def put(node):
        if isinstance(node, dict):
            return {k: ({"values": datasets[v["name"]]} if k == "data" and isinstance(v, dict) and "name" in v
                        else put(v)) for k, v in node.items() if k != "datasets"}
        if isinstance(node, list):
            return [put(v) for v in node]
        return node

    return put(spec)


@pytest.mark.parametrize("name", ["fragmentation", "fragmentation-index-4", "misrouted", "buddyinfo",
                                  "memory_map-kind", "memory_map-mixed", "memory_map-migratetype"])
def test_spec_json_is_the_chart_spec(result, name):
    import json

    from mmkit.viz.html import spec_json

    chart = builders(result)[name]()
    fast = json.loads(spec_json(chart))
    type(chart).validate(fast)  # valid Vega-Lite as it is
    assert resolved(fast) == resolved(chart.to_dict())
    assert sum(len(v) for v in fast["datasets"].values()) == len(data_values(chart.to_dict()))


def test_spec_json_keeps_altairs_row_limit(result):
    from altair.utils.data import MaxRowsError

    from mmkit.viz.html import embed_html, spec_json

    chart = viz.buddyinfo(result)
    with alt.data_transformers.enable("default", max_rows=10):
        with pytest.raises(MaxRowsError):
            spec_json(chart)
        with pytest.raises(MaxRowsError):
            embed_html(chart, validate=False)
    assert spec_json(chart)


def test_charts_are_altair_charts_that_compose(result):
    maps = viz.memory_map(result, variant=["v4.5", "v3-02"], highlight=3)
    assert isinstance(maps, alt.FacetChart) and isinstance(viz.fragmentation(result), alt.VConcatChart)
    assert isinstance(viz.fragmentation(result, index="fragmentation"), alt.VConcatChart)
    # the map's click selection survives composition: altair renames the view it listens to
    spec = alt.vconcat(viz.buddyinfo(result), maps).to_dict(validate=True)
    (param,) = spec["params"]
    assert param["name"] == "cell" and param["select"]["fields"] == ["map", "cell"]
    assert param["views"] == [spec["vconcat"][1]["spec"]["layer"][0]["name"]]
    both = (viz.fragmentation(result) | viz.misrouted(result)).properties(title="both")
    assert both.to_dict(validate=True)["title"] == "both"
    assert maps.copy().to_dict() == maps.to_dict()


def test_pageblocks_of_several_variants_are_each_variants(result):
    from mmkit.viz.memmap import pageblocks_of_variants

    for a, v in zip(pageblocks_of_variants(result, ["v4.8", USER.name, "v3-02"]), ["v4.8", USER.name, "v3-02"]):
        b = pageblocks_of_result(result, v)
        assert a.label == b.label == v and a.zone == b.zone
        assert (a.counts == b.counts).all() and (a.migratetype == b.migratetype).all() and (a.mixed == b.mixed).all()


# ------------------------------------------------------------------ layout and wording
def svg_texts(chart) -> tuple[float, list[str]]:
    """The rendered chart's width and every text it draws."""
    root = ET.fromstring(vlc.vegalite_to_svg(chart.to_dict()))
    return float(root.get("width")), ["".join(e.itertext()) for e in root.iter() if e.tag.endswith("text")]


@pytest.mark.parametrize("name", ["fragmentation", "fragmentation-index-4", "misrouted", "buddyinfo",
                                  "memory_map-kind", "memory_map-migratetype"])
def test_every_chart_fits_a_report_column_with_its_words_whole(result, name):
    """Seven variants: no chart is wider than CHART_WIDTH (a report's column in a 1100 px
    window, less vega-embed's button), and Vega shortened no title, label or legend
    (it ends a shortened text with an ellipsis)."""
    width, texts = svg_texts(builders(result)[name]())
    assert 300 < width <= viz.theme.CHART_WIDTH, (name, width)
    assert not [t for t in texts if "\u2026" in t], name
    if name == "misrouted":
        assert "page kind (real owner)" in texts


def test_a_legend_cut_short_is_seen(result):
    """The check above can fail: with Vega's default legend limits the faults' legend
    title is shortened."""
    spec = viz.misrouted(result, faults="misrouted_putback").to_dict()
    spec["config"]["legend"].update(titleLimit=60, labelLimit=40)
    texts = ["".join(e.itertext()) for e in ET.fromstring(vlc.vegalite_to_svg(spec)).iter() if e.tag.endswith("text")]
    assert any("\u2026" in t for t in texts)


def test_each_fault_chart_says_what_it_shows(result):
    for fault in ("kpf_balloon_misreport", "cma_skip_false_positive", "lru_corruption"):
        title = viz.misrouted(result, faults=fault).to_dict()["title"]
        assert title["text"] == f"{fault}: {viz.timeline.FAULT_TITLES[fault]}"
        assert not any("putback" in line for line in title["subtitle"]), (fault, title)
    spec = viz.misrouted(result, faults=["misrouted_putback", "lru_corruption"]).to_dict()
    assert spec["title"]["text"] == "Faults by page kind and variant, one heading per fault"
    heads = [row["title"]["text"] for row in spec["vconcat"]]
    assert [h.split(":")[0] for h in heads] == ["misrouted_putback", "lru_corruption"]


def test_kpageflags_misreports_are_coloured_by_their_real_owner(result):
    df = viz.faults_frame(result, ["kpf_balloon_misreport"])
    shown = df.filter(pl.col("count") > 0)
    assert shown.height and viz.timeline.UNATTRIBUTED not in set(shown["kind"])
    assert set(shown["variant"]) == {"v3-04"} and set(shown["kind"]) == {"zsmalloc"}
    # at the last sample, the owners are those the final memory counts
    last = df.filter(pl.col("tick") == df["tick"].max()).group_by("variant", "kind").agg(pl.col("count").sum())
    final = result.faults.filter((pl.col("fault") == "kpf_balloon_misreport") & (pl.col("count") > 0))
    assert sorted(last.filter(pl.col("count") > 0).rows()) == sorted(final.select("variant", "kind", "count").rows())
    legend = viz.misrouted(result, faults="kpf_balloon_misreport").to_dict()
    kinds = [n["color"]["scale"]["domain"] for n in walk(legend) if isinstance(n.get("color"), dict)]
    assert kinds and all(viz.timeline.UNATTRIBUTED not in k and "zsmalloc" in k for k in kinds)


def test_fragmentation_names_identical_lines_and_draws_the_index_where_defined():
    twin = NAMED["v4.8"].replace(name="v4.8, again")
    res = mmkit.compare(workload="review-04", variants=[NAMED["v4.5"], NAMED["v4.8"], twin], gib=0.25, ticks=40, seed=2)
    spec = viz.fragmentation(res).to_dict()
    assert "v4.8, again: the same lines as v4.8, tick for tick (dashed)" in spec["title"]["subtitle"]
    dashes = [n["strokeDash"]["scale"] for n in walk(spec) if isinstance(n.get("strokeDash"), dict)]
    assert dashes and all(dict(zip(d["domain"], map(tuple, d["range"]))) == {"v4.5": (1, 0), "v4.8": (1, 0),
                                                                            "v4.8, again": (6, 3)} for d in dashes)
    # the index is drawn where the kernel defines it; -1 (a free block exists) is a mark in the strip
    frame = viz.fragmentation_frame(res, 9)
    rows = data_values(spec)
    drawn = [r["defined"] for r in rows if "defined" in r]
    assert drawn and all(v is None or 0 <= v <= 1 for v in drawn)
    strip = {(r["variant"], r["tick"]) for r in rows if set(r) == {"variant", "tick"}}
    assert strip == {(v, t) for v, t, f in frame.select("variant", "tick", "fragindex").rows() if f < 0}
    # no identical lines, no such words
    assert not any("same lines" in s for s in viz.fragmentation(res.__class__(
        {n: getattr(res, n).filter(pl.col("variant") != "v4.8, again") if "variant" in getattr(res, n).columns
         else getattr(res, n) for n in res.FRAMES}, res.memories, {**res.info, "variants": ["v4.5", "v4.8"]})
    ).to_dict()["title"]["subtitle"])


def test_tables_print_shares_as_percents_and_counts_as_integers(result):
    t = result.table(["thp_success", "pgmigrate_success", "unusable_9", "misrouted_putback"])
    assert t["v4.5"].dtype == pl.Float64 and t.columns[:1 + len(ALL)] == ["counter", *ALL]  # the numbers stay
    head, *rows = t.cells()
    cells = {r[0]: r[1:] for r in rows}
    n = len(ALL)
    assert all(c.endswith("%") and c[:-1].replace(".", "").isdigit() for c in cells["thp_success"][:n])
    assert all(c.replace(",", "").isdigit() for c in cells["pgmigrate_success"][:n] + cells["misrouted_putback"][:n])
    assert all(len(c.split(".")[1]) == 3 for c in cells["unusable_9"][:n])
    assert all(c == "n/a" or c.endswith("%") and c[0] in "+-" for r in rows for c in r[1 + n:])
    for out in (str(t), t._repr_html_(), viz.compare_table(result, counters=t["counter"].to_list()).to_html(),
                result._repr_html_()):
        # no float with four decimals or more, no count printed as "12.0"
        assert not re.search(r"\d\.\d{4,}", out) and not re.search(r"\b\d+\.0\b(?![%\d])", out), out
    assert result.table(["free_o9"], changes=False).columns == ["counter", *ALL]


def test_memory_map_refuses_more_maps_than_cells():
    """17 variants in 16 cells: a clear error (the cell size used to double for ever)."""
    variants = [mmkit.variant("v4.8").replace(name=f"v4.8-{i}") for i in range(17)]
    res = mmkit.compare(workload="steady", variants=variants, gib=0.25, ticks=2, seed=1, progress=False)
    with pytest.raises(ParameterError, match="max_cells: 16 cells cannot hold 17 maps"):
        viz.memory_map(res, max_cells=16)
    assert viz.memory_map(res, max_cells=17).to_dict()["title"]
