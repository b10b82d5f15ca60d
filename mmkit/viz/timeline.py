"""Charts over ticks: fragmentation indices and faults, one line or panel per variant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import altair as alt
import numpy as np
import polars as pl

from mmkit.errors import ParameterError
from mmkit.metrics import fragmentation_index, unusable_free_index
from mmkit.model.events import EVENT_TITLES, FAULT_NAMES
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
from mmkit.viz.theme import CHART_WIDTH, KIND_COLORS, kind_scale_dict, variant_scale_dict

# sysctl vm.extfrag_threshold (mm/compaction.c): compaction_suitable() returns
# COMPACT_NOT_SUITABLE_ZONE when 0 <= fragmentation_index(zone, order) <= it, i.e. when
# an allocation would fail for lack of memory rather than for fragmentation.
EXTFRAG_THRESHOLD = 500

INDEXES = ("unusable", "fragmentation")
PANEL_WIDTH = 620  # a fragmentation panel: with its axis title and the legend, under CHART_WIDTH

# Faults that are a state of the pages at a tick rather than events: not in the event
# log, so shown from the timeline, with the rule whose test they follow.
STATE_FAULTS = {"kpf_balloon_misreport": "page_balloon"}  # stable_page_flags: PageBalloon()
# The timeline's columns of a state fault: balloon pages it misses (their owner is the
# balloon) and other pages it calls balloon pages (owners counted in the final memory).
STATE_SPLIT = {"kpf_balloon_misreport": ("kpf_balloon_false_negative", "kpf_balloon_false_positive")}
# What a reader needs to know to read a fault's panels: (the page kind it is about, or
# None for any, the note).
FAULT_NOTES = {
    "kpf_balloon_misreport": (None, "KPF_BALLOON: pages misreported at each tick, coloured by their owner in the "
                                    "final memory (the timeline counts pages, not owners)"),
    "misrouted_putback": ("kernel", "misrouted kernel pages: balloon pages deflated between unlock_page(newpage) "
                                    "and the newpage test (deflate_race)"),
}
UNATTRIBUTED = "not logged by page"
UNATTRIBUTED_COLOR = "#777777"
NO_FAULT = "none happened"
NO_FAULT_COLOR = "#CCCCCC"

# a fault's title: its row in mmkit.model.events (KPF_BALLOON's panel counts pages at each tick)
FAULT_TITLES = {n: EVENT_TITLES[n] for n in FAULT_NAMES} | {
    "kpf_balloon_misreport": "KPF_BALLOON misreported in /proc/kpageflags (pages, not cumulative)"}


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


def _same_lines(df: pl.DataFrame, names: list[str], columns: tuple[str, ...]) -> dict[str, str]:
    """Variants whose ``columns`` over ticks equal an earlier variant's: ``{later: earlier}``."""
    seen: dict[tuple, str] = {}
    same = {}
    for v in names:
        sub = df.filter(pl.col("variant") == v).sort("tick")
        key = tuple(tuple(sub[c].to_list()) for c in ("tick", *columns))
        if sub.height and key in seen:
            same[v] = seen[key]
        else:
            seen.setdefault(key, v)
    return same


def fragmentation(result: Any, order: int = 9, index: str = "unusable", *,
                  zone: str | None = None) -> alt.VConcatChart:
    """The unusable free space index or the fragmentation index at ``order`` over ticks,
    one line per variant.

    Parameters
    ----------
    result : Result
        From :func:`mmkit.compare` or :func:`mmkit.simulate`.
    order : int
        The allocation order, 0..10 (9: a 2 MiB huge page).
    index : {"unusable", "fragindex"}
        "unusable" draws the unusable free space index (debugfs
        ``extfrag/unusable_index``) above the fragmentation index; "fragindex" draws the
        fragmentation index (``extfrag/extfrag_index``) alone.
    zone : str, optional
        A zone name (default: the zone the timeline follows, the largest).

    Returns
    -------
    altair.VConcatChart

    Raises
    ------
    ParameterError
        Not a Result, an order out of range, an unknown index or zone.

    Notes
    -----
    Both indices are the kernel's integer formulas (``mm/vmstat.c``). The fragmentation
    index is defined only while no free block of the order exists (the kernel prints -1
    otherwise: the allocation would succeed); it is drawn where it is defined, with
    ``extfrag_threshold`` (500) marked (``compaction_suitable`` compacts only above it),
    and a strip below marks the ticks at which each variant had a free block of the
    order. A variant whose lines are another's, tick for tick, is drawn dashed and named
    in the subtitle.

    Examples
    --------
    >>> res = mmkit.compare(variants=["v4.5", "v4.8"], gib=0.25, ticks=40)
    >>> chart = mmkit.viz.fragmentation(res, order=9)
    >>> type(chart).__name__
    'VConcatChart'
    """
    result = check_result(result)
    order = check_order(order)
    index = check_choice("index", index, INDEXES)
    names = list(result.variants)
    df = fragmentation_frame(result, order, zone, keep=(MAX_ROWS - 1) // (2 * len(names)))
    zone = df["zone"][0] if df.height else (zone or "")
    same = _same_lines(df, names, ("unusable", "fragindex") if index == "unusable" else ("fragindex",))
    # -1 is the kernel's "a free block of this order exists": no index, a mark in the strip
    df = df.with_columns(defined=pl.when(pl.col("fragindex") >= 0).then(pl.col("fragindex")))
    free = df.filter(pl.col("fragindex") < 0).select("variant", "tick")
    thr = pl.DataFrame({"threshold": [EXTFRAG_THRESHOLD / 1000],
                        "label": [f"extfrag_threshold = {EXTFRAG_THRESHOLD}: compaction only above"]})
    check_budget([df, free, thr], "fragmentation")
    legend = {"symbolType": "stroke", "symbolSize": 300}
    color = vl.field("variant", "N", scale=variant_scale_dict(names), sort=names, title="variant", legend=legend)
    dash = vl.field("variant", "N", sort=names, title="variant", legend=legend,
                    scale={"domain": names, "range": [[6, 3] if v in same else [1, 0] for v in names]})
    x = vl.field("tick", "Q", title="tick (workload step)", scale={"nice": False})
    tip = [vl.tip("variant", "N"), vl.tip("tick", "Q"),
           vl.tip("unusable", "Q", title=f"unusable_index order {order}", format=".3f"),
           vl.tip("fragindex", "Q", title=f"extfrag_index order {order} (-1: would succeed)", format=".3f")]
    words = f"order {order} ({_order_words(order)})"
    line = {"type": "line", "invalid": "break-paths-filter-domains"}

    def frag_panel(height: int) -> alt.LayerChart:
        lines = vl.unit(df, mark={**line, "point": {"size": 16}}, encoding={
            "x": x, "color": color, "strokeDash": dash, "tooltip": tip,
            "y": vl.field("defined", "Q", title=["fragmentation index,", f"{words}"], scale={"domain": [0, 1]}),
        })
        rule = vl.unit(thr, mark={"type": "rule", "strokeDash": [6, 4], "color": "#444444"},
                       encoding={"y": vl.field("threshold", "Q")})
        text = vl.unit(thr, mark={"type": "text", "align": "left", "dx": 4, "dy": -7, "color": "#444444", "fontSize": 11},
                       encoding={"y": vl.field("threshold", "Q"), "text": vl.field("label", "N"), "x": {"value": 0}})
        return vl.LayerChart(layer=[lines, rule, text], height=height, width=PANEL_WIDTH)

    strip = vl.unit(free, mark={"type": "tick", "thickness": 3}, encoding={
        "x": x, "color": color,
        "y": vl.field("variant", "N", sort=names, title=None, scale={"domain": names}),
        "tooltip": [vl.tip("variant", "N"), vl.tip("tick", "Q")],
    })
    strip = vl.LayerChart(layer=[strip], width=PANEL_WIDTH, height=16 * len(names), title=vl.title(
        f"ticks with a free block of {words}: extfrag_index -1, the allocation would succeed",
        fontSize=12, fontWeight="normal", anchor="start"))
    subtitle = [f"zone {zone}; {_describe(result)}"]
    if index == "fragmentation":
        subtitle.append("fragmentation index (extfrag_index), where no free block of the order exists: "
                        "0..0.5 failure for lack of memory, above 0.5 for fragmentation")
        parts = [frag_panel(200), strip]
        head = f"Fragmentation index (extfrag_index) at {words}"
    else:
        top = vl.unit(df, mark=line, height=220, width=PANEL_WIDTH, encoding={
            "x": x, "color": color, "strokeDash": dash, "tooltip": tip,
            "y": vl.field("unusable", "Q", title=["unusable free space index,", f"{words}"],
                          scale={"domain": [0, 1]}),
        })
        subtitle.append("unusable index: share of free memory in blocks smaller than the order (0 best, 1 worst)")
        subtitle.append("below: the fragmentation index where it is defined (no free block of the order), "
                        "with extfrag_threshold; then the ticks with such a block")
        parts = [top, frag_panel(150), strip]
        head = f"Fragmentation at {words}: unusable free space index"
    subtitle += [f"{v}: the same lines as {w}, tick for tick (dashed)" for v, w in same.items()]
    return vl.VConcatChart(vconcat=parts, title=vl.title(head, subtitle), spacing=14)


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
    at that tick), taken from the timeline: balloon pages it misses are the balloon's;
    the pages it wrongly calls balloon pages take their owner from the final memory's
    count (``Result.faults``) where that is one kind, else ``"not logged by page"``.
    Ticks are thinned so the frame has at most ``keep_rows`` rows.
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
    have += [c for f in picked for c in STATE_SPLIT.get(f, ()) if c in tl.columns]
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
    state_owner = {f: _state_owners(result, f, names) for f in picked if f in STATE_FAULTS}
    state_split = {f for f in state_owner if all(c in tl.columns for c in STATE_SPLIT.get(f, ("",)))}
    for f in picked:
        if f in STATE_FAULTS:
            split = f in state_split
            owners = set(state_owner[f].values()) if split else {UNATTRIBUTED}
            if split and (tl[STATE_SPLIT[f][0]] > 0).any():
                owners.add("balloon")
            groups[f] = [(k, STATE_FAULTS[f]) for k in sorted(owners - {UNATTRIBUTED})]
            groups[f] += [(UNATTRIBUTED, STATE_FAULTS[f])] if UNATTRIBUTED in owners else []
            groups[f] = groups[f] or [(NO_FAULT, STATE_FAULTS[f])]
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
            if f in STATE_FAULTS and f in state_split:
                missed, wrong = (np.interp(ticks, t_all, s.get(c, empty)).round().astype(np.int64)
                                 if t_all.size and s.get(c, empty).size else np.zeros(ticks.size, np.int64)
                                 for c in STATE_SPLIT[f])
                owner = state_owner[f].get(v, UNATTRIBUTED)
                for kind, rule in groups[f]:
                    counts.append(missed if kind == "balloon" else wrong if kind == owner else np.zeros_like(missed))
                    for key, val in zip(cols, (v, f, kind, rule, f"{rule} = {rules.get(v, {}).get(rule, '?')}")):
                        cols[key].append(val)
                continue
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


def _fault_title(fault: str) -> str:
    return f"{fault}: {FAULT_TITLES[fault]}" if fault in FAULT_TITLES else fault


def _facet_columns(n: int) -> int:
    """Panels per row for ``n`` variants: all in one row up to four, else wrapped into
    rows of at most three, so that a chart fits ``CHART_WIDTH``."""
    return n if n <= 4 else -(-n // -(-n // 3))


def _state_owners(result: Any, fault: str, names: list[str]) -> dict[str, str]:
    """Per variant, the one kind other than the balloon that state fault ``fault`` counts
    in the final memory (``Result.faults``), or ``"not logged by page"`` when it counts
    several; variants whose count is zero are left out."""
    fin = result.faults.filter((pl.col("fault") == fault) & (pl.col("kind") != "balloon") & (pl.col("count") > 0))
    out = {}
    for v in names:
        kinds = fin.filter(pl.col("variant") == v)["kind"].to_list()
        if kinds:
            out[v] = kinds[0] if len(kinds) == 1 else UNATTRIBUTED
    return out


def misrouted(result: Any, faults: Iterable[str] | str | None = None) -> alt.VConcatChart:
    """Misrouted putbacks and every other fault over ticks, by the page's real owner.

    Parameters
    ----------
    result : Result
        From :func:`mmkit.compare` or :func:`mmkit.simulate`.
    faults : str or iterable of str, optional
        Fault names (``mmkit.result.FAULTS``); default: those that happened in at least
        one variant (or ``misrouted_putback`` when none did).

    Returns
    -------
    altair.VConcatChart
        One block of panels per fault, one panel per variant (wrapped into rows of three
        past four variants), areas stacked by the page's real owner; the tooltip names
        the Variant rule (the kernel function's test) that decided. The title says what
        the faults are: one fault, its own words; several, one heading per fault.

    Raises
    ------
    ParameterError
        Not a Result, or an unknown fault name.

    Notes
    -----
    The review's three points are ``kpf_balloon_misreport`` (``stable_page_flags``,
    point 1), ``misrouted_putback`` (``putback_lru_page`` on a driver's page, point 2)
    and ``cma_skip_false_positive`` (``reclaim_clean_pages_from_list``, point 3);
    ``mmkit.result.FAULTS`` lists them with what they lead to (``lru_corruption``,
    ``list_corruption``, ``objects_lost``, ``oops``, ...).

    Examples
    --------
    >>> res = mmkit.compare(variants=["v3-02", "v4.8"], gib=0.25, ticks=40)
    >>> chart = mmkit.viz.misrouted(res, "misrouted_putback")
    >>> type(chart).__name__
    'VConcatChart'
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
    columns = _facet_columns(len(names))
    # legend (about 190 px), y axis (about 60 px) and the gaps between panels
    width = max(110, (CHART_WIDTH - 250 - 20 * (columns - 1)) // columns)
    tooltip = [vl.tip("variant", "N"), vl.tip("fault", "N"), vl.tip("kind", "N", title="page kind"),
               vl.tip("rule_value", "N", title="decided by rule"), vl.tip("tick", "Q"),
               vl.tip("count", "Q", aggregate="sum", title="pages")]
    facet = vl.field("variant", "N", sort=names, title=None, header={"labelFontSize": 12, "labelFontWeight": "bold"})
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
        heading = alt.Undefined if len(picked) == 1 else vl.title(_fault_title(f), fontSize=13, anchor="start")
        rows.append(vl.FacetChart(data=sub, spec=panel, facet=facet, columns=columns, title=heading))
    subtitle = [f"{_describe(result)}", "colour: what the page really is; hover: the rule that decided"]
    for f, sub in zip(picked, parts):
        kind, note = FAULT_NOTES.get(f, ("", ""))
        if note and (kind is None or (sub.filter(pl.col("kind") == kind)["count"] > 0).any()):
            subtitle.append(note)
    if df["count"].sum() == 0:
        subtitle.append("none of these faults happened in any variant")
    head = _fault_title(picked[0]) if len(picked) == 1 else "Faults by page kind and variant, one heading per fault"
    data = alt.Undefined
    if len(rows) == 1:  # one fault: its data is the chart's, as altair lifts it
        data, rows[0].data = rows[0].data, alt.Undefined
    return vl.VConcatChart(data=data, vconcat=rows, title=vl.title(head, subtitle),
                            resolve={"scale": {"color": "shared"}})
