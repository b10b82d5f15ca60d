"""Validated Python entry points to the allocator kernels (the door: checks here, loops
in the kernels). Each raises ``ParameterError`` naming the argument and its range."""

from __future__ import annotations

import numpy as np

from mmkit.engine import alloc as _alloc
from mmkit.errors import ParameterError
from mmkit.model.kinds import MAX_ORDER, MIGRATE_TYPES, MigrateType, PageKind
from mmkit.model.memory import Memory

_KIND_NAMES = ", ".join(PageKind(k).name for k in _alloc.PREPPABLE_KINDS)


def _check_order(order) -> int:
    if not isinstance(order, (int, np.integer)) or not 0 <= order < MAX_ORDER:
        raise ParameterError(f"order: {order!r} is out of range; orders are 0..{MAX_ORDER - 1}")
    return int(order)


def _zone_index(mem: Memory, zone) -> int:
    if zone is None:
        return mem.nr_zones - 1
    if isinstance(zone, str):
        if zone not in mem.zone_names:
            raise ParameterError(f"zone: {zone!r} is not a zone of this memory; zones are {list(mem.zone_names)}")
        return mem.zone_names.index(zone)
    if isinstance(zone, (int, np.integer)) and 0 <= zone < mem.nr_zones:
        return int(zone)
    raise ParameterError(f"zone: {zone!r} is out of range; give a name of {list(mem.zone_names)} or 0..{mem.nr_zones - 1}")


def alloc_pages(
    mem: Memory,
    order: int = 0,
    migratetype: MigrateType | int = MigrateType.MOVABLE,
    kind: PageKind | int = PageKind.KERNEL,
    *,
    owner: int = 16,
    zone=None,
    compound: bool = False,
) -> int:
    """Allocate ``2**order`` pages of ``kind`` from zone ``zone`` downwards (default: the
    highest zone); return the first pfn, or -1 when every zone is below its min watermark
    or has no block big enough (no reclaim or compaction on this path)."""
    order = _check_order(order)
    if not isinstance(migratetype, (int, np.integer)) or not 0 <= migratetype < MIGRATE_TYPES:
        raise ParameterError(f"migratetype: {migratetype!r} is out of range; use mmkit.MigrateType")
    if int(kind) not in _alloc.PREPPABLE_KINDS:
        raise ParameterError(
            f"kind: {PageKind(kind).name if int(kind) in iter(PageKind) else kind!r} pages are not made by "
            f"alloc_pages; it makes {_KIND_NAMES} (balloon and zsmalloc pages come from their owners)"
        )
    if not isinstance(owner, (int, np.integer)) or not 0 <= owner < 2**29:
        raise ParameterError(f"owner: {owner!r} is out of range 0..{2**29 - 1}")
    z = _zone_index(mem, zone)
    return int(_alloc.alloc_pages(mem.arrays(), mem.variant.compile(), order, int(migratetype), int(kind),
                                  int(owner), bool(compound), z, 0))


def free_pages(mem: Memory, pfn: int, order: int = 0) -> None:
    """Free the block of ``2**order`` pages at ``pfn`` (``__free_pages``). The block must
    be allocated, aligned to its order and inside one zone."""
    order = _check_order(order)
    if not isinstance(pfn, (int, np.integer)) or not 0 <= pfn < mem.nr_pages:
        raise ParameterError(f"pfn: {pfn!r} is out of range 0..{mem.nr_pages - 1}")
    pfn = int(pfn)
    if pfn & ((1 << order) - 1):
        raise ParameterError(f"pfn: {pfn:#x} is not aligned to order {order}")
    z = mem.zone_of(pfn)
    if z < 0 or pfn + (1 << order) > mem.zone_end[z]:
        raise ParameterError(f"pfn: the order-{order} block at {pfn:#x} is not inside one zone")
    kinds = mem.kind[pfn:pfn + (1 << order)]
    bad = np.isin(kinds, [PageKind.FREE, PageKind.PCP, PageKind.ISOLATED_FREE, PageKind.HOLE, PageKind.RESERVED,
                          PageKind.UNINIT])
    if bad.any():
        i = pfn + int(np.argmax(bad))
        raise ParameterError(f"pfn: frame {i:#x} of the order-{order} block at {pfn:#x} is "
                             f"{PageKind(int(mem.kind[i])).name}, not an allocated page (double free?)")
    _alloc.free_pages(mem.arrays(), mem.variant.compile(), pfn, order)


def run_ops(mem: Memory, ops: np.ndarray) -> np.ndarray:
    """Run rows of allocator operations in one kernel call (benchmarks, tests).

    Rows are int64 ``(OP_ALLOC, order, migratetype, kind, owner, zone_hi, compound)`` or
    ``(OP_FREE, pfn, order, 0, 0, 0, 0)``; frees are not validated here.
    """
    ops = np.ascontiguousarray(ops, dtype=np.int64)
    if ops.ndim != 2 or ops.shape[1] != 7:
        raise ParameterError(f"ops: expected an int64 array of shape (n, 7), got {ops.shape}")
    out = np.empty(ops.shape[0], dtype=np.int64)
    _alloc.run_ops(mem.arrays(), mem.variant.compile(), ops, out)
    return out
