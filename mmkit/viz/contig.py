"""Contiguity beyond MAX_ORDER as charts: what a machine holds in long runs and aligned
ranges now (:func:`contiguity`, from a Memory, a snapshot or a :class:`Contiguity`), and
how the aligned ranges a variant could free change over a run (:func:`contiguity_over_time`)."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from mmkit.errors import ParameterError
from mmkit.metrics.contiguity import BUCKETS, Contiguity, contiguity as _contiguity
from mmkit.model.kinds import PAGE_SIZE
from mmkit.viz import vl
from mmkit.viz.inputs import check_budget, check_result
from mmkit.viz.theme import variant_scale_dict

# each range state's colour: free and freeable in greens, the spoilers from light to dark
STATES = ["free", "freeable", "spoiled_pinned", "spoiled_reclaimable", "spoiled_unmovable", "spoiled_uninit",
          "spoiled_hole"]
STATE_LABELS = {"free": "free now", "freeable": "freeable (free or movable)", "spoiled_pinned": "pinned page",
                "spoiled_reclaimable": "reclaimable slab", "spoiled_unmovable": "unmovable page",
                "spoiled_uninit": "not initialised yet", "spoiled_hole": "memory hole"}
STATE_COLORS = ["#1A9850", "#91CF60", "#FEE08B", "#FC8D59", "#D73027", "#BBBBBB", "#888888"]
RUN_COLORS = {"free now": "#1A9850", "free or movable": "#4575B4"}
PANEL_WIDTH = 340


def _as_contiguity(obj: Any) -> Contiguity:
    if isinstance(obj, Contiguity):
        return obj
    from mmkit.model.memory import Memory
    from mmkit.snapshot import Snapshot

    if not isinstance(obj, (Memory, Snapshot)):
        raise ParameterError(f"obj: expected a Contiguity, a Memory or a Snapshot, got {type(obj).__name__}")
    return _contiguity(obj)


def contiguity(obj: Any, *, zones: list[str] | None = None) -> alt.HConcatChart:
    """Contiguity beyond MAX_ORDER: memory in long runs and the aligned ranges
    ``alloc_contig_range`` could make free, from a Memory, a Snapshot or a Contiguity.

    Parameters
    ----------
    obj : Contiguity, Memory or Snapshot
        A :class:`~mmkit.metrics.contiguity.Contiguity` from :func:`mmkit.contiguity`,
        or what it measures: a Memory (synthetic, a run's final memory
        ``result.memories[name]``, or rebuilt from a snapshot) or a Snapshot (rebuilt
        here with ``Memory.from_snapshot``).
    zones : list of str, optional
        The zones to draw, by name (default: every zone with pages).

    Returns
    -------
    altair.HConcatChart
        Two panels. Left: how much memory (GiB) sits in runs of at least a given
        length, of free frames and of frames that are free or movable (what
        ``alloc_contig_range`` could make free), from 4 KiB to 1 GiB and beyond, over
        the zones drawn. Right: the naturally aligned 2 MiB, 32 MiB and 1 GiB ranges of
        each zone by state: free now, freeable, or spoiled, by the worst frame in them
        (pinned, reclaimable slab, unmovable, not initialised yet, hole). The subtitle
        gives the share of memory that cannot move and the share of 2 MiB blocks it
        touches.

    Raises
    ------
    ParameterError
        ``obj`` is not one of the kinds above (a Result is refused: pass one of its
        ``memories``), or ``zones`` is empty, not a list of names or names a zone this
        memory does not have.
    SnapshotError
        A Snapshot ``Memory.from_snapshot`` cannot rebuild (no ``kpageflags``,
        ``kpagecount`` or ``zoneinfo``, or a page size or pageblock order mmkit does not
        model).

    Notes
    -----
    The classes of frames and the rules are those of :func:`mmkit.contiguity`:
    ``alloc_contig_range`` (``mm/page_alloc.c``, ``has_unmovable_pages`` in
    ``mm/page_isolation.c``) migrates movable pages and takes free ones, and
    ``isolate_migratepages_block`` (``mm/compaction.c``) passes over pinned pages
    (``page_count > page_mapcount``). Ranges are naturally aligned, as
    ``alloc_contig_pages`` and hugetlb's gigantic pages take them; a run never crosses a
    zone boundary. The classes are the model's truth (``Memory.kind``), not what a
    variant's page-type tests report.

    Examples
    --------
    >>> mem = mmkit.Memory.synthetic(mib=64, variant="v6.18")
    >>> chart = mmkit.viz.contiguity(mem)
    >>> type(chart).__name__
    'HConcatChart'
    >>> chart.title["subtitle"]  # an empty machine: everything can move
    ['0.0% of memory cannot move (unmovable, reclaimable slab, pinned) and it touches 0.0% of the 2 MiB blocks']
    """
    c = _as_contiguity(obj)
    have = c.summary.filter(pl.col("pages") > 0)["zone"].to_list()
    if zones is None:
        zones = have
    else:
        if isinstance(zones, str) or not all(isinstance(z, str) for z in zones):
            raise ParameterError(f"zones: expected a list of zone names, got {zones!r}")
        if not zones:
            raise ParameterError(f"zones: give at least one zone; this memory has {have}")
        bad = [z for z in zones if z not in c.summary["zone"].to_list()]
        if bad:
            raise ParameterError(f"zones: {bad} not among this memory's zones {c.summary['zone'].to_list()}")
    # runs: GiB in runs of at least each bucket, over the zones (a run never crosses a
    # zone boundary), a cumulative sum from the longest down
    rows = []
    r = c.runs.filter(pl.col("zone").is_in(zones)).group_by("bucket_bytes").agg(
        pl.col("free_pages").sum(), pl.col("movable_pages").sum()).sort("bucket_bytes")
    for col, label in (("free_pages", "free now"), ("movable_pages", "free or movable")):
        pages = r[col].to_list()
        acc, cum = 0, [0] * len(pages)
        for i in range(len(pages) - 1, -1, -1):
            acc += pages[i]
            cum[i] = acc
        for i, b in enumerate(BUCKETS[:len(cum)]):
            rows.append((label, i, b, cum[i] * PAGE_SIZE / 2**30))
    runs = pl.DataFrame(rows, schema={"frames": pl.String, "i": pl.Int64, "at_least": pl.String,
                                      "gib": pl.Float64}, orient="row")
    ranges = c.ranges.filter(pl.col("zone").is_in(zones)).with_columns(
        freeable=pl.col("freeable") - pl.col("free"))  # the bars stack: free, then freeable only
    long = ranges.drop("ranges").unpivot(index=["zone", "size"], on=STATES, variable_name="state", value_name="ranges") \
        .with_columns(label=pl.col("state").replace_strict(STATE_LABELS),
                      o=pl.col("state").replace_strict({s: i for i, s in enumerate(STATES)}, return_dtype=pl.Int64))
    check_budget([runs, long], "contiguity")
    runs_chart = vl.unit(runs, mark={"type": "line", "point": {"size": 20}, "interpolate": "step-after"},
                         width=PANEL_WIDTH, height=230, encoding={
        "x": vl.field("at_least", "O", sort=BUCKETS, title="run length, at least",
                      axis={"labelAngle": -60}),
        "y": vl.field("gib", "Q", title="GiB in such runs"),
        "color": vl.field("frames", "N", title=None, scale={"domain": list(RUN_COLORS),
                                                             "range": list(RUN_COLORS.values())},
                          legend={"orient": "bottom", "direction": "horizontal"}),
        "tooltip": [vl.tip("frames", "N"), vl.tip("at_least", "O", title="runs of at least"),
                    vl.tip("gib", "Q", title="GiB", format=".3f")],
    }).properties(title=vl.title("Memory in contiguous runs", [
        "of free frames, and of frames that are free or movable", f"zones {', '.join(zones)}"],
        fontSize=13, anchor="start"))
    labels = [STATE_LABELS[s] for s in STATES]
    bars = vl.unit(long, mark={"type": "bar"}, width=PANEL_WIDTH - 90, height={"step": 14}, encoding={
        "y": vl.field("size", "N", sort=["2MiB", "32MiB", "1GiB"], title=None),
        "row": vl.field("zone", "N", sort=zones, title=None, header={"labelAngle": 0, "labelAlign": "left"}),
        "x": vl.field("ranges", "Q", stack="normalize", title="share of the aligned ranges",
                      axis={"format": "%"}),
        "color": vl.field("label", "N", title="range", sort=labels, scale={"domain": labels, "range": STATE_COLORS}),
        "order": vl.field("o", "Q"),
        "tooltip": [vl.tip("zone", "N"), vl.tip("size", "N"), vl.tip("label", "N", title="state"),
                    vl.tip("ranges", "Q", title="ranges")],
    }).properties(title=vl.title("Aligned ranges", ["what alloc_contig_range could make of each"], fontSize=13,
                                 anchor="start"))
    sm = c.summary.filter(pl.col("zone").is_in(zones))
    pages, stuck = sm["pages"].sum(), (sm["unmovable"] + sm["reclaimable"] + sm["pinned"]).sum()
    blocks, touched = sm["blocks"].sum(), sm["blocks_touched"].sum()
    sub = [f"{stuck / pages:.1%} of memory cannot move (unmovable, reclaimable slab, pinned) and it touches "
           f"{touched / blocks:.1%} of the 2 MiB blocks" if pages and blocks else "no memory in these zones"]
    return alt.HConcatChart(hconcat=[runs_chart, bars], spacing=30,
                            title=vl.title("Contiguity beyond the buddy allocator's largest order", sub)) \
        .resolve_scale(color="independent").resolve_legend(color="independent")


SERIES = {"freeable_2MiB": ["2 MiB ranges", "freeable"], "freeable_1GiB": ["1 GiB ranges", "freeable"],
          "blocks_touched_share": ["2 MiB blocks touched by", "pages that cannot move"]}


def contiguity_over_time(result: Any) -> alt.VConcatChart:
    """Over a run, per variant: the aligned ranges that could be made free and the share
    of 2 MiB blocks touched by a page that cannot move.

    Parameters
    ----------
    result : Result
        From :func:`mmkit.compare` or :func:`mmkit.simulate` (or :func:`mmkit.load_result`
        of a result saved with its contiguity rows).

    Returns
    -------
    altair.VConcatChart
        Panels over ticks, one line per variant: the naturally aligned 2 MiB ranges
        every frame of which is free or movable; the same of 1 GiB ranges (left out on a
        machine with no 1 GiB range inside one zone, below about 2 GiB); and the share
        of 2 MiB blocks that hold a page that cannot move (unmovable, reclaimable slab,
        pinned).

    Raises
    ------
    ParameterError
        Not a Result, or a Result without contiguity rows (saved before they were
        taken).

    Notes
    -----
    The rows are ``result.contiguity`` (:func:`mmkit.metrics.contiguity.contiguity_row`,
    from the engine's per-pageblock counts), taken at the start, every ``ticks // 8``
    ticks and at the end of each run: about nine points. A range is freeable as
    ``alloc_contig_range`` (``mm/page_alloc.c``) could free it, by migrating its movable
    pages. The series make zsmalloc pages movable (the variant rule
    ``zsmalloc_movable``): the variants differ here.

    Examples
    --------
    >>> res = mmkit.compare(variants=["v4.5", "v4.8"], gib=0.25, ticks=20, seed=1)
    >>> chart = mmkit.viz.contiguity_over_time(res)
    >>> type(chart).__name__
    'VConcatChart'
    >>> len(chart.vconcat)  # 0.25 GiB holds no 1 GiB range: that panel is left out
    2
    """
    result = check_result(result)
    df = result.contiguity
    if df.height == 0:
        raise ParameterError("result: no contiguity rows (a result saved before they were taken)")
    names = list(result.variants)
    check_budget([df], "contiguity_over_time")
    color = vl.field("variant", "N", scale=variant_scale_dict(names), sort=names, title="variant")
    x = vl.field("tick", "Q", title="tick (workload step)", scale={"nice": False})
    panels = []
    for col, label in SERIES.items():
        if col == "freeable_1GiB" and int(df["ranges_1GiB"].max() or 0) == 0:
            continue  # a machine smaller than 2 GiB has no 1 GiB range of its own zone
        y = vl.field(col, "Q", title=label, **({"axis": {"format": "%"}} if col.endswith("share") else {}))
        panels.append(vl.unit(df, mark={"type": "line", "point": {"size": 20}}, width=620, height=140, encoding={
            "x": x, "y": y, "color": color,
            "tooltip": [vl.tip("variant", "N"), vl.tip("tick", "Q"), vl.tip(col, "Q", title=" ".join(label),
                                                                          format=".1%" if col.endswith("share") else ",d")],
        }))
    return vl.VConcatChart(vconcat=panels, spacing=10, title=vl.title(
        "Contiguity over the run", ["aligned ranges every frame of which is free or movable "
                                    "(alloc_contig_range could free them), and blocks spoiled by pages that cannot move"]))
