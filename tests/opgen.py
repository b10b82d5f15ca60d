"""Seeded random allocator operation sequences, applied to the engine and the twin in
lock step (tests only)."""

from __future__ import annotations

import numpy as np

from mmkit.engine import pages
from mmkit.model.kinds import MigrateType, PageKind
from mmkit.model.memory import synthetic_layout
from mmkit.reference import RefMemory

KIND_FOR_MT = {
    MigrateType.UNMOVABLE: (PageKind.KERNEL, PageKind.SLAB, PageKind.PAGETABLE),
    MigrateType.RECLAIMABLE: (PageKind.SLAB_RECLAIMABLE,),
    MigrateType.MOVABLE: (PageKind.ANON, PageKind.FILE),
}


def random_ops(engine, twin, seed: int, n_ops: int, max_order: int = 10, free_p: float = 0.45):
    """Drive ``engine`` (a Memory) and ``twin`` (a RefMemory) with the same ops; yield
    (op, engine_result, twin_result) for each."""
    rng = np.random.default_rng(seed)
    live: list[tuple[int, int]] = []
    order_p = np.array([40, 15, 10, 8, 5, 4, 3, 3, 3, 5, 4][: max_order + 1], dtype=float)
    order_p /= order_p.sum()
    for _ in range(n_ops):
        if live and rng.random() < free_p:
            i = int(rng.integers(len(live)))
            pfn, order = live.pop(i)
            pages.free_pages(engine, pfn, order)
            twin.free_pages(pfn, order)
            yield ("free", pfn, order), 0, 0
            continue
        order = int(rng.choice(len(order_p), p=order_p))
        mt = MigrateType(int(rng.choice([0, 1, 1, 1, 2])))
        kinds = KIND_FOR_MT[mt]
        kind = kinds[int(rng.integers(len(kinds)))]
        owner = 16 + int(rng.integers(100))
        zone_hi = int(rng.integers(engine.nr_zones))
        compound = bool(order > 0 and rng.random() < 0.5)
        a = pages.alloc_pages(engine, order, mt, kind, owner=owner, zone=zone_hi, compound=compound)
        b = twin.alloc_pages(order, int(mt), int(kind), owner, zone_hi, compound)
        if a >= 0:
            live.append((a, order))
        yield ("alloc", order, int(mt), int(kind), zone_hi), a, b


def pair(variant: str, zones=(("DMA32", 8), ("Normal", 16))):
    import mmkit

    engine = mmkit.Memory.synthetic(zones=list(zones), variant=variant)
    twin = RefMemory.boot(synthetic_layout(zones=list(zones)), variant)
    return engine, twin
