"""Charts of sweeps: distributions across cells (seeds, mostly) per variant, from the
frame ``mmkit.sweep`` returns.

* :func:`sweep_distribution`: box plots of any final metrics, one panel per metric;
* :func:`sweep_fragmentation`: unusable free space and fragmentation index at an order;
* :func:`sweep_allocations`: order-2, order-3 and THP allocation success;
* :func:`sweep_faults`: misrouted putbacks and the other faults, pages per cell;
* :func:`sweep_bands`: a metric over ticks, median and quantile bands (the thinned timeline).

Each box is the quartiles with the median across the variant's cells, whiskers reach
the lowest and highest cell, and a dot is one cell (dots are left out when they would
take the chart over 5,000 rows of data).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import altair as alt
import polars as pl

from mmkit.errors import ParameterError
from mmkit.inputs import check_int
from mmkit.model.kinds import PAGE_SIZE
from mmkit.viz.inputs import MAX_ROWS, check_budget, check_choice
from mmkit.viz.theme import variant_scale
from mmkit.viz.timeline import FAULT_TITLES

INDEX_ORDERS = (2, 3, 9)  # the orders whose indices the timeline keeps
SUCCESS_TITLES = {
    "order2_success": "order-2 allocation success: order2_alloc / (order2_alloc + order2_fail)",
    "order3_success": "order-3 allocation success: order3_alloc / (order3_alloc + order3_fail)",
    "thp_success": "THP fault success: thp_fault_alloc / (thp_fault_alloc + thp_fault_fallback)",
}
SHORT_TITLES = {
    "order2_success": "order-2 success",
    "order3_success": "order-3 success",
    "thp_success": "THP fault success",
    "mixed_movable_blocks": "mixed MOVABLE pageblocks",
    "misrouted_putback": "misrouted putbacks",
}
QUANTILES = {"q05": 0.05, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q95": 0.95}


def _order_words(order: int) -> str:
    size = PAGE_SIZE << order
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


def _short_title(m: str) -> str:
    """A y-axis title short enough for a small panel."""
    if m in SHORT_TITLES:
        return SHORT_TITLES[m]
    for prefix, words in (("unusable_", "unusable index"), ("fragindex_", "fragmentation index")):
        if m.startswith(prefix) and m[len(prefix):].isdigit():
            return f"{words}, order {m[len(prefix):]}"
    if m.startswith("free_o") and m[6:].isdigit():
        return f"free blocks, order {m[6:]}"
    return m  # a counter's own name (vmstat's, a fault's): the kernel's words


def _metric_title(m: str) -> str:
    if m in SUCCESS_TITLES:
        return SUCCESS_TITLES[m]
    if m in FAULT_TITLES:
        return f"{m}: {FAULT_TITLES[m]}"
    for prefix, words in (("unusable_", "unusable free space index (extfrag/unusable_index)"),
                          ("fragindex_", "fragmentation index (extfrag/extfrag_index)")):
        if m.startswith(prefix) and m[len(prefix):].isdigit():
            o = int(m[len(prefix):])
            return f"{words}, order {o} ({_order_words(o)})"
    if m == "mixed_movable_blocks":
        return "MOVABLE pageblocks holding unmovable or reclaimable pages"
    if m.startswith("free_o") and m[6:].isdigit():
        return f"free blocks of order {m[6:]} (/proc/buddyinfo)"
    return m


# ------------------------------------------------------------------ checks
def _check_frame(frame: Any) -> tuple[pl.DataFrame, list[str], list[str]]:
    """The frame, its grid columns (between ``cell`` and ``variant``) and its variants."""
    if not isinstance(frame, pl.DataFrame) or "cell" not in frame.columns or "variant" not in frame.columns:
        raise ParameterError(f"frame: expected the frame mmkit.sweep returns (columns cell, ..., variant, metrics), "
                             f"got {type(frame).__name__}")
    if frame.height == 0:
        raise ParameterError("frame: it has no rows")
    cols = frame.columns
    grid = cols[cols.index("cell") + 1: cols.index("variant")]
    return frame, grid, frame["variant"].unique(maintain_order=True).to_list()


def _check_metrics(frame: pl.DataFrame, metrics: Any, grid: list[str]) -> list[str]:
    items = [metrics] if isinstance(metrics, str) else metrics
    try:
        items = list(items)
    except TypeError:
        raise ParameterError(f"metrics: {metrics!r} is not a column name or a list of them") from None
    if not items:
        raise ParameterError("metrics: give at least one column of the frame")
    numeric = [c for c, t in frame.schema.items() if t.is_numeric() and c != "cell" and c not in grid]
    for m in items:
        if m not in numeric:
            raise ParameterError(f"metrics: {m!r} is not a metric column of this frame; metrics are "
                                 f"{', '.join(numeric)}")
    return list(dict.fromkeys(items))


def _check_by(by: Any, grid: list[str]) -> str | None:
    if by is None:
        return None
    choices = [c for c in grid if c != "seed"]
    if not choices:
        raise ParameterError(f"by: {by!r}: this sweep's grid has no column but seed to group its cells by")
    return check_choice("by", by, choices)


def _cells_words(frame: pl.DataFrame, by: str | None) -> str:
    per = frame.group_by(["variant", *([by] if by else [])]).len()["len"]
    n = f"{per.min()}" if per.min() == per.max() else f"{per.min()} to {per.max()}"
    seeds = ""
    if "seed" in frame.columns:
        s = frame["seed"].unique().sort()
        seeds = f" ({s.len()} seeds, {s[0]}..{s[-1]})" if s.len() > 1 else f" (seed {s[0]})"
    return f"{n} cells per variant{' and ' + by if by else ''}{seeds}"


# ------------------------------------------------------------------ data
def _would_succeed(metric: pl.Expr) -> pl.Expr:
    """A fragmentation index of -1 (``metric``: the metric's name) in the ``value``
    column: the kernel's "a free block of the order exists, the allocation would succeed"
    (``__fragmentation_index``), not a point on its 0..1 scale; left out of the quantiles
    (``n`` counts the cells that are in them)."""
    return metric.str.starts_with("fragindex_") & (pl.col("value") == -1.0)


def distribution_frame(frame: pl.DataFrame, metrics: Iterable[str] | str, *, by: str | None = None,
                       points: bool = True) -> pl.DataFrame:
    """``variant, [by], metric, kind, value, n, q05..q95, lo, hi``: per variant (and
    ``by``) and metric, one ``summary`` row (quantiles over the cells, NaN and a
    fragmentation index of -1 left out) and, with ``points``, one ``cell`` row per cell
    with its ``value`` and a fixed jitter."""
    frame, grid, _ = _check_frame(frame)
    metrics = _check_metrics(frame, metrics, grid)
    by = _check_by(by, grid)
    keys = ["variant", *([by] if by else [])]
    long = frame.select("cell", *keys, *[pl.col(m).cast(pl.Float64) for m in metrics]).unpivot(
        index=["cell", *keys], on=metrics, variable_name="metric", value_name="value"
    ).filter(pl.col("value").is_not_nan() & pl.col("value").is_not_null() & ~_would_succeed(pl.col("metric")))
    summary = long.group_by([*keys, "metric"], maintain_order=True).agg(
        pl.len().alias("n"), pl.col("value").min().alias("lo"), pl.col("value").max().alias("hi"),
        *[pl.col("value").quantile(q, interpolation="linear").alias(k) for k, q in QUANTILES.items()],
    ).with_columns(kind=pl.lit("summary"))
    if not points:
        return summary
    cells = long.with_columns(kind=pl.lit("cell"),
                              jitter=((pl.col("cell") * 0.6180339887) % 1.0 - 0.5) * 0.6)
    return pl.concat([summary, cells], how="diagonal_relaxed")


# ------------------------------------------------------------------ charts
def sweep_distribution(frame: pl.DataFrame, metrics: Iterable[str] | str, *, by: str | None = None,
                       titles: Mapping[str, str] | None = None, title: str | None = None,
                       percent: bool = False, columns: int = 4) -> alt.ConcatChart:
    """Box plots of ``metrics`` (final values of the frame's columns) across cells, one
    panel per metric, one box per variant.

    Parameters
    ----------
    frame : polars.DataFrame
        The frame :func:`mmkit.sweep.sweep` returns (``mmkit.sweep(...)``, or
        ``mmkit.sweep.load`` of a sweep's folder): ``cell``, the grid's columns,
        ``variant``, then the metrics.
    metrics : str or iterable of str
        Numeric metric columns of the frame (not ``cell`` nor a grid column), one panel
        each, in that order.
    by : str, optional
        A grid column other than ``seed`` (``thp_rate``, ``gib``, ...): one column of
        boxes per value of it (default: all cells together).
    titles : mapping of str to str, optional
        Y-axis titles by metric (default: the kernel's words for it, e.g.
        "unusable free space index (extfrag/unusable_index), order 9 (2 MiB)").
    title : str, optional
        The chart's title (default: "Distribution across cells: " and the metrics).
    percent : bool
        Format the y axes as percents (default False; the success ratios
        ``order2_success``, ``order3_success``, ``thp_success`` always are).
    columns : int
        Panels per row, 1..64 (default 4).

    Returns
    -------
    altair.ConcatChart
        A panel per metric: per variant, a box from the 25 % to the 75 % quantile
        across cells, a dark tick at the median, whiskers from the lowest to the highest
        cell and a dot per cell (dots are left out, and the subtitle says so, when they
        would take the chart over 5,000 rows of data). Cells where a metric is NaN (a
        ratio without attempts) are left out and counted in the panel's title.

    Raises
    ------
    ParameterError
        ``frame`` is not a sweep's frame (no ``cell`` or ``variant`` column) or has no
        rows; ``metrics`` is empty, not a column name or a list of them, or
        names a column that is not a numeric metric of the frame; ``by`` is not a grid
        column other than ``seed``; ``columns`` is not an integer in 1..64.

    Notes
    -----
    Each value is a metric's at the last tick of its cell's run: each cell is one
    :func:`mmkit.compare` of its variants from the same memory and seed (or one
    :func:`mmkit.replay` of a trace). Quantiles are
    linear interpolations between cells. The metrics are the timeline's
    (``mmkit.sweep.METRICS``): kernel counters under their ``/proc/vmstat`` names
    (``mm/vmstat.c``), ``/proc/buddyinfo``'s ``nr_free`` (``free_o*``), the debugfs
    ``extfrag`` indices (``unusable_*``, ``fragindex_*``), and mmkit's own counts and
    faults.

    Examples
    --------
    >>> df = mmkit.sweep({"seed": [1, 2]}, variants=["v4.5", "v4.8"], gib=0.25, ticks=20, workers=1)
    >>> chart = mmkit.viz.sweep_distribution(df, ["unusable_9", "mixed_movable_blocks"])
    >>> type(chart).__name__
    'ConcatChart'
    >>> len(chart.concat)  # a panel per metric
    2
    """
    frame, grid, variants = _check_frame(frame)
    metrics = _check_metrics(frame, metrics, grid)
    columns = check_int("columns", columns, 1, 64)
    by = _check_by(by, grid)
    df = distribution_frame(frame, metrics, by=by, points=True)
    omitted = False
    if df.height > MAX_ROWS:
        df = distribution_frame(frame, metrics, by=by, points=False)
        omitted = True
    check_budget([df], "sweep_distribution")
    dropped = {m: int(frame[m].cast(pl.Float64).is_nan().sum() + frame[m].null_count()) for m in metrics}
    color = alt.Color("variant:N", scale=variant_scale(variants), sort=variants, title="variant")
    titles = dict(titles or {})
    narrow = max(len(v) for v in variants) <= 6  # labels fit side by side
    panels = []
    for m in metrics:
        sub = df.filter(pl.col("metric") == m)
        fmt = ".0%" if percent or m in SUCCESS_TITLES else "~s"
        y_title = titles.get(m, _metric_title(m))
        x = alt.X("variant:N", sort=variants, title=None, axis=alt.Axis(labelAngle=0 if narrow else -35))
        summ = alt.datum.kind == "summary"
        tip = [alt.Tooltip("variant:N"), *([alt.Tooltip(f"{by}:N")] if by else []),
               alt.Tooltip("n:Q", title="cells"), alt.Tooltip("q50:Q", title="median", format=".3~f"),
               alt.Tooltip("q25:Q", title="25 %", format=".3~f"), alt.Tooltip("q75:Q", title="75 %", format=".3~f"),
               alt.Tooltip("lo:Q", title="lowest", format=".3~f"), alt.Tooltip("hi:Q", title="highest", format=".3~f")]
        base = alt.Chart().transform_filter(summ)
        whisker = base.mark_rule(strokeWidth=1.5).encode(
            x=x, y=alt.Y("lo:Q", title=_wrap(y_title, 30), axis=alt.Axis(format=fmt)), y2="hi:Q", color=color)
        box = base.mark_bar(size=26, opacity=0.55).encode(x=x, y="q25:Q", y2="q75:Q", color=color, tooltip=tip)
        median = base.mark_tick(size=26, thickness=2.5, color="#222222").encode(x=x, y="q50:Q", tooltip=tip)
        layers = [whisker, box, median]
        if not omitted:
            dots = alt.Chart().transform_filter(alt.datum.kind == "cell").mark_circle(size=22, opacity=0.75).encode(
                x=x, xOffset=alt.XOffset("jitter:Q", scale=alt.Scale(domain=[-0.5, 0.5])),
                y="value:Q", color=color,
                tooltip=[alt.Tooltip("variant:N"), alt.Tooltip("cell:Q"), alt.Tooltip("value:Q", title=m,
                                                                                        format=".4~f")])
            layers.append(dots)
        panel = alt.layer(*layers, data=sub)
        width = max(60, 46 * len(variants))
        head = _short_title(m)
        if dropped[m]:
            head += f" ({dropped[m]} cells without attempts left out)"
        if by:
            panel = panel.properties(width=width, height=230).facet(
                column=alt.Column(f"{by}:O", title=by, header=alt.Header(labelFontWeight="bold")),
            ).properties(title=alt.Title(head, fontSize=13, anchor="start"))
        else:
            panel = panel.properties(width=width, height=230, title=alt.Title(head, fontSize=13, anchor="start"))
        panels.append(panel)
    subtitle = [(f"{_cells_words(frame, by)}; box: quartiles, dark line: median, whiskers: lowest to highest"
                 + ("" if omitted else ", dot: one cell"))]
    if omitted:
        subtitle.append(f"dots left out: {frame.height * len(metrics)} of them would exceed {MAX_ROWS} rows")
    if any(m.startswith("fragindex_") for m in metrics):
        subtitle.append("fragmentation index -1 (a free block of the order exists) is not on its scale: "
                        "those cells are left out")
    head = title or f"Distribution across cells: {', '.join(_short_title(m) for m in metrics)}"
    return alt.concat(*panels, columns=columns, spacing=28).properties(title=alt.Title(head, subtitle=subtitle))


def _wrap(text: str, width: int = 44) -> list[str]:
    """An axis title on lines of at most ``width`` characters."""
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return [*lines, cur] if cur else lines


def sweep_fragmentation(frame: pl.DataFrame, order: int = 9, *, by: str | None = None) -> alt.ConcatChart:
    """The unusable free space index and the fragmentation index at ``order`` at the end
    of the run, across cells: box plots per variant.

    Parameters
    ----------
    frame : polars.DataFrame
        The frame :func:`mmkit.sweep.sweep` returns (``mmkit.sweep(...)``, or
        ``mmkit.sweep.load`` of a sweep's folder): ``cell``, the grid's columns,
        ``variant``, then the metrics.
        It must hold ``unusable_<order>`` and ``fragindex_<order>`` (the default
        metrics do).
    order : int
        2, 3 or 9 (the default; 2 MiB): the orders the timeline keeps.
    by : str, optional
        A grid column other than ``seed`` (``thp_rate``, ``gib``, ...): one column of
        boxes per value of it (default: all cells together).

    Returns
    -------
    altair.ConcatChart
        Two panels, as :func:`sweep_distribution` draws them: the unusable free space
        index (0 best, 1 worst) and the fragmentation index, each a box per variant.

    Raises
    ------
    ParameterError
        ``order`` is not 2, 3 or 9; ``frame`` is not a sweep's frame (no ``cell`` or ``variant`` column) or has no
        rows, or lacks either index column;
        ``by`` is not a grid column other than ``seed``.

    Notes
    -----
    Both indices are kernel-exact, the integer formulas of debugfs
    ``extfrag/unusable_index`` (``unusable_free_index``) and ``extfrag/extfrag_index``
    (``__fragmentation_index``) in ``mm/vmstat.c``, divided by 1000, of the zone the
    timeline follows (the largest). The fragmentation index is -1 when a free block of
    the order exists (the allocation would succeed); above 0.5 (``extfrag_threshold``) a
    failure would be for fragmentation, below it for lack of memory.

    Examples
    --------
    >>> df = mmkit.sweep({"seed": [1, 2]}, variants=["v4.5", "v4.8"], gib=0.25, ticks=20, workers=1)
    >>> chart = mmkit.viz.sweep_fragmentation(df, order=9)
    >>> chart.title.text
    'Fragmentation at order 9 (2 MiB) at the end of the run, across cells'
    """
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order not in INDEX_ORDERS:
        raise ParameterError(f"order: {order!r} is not kept by a sweep; allowed {', '.join(map(str, INDEX_ORDERS))}")
    frame, _, _ = _check_frame(frame)
    metrics = [f"unusable_{order}", f"fragindex_{order}"]
    for m in metrics:
        if m not in frame.columns:
            raise ParameterError(f"frame: no {m} column; sweep with metrics including {', '.join(metrics)}")
    return sweep_distribution(
        frame, metrics, by=by,
        titles={metrics[0]: f"unusable free space index, order {order} ({_order_words(order)}): 0 best, 1 worst",
                metrics[1]: f"fragmentation index (extfrag_index), order {order}: -1 a block is free, "
                            f"above 0.5 failure for fragmentation"},
        title=f"Fragmentation at order {order} ({_order_words(order)}) at the end of the run, across cells")


def sweep_allocations(frame: pl.DataFrame, *, by: str | None = None) -> alt.ConcatChart:
    """Order-2, order-3 and THP allocation success at the end of the run, across cells:
    box plots per variant.

    Parameters
    ----------
    frame : polars.DataFrame
        The frame :func:`mmkit.sweep.sweep` returns (``mmkit.sweep(...)``, or
        ``mmkit.sweep.load`` of a sweep's folder): ``cell``, the grid's columns,
        ``variant``, then the metrics.
        It must hold at least one of ``order2_success``, ``order3_success`` and
        ``thp_success`` (the default metrics do).
    by : str, optional
        A grid column other than ``seed`` (``thp_rate``, ``gib``, ...): one column of
        boxes per value of it (default: all cells together).

    Returns
    -------
    altair.ConcatChart
        A panel per success ratio the frame holds, as :func:`sweep_distribution` draws
        them, the y axes in percent. Cells without an attempt (the ratio NaN) are left
        out and counted in the panel's title.

    Raises
    ------
    ParameterError
        ``frame`` is not a sweep's frame (no ``cell`` or ``variant`` column) or has no
        rows, or holds none of the three ratios; ``by`` is not a grid column other than ``seed``.

    Notes
    -----
    ``thp_success`` is ``thp_fault_alloc / (thp_fault_alloc + thp_fault_fallback)``,
    the ``/proc/vmstat`` counters of huge page faults (``mm/vmstat.c``,
    ``CONFIG_TRANSPARENT_HUGEPAGE``). ``order2_success`` is ``order2_alloc /
    (order2_alloc + order2_fail)`` and ``order3_success`` the same at order 3: counters
    of mmkit's own, which the kernel does not keep.

    Examples
    --------
    >>> df = mmkit.sweep({"seed": [1], "thp_rate": [0.1, 0.3]}, variants=["v4.5", "v4.8"], gib=0.25,
    ...                  ticks=20, workers=1)
    >>> chart = mmkit.viz.sweep_allocations(df, by="thp_rate")
    >>> chart.title.text
    'High-order allocation success at the end of the run, across cells'
    """
    frame, _, _ = _check_frame(frame)
    metrics = [m for m in SUCCESS_TITLES if m in frame.columns]
    if not metrics:
        raise ParameterError(f"frame: none of {', '.join(SUCCESS_TITLES)}; sweep with those metrics")
    return sweep_distribution(frame, metrics, by=by, percent=True,
                              title="High-order allocation success at the end of the run, across cells")


def sweep_faults(frame: pl.DataFrame, faults: Iterable[str] | str | None = None, *,
                 by: str | None = None) -> alt.ConcatChart:
    """Faults per cell (pages, cumulative over the run) per variant: box plots, one
    panel per fault.

    Parameters
    ----------
    frame : polars.DataFrame
        The frame :func:`mmkit.sweep.sweep` returns (``mmkit.sweep(...)``, or
        ``mmkit.sweep.load`` of a sweep's folder): ``cell``, the grid's columns,
        ``variant``, then the metrics.
    faults : str or iterable of str, optional
        Fault columns of the frame (``mmkit.result.FAULTS``); default:
        ``misrouted_putback`` and every other fault that happened in some cell.
    by : str, optional
        A grid column other than ``seed`` (``thp_rate``, ``gib``, ...): one column of
        boxes per value of it (default: all cells together).

    Returns
    -------
    altair.ConcatChart
        A panel per fault, as :func:`sweep_distribution` draws them, the y axis titled
        with what the fault is.

    Raises
    ------
    ParameterError
        ``frame`` is not a sweep's frame (no ``cell`` or ``variant`` column) or has no
        rows; with ``faults`` None, no fault to draw (no
        ``misrouted_putback`` column and no fault that happened); ``faults`` empty or
        naming a column that is not a fault column of the frame; ``by`` is not a grid column other than ``seed``.

    Notes
    -----
    The faults are mmkit's, not kernel counters: what the variant's rules did wrong to
    a page, counted when the engine saw it (``mmkit.model.events``), e.g.
    ``misrouted_putback`` (``putback_lru_page`` on a driver's page) or
    ``kpf_balloon_misreport`` (``KPF_BALLOON`` wrong in ``/proc/kpageflags``, pages at
    the last tick).

    Examples
    --------
    >>> df = mmkit.sweep({"seed": [1, 2]}, variants=["v4.5", "v4.8"], gib=0.25, ticks=20, workers=1)
    >>> chart = mmkit.viz.sweep_faults(df, "misrouted_putback")
    >>> chart.title.text
    'Faults per cell at the end of the run, by variant'
    """
    frame, _, _ = _check_frame(frame)
    known = [f for f in FAULT_TITLES if f in frame.columns]
    if faults is None:
        if not known:
            raise ParameterError("frame: no fault columns; sweep with metrics including misrouted_putback")
        # the faults that happened, and misrouted_putback (the review's) whether or not
        picked = [f for f in known if f == "misrouted_putback" or (frame[f] > 0).any()] or known[:1]
    else:
        if not isinstance(faults, (str, list, tuple)):
            raise ParameterError(f"faults: expected a fault name or a list of them, got {type(faults).__name__}")
        picked = [faults] if isinstance(faults, str) else list(faults)
        for f in picked:
            if f not in known:
                raise ParameterError(f"faults: {f!r} is not a fault column of this frame; faults are {', '.join(known)}")
        if not picked:
            raise ParameterError(f"faults: give at least one of {', '.join(known)}")
    titles = {f: f"pages: {FAULT_TITLES[f]}" for f in picked}
    return sweep_distribution(frame, picked, by=by, titles=titles,
                              title="Faults per cell at the end of the run, by variant")


def bands_frame(frame: pl.DataFrame, metric: str, *, by: str | None = None) -> pl.DataFrame:
    """``variant, [by], tick, n, q05, q25, q50, q75, q95`` of ``metric`` across cells at
    each sample tick of the thinned timeline (a fragmentation index of -1 left out)."""
    frame, grid, _ = _check_frame(frame)
    if "timeline" not in frame.columns:
        raise ParameterError("frame: no timeline column; sweep with thin > 0 to keep one")
    fields = [f.name for f in frame.schema["timeline"].inner.fields]
    if metric not in fields or metric == "tick":
        raise ParameterError(f"metric: {metric!r} is not in the timeline; it holds {', '.join(fields[1:])}")
    by = _check_by(by, grid)
    keys = ["variant", *([by] if by else [])]
    long = frame.select(*keys, "timeline").explode("timeline").unnest("timeline").select(
        *keys, "tick", pl.col(metric).cast(pl.Float64).alias("value")
    ).filter(pl.col("value").is_not_nan() & pl.col("value").is_not_null() & ~_would_succeed(pl.lit(metric)))
    return long.group_by([*keys, "tick"], maintain_order=True).agg(
        pl.len().alias("n"), *[pl.col("value").quantile(q, interpolation="linear").alias(k)
                               for k, q in QUANTILES.items()]).sort([*keys, "tick"])


def sweep_bands(frame: pl.DataFrame, metric: str = "unusable_9", *, by: str | None = None) -> alt.FacetChart:
    """``metric`` over ticks across cells: the median line, the 25-75 % band and the
    5-95 % band per variant.

    Parameters
    ----------
    frame : polars.DataFrame
        The frame :func:`mmkit.sweep.sweep` returns (``mmkit.sweep(...)``, or
        ``mmkit.sweep.load`` of a sweep's folder): ``cell``, the grid's columns,
        ``variant``, then the metrics.
        It must hold the ``timeline`` column (a sweep with ``thin > 0``, the default).
    metric : str
        A metric of the timeline (default ``"unusable_9"``).
    by : str, optional
        A grid column other than ``seed``: one row of panels per value of it (default:
        all cells together).

    Returns
    -------
    altair.FacetChart
        One panel per variant (and row per ``by`` value): at each sample tick, the
        median across cells as a line, the 25-75 % and the 5-95 % of cells as bands.

    Raises
    ------
    ParameterError
        ``frame`` is not a sweep's frame (no ``cell`` or ``variant`` column) or has no
        rows, or has no ``timeline`` column; ``metric`` is not in the
        timeline; ``by`` is not a grid column other than ``seed``.

    Notes
    -----
    The timeline is the ``thin`` sample ticks the sweep kept per run, spread evenly,
    first and last kept (``mmkit.sweep.timeline`` makes it long); NaN values (a ratio
    without attempts) are left out. The metric names are those of
    :func:`sweep_distribution`: ``/proc/vmstat`` counters, ``/proc/buddyinfo``'s
    ``nr_free``, the debugfs ``extfrag`` indices (``mm/vmstat.c``) and mmkit's own.

    Examples
    --------
    >>> df = mmkit.sweep({"seed": [1, 2]}, variants=["v4.5", "v4.8"], gib=0.25, ticks=20, workers=1)
    >>> chart = mmkit.viz.sweep_bands(df, "unusable_9")
    >>> type(chart).__name__
    'FacetChart'
    """
    frame, _, variants = _check_frame(frame)
    df = bands_frame(frame, metric, by=by)
    check_budget([df], "sweep_bands")
    # the panels' headers name the variants: no legend
    color = alt.Color("variant:N", scale=variant_scale(variants), sort=variants, legend=None)
    fmt = ".0%" if metric in SUCCESS_TITLES else "~s"
    x = alt.X("tick:Q", title="tick (workload step)", scale=alt.Scale(nice=False))
    y_title = _short_title(metric)
    tip = [alt.Tooltip("variant:N"), alt.Tooltip("tick:Q"), alt.Tooltip("n:Q", title="cells"),
           alt.Tooltip("q50:Q", title="median", format=".3~f"), alt.Tooltip("q25:Q", title="25 %", format=".3~f"),
           alt.Tooltip("q75:Q", title="75 %", format=".3~f")]
    outer = alt.Chart().mark_area(opacity=0.15).encode(x=x, y=alt.Y("q05:Q", title=y_title, axis=alt.Axis(format=fmt)),
                                                      y2="q95:Q", color=color)
    inner = alt.Chart().mark_area(opacity=0.35).encode(x=x, y="q25:Q", y2="q75:Q", color=color)
    line = alt.Chart().mark_line().encode(x=x, y="q50:Q", color=color, tooltip=tip)
    facet = {"column": alt.Column("variant:N", sort=variants, title=None,
                                  header=alt.Header(labelFontWeight="bold"))}
    if by:
        facet["row"] = alt.Row(f"{by}:O", title=by)
    width = max(150, 640 // len(variants))
    return alt.layer(outer, inner, line, data=df).properties(width=width, height=180).facet(**facet).properties(
        title=alt.Title(f"{_short_title(metric)} over the run, across cells",
                        subtitle=[_metric_title(metric),
                                  (f"{_cells_words(frame, by)}; line: median, dark band: 25-75 %, "
                                   f"light band: 5-95 % of cells at each sample tick")]))


__all__ = ["bands_frame", "distribution_frame", "sweep_allocations", "sweep_bands", "sweep_distribution",
           "sweep_faults", "sweep_fragmentation"]
