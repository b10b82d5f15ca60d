"""Recording a real machine's page allocator: ``mmkit trace record``.

``record(dir, seconds)`` takes a snapshot, records the page allocator's tracepoints from
tracefs' per-CPU binary ring buffers, takes a second snapshot, and writes::

    DIR/
      events.parquet     the event table (below), zstd
      meta.json          kernel release, CPUs, events recorded and missing, lost counts
                         per CPU, times (CLOCK_MONOTONIC ns), durations, buffer size, rates
      formats/           header_page, header_event and SYSTEM/EVENT.format of each event
      start/  end/       snapshot folders (mmkit.snapshot.load)
      raw/cpuN.raw       only with keep_raw=True: the ring-buffer pages as read

``load(dir)`` reads it back as a :class:`Trace`; ``read_text(path)`` reads what
``perf script`` and ``trace-cmd report`` print for the same events into the same frame.

The event frame, one row per event, in time order:

* ``ts_ns`` (Int64): event time in ns of the trace clock (``mono``, CLOCK_MONOTONIC;
  text readers: the printed seconds, in ns), merged across CPUs in time order (ties:
  CPU, then ring order)
* ``cpu`` (Int16): the CPU whose ring buffer held the event
* ``event`` (Enum of :data:`EVENT_NAMES`): the tracepoint, without its system
* ``pid`` (Int32): ``common_pid``, the task running when it fired (0: idle/irq)
* ``pfn`` (Int64): page frame number (page events, extfrag, khugepaged); null for a
  failed allocation (the kernel's pfn -1)
* ``order`` (Int16): order (page events; extfrag's ``alloc_order``; the order of a
  compaction or reclaim request; kswapd/kcompactd wake order)
* ``gfp_flags`` (UInt64): gfp bits (mm_page_alloc; try_to_compact_pages' ``gfp_mask``;
  direct_reclaim_begin; wakeup_kswapd)
* ``migratetype`` (Int8): mm_page_alloc, pcpu_drain, zone_locked; extfrag's
  ``alloc_migratetype``
* ``fallback_order``, ``fallback_migratetype``, ``change_ownership``:
  mm_page_alloc_extfrag
* ``percpu_refill``: mm_page_alloc_zone_locked
* ``zone_start``, ``migrate_pfn``, ``free_pfn``, ``zone_end``, ``sync``: compaction
  begin/end; ``status``: compaction_end's COMPACT_* status, huge_memory's scan status
* ``start_pfn``, ``end_pfn``, ``nr_scanned``, ``nr_taken``: compaction isolate_*
* ``nr_migrated``, ``nr_failed``: mm_compaction_migratepages; mm_migrate_pages'
  ``succeeded`` and ``failed``
* ``thp_succeeded``, ``thp_failed``, ``thp_split``, ``large_folio_split``, ``mode``,
  ``reason``: mm_migrate_pages (``mode`` also try_to_compact_pages' ``prio``)
* ``nid``, ``zid``: node and zone index (compaction deferred/kcompactd, kswapd)
* ``nr_reclaimed``: mm_vmscan_direct_reclaim_end

A column an event does not have is null. :data:`COLUMNS` holds each column's type and
description.

Losses are never hidden: ``meta.json["lost"]`` and ``RecordInfo.lost`` give per CPU the
kernel's ``dropped_events`` and ``overrun`` (``per_cpu/cpuN/stats``), and the pages
flagged ``RB_MISSED_EVENTS`` with the counts they store; ``lost_total`` sums the
kernel's counts.
"""

from __future__ import annotations

from mmkit.errors import TraceError, TracingUnavailableError
from mmkit.trace.events import COLUMNS, DEFAULT_EVENTS, EVENT_NAMES, EVENTS, REQUIRED_EVENTS
from mmkit.trace.record import RecordInfo, record
from mmkit.trace.store import Trace, load
from mmkit.trace.text import read_text

__all__ = ["COLUMNS", "DEFAULT_EVENTS", "EVENTS", "EVENT_NAMES", "REQUIRED_EVENTS", "RecordInfo", "Trace",
           "TraceError", "TracingUnavailableError", "load", "main_record", "read_text", "record"]


def main_record(argv=None) -> int:
    """``mmkit trace record`` as a function of its arguments (see :mod:`mmkit.trace.cli`)."""
    from mmkit.trace.cli import main_record as _main

    return _main(argv)
