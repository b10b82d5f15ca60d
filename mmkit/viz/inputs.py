"""What the chart builders accept, checked at the door, and the data budget they keep.

Every builder takes a ``Result`` (or a frame of one) and refuses anything else with a
``ParameterError`` naming the parameter and what it may be.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import altair as alt
import numpy as np
import polars as pl

from mmkit.errors import ParameterError
from mmkit.inputs import check_int
from mmkit.model.kinds import MAX_ORDER

MAX_ROWS = 5000  # rows of data a chart may embed, over all its datasets


def check_result(obj: Any, name: str = "result") -> Any:
    """``obj`` if it is an ``mmkit.Result``, else a ParameterError."""
    from mmkit.result import Result

    if not isinstance(obj, Result):
        raise ParameterError(
            f"{name}: expected an mmkit.Result (from mmkit.compare, mmkit.simulate or "
            f"mmkit.load_result), got {type(obj).__name__}"
        )
    return obj


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ParameterError(f"{name}: {value!r} is not allowed; allowed values are {', '.join(map(repr, allowed))}")
    return value


def check_order(order: Any, n_orders: int = MAX_ORDER) -> int:
    return check_int("order", order, 0, n_orders - 1)


def check_variants(result: Any, variants: Any, name: str = "variant") -> list[str]:
    """Variant names of ``result`` picked by ``variants``: None (all), a name, a Variant,
    or a list of those."""
    known = list(result.variants)
    if variants is None:
        return known
    items = [variants] if isinstance(variants, str) or hasattr(variants, "compile") else variants
    try:
        items = list(items)
    except TypeError:
        raise ParameterError(f"{name}: {variants!r} is not a variant name; variants of this result are "
                             f"{', '.join(known)}") from None
    out = []
    for v in items:
        v = getattr(v, "name", v)
        if v not in known:
            raise ParameterError(f"{name}: {v!r} is not a variant of this result; variants are {', '.join(known)}")
        out.append(v)
    if not out:
        raise ParameterError(f"{name}: give at least one of {', '.join(known)}")
    return out


def thin_ticks(ticks: np.ndarray, keep: int) -> np.ndarray:
    """At most ``keep`` of the sorted sample ``ticks``, evenly spread, first and last kept."""
    ticks = np.unique(ticks)
    if ticks.size <= keep:
        return ticks
    keep = max(keep, 2)
    idx = np.unique(np.linspace(0, ticks.size - 1, keep).round().astype(np.int64))
    return ticks[idx]


def data_rows(chart: alt.TopLevelMixin) -> int:
    """Rows of data embedded in ``chart``, over all its datasets and inline values."""
    spec = chart.to_dict(validate=False)
    total = sum(len(v) for v in spec.get("datasets", {}).values())

    def walk(node: Any) -> int:
        n = 0
        if isinstance(node, dict):
            data = node.get("data")
            if isinstance(data, dict) and isinstance(data.get("values"), list):
                n += len(data["values"])
            for k, v in node.items():
                if k != "datasets":
                    n += walk(v)
        elif isinstance(node, list):
            n += sum(walk(v) for v in node)
        return n

    return total + walk(spec)


def check_budget(frames: Iterable[pl.DataFrame], what: str) -> None:
    """An internal guard: the frames a builder is about to embed fit in MAX_ROWS."""
    n = sum(f.height for f in frames)
    if n > MAX_ROWS:  # pragma: no cover - the builders aggregate before they get here
        raise AssertionError(f"{what}: {n} rows would be embedded; the limit is {MAX_ROWS}")
