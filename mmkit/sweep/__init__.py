"""Sweeps: a grid of workloads, variants, seeds, machine sizes and workload parameters,
run on a local process pool or on a Dask cluster, as one polars frame.

``mmkit.sweep`` is this package and, called, the function :func:`sweep`::

    frame = mmkit.sweep({"seed": range(20), "variant": ["v4.5", "v4.8"]},
                        workload="zram-pressure", gib=0.5, out="sweeps/zram")

Also :func:`timeline` (a frame's thinned timelines, long), :func:`load` (a finished
sweep's folder), ``DEFAULT_METRICS`` and ``METRICS``, and :func:`main` (the command
line: ``mmkit sweep --grid grid.yaml --out DIR [--scheduler tcp://HOST:PORT]``).
"""

from __future__ import annotations

import sys
import types

_LAZY = {
    "sweep": "mmkit.sweep.api",
    "timeline": "mmkit.sweep.api",
    "load": "mmkit.sweep.store",
    "plan": "mmkit.sweep.grid",
    "DEFAULT_METRICS": "mmkit.sweep.grid",
    "METRICS": "mmkit.sweep.grid",
    "main": "mmkit.sweep.cli",
}


def __getattr__(name: str):
    # polars and the engine load on first use, so that `mmkit --help` stays fast
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mmkit.sweep' has no attribute {name!r}")


class _SweepPackage(types.ModuleType):
    """``mmkit.sweep(...)`` calls :func:`mmkit.sweep.api.sweep`."""

    def __call__(self, *args, **kwargs):
        from mmkit.sweep.api import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _SweepPackage

__all__ = ["DEFAULT_METRICS", "METRICS", "load", "main", "plan", "sweep", "timeline"]
