"""mmkit: an executable review of Linux non-LRU page migration.

A page-array simulator of physical memory runs one workload under several versions of
the kernel's page-migration rules side by side (see ``mmkit.variants()``).
"""

from __future__ import annotations

from mmkit.errors import (
    InvariantError,
    MmkitError,
    OutOfMemoryError,
    ParameterError,
    SnapshotError,
    VariantError,
)
from mmkit.model import Memory, MigrateType, PageKind
from mmkit.semantics import NAMED, RULE_FIELDS, Variant, variant

__version__ = "0.1.0"

_SUBPACKAGES = ("snapshot", "metrics", "workloads", "viz", "widgets", "report", "semantics", "model", "engine",
                "reference", "result", "run", "compact", "cli", "sweep", "jupyter")


def __getattr__(name: str):
    # the run layer imports polars and the engine: load it on first use
    if name in ("compare", "simulate"):
        from mmkit import run

        return getattr(run, name)
    if name in ("replay", "versus_real"):
        from mmkit.trace import replay as _replay

        return getattr(_replay, name)
    if name == "load_result":
        from mmkit.result import load_result

        return load_result
    if name == "Result":
        from mmkit.result import Result

        return Result
    if name == "compact_memory":
        from mmkit.compact import compact_memory

        return compact_memory
    if name == "contiguity":
        from mmkit.metrics.contiguity import contiguity

        return contiguity
    if name in _SUBPACKAGES:  # mmkit.snapshot.load(...) after a plain ``import mmkit``
        import importlib

        return importlib.import_module(f"mmkit.{name}")
    raise AttributeError(f"module 'mmkit' has no attribute {name!r}")


def variants():
    """The named variants as a polars frame: name, description, then one column a rule."""
    import polars as pl

    rows = []
    for v in NAMED.values():
        row = {"name": v.name, "description": v.description}
        row.update(v.rules())
        row["sources"] = ", ".join(v.sources)
        rows.append(row)
    return pl.DataFrame(rows)


# in a Jupyter kernel, altair's charts are output for JupyterLab's own Vega-Lite renderer,
# which needs no network (mmkit.jupyter)
from mmkit.jupyter import enable_in_kernel as _enable_in_kernel  # noqa: E402

_enable_in_kernel()

__all__ = [
    "InvariantError", "Memory", "MigrateType", "MmkitError", "OutOfMemoryError", "PageKind",
    "ParameterError", "RULE_FIELDS", "compare", "simulate", "load_result", "Result", "compact_memory", "contiguity", "SnapshotError", "Variant", "VariantError", "variant", "variants",
]
