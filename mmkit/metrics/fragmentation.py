"""Kernel-exact fragmentation metrics from buddy free counts (SEMANTICS.md section 5).

Everything here is integer arithmetic exactly as ``mm/vmstat.c`` does it (torvalds/linux;
identical in v4.5 and v6.1x for these functions):

* ``fill_contig_page_info(zone, suitable_order)``: for each order, ``blocks =
  nr_free[order]``; ``free_blocks_total += blocks``; ``free_pages += blocks << order``;
  if ``order >= suitable_order``: ``free_blocks_suitable += blocks << (order -
  suitable_order)``.
* ``unusable_free_index``: 1000 if ``free_pages == 0``, else ``(free_pages -
  (suitable << order)) * 1000 / free_pages`` (``div_u64``, truncating).
* ``__fragmentation_index``: 0 if ``free_blocks_total == 0``; -1000 if any suitable
  block; else ``1000 - (1000 + free_pages * 1000 / (1 << order)) / free_blocks_total``.
  The subtraction is done in u64 and the result stored in an int, so it can come out
  negative (e.g. one free block of order k-1 asked at order k: 1000 - 1500 = -500).
* debugfs ``extfrag/unusable_index`` (``unusable_show_print``) prints ``"Node %d, zone %8s
  "`` then ``"%d.%03d "`` of ``index / 1000, index % 1000`` (C division, truncating toward
  zero) per order, then ``\\n``; ``extfrag/extfrag_index`` (``extfrag_show_print``) the
  same with ``"%2d.%03d "`` since Lin Feng's patch "mm: vmstat.c: make extfrag_index show
  more pretty" (Message-Id 20211019103241.134797-1-linf@wangsu.com, 19 Oct 2021: the one
  line ``seq_printf(m, "%d.%03d "`` -> ``"%2d.%03d "`` in ``extfrag_show_print``, so
  values 0 to 9 get a pad space and line up with ``-1.000``; taken into -mm with the
  v5.16 batch), ``"%d.%03d "`` before. ``unusable_show_print`` never changed. Both walk only populated zones
  (``walk_zones_in_node(..., assert_populated=true, ...)``), as buddyinfo does.

One kernel detail is not reproduced: ``div_u64`` takes a 32-bit divisor, so the kernel
would truncate ``free_pages`` / ``free_blocks_total`` past 2^32 (16 TiB of free 4 KiB
pages in one zone); mmkit divides by the full value.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl

from mmkit.errors import ParameterError, SnapshotError
from mmkit.snapshot.snapshot import EXTFRAG_WIDE_SINCE  # first release printing "%2d.%03d "

__all__ = [
    "DEBUGFS_FILES",
    "MetricsMismatch",
    "TrailingWhitespaceMismatch",
    "check",
    "contig_page_info",
    "debugfs_text",
    "fragmentation_index",
    "fragmentation_indices",
    "free_pages_by_order",
    "largest_free_order",
    "unusable_free_index",
    "unusable_free_indices",
    "zone_summary",
]

DEBUGFS_FILES = ("extfrag_index", "unusable_index")

Style = Literal["modern", "legacy"]


class TrailingWhitespaceMismatch(SnapshotError):
    """The snapshot's debugfs file agrees with mmkit's computation except for whitespace
    at line ends: the kernel ends every line with a space after the last value, and a
    copy taken through mail, a web page or an editor often loses it.

    Fix: every value agrees, so nothing is wrong with the numbers; compare a copy taken
    with ``cp`` from debugfs to check the format too.
    """

    def __init__(self, name: str, line: int, lines: int, in_file: str, computed: str) -> None:
        self.name, self.line, self.lines = name, line, lines
        self.in_file, self.computed = in_file, computed
        super().__init__(
            f"{name} line {line}: only whitespace at line ends differs ({lines} line(s)): the file's line "
            f"ends {in_file[-10:]!r}, mmkit's {computed[-10:]!r}. Every value agrees; was the file copied "
            f"through mail or an editor that strips trailing spaces?"
        )


class MetricsMismatch(SnapshotError):
    """Computed debugfs text differs from the kernel's file in a snapshot.

    The message gives the file, the first differing line and column, and both lines. It
    means the snapshot's buddyinfo and debugfs files were not read at the same moment,
    or mmkit's formula or format is wrong for that kernel (please report it).
    """

    def __init__(self, name: str, line: int, column: int, expected: str, computed: str, hint: str = "") -> None:
        self.name, self.line, self.column = name, line, column
        self.expected, self.computed = expected, computed
        super().__init__(
            f"{name} line {line}, column {column}: the kernel printed {expected!r}, "
            f"mmkit computes {computed!r}" + (f" ({hint})" if hint else "")
        )


# ------------------------------------------------------------------ formulas
def _row(nr_free_row: Any) -> list[int]:
    try:
        arr = np.asarray(nr_free_row)
    except Exception:  # pragma: no cover - numpy accepts nearly anything
        raise ParameterError(f"nr_free_row: {nr_free_row!r} is not an array of counts") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ParameterError(f"nr_free_row: shape {arr.shape}; give one count per order (1-D, not empty)")
    if arr.dtype.kind not in "ui":
        raise ParameterError(f"nr_free_row: dtype {arr.dtype}; free block counts are integers")
    row = [int(v) for v in arr]
    if min(row) < 0:
        raise ParameterError(f"nr_free_row: {row}; free block counts cannot be negative")
    return row


def _order(order: Any, n_orders: int) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise ParameterError(f"order: {order!r}; give an int")
    order = int(order)
    if not 0 <= order < n_orders:
        raise ParameterError(f"order: {order}; must be in 0..{n_orders - 1} for {n_orders} orders")
    return order


def _contig(row: list[int], order: int) -> tuple[int, int, int]:
    free_pages = total = suitable = 0
    for o, blocks in enumerate(row):
        total += blocks
        free_pages += blocks << o
        if o >= order:
            suitable += blocks << (o - order)
    return free_pages, total, suitable


def contig_page_info(nr_free_row: Any, order: int) -> tuple[int, int, int]:
    """``fill_contig_page_info``: ``(free_pages, free_blocks_total, free_blocks_suitable)``."""
    row = _row(nr_free_row)
    return _contig(row, _order(order, len(row)))


def _unusable(row: list[int], order: int) -> int:
    free_pages, _, suitable = _contig(row, order)
    if free_pages == 0:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def _u64(v: int) -> int:
    return v & ((1 << 64) - 1)


def _as_int(v: int) -> int:
    # an unsigned long result stored in the kernel's ``int index`` (truncated to 32 bits)
    v &= (1 << 32) - 1
    return v - (1 << 32) if v >> 31 else v


def _fragmentation(row: list[int], order: int) -> int:
    free_pages, total, suitable = _contig(row, order)
    if total == 0:
        return 0
    if suitable:
        return -1000
    requested = 1 << order
    return _as_int(_u64(1000 - (1000 + _u64(free_pages * 1000) // requested) // total))


def unusable_free_index(nr_free_row: Any, order: int) -> int:
    """``unusable_free_index``: x1000 share of free memory unusable for an ``order`` allocation.

    ``nr_free_row`` is one zone's free block count per order (a buddyinfo line).
    """
    row = _row(nr_free_row)
    return _unusable(row, _order(order, len(row)))


def fragmentation_index(nr_free_row: Any, order: int) -> int:
    """``__fragmentation_index``: x1000 whether an ``order`` allocation would fail for
    fragmentation (toward 1000) or lack of memory (toward 0); -1000 if it would succeed."""
    row = _row(nr_free_row)
    return _fragmentation(row, _order(order, len(row)))


def _matrix(nr_free: Any) -> np.ndarray:
    arr = np.asarray(nr_free)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ParameterError(f"nr_free: shape {arr.shape}; give [zones, orders]")
    if arr.dtype.kind not in "ui":
        raise ParameterError(f"nr_free: dtype {arr.dtype}; free block counts are integers")
    if arr.size and arr.min() < 0:
        raise ParameterError("nr_free: free block counts cannot be negative")
    return arr


def unusable_free_indices(nr_free: Any) -> np.ndarray:
    """:func:`unusable_free_index` for every zone and order: int64 ``[zones, orders]``."""
    arr = _matrix(nr_free)
    rows = [[int(v) for v in r] for r in arr]
    return np.array([[_unusable(r, o) for o in range(arr.shape[1])] for r in rows], dtype=np.int64).reshape(arr.shape)


def fragmentation_indices(nr_free: Any) -> np.ndarray:
    """:func:`fragmentation_index` for every zone and order: int64 ``[zones, orders]``."""
    arr = _matrix(nr_free)
    rows = [[int(v) for v in r] for r in arr]
    return np.array([[_fragmentation(r, o) for o in range(arr.shape[1])] for r in rows],
                    dtype=np.int64).reshape(arr.shape)


def largest_free_order(nr_free_row: Any) -> int:
    """Highest order with a free block in this zone, or -1 if nothing is free."""
    row = _row(nr_free_row)
    for o in range(len(row) - 1, -1, -1):
        if row[o]:
            return o
    return -1


# ------------------------------------------------------------------ zones of an object
def _zones(obj: Any) -> tuple[list[int], list[str], np.ndarray]:
    """(node ids, zone names, nr_free [zones, orders]) of the zones debugfs would list."""
    if not (hasattr(obj, "zone_names") and hasattr(obj, "nr_free")):
        raise ParameterError(
            f"{type(obj).__name__} has no zone_names / nr_free: give a Snapshot or a Memory"
        )
    names = [str(n) for n in obj.zone_names]
    nr_free = np.asarray(obj.nr_free)
    if nr_free.ndim != 2 or nr_free.shape[0] != len(names):
        raise ParameterError(f"nr_free: shape {nr_free.shape} does not match {len(names)} zones")
    zone_nodes = getattr(obj, "zone_nodes", None)
    nodes = [int(n) for n in zone_nodes] if zone_nodes is not None else [0] * len(names)
    if len(nodes) != len(names):
        raise ParameterError(f"zone_nodes: {len(nodes)} entries for {len(names)} zones")
    present = getattr(obj, "zone_present", None)
    if present is not None:  # populated_zone(): present_pages != 0
        keep = [i for i in range(len(names)) if int(present[i]) != 0]
        nodes = [nodes[i] for i in keep]
        names = [names[i] for i in keep]
        nr_free = nr_free[keep]
    return nodes, names, _matrix(nr_free)


def _style_of(obj: Any) -> Style:
    """A Snapshot's own reading of its era (:meth:`~mmkit.snapshot.Snapshot.extfrag_style`:
    meta.json, then zoneinfo and vmstat fields, then the extfrag_index text); for anything
    else its kernel release, modern when unknown."""
    from mmkit.snapshot.snapshot import Snapshot, kernel_version

    if isinstance(obj, Snapshot):
        return obj.extfrag_style()[0]  # type: ignore[return-value]
    release = getattr(obj, "kernel_release", None)
    if release is None:
        release = (getattr(obj, "meta", None) or {}).get("kernel_release")
    v = kernel_version(release) if isinstance(release, str) else None
    return "legacy" if v is not None and v < EXTFRAG_WIDE_SINCE else "modern"


def _c_div_mod(a: int, b: int) -> tuple[int, int]:
    q = abs(a) // b * (1 if a >= 0 else -1)  # C99 division truncates toward zero
    return q, a - q * b


def debugfs_text(obj: Any, which: str, *, style: Style | None = None) -> str:
    """The text of debugfs ``extfrag/<which>`` as the kernel would print it for ``obj``.

    ``obj`` is a :class:`~mmkit.snapshot.Snapshot` (its buddyinfo: populated zones, any
    number of orders and nodes) or a ``Memory`` (``zone_names``, ``nr_free``; zones whose
    ``zone_present`` is 0 are skipped as ``populated_zone`` does; node 0). ``which`` is
    ``"extfrag_index"`` or ``"unusable_index"``. ``style`` picks the extfrag format:
    ``"modern"`` (``%2d.%03d``, v5.16+) or ``"legacy"`` (``%d.%03d``); by default a
    Snapshot's era as its files show it (``Snapshot.extfrag_style``), else the kernel
    release, and modern when unknown.
    """
    if which not in DEBUGFS_FILES:
        raise ParameterError(f"which: {which!r}; one of {', '.join(DEBUGFS_FILES)}")
    if style is None:
        style = _style_of(obj)
    elif style not in ("modern", "legacy"):
        raise ParameterError(f"style: {style!r}; 'modern' or 'legacy'")
    nodes, names, nr_free = _zones(obj)
    fn = _unusable if which == "unusable_index" else _fragmentation
    fmt = "%2d.%03d " if (which == "extfrag_index" and style == "modern") else "%d.%03d "
    out = []
    for node, name, r in zip(nodes, names, nr_free):
        row = [int(v) for v in r]
        parts = ["Node %d, zone %8s " % (node, name)]
        for order in range(len(row)):
            parts.append(fmt % _c_div_mod(fn(row, order), 1000))
        parts.append("\n")
        out.append("".join(parts))
    return "".join(out)


def _first_difference(expected: str, computed: str) -> tuple[int, int, str, str]:
    el, cl = expected.split("\n"), computed.split("\n")
    for i in range(max(len(el), len(cl))):
        a = el[i] if i < len(el) else "<end of file>"
        b = cl[i] if i < len(cl) else "<end of file>"
        if a != b:
            col = next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            return i + 1, col + 1, a, b
    raise AssertionError("texts are equal")  # pragma: no cover


def check(snapshot: Any, *, style: Style | None = None) -> tuple[str, ...]:
    """Compare :func:`debugfs_text` with the snapshot's debugfs files, byte for byte.

    Returns the names of the files compared. Raises :class:`TrailingWhitespaceMismatch`
    when only whitespace at line ends differs, :class:`MetricsMismatch` at the first
    differing line and column otherwise (saying so when the other extfrag style would
    match), or :class:`SnapshotError` if the snapshot has neither file. ``style`` as in
    :func:`debugfs_text`.
    """
    if not hasattr(snapshot, "has") or not hasattr(snapshot, "text"):
        raise ParameterError(f"snapshot: {type(snapshot).__name__} is not a Snapshot (use mmkit.snapshot.load)")
    present = tuple(n for n in DEBUGFS_FILES if snapshot.has(n))
    if not present:
        raise SnapshotError(
            f"{snapshot.path}: no extfrag_index or unusable_index file to compare with "
            f"(capture as root with debugfs mounted at /sys/kernel/debug)"
        )
    for name in present:
        expected = snapshot.text(name)
        computed = debugfs_text(snapshot, name, style=style)
        if expected == computed:
            continue
        if _line_ends_stripped(expected) == _line_ends_stripped(computed):
            ex, co = expected.split("\n"), computed.split("\n")
            differ = [i for i in range(min(len(ex), len(co))) if ex[i] != co[i]]
            first = differ[0] if differ else min(len(ex), len(co)) - 1
            raise TrailingWhitespaceMismatch(name, first + 1, max(len(differ), 1), ex[first], co[first])
        hint = ""
        if name == "extfrag_index":
            used = style if style is not None else _style_of(snapshot)
            other = "legacy" if used == "modern" else "modern"
            alt = debugfs_text(snapshot, name, style=other)
            if _line_ends_stripped(alt) == _line_ends_stripped(expected):
                why = f"; {snapshot.extfrag_style()[1]}" if style is None and hasattr(snapshot, "extfrag_style") else ""
                hint = f"the {other} format matches: this kernel prints extfrag_index the {other} way (compared as {used}{why})"
        raise MetricsMismatch(name, *_first_difference(expected, computed), hint=hint)
    return present


def _line_ends_stripped(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


# ------------------------------------------------------------------ frames
def free_pages_by_order(obj: Any) -> pl.DataFrame:
    """``node, zone, order, nr_free, free_pages`` (``nr_free << order``) for each zone and order."""
    nodes, names, nr_free = _zones(obj)
    z, o = nr_free.shape
    blocks = nr_free.astype(np.int64).ravel()
    orders = np.tile(np.arange(o, dtype=np.int64), z)
    return pl.DataFrame(
        {
            "node": np.repeat(np.asarray(nodes, dtype=np.int64), o),
            "zone": [n for n in names for _ in range(o)],
            "order": orders,
            "nr_free": blocks,
            "free_pages": blocks << orders,
        }
    )


def zone_summary(obj: Any) -> pl.DataFrame:
    """Per zone: ``node, zone, free_pages, free_blocks, largest_free_order`` (-1: none free)."""
    nodes, names, nr_free = _zones(obj)
    rows = [[int(v) for v in r] for r in nr_free]
    return pl.DataFrame(
        {
            "node": nodes,
            "zone": names,
            "free_pages": [sum(b << i for i, b in enumerate(r)) for r in rows],
            "free_blocks": [sum(r) for r in rows],
            "largest_free_order": [largest_free_order(np.asarray(r, dtype=np.int64)) for r in rows],
        },
        schema={"node": pl.Int64, "zone": pl.String, "free_pages": pl.Int64, "free_blocks": pl.Int64,
                "largest_free_order": pl.Int64},
    )
