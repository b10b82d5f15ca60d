"""Charts of a live machine over time, from a :class:`mmkit.metrics.History` frame, and of
what ``compact_memory`` would do to it: the charts of ``mmkit.widgets.Monitor``.

Each function takes the history frame (:data:`mmkit.metrics.history.SCHEMA`) and returns
an altair chart; a part whose source was unavailable (no root: pagetypeinfo,
kpageflags) is drawn as a line of text saying why, never an error. Long histories are
thinned to evenly spaced samples so that a chart embeds at most ``MAX_ROWS`` rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import polars as pl

from mmkit.errors import ParameterError
from mmkit.viz import vl
from mmkit.viz.inputs import MAX_ROWS, check_order
from mmkit.viz.theme import MIGRATETYPE_COLORS

__all__ = ["COMPACTION_EVENTS", "COMPACTION_PAGES", "compact_prediction", "monitor_compaction", "monitor_free",
           "monitor_indices", "monitor_pageblocks", "unavailable_chart"]

COMPACTION_EVENTS = ("compact_stall", "compact_success", "compact_fail", "compact_daemon_wake")
COMPACTION_PAGES = ("compact_migrate_scanned", "compact_free_scanned", "compact_isolated", "pgmigrate_success")
WIDTH = 560
TIME = vl.field("time", "T", title="time", axis={"format": "%H:%M:%S", "labelAngle": 0})
EXTFRAG_THRESHOLD = 0.5  # sysctl_extfrag_threshold = 500
# compact_prediction's states, in the order they come (Okabe-Ito: blues for the capture
# and the prediction, then green for the real result, then the rest of the palette)
STATE_COLORS = ("#0072B2", "#56B4E9", "#009E73", "#E69F00", "#D55E00", "#CC79A7", "#F0E442", "#000000")


_NODE_ZONE = "Node {}, {}"  # a zone on a machine of several nodes, as /proc/buddyinfo names it


def zone_labels(nodes: Sequence[int], zones: Sequence[str]) -> list[str]:
    """The name the monitor charts give each zone: its own name, or its node and name when
    the zones are on more than one NUMA node.

    Parameters
    ----------
    nodes : sequence of int
        Each zone's NUMA node (``Sample.zone_nodes``).
    zones : sequence of str
        Each zone's name, as many (``Sample.zone_names``).

    Returns
    -------
    list of str
        ``"Normal"`` on a machine of one node; ``"Node 1, Normal"`` when ``nodes`` holds
        more than one node, so that zones of one name on two nodes are two lines.

    Raises
    ------
    ParameterError
        ``nodes`` and ``zones`` are not as long as each other.

    Notes
    -----
    ``/proc/buddyinfo`` and ``/proc/zoneinfo`` name a zone by both, ``Node 1, zone
    Normal`` (``frag_show_print``, ``zoneinfo_show_print``, ``mm/vmstat.c``); the charts
    keep the node only where it tells zones apart. ``monitor_free``'s ``zone`` takes
    these names.

    Examples
    --------
    >>> mmkit.viz.zone_labels([0, 0, 1], ["DMA32", "Normal", "Normal"])
    ['Node 0, DMA32', 'Node 0, Normal', 'Node 1, Normal']
    >>> mmkit.viz.zone_labels([0, 0], ["DMA32", "Normal"])
    ['DMA32', 'Normal']
    """
    nodes, zones = list(nodes), list(zones)
    if len(nodes) != len(zones):
        raise ParameterError(f"nodes and zones: {len(nodes)} nodes for {len(zones)} zones")
    multi = len(set(nodes)) > 1
    return [_NODE_ZONE.format(n, z) if multi else z for n, z in zip(nodes, zones)]


def _check(history: Any) -> pl.DataFrame:
    if not isinstance(history, pl.DataFrame) or not {"seq", "time", "metric", "value"} <= set(history.columns):
        raise ParameterError("history: expected a History frame (mmkit.metrics.History().frame, Monitor.history)")
    if {"node", "zone"} <= set(history.columns) and history["node"].drop_nulls().n_unique() > 1:
        # each zone by node, as zone_labels names them: Normal of node 0 and of node 1
        # are two zones
        history = history.with_columns(
            zone=pl.when(pl.col("zone").is_not_null()).then(pl.format(_NODE_ZONE, "node", "zone")))
    return history


def _thin(df: pl.DataFrame, budget: int = MAX_ROWS - 50) -> pl.DataFrame:
    """``df`` with evenly spaced samples (``seq``) kept, the last always, so it has at
    most ``budget`` rows."""
    seqs = df["seq"].unique().sort()
    if df.height <= budget or seqs.len() < 2:
        return df
    per = -(-df.height // seqs.len())
    keep = max(budget // max(per, 1), 2)
    if keep >= seqs.len():
        return df
    step = (seqs.len() - 1) / (keep - 1)
    picked = {seqs[round(i * step)] for i in range(keep)}
    return df.filter(pl.col("seq").is_in(sorted(picked)))


def unavailable_chart(lines: list[str], title: str) -> alt.Chart:
    """A chart that is only text: why its data is unavailable."""
    df = pl.DataFrame({"line": list(lines), "i": list(range(len(lines)))})
    return vl.unit(df, mark={"type": "text", "align": "left", "x": 0, "fontSize": 13, "color": "#555555"},
                   encoding={"text": vl.field("line", "N"), "y": vl.field("i", "O", axis=None)},
                   width=WIDTH, height=22 * len(lines)).properties(title=vl.title(title))


def _check_page_size(page_size: Any) -> int:
    if (isinstance(page_size, bool) or not isinstance(page_size, int) or not 4096 <= page_size <= 65536
            or page_size & (page_size - 1)):
        raise ParameterError(f"page_size: {page_size!r} is not a power of two from 4096 to 65536 (bytes)")
    return page_size


def _subtitle(df: pl.DataFrame) -> str:
    n = df["seq"].n_unique()
    return f"{n} sample{'s' if n != 1 else ''}" if n else "no samples yet"


def monitor_free(history: pl.DataFrame, zone: str | None = None, page_size: int = 4096) -> alt.TopLevelMixin:
    """Free memory by order over time, from buddyinfo, with a zone's watermarks; below,
    the last sample's free blocks by order per zone.

    Parameters
    ----------
    history : polars.DataFrame
        A history frame (:data:`mmkit.metrics.history.SCHEMA`):
        ``mmkit.metrics.History().frame``, ``Monitor.history``, or a saved series'
        ``mmkit.snapshot.load_series(path).history``.
    zone : str, optional
        A zone as the charts name it: its free memory and its watermarks (default: all
        zones summed, no watermarks). On a machine of several NUMA nodes a zone's name
        includes its node, ``"Node 1, Normal"`` (:func:`zone_labels`).
    page_size : int
        The sampled machine's page size in bytes, a power of two from 4096 to 65536
        (default 4096, as on x86-64; ``Monitor`` passes the live machine's).

    Returns
    -------
    altair.VConcatChart or altair.Chart
        Above, free MiB over time stacked by order (``nr_free`` x 2^order pages), with
        ``zone``'s min, low and high watermarks dashed; below, the last sample's
        ``nr_free`` by order per zone (symlog). A history without samples gives a chart
        of one line of text saying so.

    Raises
    ------
    ParameterError
        ``history`` is not a history frame, ``zone`` is not a zone it sampled, or
        ``page_size`` is not a power of two from 4096 to 65536.

    Notes
    -----
    ``nr_free`` is ``zone->free_area[order].nr_free`` as ``/proc/buddyinfo`` prints it
    (``frag_show_print``, ``mm/vmstat.c``); the watermarks are the ``min``, ``low`` and
    ``high`` lines of ``/proc/zoneinfo`` (``zoneinfo_show_print``, ``mm/vmstat.c``), in
    pages, drawn in MiB of ``page_size`` pages. Samples beyond the 5,000 rows a chart may embed
    are thinned to evenly spaced ones, the last kept.

    Examples
    --------
    >>> snap = "data/idle"  # a snapshot folder: the /proc files a sample reads
    >>> h = mmkit.metrics.History()
    >>> h.append(mmkit.snapshot.sample(proc_root=snap, debugfs_root=snap, kpageflags=False))
    1
    >>> chart = mmkit.viz.monitor_free(h.frame, zone="Normal")
    >>> type(chart).__name__
    'VConcatChart'
    >>> chart.vconcat[0].title["subtitle"][0]
    '1 sample; zone Normal; free MiB = nr_free x 2^order pages of 4 KiB'
    """
    df = _check(history)
    zones = df.filter(pl.col("metric") == "nr_free")["zone"].unique(maintain_order=True).to_list()
    if not zones:
        return unavailable_chart(["no samples yet: press Start or Sample now"], "Free memory by order")
    if zone is not None and zone not in zones:
        raise ParameterError(f"zone: {zone!r}; zones sampled are {', '.join(map(repr, zones))}")
    page_mib = _check_page_size(page_size) / 2**20
    fr = df.filter(pl.col("metric") == "nr_free")
    if zone is not None:
        fr = fr.filter(pl.col("zone") == zone)
    area = (fr.group_by("seq", "time", "order").agg(pl.col("value").sum().alias("nr_free"))
            .with_columns(free_mib=pl.col("nr_free") * (pl.lit(2) ** pl.col("order")) * page_mib)
            .sort("seq", "order"))
    area = _thin(area, MAX_ROWS // 2)
    n_orders = int(area["order"].max()) + 1
    layers = [vl.unit(area, mark={"type": "area", "interpolate": "step-after"}, encoding={
        "x": TIME,
        "y": vl.field("free_mib", "Q", stack="zero", title="free MiB"),
        "color": vl.field("order", "O", title="order", scale={"scheme": "viridis", "reverse": True},
                          sort=list(range(n_orders))),
        "order": vl.field("order", "O", sort="descending"),
        "tooltip": [vl.tip("time", "T", format="%H:%M:%S"), vl.tip("order", "O"), vl.tip("nr_free", "Q"),
                    vl.tip("free_mib", "Q", title="free MiB", format=",.1f")],
    })]
    sub = [f"{_subtitle(df)}; {'zone ' + zone if zone else 'all zones'}; free MiB = nr_free x 2^order pages of {page_size // 1024} KiB"]
    if zone is not None:
        wm = df.filter(pl.col("metric").str.starts_with("watermark_") & (pl.col("zone") == zone))
        if wm.height:
            wm = _thin(wm.select("seq", "time", watermark=pl.col("metric").str.slice(10),
                                 mib=pl.col("value") * page_mib), MAX_ROWS // 4)
            layers.append(vl.unit(wm, mark={"type": "line", "strokeDash": [4, 3], "color": "#222222",
                                            "strokeWidth": 1}, encoding={
                "x": TIME, "y": vl.field("mib", "Q"), "detail": vl.field("watermark", "N"),
                "tooltip": [vl.tip("watermark", "N"), vl.tip("mib", "Q", title="MiB", format=",.1f")]}))
            sub.append("dashed: the zone's min, low and high watermarks (zoneinfo)")
    top = vl.LayerChart(layer=layers, width=WIDTH, height=220,
                        title=vl.title("Free memory by order over time (buddyinfo)", sub))
    last = fr if zone is not None else df.filter(pl.col("metric") == "nr_free")
    last = last.filter(pl.col("seq") == last["seq"].max()).select("zone", "order", nr_free="value")
    bars = vl.unit(last, mark={"type": "bar"}, width=WIDTH, height=160, encoding={
        "x": vl.field("order", "O", title="order", axis={"labelAngle": 0}),
        "xOffset": vl.field("zone", "N", sort=zones),
        "y": vl.field("nr_free", "Q", title="free blocks (symlog)", scale={"type": "symlog"}),
        "color": vl.field("zone", "N", sort=zones, title="zone"),
        "tooltip": [vl.tip("zone", "N"), vl.tip("order", "O"), vl.tip("nr_free", "Q")],
    }).properties(title=vl.title("Now: free blocks by order per zone (nr_free)"))
    return vl.VConcatChart(vconcat=[top, bars], spacing=16).resolve_scale(color="independent")


def monitor_indices(history: pl.DataFrame, order: int = 9) -> alt.TopLevelMixin:
    """The unusable free space index and the fragmentation index at ``order`` over time,
    one line per zone.

    Parameters
    ----------
    history : polars.DataFrame
        A history frame (:data:`mmkit.metrics.history.SCHEMA`):
        ``mmkit.metrics.History().frame``, ``Monitor.history``, or a saved series'
        ``mmkit.snapshot.load_series(path).history``.
    order : int
        The allocation order, 0..63 (default 9: a 2 MiB huge page on x86-64); an order
        the samples do not have gives a chart of one line of text saying so.

    Returns
    -------
    altair.VConcatChart or altair.Chart
        Above, the unusable free space index (0 best, 1 worst); below, the
        fragmentation index where it is defined (no free block of the order), with
        ``extfrag_threshold`` (0.5) dashed. Without samples at ``order``, a chart of one
        line of text.

    Raises
    ------
    ParameterError
        ``history`` is not a history frame, or ``order`` is not an integer in 0..63.

    Notes
    -----
    Both indices are the kernel's integer formulas (``unusable_free_index`` and
    ``__fragmentation_index``, ``mm/vmstat.c``) computed on each sample's buddyinfo,
    so they are what debugfs ``extfrag/unusable_index`` and ``extfrag/extfrag_index``
    print at that moment, divided by 1000. The kernel prints -1 for the fragmentation
    index while a free block of the order exists (the allocation would succeed);
    ``compaction_suitable`` (``mm/compaction.c``) compacts only above
    ``extfrag_threshold`` (sysctl ``vm.extfrag_threshold``, 500).

    Examples
    --------
    >>> snap = "data/idle"  # a snapshot folder: the /proc files a sample reads
    >>> h = mmkit.metrics.History()
    >>> h.append(mmkit.snapshot.sample(proc_root=snap, debugfs_root=snap, kpageflags=False))
    1
    >>> chart = mmkit.viz.monitor_indices(h.frame, order=9)
    >>> chart.title["text"]
    'Fragmentation at order 9 over time'
    """
    df = _check(history)
    order = check_order(order, 64)
    idx = df.filter(pl.col("metric").is_in(["unusable_index", "fragmentation_index"]) & (pl.col("order") == order))
    if not idx.height:
        return unavailable_chart([f"no samples with order {order} yet"], "Fragmentation indices")
    idx = _thin(idx.select("seq", "time", "zone", "metric", index=pl.col("value") / 1000))
    zones = idx["zone"].unique(maintain_order=True).to_list()
    color = vl.field("zone", "N", sort=zones, title="zone")
    tip = [vl.tip("time", "T", format="%H:%M:%S"), vl.tip("zone", "N"), vl.tip("index", "Q", format=".3f")]
    un = vl.unit(idx.filter(pl.col("metric") == "unusable_index"), mark={"type": "line", "point": {"size": 14}},
                 width=WIDTH, height=170, encoding={
                     "x": TIME, "color": color, "tooltip": tip,
                     "y": vl.field("index", "Q", title=["unusable index", f"order {order}"],
                                   scale={"domain": [0, 1]})})
    # -1 (a free block of the order exists) is no point on the index's scale: null, where
    # the zone's line breaks instead of joining the samples on either side
    fr = idx.filter(pl.col("metric") == "fragmentation_index").with_columns(
        index=pl.when(pl.col("index") >= 0).then(pl.col("index")))
    thr = pl.DataFrame({"threshold": [EXTFRAG_THRESHOLD]})
    frag = vl.LayerChart(layer=[
        vl.unit(fr, mark={"type": "line", "point": {"size": 14}, "invalid": "break-paths-filter-domains"}, encoding={
            "x": TIME, "color": color, "tooltip": tip,
            "y": vl.field("index", "Q", title=["fragmentation index", f"order {order}"], scale={"domain": [0, 1]})}),
        vl.unit(thr, mark={"type": "rule", "strokeDash": [6, 4], "color": "#444444"},
                encoding={"y": vl.field("threshold", "Q")}),
    ], width=WIDTH, height=130)
    return vl.VConcatChart(vconcat=[un, frag], spacing=12, title=vl.title(
        f"Fragmentation at order {order} over time", [
            _subtitle(df),
            "unusable index: share of free memory in blocks below the order (0 best, 1 worst)",
            "fragmentation index, drawn only where no free block of the order exists: above 0.5 "
            "(extfrag_threshold, dashed) the failure is fragmentation, below it lack of memory"]))


def monitor_pageblocks(history: pl.DataFrame, unavailable: Mapping[str, str] | None = None) -> alt.TopLevelMixin:
    """Mixed pageblocks per zone over time (kpageflags), and pageblocks per migratetype
    over time (pagetypeinfo, all zones).

    Parameters
    ----------
    history : polars.DataFrame
        A history frame (:data:`mmkit.metrics.history.SCHEMA`):
        ``mmkit.metrics.History().frame``, ``Monitor.history``, or a saved series'
        ``mmkit.snapshot.load_series(path).history``.
    unavailable : mapping of str to str, optional
        Why a source could not be read, by source name (``"kpageflags"``,
        ``"pagetypeinfo"``): ``Sample.unavailable``, ``History.unavailable`` or
        ``Monitor.unavailable``. Shown in place of a part that has no rows.

    Returns
    -------
    altair.VConcatChart
        Two parts, each a line chart, or a line of text saying why its source is
        unavailable: mixed pageblocks per zone (kpageflags is read at most a tenth of
        the time: not every sample has a point), and pageblocks per migratetype summed
        over the zones (symlog), its subtitle giving page_owner's mixed blocks at the
        last sample when the kernel printed them.

    Raises
    ------
    ParameterError
        ``history`` is not a history frame.

    Notes
    -----
    A pageblock is mixed here when it holds a page on an LRU list (``KPF_LRU``:
    movable) and a slab or page-table page (``KPF_SLAB``, ``KPF_PGTABLE``: unmovable or
    reclaimable), read from ``/proc/kpageflags`` (``stable_page_flags``,
    ``fs/proc/page.c``; root only): /proc does not say a pageblock's migratetype, so
    this counts mixed mobility. The pageblocks per migratetype are
    ``/proc/pagetypeinfo``'s "Number of blocks type" (``pagetypeinfo_showblockcount``,
    ``mm/vmstat.c``; root only since v5.6) and its "Number of mixed blocks"
    (``pagetypeinfo_showmixedcount_print``, ``mm/page_owner.c``) when page_owner is on.

    Examples
    --------
    >>> snap = "data/idle"  # a snapshot folder: the /proc files a sample reads
    >>> h = mmkit.metrics.History()
    >>> h.append(mmkit.snapshot.sample(proc_root=snap, debugfs_root=snap, kpageflags=False))
    1
    >>> chart = mmkit.viz.monitor_pageblocks(h.frame, h.unavailable)
    >>> type(chart).__name__
    'VConcatChart'
    >>> chart.vconcat[0].data["line"].to_list()  # kpageflags was not read
    ['kpageflags: not asked for (kpageflags=False)']
    """
    df = _check(history)
    unavailable = dict(unavailable or {})
    parts = []
    mixed = df.filter(pl.col("metric") == "mixed_pageblocks")
    if mixed.height:
        mixed = _thin(mixed.select("seq", "time", "zone", mixed_pageblocks="value"), MAX_ROWS // 2)
        parts.append(vl.unit(mixed, mark={"type": "line", "point": {"size": 20}}, width=WIDTH, height=170, encoding={
            "x": TIME, "y": vl.field("mixed_pageblocks", "Q", title="mixed pageblocks"),
            "color": vl.field("zone", "N", title="zone"),
            "tooltip": [vl.tip("time", "T", format="%H:%M:%S"), vl.tip("zone", "N"), vl.tip("mixed_pageblocks", "Q")],
        }).properties(title=vl.title("Mixed pageblocks (kpageflags)", [
            "pageblocks holding an LRU page (movable) and a slab or page-table page (unmovable, reclaimable)",
            "kpageflags is read at most every tenth of the time: not every sample has a point"])))
    else:
        why = unavailable.get("kpageflags", "not read yet (it is read at most a tenth of the time)")
        parts.append(unavailable_chart([f"kpageflags: {why}"], "Mixed pageblocks (kpageflags)"))
    blocks = df.filter(pl.col("metric") == "pageblocks")
    if blocks.height:
        blocks = _thin(blocks.group_by("seq", "time", "type").agg(pl.col("value").sum().alias("pageblocks"))
                       .sort("seq", "type"), MAX_ROWS // 2)
        types = [t for t in MIGRATETYPE_COLORS if t in set(blocks["type"].to_list())]
        parts.append(vl.unit(blocks, mark={"type": "line", "interpolate": "step-after"}, width=WIDTH, height=170,
                             encoding={
            "x": TIME, "y": vl.field("pageblocks", "Q", title="pageblocks", scale={"type": "symlog"}),
            "color": vl.field("type", "N", title="migratetype", sort=types,
                              scale={"domain": types, "range": [MIGRATETYPE_COLORS[t] for t in types]}),
            "tooltip": [vl.tip("time", "T", format="%H:%M:%S"), vl.tip("type", "N"), vl.tip("pageblocks", "Q")],
        }).properties(title=vl.title("Pageblocks by migratetype (pagetypeinfo, all zones)")))
        mixed_po = df.filter(pl.col("metric") == "mixed_blocks")
        if mixed_po.height:
            last = mixed_po.filter(pl.col("seq") == mixed_po["seq"].max())
            parts[-1] = parts[-1].properties(title=vl.title(
                "Pageblocks by migratetype (pagetypeinfo, all zones)",
                [f"page_owner's mixed blocks now: {int(last['value'].sum())}"]))
    else:
        why = unavailable.get("pagetypeinfo", "not read yet")
        parts.append(unavailable_chart([f"pagetypeinfo: {why}"], "Pageblocks by migratetype (pagetypeinfo)"))
    return vl.VConcatChart(vconcat=parts, spacing=16).resolve_scale(color="independent")


def monitor_compaction(history: pl.DataFrame, unavailable: Mapping[str, str] | None = None) -> alt.TopLevelMixin:
    """vmstat's compaction counters over time, since the first sample kept: events and
    pages.

    Parameters
    ----------
    history : polars.DataFrame
        A history frame (:data:`mmkit.metrics.history.SCHEMA`):
        ``mmkit.metrics.History().frame``, ``Monitor.history``, or a saved series'
        ``mmkit.snapshot.load_series(path).history``.
    unavailable : mapping of str to str, optional
        Why a source could not be read, by source name; ``"vmstat"``'s reason is shown
        when the history has no compaction counters.

    Returns
    -------
    altair.VConcatChart or altair.Chart
        Two panels of step lines, each counter's increase since the first sample kept
        (the tooltip also gives the value read): events (``compact_stall``,
        ``compact_success``, ``compact_fail``, ``compact_daemon_wake``) and pages
        (``compact_migrate_scanned``, ``compact_free_scanned``, ``compact_isolated``,
        ``pgmigrate_success``). Without those counters, a chart of one line of text.

    Raises
    ------
    ParameterError
        ``history`` is not a history frame.

    Notes
    -----
    The counters are ``/proc/vmstat`` items as read (``vmstat_text[]``,
    ``mm/vmstat.c``): the ``compact_*`` ones exist with ``CONFIG_COMPACTION``,
    ``pgmigrate_success`` with ``CONFIG_MIGRATION``. They count since boot; the chart
    draws them from the oldest sample the history keeps.

    Examples
    --------
    >>> snap = "data/idle"  # a snapshot folder: the /proc files a sample reads
    >>> h = mmkit.metrics.History()
    >>> h.append(mmkit.snapshot.sample(proc_root=snap, debugfs_root=snap, kpageflags=False))
    1
    >>> chart = mmkit.viz.monitor_compaction(h.frame)
    >>> type(chart).__name__
    'VConcatChart'
    """
    df = _check(history)
    vm = df.filter(pl.col("metric").is_in(list(COMPACTION_EVENTS + COMPACTION_PAGES)))
    if not vm.height:
        why = (unavailable or {}).get("vmstat", "no samples yet")
        return unavailable_chart([f"vmstat: {why}"], "Compaction counters")
    vm = vm.sort("seq").with_columns(since_start=pl.col("value") - pl.col("value").first().over("metric"))
    vm = _thin(vm.select("seq", "time", counter="metric", since_start="since_start", value="value"))
    tip = [vl.tip("time", "T", format="%H:%M:%S"), vl.tip("counter", "N"),
           vl.tip("since_start", "Q", title="since first sample"), vl.tip("value", "Q", title="vmstat value")]

    def panel(names: tuple[str, ...], title: str, ytitle: str) -> alt.Chart:
        part = vm.filter(pl.col("counter").is_in(list(names)))
        present = [n for n in names if n in set(part["counter"].to_list())]
        return vl.unit(part, mark={"type": "line", "interpolate": "step-after", "point": {"size": 12}},
                       width=WIDTH, height=150, encoding={
                           "x": TIME, "y": vl.field("since_start", "Q", title=ytitle),
                           "color": vl.field("counter", "N", sort=present, title=None),
                           "tooltip": tip}).properties(title=vl.title(title))

    return vl.VConcatChart(vconcat=[
        panel(COMPACTION_EVENTS, "Compaction events (vmstat, since the first sample)", "events"),
        panel(COMPACTION_PAGES, "Pages scanned, isolated and migrated (vmstat, since the first sample)", "pages"),
    ], spacing=16).resolve_scale(color="independent")


def compact_prediction(frame: pl.DataFrame, title: str = "What compact_memory would do now",
                       subtitle: list[str] | None = None) -> alt.TopLevelMixin:
    """Free blocks by order per zone, side by side for each state: the captured state,
    what ``compact_memory`` would make of it, and the real result when there is one.

    Parameters
    ----------
    frame : polars.DataFrame
        Columns ``state, zone, order, nr_free``, one row per state, zone and order
        (``Monitor.prediction``, as ``Monitor.predict`` returns it). States are drawn in
        the order they first appear.
    title : str
        The chart's title (default "What compact_memory would do now").
    subtitle : list of str, optional
        Lines under the title (default: none).

    Returns
    -------
    altair.FacetChart
        One panel per zone, a bar per order and state of ``nr_free`` (symlog), each
        state in its own colour.

    Raises
    ------
    ParameterError
        ``frame`` is not a polars frame with the columns ``state``, ``zone``,
        ``order`` and ``nr_free``, or it has more states than there are colours
        (:data:`STATE_COLORS`, eight).

    Notes
    -----
    ``nr_free`` is ``zone->free_area[order].nr_free`` (``/proc/buddyinfo``). The
    prediction is :func:`mmkit.compact_memory` on the machine rebuilt from a capture:
    what ``echo 1 > /proc/sys/vm/compact_memory`` does (``sysctl_compaction_handler``
    and ``compact_nodes``, ``mm/compaction.c``: every populated zone compacted whole,
    order -1, ``MIGRATE_SYNC``); the real result is buddyinfo read again after writing
    that file.

    Examples
    --------
    >>> import polars as pl
    >>> mem = mmkit.Memory.synthetic(mib=64, variant="v6.18")
    >>> after, vm = mmkit.compact_memory(mem)
    >>> free = mmkit.metrics.free_pages_by_order
    >>> frame = pl.concat([free(m).select("zone", "order", "nr_free", state=pl.lit(s))
    ...                    for s, m in (("now", mem), ("predicted", after))])
    >>> chart = mmkit.viz.compact_prediction(frame)
    >>> type(chart).__name__
    'FacetChart'
    >>> chart.title["text"]
    'What compact_memory would do now'
    """
    if not isinstance(frame, pl.DataFrame) or not {"state", "zone", "order", "nr_free"} <= set(frame.columns):
        raise ParameterError("frame: expected a polars frame with state, zone, order, nr_free (Monitor.prediction)")
    states = frame["state"].unique(maintain_order=True).to_list()
    zones = frame["zone"].unique(maintain_order=True).to_list()
    if len(states) > len(STATE_COLORS):
        raise ParameterError(f"frame: {len(states)} states; at most {len(STATE_COLORS)} can be told apart by colour")
    spec = vl.unit(mark={"type": "bar"}, width=max(180, 560 // max(len(zones), 1)), height=220, encoding={
        "x": vl.field("order", "O", title="order", axis={"labelAngle": 0}),
        "xOffset": vl.field("state", "N", sort=states),
        "y": vl.field("nr_free", "Q", title="free blocks (nr_free, symlog)", scale={"type": "symlog"}),
        "color": vl.field("state", "N", sort=states, title=None,
                          scale={"domain": states, "range": list(STATE_COLORS[:len(states)])}),
        "tooltip": [vl.tip("state", "N"), vl.tip("zone", "N"), vl.tip("order", "O"), vl.tip("nr_free", "Q")],
    })
    column = vl.field("zone", "N", sort=zones, title=None, header={"labelFontWeight": "bold"})
    return vl.FacetChart(data=frame.select("state", "zone", "order", "nr_free"), spec=spec, facet={"column": column},
                         title=vl.title(title, subtitle or []))
