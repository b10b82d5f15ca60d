"""The mmtests-style before/after table as styled HTML: each variant's final value, and
each variant's change against the first (the baseline), coloured where the direction
of "better" is known."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any

import polars as pl

from mmkit.errors import ParameterError
from mmkit.model.events import EVENT_TITLES, FAULT_NAMES
from mmkit.model.samples import SAMPLE_DOCS
from mmkit.result import format_value
from mmkit.viz.inputs import check_result
from mmkit.viz.theme import variant_color

# +1: higher is better, -1: lower is better (and for every fault); counters not listed
# (scanner and reclaim work, migrations) are not judged.
BETTER: dict[str, int] = {
    "free_o9": 1, "free_o10": 1, "free_blocks": 1, "thp_success": 1, "order2_success": 1,
    "order3_success": 1, "compact_success": 1, "cma_alloc_success": 1,
    "unusable_2": -1, "unusable_3": -1, "unusable_9": -1, "mixed_blocks": -1, "mixed_movable_blocks": -1,
    "compact_stall": -1, "compact_fail": -1, "pgmigrate_fail": -1, "cma_alloc_fail": -1, "cma_alloc_busy_retry": -1,
    "alloc_fail": -1, "oom": -1, "thp_fault_fallback": -1, "order2_fail": -1, "order3_fail": -1,
}
# what a row of the table counts: the sampled counts and the faults as the engine's
# tables say them (mmkit.model.samples, mmkit.model.events), the rest here
DOCS = SAMPLE_DOCS | {
    "free_o9": "free blocks of order 9 (a pageblock, a THP) in buddyinfo",
    "free_o10": "free blocks of order 10 (MAX_ORDER - 1)",
    "unusable_9": "unusable free space index at order 9 (debugfs extfrag/unusable_index)",
    "fragindex_9": "fragmentation index at order 9 (debugfs extfrag/extfrag_index); -1: would succeed",
    "thp_success": "thp_fault_alloc / (thp_fault_alloc + thp_fault_fallback)",
    "order2_success": "share of order-2 allocations that succeeded",
    "order3_success": "share of order-3 allocations that succeeded",
} | {n: "count of: " + EVENT_TITLES[n] for n in FAULT_NAMES} | {  # the faults, as mmkit.model.events says them
    "kpf_balloon_misreport": "pages whose KPF_BALLOON in /proc/kpageflags is wrong (now)"}


class CompareTable:
    """The before/after table of a Result: ``frame`` (polars, as ``Result.table``),
    ``to_html()`` (a styled, self-contained HTML table) and rich display in notebooks."""

    def __init__(self, frame: pl.DataFrame, variants: list[str], info: dict) -> None:
        self.frame = frame
        self.variants = variants
        self.info = info

    def _cell_style(self, counter: str, base: float, value: float) -> tuple[str, str]:
        """The % change text and the cell's background."""
        if base is None or value is None or math.isnan(base) or math.isnan(value):
            return "n/a", ""
        if base == 0:
            if value == 0:
                return "", ""
            text = "from 0"
        else:
            text = f"{(value - base) / abs(base) * 100:+.1f}%"
        from mmkit.result import FAULTS  # every fault: fewer is better

        better = -1 if counter in FAULTS else BETTER.get(counter, 0)
        sign = better * (1 if value > base else -1 if value < base else 0)
        bg = "#DCEAF6" if sign > 0 else "#FBE0D2" if sign < 0 else ""
        return text, bg

    def to_html(self) -> str:
        """A styled HTML table (inline CSS only, no scripts): counter, each variant's
        value, each later variant's change against the first; blue better, orange worse."""
        v0 = self.variants[0]
        head = ['<th style="text-align:left">counter</th>']
        for v in self.variants:
            head.append(f'<th style="border-bottom:3px solid {variant_color(v)}">{html.escape(v)}</th>')
        for v in self.variants[1:]:
            head.append(f'<th style="border-bottom:3px solid {variant_color(v)}">{html.escape(v)}<br>'
                        f'<span style="font-weight:normal">vs {html.escape(v0)}</span></th>')
        rows = []
        for r in self.frame.iter_rows(named=True):
            c = r["counter"]
            doc = html.escape(DOCS.get(c, c))
            cells = [f'<td style="text-align:left" title="{doc}"><code>{html.escape(c)}</code></td>']
            for v in self.variants:
                cells.append(f"<td>{format_value(c, r[v])}</td>")
            for v in self.variants[1:]:
                text, bg = self._cell_style(c, r[v0], r[v])
                style = f' style="background:{bg}"' if bg else ""
                cells.append(f"<td{style}>{text}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        i = self.info
        caption = (f"Final state after {i['ticks']} ticks; workload {html.escape(str(i['workload']))}, "
                   f"{html.escape(str(i['memory']))}, seed {i['seed']}; baseline {html.escape(v0)}. "
                   "Blue: better than the baseline, orange: worse (for counters with a direction).")
        return (
            '<div class="mmkit-table" style="font-family:DejaVu Sans,Helvetica,Arial,sans-serif;font-size:13px">'
            '<table style="border-collapse:collapse;text-align:right">'
            f'<caption style="caption-side:top;text-align:left;padding:4px 0;color:#444">{caption}</caption>'
            '<thead><tr style="background:#F4F4F4">' + "".join(head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>"
            "<style>.mmkit-table td,.mmkit-table th{padding:2px 8px;border-bottom:1px solid #EEE}</style>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"<mmkit.viz.CompareTable {self.frame.height} counters x {len(self.variants)} variants>"


def compare_table(result: Any, counters: Iterable[str] | None = None) -> CompareTable:
    """The mmtests-style before/after table of ``result`` (``Result.table``) as styled
    HTML.

    Parameters
    ----------
    result : Result
        From :func:`mmkit.compare` or :func:`mmkit.simulate`; its first variant is the
        baseline.
    counters : str or iterable of str, optional
        Timeline column names, one row each, in that order (default:
        ``Result.HEADLINE``).

    Returns
    -------
    CompareTable
        Not an altair chart: ``frame`` (the polars frame of ``Result.table``: counter,
        each variant's final value, each later variant's % change against the first),
        ``to_html()`` (a self-contained table, inline CSS and no scripts) and rich
        display in notebooks. A change is coloured blue where it is better than the
        baseline and orange where it is worse, for counters whose better direction is
        known (fewer is better for every fault); the counter's cell says what it is on
        hover.

    Raises
    ------
    ParameterError
        Not a Result, or ``counters`` is empty or names a column that is not a timeline
        counter (the message lists the allowed ones).

    Notes
    -----
    The values are each variant's at the last tick of the run. Counters named as the
    kernel names them are ``/proc/vmstat`` items (``vmstat_text[]`` in
    ``mm/vmstat.c``: ``compact_stall``, ``pgmigrate_success``, ``thp_fault_alloc``,
    ...); ``free_o9`` and ``free_o10`` are ``/proc/buddyinfo``'s ``nr_free`` at orders
    9 and 10, summed over the zones; ``unusable_9`` and ``fragindex_9`` the debugfs ``extfrag/unusable_index``
    and ``extfrag/extfrag_index`` at order 9 (``mm/vmstat.c``), of the zone the timeline
    follows. ``order2_alloc`` and the other ``order*`` counters, ``alloc_fail`` and
    ``oom`` are mmkit's own, as are the faults (``mmkit.result.FAULTS``).

    Examples
    --------
    >>> res = mmkit.compare(variants=["v4.5", "v4.8"], gib=0.25, ticks=20, seed=1)
    >>> table = mmkit.viz.compare_table(res, counters=["free_o9", "misrouted_putback"])
    >>> table
    <mmkit.viz.CompareTable 2 counters x 2 variants>
    >>> table.frame["counter"].to_list()
    ['free_o9', 'misrouted_putback']
    >>> table.to_html().startswith('<div class="mmkit-table"')
    True
    """
    result = check_result(result)
    if counters is not None:
        try:
            names = [counters] if isinstance(counters, str) else list(counters)
        except TypeError:
            raise ParameterError(f"counters: expected a column name or a list of them, got {counters!r}") from None
        cols = [c for c in result.timeline.columns if c not in ("variant", "tick", "zone")]
        bad = [c for c in names if c not in cols]
        if bad or not names:
            raise ParameterError(f"counters: {bad or names!r} not timeline counters; allowed: {', '.join(cols)}")
        counters = tuple(names)
    return CompareTable(result.table(counters).frame, list(result.variants), result.info)
