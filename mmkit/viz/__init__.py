"""altair charts of mmkit results: pure functions from a Result (or a Memory, a snapshot)
to a chart, each embedding at most 5,000 rows of aggregated data.

Importing this module registers and enables the altair theme "mmkit": readable fonts
and one colour-blind-safe colour per variant and per page kind (``VARIANT_COLORS``,
``KIND_COLORS``), the same in every chart.

* :func:`fragmentation`: unusable free space / fragmentation index over ticks;
* :func:`misrouted`: faults over ticks by page kind and variant, with the deciding rule;
* :func:`buddyinfo`: free blocks by order per zone;
* :func:`contiguity`: runs and aligned ranges up to 1 GiB and beyond (a Memory, a snapshot);
* :func:`contiguity_over_time`: aligned ranges a variant could free, over a run;
* :func:`memory_map`: the physical memory, one cell per pageblock, faults marked;
* :func:`compare_table`: the before/after table as styled HTML;
* :func:`monitor_free`, :func:`monitor_indices`, :func:`monitor_pageblocks`,
  :func:`monitor_compaction`, :func:`compact_prediction`: a live machine over time
  (``mmkit.widgets.Monitor``), from a :class:`mmkit.metrics.History` frame;
* :func:`sweep_fragmentation`, :func:`sweep_bands`, :func:`sweep_distribution`,
  :func:`sweep_faults`, :func:`sweep_allocations`: a sweep's cells (``mmkit.sweep``),
  from its frame.

Every public chart's parameters, result, errors and an example: ``docs/api.md``.

To add a chart: a function of a frame or a Result in the module of its family, its input
checks from ``mmkit.viz.inputs`` (a ParameterError naming the argument, at most
``MAX_ROWS`` rows embedded), its export here, a numpydoc docstring and its line in
``docs/gen_api.py``'s PUBLIC; ``tests/test_viz.py`` checks every chart fits a report
column and draws offline.
"""

from __future__ import annotations

from mmkit.viz.buddy import buddyinfo, buddyinfo_frame
from mmkit.viz.contig import contiguity, contiguity_over_time
from mmkit.viz.html import embed_html, page, save_page
from mmkit.viz.inputs import MAX_ROWS, data_rows
from mmkit.viz.memmap import memory_map
from mmkit.viz.monitor import (
    compact_prediction,
    monitor_compaction,
    monitor_free,
    monitor_indices,
    monitor_pageblocks,
    zone_labels,
)
from mmkit.viz.sweep import sweep_allocations, sweep_bands, sweep_distribution, sweep_faults, sweep_fragmentation
from mmkit.viz.table import CompareTable, compare_table
from mmkit.viz.theme import (
    KIND_COLORS,
    MIGRATETYPE_COLORS,
    THEME,
    VARIANT_COLORS,
    register,
    variant_color,
)
from mmkit.viz.timeline import (
    EXTFRAG_THRESHOLD,
    faults_frame,
    fragmentation,
    fragmentation_frame,
    misrouted,
)

register()

__all__ = [
    "EXTFRAG_THRESHOLD",
    "KIND_COLORS",
    "MAX_ROWS",
    "MIGRATETYPE_COLORS",
    "THEME",
    "VARIANT_COLORS",
    "CompareTable",
    "buddyinfo",
    "buddyinfo_frame",
    "compact_prediction",
    "compare_table",
    "contiguity",
    "contiguity_over_time",
    "data_rows",
    "embed_html",
    "faults_frame",
    "fragmentation",
    "fragmentation_frame",
    "memory_map",
    "misrouted",
    "monitor_compaction",
    "monitor_free",
    "monitor_indices",
    "monitor_pageblocks",
    "zone_labels",
    "page",
    "save_page",
    "sweep_allocations",
    "sweep_bands",
    "sweep_distribution",
    "sweep_faults",
    "sweep_fragmentation",
    "variant_color",
]
