"""Kernel-exact memory metrics: fragmentation indices and debugfs ``extfrag/`` text.

See :mod:`mmkit.metrics.fragmentation` (SEMANTICS.md section 5).
"""

from __future__ import annotations

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

__all__ = [
    "DEBUGFS_FILES", "MetricsMismatch", "TrailingWhitespaceMismatch", "check", "contig_page_info", "debugfs_text", "fragmentation_index",
    "fragmentation_indices", "free_pages_by_order", "largest_free_order", "unusable_free_index",
    "unusable_free_indices", "zone_summary",
]
