"""Contiguity beyond the buddy allocator's largest order: what a 1 GiB page would find.

The buddy allocator stops at order 10 (4 MiB); hugetlb's gigantic pages, large CMA areas
and device memory need physically contiguous ranges of 1 GiB and more, which only
``alloc_contig_range`` (``alloc_contig_pages`` for gigantic pages) can make, by migrating
the movable pages out of a range and taking its free pages. What stops it is any frame
it cannot migrate or free. :func:`contiguity` sorts every page frame of a
:class:`~mmkit.model.memory.Memory` (synthetic, after a run, or built from a real
snapshot's kpageflags) into one of these classes:

========== ==============================================================================
free       in the buddy allocator
movable    an LRU page or folio (anonymous or page cache) compaction may isolate; a
           non-LRU movable page: a balloon page, a zsmalloc page where the variant makes
           zsmalloc movable (``zsmalloc_movable``)
pinned     an anonymous LRU page with more references than mappings
           (``page_count > page_mapcount``): ``isolate_migratepages_block`` passes it over
           and ``migrate_pages`` could not move it
reclaimable reclaimable slab (dentries, inodes): shrinkers may free it, nothing moves it
unmovable  kernel allocations, page tables, slab, memblock reserves
uninit     present but its struct page not initialised yet (deferred init: the kernel
           hands such memory to the buddy allocator later, on demand)
hole       no page frame (a memory hole, a pfn outside every zone)
========== ==============================================================================

and measures, per zone:

* **runs**: maximal runs of consecutive free frames, and of frames that are free or
  movable (what compaction or ``alloc_contig_range`` could make free), counted by size
  from 4 KiB to 1 GiB and beyond (power-of-two buckets, pages in runs of each bucket);
* **ranges**: naturally aligned ranges of 2 MiB (a pageblock), 32 MiB and 1 GiB inside
  the zone: how many are free now, how many could be made free by migrating their movable
  pages, and how many are spoiled, by the worst class they hold;
* **spoilers**: for each 1 GiB candidate range that cannot be made free, the pageblocks
  that spoil it and what they hold;
* **summary**: the share of memory that cannot move (unmovable, reclaimable and pinned
  frames) beside the share of 2 MiB blocks such frames touch: the two figures the
  Contiguitas paper (ISCA 2023) measured on a fleet (7 % of memory unmovable, touching
  34 % of 2 MiB blocks).

The classes are the model's truth (``Memory.kind``), not what a kernel predicate believes:
a balloon page that a variant's ``PageBalloon`` misreports is still a balloon page here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import polars as pl

from mmkit.errors import ParameterError
from mmkit.model.kinds import PAGE_SIZE, PAGEBLOCK_ORDER, PageKind

__all__ = ["FrameClass", "Contiguity", "contiguity", "frame_classes", "contiguity_row", "RANGE_SIZES"]


class FrameClass(IntEnum):
    """What a frame is to ``alloc_contig_range`` (the table in the module docstring)."""

    HOLE = 0
    FREE = 1
    MOVABLE = 2
    PINNED = 3
    RECLAIMABLE = 4
    UNMOVABLE = 5
    UNINIT = 6


CLASS_NAMES = [c.name.lower() for c in FrameClass]
# what stops a range from being made free, worst first
SPOILERS = (FrameClass.HOLE, FrameClass.UNINIT, FrameClass.UNMOVABLE, FrameClass.RECLAIMABLE, FrameClass.PINNED)
STUCK = [FrameClass.UNMOVABLE, FrameClass.RECLAIMABLE, FrameClass.PINNED]  # present, and nothing moves them
# aligned range sizes, in bytes: a pageblock, a 32 MiB CMA-sized area, a gigantic page
RANGE_SIZES = {"2MiB": 2 << 20, "32MiB": 32 << 20, "1GiB": 1 << 30}
GIGANTIC = "1GiB"
MAX_BUCKET = 18  # 2**18 pages of 4 KiB: 1 GiB; longer runs count in the bucket ">1GiB"

_KIND_CLASS = np.full(256, FrameClass.UNMOVABLE, dtype=np.int8)
for _k, _c in ((PageKind.HOLE, FrameClass.HOLE), (PageKind.UNINIT, FrameClass.UNINIT),
               (PageKind.RESERVED, FrameClass.UNMOVABLE), (PageKind.FREE, FrameClass.FREE),
               (PageKind.ISOLATED_FREE, FrameClass.FREE), (PageKind.PCP, FrameClass.FREE),
               (PageKind.KERNEL, FrameClass.UNMOVABLE),
               (PageKind.PAGETABLE, FrameClass.UNMOVABLE), (PageKind.SLAB, FrameClass.UNMOVABLE),
               (PageKind.SLAB_RECLAIMABLE, FrameClass.RECLAIMABLE), (PageKind.ANON, FrameClass.MOVABLE),
               (PageKind.FILE, FrameClass.MOVABLE), (PageKind.BALLOON, FrameClass.MOVABLE),
               (PageKind.ZSMALLOC, FrameClass.MOVABLE)):
    _KIND_CLASS[int(_k)] = int(_c)


def _bucket_label(b: int) -> str:
    if b > MAX_BUCKET:
        return ">1GiB"
    size = (1 << b) * PAGE_SIZE
    return f"{size >> 30}GiB" if size >= 1 << 30 else f"{size >> 20}MiB" if size >= 1 << 20 else f"{size >> 10}KiB"


BUCKETS = [_bucket_label(b) for b in range(MAX_BUCKET + 2)]


def _memory(obj: Any):
    from mmkit.model.memory import Memory

    if isinstance(obj, Memory):
        return obj
    if hasattr(obj, "memories") and hasattr(obj, "variants"):  # a Result: each variant's final memory
        raise ParameterError("contiguity: a Result holds one memory per variant; pass result.memories[name]")
    try:
        from mmkit.snapshot.snapshot import Snapshot
    except ImportError:  # pragma: no cover - the snapshot package is part of mmkit
        Snapshot = ()
    if isinstance(obj, Snapshot):
        return Memory.from_snapshot(obj)
    raise ParameterError(f"memory: expected a mmkit.Memory or a Snapshot, got {type(obj).__name__}")


def frame_classes(mem) -> np.ndarray:
    """Each page frame's :class:`FrameClass`, int8 [nr_pages]. Tail pages of a compound
    page take their head's class (a pinned THP is pinned whole)."""
    cls = _KIND_CLASS[mem.kind]
    v = mem.variant
    if v is not None and not bool(v.zsmalloc_movable):
        cls[mem.kind == PageKind.ZSMALLOC] = FrameClass.UNMOVABLE
    # isolate_lru_folio's test: an anonymous page (mapping bit 0) with more references
    # than mappings (refcount > _mapcount + 1) is pinned
    cls[_pinned_heads(mem)] = FrameClass.PINNED
    tails = np.flatnonzero(mem.lru_next <= -2)
    if tails.size:
        heads = -2 - mem.lru_next[tails].astype(np.int64)
        ok = (heads >= 0) & (heads < cls.shape[0])
        cls[tails[ok]] = cls[heads[ok]]
    # outside every zone: no frame
    edge = 0
    for z in sorted(range(mem.nr_zones), key=lambda z: int(mem.zone_start[z])):
        cls[edge:max(int(mem.zone_start[z]), edge)] = FrameClass.HOLE
        edge = max(edge, int(mem.zone_end[z]))
    cls[edge:] = FrameClass.HOLE
    return cls


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the maximal runs of True in ``mask``."""
    if not mask.size:
        return np.zeros(0, dtype=np.int64)
    d = np.diff(np.concatenate(([0], mask.view(np.int8), [0])).astype(np.int8))
    return (np.flatnonzero(d == -1) - np.flatnonzero(d == 1)).astype(np.int64)


def _longest(mask: np.ndarray) -> int:
    r = _runs(mask)
    return int(r.max()) if r.size else 0


def _bucket(lengths: np.ndarray) -> np.ndarray:
    b = np.zeros(lengths.shape[0], dtype=np.int64)
    nz = lengths > 0
    b[nz] = np.minimum(np.floor(np.log2(lengths[nz])).astype(np.int64), MAX_BUCKET + 1)
    return b


def _block_counts(cls: np.ndarray, start: int, end: int) -> tuple[int, np.ndarray]:
    """The first pfn of the whole pageblocks inside [start, end) and the frames of each
    class in each, int64 [blocks, classes] (one bincount over the frames)."""
    bp = 1 << PAGEBLOCK_ORDER
    first = -(-start // bp) * bp
    n = max((end - first) // bp, 0)
    nc = len(FrameClass)
    if n == 0:
        return first, np.zeros((0, nc), dtype=np.int64)
    seg = cls[first:first + n * bp].reshape(n, bp)
    return first, np.stack([np.count_nonzero(seg == c, axis=1) for c in range(nc)], axis=1).astype(np.int64)


def _range_counts(blocks: np.ndarray, first_block: int, start: int, end: int, pages: int
                  ) -> tuple[int, np.ndarray]:
    """The first pfn of the naturally aligned ranges of ``pages`` frames inside
    [start, end) and the frames of each class in each, summed from the pageblocks'
    counts (``blocks`` from :func:`_block_counts`, starting at pfn ``first_block``)."""
    bp = 1 << PAGEBLOCK_ORDER
    first = -(-start // pages) * pages
    n = max((end - first) // pages, 0)
    per = pages // bp
    if n == 0 or per == 0:
        return first, np.zeros((0, len(FrameClass)), dtype=np.int64)
    b0 = (first - first_block) // bp
    return first, blocks[b0:b0 + n * per].reshape(n, per, -1).sum(axis=1)


def _status(counts: np.ndarray, pages: int) -> np.ndarray:
    """Each range's state: "free", "freeable" or the worst class that spoils it."""
    out = np.full(counts.shape[0], "freeable", dtype=object)
    for c in reversed(SPOILERS):  # the worst last, so it wins
        out[counts[:, c] > 0] = CLASS_NAMES[c]
    out[counts[:, FrameClass.FREE] == pages] = "free"
    return out


@dataclass
class Contiguity:
    """What :func:`contiguity` measured; each frame has a ``zone`` column."""

    runs: pl.DataFrame  # zone, bucket, free_runs, free_pages, movable_runs, movable_pages
    ranges: pl.DataFrame  # zone, size, ranges, free, freeable, then one column per spoiler
    spoilers: pl.DataFrame  # zone, range_pfn, pageblock_pfn, hole, unmovable, reclaimable, pinned
    summary: pl.DataFrame  # zone, pages, one column per class, unmovable_share, blocks_touched_share, ...
    classes: np.ndarray  # int8 [nr_pages]: each frame's FrameClass

    def _repr_html_(self) -> str:
        from mmkit.result import Table

        return Table(self.summary)._repr_html_() + Table(self.ranges)._repr_html_()

    def __repr__(self) -> str:
        from mmkit.result import Table

        return f"Contiguity\n{Table(self.summary)}\n{Table(self.ranges)}"


def contiguity(memory: Any) -> Contiguity:
    """Contiguity of every zone of ``memory`` (a :class:`~mmkit.model.memory.Memory`, or a
    :class:`~mmkit.snapshot.Snapshot`, built with ``Memory.from_snapshot``).

    Parameters
    ----------
    memory : Memory or Snapshot
        A synthetic machine, a run's final memory (``result.memories[variant]``) or a
        real machine's state.

    Returns
    -------
    Contiguity
        ``runs``, ``ranges``, ``spoilers`` and ``summary`` frames (see the module
        docstring) and each frame's class.

    Raises
    ------
    ParameterError
        ``memory`` is neither a Memory nor a Snapshot.

    Examples
    --------
    >>> import mmkit
    >>> c = mmkit.contiguity(mmkit.Memory.synthetic(gib=2, variant="v6.18"))
    >>> c.ranges.filter(size="1GiB")["freeable"].sum() > 0
    True

    Notes
    -----
    The rules are ``alloc_contig_range``'s (mm/page_alloc.c, mm/page_isolation.c
    ``has_unmovable_pages``) and ``isolate_migratepages_block``'s pinned-page test
    (mm/compaction.c). Ranges are naturally aligned, as ``alloc_contig_pages`` and
    hugetlb's gigantic pages take them.
    """
    mem = _memory(memory)
    cls = frame_classes(mem)
    runs, ranges, spoilers, summary = [], [], [], []
    bp = 1 << PAGEBLOCK_ORDER
    for z, name in enumerate(mem.zone_names):
        start, end = int(mem.zone_start[z]), int(mem.zone_end[z])
        zc = cls[start:end]
        free = zc == FrameClass.FREE
        movable = free | (zc == FrameClass.MOVABLE)
        fr, mr = _runs(free), _runs(movable)
        fb, mb = _bucket(fr), _bucket(mr)
        nb = MAX_BUCKET + 2
        f_n, m_n = np.bincount(fb, minlength=nb), np.bincount(mb, minlength=nb)
        f_p, m_p = np.bincount(fb, weights=fr, minlength=nb), np.bincount(mb, weights=mr, minlength=nb)
        for b in range(nb):
            runs.append((name, BUCKETS[b], (1 << b) * PAGE_SIZE, int(f_n[b]), int(f_p[b]), int(m_n[b]), int(m_p[b])))
        fb0, blocks = _block_counts(cls, start, end)
        for size, nbytes in RANGE_SIZES.items():
            pages = nbytes // PAGE_SIZE
            first, counts = _range_counts(blocks, fb0, start, end, pages)
            st = _status(counts, pages)
            row = {"zone": name, "size": size, "ranges": int(counts.shape[0]),
                   "free": int((st == "free").sum()), "freeable": int(((st == "free") | (st == "freeable")).sum())}
            for c in SPOILERS:
                row[f"spoiled_{CLASS_NAMES[c]}"] = int((st == CLASS_NAMES[c]).sum())
            ranges.append(row)
            if size == GIGANTIC:
                for i in np.flatnonzero(np.isin(st, [CLASS_NAMES[c] for c in SPOILERS])):
                    r0 = first + int(i) * pages
                    inside = blocks[(r0 - fb0) // bp:(r0 - fb0) // bp + pages // bp]
                    for j in np.flatnonzero(inside[:, list(SPOILERS)].sum(axis=1) > 0):
                        spoilers.append((name, r0, r0 + int(j) * bp, *(int(inside[j, c]) for c in SPOILERS)))
        counts = np.bincount(zc, minlength=len(FrameClass))
        stuck = int(counts[STUCK].sum())
        usable = int(zc.shape[0] - counts[FrameClass.HOLE] - counts[FrameClass.UNINIT])
        touched = blocks[:, STUCK].sum(axis=1) > 0
        srow = {"zone": name, "pages": usable}
        for c in FrameClass:
            if c != FrameClass.HOLE:
                srow[CLASS_NAMES[c]] = int(counts[c])
        srow.update(unmovable_share=stuck / usable if usable else float("nan"),
                    blocks=int(blocks.shape[0]), blocks_touched=int(touched.sum()),
                    blocks_touched_share=float(touched.mean()) if touched.size else float("nan"),
                    largest_free_run_pages=int(fr.max()) if fr.size else 0,
                    largest_movable_run_pages=int(mr.max()) if mr.size else 0)
        summary.append(srow)
    run_schema = {"zone": pl.String, "bucket": pl.String, "bucket_bytes": pl.Int64, "free_runs": pl.Int64,
                  "free_pages": pl.Int64, "movable_runs": pl.Int64, "movable_pages": pl.Int64}
    sp_schema = {"zone": pl.String, "range_pfn": pl.Int64, "pageblock_pfn": pl.Int64,
                 **{CLASS_NAMES[c]: pl.Int64 for c in SPOILERS}}
    return Contiguity(
        runs=pl.DataFrame(runs, schema=run_schema, orient="row"),
        ranges=pl.DataFrame(ranges),
        spoilers=pl.DataFrame(spoilers, schema=sp_schema, orient="row"),
        summary=pl.DataFrame(summary),
        classes=cls,
    )


def _pinned_heads(mem) -> np.ndarray:
    """Head pfns of the pinned anonymous pages and folios (isolate_lru_folio's test).
    Whole-array comparisons on the narrow arrays first (a gather over every anonymous
    page costs more), then the few candidates."""
    rc = mem.refcount.astype(np.int32)
    cand = np.flatnonzero((mem.kind == PageKind.ANON) & (rc > mem.mapcount.astype(np.int32) + 1))
    return cand[((mem.mapping[cand] & 1) == 1) & (mem.lru_next[cand] > -2)]


def _block_class_counts(mem) -> np.ndarray:
    """Frames of each class per pageblock, int64 [pageblocks, classes], from the counts
    by kind the engine keeps per pageblock (``pb_nr_kind``; recounted from ``kind`` when
    they do not add up, e.g. on a Memory no Sim has run on) and the pinned pages."""
    from mmkit.model.kinds import NR_KINDS

    nb = mem.nr_pageblocks
    pk = mem.pb_nr_kind[:nb].astype(np.int64)
    if pk.sum() != mem.nr_pages:
        idx = (np.arange(mem.nr_pages, dtype=np.int64) >> PAGEBLOCK_ORDER) * NR_KINDS + mem.kind
        pk = np.bincount(idx, minlength=nb * NR_KINDS).reshape(nb, NR_KINDS)
    to_class = np.zeros((NR_KINDS, len(FrameClass)), dtype=np.int64)
    to_class[np.arange(NR_KINDS), _KIND_CLASS[:NR_KINDS]] = 1
    if mem.variant is not None and not bool(mem.variant.zsmalloc_movable):
        to_class[PageKind.ZSMALLOC] = 0
        to_class[PageKind.ZSMALLOC, FrameClass.UNMOVABLE] = 1
    out = pk @ to_class
    heads = _pinned_heads(mem)
    if heads.size:
        from mmkit.model import flags as pg

        big = (mem.flags[heads].astype(np.int64) >> pg.PG_head) & 1 == 1
        npages = np.ones(heads.size, dtype=np.int64)
        if big.any():
            npages[big] = np.left_shift(1, mem.private[heads[big] + 1].astype(np.int64))
        blk = heads >> PAGEBLOCK_ORDER
        np.subtract.at(out[:, FrameClass.MOVABLE], blk, npages)
        np.add.at(out[:, FrameClass.PINNED], blk, npages)
    return out


def contiguity_row(mem) -> dict[str, float]:
    """The whole machine's contiguity in a few numbers, for a timeline row: 2 MiB and
    1 GiB aligned ranges (how many, free, freeable), the longest runs of whole free and
    of whole freeable pageblocks (free or movable frames only), and the two Contiguitas
    figures. Pageblock-level, from the engine's per-pageblock counts: cheap enough to
    take during a run."""
    bp = 1 << PAGEBLOCK_ORDER
    allb = _block_class_counts(mem)
    nb = allb.shape[0]
    out: dict[str, float] = dict.fromkeys(("ranges_2MiB", "free_2MiB", "freeable_2MiB", "ranges_1GiB", "free_1GiB",
                                           "freeable_1GiB", "largest_free_run_blocks", "largest_freeable_run_blocks"), 0)
    usable = stuck = touched = nblocks = 0
    for z in range(mem.nr_zones):
        start, end = int(mem.zone_start[z]), int(mem.zone_end[z])
        b0, b1 = -(-start // bp), min(end // bp, nb)
        if b1 <= b0:
            continue
        blocks = allb[b0:b1]
        free_b = blocks[:, FrameClass.FREE] == bp
        ok_b = blocks[:, FrameClass.FREE] + blocks[:, FrameClass.MOVABLE] == bp
        for size in ("2MiB", "1GiB"):
            pages = RANGE_SIZES[size] // PAGE_SIZE
            _, counts = _range_counts(blocks, b0 * bp, start, end, pages)
            out[f"ranges_{size}"] += counts.shape[0]
            out[f"free_{size}"] += int((counts[:, FrameClass.FREE] == pages).sum())
            out[f"freeable_{size}"] += int((counts[:, FrameClass.FREE] + counts[:, FrameClass.MOVABLE] == pages).sum())
        out["largest_free_run_blocks"] = max(out["largest_free_run_blocks"], _longest(free_b))
        out["largest_freeable_run_blocks"] = max(out["largest_freeable_run_blocks"], _longest(ok_b))
        present = blocks.sum(axis=0)
        usable += int(present.sum() - present[FrameClass.HOLE] - present[FrameClass.UNINIT])
        stuck += int(present[STUCK].sum())
        nblocks += blocks.shape[0]
        touched += int((blocks[:, STUCK].sum(axis=1) > 0).sum())
    out["unmovable_share"] = stuck / usable if usable else float("nan")
    out["blocks_touched_share"] = touched / nblocks if nblocks else float("nan")
    return out
