"""altair charts built from plain Vega-Lite dicts.

The chart builders write marks, encodings, scales, titles and tooltips as the Vega-Lite
dicts they stand for, held by altair chart objects (``alt.Chart`` and the subclasses of
``alt.LayerChart``, ``alt.FacetChart`` and ``alt.VConcatChart`` below): the results are
ordinary altair charts (``to_dict``, ``save``, ``properties``, composition with ``|``,
``&``, ``+``, display in notebooks), but building one creates no schema object per
encoding channel, so altair has nothing to validate on creation and little to copy when
it composes and writes out the chart. Data stays a polars frame on the charts that carry
it, so altair's data transformer (and its row limit) turns it into inline values when the
chart is written out. The specs are validated against the Vega-Lite schema by the tests
(``chart.to_dict(validate=True)``).
"""

from __future__ import annotations

from typing import Any

import altair as alt
from altair.utils.schemapi import debug_mode

Undefined = alt.Undefined


def field(name: str, type_: str, **kw: Any) -> dict:
    """An encoding channel: ``{"field": name, "type": type_, ...}``. ``type_`` is a
    Vega-Lite type name or its shorthand letter (N, Q, O, T)."""
    types = {"N": "nominal", "Q": "quantitative", "O": "ordinal", "T": "temporal"}
    return {"field": name, "type": types.get(type_, type_), **kw}


def tip(name: str, type_: str, **kw: Any) -> dict:
    """A tooltip entry (same form as :func:`field`)."""
    return field(name, type_, **kw)


def _plain(value: Any, context: dict) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v, context) for k, v in value.items() if v is not Undefined}
    if isinstance(value, list):
        return [_plain(v, context) for v in value]
    if isinstance(value, alt.SchemaBase):
        return value.to_dict(validate=False, context=context)
    return value


class Encoding(alt.FacetedEncoding):
    """An ``alt.FacetedEncoding`` of channels written as Vega-Lite dicts, written out by
    copying them (altair's generic writer tests every leaf value against a runtime
    protocol, which made it the costliest part of writing these charts out)."""

    def to_dict(self, validate: bool = True, *, ignore: list[str] | None = None,
                context: dict[str, Any] | None = None) -> dict[str, Any]:
        skip = set(ignore or ())
        out = {k: _plain(v, context or {}) for k, v in self._kwds.items() if v is not Undefined and k not in skip}
        if validate:
            self.validate(out)
        return out


def unit(data: Any = Undefined, *, mark: dict, encoding: dict, transform: list | None = None,
         name: str | None = None, width: int | None = None, height: int | None = None) -> alt.Chart:
    """An ``alt.Chart`` of one mark from dicts; ``data`` a polars frame or Undefined (the
    data of the chart it is put in)."""
    kw: dict[str, Any] = {}
    if transform:
        kw["transform"] = transform
    if name is not None:
        kw["name"] = name
    return alt.Chart(data=data, mark=mark, encoding=Encoding(**encoding),
                     width=Undefined if width is None else width,
                     height=Undefined if height is None else height, **kw)


class LayerChart(alt.LayerChart):
    """An ``alt.LayerChart`` of layers that carry no params and no width, height or view
    of their own, built as given.

    altair's constructor lifts shared data, params and sizes out of the layers, copying
    every layer to do so, and runs again each time the chart is copied, which altair does
    whenever the chart is written out (``to_dict``): for the layers built here there is
    nothing to lift, so this class skips that work and is otherwise an ``alt.LayerChart``.
    """

    def __init__(self, data: Any = Undefined, layer: Any = (), **kwargs: Any) -> None:
        alt.TopLevelLayerSpec.__init__(self, data=data, layer=list(layer), **kwargs)


class FacetChart(alt.FacetChart):
    """An ``alt.FacetChart`` whose ``spec`` carries no params (any are given to the facet
    itself), built as given; see :class:`LayerChart`."""

    def __init__(self, data: Any = Undefined, spec: Any = Undefined, facet: Any = Undefined,
                 params: Any = Undefined, **kwargs: Any) -> None:
        alt.TopLevelFacetSpec.__init__(self, data=data, spec=spec, facet=facet, params=params, **kwargs)


class VConcatChart(alt.VConcatChart):
    """An ``alt.VConcatChart`` of charts that carry no params, built as given; see
    :class:`LayerChart`."""

    def __init__(self, data: Any = Undefined, vconcat: Any = (), **kwargs: Any) -> None:
        alt.TopLevelVConcatSpec.__init__(self, data=data, vconcat=list(vconcat), **kwargs)


def selection(name: str, select: dict, views: list[str]) -> alt.TopLevelSelectionParameter:
    """A top-level selection parameter listening to ``views`` (altair's kind, so that the
    chart can still be composed with others), made without the schema check altair runs
    on each object it creates."""
    with debug_mode(False):
        return alt.TopLevelSelectionParameter(name=name, select=select, views=list(views))


def title(text: str, subtitle: list[str] | None = None, **kw: Any) -> dict:
    out: dict[str, Any] = {"text": text, **kw}
    if subtitle is not None:
        out["subtitle"] = list(subtitle)
    return out


def scale(domain: list, range_: list) -> dict:
    return {"domain": list(domain), "range": list(range_)}
