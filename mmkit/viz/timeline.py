"""Charts over ticks: fragmentation indices and faults, one line or panel per variant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import altair as alt
import numpy as np
import polars as pl

from mmkit.errors import ParameterError
from mmkit.metrics import fragmentation_index, unusable_free_index
from mmkit.model.kinds import MAX_ORDER, PAGE_SIZE
from mmkit.viz import vl
from mmkit.viz.inputs import (
    MAX_ROWS,
    check_budget,
    check_choice,
    check_order,
    check_result,
    thin_ticks,
)
from mmkit.viz.theme import KIND_COLORS, kind_scale_dict, variant_scale_dict

# sysctl vm.extfrag_threshold (mm/compaction.c): compaction_suitable() returns
# COMPACT_NOT_SUITABLE_ZONE when 0 <= fragmentation_index(zone, order) <= it, i.e. when
# an allocation would fail for lack of memory rather than for fragmentation.
EXTFRAG_THRESHOLD = 500

INDEXES = ("unusable", "fragmentation")

# Faults that are a state of the pages at a tick rather than events: not in the event
# log, so shown from the timeline, with the rule whose test they follow.
STATE_FAULTS = {"kpf_balloon_misreport": "page_balloon"}  # stable_page_flags: PageBalloon()
UNATTRIBUTED = "not logged by page"
UNATTRIBUTED_COLOR = "#777777"
NO_FAULT = "none happened"
NO_FAULT_COLOR = "#CCCCCC"

FAULT_TITLES = {
    "misrouted_putback": "a non-LRU page sent to putback_lru_page",
    "lru_corruption": "a driver-owned page threaded onto an LRU list",
    "objects_lost": "reclaim freed a zsmalloc page that still held objects",
    "list_corruption": "a list_head whose neighbour does not point back",
    "oops": "isolate_movable_page through a NULL ->mapping",
    "cma_skip_false_positive": "reclaim_clean_pages_from_list skipped a droppable page",
    "kpf_balloon_misreport": "KPF_BALLOON misreported in /proc/kpageflags (pages, not cumulative)",
    "deflate_race": "balloon deflate between unlock and the newpage test",
    "lost_from_lru": "an LRU page's newpage released with put_page: off every LRU",
    "isolated_false_positive": "a movable page skipped because PageIsolated lied",
    "nonlru_to_reclaim": "a driver-owned page handed to shrink_page_list",
    "bad_page_freed": "reclaim freed a balloon page still owned by the balloon",
}


def _order_words(order: int) -> str:
    size = PAGE_SIZE << order
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


def _describe(result: Any) -> str:
    i = result.info
    return f"workload {i['workload']}, {i['memory']}, {i['ticks']} ticks, seed {i['seed']}"


# ------------------------------------------------------------------ fragmentation
def fragmentation_frame(result: Any, order: int, zone: str | None = None, keep: int | None = None) -> pl.DataFrame:
    """``variant, tick, unusable, fragindex`` at ``order`` in ``zone`` (the timeline's zone
    when None), kernel-exact (``mm/vmstat.c``), on at most ``keep`` sample ticks."""
    zt = result.zone_timeline
    zones = zt["zone"].unique(maintain_order=True).to_list()
    if zone is None:
        zone = result.timeline["zone"][0] if "zone" in result.timeline.columns else zones[0]
    zone = check_choice("zone", zone, zones)
    names = list(result.variants)
    if keep is None:
        keep = MAX_ROWS // max(len(names), 1)
    ticks = thin_ticks(zt["tick"].to_numpy(), keep)
    zt = zt.filter((pl.col("zone") == zone) & pl.col("tick").is_in(ticks.tolist()))
    if f"unusable_{order}" in zt.columns and f"fragindex_{order}" in zt.columns:
        df = zt.select("variant", "tick", pl.col(f"unusable_{order}").alias("unusable"),
                       pl.col(f"fragindex_{order}").alias("fragindex"))
    else:
        free = zt.select([f"free_o{o}" for o in range(MAX_ORDER)]).to_numpy().astype(np.int64)
        df = zt.select("variant", "tick").with_columns(
            unusable=pl.Series([unusable_free_index(r, order) / 1000 for r in free], dtype=pl.Float64),
            fragindex=pl.Series([fragmentation_index(r, order) / 1000 for r in free], dtype=pl.Float64),
        )
    return df.with_columns(zone=pl.lit(zone))


def fragmentation(result: Any, order: int = 9, index: str = "unusable", *, zone: str | None = None) -> alt.VConcatChart | alt.LayerChart:
    """The unusable free space index (debugfs ``extfrag/unusable_index``) or the
    fragmentation index (``extfrag/extfrag_index``) at ``order`` over ticks, one line per
    variant, from the kernel's integer formulas (``mm/vmstat.c``).

    With ``index="unusable"`` a second panel shows the fragmentation index, where the
    kernel's ``extfrag_threshold`` (500) is marked: ``compaction_suitable`` compacts only
    when the index is above it. ``zone``: a zone name (default: the zone the timeline
    follows, the largest).
    """
    result = check_result(result)
    order = check_order(order)
    index = check_choice("index", index, INDEXES)
    names = list(result.variants)
    df = fragmentation_frame(result, order, zone, keep=(MAX_ROWS - 1) // len(names))
    zone = df["zone"][0] if df.height else (zone or "")
    thr = pl.DataFrame({"threshold": [EXTFRAG_THRESHOLD / 1000],
                        "label": [f"extfrag_threshold = {EXTFRAG_THRESHOLD}: compaction only above"]})
    check_budget([df, thr], "fragmentation")
    color = vl.field("variant", "N", scale=variant_scale_dict(names), sort=names, title="variant")
    x = vl.field("tick", "Q", title="tick (workload step)", scale={"nice": False})
    tip = [vl.tip("variant", "N"), vl.tip("tick", "Q"),
           vl.tip("unusable", "Q", title=f"unusable_index order {order}", format=".3f"),
           vl.tip("fragindex", "Q", title=f"extfrag_index order {order}", format=".3f")]
    words = f"order {order} ({_order_words(order)})"

    def frag_panel(height: int, **props: Any) -> alt.LayerChart:
        line = vl.unit(df, mark={"type": "line", "point": False}, encoding={
            "x": x, "color": color, "tooltip": tip,
            "y": vl.field("fragindex", "Q", title=f"fragmentation index, {words}", scale={"domain": [-1, 1]}),
        })
        rule = vl.unit(thr, mark={"type": "rule", "strokeDash": [6, 4], "color": "#444444"},
                       encoding={"y": vl.field("threshold", "Q")})
        text = vl.unit(thr, mark={"type": "text", "align": "left", "dx": 4, "dy": -7, "color": "#444444", "fontSize": 11},
                       encoding={"y": vl.field("threshold", "Q"), "text": vl.field("label", "N"), "x": {"value": 0}})
        return vl.LayerChart(layer=[line, rule, text], height=height, **props)

    subtitle = [f"zone {zone}; {_describe(result)}"]
    if index == "fragmentation":
        subtitle.append("-1: a free block of this order exists; 0..0.5: failure for lack of memory "
                        "(reclaim); above 0.5: failure for fragmentation (compaction)")
        return frag_panel(260, title=vl.title(f"Fragmentation index (extfrag_index) at {words}", subtitle))
    top = vl.unit(df, mark={"type": "line"}, height=240, encoding={
        "x": x, "color": color, "tooltip": tip,
        "y": vl.field("unusable", "Q", title=f"unusable free space index, {words}", scale={"domain": [0, 1]}),
    })
    subtitle.append("unusable index: share of free memory in blocks smaller than the order (0 best, 1 worst); "
                    "below: the fragmentation index with extfrag_threshold")
    return vl.VConcatChart(vconcat=[top, frag_panel(150)],
                            title=vl.title(f"Fragmentation at {words}: unusable free space index", subtitle))


# ------------------------------------------------------------------ faults
def _check_faults(faults: Any, known: tuple[str, ...]) -> list[str] | None:
    if faults is None:
        return None
    items = [faults] if isinstance(faults, str) else faults
    try:
        items = list(items)
    except TypeError:
        raise ParameterError(f"faults: {faults!r} is not a fault name or a list of them; faults are "
                             f"{', '.join(known)}") from None
    for f in items:
        if f not in known:
            raise ParameterError(f"faults: {f!r} is not a fault; faults are {', '.join(known)}")
    if not items:
        raise ParameterError(f"faults: give at least one of {', '.join(known)}")
    return list(dict.fromkeys(items))


def faults_frame(result: Any, faults: Iterable[str] | None = None, keep_rows: int = MAX_ROWS) -> pl.DataFrame:
    """``variant, fault, kind, rule, rule_value, tick, count``: each fault's cumulative
    count by the page's real kind and the Variant rule that decided, at sample ticks.

    The event log splits each fault by kind and rule; the timeline's counter is the
    total, and anything it counts beyond the log (dropped events) is kept as kind
    ``"not logged by page"``. ``kpf_balloon_misreport`` is a state (pages misreported
    at that tick), taken from the timeline. Ticks are thinned so the frame has at most
    ``keep_rows`` rows.
    """
    from mmkit.result import FAULTS

    result = check_result(result)
    names = list(result.variants)
    picked = _check_faults(faults, FAULTS)
    tl = result.timeline
    if picked is None:
        fin = result.final()
        picked = [f for f in FAULTS if f in fin.columns and (fin[f] > 0).any()] or ["misrouted_putback"]
    rules = result.info.get("rules", {})
    # per variant: sample ticks and each picked fault's timeline counter
    series = {}
    have = [f for f in picked if f in tl.columns]
    variant_of = np.array(tl["variant"].to_list(), dtype=object)
    tick_of = tl["tick"].to_numpy()
    counter_of = {f: tl[f].to_numpy() for f in have}
    for v in dict.fromkeys(variant_of.tolist()):
        idx = np.flatnonzero(variant_of == v)
        idx = idx[np.argsort(tick_of[idx], kind="stable")]
        series[v] = {"tick": tick_of[idx], **{f: counter_of[f][idx] for f in have}}
    # per (variant, fault, kind, rule): the sorted ticks of its logged events
    logged: dict[tuple[str, str, str, str], np.ndarray] = {}
    ev = result.events.filter(pl.col("event").is_in(picked))
    if ev.height:
        agg = ev.group_by("variant", "event", "kind", "rule").agg(pl.col("tick").sort())
        for v, f, k, r, t in agg.iter_rows():
            logged[(v, f, k, r)] = np.asarray(t, dtype=np.int64)
    groups: dict[str, list[tuple[str, str]]] = {}
    for f in picked:
        if f in STATE_FAULTS:
            groups[f] = [(UNATTRIBUTED, STATE_FAULTS[f])]
            continue
        g = sorted({(k, r) for (_, ff, k, r) in logged if ff == f})
        counted = {v: sum(t.size for (vv, ff, _, _), t in logged.items() if vv == v and ff == f) for v in names}
        if any(v in series and f in series[v] and series[v][f].size and int(series[v][f][-1]) > counted[v]
               for v in names):
            g.append((UNATTRIBUTED, ""))
        groups[f] = g or [(NO_FAULT, "")]
    ngroups = sum(len(g) for g in groups.values()) * len(names)
    sample_ticks = np.unique(tl["tick"].to_numpy())
    ticks = thin_ticks(sample_ticks, max(2, keep_rows // max(ngroups, 1)))
    cols: dict[str, list] = {k: [] for k in ("variant", "fault", "kind", "rule", "rule_value")}
    counts = []
    empty = np.zeros(0, np.int64)
    for f in picked:
        for v in names:
            s = series.get(v, {})
            t_all, total = s.get("tick", empty), s.get(f, empty)
            total_at = np.interp(ticks, t_all, total).round().astype(np.int64) if t_all.size and total.size \
                else np.zeros(ticks.size, np.int64)
            logged_sum = np.zeros(ticks.size, np.int64)
            for kind, rule in groups[f]:
                if kind in (UNATTRIBUTED, NO_FAULT):
                    continue
                # a sample at tick t counts the faults of ticks before t
                c = np.searchsorted(logged.get((v, f, kind, rule), empty), ticks, side="left").astype(np.int64)
                logged_sum += c
                counts.append(c)
                for key, val in zip(cols, (v, f, kind, rule, f"{rule} = {rules.get(v, {}).get(rule, '?')}")):
                    cols[key].append(val)
            for kind, rule in groups[f]:
                if kind in (UNATTRIBUTED, NO_FAULT):
                    counts.append(total_at if f in STATE_FAULTS else np.maximum(total_at - logged_sum, 0))
                    value = f"{rule} = {rules.get(v, {}).get(rule, '?')}" if rule else ""
                    for key, val in zip(cols, (v, f, kind, rule, value)):
                        cols[key].append(val)
    n = ticks.size
    data = {key: np.repeat(np.array(vals, dtype=object), n).tolist() for key, vals in cols.items()}
    data["tick"] = np.tile(ticks, len(counts))
    data["count"] = np.concatenate(counts) if counts else empty
    return pl.DataFrame(data, schema={"variant": pl.String, "fault": pl.String, "kind": pl.String, "rule": pl.String,
                                      "rule_value": pl.String, "tick": pl.Int64, "count": pl.Int64})


def misrouted(result: Any, faults: Iterable[str] | str | None = None) -> alt.VConcatChart:
    """Misrouted putbacks and every other fault over ticks: one row of panels per fault,
    one panel per variant, areas stacked by the page's real kind; the tooltip names the
    Variant rule (kernel function's test) that decided.

    ``faults``: fault names (``mmkit.result.FAULTS``); default: those that happened in
    at least one variant (or ``misrouted_putback`` when none did).
    """
    result = check_result(result)
    names = list(result.variants)
    df = faults_frame(result, faults)
    check_budget([df], "misrouted")
    # faults_frame writes each fault's rows together: one slice of the frame per fault
    fault_of = df["fault"].to_list()
    starts = [i for i in range(len(fault_of)) if i == 0 or fault_of[i] != fault_of[i - 1]]
    picked = [fault_of[i] for i in starts]
    parts = [df.slice(a, b - a) for a, b in zip(starts, [*starts[1:], len(fault_of)])]
    assert len(set(picked)) == len(picked), "faults_frame: a fault's rows are not together"
    kinds = df["kind"].unique().to_list()
    scale = kind_scale_dict([k for k in kinds if k in KIND_COLORS])
    for extra, color in ((UNATTRIBUTED, UNATTRIBUTED_COLOR), (NO_FAULT, NO_FAULT_COLOR)):
        if extra in kinds:
            scale = {"domain": [*scale["domain"], extra], "range": [*scale["range"], color]}
    width = max(110, 760 // len(names))
    tooltip = [vl.tip("variant", "N"), vl.tip("fault", "N"), vl.tip("kind", "N", title="page kind"),
               vl.tip("rule_value", "N", title="decided by rule"), vl.tip("tick", "Q"),
               vl.tip("count", "Q", aggregate="sum", title="pages")]
    column = vl.field("variant", "N", sort=names, title=None, header={"labelFontSize": 12, "labelFontWeight": "bold"})
    rows = []
    for f, sub in zip(picked, parts):
        y_title = "pages now" if f in STATE_FAULTS else "pages (cumulative)"
        panel = vl.unit(mark={"type": "area", "opacity": 0.9, "line": {"strokeWidth": 1}}, width=width, height=110,
                        encoding={
                            "x": vl.field("tick", "Q", title="tick", scale={"nice": False}),
                            "y": vl.field("count", "Q", aggregate="sum", title=y_title, stack="zero"),
                            "color": vl.field("kind", "N", scale=scale, title="page kind (real owner)"),
                            "detail": vl.field("rule", "N"),
                            "order": vl.field("kind", "N"),
                            "tooltip": tooltip,
                        })
        rows.append(vl.FacetChart(data=sub, spec=panel, facet={"column": column},
                                   title=vl.title(f"{f}: {FAULT_TITLES[f]}" if f in FAULT_TITLES else f,
                                                  fontSize=13, anchor="start")))
    subtitle = [f"{_describe(result)}; colour: what the page really is; hover: the rule that decided",
                "misrouted putback: migrate_pages sent a non-LRU (driver-owned) page to putback_lru_page"]
    if df["count"].sum() == 0:
        subtitle.append("none of these faults happened in any variant")
    data = alt.Undefined
    if len(rows) == 1:  # one fault: its data is the chart's, as altair lifts it
        data, rows[0].data = rows[0].data, alt.Undefined
    return vl.VConcatChart(data=data, vconcat=rows, title=vl.title("Faults by page kind and variant", subtitle),
                            resolve={"scale": {"color": "shared"}})
