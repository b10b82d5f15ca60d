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
:class:`SnapshotError` naming the missing file. Text files are parsed on first use and
kept; the big arrays are loaded on first use too.
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

__all__ = ["META_NAME", "TEXT_FILES", "Snapshot", "load"]

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
        """Whether the snapshot has the kernel file ``name`` (any stored form for arrays)."""
        if name in ARRAY_NAMES:
            return self._array_files[name] is not None
        return (self.path / name).is_file()

    def _require(self, name: str) -> Path:
        if name in ARRAY_NAMES:
            p = self._array_files[name]
        else:
            p = self.path / name if (self.path / name).is_file() else None
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
        """Bytes per page: meta.json's ``page_size``, else 4096 (x86-64)."""
        return int(self.meta.get("page_size", 4096))

    @property
    def pageblock_order(self) -> int:
        """meta.json's ``pageblock_order``, else pagetypeinfo's "Page block order"."""
        if "pageblock_order" in self.meta:
            return int(self.meta["pageblock_order"])
        if self.has("pagetypeinfo"):
            return self.pagetypeinfo.pageblock_order
        raise SnapshotError(
            f"{self.path}: pageblock order unknown: neither meta.json nor pagetypeinfo is present"
        )

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
        bi = self.buddyinfo
        keys = bi.select("node", "zone").unique(maintain_order=True)
        n_orders = int(bi["order"].max()) + 1
        nr_free = bi["nr_free"].to_numpy().astype(np.int64).reshape(keys.height, n_orders)
        return tuple(keys["zone"].to_list()), tuple(keys["node"].to_list()), nr_free

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


def load(path: str | Path, *, max_pfns: int = DEFAULT_MAX_PFNS) -> Snapshot:
    """Open the snapshot folder ``path``: buddyinfo is parsed now, everything else on use.

    Raises :class:`SnapshotError` if the folder is missing, has no ``buddyinfo``, or that
    file is not what the kernel prints. ``max_pfns`` bounds the arrays (default 2^27 page
    frames, 512 GiB of RAM at 4 KiB pages).
    """
    return Snapshot(path, max_pfns=max_pfns)
