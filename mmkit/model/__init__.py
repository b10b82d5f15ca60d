"""The page model: kernel constants and the ``Memory`` page arrays (imports numpy only)."""

from mmkit.model.kinds import MAX_ORDER, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, MigrateType, PageKind
from mmkit.model.memory import Memory, PageArrays

__all__ = ["MAX_ORDER", "PAGEBLOCK_NR_PAGES", "PAGEBLOCK_ORDER", "Memory", "MigrateType", "PageArrays", "PageKind"]
