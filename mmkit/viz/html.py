"""Charts as HTML that needs no network: the Vega, Vega-Lite and vega-embed libraries
are inlined once (vl-convert's bundle) and each chart is a small script calling them."""

from __future__ import annotations

import html
import json
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import altair as alt

BUNDLE_GUARD = "window.__mmkit_vega_loaded"


_bundle_lock = threading.Lock()


def _bundle() -> str:
    from mmkit.report.vega import (
        javascript_bundle as bundle,  # cached, escaped for <script>
    )

    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    try:
        return bundle(f"v{major_minor}")
    except ValueError:  # pragma: no cover - a vl-convert without this Vega-Lite version
        return bundle()


def javascript_bundle() -> str:
    """vegaEmbed, vegaLite and vega as one script setting globals (about 0.9 MB, a few
    seconds to build the first time in a process); the Vega-Lite version is the one
    altair writes specs for."""
    with _bundle_lock:
        return _bundle()


def warm_bundle() -> threading.Thread:
    """Build the bundle in a background thread, so that the first chart shown does not
    wait for it."""
    t = threading.Thread(target=javascript_bundle, name="mmkit-vega-bundle", daemon=True)
    t.start()
    return t


def bundle_script() -> str:
    """A <script> defining the libraries, once per page (later copies do nothing)."""
    js = javascript_bundle()
    # the bundle declares top-level consts: a function scope keeps a second copy (or
    # another page's script) from colliding with them; it sets window.vegaEmbed itself
    return f"<script>if (!{BUNDLE_GUARD}) {{ {BUNDLE_GUARD} = true; (function() {{\n{js}\n}})(); }}</script>"


def chart_spec(chart: Any, validate: bool = True) -> dict:
    return chart.to_dict(validate=validate)


def embed_html(chart: Any, *, validate: bool = True, div_id: str | None = None) -> str:
    """A <div> and a <script> drawing ``chart`` with the page's vegaEmbed (waits until the
    bundle script has run)."""
    div_id = div_id or f"mmkit-{uuid.uuid4().hex[:12]}"
    spec = json.dumps(chart_spec(chart, validate)).replace("</", "<\\/")
    return (
        f'<div id="{div_id}" class="mmkit-chart"></div>\n'
        "<script>(function(){var spec=" + spec + ";"
        f"function draw(){{ if (window.vegaEmbed) {{ window.vegaEmbed('#{div_id}', spec, "
        "{actions: {export: true, source: false, compiled: false, editor: false}, renderer: 'svg'}); }"
        " else { setTimeout(draw, 50); } } draw(); })();</script>"
    )


def page(title: str, parts: Iterable[str], *, intro: str = "") -> str:
    """A self-contained HTML page: the libraries inline, then ``parts`` (HTML snippets,
    e.g. from :func:`embed_html` or a CompareTable's ``to_html()``)."""
    body = "\n".join(f'<section style="margin:18px 0">{p}</section>' for p in parts)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px;color:#222}"
        "h1{font-size:20px} .mmkit-intro{color:#444;font-size:13px}</style>"
        f"{bundle_script()}</head><body><h1>{html.escape(title)}</h1>"
        f'<div class="mmkit-intro">{intro}</div>\n{body}\n</body></html>\n'
    )


def save_page(path: str | Path, title: str, parts: Iterable[str], *, intro: str = "") -> Path:
    """Write :func:`page` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(page(title, parts, intro=intro), encoding="utf-8")
    return path
