"""``Memory``: physical memory as a structure of numpy arrays, one entry per page frame.

Per page frame (24 bytes in all):

============  =======  =======================================================
array         dtype    kernel field it stands for
============  =======  =======================================================
``flags``     uint32   ``page->flags`` (bits of :mod:`mmkit.model.flags`)
``mapcount``  int16    ``page->_mapcount`` / ``page_type`` (see encodings)
``refcount``  int8     ``page->_refcount``
``kind``      uint8    the truth: who really owns the frame (:class:`PageKind`)
``mapping``   int32    ``page->mapping``: object id << 2 | the kernel's low bits
``private``   int32    ``page->private``: buddy order, balloon id, zspage id, ...
``lru_next``  int32    ``page->lru.next`` (also ``compound_head`` on tail pages)
``lru_prev``  int32    ``page->lru.prev``
============  =======  =======================================================

``page->lru`` is one ``list_head`` shared by the buddy free lists, the LRU lists and the
balloon's page list, exactly as in the kernel, so a page put on a second list without
leaving the first corrupts the first. Lists are circular through head nodes stored after
the last page frame (node ``nr_pages + i``). A tail page of a compound page has
``lru_next = -2 - head_pfn`` (the kernel's ``compound_head`` with bit 0 set) and the
compound order is kept in ``private`` of the first tail page (``page[1].compound_order``).

Per pageblock: ``pb_flags`` (uint8: 3 bits of migratetype, then the skip bit, as the
kernel's ``pageblock_flags``). Per zone: span, present and managed pages, watermarks and
``nr_free`` per order.

Per zone and CPU: ``pcp`` (int64 ``[zones, cpus, NR_PCP_FIELDS]``), the fields of
``struct per_cpu_pages`` (count, high, batch, high_min, high_max, free_count,
alloc_factor, flags; :mod:`mmkit.engine.pcp`), and its lists, NR_PCP_LISTS list heads
per zone and CPU after the others. A Memory with no CPUs (``cpus=0``) has no per-CPU
lists: every free goes to the buddy at once, as the kernel's boot pageset (high 0,
batch 1) does. ``zone_flags`` holds ``zone->flags`` bits the per-CPU lists read
(ZONE_BELOW_HIGH, ZONE_RECLAIM_ACTIVE), ``this_cpu`` the CPU the engine runs on.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from mmkit.errors import ParameterError
from mmkit.inputs import check_number
from mmkit.model.kinds import (
    MAX_ORDER,
    MIGRATE_TYPES,
    NR_KINDS,
    NR_LRU_LISTS,
    PAGE_SIZE,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
    MigrateType,
    PageKind,
)

# Extra list heads for owners and for compaction's private lists (balloon pages,
# cc->migratepages, cc->freepages, ...). Their meaning is set by the engine.
NR_MISC_HEADS = 16

# struct per_cpu_pages: fields of Memory.pcp[z, cpu] and the lists per zone and CPU
# (NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1), then the
# two THP lists of today's order_to_pindex). Eras that keep order 0 only use lists 0-2.
NR_PCP_FIELDS = 8
NR_PCP_LISTS = 3 * 4 + 2
MAX_CPUS = 1024

PAGE_ARRAY_FIELDS = ("flags", "mapcount", "refcount", "kind", "mapping", "private", "lru_next", "lru_prev")

# The arrays handed to the numba kernels, as one namedtuple (passed by reference:
# mmkit.engine.byref).
PageArrays = namedtuple(
    "PageArrays",
    [
        "flags",
        "mapcount",
        "refcount",
        "kind",
        "mapping",
        "private",
        "lru_next",
        "lru_prev",
        "pb_flags",
        "zone_start",
        "zone_end",
        "nr_free",
        "wmark",
        "lru_size",
        "pb_nr_kind",
        "pcp",
        "zone_flags",
        "this_cpu",
        "watermark_boost",
        "nr_free_cma",
        "nr_free_isolate",
    ],
)

MAX_PAGES = 1 << 27  # 512 GiB of 4 KiB frames: past this the arrays alone exceed 3 GiB

# x86-64 zone boundaries (pfn): ZONE_DMA below 16 MiB, ZONE_DMA32 below 4 GiB.
_DMA_END = 4096
_DMA32_END = 1 << 20


# 4 GiB of frames: below, one thread copies as fast or faster than two that must start
# (synthetic machines, best of 9: 1 GiB 1.8 against 2.3 ms, 4 GiB 6.0 against 5.4 ms)
PARALLEL_COPY_PAGES = 1 << 20


def _copy_in_two_threads(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Copies of ``arrays``: each one-dimensional array of more than a MiB copied in two
    halves at once, the rest in this thread."""
    from concurrent.futures import ThreadPoolExecutor

    out = {n: np.empty_like(a) for n, a in arrays.items()}
    halves = []
    for n, a in arrays.items():
        if a.ndim == 1 and a.nbytes > 1 << 20:
            h = a.shape[0] // 2
            halves += [(out[n][:h], a[:h]), (out[n][h:], a[h:])]
        else:
            np.copyto(out[n], a)
    with ThreadPoolExecutor(2) as pool:
        for f in [pool.submit(np.copyto, dst, src) for dst, src in halves]:
            f.result()
    return out


@dataclass
class Memory:
    """Simulated physical memory of one NUMA node: page arrays, pageblocks, zones."""

    zone_names: tuple[str, ...]
    zone_start: np.ndarray  # int64 [Z], first pfn
    zone_end: np.ndarray  # int64 [Z], one past the last spanned pfn
    zone_present: np.ndarray  # int64 [Z]
    zone_managed: np.ndarray  # int64 [Z]
    wmark: np.ndarray  # int64 [Z, 3]: min, low, high
    nr_free: np.ndarray  # int64 [Z, MAX_ORDER]
    flags: np.ndarray
    mapcount: np.ndarray
    refcount: np.ndarray
    kind: np.ndarray
    mapping: np.ndarray
    private: np.ndarray
    lru_next: np.ndarray
    lru_prev: np.ndarray
    pb_flags: np.ndarray
    # int64 [Z, NR_LRU_LISTS]: zone->lru_size, kept by add/del_page_from_lru_list; a Sim
    # recounts it from the lists when it starts on a Memory
    lru_size: np.ndarray | None = None
    # int32 [pageblocks, NR_KINDS]: frames of each kind per pageblock, kept by the
    # engine's set_page_kind; a Sim recounts it when it starts on a Memory
    pb_nr_kind: np.ndarray | None = None
    # int64 [Z, cpus, NR_PCP_FIELDS]: struct per_cpu_pages of each zone and CPU (cpus may
    # be 0: no per-CPU lists); its list heads follow the misc heads
    pcp: np.ndarray | None = None
    zone_flags: np.ndarray | None = None  # int64 [Z]: zone->flags (ZONE_BELOW_HIGH, ...)
    this_cpu: np.ndarray | None = None  # int64 [1]: smp_processor_id() of the engine
    # int64 [Z]: zone->watermark_boost, already included in ``wmark`` (which holds what
    # min/low/high_wmark_pages() return, as /proc/zoneinfo prints them)
    watermark_boost: np.ndarray | None = None
    # int64 [Z]: zone_page_state(zone, NR_FREE_CMA_PAGES), the free pages of the zone's
    # MIGRATE_CMA pageblocks (in ``nr_free`` too), kept by the engine's free-list
    # operations; a Sim recounts it when it starts on a Memory
    nr_free_cma: np.ndarray | None = None
    # int64 [Z]: the free pages of the zone's MIGRATE_ISOLATE pageblocks (in ``nr_free``,
    # not in NR_FREE_PAGES), kept as ``nr_free_cma`` is; a Sim recounts it
    nr_free_isolate: np.ndarray | None = None
    variant: Any = None  # the Variant whose encodings the arrays use (set by the engine)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        nz = len(self.zone_names)
        if self.lru_size is None:
            self.lru_size = np.zeros((nz, NR_LRU_LISTS), dtype=np.int64)
        if self.pb_nr_kind is None:
            self.pb_nr_kind = np.zeros((self.pb_flags.shape[0], NR_KINDS), dtype=np.int32)
        if self.pcp is None:
            self.pcp = np.zeros((nz, 0, NR_PCP_FIELDS), dtype=np.int64)
        if self.zone_flags is None:
            self.zone_flags = np.zeros(nz, dtype=np.int64)
        if self.this_cpu is None:
            self.this_cpu = np.zeros(1, dtype=np.int64)
        if self.watermark_boost is None:
            self.watermark_boost = np.zeros(nz, dtype=np.int64)
        if self.nr_free_cma is None:
            self.nr_free_cma = np.zeros(nz, dtype=np.int64)
        if self.nr_free_isolate is None:
            self.nr_free_isolate = np.zeros(nz, dtype=np.int64)
        heads = self.lru_next.shape[0] - self.flags.shape[0]
        if heads != nr_heads(nz, self.cpus):
            raise ParameterError(
                f"Memory: {heads} list heads after the page frames, where {nz} zones and "
                f"{self.cpus} CPUs need {nr_heads(nz, self.cpus)}")

    # ----------------------------------------------------------------- layout
    @property
    def nr_pages(self) -> int:
        """Page frames in the arrays (highest spanned pfn + 1)."""
        return int(self.flags.shape[0])

    @property
    def nr_zones(self) -> int:
        return len(self.zone_names)

    @property
    def cpus(self) -> int:
        """CPUs with per-CPU page lists (0: none, every free goes to the buddy)."""
        return int(self.pcp.shape[1])

    def pcp_pages(self) -> np.ndarray:
        """Pages on each zone's per-CPU lists (zoneinfo's ``count`` summed over CPUs),
        int64 [Z]. They are free, and not in ``nr_free`` (MemFree and buddyinfo leave
        them out, as the kernel's do)."""
        return self.pcp[:, :, 0].sum(axis=1) if self.cpus else np.zeros(self.nr_zones, dtype=np.int64)

    @property
    def nr_pageblocks(self) -> int:
        return int(self.pb_flags.shape[0])

    @property
    def nbytes_per_page(self) -> float:
        """Bytes of per-page-frame arrays, divided by the number of page frames."""
        per_page = sum(getattr(self, n).nbytes for n in PAGE_ARRAY_FIELDS)
        return per_page / self.nr_pages

    @property
    def nbytes(self) -> int:
        """All bytes held in numpy arrays, pageblock and zone arrays included."""
        names = PAGE_ARRAY_FIELDS + ("pb_flags", "zone_start", "zone_end", "zone_present",
                                     "zone_managed", "wmark", "nr_free")
        return int(sum(getattr(self, n).nbytes for n in names))

    def arrays(self) -> PageArrays:
        """The arrays as the engine kernels take them."""
        return PageArrays(
            self.flags, self.mapcount, self.refcount, self.kind, self.mapping, self.private,
            self.lru_next, self.lru_prev, self.pb_flags, self.zone_start, self.zone_end,
            self.nr_free, self.wmark, self.lru_size, self.pb_nr_kind, self.pcp, self.zone_flags,
            self.this_cpu, self.watermark_boost, self.nr_free_cma, self.nr_free_isolate,
        )

    def copy(self) -> "Memory":
        """A deep copy: arrays are copied, the variant is shared (it is immutable).

        A machine of more than ``PARALLEL_COPY_PAGES`` frames has its per-frame arrays
        copied by two threads, each half of every array (numpy's copy releases the GIL):
        on a 24 GiB state (158 MB of arrays) 12.5 ms against 21.9 ms in one thread, on
        a 2-core VM. The threads live for the call only."""
        names = [n for n in self.__dataclass_fields__ if isinstance(getattr(self, n), np.ndarray)]
        if self.nr_pages <= PARALLEL_COPY_PAGES:
            kw = {n: getattr(self, n).copy() for n in names}
        else:
            kw = _copy_in_two_threads({n: getattr(self, n) for n in names})
        return Memory(zone_names=self.zone_names, variant=self.variant, meta=dict(self.meta), **kw)

    def zone_of(self, pfn: int) -> int:
        """Index of the zone spanning ``pfn``, or -1."""
        for z in range(self.nr_zones):
            if self.zone_start[z] <= pfn < self.zone_end[z]:
                return z
        return -1

    def migratetype(self, pfn: int) -> MigrateType:
        """The pageblock migratetype of ``pfn`` (``get_pageblock_migratetype``)."""
        return MigrateType(int(self.pb_flags[pfn >> PAGEBLOCK_ORDER]) & 0x7)

    def free_pages(self) -> np.ndarray:
        """Free pages per zone (sum of nr_free << order), int64 [Z]."""
        return (self.nr_free << np.arange(MAX_ORDER, dtype=np.int64)).sum(axis=1)

    # ------------------------------------------------------------ construction
    @classmethod
    def empty(cls, zones: Sequence[tuple[str, int, int]], cpus: int = 0) -> "Memory":
        """Arrays for zones ``(name, start_pfn, spanned_pages)``, every frame a hole, and
        ``cpus`` CPUs' per-CPU page lists, empty.

        Nothing is free yet; builders (``Memory.synthetic``, ``Memory.from_snapshot``)
        fill the frames and hand free ranges to the buddy allocator.
        """
        cpus = check_cpus(cpus)
        if not zones:
            raise ParameterError("zones: at least one zone is needed")
        prev_end = 0
        for name, start, spanned in zones:
            if spanned <= 0:
                raise ParameterError(f"zones: zone {name!r} spans {spanned} pages; it must span at least 1")
            if start < prev_end:
                raise ParameterError(f"zones: zone {name!r} starts at pfn {start}, inside the zone before it")
            prev_end = start + spanned
        n = prev_end
        if n > MAX_PAGES:
            raise ParameterError(
                f"memory size: {n * PAGE_SIZE / 2**30:.0f} GiB is more than the "
                f"{MAX_PAGES * PAGE_SIZE // 2**30} GiB mmkit simulates"
            )
        nz = len(zones)
        heads = nr_heads(nz, cpus)
        lru_next = np.empty(n + heads, dtype=np.int32)
        lru_prev = np.empty(n + heads, dtype=np.int32)
        lru_next[:n] = -1
        lru_prev[:n] = -1
        # every list head starts empty: pointing at itself
        lru_next[n:] = np.arange(n, n + heads, dtype=np.int32)
        lru_prev[n:] = lru_next[n:]
        nb = (n + PAGEBLOCK_NR_PAGES - 1) >> PAGEBLOCK_ORDER
        return cls(
            zone_names=tuple(z[0] for z in zones),
            zone_start=np.array([z[1] for z in zones], dtype=np.int64),
            zone_end=np.array([z[1] + z[2] for z in zones], dtype=np.int64),
            zone_present=np.zeros(nz, dtype=np.int64),
            zone_managed=np.zeros(nz, dtype=np.int64),
            wmark=np.zeros((nz, 3), dtype=np.int64),
            nr_free=np.zeros((nz, MAX_ORDER), dtype=np.int64),
            flags=np.zeros(n, dtype=np.uint32),
            mapcount=np.full(n, -1, dtype=np.int16),
            refcount=np.zeros(n, dtype=np.int8),
            kind=np.full(n, int(PageKind.HOLE), dtype=np.uint8),
            mapping=np.zeros(n, dtype=np.int32),
            private=np.zeros(n, dtype=np.int32),
            lru_next=lru_next,
            lru_prev=lru_prev,
            pb_flags=np.full(nb, int(MigrateType.MOVABLE), dtype=np.uint8),
            pcp=np.zeros((nz, cpus, NR_PCP_FIELDS), dtype=np.int64),
        )

    @classmethod
    def synthetic(
        cls,
        gib: float | None = None,
        *,
        mib: int | None = None,
        zones: Sequence[tuple[str, int]] | None = None,
        variant: Any = "v4.5",
        cpus: int = 0,
    ) -> "Memory":
        """An empty machine: every page frame free, every pageblock MOVABLE, as after boot.

        Parameters
        ----------
        gib, mib : float or int
            The size, laid out as x86-64 zones (DMA below 16 MiB, DMA32 below 4 GiB,
            Normal above; pfn 0 is not a page frame). Give one of ``gib``, ``mib``,
            ``zones``.
        zones : list of (str, int)
            ``[(name, size_mib), ...]`` laid end to end from pfn 0. Sizes are multiples
            of a pageblock (2 MiB).
        variant : str or Variant
            Picks the era's encodings (PageBuddy as ``_mapcount == -128`` or as a page
            type) and the rules the Memory is later run under.
        cpus : int
            That many CPUs' per-CPU page lists (``struct per_cpu_pages``, sized by the
            variant's era when a simulation starts); 0, the default, gives none.

        Returns
        -------
        Memory

        Raises
        ------
        ParameterError
            Not exactly one size given, a size that is not a positive multiple of a
            pageblock, ``cpus`` out of range.

        Notes
        -----
        Free ranges go to the buddy allocator as memblock does at boot
        (``__free_pages_memory`` in ``mm/memblock.c``: the largest aligned blocks, lowest
        address first), so the free lists have the kernel's order.

        Examples
        --------
        >>> mem = mmkit.Memory.synthetic(gib=1, variant="v6.18", cpus=2)
        >>> int(mem.nr_pages)
        262144
        """
        layout = synthetic_layout(gib=gib, mib=mib, zones=zones)
        from mmkit.engine.boot import boot_memory  # the engine fills what the model lays out

        return boot_memory(cls.empty(layout, cpus), variant)

    @classmethod
    def from_snapshot(cls, snapshot: Any, variant: Any = "v6.18") -> "Memory":
        """Node 0 of a real kernel snapshot, rebuilt frame by frame.

        Parameters
        ----------
        snapshot : str, os.PathLike or Snapshot
            A folder written by ``mmkit snapshot capture`` (``kpageflags``,
            ``kpagecount``, ``buddyinfo``, ``pagetypeinfo``, ``zoneinfo``, ...) or a loaded
            ``Snapshot``.
        variant : str or Variant
            The kernel whose encodings and rules the rebuilt Memory uses.

        Returns
        -------
        Memory
            Page kinds from ``/proc/kpageflags``, reference counts from
            ``/proc/kpagecount``, free blocks and pageblock migratetypes matching
            ``buddyinfo`` and ``pagetypeinfo``, per-CPU lists as zoneinfo's pagesets
            count them. ``meta["fidelity"]`` reports what could not be matched exactly.

        Raises
        ------
        SnapshotError
            A missing, truncated or foreign file, named with what was expected.

        Notes
        -----
        The rebuild is :func:`mmkit.snapshot.build_memory`; what it infers and how well
        is in ``docs/validation.md``.

        Examples
        --------
        >>> mem = mmkit.Memory.from_snapshot("data/fragmented", variant="v6.18")  # doctest: +SKIP
        """
        from mmkit.from_snapshot import build_memory

        return build_memory(snapshot, variant=variant)

    def check(self) -> None:
        """Verify the page-model invariants; raise :class:`InvariantError` naming the pfn.

        Every frame is in exactly one state; free lists are intact circular lists whose
        blocks are PageBuddy heads of their list's order, aligned, inside their zone and
        not overlapping; ``nr_free`` agrees with the lists; every frame of a free block is
        FREE and no FREE frame is outside one; refcounts are never negative.
        """
        from mmkit.engine.check import check_memory

        check_memory(self)


def nr_heads(nr_zones: int, cpus: int = 0) -> int:
    """List heads after the page frames: free lists, LRU lists, NR_MISC_HEADS, then the
    per-CPU lists (NR_PCP_LISTS per zone and CPU)."""
    return nr_zones * (MAX_ORDER * MIGRATE_TYPES + NR_LRU_LISTS) + NR_MISC_HEADS + nr_zones * cpus * NR_PCP_LISTS


def check_cpus(cpus) -> int:
    """``cpus`` as an int in 0..MAX_CPUS, or ParameterError."""
    if isinstance(cpus, bool) or not isinstance(cpus, (int, np.integer)) or not 0 <= cpus <= MAX_CPUS:
        raise ParameterError(f"cpus: {cpus!r} is out of range; give a whole number of CPUs, 0..{MAX_CPUS} "
                             f"(0: no per-CPU page lists)")
    return int(cpus)


def synthetic_layout(
    gib: float | None = None, mib: int | None = None, zones: Sequence[tuple[str, int]] | None = None
) -> list[tuple[str, int, int]]:
    """Zones ``(name, start_pfn, spanned)`` for :meth:`Memory.synthetic`, validated."""
    given = [x is not None for x in (gib, mib, zones)]
    if sum(given) != 1:
        raise ParameterError("memory size: give exactly one of gib=, mib= or zones=")
    mib_per_block = PAGEBLOCK_NR_PAGES * PAGE_SIZE >> 20
    if zones is not None:
        if isinstance(zones, (str, bytes)) or not isinstance(zones, (list, tuple)):
            raise ParameterError(f"zones: {zones!r} is not a list of (name, size_mib) pairs, e.g. "
                                 f"[('DMA32', 1024), ('Normal', 1024)]")
        out, start = [], 0
        for item in zones:
            try:
                name, size = item
            except (TypeError, ValueError):
                raise ParameterError(f"zones: each zone is (name, size_mib); got {item!r}") from None
            mib_f = check_number(f"zones: zone {name!r} size", size, "MiB")
            if not np.isfinite(mib_f) or not mib_f.is_integer() or mib_f <= 0 or int(mib_f) % mib_per_block:
                raise ParameterError(
                    f"zones: zone {name!r} is {size} MiB; sizes must be positive multiples of {mib_per_block} MiB"
                )
            pages = int(mib_f) << 20 >> 12
            out.append((str(name), start, pages))
            start += pages
        if start > MAX_PAGES:
            raise ParameterError(f"zones: {start * PAGE_SIZE >> 30} GiB in all is more than the "
                                 f"{MAX_PAGES * PAGE_SIZE // 2**30} GiB mmkit simulates")
        return out
    if gib is not None:
        total_mib = check_number("gib", gib, "GiB") * 1024
        label = f"gib={gib}"
    else:
        total_mib = check_number("mib", mib, "MiB")
        label = f"mib={mib}"
    if not np.isfinite(total_mib) or total_mib < 32 or not total_mib.is_integer() or int(total_mib) % mib_per_block:
        raise ParameterError(
            f"memory size: {label} must be at least 32 MiB and a whole multiple of {mib_per_block} MiB"
        )
    n = int(total_mib) << 20 >> 12
    if n > MAX_PAGES:
        raise ParameterError(
            f"memory size: {label} is more than the {MAX_PAGES * PAGE_SIZE // 2**30} GiB mmkit simulates"
        )
    out = [("DMA", 1, _DMA_END - 1)]
    out.append(("DMA32", _DMA_END, min(n, _DMA32_END) - _DMA_END))
    if n > _DMA32_END:
        out.append(("Normal", _DMA32_END, n - _DMA32_END))
    return out
