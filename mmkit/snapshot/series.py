"""A series of live samples saved as snapshot folders: :func:`save_series`, :func:`load_series`.

A series folder holds:

==================  ===================================================================
``series.json``     ``format`` ("mmkit-snapshot-series"), ``format_version``, and per
                    sample its ``seq``, ``time`` (Unix seconds), ``folder`` and what was
                    ``unavailable`` (source -> why)
``history.parquet`` the history frame (:data:`mmkit.metrics.history.SCHEMA`: one row per
                    sample, metric, zone, order...)
``000001/`` ...     one snapshot folder per sample (:mod:`mmkit.snapshot.snapshot`): the
                    texts read (buddyinfo, zoneinfo, vmstat; pagetypeinfo and the debugfs
                    files when they were readable) and a ``meta.json`` whose ``missing``
                    says what was not; no page arrays (kpageflags is not kept per sample)
==================  ===================================================================

Each sample folder opens with :func:`mmkit.snapshot.load` like any snapshot, and the
history frame can be rebuilt from them. The series is written as a temporary folder
beside ``dir`` and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from mmkit.errors import SnapshotError
from mmkit.snapshot.live import _write, check_destination, install_folder
from mmkit.snapshot.snapshot import META_NAME, TEXT_FILES, Snapshot

__all__ = ["SERIES_NAME", "Series", "load_series", "save_series"]

SERIES_NAME = "series.json"
HISTORY_NAME = "history.parquet"
FORMAT = "mmkit-snapshot-series"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Series:
    """A saved series: its folder, ``series.json`` (:attr:`meta`), the history frame and
    one :class:`~mmkit.snapshot.Snapshot` per sample (``series[i]``, ``len(series)``)."""

    path: Path
    meta: dict
    history: pl.DataFrame

    def __len__(self) -> int:
        return len(self.meta["samples"])

    def __getitem__(self, i: int) -> Snapshot:
        return Snapshot(self.path / self.meta["samples"][i]["folder"])

    @property
    def snapshots(self) -> list[Snapshot]:
        """Every sample as a Snapshot, oldest first."""
        return [self[i] for i in range(len(self))]

    @property
    def times(self) -> list[float]:
        """Each sample's Unix time."""
        return [s["time"] for s in self.meta["samples"]]


def save_series(dir: str | os.PathLike, history: pl.DataFrame, records: list[dict[str, Any]], *,
                overwrite: bool = False, source: str = "mmkit.widgets.Monitor") -> Path:
    """Write ``records`` (from :meth:`mmkit.metrics.history.History.records`) and the
    ``history`` frame as the series folder ``dir`` (new or empty, or any with
    ``overwrite``), atomically. Returns its path.

    Raises
    ------
    SnapshotError
        ``dir`` exists and is not empty (without ``overwrite``), or its parent does not exist.
    """
    dest = check_destination(dir, overwrite)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        samples = []
        for r in records:
            folder = f"{r['seq']:06d}"
            (tmp / folder).mkdir()
            for name, data in r["texts"].items():
                if name in TEXT_FILES:
                    _write(tmp / folder / name, data)
            meta = {
                "format": "mmkit-snapshot", "format_version": 1,
                "captured_at": _dt.datetime.fromtimestamp(r["time"], _dt.timezone.utc).isoformat(timespec="milliseconds"),
                "page_size": os.sysconf("SC_PAGE_SIZE"),
                "missing": dict(r["unavailable"]),
                "source": "mmkit.snapshot.sample",
            }
            if r.get("kernel_release"):
                meta["kernel_release"] = r["kernel_release"]
            if r.get("pageblock_order") is not None:
                meta["pageblock_order"] = r["pageblock_order"]
            _write(tmp / folder / META_NAME, (json.dumps(meta, indent=2) + "\n").encode())
            samples.append({"seq": r["seq"], "time": r["time"], "folder": folder, "unavailable": dict(r["unavailable"])})
        history.write_parquet(tmp / HISTORY_NAME)
        head = {"format": FORMAT, "format_version": FORMAT_VERSION, "source": source,
                "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "samples": samples}
        _write(tmp / SERIES_NAME, (json.dumps(head, indent=1) + "\n").encode())
        os.chmod(tmp, 0o755)
        install_folder(tmp, dest, overwrite=True)  # check_destination refused a full one unless asked
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def load_series(dir: str | os.PathLike) -> Series:
    """Open the series folder ``dir`` written by :func:`save_series` (or
    ``Monitor.save``): its history frame and one Snapshot per sample.

    Raises
    ------
    SnapshotError
        The folder, ``series.json`` or ``history.parquet`` is missing or not a series.

    Examples
    --------
    >>> s = mmkit.snapshot.load_series("out/monitor")              # doctest: +SKIP
    >>> s.history.filter(pl.col("metric") == "compact_stall")     # doctest: +SKIP
    >>> s[0].buddyinfo                                             # doctest: +SKIP
    """
    path = Path(dir)
    head_path = path / SERIES_NAME
    if not head_path.is_file():
        raise SnapshotError(f"{path}: no {SERIES_NAME}; not a snapshot series (write one with Monitor.save)")
    try:
        meta = json.loads(head_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SnapshotError(f"{head_path}: not readable JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("samples"), list):
        raise SnapshotError(f"{head_path}: not an {FORMAT} file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise SnapshotError(f"{head_path}: format_version {meta.get('format_version')!r}; this mmkit reads "
                            f"{FORMAT_VERSION}")
    for s in meta["samples"]:
        if not isinstance(s, dict) or not isinstance(s.get("folder"), str) or "/" in s["folder"] or \
                not (path / s["folder"]).is_dir():
            raise SnapshotError(f"{head_path}: sample {s!r} names no folder of this series")
    try:
        history = pl.read_parquet(path / HISTORY_NAME)
    except (OSError, pl.exceptions.PolarsError) as e:
        raise SnapshotError(f"{path / HISTORY_NAME}: cannot read ({e})") from None
    return Series(path, meta, history)
