"""What a worker does: run one cell (one ``compare``) and keep its final metrics and a
thinned timeline; and load the engine's compiled kernels before the first cell."""

from __future__ import annotations

import numpy as np
import polars as pl

from mmkit.sweep.grid import Cell


def warm() -> None:
    """Load the engine's compiled kernels (numba's on-disk cache) in this process: a
    small run of the workload that exercises the most kernels (zram, a balloon, a CMA
    area, compaction), so a worker's first cell costs what every other cell costs."""
    from mmkit.run import simulate

    try:
        simulate(workload="review-04", variant="v4.8", gib=0.25, ticks=20, seed=0)
    except Exception:  # noqa: BLE001, S110 - the first cell meets the same error and reports it, with its cell
        pass


def thin_index(n: int, keep: int) -> np.ndarray:
    """At most ``keep`` of ``n`` sample indices, evenly spread, the first and last kept."""
    if n <= keep:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, keep).round().astype(np.int64))


def run_cell(cell: Cell, metrics: tuple[str, ...], thin: int) -> pl.DataFrame:
    """``variant``, each metric's final value and (``thin`` > 0) ``timeline``: a list of
    ``{tick, metrics...}`` at ``thin`` sample ticks; one row per variant of the cell."""
    from mmkit.run import compare

    res = compare(None, cell.workload, list(cell.variants), ticks=cell.ticks, seed=cell.seed, gib=cell.gib,
                  **cell.changes)
    cols = list(metrics)
    final = res.final().select("variant", *cols)
    if not thin:
        return final
    lists = []
    for v in res.variants:
        tl = res.timeline.filter(pl.col("variant") == v).sort("tick")
        part = tl[thin_index(tl.height, thin)].select(pl.struct("tick", *cols).alias("timeline"))
        lists.append(part["timeline"].implode())
    return final.with_columns(timeline=pl.concat(lists))
