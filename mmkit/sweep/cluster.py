"""Cells on a Dask cluster: ``client.map`` over the cells, results gathered as they
finish. Every worker loads the engine's compiled kernels before its first cell (a
worker plugin, so workers that join later are loaded too)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import polars as pl
from distributed import WorkerPlugin, as_completed

from mmkit.errors import ParameterError
from mmkit.sweep.cell import run_cell, warm
from mmkit.sweep.grid import Cell

PLUGIN_NAME = "mmkit-warm"


class WarmEngine(WorkerPlugin):
    """Loads mmkit's compiled kernels on each worker as it starts (see ``cell.warm``)."""

    async def setup(self, worker: Any) -> None:
        # in a thread: the worker's event loop keeps answering the scheduler meanwhile
        await asyncio.get_running_loop().run_in_executor(None, warm)


def check_client(client: Any) -> Any:
    from distributed import Client

    if not isinstance(client, Client):
        raise ParameterError(f"client: expected a dask.distributed.Client, got {type(client).__name__}")
    if client.asynchronous:
        raise ParameterError("client: an asynchronous Client; sweep needs a synchronous one "
                             "(Client(address), not Client(address, asynchronous=True))")
    if client.status != "running":
        raise ParameterError(f"client: the Client is {client.status}, not running; connect it first")
    return client


def run_dask(client: Any, cells: list[Cell], metrics: tuple[str, ...], thin: int,
             on_done: Callable[[Cell, pl.DataFrame], None], progress: bool = False) -> None:
    """Run ``cells`` on ``client``'s cluster, calling ``on_done(cell, frame)`` here as
    each finishes; on an error or an interrupt the unfinished cells are cancelled."""
    if not cells:
        return
    client.register_plugin(WarmEngine(), name=PLUGIN_NAME)
    tag = uuid.uuid4().hex[:8]
    futures = client.map(run_cell, cells, metrics=metrics, thin=thin, pure=False,
                         key=[f"mmkit-sweep-cell-{tag}-{c.index}" for c in cells])
    by_key = {f.key: c for f, c in zip(futures, cells)}
    bar = _show_progress(client, futures) if progress else None
    clean = False
    try:
        for f in as_completed(futures):
            cell = by_key[f.key]
            try:
                frame = f.result()
            except Exception as e:
                if hasattr(e, "add_note"):
                    e.add_note(f"in sweep {cell.describe()}")
                raise
            f.release()
            on_done(cell, frame)
        clean = True
    finally:
        if not clean:
            client.cancel(futures)
    if bar is not None:  # let the bar draw its last state before the caller prints
        deadline = time.monotonic() + 2
        while getattr(bar, "status", None) not in ("finished", "error") and time.monotonic() < deadline:
            time.sleep(0.05)


def _show_progress(client: Any, futures: list) -> Any:
    """Dask's own progress bar, driven from the client's event loop thread so that it
    moves while ``sweep`` waits: a widget in a notebook, a text bar in a terminal."""
    from distributed.diagnostics.progressbar import ProgressWidget, TextProgressBar
    from distributed.utils import is_kernel

    address = client.scheduler.address
    if is_kernel():
        from IPython.display import display

        bar = ProgressWidget(futures, scheduler=address, complete=True)
        display(bar.widget)
    else:
        bar = TextProgressBar(futures, scheduler=address, complete=True, start=False)
    client.loop.add_callback(bar.listen)
    return bar
