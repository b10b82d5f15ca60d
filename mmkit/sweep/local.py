"""Cells on a local process pool, one worker per core by default.

Workers are started with the ``spawn`` method: numba's threading layer and ``fork`` do
not mix, and spawn behaves the same on Linux, macOS and Windows. Each worker loads the
engine's compiled kernels once, in its initializer.

A spawn worker normally runs the parent's main module again (``__mp_main__``), which a
script read from standard input (``python - < script.py``) cannot do (there is no file)
and which re-runs a script's sweep where it has no ``if __name__ == "__main__":``
guard. The workers need nothing from the main module when the cells hold no object
defined there (the cell function and the initializer live in mmkit), so the pool starts
them without it: a sweep runs the same from a script file, standard input, ``python -c``,
a notebook or ``python -m``. Only cells holding an object defined in the main module need
it re-run; then it must be a file (and the call guarded), else ``ParameterError``.
"""

from __future__ import annotations

import io
import multiprocessing
import multiprocessing.process
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager, nullcontext

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
    start = _worker_start(cells)  # before any worker starts: may refuse
    n = min(workers or default_workers(), len(cells))
    ex = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker)
    clean = False
    try:
        with start:  # a spawn pool starts its workers in submit(), here
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


def main_defined(obj: object) -> str | None:
    """The name of the first object ``obj`` holds (itself included) that is defined in the
    main module (a class, a function or an instance of such a class), or None."""

    class Found(Exception):
        pass

    class Finder(pickle.Pickler):
        def reducer_override(self, o):
            for x in (o, type(o)):
                if isinstance(x, type) or callable(x):
                    if getattr(x, "__module__", None) in ("__main__", "__mp_main__"):
                        raise Found(getattr(x, "__qualname__", repr(x)))
            return NotImplemented

    try:
        Finder(io.BytesIO(), protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    except Found as e:
        return str(e)
    return None


def main_file() -> str | None:
    """The file spawn workers would run as the main module, if it exists (a module run
    with ``python -m`` is imported by name: its file is given)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if getattr(spec, "name", None) is not None:
        return getattr(spec, "origin", None) or spec.name
    path = getattr(main, "__file__", None)
    if path is None:
        return None
    if not os.path.isabs(path) and multiprocessing.process.ORIGINAL_DIR is not None:
        path = os.path.join(multiprocessing.process.ORIGINAL_DIR, path)
    return path if os.path.isfile(path) else None


@contextmanager
def _without_main() -> Iterator[None]:
    """Workers started in this block do not run the main module: spawn re-runs it from
    ``__main__.__spec__`` or ``__main__.__file__``, hidden here and put back after."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _worker_start(cells: list[Cell]):
    """How the workers start: without the main module when the cells need nothing from
    it; with it when they do and it is a file; else a ParameterError, before any starts."""
    name = main_defined(cells)
    if name is None:
        return _without_main()
    if main_file() is not None:
        return nullcontext()
    from mmkit.errors import ParameterError

    raise ParameterError(
        f"grid: the cells hold {name}, defined in a main module that has no file (a script read from "
        "standard input, python -c, an interactive session): worker processes cannot import it. Define it "
        "in a module file and import it, or save the script to a file and run it as "
        "python script.py, with the sweep under if __name__ == \"__main__\":")


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
