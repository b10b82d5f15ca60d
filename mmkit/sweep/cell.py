"""What a worker does: run one cell (one ``compare``) and keep its final metrics and a
thinned timeline; and load the engine's compiled kernels before the first cell."""

from __future__ import annotations

import threading

import numpy as np
import polars as pl

from mmkit.sweep.grid import Cell

WATCH_SECONDS = 0.1  # how often a cell on a Dask worker looks whether it was cancelled


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


def _cancel_watch() -> tuple[threading.Event | None, threading.Event]:
    """On a Dask worker: an Event set (within ``WATCH_SECONDS``) when the task running
    in this thread is cancelled (a sweep interrupted), so its ``compare`` stops at its
    next chunk rather than run to the end for nothing (Dask does not stop a running
    task); and the Event that ends the watch. Elsewhere no stop Event."""
    finished = threading.Event()
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        worker, key = get_worker(), thread_state.key
    except (ImportError, ValueError, AttributeError):  # not in a Dask task
        return None, finished
    stop = threading.Event()

    def watch() -> None:
        while not finished.wait(WATCH_SECONDS):
            ts = worker.state.tasks.get(key)
            if ts is None or ts.state not in ("executing", "long-running"):
                stop.set()
                return

    threading.Thread(target=watch, name=f"mmkit-cancel-watch-{key}", daemon=True).start()
    return stop, finished


def run_cell(cell: Cell, metrics: tuple[str, ...], thin: int) -> pl.DataFrame:
    """One ``compare`` (for a cell with a trace, one ``mmkit.replay``): ``variant``, each
    metric's final value and (``thin`` > 0) ``timeline``: a list of ``{tick, metrics...}``
    at ``thin`` sample ticks; one row per variant of the cell."""
    from mmkit.errors import Interrupted
    from mmkit.run import compare

    stop, finished = _cancel_watch()
    try:
        if cell.trace:
            from mmkit.trace.replay import replay

            res = replay(cell.trace, list(cell.variants), tick_ms=cell.tick_ms, seed=cell.seed, stop=stop)
        else:
            res = compare(None, cell.workload, list(cell.variants), ticks=cell.ticks, seed=cell.seed,
                          gib=cell.gib, stop=stop, **cell.changes)
    except Interrupted:
        if stop is None or not stop.is_set():
            raise
        return None  # the cell was cancelled on its Dask worker: nobody waits for it
    finally:
        finished.set()
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
