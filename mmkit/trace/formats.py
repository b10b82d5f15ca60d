"""Parsing tracefs' self-description: each event's ``format`` file (field name, type,
offset, size, signedness, ``__data_loc`` and arrays, the ``common_*`` header), the ring
buffer's ``events/header_page`` (page timestamp, commit word, data area) and
``events/header_event`` (the compressed record header: 5-bit type_len, 27-bit time delta,
padding 29, time extend 30, absolute time stamp 31, data up to type_len 28), as
``kernel/trace/ring_buffer.c`` and ``kernel/trace/trace_events.c`` print them (v6.18).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mmkit.errors import TraceError

__all__ = ["EventFormat", "Field", "PageHeader", "parse_event_format", "parse_header_event", "parse_header_page"]

_FIELD = re.compile(r"^\s*field:\s*(?P<decl>[^;]*);\s*offset:\s*(?P<offset>\d+);\s*size:\s*(?P<size>\d+);"
                    r"(?:\s*signed:\s*(?P<signed>-?\d+);)?")
_DECL = re.compile(r"^(?P<type>.*?)\s*\b(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(?P<array>[^\]]*)\])?\s*$")


@dataclass(frozen=True)
class Field:
    """One field of an event record: ``offset`` and ``size`` in bytes from the record's
    start; ``data_loc`` for ``__data_loc`` fields (a u32: length << 16 | offset)."""

    name: str
    type: str
    offset: int
    size: int
    signed: bool
    data_loc: bool = False
    array: int | None = None  # element count of a fixed array, e.g. char comm[16]

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class EventFormat:
    """An event's ``format`` file: its id (the record's ``common_type``), fields and print fmt."""

    system: str
    name: str
    id: int
    fields: tuple[Field, ...]
    print_fmt: str
    source: str

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def size(self) -> int:
        """Bytes a record needs to hold every fixed field."""
        return max((f.end for f in self.fields), default=0)


@dataclass(frozen=True)
class PageHeader:
    """``events/header_page``: where a ring-buffer page keeps its timestamp, its commit
    word (bytes used, and the missed-events flags in bits 31 and 30) and its data."""

    timestamp_offset: int
    commit_offset: int
    commit_size: int
    data_offset: int
    data_size: int

    @property
    def page_size(self) -> int:
        return self.data_offset + self.data_size


def _fields(text: str, source: str) -> list[Field]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if "field:" not in line:
            continue
        m = _FIELD.match(line)
        if not m:
            raise TraceError(f"{source}: line {lineno} is not a field line: {line.strip()!r}")
        decl = m["decl"].strip()
        data_loc = decl.startswith("__data_loc") or decl.startswith("__rel_loc")
        d = _DECL.match(decl)
        if not d:
            raise TraceError(f"{source}: line {lineno}: cannot read the field declaration {decl!r}")
        arr = d["array"]
        array = int(arr) if arr and arr.strip().isdigit() else None
        signed = m["signed"] is not None and m["signed"] not in ("0",)
        out.append(Field(d["name"], d["type"].strip(), int(m["offset"]), int(m["size"]), signed, data_loc, array))
    return out


def parse_event_format(text: str, system: str = "", source: str = "format") -> EventFormat:
    """An :class:`EventFormat` from the text of ``events/SYSTEM/EVENT/format``.

    Raises :class:`TraceError` naming ``source`` when the name, the ID or the
    ``common_type`` field is missing or a field line cannot be read."""
    name = re.search(r"^name:\s*(\S+)", text, re.M)
    ident = re.search(r"^ID:\s*(\d+)", text, re.M)
    if not name or not ident:
        raise TraceError(f"{source}: not an event format file (no 'name:' or 'ID:' line)")
    fields = _fields(text, source)
    pf = re.search(r"^print fmt:\s*(.*)$", text, re.M | re.S)
    fmt = EventFormat(system, name[1], int(ident[1]), tuple(fields), pf[1].strip() if pf else "", source)
    ct = fmt.field("common_type")
    if ct is None:
        raise TraceError(f"{source}: event {name[1]} has no common_type field")
    if (ct.offset, ct.size) != (0, 2):
        raise TraceError(f"{source}: common_type at offset {ct.offset} size {ct.size}; mmkit reads it at 0, size 2")
    return fmt


def parse_header_page(text: str, source: str = "header_page") -> PageHeader:
    """A :class:`PageHeader` from ``events/header_page``: ``timestamp``, ``commit`` and
    ``data`` must be there (the ``overwrite`` alias of commit's low byte is ignored)."""
    f = {x.name: x for x in _fields(text, source)}
    for need in ("timestamp", "commit", "data"):
        if need not in f:
            raise TraceError(f"{source}: no '{need}' field in the ring-buffer page header")
    if f["timestamp"].size != 8 or f["commit"].size not in (4, 8):
        raise TraceError(f"{source}: timestamp size {f['timestamp'].size}, commit size {f['commit'].size}; "
                         "mmkit reads a u64 timestamp and a 4- or 8-byte commit")
    return PageHeader(f["timestamp"].offset, f["commit"].offset, f["commit"].size, f["data"].offset, f["data"].size)


# what ring_buffer.c's ring_buffer_print_entry_header() prints, which the parser assumes
EXPECTED_HEADER_EVENT = {"type_len": 5, "time_delta": 27, "array": 32, "padding": 29, "time_extend": 30,
                         "time_stamp": 31, "data max type_len": 28}


def parse_header_event(text: str, source: str = "header_event") -> dict[str, int]:
    """``events/header_event`` as a dict; raises :class:`TraceError` unless it is the
    layout mmkit decodes (:data:`EXPECTED_HEADER_EVENT`)."""
    got: dict[str, int] = {}
    for key in ("type_len", "time_delta", "array"):
        m = re.search(rf"^\s*{key}\s*:\s*(\d+)\s*bits", text, re.M)
        if m:
            got[key] = int(m[1])
    for key in ("padding", "time_extend", "time_stamp"):
        m = re.search(rf"^\s*{key}\s*:\s*type\s*==\s*(\d+)", text, re.M)
        if m:
            got[key] = int(m[1])
    m = re.search(r"data max type_len\s*==\s*(\d+)", text)
    if m:
        got["data max type_len"] = int(m[1])
    for key, want in EXPECTED_HEADER_EVENT.items():
        if got.get(key) != want:
            raise TraceError(f"{source}: ring-buffer event header has {key} = {got.get(key)}, mmkit decodes {want}")
    return got


def read_formats(root: Path, names: list[tuple[str, str]]) -> tuple[dict[str, EventFormat], dict[str, str]]:
    """Read ``root/SYSTEM/EVENT/format`` for each (system, event): the formats found and,
    for the others, why not (``{'compaction:x': 'not in this kernel'}``)."""
    found: dict[str, EventFormat] = {}
    missing: dict[str, str] = {}
    for system, event in names:
        p = root / system / event / "format"
        try:
            text = p.read_text()
        except FileNotFoundError:
            missing[f"{system}:{event}"] = "not in this kernel"
            continue
        except OSError as e:
            missing[f"{system}:{event}"] = f"cannot read {p}: {e.strerror}"
            continue
        found[f"{system}:{event}"] = parse_event_format(text, system, str(p))
    return found, missing
