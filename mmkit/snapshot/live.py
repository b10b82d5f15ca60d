"""Capture this machine's memory state into a snapshot folder (:func:`capture`).

What is read, and how:

* ``/proc/kpageflags`` and ``/proc/kpagecount`` (mode 0400: root only) report size 0,
  so they are read with ``os.read`` in chunks until EOF; the two are read at the same
  time in two threads into buffers allocated and pre-faulted beforehand (allocating them
  during the capture would itself change buddyinfo). They are stored gzip-compressed.
* ``/proc/buddyinfo``, ``pagetypeinfo`` (created 0400, root only, by today's
  ``init_mm_internals`` in mm/vmstat.c), ``zoneinfo``, ``vmstat``, ``meminfo`` and
  debugfs ``extfrag/extfrag_index`` and ``extfrag/unusable_index`` are the
  "small group": read in one go, buddyinfo first and again last, repeated until the two
  buddyinfo reads agree, so the debugfs indices and pagetypeinfo belong to that buddyinfo.
* The small group is read before and after the big arrays; if buddyinfo or the debugfs
  files changed meanwhile, the whole capture is retried (``attempts`` times). The
  result's ``meta.json`` says whether it ended consistent.
* debugfs is mounted (``mount -t debugfs none /sys/kernel/debug``) if it is not and we
  are root; if extfrag/ is still missing (a kernel without ``CONFIG_DEBUG_FS`` or
  ``CONFIG_COMPACTION``) the two files are left out and meta.json says why.
* The folder is written as a temporary folder beside ``dir`` and renamed into place, so
  a reader never sees half a snapshot.

Without root, what the world-readable files give is captured: ``buddyinfo``,
``zoneinfo``, ``vmstat`` and ``meminfo``. ``pagetypeinfo`` (0400 since v5.6),
``kpageflags`` and ``kpagecount`` (0400) that cannot be opened are left out, and
``meta.json``'s ``"missing"`` maps each left-out file to why (:data:`OPTIONAL`). Any
other file that cannot be read raises :class:`SnapshotError` naming it and the reason.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Container
from pathlib import Path

import polars as pl

from mmkit.errors import ParameterError, SnapshotError
from mmkit.inputs import check_path
from mmkit.snapshot import parse
from mmkit.snapshot.snapshot import META_NAME, Snapshot

__all__ = ["DEBUGFS_ROOT", "OPTIONAL", "PROC_ROOT", "capture", "unavailable_reason"]

PROC_ROOT = Path("/proc")  # read at call time: tests point it at a fake /proc
DEBUGFS_ROOT = Path("/sys/kernel/debug")
_SYSTEM_DEBUGFS = Path("/sys/kernel/debug")  # the only place capture() may mount debugfs
FORMAT_VERSION = 1

_PROC_TEXT = ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo")
# /proc files a capture leaves out (and says why in meta.json) when they cannot be opened:
# root-only since init_mm_internals (pagetypeinfo, v5.6) and fs/proc/page.c (0400)
OPTIONAL = ("pagetypeinfo", "kpageflags", "kpagecount")
_ROOT_ONLY = {
    "pagetypeinfo": "needs root (0400 since 5.6)",
    "kpageflags": "needs root (0400)",
    "kpagecount": "needs root (0400)",
}
_DEBUGFS_TEXT = ("extfrag_index", "unusable_index")
_READ_CHUNK = 1 << 23
_MAX_TEXT = 64 << 20
_MAX_ARRAY = 8 << 30  # bytes: 2^30 page frames, 4 TiB of RAM; beyond that something is wrong


def _why(e: OSError) -> str:
    why = e.strerror or str(e)
    if e.errno in (errno.EACCES, errno.EPERM):
        why += " (run as root: the kernel makes this file readable by root only)"
    return why


def unavailable_reason(name: str, e: OSError) -> str:
    """Why the /proc or debugfs file ``name`` could not be opened, in a few words:
    ``"needs root (0400 since 5.6)"`` for pagetypeinfo denied, else the system's reason."""
    if e.errno in (errno.EACCES, errno.EPERM):
        return _ROOT_ONLY.get(name, "needs root")
    if e.errno == errno.ENOENT:
        return "not in this kernel (no such file)"
    return e.strerror or str(e)


def _probe(proc_root: Path, names: tuple[str, ...]) -> dict[str, str]:
    """The files of ``names`` that cannot be opened, each with why."""
    missing = {}
    for name in names:
        try:
            os.close(_open(proc_root / name))
        except OSError as e:
            missing[name] = unavailable_reason(name, e)
    return missing


def _open(path: Path) -> int:
    """``os.open`` read-only (a seam for tests that simulate an unprivileged user)."""
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def _read_all(path: Path, limit: int) -> bytes:
    """Read a /proc, sysfs or debugfs file to EOF with os.read (their st_size is 0)."""
    try:
        fd = _open(path)
    except OSError as e:
        raise SnapshotError(f"cannot read {path}: {_why(e)}") from None
    chunks = []
    total = 0
    try:
        while True:
            b = os.read(fd, _READ_CHUNK)
            if not b:
                break
            chunks.append(b)
            total += len(b)
            if total > limit:
                raise SnapshotError(f"{path}: more than {limit} bytes; refusing to read on")
    except OSError as e:
        raise SnapshotError(f"cannot read {path}: {_why(e)}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _mount_debugfs(debugfs_root: Path) -> str | None:
    """Mount debugfs if extfrag/ is missing; returns None or why the files are absent."""
    if os.path.isdir(debugfs_root / "extfrag"):  # False too where we may not look
        return None
    if debugfs_root != _SYSTEM_DEBUGFS:
        return f"{debugfs_root}/extfrag does not exist"
    if os.geteuid() != 0:
        if os.path.ismount(debugfs_root):
            return "needs root (debugfs is mounted 0700)"
        return "debugfs is not mounted and we are not root to mount it"
    if not os.path.ismount(debugfs_root):
        try:
            subprocess.run(["mount", "-t", "debugfs", "none", str(debugfs_root)], check=True,
                           capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as e:
            err = getattr(e, "stderr", b"") or b""
            return f"mount -t debugfs failed: {err.decode(errors='replace').strip() or e}"
    if not (debugfs_root / "extfrag").is_dir():
        return f"{debugfs_root}/extfrag does not exist (kernel without CONFIG_COMPACTION or CONFIG_DEBUG_FS)"
    return None


def _small_group(proc_root: Path, debugfs_root: Path, with_debugfs: bool, tries: int = 20,
                 skip: Container[str] = ()) -> dict[str, bytes]:
    """buddyinfo, debugfs, the other texts (but ``skip``), buddyinfo again: until the two
    buddyinfo agree."""
    for _ in range(tries):
        files = {"buddyinfo": _read_all(proc_root / "buddyinfo", _MAX_TEXT)}
        if with_debugfs:
            for name in _DEBUGFS_TEXT:
                files[name] = _read_all(debugfs_root / "extfrag" / name, _MAX_TEXT)
        for name in _PROC_TEXT[1:]:
            if name not in skip:
                files[name] = _read_all(proc_root / name, _MAX_TEXT)
        if _read_all(proc_root / "buddyinfo", _MAX_TEXT) == files["buddyinfo"]:
            return files
    raise SnapshotError(f"{proc_root}/buddyinfo changed on each of {tries} quick re-reads; "
                        f"the machine is too busy to capture a consistent state")


def _estimate_pfns(zoneinfo: bytes) -> int:
    """Highest spanned pfn + 1 from zoneinfo (``start_pfn`` + ``spanned``), 0 if unknown."""
    try:
        zi = parse.parse_zoneinfo(zoneinfo.decode("ascii", "replace"))
    except SnapshotError:
        return 0
    ends = 0
    for _, g in zi.filter(pl.col("scope") == "zone").group_by(["node", "zone"]):
        kv = dict(zip(g["key"].to_list(), g["value"].to_list()))
        if "start_pfn" in kv and "spanned" in kv:
            ends = max(ends, kv["start_pfn"] + kv["spanned"])
    return ends


class _ArrayReader:
    """Reads kpageflags and kpagecount into buffers allocated and touched beforehand.

    Allocating ~100 MB while reading would itself take pages from the buddy allocator
    and change buddyinfo under the capture; so the buffers (sized from zoneinfo, and
    grown if the kernel returns more) are allocated and pre-faulted once, and the two
    reader threads are started before the first consistency read and wait for a go.
    """

    NAMES = ("kpageflags", "kpagecount")

    def __init__(self, proc_root: Path, nr_pfns_hint: int, names: tuple[str, ...] = NAMES) -> None:
        self.proc_root = proc_root
        self.names = names  # the arrays this capture can read
        size = max(nr_pfns_hint, 1) * 8 + _READ_CHUNK if names else 0
        self.bufs = {n: bytearray(size) for n in names}  # zero-filled: every page touched
        self.lens: dict[str, int] = {}
        self.extra: dict[str, list[bytes]] = {}
        self.errors: dict[str, SnapshotError] = {}

    def _read_one(self, name: str) -> None:
        path = self.proc_root / name
        buf = self.bufs[name]
        view = memoryview(buf)
        extra: list[bytes] = []
        n = 0
        try:
            fd = _open(path)
        except OSError as e:
            self.errors[name] = SnapshotError(f"cannot read {path}: {_why(e)}")
            return
        try:
            while True:
                if n < len(buf):
                    got = os.readv(fd, [view[n:n + _READ_CHUNK]])
                    if not got:
                        break
                    n += got
                else:  # more than zoneinfo said: keep reading into new chunks
                    b = os.read(fd, _READ_CHUNK)
                    if not b:
                        break
                    extra.append(b)
                    n += len(b)
                if n > _MAX_ARRAY:
                    self.errors[name] = SnapshotError(f"{path}: more than {_MAX_ARRAY} bytes; refusing to read on")
                    return
        except OSError as e:
            self.errors[name] = SnapshotError(f"cannot read {path}: {_why(e)}")
            return
        finally:
            os.close(fd)
        self.lens[name], self.extra[name] = n, extra

    def read(self) -> None:
        self.errors.clear()
        threads = [threading.Thread(target=self._read_one, args=(n,)) for n in self.names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name in self.names:
            if name in self.errors:
                raise self.errors[name]

    def data(self, name: str) -> bytes:
        n = self.lens[name]
        head = bytes(memoryview(self.bufs[name])[: min(n, len(self.bufs[name]))])
        return head + b"".join(self.extra[name])


def _gzip(data: bytes, level: int) -> bytes:
    # gzip container with mtime 0 and no name: the same state gives the same bytes
    co = zlib.compressobj(level, zlib.DEFLATED, 31)
    return co.compress(data) + co.flush()


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def install_folder(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Rename the finished folder ``tmp`` to ``dest``: an empty ``dest`` is removed first;
    a full one (``overwrite`` only) is moved aside, replaced, then deleted, so that
    ``dest`` always holds a whole folder, the old or the new."""
    old = None
    if dest.exists():
        if overwrite and any(dest.iterdir()):
            old = dest.parent / f".{dest.name}.old-{os.getpid()}"
            os.rename(dest, old)
        else:
            os.rmdir(dest)  # empty
    os.rename(tmp, dest)
    if old is not None:
        shutil.rmtree(old)


def check_destination(dir: str | os.PathLike, overwrite: bool, overwrite_hint: str = "overwrite=True") -> Path:
    """``dir`` as the folder a capture may write: new or empty, or any folder with
    ``overwrite``; its parent must exist. The error names ``overwrite_hint`` (the command
    line passes ``--overwrite``)."""
    dest = check_path("dir", dir)
    if dest.exists() and not dest.is_dir():
        raise SnapshotError(f"{dest} exists and is not a folder")
    if dest.exists() and not overwrite and any(dest.iterdir()):
        raise SnapshotError(f"{dest} already exists; choose a new folder or pass {overwrite_hint}")
    if not dest.parent.is_dir():
        raise SnapshotError(f"{dest.parent} does not exist; create it first")
    return dest


def capture(
    dir: str | os.PathLike,
    *,
    attempts: int = 5,
    overwrite: bool = False,
    compresslevel: int = 6,
    proc_root: str | os.PathLike | None = None,
    debugfs_root: str | os.PathLike | None = None,
) -> Snapshot:
    """Capture this machine's memory state into the new snapshot folder ``dir``.

    Reads the files listed in the module docstring, retrying up to ``attempts`` times
    until buddyinfo and the debugfs indices are the same before and after the big arrays,
    then writes them (arrays gzip-compressed at ``compresslevel``) with ``meta.json`` into
    a temporary folder beside ``dir`` and renames it to ``dir``. ``dir`` must not exist
    (or be empty) unless ``overwrite``. ``proc_root``/``debugfs_root`` (default
    :data:`PROC_ROOT`, :data:`DEBUGFS_ROOT`) exist for tests.
    Returns the loaded :class:`Snapshot`.

    Without root, ``pagetypeinfo``, ``kpageflags`` and ``kpagecount`` cannot be opened:
    they are left out and ``meta.json``'s ``"missing"`` says why for each (``{"pagetypeinfo":
    "needs root (0400 since 5.6)", ...}``); the snapshot has the rest (buddyinfo, zoneinfo,
    vmstat, meminfo), and its properties that need a left-out file raise
    :class:`SnapshotError` naming it. ``meta.json`` then has no ``pageblock_order`` (it
    comes from pagetypeinfo) and ``nr_pfns`` is null.
    """
    if not isinstance(attempts, int) or attempts < 1:
        raise ParameterError(f"attempts: {attempts!r}; give an int >= 1")
    if not isinstance(compresslevel, int) or not 0 <= compresslevel <= 9:
        raise ParameterError(f"compresslevel: {compresslevel!r}; give an int in 0..9")
    dest = check_destination(dir, overwrite)
    proc_root = Path(PROC_ROOT if proc_root is None else proc_root)
    debugfs_root = Path(DEBUGFS_ROOT if debugfs_root is None else debugfs_root)

    t0 = time.monotonic()
    debugfs_missing = _mount_debugfs(debugfs_root)
    with_debugfs = debugfs_missing is None
    missing = _probe(proc_root, OPTIONAL)
    arrays_read = tuple(n for n in _ArrayReader.NAMES if n not in missing)

    consistent = False
    tries = 0
    first = _small_group(proc_root, debugfs_root, with_debugfs, skip=missing)
    reader = _ArrayReader(proc_root, _estimate_pfns(first["zoneinfo"]) if arrays_read else 0, arrays_read)
    for tries in range(1, attempts + 1):
        before = _small_group(proc_root, debugfs_root, with_debugfs, skip=missing)
        reader.read()
        after = _small_group(proc_root, debugfs_root, with_debugfs, skip=missing)
        same = ("buddyinfo",) + (_DEBUGFS_TEXT if with_debugfs else ())
        if all(before[k] == after[k] for k in same):
            consistent = True
            break
    texts = after
    read_seconds = time.monotonic() - t0
    arrays = {name: reader.data(name) for name in arrays_read}
    del reader

    for name in arrays_read:
        n = len(arrays[name])
        if n == 0 or n % 8:
            raise SnapshotError(f"{proc_root / name}: read {n} bytes, not a whole number of u64 page frames")
    if len(arrays) == 2 and len(arrays["kpageflags"]) != len(arrays["kpagecount"]):
        raise SnapshotError(f"{proc_root}: kpageflags and kpagecount have different lengths "
                            f"({len(arrays['kpageflags'])} and {len(arrays['kpagecount'])} bytes)")
    # the texts must be what the parsers understand, or the snapshot is useless
    pti = None
    if "pagetypeinfo" in texts:
        pti = parse.parse_pagetypeinfo(texts["pagetypeinfo"].decode("ascii", "replace"),
                                       str(proc_root / "pagetypeinfo"))
    parse.parse_buddyinfo(texts["buddyinfo"].decode("ascii", "replace"), str(proc_root / "buddyinfo"))

    try:
        release = _read_all(proc_root / "sys" / "kernel" / "osrelease", 4096).decode().strip()
    except SnapshotError:
        release = os.uname().release
    meta = {
        "format": "mmkit-snapshot",
        "format_version": FORMAT_VERSION,
        "kernel_release": release,
        "page_size": os.sysconf("SC_PAGE_SIZE"),
        **({"pageblock_order": pti.pageblock_order} if pti is not None else {}),
        "nr_pfns": len(next(iter(arrays.values()))) // 8 if arrays else None,
        "captured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "capture_seconds": None,  # filled below
        "read_seconds": round(read_seconds, 3),
        "attempts": tries,
        "consistent": consistent,
        "debugfs": "read" if with_debugfs else f"missing: {debugfs_missing}",
        "missing": missing,  # file -> why it was left out (pagetypeinfo, kpageflags, kpagecount)
        "source": "mmkit.snapshot.capture",  # the public name of this function
    }

    compressed: dict[str, bytes] = {}

    def comp(name: str) -> None:
        compressed[name] = _gzip(arrays[name], compresslevel)

    threads = [threading.Thread(target=comp, args=(n,)) for n in arrays_read]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        for name in _PROC_TEXT + (_DEBUGFS_TEXT if with_debugfs else ()):
            if name in texts:
                _write(tmp / name, texts[name])
        for name in arrays_read:
            _write(tmp / f"{name}.gz", compressed[name])
        meta["capture_seconds"] = round(time.monotonic() - t0, 3)
        _write(tmp / META_NAME, (json.dumps(meta, indent=2) + "\n").encode())
        os.chmod(tmp, 0o755)
        install_folder(tmp, dest, overwrite)
        dfd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Snapshot(dest)
