"""``sweep``: a grid of cells run on a local process pool or a Dask cluster, as one frame."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import polars as pl

from mmkit.semantics import VariantLike
from mmkit.sweep.grid import DEFAULT_THIN, Cell, Plan, plan
from mmkit.sweep.store import sigint_deferred
from mmkit.progress import Progress
from mmkit.workloads import Workload


def sweep(
    grid: Mapping[str, Any] | pl.DataFrame,
    workload: str | Workload | None = None,
    *,
    variants: Iterable[VariantLike] | str | None = None,
    seed: int | None = None,
    gib: float | None = None,
    ticks: int | None = None,
    trace: str | os.PathLike | None = None,
    tick_ms: float | None = None,
    metrics: Iterable[str] | str | None = None,
    thin: int = DEFAULT_THIN,
    client: Any = None,
    out: str | os.PathLike | None = None,
    progress: bool | Callable[[int, int], None] = False,
    workers: int | None = None,
    **params: Any,
) -> pl.DataFrame:
    """Run every cell of ``grid`` and return one frame: a row per cell and variant.

    Parameters
    ----------
    grid : dict of lists, or polars.DataFrame
        A dict of lists, every combination a cell (``{"seed": range(20), "variant":
        ["v4.5", "v4.8"], "thp_rate": [0.1, 0.5]}``), or a frame whose rows are the cells
        (or cells and variants). Keys: ``variant`` (or ``variants``), ``workload``,
        ``seed``, ``gib``, ``ticks`` and any workload parameter (``mmkit.workloads.PARAMS``).
    workload, variants, seed, gib, ticks, **params
        What the grid does not vary, the same for every cell: ``workload`` (default
        ``review-04``), ``variants`` (default v4.5, v3-04, v4.8), ``seed`` (0), ``gib``
        and ``ticks`` (the workload's), workload parameters. Each cell is one
        :func:`mmkit.compare` of its variants from the same memory and seed.
    trace, tick_ms
        A folder ``mmkit trace record`` wrote (also a grid key, to sweep several traces),
        and the replay's ms of trace time per tick (default 100; also a grid key). With a
        trace each cell is one :func:`mmkit.replay` of it under the cell's variants and
        seed; ``workload``, ``gib``, ``ticks`` and workload parameters are refused (they
        are the recording's).
    metrics : iterable of str or "all"
        Timeline columns whose final values the frame holds (default
        ``mmkit.sweep.DEFAULT_METRICS``).
    thin : int
        Sample ticks kept per run in the ``timeline`` column (0: no column).
    client : dask.distributed.Client, optional
        Run the cells on its cluster; default a local pool of ``workers`` processes
        (default: one per core).
    out : str or os.PathLike, optional
        A folder where each finished cell is written (atomically) as it finishes, and
        the whole frame at the end; the same sweep with the same ``out`` after an
        interrupt reads finished cells back instead of running them again.
    progress : bool or callable
        True for a bar (tqdm, or Dask's own with a client), or ``f(done, total)`` called
        with the count of finished cells.
    workers : int, optional
        Local worker processes.

    Returns
    -------
    polars.DataFrame
        ``cell`` (the cell's index, in grid order), the grid's columns, ``variant``, the
        final value of each metric and, unless ``thin=0``, ``timeline``: a list of
        ``{tick, metrics...}`` at ``thin`` sample ticks spread evenly over the run, first
        and last kept (``mmkit.sweep.timeline(frame)`` makes it long). Rows are in cell
        order, then the cell's variant order: the frame is the same, bit for bit, however
        and in whatever order the cells ran.

    Raises
    ------
    ParameterError, VariantError
        Every cell is checked before anything runs: unknown keys, empty lists, values out
        of range, unknown variants or workloads, naming the key.
    Interrupted
        Ctrl-C or JupyterLab's stop button stops the sweep within a second: the local
        workers are stopped, a cluster's unfinished cells cancelled (a cell running on a
        Dask worker stops between its chunks of ticks). The message says how many cells
        finished; with ``out``, those are in the folder (each whole) and the same call
        later runs only the rest.

    Examples
    --------
    >>> from mmkit.sweep import sweep
    >>> df = sweep({"seed": [1, 2]}, variants=["v4.5", "v4.8"], gib=0.25, ticks=20, workers=1, thin=0)
    >>> df.select("cell", "seed", "variant").rows()
    [(0, 1, 'v4.5'), (0, 1, 'v4.8'), (1, 2, 'v4.5'), (1, 2, 'v4.8')]
    """
    p = plan(grid, workload=workload, variants=variants, seed=seed, gib=gib, ticks=ticks, trace=trace,
             tick_ms=tick_ms, metrics=metrics, thin=thin, **params)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        from mmkit.errors import ParameterError

        raise ParameterError(f"workers: {workers!r} is not a positive integer (local worker processes)")
    if client is not None:
        from mmkit.sweep.cluster import check_client

        check_client(client)
    store = None
    frames: dict[int, pl.DataFrame] = {}
    if out is not None:
        from mmkit.sweep.store import Store

        store = Store(out, p)
        frames.update(store.finished(p.cells))
    todo = [c for c in p.cells if c.index not in frames]
    dask_bar = client is not None and progress is True
    bar = Progress(len(p.cells), False if dask_bar else progress, f"sweep of {len(p.cells)} cells", "cell",
                   done=len(frames), announce=True)

    def on_done(cell: Cell, frame: pl.DataFrame) -> None:
        with sigint_deferred():  # a cell on disk is a cell counted as finished, Ctrl-C or not
            if store is not None:
                store.write(cell, frame)
            frames[cell.index] = frame
            bar.advance()

    try:
        if client is not None:
            from mmkit.sweep.cluster import run_dask

            run_dask(client, todo, p.metrics, p.thin, on_done, progress=dask_bar)
        else:
            from mmkit.sweep.local import run_local

            run_local(todo, p.metrics, p.thin, on_done, workers=workers)
    except KeyboardInterrupt:
        from mmkit.errors import Interrupted

        done = f"sweep stopped with {len(frames)} of {len(p.cells)} cells finished"
        kept = f"; they are kept in {out}: run the same sweep with out= that folder to finish it" if out else ""
        raise Interrupted(f"{done}{kept}", progress=done) from None
    finally:
        bar.close()
    frame = assemble(p, frames)
    if store is not None:
        store.write_frame(frame)
    return frame


def assemble(p: Plan, frames: dict[int, pl.DataFrame]) -> pl.DataFrame:
    """The sweep's frame from each cell's frame: grid columns added, in cell order."""
    schema = p.schema
    parts = []
    for c in p.cells:
        f = frames[c.index]
        cols = {"cell": pl.lit(c.index, dtype=schema["cell"])}
        for name in p.columns:
            if name != "variant":
                cols[name] = pl.lit(c.row[name], dtype=schema[name])
        parts.append(f.with_columns(**cols))
    front = ["cell", *p.columns]
    frame = pl.concat(parts, how="vertical")
    return frame.select(*front, *[c for c in frame.columns if c not in front])


def timeline(frame: pl.DataFrame) -> pl.DataFrame:
    """A sweep frame's thinned timelines, long: the frame's columns before ``variant``,
    ``variant``, ``tick`` and each metric, one row per sample tick."""
    from mmkit.errors import ParameterError

    if not isinstance(frame, pl.DataFrame) or "timeline" not in frame.columns:
        raise ParameterError("frame: expected a frame from mmkit.sweep with a timeline column (thin > 0)")
    keys = frame.columns[: frame.columns.index("variant") + 1]
    return frame.select(*keys, "timeline").explode("timeline").unnest("timeline")
