"""Parsers for the text files the kernel prints about memory, returning polars frames.

Every parser is driven by what the file itself says (its header lines, the number of
columns on each line), never by column positions fixed in advance, because the layout
changes with the kernel and its configuration:

* the number of orders (``MAX_ORDER`` before v6.4, ``NR_PAGE_ORDERS`` after) is 11 on
  x86-64 and e.g. 13 on arm64 with 64 KiB pages;
* the migratetypes are ``migratetype_names[]``: ``Unmovable Reclaimable Movable Reserve``
  before v4.4, ``Unmovable Movable Reclaimable HighAtomic`` after, each followed by ``CMA``
  (``CONFIG_CMA``) and ``Isolate`` (``CONFIG_MEMORY_ISOLATION``);
* ``pagetypeinfo`` has a "Number of mixed blocks" section only when page_owner is on
  (``pagetypeinfo_showmixedcount``), and modern kernels cap each free-list count at
  100000 and print it as ``>100000`` (``pagetypeinfo_showfree_print``);
* ``zoneinfo`` gained per-node stats, ``boost``, ``promo``, ``cma``, ``high_min`` ... and
  lists unpopulated zones since v4.12 (b2bd8598195f "mm, vmstat: print
  non-populated zones in zoneinfo"; ``zoneinfo_show_print``).

The print formats are those of ``mm/vmstat.c`` (torvalds/linux, v4.5 at
8041dcc881c9 and v6.1x at 00c010e130e5): ``frag_show_print`` (buddyinfo),
``pagetypeinfo_showfree_print`` / ``pagetypeinfo_showblockcount_print`` /
``pagetypeinfo_showmixedcount``, ``zoneinfo_show_print``, ``vmstat_show``,
``unusable_show_print`` and ``extfrag_show_print`` (debugfs ``extfrag/``).

Any line that does not fit raises :class:`~mmkit.errors.SnapshotError` naming the file,
the line number and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from mmkit.errors import SnapshotError

__all__ = [
    "EMPTY_PAGETYPEINFO_HINT",
    "PageTypeInfo",
    "UNNAMED_KEY",
    "parse_buddyinfo",
    "parse_debugfs_index",
    "parse_extfrag_index",
    "parse_meminfo",
    "parse_pagetypeinfo",
    "parse_unusable_index",
    "parse_vmstat",
    "parse_zoneinfo",
]

_I64_MAX = (1 << 63) - 1
_I64_MIN = -(1 << 63)
# an order-64 block would be 2^64 pages: no 64-bit kernel has that many orders (real ones
# have 11 to about 20: MAX_PAGE_ORDER + PAGE_SHIFT <= SECTION_SIZE_BITS)
_MAX_ORDERS = 64


def _fail(name: str, lineno: int, what: str, line: str) -> SnapshotError:
    shown = line if len(line) <= 120 else line[:117] + "..."
    return SnapshotError(f"{name} line {lineno}: {what}: {shown!r}")


def _int(tok: str, name: str, lineno: int, line: str, *, signed: bool = False) -> int:
    """One decimal number as the kernel prints it (``%lu``, ``%ld``, ``%d``)."""
    pat = _SIGNED if signed else _UNSIGNED
    if not pat.fullmatch(tok):
        raise _fail(name, lineno, f"expected a {'signed ' if signed else ''}decimal number, got {tok!r}", line)
    if len(tok.lstrip("-0")) > 19:  # more digits than any 64-bit value (int() refuses past 4300)
        raise _fail(name, lineno, f"number {tok if len(tok) <= 24 else tok[:21] + '...'} does not fit in 64 bits", line)
    v = int(tok)
    if not _I64_MIN <= v <= _I64_MAX:
        raise _fail(name, lineno, f"number {tok} does not fit in 64 bits", line)
    return v


_UNSIGNED = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"-?[0-9]+")


def _lines(text: str):
    """(lineno, line) for every line, 1-based, without the newline."""
    return enumerate(text.split("\n"), start=1)


# --------------------------------------------------------------------------- buddyinfo
_ZONE_LINE = re.compile(r"Node\s+(\d+),\s+zone\s+(\S+)(.*)")


def parse_buddyinfo(text: str, name: str = "buddyinfo") -> pl.DataFrame:
    """``/proc/buddyinfo`` as a long frame ``node, zone, order, nr_free``.

    The kernel prints one line per populated zone (``frag_show``, which walks zones with
    ``walk_zones_in_node(..., assert_populated=true)``): ``"Node %d, zone %8s "`` then
    ``"%6lu "`` for each order's ``free_area[order].nr_free``. The number of orders is
    read from the lines (all lines must agree).
    """
    rows_node: list[int] = []
    rows_zone: list[str] = []
    rows_order: list[int] = []
    rows_free: list[int] = []
    n_orders = None
    seen: set[tuple[int, str]] = set()
    for lineno, line in _lines(text):
        if not line.strip():
            continue
        m = _ZONE_LINE.fullmatch(line)
        if not m:
            raise _fail(name, lineno, "expected 'Node N, zone NAME' followed by free counts per order", line)
        node = _int(m.group(1), name, lineno, line)
        zone = m.group(2)
        counts = [_int(t, name, lineno, line) for t in m.group(3).split()]
        if not counts:
            raise _fail(name, lineno, "no free counts after the zone name", line)
        if len(counts) > _MAX_ORDERS:
            raise _fail(name, lineno, f"{len(counts)} orders; a 64-bit kernel has at most {_MAX_ORDERS}", line)
        if sum(c << order for order, c in enumerate(counts)) > _I64_MAX:
            raise _fail(name, lineno, "the free blocks add up to more pages than 64 bits count", line)
        if n_orders is None:
            n_orders = len(counts)
        elif len(counts) != n_orders:
            raise _fail(name, lineno, f"{len(counts)} orders, but the first line has {n_orders}", line)
        if (node, zone) in seen:
            raise _fail(name, lineno, f"zone {zone} of node {node} listed twice", line)
        seen.add((node, zone))
        for order, c in enumerate(counts):
            rows_node.append(node)
            rows_zone.append(zone)
            rows_order.append(order)
            rows_free.append(c)
    if n_orders is None:
        raise SnapshotError(f"{name}: no zone lines (the file is empty)")
    return pl.DataFrame(
        {"node": rows_node, "zone": rows_zone, "order": rows_order, "nr_free": rows_free},
        schema={"node": pl.Int64, "zone": pl.String, "order": pl.Int64, "nr_free": pl.Int64},
    )


# ------------------------------------------------------------------------ pagetypeinfo
@dataclass(frozen=True)
class PageTypeInfo:
    """``/proc/pagetypeinfo`` parsed (``pagetypeinfo_show``, one block per node).

    ``free``: ``node, zone, type, order, nr_free, capped`` (``capped`` is true where the
    kernel stopped counting at 100000 and printed ``>100000``). ``blocks``: ``node, zone,
    type, count`` (pageblocks per migratetype, ``pagetypeinfo_showblockcount_print``).
    ``mixed``: the same layout for "Number of mixed blocks" (page_owner kernels only),
    else ``None``. ``migratetypes``: the names in the kernel's order, from the headers.
    """

    pageblock_order: int
    pages_per_block: int
    migratetypes: tuple[str, ...]
    orders: int
    free: pl.DataFrame
    blocks: pl.DataFrame
    mixed: pl.DataFrame | None


# /proc/pagetypeinfo is mode 0400 since v5.4 ("mm, vmstat: hide /proc/pagetypeinfo from normal
# users"); copies made without root (some collection tools) come out empty
EMPTY_PAGETYPEINFO_HINT = "/proc/pagetypeinfo is readable by root only since v5.4; a copy made without root is empty"

_FREE_ROW = re.compile(r"Node\s+(\d+),\s+zone\s+(\S+),\s+type\s+(\S+)(.*)")
_FREE_HEADER = "Free pages count per migrate type at order"
_BLOCKS_HEADER = "Number of blocks type"
_MIXED_HEADER = "Number of mixed blocks"


def buddyinfo_zone_table(buddyinfo: pl.DataFrame) -> tuple[tuple[str, ...], tuple[int, ...], np.ndarray]:
    """A :func:`parse_buddyinfo` frame as Memory has it: each line's zone name and node,
    and the free blocks per line per order, int64 ``[lines, orders]``."""
    keys = buddyinfo.select("node", "zone").unique(maintain_order=True)
    n_orders = int(buddyinfo["order"].max()) + 1
    nr_free = buddyinfo["nr_free"].to_numpy().astype(np.int64).reshape(keys.height, n_orders)
    return tuple(keys["zone"].to_list()), tuple(keys["node"].to_list()), nr_free


def parse_pagetypeinfo(text: str, name: str = "pagetypeinfo") -> PageTypeInfo:
    """``/proc/pagetypeinfo``: free-list counts per migratetype and pageblock counts.

    Layout per node (``pagetypeinfo_show``): ``Page block order: %d``, ``Pages per block:
    %lu``, a blank line, the free section (header ``"%-43s "`` + ``"%6d "`` per order, rows
    ``"Node %4d, zone %8s, type %12s "`` + ``"%6lu "`` or ``"%s%6lu "`` with ``>``), a blank
    line, ``"Number of blocks type "`` + ``"%12s "`` per migratetype and rows
    ``"Node %d, zone %8s "`` + ``"%12lu "``, then optionally the same for "Number of
    mixed blocks". Orders and migratetypes come from the headers.
    """
    pb_order = None
    per_block = None
    orders = None
    types: tuple[str, ...] | None = None
    free = {"node": [], "zone": [], "type": [], "order": [], "nr_free": [], "capped": []}
    blocks = {"node": [], "zone": [], "type": [], "count": []}
    mixed = {"node": [], "zone": [], "type": [], "count": []}
    have_mixed = False
    section = None  # "free", "blocks", "mixed"
    section_types: tuple[str, ...] = ()
    free_types_seen: list[str] = []

    for lineno, line in _lines(text):
        s = line.strip()
        if not s:
            continue
        if s.startswith("Page block order:"):
            v = _int(s.split(":", 1)[1].strip(), name, lineno, line)
            if pb_order is not None and v != pb_order:
                raise _fail(name, lineno, f"page block order {v} differs from {pb_order} above", line)
            pb_order, section = v, None
            continue
        if s.startswith("Pages per block:"):
            v = _int(s.split(":", 1)[1].strip(), name, lineno, line)
            if per_block is not None and v != per_block:
                raise _fail(name, lineno, f"pages per block {v} differs from {per_block} above", line)
            per_block, section = v, None
            continue
        if s.startswith(_FREE_HEADER):
            hdr = [_int(t, name, lineno, line) for t in s[len(_FREE_HEADER):].split()]
            if not hdr or hdr != list(range(len(hdr))):
                raise _fail(name, lineno, "the order header must list 0, 1, 2, ...", line)
            if len(hdr) > _MAX_ORDERS:
                raise _fail(name, lineno, f"{len(hdr)} orders; a 64-bit kernel has at most {_MAX_ORDERS}", line)
            if orders is not None and len(hdr) != orders:
                raise _fail(name, lineno, f"{len(hdr)} orders, but an earlier header has {orders}", line)
            orders, section = len(hdr), "free"
            continue
        if s.startswith(_BLOCKS_HEADER) or s.startswith(_MIXED_HEADER):
            is_mixed = s.startswith(_MIXED_HEADER)
            names = tuple(s[len(_MIXED_HEADER if is_mixed else _BLOCKS_HEADER):].split())
            if not names:
                raise _fail(name, lineno, "no migratetype names in the header", line)
            if types is not None and names != types:
                raise _fail(name, lineno, f"migratetypes {names} differ from {types} above", line)
            types = names
            section, section_types = ("mixed" if is_mixed else "blocks"), names
            have_mixed = have_mixed or is_mixed
            continue
        if section == "free":
            m = _FREE_ROW.fullmatch(line)
            if not m:
                raise _fail(name, lineno, "expected 'Node N, zone NAME, type TYPE' and free counts", line)
            node = _int(m.group(1), name, lineno, line)
            toks = m.group(4).split()
            if len(toks) != orders:
                raise _fail(name, lineno, f"{len(toks)} counts for {orders} orders in the header", line)
            free_types_seen.append(m.group(3))
            for order, tok in enumerate(toks):
                capped = tok.startswith(">")
                free["node"].append(node)
                free["zone"].append(m.group(2))
                free["type"].append(m.group(3))
                free["order"].append(order)
                free["nr_free"].append(_int(tok[1:] if capped else tok, name, lineno, line))
                free["capped"].append(capped)
            continue
        if section in ("blocks", "mixed"):
            m = _ZONE_LINE.fullmatch(line)
            if not m:
                raise _fail(name, lineno, "expected 'Node N, zone NAME' and one count per migratetype", line)
            node = _int(m.group(1), name, lineno, line)
            toks = m.group(3).split()
            if len(toks) != len(section_types):
                raise _fail(name, lineno, f"{len(toks)} counts for {len(section_types)} migratetypes in the header",
                            line)
            dest = blocks if section == "blocks" else mixed
            for t, tok in zip(section_types, toks):
                dest["node"].append(node)
                dest["zone"].append(m.group(2))
                dest["type"].append(t)
                dest["count"].append(_int(tok, name, lineno, line))
            continue
        raise _fail(name, lineno, "unexpected line outside any section", line)

    if pb_order is None and per_block is None and orders is None and types is None:
        raise SnapshotError(f"{name}: the file is empty ({EMPTY_PAGETYPEINFO_HINT})")
    missing = [what for what, v in (("'Page block order:'", pb_order), ("'Pages per block:'", per_block),
                                    (f"'{_FREE_HEADER}'", orders), (f"'{_BLOCKS_HEADER}'", types)) if v is None]
    if missing:
        raise SnapshotError(f"{name}: missing {', '.join(missing)} (is this a pagetypeinfo file?)")
    assert types is not None and orders is not None and pb_order is not None and per_block is not None
    if pb_order > 62 or per_block != 1 << pb_order:  # no 2^pb_order of a huge order
        raise SnapshotError(f"{name}: 'Pages per block: {per_block}' is not 2^{pb_order}")
    unknown = sorted(set(free_types_seen) - set(types))
    if unknown:
        raise SnapshotError(f"{name}: free-list rows name migratetypes {unknown} missing from the header {types}")

    fschema = {"node": pl.Int64, "zone": pl.String, "type": pl.String, "order": pl.Int64,
               "nr_free": pl.Int64, "capped": pl.Boolean}
    bschema = {"node": pl.Int64, "zone": pl.String, "type": pl.String, "count": pl.Int64}
    return PageTypeInfo(
        pageblock_order=pb_order,
        pages_per_block=per_block,
        migratetypes=types,
        orders=orders,
        free=pl.DataFrame(free, schema=fschema),
        blocks=pl.DataFrame(blocks, schema=bschema),
        mixed=pl.DataFrame(mixed, schema=bschema) if have_mixed else None,
    )


# ---------------------------------------------------------------- extfrag / unusable
_INDEX_TOKEN = re.compile(r"(-?[0-9]+)\.(-[0-9]{2,}|[0-9]{3,})")  # "%03d": -07, -62, -500, 062


def parse_debugfs_index(text: str, name: str) -> pl.DataFrame:
    """A debugfs ``extfrag/`` file as ``node, zone, order, index`` (index as the kernel's int).

    Each value was printed as ``index / 1000`` "." ``index % 1000`` with C's truncating
    division (``"%d.%03d "`` or ``"%2d.%03d "``), so ``index = whole * 1000 + frac``
    recovers it exactly, also for the odd negative values such as ``0.-500`` that
    ``__fragmentation_index`` can produce.
    """
    rows = {"node": [], "zone": [], "order": [], "index": []}
    n_orders = None
    for lineno, line in _lines(text):
        if not line.strip():
            continue
        m = _ZONE_LINE.fullmatch(line)
        if not m:
            raise _fail(name, lineno, "expected 'Node N, zone NAME' followed by one index per order", line)
        node = _int(m.group(1), name, lineno, line)
        toks = m.group(3).split()
        if not toks:
            raise _fail(name, lineno, "no values after the zone name", line)
        if len(toks) > _MAX_ORDERS:
            raise _fail(name, lineno, f"{len(toks)} orders; a 64-bit kernel has at most {_MAX_ORDERS}", line)
        if n_orders is None:
            n_orders = len(toks)
        elif len(toks) != n_orders:
            raise _fail(name, lineno, f"{len(toks)} orders, but the first line has {n_orders}", line)
        for order, tok in enumerate(toks):
            vm = _INDEX_TOKEN.fullmatch(tok)
            if not vm:
                raise _fail(name, lineno, f"expected a value like 0.123 or -1.000, got {tok!r}", line)
            rows["node"].append(node)
            rows["zone"].append(m.group(2))
            rows["order"].append(order)
            index = (_int(vm.group(1), name, lineno, line, signed=True) * 1000
                     + _int(vm.group(2), name, lineno, line, signed=True))
            if not _I64_MIN <= index <= _I64_MAX:
                raise _fail(name, lineno, f"value {tok} does not fit in 64 bits", line)
            rows["index"].append(index)
    if n_orders is None:
        raise SnapshotError(f"{name}: no zone lines (the file is empty)")
    return pl.DataFrame(rows, schema={"node": pl.Int64, "zone": pl.String, "order": pl.Int64, "index": pl.Int64})


def parse_extfrag_index(text: str, name: str = "extfrag_index") -> pl.DataFrame:
    """debugfs ``extfrag/extfrag_index`` (``extfrag_show_print``); see :func:`parse_debugfs_index`."""
    return parse_debugfs_index(text, name)


def parse_unusable_index(text: str, name: str = "unusable_index") -> pl.DataFrame:
    """debugfs ``extfrag/unusable_index`` (``unusable_show_print``); see :func:`parse_debugfs_index`."""
    return parse_debugfs_index(text, name)


# ------------------------------------------------------------------ vmstat / meminfo
def parse_vmstat(text: str, name: str = "vmstat") -> pl.DataFrame:
    """``/proc/vmstat`` as ``key, value`` in file order (``vmstat_show``: ``"%s %lu\\n"``)."""
    keys: list[str] = []
    vals: list[int] = []
    seen: set[str] = set()
    for lineno, line in _lines(text):
        if not line.strip():
            continue
        toks = line.split()
        if len(toks) != 2:
            raise _fail(name, lineno, "expected 'name value'", line)
        if toks[0] in seen:
            raise _fail(name, lineno, f"{toks[0]} listed twice", line)
        seen.add(toks[0])
        keys.append(toks[0])
        vals.append(_int(toks[1], name, lineno, line, signed=True))
    if not keys:
        raise SnapshotError(f"{name}: the file is empty")
    return pl.DataFrame({"key": keys, "value": vals}, schema={"key": pl.String, "value": pl.Int64})


_MEMINFO_LINE = re.compile(r"([^:\s][^:]*):\s+(-?[0-9]+)(?:\s+(kB))?\s*")


def parse_meminfo(text: str, name: str = "meminfo") -> pl.DataFrame:
    """``/proc/meminfo`` as ``key, value, unit`` (unit ``"kB"`` or null, e.g. HugePages_Total).

    ``fs/proc/meminfo.c`` prints ``"%s:%*lu kB\\n"`` through ``show_val_kb`` and a few
    plain counts without unit.
    """
    keys: list[str] = []
    vals: list[int] = []
    units: list[str | None] = []
    for lineno, line in _lines(text):
        if not line.strip():
            continue
        m = _MEMINFO_LINE.fullmatch(line)
        if not m:
            raise _fail(name, lineno, "expected 'Name:   value [kB]'", line)
        keys.append(m.group(1))
        vals.append(_int(m.group(2), name, lineno, line, signed=True))
        units.append(m.group(3))
    if not keys:
        raise SnapshotError(f"{name}: the file is empty")
    return pl.DataFrame({"key": keys, "value": vals, "unit": units},
                        schema={"key": pl.String, "value": pl.Int64, "unit": pl.String})


# --------------------------------------------------------------------------- zoneinfo
_ZI_ZONE = re.compile(r"Node\s+(\d+),\s+zone\s+(\S+)\s*")
_ZI_CPU = re.compile(r"\s+cpu:\s+(\d+)(?:\s+pcp:\s+(\d+))?\s*")
# 2.6.x: "\n        scanned  %lu (a: %lu i: %lu)" (pages_scanned, nr_scan_active, nr_scan_inactive)
_ZI_SCANNED = re.compile(r"\s+scanned\s+([0-9]+)\s+\(a:\s+([0-9]+)\s+i:\s+([0-9]+)\)\s*")
# a counter whose name is "" prints as "      %-12s %lu": spaces, then the value
_ZI_UNNAMED = re.compile(r"\s+(-?[0-9]+)\s*")
UNNAMED_KEY = "(unnamed)"
_PCP_FIELDS = ("count", "low", "high", "batch")  # struct per_cpu_pages, as zoneinfo prints it
_ZI_PROTECTION = re.compile(r"\s+protection:\s+\(([-0-9, ]*)\)\s*")
_ZI_KV = re.compile(r"\s+([A-Za-z_][A-Za-z0-9_ ()]*?):?\s+(-?[0-9]+)\s*")

_ZONE_SCOPE_TAIL = ("node_unreclaimable", "all_unreclaimable", "start_pfn", "inactive_ratio", "prev_priority")


def parse_zoneinfo(text: str, name: str = "zoneinfo") -> pl.DataFrame:
    """``/proc/zoneinfo`` as a long frame ``node, zone, scope, cpu, key, value``.

    ``zoneinfo_show_print`` prints for each zone ``"Node %d, zone %8s"``; on the node's
    first populated zone (v4.8+) ``per-node stats`` (scope ``"node"``); then ``pages
    free``, the watermarks, ``spanned``/``present``/``managed``, ``protection: (...)``
    (keys ``protection[i]``: ``lowmem_reserve[i]``), the zone counters (scope
    ``"zone"``), then ``pagesets`` with ``cpu: N`` blocks (scope ``"cpu"``, ``cpu`` set)
    and the tail lines (``node_unreclaimable``, ``start_pfn``; scope ``"zone"``). Keys
    are the kernel's labels as printed, without the colon (``"pages free"``, ``"min"``,
    ``"nr_free_pages"``, ``"vm stats threshold"``). Since v4.12 unpopulated zones are
    listed too, with only the lines up to ``protection``.

    Older layouts are read too: 2.6.x prints ``scanned  N (a: N i: N)`` (keys ``scanned``,
    ``nr_scan_active``, ``nr_scan_inactive``) and two per-cpu lists, ``cpu: N pcp: 0`` (hot)
    and ``cpu: N pcp: 1`` (cold): the hot list's keys are plain (``count``), the cold list's
    are prefixed ``pcp[1] `` (``pcp[1] count``). Kernels 4.14 to 4.19 (and RHEL 8's 4.18)
    print a per-node counter whose name is empty (``nr_indirectly_reclaimable``, hidden
    from /proc/vmstat by 7aaf77272358 "mm: don't show nr_indirectly_reclaimable in
    /proc/vmstat" but not from zoneinfo) as spaces and a number; its key is
    :data:`UNNAMED_KEY`. Zones printed before v3.8 have no ``managed`` line.
    """
    cols = {"node": [], "zone": [], "scope": [], "cpu": [], "key": [], "value": []}
    node = zone = None
    scope = "zone"
    cpu: int | None = None
    pcp_prefix = ""
    zones_seen: set[tuple[int, str]] = set()

    def add(key: str, value: int, sc: str, c: int | None) -> None:
        cols["node"].append(node)
        cols["zone"].append(zone)
        cols["scope"].append(sc)
        cols["cpu"].append(c)
        cols["key"].append(key)
        cols["value"].append(value)

    for lineno, line in _lines(text):
        if not line.strip():
            continue
        m = _ZI_ZONE.fullmatch(line)
        if m:
            node, zone = _int(m.group(1), name, lineno, line), m.group(2)
            if (node, zone) in zones_seen:
                raise _fail(name, lineno, f"zone {zone} of node {node} listed twice", line)
            zones_seen.add((node, zone))
            scope, cpu, pcp_prefix = "zone", None, ""
            continue
        if node is None:
            raise _fail(name, lineno, "expected 'Node N, zone NAME' first", line)
        s = line.strip()
        if s == "per-node stats":
            scope, cpu = "node", None
            continue
        if s == "pagesets":
            scope, cpu, pcp_prefix = "cpu", None, ""
            continue
        m = _ZI_CPU.fullmatch(line)
        if m:
            scope, cpu = "cpu", _int(m.group(1), name, lineno, line)
            pcp = _int(m.group(2), name, lineno, line) if m.group(2) is not None else 0
            pcp_prefix = f"pcp[{pcp}] " if pcp else ""
            continue
        m = _ZI_SCANNED.fullmatch(line)
        if m:
            scope, cpu = "zone", None
            for key, tok in zip(("scanned", "nr_scan_active", "nr_scan_inactive"), m.groups()):
                add(key, _int(tok, name, lineno, line), "zone", None)
            continue
        m = _ZI_UNNAMED.fullmatch(line)
        if m:
            if scope != "node":  # only per-node counters have been printed without a name
                raise _fail(name, lineno, "a value without a label outside 'per-node stats'", line)
            add(UNNAMED_KEY, _int(m.group(1), name, lineno, line, signed=True), scope, None)
            continue
        m = _ZI_PROTECTION.fullmatch(line)
        if m:
            toks = [t.strip() for t in m.group(1).split(",")]
            for i, tok in enumerate(toks):
                add(f"protection[{i}]", _int(tok, name, lineno, line, signed=True), "zone", None)
            scope, cpu = "zone", None
            continue
        m = _ZI_KV.fullmatch(line)
        if not m:
            raise _fail(name, lineno, "expected 'label value'", line)
        key = m.group(1).strip()
        value = _int(m.group(2), name, lineno, line, signed=True)
        if key == "pages free" or key in _ZONE_SCOPE_TAIL:
            scope, cpu = "zone", None
        if scope == "cpu" and cpu is None:
            raise _fail(name, lineno, "a per-cpu value before any 'cpu: N' line", line)
        if scope == "cpu" and key in _PCP_FIELDS:
            key = pcp_prefix + key
        add(key, value, scope, cpu if scope == "cpu" else None)
    if not zones_seen:
        raise SnapshotError(f"{name}: no 'Node N, zone NAME' lines (the file is empty)")
    return pl.DataFrame(cols, schema={"node": pl.Int64, "zone": pl.String, "scope": pl.String,
                                      "cpu": pl.Int64, "key": pl.String, "value": pl.Int64})
