"""What the engine's ``sample`` kernel counts at each timeline tick, one row per slot of
its output (besides the free blocks by zone and order, vmstat and the fault counts): the
slot's column name in ``Result.timeline`` and what it counts.

The engine's ``SM_*`` slots (``mmkit.engine.workload``), the timeline's columns
(``mmkit.result``) and the charts' and tables' words for them (``mmkit.viz``) are read
from here. To add a sampled count: a row (anywhere: the slots follow the rows), its
``SM_<NAME>`` constant in ``mmkit.engine.workload`` (the import fails if it is missing or
out of order) and the line of ``sample`` that fills it.
"""

from __future__ import annotations

SAMPLES = (
    ("tick", "the tick the sample was taken at"),
    ("mixed_blocks", "pageblocks holding pages of another migratetype"),
    ("movable_blocks", "MIGRATE_MOVABLE pageblocks"),
    ("mixed_movable_blocks", "MIGRATE_MOVABLE pageblocks holding unmovable or reclaimable pages"),
    ("free_blocks", "pageblocks entirely free"),
    ("used_pages", "page frames in use"),
    ("unmovable_pages", "pages allocated unmovable or reclaimable (page_owner's migratetype)"),
    ("blocks_touched_unmovable", "pageblocks holding at least one unmovable or reclaimable page"),
    ("balloon_pages", "pages in the balloon"),
    ("zsmalloc_pages", "zsmalloc pages (zram's compressed store)"),
    ("zram_objects", "objects stored in zram"),
    ("kpf_balloon_false_positive", "pages /proc/kpageflags calls KPF_BALLOON that are not balloon pages"),
    ("kpf_balloon_false_negative", "balloon pages /proc/kpageflags does not call KPF_BALLOON"),
)

SAMPLE_NAMES = tuple(name for name, _ in SAMPLES)
SAMPLE_DOCS = dict(SAMPLES)
