"""``mmkit sweep --grid grid.yaml --out DIR [--scheduler tcp://HOST:PORT]``.

The grid file is YAML: ``grid`` is the dict of lists (every combination a cell); every
other key is a keyword of :func:`mmkit.sweep`, the same for every cell::

    workload: zram-pressure
    gib: 0.5
    variants: [v4.5, v4.8]
    grid:
      seed: 1..50            # a range of integers, both ends included
      thp_rate: [0.1, 0.3]

Run the same command again after an interrupt: finished cells are read back from DIR.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmkit.errors import MmkitError, ParameterError

FILE_KEYS = ("grid", "workload", "variants", "seed", "gib", "ticks", "metrics", "thin", "workers")
_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
SUMMARY = ("unusable_9", "fragindex_9", "mixed_movable_blocks", "order2_success", "order3_success", "thp_success",
           "misrouted_putback")


def read_grid_file(path: str | Path) -> dict[str, Any]:
    """The keywords of ``mmkit.sweep`` a grid file gives (``grid`` among them), checked."""
    import yaml

    from mmkit.workloads import PARAMS

    p = Path(path)
    if not p.is_file():
        raise ParameterError(f"--grid: {path} is not a file")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ParameterError(f"--grid: {path} is not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(doc, dict) or "grid" not in doc:
        raise ParameterError(f"--grid: {path} must be a mapping with a `grid:` of lists, e.g.\n"
                             f"workload: review-04\ngrid:\n  seed: 1..20\n  variant: [v4.5, v4.8]")
    for k in doc:
        if k not in FILE_KEYS and k not in PARAMS:
            raise ParameterError(f"--grid: {path}: unknown key {k!r}; keys are {', '.join(FILE_KEYS)} and the "
                                 f"workload parameters (the same for every cell)")
    grid = doc["grid"]
    if not isinstance(grid, dict):
        raise ParameterError(f"--grid: {path}: `grid` must map each key to a list of values")
    doc["grid"] = {k: _expand(k, v) for k, v in grid.items()}
    return doc


def _expand(key: str, value: Any) -> Any:
    """``"A..B"`` as the integers A to B, both included."""
    if isinstance(value, str):
        m = _RANGE.match(value)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if b < a:
                raise ParameterError(f"grid: {key}: {value!r} is an empty range; write A..B with A <= B")
            return list(range(a, b + 1))
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid", required=True, metavar="FILE", help="YAML file: `grid:` (a dict of lists) and the "
                   "keywords every cell shares (workload, variants, gib, ticks, seed, metrics, thin, parameters)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the cells and sweep.parquet; "
                   "run again with the same DIR to resume")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a Dask scheduler (tcp://HOST:PORT) to run the cells on; default: a local process pool")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: one per core; ignored with --scheduler)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the sweep ``args`` describe; print where it went and a summary by variant."""
    from mmkit.sweep.api import sweep

    kw = read_grid_file(args.grid)
    if args.workers is not None:
        kw["workers"] = args.workers
    client = None
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ParameterError("--scheduler: dask.distributed is not installed; pip install 'mmkit[sweep]'") from None
        try:
            client = Client(args.scheduler, timeout="20s")
        except OSError as e:
            raise ParameterError(f"--scheduler: cannot reach {args.scheduler}: {e}") from None
        kw.pop("workers", None)
    try:
        frame = sweep(kw.pop("grid"), client=client, out=args.out, progress=not args.no_progress, **kw)
    except KeyboardInterrupt as e:
        done = getattr(e, "progress", "interrupted").removeprefix("sweep ")
        print(f"mmkit sweep: {done}; finished cells are kept in {args.out}; run the same command to resume",
              file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()
    print(f"{frame['cell'].n_unique()} cells, {frame.height} rows: {Path(args.out) / 'sweep.parquet'}")
    print(summary(frame))
    return 0


def summary(frame: Any) -> Any:
    """Median (and quartiles) of the headline metrics, by the grid's columns but seed."""
    import polars as pl

    keys = [c for c in frame.columns[1: frame.columns.index("variant") + 1] if c != "seed"]
    cols = [c for c in SUMMARY if c in frame.columns] or [
        c for c in frame.columns[frame.columns.index("variant") + 1:] if c != "timeline"][:6]
    aggs = [pl.len().alias("cells")]
    for c in cols:
        aggs.append(pl.concat_str(
            pl.col(c).median().round(3).cast(pl.String), pl.lit(" ["), pl.col(c).quantile(0.25).round(3).cast(pl.String),
            pl.lit(", "), pl.col(c).quantile(0.75).round(3).cast(pl.String), pl.lit("]")).alias(c))
    table = frame.group_by(keys, maintain_order=True).agg(aggs)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=250, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, fmt_str_lengths=40):
        return f"median [quartiles] by {', '.join(keys)}:\n{table}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mmkit.sweep --grid FILE --out DIR [--scheduler ADDRESS]``."""
    p = argparse.ArgumentParser(prog="mmkit sweep", description="run a grid of cells (workloads, variants, seeds, "
                                "sizes, parameters) on a local pool or a Dask cluster")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except MmkitError as e:
        print(f"mmkit: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


__all__ = ["add_arguments", "main", "read_grid_file", "run", "summary"]
