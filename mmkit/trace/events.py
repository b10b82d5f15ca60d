"""The one table of what mmkit records: each tracepoint, the fields it reads from the
event's ``format`` file, and the column each field lands in.

Everything else derives from :data:`EVENTS` and :data:`COLUMNS`: the default event list
of :func:`mmkit.trace.record`, the schema of the event frame, the binary decoder's field
lookup (a missing field is refused by name) and the text readers' key tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

__all__ = ["COLUMNS", "DEFAULT_EVENTS", "EVENTS", "EVENT_NAMES", "REQUIRED_EVENTS", "EventSpec", "Column", "schema"]


@dataclass(frozen=True)
class Column:
    """One column of the event frame: its polars type and what it holds."""

    name: str
    dtype: pl.DataType
    doc: str


# the frame's columns in order; the module docstring of mmkit.trace and docs/trace.md
# document each (a test checks every name appears in both)
COLUMNS: tuple[Column, ...] = (
    Column("ts_ns", pl.Int64(), "event time in ns of the trace clock (mono: CLOCK_MONOTONIC), merged across CPUs in time order"),
    Column("cpu", pl.Int16(), "CPU whose ring buffer held the event"),
    Column("event", pl.Int8(), "event, an index into EVENT_NAMES (replaced by a polars Enum in the frame)"),
    Column("pid", pl.Int32(), "common_pid: the task running when the event fired (0: idle or interrupt)"),
    Column("pfn", pl.Int64(), "page frame number (mm_page_*, extfrag, khugepaged); null for a failed allocation (pfn -1)"),
    Column("order", pl.Int16(), "allocation order (page events, extfrag's alloc_order, compaction and reclaim requests)"),
    Column("gfp_flags", pl.UInt64(), "gfp mask bits as the kernel stored them (mm_page_alloc, try_to_compact_pages' gfp_mask, "
           "direct_reclaim_begin, wakeup_kswapd)"),
    Column("migratetype", pl.Int8(), "migratetype (mm_page_alloc, pcpu_drain, zone_locked; extfrag's alloc_migratetype)"),
    Column("fallback_order", pl.Int16(), "mm_page_alloc_extfrag: order of the block taken from another migratetype"),
    Column("fallback_migratetype", pl.Int8(), "mm_page_alloc_extfrag: migratetype it was taken from"),
    Column("change_ownership", pl.Int8(), "mm_page_alloc_extfrag: 1 when the pageblock changed migratetype"),
    Column("percpu_refill", pl.Int8(), "mm_page_alloc_zone_locked: 1 when the page refills a per-cpu list"),
    Column("zone_start", pl.Int64(), "compaction begin/end: first pfn of the zone"),
    Column("migrate_pfn", pl.Int64(), "compaction begin/end: the migration scanner's pfn"),
    Column("free_pfn", pl.Int64(), "compaction begin/end: the free scanner's pfn"),
    Column("zone_end", pl.Int64(), "compaction begin/end: end pfn of the zone"),
    Column("sync", pl.Int8(), "compaction begin/end: 1 for sync compaction"),
    Column("status", pl.Int16(), "compaction end/suitable/finished: enum compact_result (COMPACT_*); huge_memory: scan status"),
    Column("start_pfn", pl.Int64(), "compaction isolate_*: start of the scanned range"),
    Column("end_pfn", pl.Int64(), "compaction isolate_*: end of the scanned range"),
    Column("nr_scanned", pl.Int64(), "compaction isolate_*: pages scanned"),
    Column("nr_taken", pl.Int64(), "compaction isolate_*: pages isolated"),
    Column("nr_migrated", pl.Int64(), "mm_compaction_migratepages: nr_migrated; mm_migrate_pages: succeeded"),
    Column("nr_failed", pl.Int64(), "mm_compaction_migratepages: nr_failed; mm_migrate_pages: failed"),
    Column("thp_succeeded", pl.Int32(), "mm_migrate_pages: THPs migrated"),
    Column("thp_failed", pl.Int32(), "mm_migrate_pages: THPs that failed to migrate"),
    Column("thp_split", pl.Int32(), "mm_migrate_pages: THPs split"),
    Column("large_folio_split", pl.Int32(), "mm_migrate_pages: large folios split (6.x; null on kernels without it)"),
    Column("mode", pl.Int8(), "mm_migrate_pages: enum migrate_mode (0 async, 1 sync_light, 2 sync); try_to_compact_pages' prio"),
    Column("reason", pl.Int8(), "mm_migrate_pages: enum migrate_reason (0 compaction, ...)"),
    Column("nid", pl.Int16(), "node id (compaction deferred/suitable/finished/kcompactd, kswapd)"),
    Column("zid", pl.Int8(), "zone index (compaction_deferred's idx, kcompactd's highest_zoneidx, kswapd's zid)"),
    Column("nr_reclaimed", pl.Int64(), "mm_vmscan_direct_reclaim_end: pages reclaimed"),
)
_COLUMN = {c.name: c for c in COLUMNS}


@dataclass(frozen=True)
class EventSpec:
    """A tracepoint mmkit records: ``fields`` maps the kernel's field name to a column of
    :data:`COLUMNS`; ``required`` fields must be in the event's format (else the trace is
    refused naming the field), the others are null when a kernel lacks them."""

    system: str
    name: str
    fields: tuple[tuple[str, str], ...]  # (kernel field, column)
    required: tuple[str, ...]
    needed: bool = False  # a trace without this event cannot be recorded

    @property
    def full_name(self) -> str:
        return f"{self.system}:{self.name}"


def _e(system: str, name: str, fields: str, optional: str = "", needed: bool = False) -> EventSpec:
    """``fields``: 'field[=column] ...' (column defaults to the field's name)."""
    pairs = []
    for tok in (fields + " " + optional).split():
        f, _, c = tok.partition("=")
        pairs.append((f, c or f))
    return EventSpec(system, name, tuple(pairs), tuple(t.partition("=")[0] for t in fields.split()), needed)


# order matters: the event codes are indices into this table (stored in meta.json too)
EVENTS: tuple[EventSpec, ...] = (
    _e("kmem", "mm_page_alloc", "pfn order gfp_flags migratetype", needed=True),
    _e("kmem", "mm_page_free", "pfn order", needed=True),
    _e("kmem", "mm_page_free_batched", "pfn"),
    _e("kmem", "mm_page_alloc_extfrag", "pfn alloc_order=order fallback_order alloc_migratetype=migratetype "
       "fallback_migratetype", "change_ownership"),
    _e("kmem", "mm_page_pcpu_drain", "pfn order migratetype"),
    _e("kmem", "mm_page_alloc_zone_locked", "pfn order migratetype", "percpu_refill"),
    _e("compaction", "mm_compaction_begin", "zone_start migrate_pfn free_pfn zone_end sync"),
    _e("compaction", "mm_compaction_end", "zone_start migrate_pfn free_pfn zone_end sync status"),
    _e("compaction", "mm_compaction_migratepages", "nr_migrated nr_failed"),
    _e("compaction", "mm_compaction_isolate_migratepages", "start_pfn end_pfn nr_scanned nr_taken"),
    _e("compaction", "mm_compaction_isolate_freepages", "start_pfn end_pfn nr_scanned nr_taken"),
    _e("compaction", "mm_compaction_fast_isolate_freepages", "start_pfn end_pfn nr_scanned nr_taken"),
    _e("compaction", "mm_compaction_try_to_compact_pages", "order gfp_mask=gfp_flags", "prio=mode"),
    _e("compaction", "mm_compaction_deferred", "nid idx=zid order"),
    _e("compaction", "mm_compaction_defer_compaction", "nid idx=zid order"),
    _e("compaction", "mm_compaction_defer_reset", "nid idx=zid order"),
    _e("compaction", "mm_compaction_suitable", "nid idx=zid order ret=status"),
    _e("compaction", "mm_compaction_finished", "nid idx=zid order ret=status"),
    _e("compaction", "mm_compaction_wakeup_kcompactd", "nid order", "highest_zoneidx=zid"),
    _e("compaction", "mm_compaction_kcompactd_wake", "nid order", "highest_zoneidx=zid"),
    _e("compaction", "mm_compaction_kcompactd_sleep", "nid"),
    _e("migrate", "mm_migrate_pages", "succeeded=nr_migrated failed=nr_failed mode reason",
       "thp_succeeded thp_failed thp_split large_folio_split"),
    _e("vmscan", "mm_vmscan_direct_reclaim_begin", "order gfp_flags"),
    _e("vmscan", "mm_vmscan_direct_reclaim_end", "nr_reclaimed"),
    _e("vmscan", "mm_vmscan_kswapd_wake", "nid order", "zid"),
    _e("vmscan", "mm_vmscan_kswapd_sleep", "nid"),
    _e("vmscan", "mm_vmscan_wakeup_kswapd", "nid order gfp_flags", "zid"),
    _e("huge_memory", "mm_khugepaged_scan_pmd", "pfn status"),
    _e("huge_memory", "mm_collapse_huge_page", "status"),
    _e("huge_memory", "mm_collapse_huge_page_isolate", "pfn status"),
)
EVENT_NAMES: tuple[str, ...] = tuple(e.name for e in EVENTS)
BY_NAME: dict[str, EventSpec] = {e.name: e for e in EVENTS}
DEFAULT_EVENTS: tuple[str, ...] = tuple(e.full_name for e in EVENTS)
REQUIRED_EVENTS: tuple[str, ...] = tuple(e.full_name for e in EVENTS if e.needed)

for _spec in EVENTS:  # the table is checked once, at import
    for _f, _c in _spec.fields:
        assert _c in _COLUMN, f"{_spec.name}.{_f} -> unknown column {_c}"


def event_dtype() -> pl.Enum:
    """The frame's ``event`` column type: an Enum of :data:`EVENT_NAMES`, in table order."""
    return pl.Enum(list(EVENT_NAMES))


def schema() -> dict[str, pl.DataType]:
    """Column name -> polars type of the event frame (``event`` an Enum)."""
    return {c.name: (event_dtype() if c.name == "event" else c.dtype) for c in COLUMNS}


def spec(name: str) -> EventSpec:
    """The spec for ``name`` given as 'mm_page_alloc' or 'kmem:mm_page_alloc'."""
    return BY_NAME[name.rpartition(":")[2]]
