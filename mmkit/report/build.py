"""``build``: execute notebooks and write one self-contained HTML report each."""

from __future__ import annotations

import datetime as _dt
import html as _html
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mmkit.errors import Interrupted
from mmkit.inputs import check_out_folder
from mmkit.report.execute import ReportError, execute
from mmkit.report.html import render
from mmkit.report.notebooks import resolve

MAX_BYTES = 10 * 2**20  # a report larger than this is refused
WIDGET_NOTE = ("An interactive widget is here when this notebook runs in JupyterLab (locally, or on Binder "
               "from the README's badge); this page is a static copy.")


@dataclass
class Report:
    """One written report."""

    notebook: Path
    html: Path
    seconds: float
    bytes: int
    charts: int
    widgets: int


def build(notebooks: list[str] | tuple[str, ...] | None = None, out: str | os.PathLike = "reports", *,
          timeout: float = 600, log: Callable[[str], None] | None = None,
          folder: str | os.PathLike | None = None) -> list[Report]:
    """Execute each notebook (all numbered notebooks when ``notebooks`` is empty) and
    write ``out/<name>.html``. ``timeout`` is per cell, in seconds. Progress goes to
    ``log`` (stderr by default). Names are checked before anything runs."""
    log = log or _stderr
    paths = resolve(notebooks, folder)
    out = check_out_folder(out, "out", new=False)
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for k, path in enumerate(paths, 1):
        head = f"[{k}/{len(paths)}] {path.stem}"
        log(f"{head}: executing {_rel(path)}")
        progress = _CellProgress(head) if sys.stderr.isatty() and log is _stderr else None
        try:
            ex = execute(path, timeout=timeout, on_cell=progress)
        except Interrupted as e:
            raise Interrupted(f"{e.progress}; {len(done)} of {len(paths)} reports written") from None
        finally:
            if progress is not None:
                progress.clear()
        footer = _footer(path, ex.seconds)
        page = render(ex.nb, title=_title(ex.nb, path), footer=footer, widget_note=WIDGET_NOTE)
        data = page.html.encode("utf-8")
        if len(data) > MAX_BYTES:
            raise ReportError(f"{path.name}: the report would be {len(data) / 2**20:.1f} MiB, over the "
                              f"{MAX_BYTES // 2**20} MiB limit; draw fewer points (max_cells=, sample_every=)")
        dest = out / f"{path.stem}.html"
        write_atomic(dest, data)
        rep = Report(path, dest, ex.seconds, len(data), page.charts, page.widgets)
        done.append(rep)
        slow = max(ex.cell_seconds, key=lambda c: c[1], default=None)
        slowest = f", slowest cell {slow[0]}: {slow[1]:.1f} s" if slow else ""
        log(f"{head}: executed in {ex.seconds:.1f} s{slowest}; wrote {_rel(dest)} "
            f"({len(data) / 2**20:.2f} MiB, {page.charts} charts)")
    return done


def write_atomic(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` through a temporary file in the same folder renamed
    over it: a reader (or an interrupted run) never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _title(nb, path: Path) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip().replace("`", "")
    return path.stem


def _footer(path: Path, seconds: float) -> str:
    import mmkit

    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Made by <code>mmkit report</code> from <code>{_html.escape(_rel(path))}</code> with mmkit "
            f"{_html.escape(mmkit.__version__)}, Python {platform.python_version()}, on {when}; "
            f"the notebook ran in {seconds:.1f} s.")


def _rel(p: Path) -> str:
    """``p`` relative to the current folder when it is inside it, else absolute."""
    p = Path(p).absolute()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _CellProgress:
    """``cell 7/23`` on one line of a terminal."""

    def __init__(self, head: str) -> None:
        self.head = head

    def __call__(self, i: int, n: int) -> None:
        sys.stderr.write(f"\r{self.head}: cell {i}/{n} ")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
