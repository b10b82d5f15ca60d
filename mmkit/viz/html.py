"""Charts as HTML that needs no network: the Vega, Vega-Lite and vega-embed libraries
are inlined once (vl-convert's bundle) and each chart is a small script calling them."""

from __future__ import annotations

import hashlib
import html
import json
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
from altair.utils.data import limit_rows

BUNDLE_GUARD = "window.__mmkit_vega_loaded"


_bundle_lock = threading.Lock()


def _bundle() -> str:
    from mmkit.viz.vega import (
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


_CHILDREN = ("layer", "vconcat", "hconcat", "concat")


def _frames(node: Any, found: dict[int, pl.DataFrame]) -> None:
    """The polars frames held as ``data`` by ``node`` and the charts inside it, by id."""
    if not isinstance(node, alt.TopLevelMixin):
        return
    data = node._get("data")
    if isinstance(data, pl.DataFrame):
        found.setdefault(id(data), data)
    for attr in _CHILDREN:
        kids = node._get(attr)
        if isinstance(kids, list):
            for k in kids:
                _frames(k, found)
    _frames(node._get("spec"), found)


def _named(node: Any, names: dict[int, str]) -> Any:
    """``node`` with every polars frame it holds replaced by a reference to the dataset
    ``names[id(frame)]`` (copies of the charts on the way; ``node`` is left as it is)."""
    if not isinstance(node, alt.TopLevelMixin):
        return node
    changes: dict[str, Any] = {}
    data = node._get("data")
    if isinstance(data, pl.DataFrame):
        changes["data"] = {"name": names[id(data)]}
    for attr in _CHILDREN:
        kids = node._get(attr)
        if isinstance(kids, list):
            new = [_named(k, names) for k in kids]
            if any(a is not b for a, b in zip(new, kids)):
                changes[attr] = new
    spec = node._get("spec")
    new_spec = _named(spec, names)
    if new_spec is not spec:
        changes["spec"] = new_spec
    if not changes:
        return node
    copy = node.copy(deep=False)
    for k, v in changes.items():
        copy[k] = v
    return copy


def spec_json(chart: Any, validate: bool = False) -> str:
    """``chart.to_dict()`` as JSON text (up to the names of its datasets), quickly.

    altair turns each polars frame into Python dicts, hashes their JSON to name the
    dataset, and the dicts are written as JSON again; here the frames are written by
    polars (after altair's row limit, ``limit_rows`` with the active transformer's
    ``max_rows``) and named by a hash of that text, and altair writes the rest of the
    chart. With ``validate=True``, when another data transformer than altair's default is
    active, or for frames of other than numbers, strings and booleans, this is
    ``json.dumps(chart.to_dict(validate=validate))``.
    """
    if validate or alt.data_transformers.active != "default" or not alt.data_transformers.consolidate_datasets:
        return json.dumps(chart.to_dict(validate=validate))
    found: dict[int, pl.DataFrame] = {}
    _frames(chart, found)
    if not all(dt.is_numeric() or dt in (pl.String, pl.Boolean, pl.Null) for df in found.values() for dt in df.dtypes):
        return json.dumps(chart.to_dict(validate=False))  # dates and the like: as altair writes them
    max_rows = alt.data_transformers.options.get("max_rows", 5000)
    names: dict[int, str] = {}
    datasets: dict[str, str] = {}
    for key, df in found.items():
        limit_rows(df, max_rows=max_rows)  # raises altair's MaxRowsError above the limit
        text = df.write_json()
        name = "data-" + hashlib.sha256(text.encode()).hexdigest()[:32]
        names[key] = name
        datasets[name] = text
    spec = _named(chart, names).to_dict(validate=False)
    # datasets altair made of data that was not a polars frame
    datasets = {**{n: json.dumps(v) for n, v in spec.pop("datasets", {}).items()}, **datasets}
    head = json.dumps(spec)
    if not datasets:
        return head
    tail = ", ".join(f"{json.dumps(n)}: {text}" for n, text in datasets.items())
    return head[:-1] + (", " if len(head) > 2 else "") + f'"datasets": {{{tail}}}}}'


def embed_html(chart: Any, *, validate: bool = True, div_id: str | None = None) -> str:
    """A <div> and a <script> drawing ``chart`` with the page's vegaEmbed (waits until the
    bundle script has run)."""
    div_id = div_id or f"mmkit-{uuid.uuid4().hex[:12]}"
    spec = spec_json(chart, validate).replace("</", "<\\/")
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
