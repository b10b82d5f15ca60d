"""Real kernel memory state: snapshot folders, their capture, parsers and page-types.

* :func:`load` opens a snapshot folder as a :class:`Snapshot` (format:
  :mod:`mmkit.snapshot.snapshot`);
* :func:`capture` makes one from this machine's /proc and debugfs
  (:mod:`mmkit.snapshot.live`); without root, of what the world-readable files give;
* :func:`sample` reads this machine's small files once, cheaply, for watching it over
  time (:mod:`mmkit.snapshot.sampler`); :func:`save_series` / :func:`load_series` keep
  samples as a folder of snapshots and a history frame (:mod:`mmkit.snapshot.series`);
* :func:`page_types` / :func:`page_types_text` are the kernel's ``tools/mm/page-types -F``
  summary (:mod:`mmkit.snapshot.page_types_tool`);
* the ``parse_*`` functions turn the kernel's text files into polars frames
  (:mod:`mmkit.snapshot.parse`);
* :func:`buddyinfo` prints /proc/buddyinfo for a Snapshot or a Memory
  (:mod:`mmkit.snapshot.buddyinfo_text`);
* :func:`build_memory` rebuilds a ``Memory`` from a snapshot and
  :func:`from_snapshot_report` says how faithful it is (:mod:`mmkit.from_snapshot`,
  outside this package: it fills the engine's state; imported on first use, as that
  compiles numba kernels). This package itself only reads and writes the kernel's files.
"""

from __future__ import annotations

from mmkit.snapshot.buddyinfo_text import buddyinfo
from mmkit.snapshot.live import capture
from mmkit.snapshot.page_types_tool import describe_flags, page_types, page_types_text, parse_bits_mask
from mmkit.snapshot.parse import (
    PageTypeInfo,
    parse_buddyinfo,
    parse_debugfs_index,
    parse_extfrag_index,
    parse_meminfo,
    parse_pagetypeinfo,
    parse_unusable_index,
    parse_vmstat,
    parse_zoneinfo,
)
from mmkit.snapshot.sampler import Sample, Sampler, sample
from mmkit.snapshot.series import Series, load_series, save_series
from mmkit.snapshot.snapshot import TEXT_FILES, Snapshot, load

_LAZY = ("FromSnapshotReport", "build_memory", "from_snapshot_report")


def __getattr__(name: str):
    if name in _LAZY:
        from mmkit import from_snapshot

        return getattr(from_snapshot, name)
    raise AttributeError(f"module 'mmkit.snapshot' has no attribute {name!r}")


__all__ = [
    "FromSnapshotReport", "PageTypeInfo", "Sample", "Sampler", "Series", "Snapshot", "TEXT_FILES", "buddyinfo",
    "build_memory", "capture", "describe_flags", "from_snapshot_report", "load", "load_series", "page_types",
    "page_types_text", "parse_bits_mask", "sample", "save_series",
    "parse_buddyinfo", "parse_debugfs_index", "parse_extfrag_index", "parse_meminfo", "parse_pagetypeinfo",
    "parse_unusable_index", "parse_vmstat", "parse_zoneinfo",
]
