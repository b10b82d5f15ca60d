"""From raw per-CPU ring-buffer pages to the event frame: walk the pages
(:mod:`mmkit.trace.ringbuf`), split the records by ``common_type``, read each event's
fields at the offsets its ``format`` file gives, and merge the CPUs in time order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mmkit.trace import events as ev
from mmkit.errors import TraceError
from mmkit.trace.formats import EventFormat, PageHeader
from mmkit.trace.ringbuf import decode_fields, walk_pages

__all__ = ["CpuPages", "Decoded", "decode"]

# the kernel's "no page" pfn (mm_page_alloc of a failed allocation prints pfn -1UL)
NO_PFN = np.uint64(2**64 - 1)
_PFN_COLUMNS = {"pfn", "zone_start", "migrate_pfn", "free_pfn", "zone_end", "start_pfn", "end_pfn"}


@dataclass
class CpuPages:
    """One CPU's raw pages and where they came from (named in errors)."""

    cpu: int
    data: bytes | np.ndarray
    source: str


@dataclass
class Decoded:
    frame: pl.DataFrame
    pages: dict[int, int] = field(default_factory=dict)  # cpu -> pages read
    pages_missed: dict[int, int] = field(default_factory=dict)  # cpu -> pages flagged RB_MISSED_EVENTS
    missed_stored: dict[int, int] = field(default_factory=dict)  # cpu -> events counted lost in the pages
    counts: dict[str, int] = field(default_factory=dict)  # event -> records


def check_formats(formats: dict[int, EventFormat]) -> None:
    """Every required field of every recorded event is in its format: else the error
    names the event, the field and the format file."""
    for fmt in formats.values():
        if fmt.name not in ev.BY_NAME:
            continue
        spec = ev.BY_NAME[fmt.name]
        for f in spec.required:
            if fmt.field(f) is None:
                raise TraceError(f"{fmt.source}: event {spec.full_name} has no field '{f}', which mmkit needs "
                                 f"(fields: {', '.join(x.name for x in fmt.fields if not x.name.startswith('common_'))})")


def decode(cpus: list[CpuPages], header: PageHeader, formats: dict[int, EventFormat]) -> Decoded:
    """The event frame of the pages of every CPU, sorted by time (then CPU, then ring
    order), with the lost-event marks of the pages per CPU.

    ``formats`` maps event id to its format. Raises :class:`TraceError` (file named) for
    a bad page, an event id without a format, a record shorter than its format or a
    missing required field."""
    check_formats(formats)
    sch = ev.schema()
    out = Decoded(pl.DataFrame(schema=sch))
    parts: list[pl.DataFrame] = []
    ts_all = []
    offset = 0
    for cp in cpus:
        buf = np.frombuffer(cp.data, dtype=np.uint8) if not isinstance(cp.data, np.ndarray) else cp.data
        rec = walk_pages(buf, header, cp.source)
        out.pages[cp.cpu] = rec.pages
        out.pages_missed[cp.cpu] = rec.pages_missed
        out.missed_stored[cp.cpu] = rec.missed_stored
        n = len(rec.ts)
        if n == 0:
            continue
        ts_all.append(rec.ts)
        ctype = buf.view("<u2")[rec.pos >> 1] if not (rec.pos & 1).any() else \
            (buf[rec.pos].astype(np.uint16) | (buf[rec.pos + 1].astype(np.uint16) << 8))
        for t in np.unique(ctype):
            fmt = formats.get(int(t))
            sel = np.flatnonzero(ctype == t)
            if fmt is None:
                p = int(rec.page[sel[0]])
                raise TraceError(f"{cp.source}: page {p}: event id {int(t)} is not among the recorded formats "
                                 f"(ids {sorted(formats)}); the trace and its formats/ folder do not belong together")
            short = rec.length[sel] < fmt.size
            if short.any():
                k = int(sel[np.flatnonzero(short)[0]])
                raise TraceError(f"{cp.source}: page {int(rec.page[k])}: a {fmt.name} record of {int(rec.length[k])} "
                                 f"bytes, its format ({fmt.source}) needs {fmt.size}")
            spec = ev.BY_NAME.get(fmt.name)
            if spec is None:
                raise TraceError(f"{cp.source}: event {fmt.system}:{fmt.name} (id {int(t)}) is not one mmkit reads")
            present = [(f, c) for f, c in spec.fields if fmt.field(f) is not None]
            pos = rec.pos[sel]
            vals = decode_fields(buf, pos, fmt, [f for f, _ in present] + ["common_pid"], cp.source)
            cols = {"_row": sel.astype(np.int64) + offset,
                    "ts_ns": rec.ts[sel],
                    "cpu": np.full(len(sel), cp.cpu, np.int16),
                    "event": np.full(len(sel), ev.EVENT_NAMES.index(fmt.name), np.int8),
                    "pid": vals["common_pid"].astype(np.int32)}
            nulls = {}
            for f, c in present:
                v = vals[f]
                if c in _PFN_COLUMNS and v.dtype == np.uint64:
                    bad = v == NO_PFN
                    if bad.any():
                        nulls[c] = bad
                cols[c] = v
            df = pl.DataFrame(cols)
            exprs = [pl.when(pl.Series(m)).then(None).otherwise(pl.col(c)).alias(c) for c, m in nulls.items()]
            if exprs:
                df = df.with_columns(exprs)
            try:
                df = df.with_columns([pl.col(c).cast(sch[c]) for c in df.columns if c in sch and c != "event"])
            except pl.exceptions.PolarsError as e:
                raise TraceError(f"{cp.source}: a {fmt.name} field does not fit its column: {e}") from None
            parts.append(df)
            out.counts[fmt.name] = out.counts.get(fmt.name, 0) + len(sel)
        offset += n
    if not parts:
        return out
    ts = np.concatenate(ts_all)
    order = np.argsort(ts, kind="stable")  # CPUs in order, each in ring order: ties keep CPU then ring order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    full = pl.concat([p.with_columns(pl.Series("_row", rank[p["_row"].to_numpy()])) for p in parts],
                     how="diagonal_relaxed").sort("_row")
    out.frame = finish(full)
    return out


def finish(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with every column of the schema in order (absent ones null) and ``event``
    (codes into EVENT_NAMES) as the Enum."""
    sch = ev.schema()
    codes = df["event"].cast(pl.UInt32)
    df = df.with_columns(pl.Series("event", list(ev.EVENT_NAMES)).gather(codes).cast(ev.event_dtype()))
    return df.select([pl.col(c).cast(t) if c in df.columns else pl.lit(None, t).alias(c) for c, t in sch.items()])
