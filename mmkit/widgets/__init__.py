"""ipywidgets: the Explorer (controls built from the workload parameter declaration,
``mmkit.compare`` behind a Run button, the ``mmkit.viz`` charts updated in place) and the
Monitor (this machine's memory sampled over time, and what ``compact_memory`` would do now)."""

from __future__ import annotations

from mmkit.widgets.explorer import Explorer
from mmkit.widgets.monitor import Monitor
from mmkit.widgets.pageblock import pageblock_html, pageblock_pages

__all__ = ["Explorer", "Monitor", "pageblock_html", "pageblock_pages"]
