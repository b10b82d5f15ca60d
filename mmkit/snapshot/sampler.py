"""One cheap reading of this machine's memory state, for watching it over time: :func:`sample`.

A :class:`Sampler` reads the small kernel files a live view needs, parses them with
:mod:`mmkit.snapshot.parse` and returns a :class:`Sample`:

* ``/proc/buddyinfo`` (free blocks per zone and order; required), ``zoneinfo`` (spans,
  watermarks) and ``vmstat`` (the compaction counters): world-readable;
* ``/proc/pagetypeinfo`` (pageblocks per migratetype; free lists per migratetype): root
  only since v5.6 (``init_mm_internals`` creates it 0400);
* debugfs ``extfrag/extfrag_index`` and ``unusable_index`` when debugfs is mounted and
  readable (it is not mounted here: a sampler changes nothing on the machine);
* ``/proc/kpageflags`` (0400) when root, to count *mixed pageblocks*: pageblocks holding
  both a page on an LRU list (``KPF_LRU``: movable) and a slab or page-table page
  (``KPF_SLAB``, ``KPF_PGTABLE``: unmovable or reclaimable). /proc does not say a
  pageblock's migratetype, so this counts mixed mobility, not ``pagetypeinfo``'s "Number
  of mixed blocks" (which needs page_owner; kept too when the kernel prints it).

A source that cannot be read is *unavailable*: ``Sample.unavailable`` maps it to why
(``"needs root (0400 since 5.6)"``), and the sample has the rest. Only an unreadable or
unparsable buddyinfo raises :class:`~mmkit.errors.SnapshotError`.

kpageflags is 8 bytes per page frame (50 MiB for 24 GiB: about half a second of kernel
time to read), so a Sampler reads it at most once every ``kpageflags_cost`` times its
last read's duration (default 10: under a tenth of the time spent reading it); samples
in between carry no mixed-pageblock count. Its buffers are allocated once and reused, so
sampling does not itself take pages from the buddy allocator each time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from mmkit.errors import ParameterError, SnapshotError
from mmkit.snapshot import live, parse

__all__ = ["SOURCES", "Sample", "Sampler", "sample"]

# what a sample reads, in order; the first is required
SOURCES = ("buddyinfo", "zoneinfo", "vmstat", "pagetypeinfo", "extfrag_index", "unusable_index", "kpageflags")
_PROC_TEXT = ("buddyinfo", "zoneinfo", "vmstat", "pagetypeinfo")
_DEBUGFS_TEXT = ("extfrag_index", "unusable_index")
_ZONE_KEYS = ("start_pfn", "spanned", "present", "managed", "pages free", "min", "low", "high")

KPF_LRU = 5  # mmkit.model.kpf, include/uapi/linux/kernel-page-flags.h
KPF_SLAB = 7
KPF_PGTABLE = 26
_MOVABLE = np.uint64(1 << KPF_LRU)
_UNMOVABLE = np.uint64((1 << KPF_SLAB) | (1 << KPF_PGTABLE))
DEFAULT_PAGEBLOCK_ORDER = 9  # x86-64 when pagetypeinfo cannot say
_CHUNK_PFNS = 1 << 20  # kpageflags is read and classified 8 MiB at a time


@dataclass(frozen=True)
class Sample:
    """One reading of the machine: the raw texts, their parsed frames, what was unavailable.

    ``time`` is the Unix time the reading started, ``seconds`` what reading and parsing
    took. ``texts`` holds each file read, byte for byte (a snapshot folder's files).
    ``pagetypeinfo``, ``vmstat``, ``zones`` and ``mixed`` are None when their source was
    unavailable (``unavailable[source]`` says why) or, for ``mixed``, not read this time
    (``kpageflags_next`` seconds until the next read). ``zone_names``, ``zone_nodes`` and
    ``nr_free`` give buddyinfo as :class:`~mmkit.snapshot.Snapshot` does, so the
    :mod:`mmkit.metrics` functions take a Sample.
    """

    time: float
    seconds: float
    texts: Mapping[str, bytes]
    unavailable: Mapping[str, str]
    buddyinfo: pl.DataFrame
    pagetypeinfo: parse.PageTypeInfo | None = None
    vmstat: pl.DataFrame | None = None
    zones: pl.DataFrame | None = None  # node, zone, start_pfn, spanned, present, managed, pages free, min, low, high
    mixed: pl.DataFrame | None = None  # node, zone, pageblocks, mixed_pageblocks
    kpageflags_seconds: float | None = None
    kpageflags_next: float | None = None
    kernel_release: str | None = None
    _table: tuple = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_table", parse.buddyinfo_zone_table(self.buddyinfo))

    @property
    def zone_names(self) -> tuple[str, ...]:
        """Zone of each buddyinfo line (populated zones, as the kernel lists them)."""
        return self._table[0]

    @property
    def zone_nodes(self) -> tuple[int, ...]:
        """NUMA node of each buddyinfo line."""
        return self._table[1]

    @property
    def nr_free(self) -> np.ndarray:
        """Free blocks per buddyinfo line per order, int64 ``[zones, orders]`` (a copy)."""
        return self._table[2].copy()

    def status(self) -> dict[str, str]:
        """Each source of :data:`SOURCES`: ``"read"``, or why it is unavailable or was not read."""
        out = {}
        for name in SOURCES:
            if name in self.unavailable:
                out[name] = f"unavailable: {self.unavailable[name]}"
            elif name == "kpageflags":
                out[name] = "read" if self.mixed is not None else "not read this time"
            else:
                out[name] = "read" if name in self.texts else "not read"
        return out


def _zones_frame(zoneinfo: pl.DataFrame) -> pl.DataFrame:
    z = zoneinfo.filter((pl.col("scope") == "zone") & pl.col("key").is_in(list(_ZONE_KEYS)))
    wide = z.pivot(on="key", index=["node", "zone"], values="value", aggregate_function="first",
                   maintain_order=True)
    for k in _ZONE_KEYS:
        if k not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Int64).alias(k))
    return wide.select("node", "zone", *_ZONE_KEYS)


class Sampler:
    """Reads :class:`Sample` s of one machine (``proc_root``, ``debugfs_root``: default
    :data:`mmkit.snapshot.live.PROC_ROOT` and ``DEBUGFS_ROOT``, read at each sample).

    ``kpageflags``: read it for the mixed-pageblock count (True), never (False), or when
    it can be opened (None, the default: when root). ``kpageflags_cost``: read it at most
    once every this many times its last read's duration. Thread-safe: one sample at a time.
    """

    def __init__(self, proc_root: str | os.PathLike | None = None, debugfs_root: str | os.PathLike | None = None,
                 *, kpageflags: bool | None = None, kpageflags_cost: float = 10.0) -> None:
        if kpageflags not in (None, True, False):
            raise ParameterError(f"kpageflags: {kpageflags!r}; give True, False or None (when readable)")
        if isinstance(kpageflags_cost, bool) or not isinstance(kpageflags_cost, (int, float)) or not (
                1 <= kpageflags_cost <= 1e6):
            raise ParameterError(f"kpageflags_cost: {kpageflags_cost!r}; give a number in 1..1e6")
        self._proc_root = None if proc_root is None else Path(proc_root)
        self._debugfs_root = None if debugfs_root is None else Path(debugfs_root)
        self.kpageflags = kpageflags
        self.kpageflags_cost = float(kpageflags_cost)
        self._lock = threading.Lock()
        self._buf: np.ndarray | None = None  # one chunk of kpageflags, reused
        self._tmp: np.ndarray | None = None
        self._last_kpf: tuple[float, float] | None = None  # (monotonic end, duration) of the last read

    @property
    def proc_root(self) -> Path:
        return self._proc_root if self._proc_root is not None else Path(live.PROC_ROOT)

    @property
    def debugfs_root(self) -> Path:
        return self._debugfs_root if self._debugfs_root is not None else Path(live.DEBUGFS_ROOT)

    def sample(self, stop: threading.Event | None = None) -> Sample:
        """Read one :class:`Sample`. ``stop`` (an Event) set meanwhile cuts the kpageflags
        read short (the sample then has no mixed count). Raises :class:`SnapshotError`
        only if buddyinfo cannot be read or parsed."""
        with self._lock:
            return self._sample(stop)

    def _sample(self, stop: threading.Event | None) -> Sample:
        t_wall, t0 = time.time(), time.perf_counter()
        proc, dbg = self.proc_root, self.debugfs_root
        texts: dict[str, bytes] = {}
        unavailable: dict[str, str] = {}
        for name in _PROC_TEXT:
            try:
                texts[name] = _read(proc / name)
            except OSError as e:
                if name == "buddyinfo":
                    raise SnapshotError(f"cannot read {proc / name}: {e.strerror or e}") from None
                unavailable[name] = live.unavailable_reason(name, e)
        for name in _DEBUGFS_TEXT:
            try:
                texts[name] = _read(dbg / "extfrag" / name)
            except OSError as e:
                unavailable[name] = _debugfs_reason(dbg, e)
        buddyinfo = parse.parse_buddyinfo(_text(texts["buddyinfo"]), str(proc / "buddyinfo"))
        frames: dict[str, object] = {}
        for name, fn in (("pagetypeinfo", parse.parse_pagetypeinfo), ("vmstat", parse.parse_vmstat),
                         ("zoneinfo", parse.parse_zoneinfo)):
            if name in texts:
                try:
                    frames[name] = fn(_text(texts[name]), str(proc / name))
                except SnapshotError as e:  # a file the parsers do not know: say so, keep the rest
                    unavailable[name] = f"not understood ({e})"
                    del texts[name]
        zones = _zones_frame(frames["zoneinfo"]) if "zoneinfo" in frames else None
        pti = frames.get("pagetypeinfo")
        mixed, kpf_seconds, kpf_next = None, None, None
        if self.kpageflags is False:
            unavailable["kpageflags"] = "not asked for (kpageflags=False)"
        elif zones is None:
            unavailable["kpageflags"] = "needs zoneinfo to place pageblocks in zones"
        else:
            wait = self._kpageflags_wait()
            if wait > 0:
                kpf_next = wait
            else:
                order = pti.pageblock_order if pti is not None else DEFAULT_PAGEBLOCK_ORDER
                try:
                    t1 = time.perf_counter()
                    mixed = self._mixed(proc / "kpageflags", zones, order, stop)
                    kpf_seconds = time.perf_counter() - t1
                    if mixed is not None:
                        self._last_kpf = (time.monotonic(), kpf_seconds)
                        kpf_next = kpf_seconds * (self.kpageflags_cost - 1)
                except OSError as e:
                    unavailable["kpageflags"] = live.unavailable_reason("kpageflags", e)
        release = None
        try:
            release = _read(proc / "sys" / "kernel" / "osrelease").decode("ascii", "replace").strip()
        except OSError:
            pass
        return Sample(time=t_wall, seconds=time.perf_counter() - t0, texts=texts, unavailable=unavailable,
                      buddyinfo=buddyinfo, pagetypeinfo=pti, vmstat=frames.get("vmstat"), zones=zones,
                      mixed=mixed, kpageflags_seconds=kpf_seconds, kpageflags_next=kpf_next,
                      kernel_release=release)

    def _kpageflags_wait(self) -> float:
        if self._last_kpf is None:
            return 0.0
        end, took = self._last_kpf
        return max(0.0, end + took * (self.kpageflags_cost - 1) - time.monotonic())

    def _mixed(self, path: Path, zones: pl.DataFrame, order: int, stop: threading.Event | None) -> pl.DataFrame | None:
        """Per zone: pageblocks and mixed pageblocks (an LRU page and a slab or page-table
        page in one pageblock), from kpageflags read a chunk at a time; None if ``stop``
        was set meanwhile."""
        per_block = 1 << order
        chunk = max(_CHUNK_PFNS // per_block, 1) * per_block
        if self._buf is None or self._buf.shape[0] != chunk:
            self._buf = np.zeros(chunk, dtype="<u8")
            self._tmp = np.zeros(chunk, dtype="<u8")
        buf, tmp = self._buf, self._tmp
        assert tmp is not None
        view = memoryview(buf).cast("B")
        movable: list[np.ndarray] = []
        unmovable: list[np.ndarray] = []
        fd = live._open(path)  # an OSError: unavailable (not root)
        try:
            while True:
                if stop is not None and stop.is_set():
                    return None
                n = 0
                while n < len(view):
                    got = os.readv(fd, [view[n:]])
                    if not got:
                        break
                    n += got
                pfns = n // 8
                if pfns:
                    nb = -(-pfns // per_block)
                    buf[pfns:nb * per_block] = 0  # a partial last block: the rest counts as nothing
                    np.bitwise_and(buf[:nb * per_block], _MOVABLE, out=tmp[:nb * per_block])
                    movable.append(tmp[:nb * per_block].reshape(nb, per_block).any(axis=1))
                    np.bitwise_and(buf[:nb * per_block], _UNMOVABLE, out=tmp[:nb * per_block])
                    unmovable.append(tmp[:nb * per_block].reshape(nb, per_block).any(axis=1))
                if n < len(view):
                    break
        finally:
            os.close(fd)
        mixed = np.concatenate(movable) & np.concatenate(unmovable) if movable else np.zeros(0, bool)
        rows = []
        for node, zone, start, spanned, present in zones.select("node", "zone", "start_pfn", "spanned",
                                                                 "present").iter_rows():
            if not present or start is None or spanned is None:
                continue  # populated zones only, as buddyinfo lists them
            b0, b1 = start >> order, -(-(start + spanned) // per_block)
            rows.append((node, zone, b1 - b0, int(np.count_nonzero(mixed[b0:b1]))))
        return pl.DataFrame(rows, schema={"node": pl.Int64, "zone": pl.String, "pageblocks": pl.Int64,
                                          "mixed_pageblocks": pl.Int64}, orient="row")


def _read(path: Path) -> bytes:
    """A /proc or debugfs text file to EOF (their st_size is 0)."""
    fd = live._open(path)
    try:
        parts = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            parts.append(b)
            if sum(map(len, parts)) > live._MAX_TEXT:
                raise OSError(0, f"more than {live._MAX_TEXT} bytes")
        return b"".join(parts)
    finally:
        os.close(fd)


def _text(data: bytes) -> str:
    return data.decode("ascii", "replace")


def _debugfs_reason(root: Path, e: OSError) -> str:
    import errno

    if e.errno in (errno.EACCES, errno.EPERM):
        return "needs root (debugfs is 0700)"
    if e.errno == errno.ENOENT:
        if not os.path.isdir(root / "extfrag") and not os.path.ismount(root) and root == live._SYSTEM_DEBUGFS:
            return "debugfs is not mounted (mount -t debugfs none /sys/kernel/debug)"
        return "no extfrag/ in debugfs (a kernel without CONFIG_COMPACTION or CONFIG_DEBUG_FS)"
    return e.strerror or str(e)


def sample(proc_root: str | os.PathLike | None = None, debugfs_root: str | os.PathLike | None = None, *,
           kpageflags: bool | None = None) -> Sample:
    """Read this machine's memory state once (see the module docstring): a :class:`Sample`.

    Parameters
    ----------
    proc_root, debugfs_root
        Where /proc and debugfs are (default :data:`mmkit.snapshot.live.PROC_ROOT` and
        ``DEBUGFS_ROOT``); tests point them at folders of real file text.
    kpageflags
        Read /proc/kpageflags for the mixed-pageblock count: True, False, or None (the
        default) when it can be opened (root).

    Returns
    -------
    Sample
        The texts read, their frames, and ``unavailable``: each source that could not be
        read and why (``{"pagetypeinfo": "needs root (0400 since 5.6)", ...}``).

    Raises
    ------
    SnapshotError
        buddyinfo cannot be read or is not what the kernel prints.

    Examples
    --------
    >>> s = mmkit.snapshot.sample()                                    # doctest: +SKIP
    >>> s.status()["pagetypeinfo"]                                     # doctest: +SKIP
    'unavailable: needs root (0400 since 5.6)'
    """
    return Sampler(proc_root, debugfs_root, kpageflags=kpageflags).sample()
