"""Seeded random allocator operation sequences, applied to the engine and the twin in
lock step (tests only)."""

from __future__ import annotations

import numpy as np

from mmkit.engine import pages
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, MigrateType, PageKind
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


def half_fill_every_zone(s) -> None:
    """Every zone of Sim ``s`` filled with anonymous pages down to twice its high
    watermark, every other one freed, and the free blocks above order 0 taken as kernel
    pages: each zone's free memory is order-0 holes, which compaction can gather."""
    for z, zone in enumerate(s.mem.zone_names):
        lo, hi = int(s.mem.zone_start[z]), int(s.mem.zone_end[z])
        free = int(np.count_nonzero(s.mem.kind[lo:hi] == PageKind.FREE)) - 2 * int(s.mem.wmark[z, 2])
        pfns = s.anon(free, zone=zone)
        s.free([int(p) for i, p in enumerate(sorted(pfns[pfns >= 0])) if i % 2])
        for o in range(10, 0, -1):
            while int(s.mem.nr_free[z, o]):
                s.kernel(1, order=o, zone=zone)


# ----------------------------------------------------------------------- whole simulations
FILE_HABITS = ("dirty", "checked", "fscache", "unevictable", "mapped")
KERNEL_KINDS = (PageKind.KERNEL, PageKind.SLAB, PageKind.SLAB_RECLAIMABLE, PageKind.PAGETABLE)
SIM_OPS = (  # (name, weight)
    ("anon", 14), ("file", 12), ("folio", 7), ("thp", 3), ("kernel", 6), ("free", 12), ("balloon_inflate", 5),
    ("balloon_deflate", 3), ("zram_store", 6), ("zram_free", 3), ("compact_zone", 12), ("compact_memory", 5),
    ("alloc_contig_range", 7), ("free_contig_range", 3), ("reclaim", 4),
)


def random_sim_ops(seed: int, n_ops: int, zone_spans, scale: float = 1.0, proactive: float = 0.0,
                   cma: tuple[int, int] | None = None):
    """Seeded operation descriptions for ``Sim`` / ``RefSim`` on a memory whose zones span
    ``zone_spans`` [(start, end), ...] (pfns); sizes scale with the memory (and
    ``scale``: above 1, memory runs out and reclaim and compaction work). ``free`` and
    the contiguous ranges are resolved against the simulation's state by
    :func:`apply_sim_op`. With ``cma`` (the CMA area's first pfn and pageblocks,
    :func:`cma_area_of`), half the contiguous ranges are a ``cma_alloc`` on it."""
    # kcompactd's proactive check (``proactive_compact``) after an op with probability
    # ``proactive``, drawn from a generator of its own: at 0 the stream is as it always was
    prng = np.random.default_rng([seed, 0x9C]) if proactive > 0 else None
    # the cma_alloc ops likewise: without an area the stream is as it always was
    crng = np.random.default_rng([seed, 0xC3]) if cma is not None and cma[1] > 0 else None
    rng = np.random.default_rng(seed)
    names = [n for n, _ in SIM_OPS]
    weights = np.array([w for _, w in SIM_OPS], dtype=float)
    weights /= weights.sum()
    nz = len(zone_spans)
    total = int(scale * sum(end - start for start, end in zone_spans))
    for _ in range(n_ops):
        name = names[int(rng.choice(len(names), p=weights))]
        zone = int(rng.integers(nz))
        if name == "anon":
            yield name, dict(n=int(rng.integers(1, total // 12)), pinned=bool(rng.random() < 0.1), zone=zone)
        elif name == "file":
            habits = {h: bool(rng.random() < p) for h, p in zip(FILE_HABITS, (0.3, 0.3, 0.1, 0.1, 0.2))}
            yield name, dict(n=int(rng.integers(1, total // 14)), zone=zone, **habits)
        elif name == "folio":
            # large folios of order 1..8: page cache (clean, dirty, with buffer heads, under
            # writeback) or anonymous mTHP. Under v6.18 compaction a folio under writeback,
            # or a file folio with dirty buffers, cannot be split: both kinds are common
            order = int(rng.integers(1, 9))
            yield name, dict(n=int(rng.integers(1, max(2, total // (12 << order)) + 1)), order=order,
                             file=bool(rng.random() < 0.7), dirty=bool(rng.random() < 0.4),
                             buffers=bool(rng.random() < 0.5), writeback=bool(rng.random() < 0.15), zone=zone)
        elif name == "thp":
            yield name, dict(n=int(rng.integers(1, 3)), zone=zone)
        elif name == "kernel":
            yield name, dict(n=int(rng.integers(1, 30)), order=int(rng.choice([0, 0, 1, 2, 3])),
                             kind=KERNEL_KINDS[int(rng.integers(len(KERNEL_KINDS)))], zone=zone)
        elif name == "free":
            yield name, dict(fraction=float(rng.uniform(0.05, 0.6)), stride=int(rng.choice([0, 2, 3])),
                             pick=int(rng.integers(2**31)))
        elif name == "balloon_inflate":
            yield name, dict(n=int(rng.integers(1, total // 16)), zone=zone)
        elif name == "balloon_deflate":
            yield name, dict(n=int(rng.integers(1, total // 24)))
        elif name == "zram_store":
            cls = None if rng.random() < 0.7 else int(rng.integers(5))
            yield name, dict(n=int(rng.integers(1, total // 16)), size_class=cls, zone=zone)
        elif name == "zram_free":
            yield name, dict(n=int(rng.integers(1, total // 12)))
        elif name == "compact_zone":
            order = -1 if rng.random() < 0.3 else int(rng.integers(1, 11))
            yield name, dict(zone=zone, order=order, sync=bool(rng.random() < 0.6),
                             ignore_skip=bool(rng.random() < 0.5), migratetype=int(rng.choice([0, 1, 1, 2])))
        elif name == "compact_memory":
            yield name, {}
        elif name == "alloc_contig_range":
            start, end = zone_spans[zone]
            first = -(-start // PAGEBLOCK_NR_PAGES)
            last = end // PAGEBLOCK_NR_PAGES
            b = int(rng.integers(first, last))
            nb = int(rng.integers(1, min(3, last - b) + 1))
            if crng is not None and crng.random() < 0.5:
                yield "cma_alloc", dict(base=cma[0], area_blocks=cma[1], nblocks=int(crng.integers(1, min(3, cma[1]) + 1)))
            else:
                yield name, dict(start=b * PAGEBLOCK_NR_PAGES, end=(b + nb) * PAGEBLOCK_NR_PAGES)
        elif name == "free_contig_range":
            yield name, dict(pick=int(rng.integers(2**31)))
        else:
            start, end = zone_spans[zone]
            target = None if rng.random() < 0.5 else int(rng.integers(0, end - start))
            yield name, dict(zone=zone, target_free=target)
        if prng is not None and prng.random() < proactive:
            yield "proactive_compact", {}


def free_candidates(kind, refcount, compound_tail, held_ranges):
    """Heads of user and kernel allocations a workload may free: not tails, referenced,
    not a page of a contiguous range still held."""
    ok = np.isin(kind, [int(k) for k in (PageKind.ANON, PageKind.FILE) + KERNEL_KINDS]) & (refcount > 0) & ~compound_tail
    for start, end in held_ranges:
        ok[start:end] = False
    return np.flatnonzero(ok)


def apply_sim_op(sim, name, args, candidates, held_ranges):
    """Run one op on ``sim`` (an engine Sim or a RefSim); ``candidates`` are the pages
    ``free`` may pick from (the same list for both sides: a random subset, or every
    ``stride``-th of a run of them, which fragments memory); ``held_ranges`` are the
    contiguous ranges allocated and not yet freed."""
    if name == "free":
        rng = np.random.default_rng(args["pick"])
        k = int(len(candidates) * args["fraction"])
        if not k:
            pick = np.zeros(0, dtype=np.int64)
        elif args["stride"]:
            first = int(rng.integers(len(candidates) - k + 1))
            pick = candidates[first:first + k:args["stride"]]
        else:
            pick = np.sort(rng.choice(candidates, size=k, replace=False))
        sim.free(pick)
        return len(pick)
    if name == "alloc_contig_range":
        return sim.alloc_contig_range(args["start"], args["end"])
    if name == "cma_alloc":
        return sim.cma_alloc(**args)
    if name == "free_contig_range":
        if not held_ranges:
            return None
        start, end = held_ranges[args["pick"] % len(held_ranges)]
        sim.free_contig_range(start, end)
        return (start, end)
    if name == "compact_memory":
        return sim.compact_memory()
    return getattr(sim, name)(**args)


def both(e, t, op, *args, **kw):
    """The Sim method ``op`` on the engine's Sim ``e`` and the twin's ``t``; their
    answers must be equal. Returns the engine's."""
    a, b = getattr(e, op)(*args, **kw), getattr(t, op)(*args, **kw)
    if isinstance(a, np.ndarray):
        assert np.array_equal(a, b), op
    else:
        assert a == b, (op, a, b)
    return a


def agree(e, t):
    """The engine's Sim and the twin's hold the same state and vmstat counters."""
    from mmkit.reference.sim import compare_states, engine_sim_state

    problems = compare_states(engine_sim_state(e), t.state())
    assert not problems, problems[:5]
    assert e.vmstat == t.vmstat


def held_range(name, args, result):
    """The contiguous range an op's ``result`` holds from now on, or None."""
    if name == "alloc_contig_range" and result["ok"]:
        return args["start"], args["end"]
    if name == "cma_alloc" and result[0] >= 0:
        return result[0], result[0] + args["nblocks"] * PAGEBLOCK_NR_PAGES
    return None


def cma_area_of(zone_spans, blocks: int) -> tuple[int, int] | None:
    """The CMA area :func:`sim_cma_area` reserves on zones spanning ``zone_spans``: its
    first pfn and its pageblocks (fewer than ``blocks`` on a small top zone), or None."""
    if blocks <= 0:
        return None
    lo, hi = zone_spans[-1]
    end = hi & ~(PAGEBLOCK_NR_PAGES - 1)
    start = max(end - blocks * PAGEBLOCK_NR_PAGES, -(-lo // PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES)
    return (start, (end - start) // PAGEBLOCK_NR_PAGES) if end > start else None


def sim_cma_area(sim, blocks: int) -> int:
    """The top ``blocks`` pageblocks of the highest zone of ``sim`` (the engine's Sim or
    the twin's RefSim) become MIGRATE_CMA, as the workloads' ``cma_area`` reserves them
    before anything runs. Returns the area's first pfn (-1 for none)."""
    if blocks <= 0:
        return -1
    if hasattr(sim.mem, "setup_cma_area"):  # the twin
        return int(sim.mem.setup_cma_area(blocks))
    from mmkit.engine import workload as W

    P = np.zeros(W.NR_P, np.int64)
    P[W.P_CMA_AREA_BLOCKS] = blocks
    return int(W.setup_cma_area(sim.A, sim.vc, P))


def no_watermarks(e, t):
    """Watermarks 0 on both sides, the engine's Sim ``e`` and the twin's ``t`` (a test
    machine filled to its last page, or allocations that must not wake kswapd);
    returns a function that puts them back."""
    saved, tsaved = e.mem.wmark.copy(), [zn.wmark for zn in t.mem.zones]
    e.mem.wmark[:] = 0
    for zn in t.mem.zones:
        zn.wmark = [0, 0, 0]

    def restore():
        e.mem.wmark[:] = saved
        for zn, w in zip(t.mem.zones, tsaved):
            zn.wmark = w
    return restore
