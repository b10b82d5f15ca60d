"""The ipywidgets Explorer: controls built from the workload parameter declaration,
``mmkit.compare`` behind a Run button, the ``mmkit.viz`` charts updated in place."""

from __future__ import annotations

from mmkit.widgets.explorer import Explorer
from mmkit.widgets.pageblock import pageblock_html, pageblock_pages

__all__ = ["Explorer", "pageblock_html", "pageblock_pages"]
