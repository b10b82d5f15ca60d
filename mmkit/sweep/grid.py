"""A sweep's grid, validated at the door: every cell is checked before anything runs.

A grid is a dict of lists (every combination is a cell) or a polars frame of rows (each
row a cell, or a cell and a variant). Its keys are ``variant`` (or ``variants``),
``workload``, ``seed``, ``gib``, ``ticks`` and any workload parameter of
``mmkit.workloads.PARAMS``. A cell runs every variant of its row from the same memory
and seed (one ``compare``), so the variants of a cell are a paired comparison.

With ``trace`` (a folder ``mmkit trace record`` wrote, as a key or a keyword) a cell is a
``mmkit.replay`` of that trace instead: its keys are then ``variant``, ``seed``,
``trace`` and ``tick_ms``; a workload, its size, ticks and parameters are the recording's.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl

from mmkit.errors import ParameterError, VariantError
from mmkit.inputs import check_gib, check_int, check_seed, check_tick_ms, check_ticks
from mmkit.semantics import COMPARE_VARIANTS, Variant, resolve
from mmkit.workloads import PARAMS, Workload
from mmkit.workloads import workload as get_workload

FORMAT = 1
RUN_KEYS = ("workload", "seed", "gib", "ticks")
TRACE_KEYS = ("trace", "tick_ms")  # a replay's (mmkit.replay)
NOT_WITH_TRACE = ("workload", "gib", "ticks")
VARIANT_KEYS = ("variant", "variants")
DEFAULT_WORKLOAD = "review-04"
DEFAULT_VARIANTS = COMPARE_VARIANTS
DEFAULT_THIN = 21

_INT = pl.Int64
_FLOAT = pl.Float64


def _timeline_metrics() -> tuple[str, ...]:
    """Every numeric column of ``Result.timeline`` (see ``mmkit.result._timeline``)."""
    from mmkit.engine import state as _st
    from mmkit.model.kinds import MAX_ORDER
    from mmkit.model.samples import SAMPLE_NAMES
    from mmkit.result import FAULTS, INDEX_ORDERS

    names = ["free_pages", *(f"free_o{o}" for o in range(MAX_ORDER))]
    for o in INDEX_ORDERS:
        names += [f"unusable_{o}", f"fragindex_{o}"]
    names += [*SAMPLE_NAMES[1:], "pageblocks", "thp_success", "order2_success", "order3_success", *FAULTS,
              *_st.VMSTAT_NAMES]
    return tuple(dict.fromkeys(names))


METRICS: tuple[str, ...] = _timeline_metrics()
"""Every metric a sweep can keep: the numeric columns of ``Result.timeline``."""


def _default_metrics() -> tuple[str, ...]:
    from mmkit.result import FAULTS

    return ("free_o9", "unusable_2", "unusable_3", "unusable_9", "fragindex_2", "fragindex_3", "fragindex_9",
            "mixed_blocks", "movable_blocks", "mixed_movable_blocks", "free_blocks", "zsmalloc_pages",
            "balloon_pages", "thp_success", "order2_success", "order3_success", *FAULTS,
            "compact_stall", "compact_success", "compact_fail", "pgmigrate_success", "pgmigrate_fail",
            "cma_alloc_success", "cma_alloc_fail", "pswpout", "oom")


DEFAULT_METRICS: tuple[str, ...] = _default_metrics()
"""The metrics a sweep keeps when ``metrics=None``: fragmentation at orders 2, 3 and 9,
pageblock mixing, allocation success, every fault and the compaction, migration, CMA
and swap counters."""


def _dtype(key: str) -> pl.DataType:
    if key in ("workload", "variant", "trace"):
        return pl.String
    if key == "tick_ms":
        return _FLOAT
    if key in ("seed", "ticks"):
        return _INT
    if key == "gib":
        return _FLOAT
    t = PARAMS[key].type
    return pl.Boolean if t is bool else (_INT if t is int else _FLOAT)


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a ``compare`` of ``variants`` on one machine and seed."""

    index: int
    workload: Workload | None  # None: a replay of ``trace``
    variants: tuple[Variant, ...]
    gib: float
    seed: int
    ticks: int
    changes: dict[str, Any]  # workload parameters set by the grid or the caller
    values: dict[str, Any]  # every workload parameter, as the run sees it
    row: dict[str, Any]  # this cell's value of each grid column (the variant column excepted)
    key: str = ""  # content hash: the same key, the same frames
    trace: str = ""  # a trace folder: the cell replays it (mmkit.replay)
    tick_ms: float = 100.0

    def describe(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.row.items()]
        return f"cell {self.index} ({', '.join(parts) or 'the only cell'})"


@dataclass(frozen=True)
class Plan:
    """Every cell of a sweep and the columns of its frame, validated."""

    cells: tuple[Cell, ...]
    columns: tuple[str, ...]  # the grid's columns in order, then "variant"
    metrics: tuple[str, ...]
    thin: int
    fixed: dict[str, Any] = field(default_factory=dict)  # the values every cell shares

    @property
    def schema(self) -> dict[str, pl.DataType]:
        s: dict[str, pl.DataType] = {"cell": _INT}
        s.update({c: _dtype(c) for c in self.columns})
        return s

    def describe(self) -> dict[str, Any]:
        """What this sweep is, as JSON-able data (written to ``out/sweep.json``)."""
        return {"format": FORMAT, "columns": list(self.columns), "metrics": list(self.metrics), "thin": self.thin,
                "fixed": self.fixed,
                "cells": [{"cell": c.index, "key": c.key, **c.row, "variant": [v.name for v in c.variants]}
                          for c in self.cells]}


# ------------------------------------------------------------------ values
def _err(key: str, msg: str) -> ParameterError:
    return ParameterError(f"grid: {key}: {msg}")


def _seed(v: Any, key: str = "seed") -> int:
    return check_seed(v, f"grid: {key}")


def _ticks(v: Any, key: str = "ticks") -> int:
    return check_ticks(v, f"grid: {key}")


def _gib(v: Any, key: str = "gib") -> float:
    return check_gib(v, f"grid: {key}")


def _trace(v: Any, key: str = "trace") -> str:
    """A trace folder's path (its meta.json read, its files there), or an error naming the key."""
    import os

    from mmkit.errors import TraceError

    if not isinstance(v, (str, os.PathLike)):
        raise _err(key, f"{v!r} is not a folder's path (a trace that mmkit trace record wrote)")
    root = Path(v)
    try:
        meta = json.loads((root / "meta.json").read_text())
    except FileNotFoundError:
        raise _err(key, f"{root} has no meta.json; not a trace folder (record one with mmkit trace record)") from None
    except (OSError, ValueError) as e:
        raise TraceError(f"grid: {key}: {root / 'meta.json'}: cannot be read ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != "mmkit-trace":
        raise _err(key, f"{root / 'meta.json'} is not a trace's (no \"format\": \"mmkit-trace\")")
    if not (root / "events.parquet").is_file():
        raise _err(key, f"{root / 'events.parquet'} is missing")
    return str(root)


def _tick_ms(v: Any, key: str = "tick_ms") -> float:
    return check_tick_ms(v, f"grid: {key}")


_DIGESTS: dict[tuple, str] = {}


def _trace_digest(path: str) -> str:
    """A hash of the trace's meta.json and events.parquet (memoised by size and mtime)."""
    root = Path(path)
    files = [root / "meta.json", root / "events.parquet"]
    stamp = (str(root.resolve()), *((f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    if stamp not in _DIGESTS:
        h = hashlib.sha256()
        for f in files:
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        _DIGESTS[stamp] = h.hexdigest()
    return _DIGESTS[stamp]


def _nr_pages(gib: float) -> int:
    from mmkit.model.memory import synthetic_layout

    return max(start + spanned for _, start, spanned in synthetic_layout(gib=gib))


def _workload(v: Any, key: str = "workload") -> Workload:
    try:
        return get_workload(v)
    except ParameterError as e:
        raise _err(key, str(e).removeprefix("workload: ")) from None


def _variant(v: Any, key: str = "variant") -> Variant:
    try:
        return resolve([v])[0]
    except VariantError as e:
        raise VariantError(f"grid: {key}: {e}") from None


def _param(name: str, v: Any) -> Any:
    try:
        return PARAMS[name].validate(v)
    except ParameterError as e:
        raise ParameterError(f"grid: {e}") from None


def _check_value(key: str, v: Any) -> Any:
    """``v`` as the value of grid column ``key``, or an error naming the key."""
    if v is None:
        raise _err(key, "a missing value (None/null); give a value for every cell")
    if key == "workload":
        return _workload(v, key)
    if key in VARIANT_KEYS:
        return _variant(v, key)
    if key == "seed":
        return _seed(v)
    if key == "gib":
        return _gib(v)
    if key == "ticks":
        return _ticks(v)
    if key == "trace":
        return _trace(v)
    if key == "tick_ms":
        return _tick_ms(v)
    return _param(key, v)


def _column_value(key: str, v: Any) -> Any:
    """What the frame shows for a checked value."""
    if isinstance(v, Workload):
        return v.name
    if isinstance(v, Variant):
        return v.name
    return v


def _known_keys() -> list[str]:
    return ["variant", "variants", *RUN_KEYS, *TRACE_KEYS, *PARAMS]


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or key not in _known_keys():
        raise ParameterError(
            f"grid: unknown key {key!r}; keys are variant (or variants), workload, seed, gib, ticks and the "
            f"workload parameters {', '.join(PARAMS)}; or, for a replay, trace and tick_ms"
        )
    return key


def _as_list(key: str, values: Any) -> list:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise _err(key, f"{values!r} is not a list; give a list of values, e.g. {key}: [{values!r}] "
                        f"(or pass {key}= to sweep for a value every cell shares)")
    items = list(values.to_list() if isinstance(values, (pl.Series, np.ndarray)) else values)
    if not items:
        raise _err(key, "an empty list; give at least one value")
    return items


def _no_repeats(key: str, shown: list) -> None:
    seen = set()
    for v in shown:
        if v in seen:
            raise _err(key, f"{v!r} appears twice; each value may appear once")
        seen.add(v)


# ------------------------------------------------------------------ the plan
def plan(grid: Mapping[str, Any] | pl.DataFrame, workload: Any = None, *, variants: Any = None,
         seed: int | None = None, gib: float | None = None, ticks: int | None = None, trace: Any = None,
         tick_ms: float | None = None, metrics: Iterable[str] | str | None = None, thin: int = DEFAULT_THIN,
         **params: Any) -> Plan:
    """Every cell of ``grid`` checked (keys, values, each cell's workload parameters),
    with the shared values given as keywords; a ParameterError or VariantError naming
    the key otherwise."""
    fixed_in = {"workload": workload, "variants": variants, "seed": seed, "gib": gib, "ticks": ticks,
                "trace": trace, "tick_ms": tick_ms, **params}
    for k in fixed_in:
        if k not in _known_keys():
            raise ParameterError(f"sweep: unknown keyword {k!r}; keywords shared by every cell are workload, "
                                 f"variants, seed, gib, ticks and the workload parameters {', '.join(PARAMS)}; "
                                 f"or, for a replay, trace and tick_ms")
    if isinstance(grid, pl.DataFrame):
        columns, rows = _frame_rows(grid)
    elif isinstance(grid, Mapping):
        columns, rows = _dict_rows(grid)
    else:
        raise ParameterError(f"grid: expected a dict of lists or a polars DataFrame of rows, got "
                             f"{type(grid).__name__}")
    in_grid = set(columns)
    for k, v in fixed_in.items():
        if v is None:
            continue
        name = "variant" if k in VARIANT_KEYS else k
        if name in in_grid:
            raise ParameterError(f"grid: {k} is both a grid key and a keyword of sweep; give it once")
    return _plan(columns, rows, fixed_in, metrics, thin)


def _keyword(fn, *args):
    """``fn(*args)`` for a value given as a keyword of sweep: its error names the keyword."""
    try:
        return fn(*args)
    except (ParameterError, VariantError) as e:
        raise type(e)(str(e).removeprefix("grid: ")) from None


def _plan(columns: list[str], rows: list[dict], fixed_in: dict[str, Any], metrics: Any, thin: Any) -> Plan:
    in_grid = set(columns)
    fixed = {}
    wl0 = None
    replaying = "trace" in in_grid or fixed_in["trace"] is not None
    if replaying:
        for k in (*NOT_WITH_TRACE, *PARAMS):
            if k in in_grid or fixed_in.get(k) is not None:
                where = f"grid: {k}" if k in in_grid else k
                raise ParameterError(f"{where}: a sweep of a trace replays what was recorded (mmkit.replay); a "
                                     f"workload, its size, ticks and parameters are the recording's (keys with a "
                                     f"trace: variant, seed, trace, tick_ms)")
    elif "tick_ms" in in_grid or fixed_in["tick_ms"] is not None:
        raise ParameterError("grid: tick_ms: a replay's tick; give trace= (a folder mmkit trace record wrote) "
                             "to sweep a trace")
    if replaying:
        for k, check in (("trace", _trace), ("tick_ms", _tick_ms)):
            if k not in in_grid:
                v = fixed_in[k] if fixed_in[k] is not None else 100.0
                fixed[k] = _keyword(check, v, k)
    if "workload" not in in_grid and not replaying:
        given = fixed_in["workload"] if fixed_in["workload"] is not None else DEFAULT_WORKLOAD
        wl0 = _keyword(_workload, given, "workload")
        fixed["workload"] = wl0.name
    vs0: tuple[Variant, ...] = ()
    if "variant" not in in_grid:
        given = fixed_in["variants"] if fixed_in["variants"] is not None else DEFAULT_VARIANTS
        try:
            vs0 = tuple(resolve(given))
        except VariantError as e:
            msg = str(e)
            raise VariantError(msg if msg.startswith("variants:") else f"variants: {msg}") from None
        fixed["variants"] = [v.name for v in vs0]
    fixed_run = {}
    for k, check in (("seed", _seed), ("gib", _gib), ("ticks", _ticks)):
        if k not in in_grid and fixed_in[k] is not None:
            fixed_run[k] = _keyword(check, fixed_in[k], k)
            fixed[k] = fixed_run[k]
    fixed_params = {}
    for k, v in fixed_in.items():
        if k in PARAMS and k not in in_grid:
            fixed_params[k] = _keyword(_param, k, v)
            fixed[k] = fixed_params[k]
    metrics_t = _metrics(metrics)
    thin = _thin(thin)

    order = [c for c in columns if c != "variant"]
    groups: dict[tuple, list] = {}
    for r in rows:
        key = tuple(_column_value(c, r[c]) for c in order)
        groups.setdefault(key, []).append(r)
    cells = []
    from mmkit import __version__
    from mmkit.engine import CACHE_DIR
    from mmkit.run import compile_params

    engine = Path(CACHE_DIR).name
    for i, (shown, members) in enumerate(groups.items()):
        r = members[0]
        row = dict(zip(order, shown))
        if "variant" not in in_grid and len(members) > 1:
            raise ParameterError(f"grid: the row {row} appears {len(members)} times; each cell may appear once")
        wl = r.get("workload", wl0)
        if "variant" in in_grid:
            vs = tuple(m["variant"] for m in members)
            names = [v.name for v in vs]
            if len(set(names)) != len(names):
                dup = next(n for n in names if names.count(n) > 1)
                raise VariantError(f"grid: variant: {dup!r} appears twice in the cell {row}; "
                                   f"each variant may appear once per cell")
        else:
            vs = vs0
        s = r.get("seed", fixed_run.get("seed", 0))
        if replaying:
            tr = r.get("trace", fixed.get("trace"))
            ms = r.get("tick_ms", fixed.get("tick_ms"))
            # everything the cell's frames depend on: the trace's bytes, the engine's sources
            key = hashlib.sha256(json.dumps(
                {"format": FORMAT, "mmkit": __version__, "engine": engine, "trace": _trace_digest(tr),
                 "tick_ms": ms, "variants": [[v.name, v.rules()] for v in vs], "seed": s,
                 "metrics": list(metrics_t), "thin": thin}, sort_keys=True, default=str).encode()).hexdigest()[:24]
            cells.append(Cell(index=i, workload=None, variants=vs, gib=0.0, seed=s, ticks=0, changes={},
                              values={}, row=row, key=key, trace=tr, tick_ms=ms))
            continue
        changes = dict(fixed_params)
        changes.update({c: r[c] for c in order if c in PARAMS})
        try:
            values = wl.params(**changes)
        except ParameterError as e:
            raise ParameterError(f"grid: {e} (in the cell {row})") from None
        g = r.get("gib", fixed_run.get("gib", wl.gib))
        g = _gib(g, "gib")
        try:  # the checks that need the machine's size (a CMA area in pageblocks)
            compile_params(values, SimpleNamespace(nr_pages=_nr_pages(g)))
        except ParameterError as e:
            where = f"the cell {row}" + ("" if "gib" in row else f", gib={g:g}")
            raise ParameterError(f"grid: {e} (in {where})") from None
        t = r.get("ticks", fixed_run.get("ticks", wl.ticks))
        # everything the cell's frames depend on, the engine's sources included
        key = hashlib.sha256(json.dumps(
            {"format": FORMAT, "mmkit": __version__, "engine": engine, "workload": wl.name,
             "variants": [[v.name, v.rules()] for v in vs], "gib": g, "seed": s, "ticks": t, "params": values,
             "metrics": list(metrics_t), "thin": thin}, sort_keys=True, default=str).encode()).hexdigest()[:24]
        cells.append(Cell(index=i, workload=wl, variants=vs, gib=g, seed=s, ticks=t, changes=changes,
                          values=values, row=row, key=key))
    return Plan(cells=tuple(cells), columns=(*order, "variant"), metrics=metrics_t, thin=thin, fixed=fixed)


def _dict_rows(grid: Mapping[str, Any]) -> tuple[list[str], list[dict]]:
    if not grid:
        raise ParameterError("grid: empty; give at least one key with a list of values, e.g. {'seed': [1, 2, 3]}")
    columns: list[str] = []
    lists = []
    for k, values in grid.items():
        _check_key(k)
        name = "variant" if k in VARIANT_KEYS else k
        if name in columns:
            raise ParameterError("grid: give variant or variants, not both")
        items = _as_list(k, values)
        checked = [_check_value(k, v) for v in items]
        if name == "variant":
            try:  # two different variants of one name are refused with how to name them
                resolve(checked)
            except VariantError as e:
                raise VariantError(f"grid: {e}") from None
        _no_repeats(k, [_column_value(k, v) for v in checked])
        columns.append(name)
        lists.append(checked)
    rest = [c for c in columns if c != "variant"]
    rows = []
    # every combination, the first key slowest; the variants of a combination are one cell
    for combo in itertools.product(*[lists[columns.index(c)] for c in rest]):
        base = dict(zip(rest, combo))
        if "variant" in columns:
            rows.extend({**base, "variant": v} for v in lists[columns.index("variant")])
        else:
            rows.append(base)
    return columns, rows


def _frame_rows(frame: pl.DataFrame) -> tuple[list[str], list[dict]]:
    if frame.width == 0 or frame.height == 0:
        raise ParameterError("grid: the frame has no rows; give one row per cell (or per cell and variant)")
    columns = []
    for k in frame.columns:
        _check_key(k)
        if k == "variants":
            raise ParameterError("grid: variants: in a frame, give one variant per row in a column named variant")
        if frame[k].null_count():
            raise _err(k, f"row {frame[k].is_null().arg_max()} is null; give a value in every row")
        columns.append(k)
    rows = []
    for r in frame.iter_rows(named=True):
        rows.append({k: _check_value(k, v) for k, v in r.items()})
    return columns, rows


def _metrics(metrics: Iterable[str] | str | None) -> tuple[str, ...]:
    if metrics is None:
        return DEFAULT_METRICS
    if isinstance(metrics, str):
        if metrics == "all":
            return METRICS
        metrics = [metrics]
    try:
        items = list(metrics)
    except TypeError:
        raise ParameterError(f"metrics: {metrics!r} is not a list of timeline columns") from None
    if not items:
        raise ParameterError("metrics: an empty list; give at least one timeline column, or None for the default set")
    for m in items:
        if m not in METRICS:
            raise ParameterError(f"metrics: {m!r} is not a timeline column; metrics are {', '.join(METRICS)}")
    return tuple(dict.fromkeys(items))


def _thin(thin: Any) -> int:
    n = check_int("thin", thin, 0, 10_000)
    if n == 1:
        raise ParameterError("thin: 1 is out of range; allowed 0 (no timeline) or an integer 2..10000 "
                             "(sample ticks kept per cell and variant, the first and the last among them)")
    return n


__all__ = ["DEFAULT_METRICS", "DEFAULT_THIN", "DEFAULT_VARIANTS", "DEFAULT_WORKLOAD", "METRICS", "Cell", "Plan", "plan"]
