"""Kernel-exact memory metrics: fragmentation indices and debugfs ``extfrag/`` text.

See :mod:`mmkit.metrics.fragmentation` (SEMANTICS.md section 5); :class:`History` keeps
live samples as one bounded polars frame (:mod:`mmkit.metrics.history`);
:mod:`mmkit.metrics.contiguity` measures contiguity beyond the buddy allocator's largest order.
"""

from __future__ import annotations

from mmkit.metrics.contiguity import Contiguity, FrameClass, contiguity, contiguity_row, frame_classes
from mmkit.metrics.fragmentation import (
    DEBUGFS_FILES,
    MetricsMismatch,
    TrailingWhitespaceMismatch,
    check,
    contig_page_info,
    debugfs_text,
    fragmentation_index,
    fragmentation_indices,
    free_pages_by_order,
    largest_free_order,
    unusable_free_index,
    unusable_free_indices,
    zone_summary,
)
from mmkit.metrics.history import COMPACTION_COUNTERS, History, sample_rows

__all__ = [
    "COMPACTION_COUNTERS", "Contiguity", "DEBUGFS_FILES", "FrameClass", "History", "MetricsMismatch",
    "TrailingWhitespaceMismatch", "check", "contig_page_info", "contiguity", "contiguity_row", "debugfs_text",
    "fragmentation_index", "frame_classes", "sample_rows",
    "fragmentation_indices", "free_pages_by_order", "largest_free_order", "unusable_free_index",
    "unusable_free_indices", "zone_summary",
]
