"""Cells on a local process pool, one worker per core by default.

Workers are started with the ``spawn`` method: numba's threading layer and ``fork`` do
not mix, and spawn behaves the same on Linux, macOS and Windows. Each worker loads the
engine's compiled kernels once, in its initializer. As with any spawn pool, a script
that calls ``sweep`` must do so under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import polars as pl

from mmkit.sweep.cell import run_cell, warm
from mmkit.sweep.grid import Cell


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def run_local(cells: list[Cell], metrics: tuple[str, ...], thin: int,
              on_done: Callable[[Cell, pl.DataFrame], None], workers: int | None = None) -> None:
    """Run ``cells`` on ``workers`` processes, calling ``on_done(cell, frame)`` in this
    process as each one finishes; on an error or an interrupt the cells not yet
    finished are cancelled and the workers stopped."""
    if not cells:
        return
    n = min(workers or default_workers(), len(cells))
    ex = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker)
    clean = False
    try:
        pending = {ex.submit(run_cell, c, metrics, thin): c for c in cells}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=lambda f: pending[f].index):
                cell = pending.pop(f)
                try:
                    frame = f.result()
                except Exception as e:
                    _note(e, cell)
                    raise
                on_done(cell, frame)
        clean = True
    finally:
        if clean:
            ex.shutdown(wait=True)
        else:
            _stop(ex)


def _start_worker() -> None:
    """A worker ignores SIGINT: Ctrl-C in a terminal reaches every process of its group,
    and this process, not each worker, answers it (by stopping the workers: ``_stop``),
    so no worker prints a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm()


def _note(e: BaseException, cell: Cell) -> None:
    if hasattr(e, "add_note"):  # Python 3.11+
        e.add_note(f"in sweep {cell.describe()}")


def _stop(ex: ProcessPoolExecutor) -> None:
    """Cancel what has not started and stop the workers now, without waiting for the
    cells they are running (their results would be discarded)."""
    terminate = getattr(ex, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    procs = list((getattr(ex, "_processes", None) or {}).values())  # shutdown forgets them
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)
