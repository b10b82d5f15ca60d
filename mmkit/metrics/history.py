"""A bounded history of live samples as one tidy polars frame: :class:`History`.

Each :class:`~mmkit.snapshot.sampler.Sample` becomes rows of :data:`SCHEMA`
(``seq, time, metric, node, zone, order, type, value``), with ``time`` in Unix
milliseconds and every value an integer as the kernel has it:

=========================  ===============================  ===============================
metric                     one row per                      from
=========================  ===============================  ===============================
``nr_free``                zone, order                      buddyinfo
``unusable_index``         zone, order                      buddyinfo (x1000, ``unusable_free_index``)
``fragmentation_index``    zone, order                      buddyinfo (x1000, ``__fragmentation_index``)
``free_pages``             zone                             buddyinfo (``nr_free << order`` summed)
``watermark_min/low/high`` zone                             zoneinfo (pages)
``pageblocks``             zone, migratetype (``type``)     pagetypeinfo "Number of blocks type"
``mixed_blocks``           zone, migratetype                pagetypeinfo "Number of mixed blocks" (page_owner)
``mixed_pageblocks``       zone                             kpageflags (LRU and slab/page-table in one block)
``compact_*``, ``pgmigrate_*``  machine (node, zone null)  vmstat counters, as read
=========================  ===============================  ===============================

The ring keeps the last ``max_samples`` samples (their raw texts too, compressed), so
its memory is bounded however long a monitor runs.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections import deque
from pathlib import Path
from typing import Any

import polars as pl

from mmkit.errors import ParameterError
from mmkit.metrics.fragmentation import fragmentation_indices, unusable_free_indices

__all__ = ["COMPACTION_COUNTERS", "History", "SCHEMA", "sample_rows"]

SCHEMA = {"seq": pl.Int64, "time": pl.Int64, "metric": pl.String, "node": pl.Int64, "zone": pl.String,
          "order": pl.Int64, "type": pl.String, "value": pl.Int64}
# vmstat's compaction counters (mm/vmstat.c vmstat_text[], CONFIG_COMPACTION, CONFIG_MIGRATION)
COMPACTION_COUNTERS = ("compact_stall", "compact_fail", "compact_success", "compact_daemon_wake",
                       "compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
                       "compact_daemon_migrate_scanned", "compact_daemon_free_scanned",
                       "pgmigrate_success", "pgmigrate_fail")
MAX_SAMPLES = 100_000


def sample_rows(sample: Any, seq: int) -> pl.DataFrame:
    """The rows of one sample (see the module docstring), numbered ``seq``."""
    t = int(round(sample.time * 1000))
    cols: dict[str, list] = {k: [] for k in SCHEMA}

    def add(metric: str, node: int | None, zone: str | None, order: int | None, type_: str | None, value: int):
        cols["metric"].append(metric)
        cols["node"].append(node)
        cols["zone"].append(zone)
        cols["order"].append(order)
        cols["type"].append(type_)
        cols["value"].append(int(value))

    nr_free = sample.nr_free
    unusable = unusable_free_indices(nr_free)
    frag = fragmentation_indices(nr_free)
    for z, (node, zone) in enumerate(zip(sample.zone_nodes, sample.zone_names)):
        for o in range(nr_free.shape[1]):
            add("nr_free", node, zone, o, None, nr_free[z, o])
            add("unusable_index", node, zone, o, None, unusable[z, o])
            add("fragmentation_index", node, zone, o, None, frag[z, o])
        add("free_pages", node, zone, None, None, sum(int(b) << o for o, b in enumerate(nr_free[z])))
    populated = set(zip(sample.zone_nodes, sample.zone_names))
    if sample.zones is not None:
        for row in sample.zones.iter_rows(named=True):
            if (row["node"], row["zone"]) in populated:
                for k in ("min", "low", "high"):
                    if row[k] is not None:
                        add(f"watermark_{k}", row["node"], row["zone"], None, None, row[k])
    pti = sample.pagetypeinfo
    if pti is not None:
        for metric, df in (("pageblocks", pti.blocks), ("mixed_blocks", pti.mixed)):
            if df is not None:
                for node, zone, type_, count in df.select("node", "zone", "type", "count").iter_rows():
                    add(metric, node, zone, None, type_, count)
    if sample.mixed is not None:
        for node, zone, mixed in sample.mixed.select("node", "zone", "mixed_pageblocks").iter_rows():
            add("mixed_pageblocks", node, zone, None, None, mixed)
    if sample.vmstat is not None:
        vm = sample.vmstat.filter(pl.col("key").is_in(list(COMPACTION_COUNTERS)))
        for key, value in vm.iter_rows():
            add(key, None, None, None, None, value)
    n = len(cols["metric"])
    cols["seq"] = [seq] * n
    cols["time"] = [t] * n
    return pl.DataFrame(cols, schema=SCHEMA)


class History:
    """The last ``max_samples`` samples: :attr:`frame` (polars, :data:`SCHEMA`) and the
    samples' raw texts, for :meth:`save`. Thread-safe: a sampler thread appends while the
    notebook reads."""

    def __init__(self, max_samples: int = 300) -> None:
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or not 1 <= max_samples <= MAX_SAMPLES:
            raise ParameterError(f"max_samples: {max_samples!r}; give an int in 1..{MAX_SAMPLES}")
        self.max_samples = max_samples
        self._lock = threading.Lock()
        self._ring: deque[tuple[int, pl.DataFrame, dict]] = deque(maxlen=max_samples)
        self._seq = 0
        self._frame: pl.DataFrame | None = None
        self.unavailable: dict[str, str] = {}  # the last sample's
        self.last = None  # the last Sample

    def __len__(self) -> int:
        return len(self._ring)

    def append(self, sample: Any) -> int:
        """Add ``sample`` (dropping the oldest beyond ``max_samples``); returns its ``seq``."""
        with self._lock:
            self._seq += 1
            rows = sample_rows(sample, self._seq)
            raw = {"time": sample.time, "unavailable": dict(sample.unavailable),
                   "kernel_release": sample.kernel_release,
                   "pageblock_order": sample.pagetypeinfo.pageblock_order if sample.pagetypeinfo else None,
                   "texts": {k: zlib.compress(v, 1) for k, v in sample.texts.items()}}
            self._ring.append((self._seq, rows, raw))
            self._frame = None
            self.unavailable = dict(sample.unavailable)
            self.last = sample
            return self._seq

    def clear(self) -> None:
        """Forget every sample (``seq`` goes on counting)."""
        with self._lock:
            self._ring.clear()
            self._frame = None
            self.last = None

    @property
    def frame(self) -> pl.DataFrame:
        """Every row of the samples kept, oldest first (:data:`SCHEMA`)."""
        with self._lock:
            if self._frame is None:
                frames = [rows for _, rows, _ in self._ring]
                self._frame = pl.concat(frames) if frames else pl.DataFrame(schema=SCHEMA)
            return self._frame

    def records(self) -> list[dict]:
        """Each kept sample: ``seq``, ``time``, ``unavailable``, ``kernel_release``,
        ``pageblock_order`` and its raw ``texts`` (bytes by file name)."""
        with self._lock:
            ring = list(self._ring)
        return [{"seq": seq, **{k: v for k, v in raw.items() if k != "texts"},
                 "texts": {k: zlib.decompress(v) for k, v in raw["texts"].items()}} for seq, _, raw in ring]

    def save(self, dir: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the kept samples as a snapshot series (:func:`mmkit.snapshot.save_series`)."""
        from mmkit.snapshot.series import save_series

        return save_series(dir, self.frame, self.records(), overwrite=overwrite)
