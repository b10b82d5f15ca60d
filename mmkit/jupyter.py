"""altair charts that JupyterLab draws with no network: the "mmkit" renderer.

Altair 6 writes its charts for Vega-Lite 6, under a mimetype
(``application/vnd.vegalite.v6.json``) that JupyterLab 4 has no renderer for, so
JupyterLab falls back to altair's HTML, which loads Vega from a CDN and draws nothing
offline. JupyterLab does render ``application/vnd.vegalite.v5+json`` itself, with the
Vega and Vega-Lite 5 it bundles (its vega5 extension): no network, no script in the
notebook (it draws in untrusted notebooks too), and a saved output is the spec alone.

The "mmkit" renderer outputs each chart that way: the spec under the v5 mimetype, its
``$schema`` naming Vega-Lite 5, drawn as SVG, and a line of text for frontends that
draw no charts.
mmkit's own charts use only what Vega-Lite 5 draws (``tests/test_jupyterlab.py`` checks
each one in JupyterLab). Importing mmkit inside an IPython kernel registers the renderer
and enables it, as soon as altair is imported, when altair's renderer is still its
``default`` one (a renderer the user chose is left alone): a user's own altair charts
draw offline too. ``mmkit report`` writes its pages with its own renderer
(``mmkit.report.execute``), which keeps the Vega-Lite 6 spec and inlines Vega-Lite 6.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Any

RENDERER = "mmkit"
MIMETYPE = "application/vnd.vegalite.v5+json"
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
EMBED_OPTIONS = {"renderer": "svg"}
TEXT = "<altair chart: drawn by JupyterLab's Vega-Lite 5 renderer>"


def renderer(spec: dict[str, Any], embed_options: dict[str, Any] | None = None,
             **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """altair's renderer protocol: ``spec`` (what ``chart.to_dict()`` wrote) -> the
    mimebundle and its metadata. Charts are drawn as SVG, as in mmkit's reports and the
    Explorer; ``alt.renderers.set_embed_options(...)`` adds to or overrides that (the
    options go in the metadata, where JupyterLab reads them)."""
    spec = {**spec, "$schema": SCHEMA}
    metadata = {**options, "embed_options": {**EMBED_OPTIONS, **(embed_options or {})}}
    return {MIMETYPE: spec, "text/plain": TEXT}, {MIMETYPE: metadata}


def enable(force: bool = False) -> bool:
    """Register the "mmkit" renderer with altair and enable it, unless another renderer
    than altair's ``default`` is active (``force=True`` enables it anyway). Returns
    whether it is now the active renderer. Imports altair."""
    import altair as alt

    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, renderer)
    if force or alt.renderers.active == "default":
        alt.renderers.enable(RENDERER)
    return alt.renderers.active == RENDERER


def in_kernel() -> bool:
    """True inside a Jupyter kernel (ipykernel), where output goes to a notebook
    frontend; False in a plain Python or IPython terminal."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()  # type: ignore[attr-defined]
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell" and "google.colab" not in sys.modules


class _EnableAfterImport(importlib.abc.MetaPathFinder):
    """Calls :func:`enable` once altair has been imported, so ``import mmkit`` does not
    import altair (a few seconds) in a kernel that draws no chart."""

    def find_spec(self, name, path, target=None):
        if name != "altair":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_enable(module):
            exec_module(module)
            _enable_quietly()

        spec.loader.exec_module = exec_then_enable  # type: ignore[method-assign]
        return spec


def enable_in_kernel() -> None:
    """What ``import mmkit`` does: in a Jupyter kernel, enable the renderer now if altair
    is imported, else as soon as it is. Never raises (an import must not fail for it)."""
    if not in_kernel():
        return
    if "altair" in sys.modules:
        _enable_quietly()
    elif importlib.util.find_spec("altair") is not None and not any(
            isinstance(f, _EnableAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _EnableAfterImport())


def _enable_quietly() -> None:
    try:
        enable()
    except Exception:  # pragma: no cover - an altair without this registry: its charts as it draws them
        pass
