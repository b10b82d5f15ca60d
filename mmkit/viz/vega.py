"""The Vega, Vega-Lite and Vega-Embed JavaScript that a report inlines once, and the
chart specs it draws with them.

The JavaScript comes from ``vl_convert.javascript_bundle`` (vl-convert-python ships it
inside its wheel, so nothing is fetched), for the Vega-Lite version the charts were
written for. Altair's outputs reach a report in one of two forms: a Vega-Lite
mimetype (``application/vnd.vegalite.v6+json`` from the report's own renderer,
``...v5+json`` from mmkit's notebook renderer, ``mmkit.jupyter``) or Altair's ``html``
renderer, whose HTML loads the libraries from a CDN; the spec is taken out of either.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

# "application/vnd.vegalite.v5+json" (Altair 5) and "application/vnd.vegalite.v6.json" (Altair 6)
_MIME = re.compile(r"^application/vnd\.(vegalite|vega)\.v(\d+)[.+]json$")
_SCHEMA = re.compile(r"/schema/(vega-lite|vega)/v(\d+)(?:\.(\d+))?")


def chart_mimetype(mimetype: str) -> str | None:
    """``"vega-lite"`` or ``"vega"`` for a chart mimetype, else None."""
    m = _MIME.match(mimetype)
    if not m:
        return None
    return "vega-lite" if m.group(1) == "vegalite" else "vega"


def spec_from_altair_html(html: str) -> dict[str, Any] | None:
    """The spec inside the HTML of Altair's ``html`` renderer (``var spec = {...};``),
    or None when ``html`` is not such an output."""
    if "vegaEmbed" not in html:
        return None
    i = html.find("var spec = ")
    if i < 0:
        return None
    try:
        spec, _ = json.JSONDecoder().raw_decode(html, i + len("var spec = "))
    except ValueError:
        return None
    return spec if isinstance(spec, dict) else None


def vegalite_version(specs: list[dict[str, Any]]) -> str | None:
    """The Vega-Lite version to bundle for ``specs``: the newest ``major.minor`` their
    ``$schema`` names that vl-convert ships, else the closest it ships of that major,
    else None (vl-convert's newest)."""
    import vl_convert

    shipped = sorted(tuple(int(x) for x in v.split(".")) for v in vl_convert.get_vegalite_versions())
    wanted = []
    for s in specs:
        m = _SCHEMA.search(str(s.get("$schema", "")))
        if m and m.group(1) == "vega-lite":
            wanted.append((int(m.group(2)), int(m.group(3) or 0)))
    if not wanted:
        return None
    want = max(wanted)
    same_major = [v for v in shipped if v[0] == want[0]]
    if not same_major:
        return None
    at_least = [v for v in same_major if v >= want]
    best = at_least[0] if at_least else same_major[-1]
    return f"{best[0]}.{best[1]}"


@functools.lru_cache(maxsize=4)
def javascript_bundle(vl_version: str | None = None) -> str:
    """Vega, Vega-Lite and Vega-Embed as one classic script that defines ``vegaEmbed``,
    ``vega`` and ``vegaLite`` on ``window``, safe to put inside ``<script>...</script>``."""
    import vl_convert

    js = vl_convert.javascript_bundle(vl_version=vl_version)
    return script_text(js)


def script_text(js: str) -> str:
    """``js`` with every ``</script`` and ``<!--`` broken so the HTML parser cannot end
    the script element early. Both can only occur inside strings, regular expressions
    or comments, where ``<\\/`` and ``<\\!`` mean the same."""
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)
    return js.replace("<!--", "<\\!--")


def json_for_script(obj: Any) -> str:
    """``obj`` as JSON that can sit inside ``<script type="application/json">``: the
    characters HTML reacts to (``<``, ``>``, ``&``) are written as ``\\u`` escapes,
    which only occur inside JSON strings."""
    try:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_plain)
    except ValueError:  # NaN or infinity, which JSON.parse refuses: null, as Vega reads a missing value
        text = json.dumps(_finite(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_plain)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(x: Any) -> Any:
    if not isinstance(x, (dict, list, tuple, str, int, float)) and hasattr(x, "tolist"):
        x = x.tolist()  # numpy scalars and arrays
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _plain(x: Any) -> Any:
    # numpy scalars in a hand-built spec
    for attr in ("item", "tolist"):
        if hasattr(x, attr):
            return getattr(x, attr)()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
