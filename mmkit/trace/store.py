"""Reading a recorded trace folder back: :func:`load` -> :class:`Trace`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from mmkit.trace import events as ev
from mmkit.errors import TraceError

__all__ = ["Trace", "load"]


@dataclass
class Trace:
    """A recorded trace: the event frame (columns in :data:`mmkit.trace.COLUMNS`), the
    ``meta.json`` dict and the two snapshot folders."""

    path: Path
    events: pl.DataFrame
    meta: dict
    start: Path  # snapshot folder taken before the recording window
    end: Path  # snapshot folder taken after it

    def start_snapshot(self):
        """The start snapshot, loaded (:func:`mmkit.snapshot.load`)."""
        import mmkit.snapshot

        return mmkit.snapshot.load(self.start)

    def end_snapshot(self):
        """The end snapshot, loaded."""
        import mmkit.snapshot

        return mmkit.snapshot.load(self.end)

    @property
    def lost_total(self) -> int:
        return int(self.meta.get("lost_total", 0))

    def __repr__(self) -> str:
        return (f"Trace({str(self.path)!r}: {self.events.height} events, kernel {self.meta.get('kernel_release')}, "
                f"lost {self.lost_total})")


def load(dir: str | os.PathLike) -> Trace:
    """The trace recorded into ``dir`` by :func:`mmkit.trace.record`.

    Raises :class:`TraceError` naming the file when ``meta.json`` or ``events.parquet``
    is missing, truncated or not a trace's, when its columns are not the event frame's,
    or when a snapshot folder is missing."""
    root = Path(dir)
    if not root.is_dir():
        raise TraceError(f"{root}: no such trace folder")
    mp = root / "meta.json"
    try:
        meta = json.loads(mp.read_text())
    except FileNotFoundError:
        raise TraceError(f"{mp}: missing; {root} is not a trace folder (record one with mmkit trace record)") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise TraceError(f"{mp}: not valid JSON ({e}); the file is truncated or corrupt") from None
    if not isinstance(meta, dict) or meta.get("format") != "mmkit-trace":
        raise TraceError(f"{mp}: not a trace's meta.json (no \"format\": \"mmkit-trace\")")
    ep = root / "events.parquet"
    if not ep.exists():
        raise TraceError(f"{ep}: missing")
    try:
        df = pl.read_parquet(ep)
    except Exception as e:  # polars raises ComputeError, OSError or its own for a damaged file
        raise TraceError(f"{ep}: cannot be read as parquet ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                         "the file is truncated or corrupt") from None
    sch = ev.schema()
    absent = [c for c in sch if c not in df.columns]
    if absent:
        raise TraceError(f"{ep}: no column {', '.join(absent)}; not an mmkit trace of this version")
    try:
        df = df.select([pl.col(c).cast(t) for c, t in sch.items()])
    except pl.exceptions.PolarsError as e:
        raise TraceError(f"{ep}: a column has the wrong type ({e})") from None
    if "events" in meta and meta["events"] != df.height:
        raise TraceError(f"{ep}: {df.height} rows, meta.json says {meta['events']} (truncated or from another trace)")
    for name in ("start", "end"):
        if not (root / name / "meta.json").exists():
            raise TraceError(f"{root / name}: the {name} snapshot is missing")
    return Trace(root, df, meta, root / "start", root / "end")
