"""The one palette and theme every mmkit chart uses.

Colours are colour-blind-safe: variants take the Okabe-Ito palette, page kinds Paul
Tol's "muted" scheme with greys for frames nobody owns. A variant or a kind has the same
colour in every chart; a user-built variant gets a colour from a spare palette, chosen
by a hash of its name so that it too keeps its colour from chart to chart.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import altair as alt

from mmkit.model.kinds import MIGRATETYPE_NAMES, PageKind

THEME = "mmkit"
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
# The widest a chart draws, legends included: a report's column in a 1100 px window is
# 1052 px, of which vega-embed keeps 38 px for its action button.
CHART_WIDTH = 960
LEGEND_LIMIT = 300

# Okabe & Ito (2008), in the order of the review: before, the series, merged, today.
VARIANT_COLORS: dict[str, str] = {
    "v4.5": "#0072B2",  # blue: before the series
    "v3-02": "#E69F00",  # orange
    "v3-04": "#D55E00",  # vermillion: the step the review pointed at
    "v3-04-reviewed": "#CC79A7",  # reddish purple
    "v4.8": "#009E73",  # bluish green: as merged
    "v6.18": "#56B4E9",  # sky blue: today
}
# for user-built variants (Tol "bright" and the Okabe-Ito black), never one of the above
SPARE_VARIANT_COLORS = ("#000000", "#AA3377", "#228833", "#4477AA", "#CCBB44", "#66CCEE", "#EE6677", "#BBBBBB")

# Tol "muted" for owners, greys for frames no owner holds.
KIND_COLORS: dict[str, str] = {
    "hole": "#FFFFFF",
    "reserved": "#4D4D4D",
    "free": "#E5E5E5",
    "kernel": "#882255",  # wine
    "pagetable": "#AA4499",  # purple
    "slab": "#CC6677",  # rose
    "slab_reclaimable": "#DDCC77",  # sand
    "anon": "#332288",  # indigo
    "file": "#88CCEE",  # cyan
    "balloon": "#117733",  # green
    "zsmalloc": "#44AA99",  # teal
    "uninit": "#B3B3B3",
    "isolated_free": "#999933",  # olive
    "pcp": "#C9C9DD",  # grey-lavender: free, on a per-CPU list
}
assert list(KIND_COLORS) == [k.name.lower() for k in PageKind]

MIGRATETYPE_COLORS: dict[str, str] = {
    "Unmovable": "#D55E00",
    "Movable": "#0072B2",
    "Reclaimable": "#E69F00",
    "HighAtomic": "#CC79A7",
    "CMA": "#009E73",
    "Isolate": "#000000",
}
assert list(MIGRATETYPE_COLORS) == MIGRATETYPE_NAMES

FAULT_MARK_COLOR = "#000000"


def variant_color(name: str) -> str:
    """The colour of variant ``name``: its own for a named variant, else a spare one."""
    if name in VARIANT_COLORS:
        return VARIANT_COLORS[name]
    return SPARE_VARIANT_COLORS[zlib.crc32(name.encode()) % len(SPARE_VARIANT_COLORS)]


def variant_scale_dict(names: Iterable[str]) -> dict:
    """A colour scale giving each variant its colour, in the order given, as the
    Vega-Lite dict ``{"domain": names, "range": colours}``."""
    names = list(names)
    colors, used = [], set()
    for n in names:
        c = variant_color(n)
        if c in used:  # two user-built variants whose names hash alike: next free spare
            c = next((s for s in SPARE_VARIANT_COLORS if s not in used), c)
        used.add(c)
        colors.append(c)
    return {"domain": names, "range": colors}


def variant_scale(names: Iterable[str]) -> alt.Scale:
    """A colour scale giving each variant its colour, in the order given."""
    return alt.Scale(**variant_scale_dict(names))


def kind_scale_dict(kinds: Iterable[str] | None = None) -> dict:
    """A colour scale for page kinds (all of them, or those given, in kind order), as a
    Vega-Lite dict."""
    names = list(KIND_COLORS) if kinds is None else [k for k in KIND_COLORS if k in set(kinds)]
    return {"domain": names, "range": [KIND_COLORS[k] for k in names]}


def kind_scale(kinds: Iterable[str] | None = None) -> alt.Scale:
    """A colour scale for page kinds (all of them, or those given, in kind order)."""
    return alt.Scale(**kind_scale_dict(kinds))


def migratetype_scale_dict() -> dict:
    return {"domain": list(MIGRATETYPE_COLORS), "range": list(MIGRATETYPE_COLORS.values())}


def migratetype_scale() -> alt.Scale:
    return alt.Scale(**migratetype_scale_dict())


def theme() -> alt.theme.ThemeConfig:
    """Readable fonts and sizes, light grid, the variant palette as the default category."""
    return alt.theme.ThemeConfig({
        "config": {
            "font": FONT,
            "view": {"continuousWidth": 520, "continuousHeight": 240, "stroke": None},
            "title": {"fontSize": 15, "subtitleFontSize": 12, "subtitleColor": "#555555",
                      "anchor": "start", "offset": 8},
            "axis": {"labelFontSize": 12, "titleFontSize": 13, "titleFontWeight": "normal",
                     "gridColor": "#EBEBEB", "domainColor": "#888888", "tickColor": "#888888"},
            "header": {"labelFontSize": 13, "titleFontSize": 13, "titleFontWeight": "normal"},
            # limits wide enough for every legend title and label mmkit writes (Vega's
            # defaults, 180 and 160 px, cut "page kind (real owner)" short)
            "legend": {"labelFontSize": 12, "titleFontSize": 12, "titleFontWeight": "normal",
                       "symbolStrokeWidth": 2.5, "titleLimit": LEGEND_LIMIT, "labelLimit": LEGEND_LIMIT},
            "line": {"strokeWidth": 2},
            "range": {"category": list(VARIANT_COLORS.values()) + list(SPARE_VARIANT_COLORS)},
        }
    })


def register() -> None:
    """Register the "mmkit" theme with altair and enable it."""
    alt.theme.register(THEME, enable=True)(theme)
