"""A sweep's folder: each finished cell written atomically, read back on the next run.

::

    DIR/sweep.json          what the sweep is: its columns, shared values, metrics, cells
    DIR/cells/KEY.parquet   one finished cell: variant, metrics, timeline (KEY: the cell's hash)
    DIR/sweep.parquet       the whole frame, once every cell is done

A cell file is written to a temporary name and renamed, so a file that exists is whole:
an interrupted sweep leaves finished cells and nothing half-written. A cell's KEY hashes
everything its frames depend on (workload parameters, variants' rules, machine size,
seed, ticks, metrics, the engine's sources), so a later sweep in the same folder reads
back every cell it shares with an earlier one and runs only the rest.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import uuid
from pathlib import Path

import polars as pl

from mmkit.errors import ParameterError
from mmkit.inputs import check_out_folder
from mmkit.sweep.grid import Cell, Plan

TMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def sigint_deferred():
    """Ctrl-C during the block takes effect at its end: a write in progress finishes
    (polars may still be writing a file from its own threads when a KeyboardInterrupt
    reaches Python, and would leave it behind). Only the main thread can hold a signal
    handler; elsewhere the block runs as it is. Blocks nest: an inner one hands the
    signal to the outer one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: got.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if got and callable(old):
        old(signal.SIGINT, got[0])  # the default handler raises KeyboardInterrupt here
    elif got and old == signal.SIG_DFL:
        signal.raise_signal(signal.SIGINT)


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    with sigint_deferred():
        try:
            write(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


class Store:
    """The folder ``out`` of a sweep."""

    def __init__(self, out: str | os.PathLike, plan: Plan) -> None:
        self.root = check_out_folder(out, "out", new=False)  # a new folder, or one a sweep wrote
        self.cells = self.root / "cells"
        self.cells.mkdir(parents=True, exist_ok=True)
        for stale in self.cells.glob(f"{TMP_PREFIX}*"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
        text = json.dumps(plan.describe(), indent=1, default=str) + "\n"
        _atomic_write(self.root / "sweep.json", lambda p: p.write_text(text))

    def path(self, cell: Cell) -> Path:
        return self.cells / f"{cell.key}.parquet"

    def finished(self, cells: tuple[Cell, ...]) -> dict[int, pl.DataFrame]:
        """The frames of the cells already in the folder, by cell index."""
        out = {}
        for c in cells:
            p = self.path(c)
            if not p.is_file():
                continue
            try:
                df = pl.read_parquet(p)
            except (OSError, pl.exceptions.PolarsError):  # unreadable (a damaged disk): run the cell again
                p.unlink(missing_ok=True)
                continue
            if df["variant"].to_list() == [v.name for v in c.variants]:
                out[c.index] = df
        return out

    def write(self, cell: Cell, frame: pl.DataFrame) -> None:
        _atomic_write(self.path(cell), frame.write_parquet)

    def write_frame(self, frame: pl.DataFrame) -> Path:
        path = self.root / "sweep.parquet"
        _atomic_write(path, frame.write_parquet)
        return path


def load(out: str | os.PathLike) -> pl.DataFrame:
    """The frame of a finished sweep in folder ``out`` (its ``sweep.parquet``)."""
    path = Path(out) / "sweep.parquet"
    if not path.is_file():
        done = len(list((Path(out) / "cells").glob("*.parquet"))) if (Path(out) / "cells").is_dir() else 0
        raise ParameterError(f"out: {out} holds no finished sweep (no sweep.parquet; {done} cell files); "
                             f"run the sweep again with out={str(out)!r} to finish it")
    return pl.read_parquet(path)
