"""ipywidgets controls built from the declarations the API validates against: the workload
presets, ``mmkit.workloads.PARAMS`` (name, range, type, one-line description), the
named variants, and the run layer's limits. A control's range is the parameter's
range, so a value the API would refuse cannot be entered."""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as W

from mmkit.model.kinds import PAGE_SIZE
from mmkit.model.memory import MAX_PAGES
from mmkit.workloads import PARAMS, PRESETS, Param

SEED_MAX = 2**53 - 1  # the largest integer a browser holds exactly
GIB_MIN = 0.0625  # 64 MiB: the smallest machine with a useful number of pageblocks
GIB_MAX = MAX_PAGES * PAGE_SIZE / 2**30
GIB_STEP = 0.25

_STYLE = {"description_width": "150px"}
_LAYOUT = {"width": "330px"}


def _step(p: Param) -> float:
    span = float(p.hi) - float(p.lo)
    return 10.0 ** math.floor(math.log10(span / 100)) if span > 0 else 0.01


def param_widget(p: Param, value: Any = None) -> W.ValueWidget:
    """The control for one workload parameter: a checkbox, or a bounded number box
    whose limits are the parameter's range."""
    value = p.default if value is None else value
    common = {"description": p.name, "tooltip": p.doc, "style": _STYLE, "layout": W.Layout(**_LAYOUT)}
    if p.type is bool:
        return W.Checkbox(value=bool(value), indent=False, **common)
    if p.type is int:
        return W.BoundedIntText(value=int(value), min=int(p.lo), max=int(p.hi), step=1, **common)
    return W.BoundedFloatText(value=float(value), min=float(p.lo), max=float(p.hi), step=_step(p), **common)


def run_controls(workload: str, gib: float, variants: list[str], selected: list[str], seed: int, ticks: int,
                 max_ticks: int) -> dict[str, W.ValueWidget]:
    """The controls of a run: preset, machine size, variants, seed, ticks."""
    return {
        "workload": W.Dropdown(options=list(PRESETS), value=workload, description="workload",
                               tooltip=PRESETS[workload].description, style=_STYLE, layout=W.Layout(**_LAYOUT)),
        "gib": W.BoundedFloatText(value=gib, min=GIB_MIN, max=GIB_MAX, step=GIB_STEP, description="memory (GiB)",
                                  tooltip="size of the synthetic machine (x86-64 zones: DMA, DMA32, Normal)",
                                  style=_STYLE, layout=W.Layout(**_LAYOUT)),
        "variants": W.SelectMultiple(options=variants, value=tuple(selected), rows=min(len(variants), 7),
                                     description="variants", tooltip="kernel rules to compare; the first is the baseline",
                                     style=_STYLE, layout=W.Layout(**_LAYOUT)),
        "seed": W.BoundedIntText(value=seed, min=0, max=SEED_MAX, description="seed",
                                 tooltip="the same seed gives the same run, bit for bit", style=_STYLE,
                                 layout=W.Layout(**_LAYOUT)),
        "ticks": W.BoundedIntText(value=ticks, min=1, max=max_ticks, description="ticks",
                                  tooltip="workload steps to run", style=_STYLE, layout=W.Layout(**_LAYOUT)),
    }


def param_controls(workload: str) -> dict[str, W.ValueWidget]:
    """One control per parameter in ``PARAMS``, at the preset's values, its own first."""
    decl = PRESETS[workload].declaration()
    return {p.name: param_widget(p) for p in decl}


def set_preset(controls: dict[str, W.ValueWidget], workload: str) -> None:
    """Put every parameter control to the preset's value."""
    values = PRESETS[workload].params()
    for name in PARAMS:
        controls[name].value = values[name]
