"""Running a notebook top to bottom in a fresh kernel (nbclient), with a per-cell timeout.

The kernel starts in the notebook's own folder, as JupyterLab starts it, so a notebook's
relative paths (``../data/fragmented``) mean the same in both. Altair gets a renderer at
kernel start that outputs each chart as its Vega-Lite spec (what a report inlines)
rather than HTML that loads Vega from a CDN.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmkit.errors import Interrupted, MmkitError

# Run by the kernel before the first cell. Altair 6's own "mimetype" renderer writes its
# spec under "application/vnd.vegalite.v6.json", which nbformat refuses (a JSON output's
# mimetype must end in "+json"), so the report registers one that writes "...v6+json".
KERNEL_SETUP = """\
def _mmkit_report_setup():
    try:
        import altair
    except ImportError:
        return
    mime = "application/vnd.vegalite.v%s+json" % altair.SCHEMA_VERSION.lstrip("v").split(".")[0]

    def spec_only(spec, **metadata):
        return {mime: spec, "text/plain": "<altair chart>"}

    altair.renderers.register("mmkit-report", spec_only)
    altair.renderers.enable("mmkit-report")


_mmkit_report_setup()
del _mmkit_report_setup
"""


class ReportError(MmkitError, RuntimeError):
    """A notebook failed while a report was being made: a cell raised, ran longer than
    the per-cell timeout, or the report came out too large.

    Fix: the message names the notebook, the cell and the error; run the notebook in
    JupyterLab to see it in place, or raise ``--timeout`` when the numba cache was cold.
    """


@dataclass
class Executed:
    """An executed notebook and how long it took."""

    nb: Any
    seconds: float
    cell_seconds: list[tuple[int, float]] = field(default_factory=list)  # (cell number from 1, seconds)


def execute(path: str | Path, *, timeout: float = 600,
            on_cell: Callable[[int, int], None] | None = None) -> Executed:
    """Run notebook ``path`` in a fresh ``python3`` kernel; ``timeout`` is per cell, in
    seconds. ``on_cell(i, n)`` is called before code cell ``i`` of ``n`` runs."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    state = {"cell": -1, "t": 0.0}
    cell_seconds: list[tuple[int, float]] = []

    def started(cell, cell_index, **_):
        state["cell"], state["t"] = cell_index, time.perf_counter()
        if on_cell is not None and cell_index in code:
            on_cell(code.index(cell_index) + 1, len(code))

    def finished(cell, cell_index, **_):
        cell_seconds.append((cell_index + 1, time.perf_counter() - state["t"]))

    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=False, record_timing=True,
        resources={"metadata": {"path": str(path.parent.resolve())}},
        # the kernel's own log is noise here (its warning about TCP on localhost); errors still show
        extra_arguments=[f"--IPKernelApp.exec_lines={KERNEL_SETUP}", "--IPKernelApp.log_level=ERROR"],
        on_cell_start=started, on_cell_executed=finished,
    )
    t0 = time.perf_counter()
    # the kernel process's own stderr (not the cells': those arrive as outputs) is kept
    # aside and shown only when the kernel dies
    def where() -> str:
        return f"{path.name}, cell {state['cell'] + 1} of {len(nb.cells)}"

    with _interrupt_seen() as interrupted, tempfile.TemporaryFile() as kernel_log:
        try:
            _run(client, where, timeout, kernel_log)
        except BaseException:
            # On SIGINT (or SIGTERM) while a cell runs, nbclient's own handler shuts the kernel
            # down, and what surfaces is the dead kernel or its cleanup failing: it was Ctrl-C.
            # nbclient keeps that cleanup in _async_cleanup_kernel_future; before its handler is
            # installed (kernel start), ours sees the signal.
            if interrupted or getattr(client, "_async_cleanup_kernel_future", None) is not None:
                raise Interrupted(f"report stopped in {where()}") from None
            raise
    return Executed(nb, time.perf_counter() - t0, cell_seconds)


def _run(client: Any, where: Callable[[], str], timeout: float, kernel_log: Any) -> None:
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    try:
        client.execute(stderr=kernel_log)
    except CellTimeoutError:
        raise ReportError(f"{where()}: ran longer than the per-cell timeout of {timeout:g} s (a cold numba "
                          f"cache compiles for a few minutes on first use: raise --timeout)") from None
    except CellExecutionError as e:
        raise ReportError(f"{where()}: {e.ename}: {e.evalue}") from None
    except DeadKernelError as e:
        kernel_log.seek(0)
        tail = kernel_log.read().decode(errors="replace").strip().splitlines()[-15:]
        raise ReportError(f"{where()}: the kernel died ({e})" + ("; its last words:\n" + "\n".join(tail)
                                                                  if tail else "")) from None


@contextlib.contextmanager
def _interrupt_seen():
    """A list that becomes non-empty when SIGINT arrives; SIGINT still raises
    KeyboardInterrupt as it does by default. Outside the main thread, never set."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        seen.append(signum)
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)
