"""Decoding the pages that ``per_cpu/cpuN/trace_pipe_raw`` returns, vectorised with numpy.

A page (``events/header_page``) is a u64 timestamp, a commit word whose low 27 bits are
the bytes used and whose bits 31 and 30 say events were lost before this page
(``RB_MISSED_EVENTS``) and that their count is stored as an unsigned long right after
the data (``RB_MISSED_STORED``), then the records. Each record starts with a u32:
``type_len`` in the low 5 bits, ``time_delta`` in the high 27
(``kernel/trace/ring_buffer.c``, v6.18):

* type_len 1..28: a data record of ``type_len * 4`` bytes after the header;
* 0: a data record whose length (plus 4) is in ``array[0]``, data from ``array[1]``;
* 29 padding: with time_delta 0 the rest of the page is empty, else ``array[0] + 4`` bytes;
* 30 time extend: ``array[0] << 27 | time_delta`` is added to the clock (8 bytes);
* 31 absolute time stamp: ``array[0] << 27 | time_delta`` with the page's top 5 bits.

Records follow each other, so a page is walked record by record; all pages are walked
at once, one record of every page per numpy step (about 100 steps for 4 KiB pages of
40-byte records), so the cost is a few numpy operations per step, not per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmkit.errors import TraceError
from mmkit.trace.formats import EventFormat, PageHeader

__all__ = ["Records", "decode_fields", "walk_pages"]

COMMIT_MASK = (1 << 27) - 1
MISSED_EVENTS = 1 << 31
MISSED_STORED = 1 << 30
PADDING, TIME_EXTEND, TIME_STAMP, DATA_MAX = 29, 30, 31, 28
TS_BITS = 59  # an absolute time stamp carries 59 bits; the top 5 come from the page


@dataclass
class Records:
    """The data records of some pages: for each, its time (ns of the trace clock), the
    byte offset of its data in the buffer, its data length and its page's index; and the
    pages' lost-event marks."""

    ts: np.ndarray  # int64
    pos: np.ndarray  # int64, into the flat buffer
    length: np.ndarray  # int32
    page: np.ndarray  # int32
    pages: int
    pages_missed: int  # pages flagged RB_MISSED_EVENTS
    missed_stored: int  # sum of the counts stored after the data (RB_MISSED_STORED)


def _u32(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The little-endian u32s at byte offsets ``pos`` (4-aligned) as int64."""
    return buf.view("<u4")[pos >> 2].astype(np.int64)


def _u64(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return _u32(buf, pos) | (_u32(buf, pos + 4) << 32)


def walk_pages(data: bytes | np.ndarray, header: PageHeader, source: str = "trace_pipe_raw") -> Records:
    """Every data record of the whole pages in ``data`` (one CPU's ``trace_pipe_raw``
    output), in ring order.

    Raises :class:`TraceError` naming ``source``, the page and the byte offset for a
    partial last page, a commit larger than the page, or a record that runs past its
    page's commit or has a zero or impossible length."""
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    P = header.page_size
    if P % 8 or header.data_offset % 8:
        raise TraceError(f"{source}: page size {P}, data offset {header.data_offset}: not 8-byte aligned")
    if len(buf) % P:
        raise TraceError(f"{source}: {len(buf)} bytes is not a whole number of {P}-byte pages "
                         f"(truncated: the last page has {len(buf) % P} bytes)")
    n = len(buf) // P
    if n == 0:
        e = np.zeros(0, np.int64)
        return Records(e, e, np.zeros(0, np.int32), np.zeros(0, np.int32), 0, 0, 0)
    starts = np.arange(n, dtype=np.int64) * P
    page_ts = _u64(buf, starts + header.timestamp_offset)
    commit = _u64(buf, starts + header.commit_offset) if header.commit_size == 8 else \
        _u32(buf, starts + header.commit_offset)
    size = commit & COMMIT_MASK
    bad = np.flatnonzero(size > header.data_size)
    if bad.size:
        i = int(bad[0])
        raise TraceError(f"{source}: page {i} (byte {i * P}): commit says {int(size[i])} bytes, "
                         f"a page holds {header.data_size} (corrupt page header)")
    missed = (commit & MISSED_EVENTS) != 0
    stored = (commit & MISSED_STORED) != 0
    missed_stored = 0
    if stored.any():
        s = np.flatnonzero(stored & (size + 8 <= header.data_size))
        missed_stored = int(_u64(buf, starts[s] + header.data_offset + size[s]).sum()) if s.size else 0
    # 4-byte alignment of records inside the data area
    if (size % 4).any():
        i = int(np.flatnonzero(size % 4)[0])
        raise TraceError(f"{source}: page {i}: commit {int(size[i])} is not a multiple of 4 (corrupt page header)")

    base = starts + header.data_offset
    cur = np.zeros(n, np.int64)
    ts = page_ts.astype(np.int64)
    ts_hi = page_ts & ~np.int64((1 << TS_BITS) - 1) if n else page_ts
    out_ts, out_pos, out_len, out_page, out_k = [], [], [], [], []
    kcount = np.zeros(n, np.int64)  # data records found so far in each page
    last_word = len(buf) // 4 - 1
    act = np.flatnonzero(cur < size)
    while act.size:
        c = cur[act]
        pos = base[act] + c
        w = _u32(buf, pos)
        tl = w & 31
        td = w >> 5
        a0 = buf.view("<u4")[np.minimum((pos >> 2) + 1, last_word)].astype(np.int64)
        length = np.where((tl >= 1) & (tl <= DATA_MAX), 4 + tl * 4, 8)
        is_data = tl <= DATA_MAX
        long_data = tl == 0
        length = np.where(long_data, a0 + 4, length)
        pad = tl == PADDING
        length = np.where(pad, np.where(td == 0, size[act] - c, a0 + 4), length)
        # a record needs its header (and array[0] where it is read) inside the page
        need = np.where((tl >= 1) & (tl <= DATA_MAX), length, np.maximum(length, 8))
        need = np.where(pad & (td == 0), 4, need)
        wrong = (length < 4) | (c + need > size[act]) | (long_data & (a0 < 8)) | (length > header.data_size)
        if wrong.any():
            k = int(np.flatnonzero(wrong)[0])
            i = int(act[k])
            raise TraceError(f"{source}: page {i} (byte {i * P}), record at data offset {int(c[k])}: type_len "
                             f"{int(tl[k])}, length {int(length[k])} runs past the page's {int(size[i])} bytes "
                             "(corrupt or truncated page)")
        # the clock: data records add their delta; extends add theirs; stamps set it
        t = ts[act]
        t = np.where(is_data, t + td, t)
        ext = tl == TIME_EXTEND
        t = np.where(ext, t + ((a0 << 27) | td), t)
        stamp = tl == TIME_STAMP
        if stamp.any():
            t = np.where(stamp, ((a0 << 27) | td) | ts_hi[act], t)
        ts[act] = t
        if is_data.any():
            d = np.flatnonzero(is_data)
            out_ts.append(t[d])
            out_pos.append(pos[d] + np.where(long_data[d], 8, 4))
            out_len.append(np.where(long_data[d], a0[d] - 4, tl[d] * 4).astype(np.int32))
            out_page.append(act[d].astype(np.int32))
            out_k.append(kcount[act[d]])
            kcount[act[d]] += 1
        cur[act] = c + length
        act = act[cur[act] < size[act]]

    if out_ts:
        # the records come step by step (record k of every page); put them back in ring
        # order (page, then k) by counting, not sorting
        page = np.concatenate(out_page)
        dest = (np.cumsum(kcount) - kcount)[page] + np.concatenate(out_k)
        res = []
        for parts in (out_ts, out_pos, out_len):
            a = np.concatenate(parts)
            b = np.empty_like(a)
            b[dest] = a
            res.append(b)
        pg = np.empty_like(page)
        pg[dest] = page
        return Records(res[0], res[1], res[2], pg, n, int(missed.sum()), missed_stored)
    e = np.zeros(0, np.int64)
    return Records(e, e, np.zeros(0, np.int32), np.zeros(0, np.int32), n, int(missed.sum()), missed_stored)


_DTYPES = {(1, False): "u1", (1, True): "i1", (2, False): "<u2", (2, True): "<i2", (4, False): "<u4",
           (4, True): "<i4", (8, False): "<u8", (8, True): "<i8"}


def decode_fields(buf: np.ndarray, pos: np.ndarray, fmt: EventFormat, names: list[str],
                  source: str) -> dict[str, np.ndarray]:
    """The fields ``names`` of the records of one event type at byte offsets ``pos``, as
    numpy arrays typed by the format's size and signedness (``bool`` as u1)."""
    fields = []
    for name in names:
        f = fmt.field(name)
        if f is None:
            raise TraceError(f"{source}: event {fmt.system}:{fmt.name} has no field '{name}' that mmkit reads")
        if f.data_loc or f.array is not None or (f.size, f.signed) not in _DTYPES:
            raise TraceError(f"{source}: {fmt.system}:{fmt.name}.{name} is {f.type} of {f.size} bytes; "
                             "mmkit reads it as a 1-, 2-, 4- or 8-byte integer")
        fields.append(f)
    if not fields or not len(pos):
        return {f.name: np.zeros(0, _DTYPES[(f.size, f.signed)]) for f in fields}
    out = {}
    aligned4 = not (pos & 3).any()
    for f in fields:
        dt = np.dtype(_DTYPES[(f.size, f.signed)])
        at = pos + f.offset
        if f.size == 1:
            v = buf[at]
        elif f.size in (4, 8) and aligned4 and f.offset % 4 == 0:  # records are 4-byte aligned: u32 gathers
            w = buf.view("<u4")
            v = w[at >> 2]
            if f.size == 8:
                v = v.astype(np.uint64) | (w[(at >> 2) + 1].astype(np.uint64) << np.uint64(32))
        elif f.size == 2 and not (at & 1).any():
            v = buf.view("<u2")[at >> 1]
        else:  # unaligned: gather the bytes
            v = np.ascontiguousarray(buf[at[:, None] + np.arange(f.size)]).view(f"<u{f.size}").reshape(-1)
        out[f.name] = v.view(dt) if v.dtype.itemsize == dt.itemsize else v.astype(dt)
    return out
