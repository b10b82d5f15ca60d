"""Reports: executing notebooks to self-contained HTML (the README's main job).

:func:`build` runs notebooks top to bottom in a fresh kernel (nbclient, a per-cell
timeout) and writes one HTML file each (:mod:`mmkit.report.html`): the Vega JavaScript
inlined once, every chart drawn from it, code cells hideable, no CDN, under 10 MiB,
written atomically. ``mmkit report`` and ``python -m mmkit.report`` (``bash run.sh``)
call it.
"""

from __future__ import annotations

from mmkit.report.build import MAX_BYTES, Report, build, write_atomic
from mmkit.report.execute import ReportError, execute
from mmkit.report.notebooks import available, notebook_dir, resolve

__all__ = ["MAX_BYTES", "Report", "ReportError", "available", "build", "execute", "notebook_dir", "resolve",
           "write_atomic"]
