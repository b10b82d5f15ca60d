"""A snapshot folder of real kernel memory state, and :func:`load`.

A snapshot is a folder whose files are named exactly as the kernel files they copy:

==================  ==========================================  ==========
file                source                                      form
==================  ==========================================  ==========
``buddyinfo``       ``/proc/buddyinfo``                         text, **required**
``pagetypeinfo``    ``/proc/pagetypeinfo``                      text
``zoneinfo``        ``/proc/zoneinfo``                          text
``vmstat``          ``/proc/vmstat``                            text
``meminfo``         ``/proc/meminfo``                           text
``extfrag_index``   debugfs ``extfrag/extfrag_index``           text
``unusable_index``  debugfs ``extfrag/unusable_index``          text
``kpageflags``      ``/proc/kpageflags``                        u64 per pfn: raw, ``.gz``, ``.zst`` or ``.npy``
``kpagecount``      ``/proc/kpagecount``                        same, same length as kpageflags
``meta.json``       kernel release, page size, pageblock order, capture time
==================  ==========================================  ==========

Only ``buddyinfo`` is required. Each property that needs another file raises
:class:`SnapshotError` naming the missing file. An optional text file that is empty (or
only blank lines: what copying a root-only /proc file without root gives) counts as
absent. Text files are parsed on first use and kept; the big arrays are loaded on first
use too.

Without ``meta.json`` the page size, the pageblock order and the kernel's era are read
from the files themselves (:attr:`Snapshot.page_size_source`,
:attr:`Snapshot.pageblock_order_source`, :meth:`Snapshot.extfrag_style`).
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mmkit.errors import ParameterError, SnapshotError
from mmkit.snapshot import parse
from mmkit.snapshot.arrays import ARRAY_NAMES, DEFAULT_MAX_PFNS, find_array_file, read_u64_array

__all__ = ["EXTFRAG_WIDE_SINCE", "LEGACY_FIELDS", "META_NAME", "MODERN_FIELDS", "TEXT_FILES", "Snapshot", "load"]

TEXT_FILES = ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo", "extfrag_index", "unusable_index")
META_NAME = "meta.json"
MAX_TEXT_BYTES = 64 << 20  # a zoneinfo of a 1024-cpu machine is a few MiB

_PURPOSE = {
    "pagetypeinfo": "free lists per migratetype and pageblock counts",
    "zoneinfo": "zone watermarks and spans",
    "vmstat": "vm counters",
    "meminfo": "memory totals",
    "extfrag_index": "the kernel's own fragmentation index",
    "unusable_index": "the kernel's own unusable free space index",
    "kpageflags": "page flags per page frame",
    "kpagecount": "map counts per page frame",
}


def kernel_version(release: str | None) -> tuple[int, int] | None:
    """``(major, minor)`` from a ``uname -r`` string such as ``"6.18.44-fc"``, else None."""
    if not release:
        return None
    m = re.match(r"(\d{1,9})\.(\d{1,9})(?!\d)", release)
    return (int(m.group(1)), int(m.group(2))) if m else None


class Snapshot:
    """Parsed view of one snapshot folder (see the module docstring for the files).

    Frames are polars DataFrames in long form (one row per node, zone, order ...);
    arrays are numpy. ``zone_names`` / ``zone_nodes`` / ``nr_free`` give buddyinfo as the
    ``Memory`` class has it, so the metrics take either.
    """

    def __init__(self, path: str | Path, *, max_pfns: int = DEFAULT_MAX_PFNS) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SnapshotError(f"snapshot folder {self.path} does not exist")
        if not self.path.is_dir():
            raise SnapshotError(f"{self.path} is not a folder (a snapshot is a folder of kernel files)")
        if not (self.path / "buddyinfo").is_file():
            raise SnapshotError(
                f"{self.path}: no buddyinfo file; every snapshot needs a copy of /proc/buddyinfo"
            )
        if not isinstance(max_pfns, int) or max_pfns <= 0:
            raise ParameterError(f"max_pfns: {max_pfns!r}; give a positive int")
        self.max_pfns = max_pfns
        self._array_files = {name: find_array_file(self.path, name) for name in ARRAY_NAMES}
        self.buddyinfo  # validate the one required file now

    def __repr__(self) -> str:
        return f"Snapshot({str(self.path)!r}, files={list(self.files)})"

    # ------------------------------------------------------------------ files
    @property
    def files(self) -> tuple[str, ...]:
        """Names of the snapshot files present (``kpageflags.gz``, ``buddyinfo`` ...)."""
        names = [n for n in TEXT_FILES if (self.path / n).is_file()]
        names += [p.name for p in self._array_files.values() if p is not None]
        if (self.path / META_NAME).is_file():
            names.append(META_NAME)
        return tuple(names)

    def has(self, name: str) -> bool:
        """Whether the snapshot has the kernel file ``name`` (any stored form for arrays).

        An optional text file that is empty or blank counts as absent (:meth:`is_blank`).
        """
        if name in ARRAY_NAMES:
            return self._array_files[name] is not None
        return (self.path / name).is_file() and not (name != "buddyinfo" and self.is_blank(name))

    def is_blank(self, name: str) -> bool:
        """Whether the text file ``name`` exists and holds nothing but whitespace."""
        p = self.path / name
        try:
            if not p.is_file() or p.stat().st_size > 4096:
                return False
            return not p.read_bytes().strip()
        except OSError:
            return False

    def _require(self, name: str) -> Path:
        if name in ARRAY_NAMES:
            p = self._array_files[name]
        else:
            p = self.path / name if (self.path / name).is_file() else None
            if p is not None and name != "buddyinfo" and self.is_blank(name):
                hint = f" ({parse.EMPTY_PAGETYPEINFO_HINT})" if name == "pagetypeinfo" else ""
                raise SnapshotError(
                    f"{self.path}: the {name} file is empty{hint}; it is needed for "
                    f"{_PURPOSE.get(name, name)}. Copy it again as root"
                )
        if p is None:
            what = _PURPOSE.get(name, name)
            raise SnapshotError(
                f"{self.path}: no {name} file in this snapshot; it is needed for {what}. "
                f"Capture again with 'mmkit snapshot capture DIR' (as root) to get it"
            )
        return p

    def text(self, name: str) -> str:
        """The raw text of the kernel text file ``name`` (exactly as captured)."""
        if name not in TEXT_FILES:
            raise SnapshotError(f"{name!r} is not a snapshot text file (one of {', '.join(TEXT_FILES)})")
        p = self._require(name)
        try:
            size = p.stat().st_size
            if size > MAX_TEXT_BYTES:
                raise SnapshotError(f"{name}: {size} bytes, more than any kernel prints for it; refusing")
            data = p.read_bytes()
        except OSError as e:
            raise SnapshotError(f"{name}: cannot read ({e.strerror or e})") from None
        try:
            return data.decode("ascii")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise SnapshotError(
                f"{name} line {line}: not text (byte {data[e.start]:#04x} at offset {e.start})"
            ) from None

    # ------------------------------------------------------------------- meta
    @cached_property
    def meta(self) -> dict[str, Any]:
        """``meta.json`` as a dict (empty if the snapshot has none)."""
        p = self.path / META_NAME
        if not p.is_file():
            return {}
        try:
            raw = p.read_bytes()
            if len(raw) > 1 << 20:
                raise SnapshotError(f"{META_NAME}: {len(raw)} bytes; refusing a metadata file this large")
            meta = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise SnapshotError(f"{META_NAME}: not UTF-8 text ({e.reason} at offset {e.start})") from None
        except json.JSONDecodeError as e:
            raise SnapshotError(f"{META_NAME} line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
        except (ValueError, RecursionError) as e:  # a number of thousands of digits; nesting too deep
            raise SnapshotError(f"{META_NAME}: not usable JSON ({str(e)[:80]})") from None
        except OSError as e:
            raise SnapshotError(f"{META_NAME}: cannot read ({e.strerror or e})") from None
        if not isinstance(meta, dict):
            raise SnapshotError(f"{META_NAME}: expected a JSON object, got {type(meta).__name__}")
        for key, ok in (("page_size", lambda v: isinstance(v, int) and v > 0 and v & (v - 1) == 0),
                        ("pageblock_order", lambda v: isinstance(v, int) and 0 <= v <= 30),
                        ("kernel_release", lambda v: isinstance(v, str))):
            if key in meta and not ok(meta[key]):
                raise SnapshotError(f"{META_NAME}: {key} = {meta[key]!r} is not valid")
        return meta

    @property
    def kernel_release(self) -> str | None:
        """``uname -r`` of the captured machine (from meta.json), or None if unknown."""
        return self.meta.get("kernel_release")

    @property
    def page_size(self) -> int:
        """Bytes per page: meta.json's ``page_size``, else read from the files
        (:attr:`page_size_source` says how), else 4096."""
        return self._page_size[0]

    @property
    def page_size_source(self) -> str:
        """Where :attr:`page_size` comes from, in words."""
        return self._page_size[1]

    @cached_property
    def _page_size(self) -> tuple[int, str]:
        if "page_size" in self.meta:
            return int(self.meta["page_size"]), "meta.json"
        for infer in (self._page_size_from_hugepages, self._page_size_from_orders, self._page_size_from_totals):
            try:
                got = infer()
            except SnapshotError:  # a file that does not parse tells nothing (and raises when read)
                continue
            if got is not None:
                return got
        return 4096, "default (4096: nothing in the files says otherwise)"

    def _page_size_from_totals(self) -> tuple[int, str] | None:
        """meminfo's MemTotal is ``totalram_pages() << (PAGE_SHIFT - 10)`` kB and
        ``totalram_pages`` the sum of the zones' managed pages (zoneinfo, v3.8+)."""
        if not (self.has("meminfo") and self.has("zoneinfo")):
            return None
        total_kb = _meminfo_kb(self.meminfo, "MemTotal")
        zi = self.zoneinfo
        managed = int(zi.filter((pl.col("scope") == "zone") & (pl.col("key") == "managed"))["value"].sum())
        if total_kb is None or managed <= 0 or (total_kb * 1024) % managed:
            return None
        size = total_kb * 1024 // managed
        if size in _PAGE_SIZES:
            return size, f"meminfo MemTotal {total_kb} kB / zoneinfo's {managed} managed pages"
        return None

    def _page_size_from_hugepages(self) -> tuple[int, str] | None:
        """A pageblock is a huge page where the kernel has hugetlb (``pageblock_order =
        HUGETLB_PAGE_ORDER``): meminfo's Hugepagesize / pagetypeinfo's pages per block."""
        if not (self.has("meminfo") and self.has("pagetypeinfo")):
            return None
        huge_kb = _meminfo_kb(self.meminfo, "Hugepagesize")
        per_block = self.pagetypeinfo.pages_per_block
        if huge_kb is None or (huge_kb * 1024) % per_block:
            return None
        size = huge_kb * 1024 // per_block
        if size in _PAGE_SIZES:
            return size, f"meminfo Hugepagesize {huge_kb} kB / {per_block} pages per block (pagetypeinfo)"
        return None

    def _page_size_from_orders(self) -> tuple[int, str] | None:
        """The geometries only larger pages have: arm64 with 64 KiB pages keeps 13 or 14
        orders (``ARCH_FORCE_MAX_ORDER``) and 512 MiB pageblocks (order 13); with 16 KiB
        pages 12 orders and 32 MiB pageblocks (order 11)."""
        orders = self.nr_free.shape[1]
        pb = None
        if "pageblock_order" in self.meta:
            pb = int(self.meta["pageblock_order"])
        elif self.has("pagetypeinfo"):
            pb = self.pagetypeinfo.pageblock_order
        size = _PAGE_SIZE_BY_GEOMETRY.get((orders, pb)) if pb is not None else None
        if size is None and pb is None and orders == 14:
            size = 65536  # only arm64 with 64 KiB pages prints 14 orders
        if size is None:
            return None
        shown = f"pageblock order {pb}" if pb is not None else "no pageblock order"
        return size, f"{orders} orders in buddyinfo and {shown}"

    @property
    def pageblock_order(self) -> int:
        """meta.json's ``pageblock_order``, else pagetypeinfo's "Page block order", else
        meminfo's Hugepagesize over the page size (:attr:`pageblock_order_source`)."""
        return self._pageblock_order[0]

    @property
    def pageblock_order_source(self) -> str:
        """Where :attr:`pageblock_order` comes from, in words."""
        return self._pageblock_order[1]

    @cached_property
    def _pageblock_order(self) -> tuple[int, str]:
        if "pageblock_order" in self.meta:
            return int(self.meta["pageblock_order"]), "meta.json"
        if self.has("pagetypeinfo"):
            return self.pagetypeinfo.pageblock_order, "pagetypeinfo"
        if self.has("meminfo") and _meminfo_kb(self.meminfo, "Hugepagesize"):
            huge_kb = _meminfo_kb(self.meminfo, "Hugepagesize")
            pages = huge_kb * 1024 // self.page_size if huge_kb else 0
            if pages > 1 and pages & (pages - 1) == 0 and huge_kb * 1024 % self.page_size == 0:
                return pages.bit_length() - 1, f"meminfo Hugepagesize {huge_kb} kB over {self.page_size}-byte pages"
        why = ("pagetypeinfo is empty (" + parse.EMPTY_PAGETYPEINFO_HINT + ")"
               if self.is_blank("pagetypeinfo") else "there is no pagetypeinfo")
        raise SnapshotError(
            f"{self.path}: pageblock order unknown: no meta.json, {why}, and no meminfo Hugepagesize line"
        )

    def extfrag_style(self) -> tuple[str, str]:
        """How this kernel printed debugfs ``extfrag_index``: ``("modern" | "legacy", why)``.

        ``extfrag_show_print`` printed ``"%d.%03d "`` until the 2021 patch "mm: vmstat.c:
        make extfrag_index show more pretty" (Message-Id
        20211019103241.134797-1-linf@wangsu.com, queued by -mm for v5.16) made it
        ``"%2d.%03d "``. Read, in order, from meta.json's kernel release, fields of
        zoneinfo and vmstat that only older or only newer kernels print
        (:data:`LEGACY_FIELDS`, :data:`MODERN_FIELDS`), and the extfrag_index text itself
        (a value from 0 to 9 preceded by a pad space or not); ``"modern"`` when nothing
        tells.
        """
        release = self.meta.get("kernel_release")
        version = kernel_version(release)
        if version is not None:
            return ("legacy" if version < EXTFRAG_WIDE_SINCE else "modern"), f"kernel release {release} (meta.json)"
        for name in ("zoneinfo", "vmstat"):
            if not self.has(name):
                continue
            try:
                frame = self.zoneinfo if name == "zoneinfo" else self.vmstat
            except SnapshotError:  # a file that does not parse tells nothing (and raises when read)
                continue
            keys = set(frame["key"])
            for key, why in MODERN_FIELDS.get(name, ()):
                if key in keys:
                    return "modern", f"{name} has {key} ({why})"
            for key, why in LEGACY_FIELDS.get(name, ()):
                if key in keys:
                    return "legacy", f"{name} has {key} ({why})"
            if name == "zoneinfo" and "node" not in set(frame["scope"]):
                return "legacy", "zoneinfo has no 'per-node stats' (printed since v4.8)"
        if self.has("extfrag_index"):
            seen = _extfrag_text_style(self.text("extfrag_index"))
            if seen is not None:
                return seen, f"extfrag_index itself (values printed {'with' if seen == 'modern' else 'without'} a pad space)"
        return "modern", "nothing in the snapshot tells; assumed modern"

    # ----------------------------------------------------------------- frames
    @cached_property
    def buddyinfo(self) -> pl.DataFrame:
        """``node, zone, order, nr_free`` (:func:`mmkit.snapshot.parse.parse_buddyinfo`)."""
        return parse.parse_buddyinfo(self.text("buddyinfo"))

    @cached_property
    def pagetypeinfo(self) -> parse.PageTypeInfo:
        """:class:`~mmkit.snapshot.parse.PageTypeInfo` (free lists per migratetype, pageblocks)."""
        return parse.parse_pagetypeinfo(self.text("pagetypeinfo"))

    @cached_property
    def zoneinfo(self) -> pl.DataFrame:
        """``node, zone, scope, cpu, key, value`` (:func:`~mmkit.snapshot.parse.parse_zoneinfo`)."""
        return parse.parse_zoneinfo(self.text("zoneinfo"))

    @cached_property
    def vmstat(self) -> pl.DataFrame:
        """``key, value`` of /proc/vmstat."""
        return parse.parse_vmstat(self.text("vmstat"))

    @cached_property
    def meminfo(self) -> pl.DataFrame:
        """``key, value, unit`` of /proc/meminfo."""
        return parse.parse_meminfo(self.text("meminfo"))

    @cached_property
    def extfrag_index(self) -> pl.DataFrame:
        """``node, zone, order, index`` of debugfs extfrag_index (index x1000, as the kernel's int)."""
        return parse.parse_extfrag_index(self.text("extfrag_index"))

    @cached_property
    def unusable_index(self) -> pl.DataFrame:
        """``node, zone, order, index`` of debugfs unusable_index (index x1000)."""
        return parse.parse_unusable_index(self.text("unusable_index"))

    # --------------------------------------------- buddyinfo as Memory has it
    @cached_property
    def _zone_table(self) -> tuple[tuple[str, ...], tuple[int, ...], np.ndarray]:
        return parse.buddyinfo_zone_table(self.buddyinfo)

    @property
    def zone_names(self) -> tuple[str, ...]:
        """Zone name of each buddyinfo line (populated zones only, as the kernel lists them)."""
        return self._zone_table[0]

    @property
    def zone_nodes(self) -> tuple[int, ...]:
        """NUMA node of each buddyinfo line."""
        return self._zone_table[1]

    @property
    def nr_free(self) -> np.ndarray:
        """Free blocks per buddyinfo line per order, int64 ``[zones, orders]`` (a copy)."""
        return self._zone_table[2].copy()

    # ----------------------------------------------------------------- arrays
    @cached_property
    def kpageflags(self) -> np.ndarray:
        """``/proc/kpageflags``: uint64 per pfn (KPF_* bits, :mod:`mmkit.model.kpf`)."""
        return read_u64_array(self._require("kpageflags"), self.max_pfns)

    @cached_property
    def kpagecount(self) -> np.ndarray:
        """``/proc/kpagecount``: uint64 map count per pfn; same length as kpageflags."""
        arr = read_u64_array(self._require("kpagecount"), self.max_pfns)
        if self.has("kpageflags") and arr.shape[0] != self.kpageflags.shape[0]:
            raise SnapshotError(
                f"{self._array_files['kpagecount'].name}: {arr.shape[0]} page frames, but "
                f"{self._array_files['kpageflags'].name} has {self.kpageflags.shape[0]}: "
                f"the two were not captured together"
            )
        return arr

    @property
    def nr_pfns(self) -> int:
        """Page frames in kpageflags (the highest pfn + 1)."""
        return int(self.kpageflags.shape[0])

    def validate(self) -> "Snapshot":
        """Parse every file present and load the arrays; raise on the first bad one."""
        for name in TEXT_FILES:
            if self.has(name):
                getattr(self, name)
        self.meta
        if self.has("kpageflags"):
            self.kpageflags
        if self.has("kpagecount"):
            self.kpagecount
        return self


# page sizes a Linux kernel can have (4 KiB to 256 KiB)
_PAGE_SIZES = (4096, 8192, 16384, 65536, 262144)
# (orders in buddyinfo, pageblock order) -> page size, for the geometries only larger pages have
_PAGE_SIZE_BY_GEOMETRY = {(14, 13): 65536, (13, 13): 65536, (12, 11): 16384}

EXTFRAG_WIDE_SINCE = (5, 16)  # first release printing extfrag_index with "%2d.%03d "

# fields that only kernels before v5.16 print, and only v5.16+ kernels print: (key, why)
LEGACY_FIELDS = {
    "zoneinfo": (
        ("scanned", "zone->pages_scanned, printed before v4.8"),
        ("all_unreclaimable", "printed before v4.8"),
        ("prev_priority", "printed until v2.6.35"),
        ("nr_alloc_batch", "the fair zone allocation policy, removed in v4.8"),
        (parse.UNNAMED_KEY, "the unnamed nr_indirectly_reclaimable of v4.14 to v4.19"),
    ),
    "vmstat": (
        ("nr_unstable", "NR_UNSTABLE_NFS, removed in v5.8"),
        ("nr_alloc_batch", "removed in v4.8"),
    ),
}
MODERN_FIELDS = {
    "zoneinfo": (
        ("high_min", "PCP high auto-tuning, v6.7"),
    ),
    "vmstat": (
        ("nr_sec_page_table_pages", "NR_SECONDARY_PAGETABLE, v6.0"),
    ),
}

_EXTFRAG_LINE = re.compile(r"Node\s+\d+,\s+zone\s+\S+ (.*)")
_EXTFRAG_SMALL = re.compile(r"[0-9]\.-?[0-9]+")  # a value whose whole part is 0 to 9


def _extfrag_text_style(text: str) -> str | None:
    """"modern" if a value from 0 to 9 is printed with a pad space (``"%2d"``), "legacy" if
    without; None if every value is negative (both formats print ``-1.000`` alike)."""
    for line in text.split("\n"):
        m = _EXTFRAG_LINE.fullmatch(line.rstrip())
        if not m:
            continue
        items = m.group(1).split(" ")
        for i, item in enumerate(items):
            if _EXTFRAG_SMALL.fullmatch(item):
                return "modern" if i > 0 and items[i - 1] == "" else "legacy"
    return None


def _meminfo_kb(meminfo: pl.DataFrame, key: str) -> int | None:
    row = meminfo.filter((pl.col("key") == key) & (pl.col("unit") == "kB"))
    return int(row["value"][0]) if row.height and int(row["value"][0]) > 0 else None


def load(path: str | Path, *, max_pfns: int = DEFAULT_MAX_PFNS) -> Snapshot:
    """Open the snapshot folder ``path``: buddyinfo is parsed now, everything else on use.

    Raises :class:`SnapshotError` if the folder is missing, has no ``buddyinfo``, or that
    file is not what the kernel prints. ``max_pfns`` bounds the arrays (default 2^27 page
    frames, 512 GiB of RAM at 4 KiB pages).
    """
    return Snapshot(path, max_pfns=max_pfns)
