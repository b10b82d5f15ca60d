"""Real kernel memory state: snapshot folders, their capture, parsers and page-types.

* :func:`load` opens a snapshot folder as a :class:`Snapshot` (format:
  :mod:`mmkit.snapshot.snapshot`);
* :func:`capture` makes one from this machine's /proc and debugfs
  (:mod:`mmkit.snapshot.live`);
* :func:`page_types` / :func:`page_types_text` are the kernel's ``tools/mm/page-types -F``
  summary (:mod:`mmkit.snapshot.page_types_tool`);
* the ``parse_*`` functions turn the kernel's text files into polars frames
  (:mod:`mmkit.snapshot.parse`).
"""

from __future__ import annotations

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
from mmkit.snapshot.snapshot import TEXT_FILES, Snapshot, load

__all__ = [
    "PageTypeInfo", "Snapshot", "TEXT_FILES", "capture", "describe_flags", "load", "page_types",
    "page_types_text", "parse_bits_mask", "parse_buddyinfo", "parse_debugfs_index", "parse_extfrag_index",
    "parse_meminfo", "parse_pagetypeinfo", "parse_unusable_index", "parse_vmstat", "parse_zoneinfo",
]
