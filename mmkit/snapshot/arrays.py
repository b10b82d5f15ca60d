"""Loading the per-pfn binary arrays (``kpageflags``, ``kpagecount``) of a snapshot safely.

Both files are what ``/proc/kpageflags`` and ``/proc/kpagecount`` return: one
little-endian u64 per page frame, pfn 0 first (``fs/proc/page.c``). A snapshot may store
them raw, gzip- or zstd-compressed, or as ``.npy``. Whatever the form, loading

* never trusts a size it has not bounded: a raw file is checked with ``stat`` before it is
  read, compressed data is decompressed incrementally with a cap on the output, so a
  "zip bomb" or a sparse 1 TB file fails fast with :class:`SnapshotError`;
* never unpickles: ``.npy`` goes through ``np.load(allow_pickle=False)`` after its header
  has been checked (1-D, 8-byte integers);
* checks the byte length is a multiple of 8.
"""

from __future__ import annotations

import os
import tokenize
import zlib
from pathlib import Path

import numpy as np

from mmkit.errors import SnapshotError

__all__ = ["ARRAY_NAMES", "ARRAY_SUFFIXES", "DEFAULT_MAX_PFNS", "find_array_file", "read_u64_array"]

ARRAY_NAMES = ("kpageflags", "kpagecount")
ARRAY_SUFFIXES = ("", ".gz", ".zst", ".npy")

# 2**27 page frames = 512 GiB of RAM at 4 KiB pages: an array of 1 GiB. The same bound as
# mmkit.model.memory.MAX_PAGES; pass max_pfns= to load() to go past it.
DEFAULT_MAX_PFNS = 1 << 27

_CHUNK = 1 << 22  # compressed bytes fed to the decompressor per step


def find_array_file(folder: Path, name: str) -> Path | None:
    """The one file storing array ``name`` in ``folder`` (raw, .gz, .zst or .npy), or None.

    Two forms of the same array at once are refused: which one is current is unknowable.
    """
    found = [folder / (name + suf) for suf in ARRAY_SUFFIXES if (folder / (name + suf)).is_file()]
    if len(found) > 1:
        raise SnapshotError(
            f"{folder}: {name} is stored twice ({', '.join(p.name for p in found)}); keep one of them"
        )
    return found[0] if found else None


def _limit_error(path: Path, nbytes: int, max_pfns: int) -> SnapshotError:
    return SnapshotError(
        f"{path.name}: holds more than {max_pfns} page frames ({nbytes} bytes or more, "
        f"{max_pfns * 4096 / 2**30:.0f} GiB of RAM at 4 KiB pages): refusing to load it; "
        f"pass max_pfns= to load a larger machine"
    )


def _check_len(path: Path, nbytes: int) -> None:
    if nbytes == 0:
        raise SnapshotError(f"{path.name}: empty (no page frames)")
    if nbytes % 8:
        raise SnapshotError(
            f"{path.name}: {nbytes} bytes is not a multiple of 8 (one u64 per page frame): truncated?"
        )


def _read_raw(path: Path, max_pfns: int) -> np.ndarray:
    size = path.stat().st_size
    if size > max_pfns * 8:
        raise _limit_error(path, size, max_pfns)
    _check_len(path, size)
    arr = np.fromfile(path, dtype="<u8")
    if arr.nbytes != size:  # the file changed under us
        raise SnapshotError(f"{path.name}: read {arr.nbytes} bytes, but the file has {size}")
    return arr


def _read_gzip(path: Path, max_pfns: int) -> np.ndarray:
    """Decompress a (possibly multi-member) gzip stream, never producing more than the cap."""
    limit = max_pfns * 8
    out = bytearray()
    d = zlib.decompressobj(wbits=31)
    in_member = False  # bytes were fed to ``d`` and its member has not ended yet
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            data = chunk
            while data:
                in_member = True
                try:
                    # max_length >= 1 always (0 would mean "no limit" to zlib)
                    out += d.decompress(data, limit + 1 - len(out))
                except zlib.error as e:
                    raise SnapshotError(f"{path.name}: not valid gzip data ({e})") from None
                if len(out) > limit:
                    raise _limit_error(path, len(out), max_pfns)
                if d.eof:  # a member ended; another may follow (``cat a.gz b.gz``)
                    data = d.unused_data
                    d = zlib.decompressobj(wbits=31)
                    in_member = False
                else:
                    data = d.unconsumed_tail
    if in_member:
        raise SnapshotError(f"{path.name}: gzip stream is truncated")
    _check_len(path, len(out))
    return np.frombuffer(out, dtype="<u8")


def _read_zstd(path: Path, max_pfns: int) -> np.ndarray:
    try:
        import zstandard  # optional dependency
    except ImportError:
        raise SnapshotError(
            f"{path.name}: zstd-compressed, and the 'zstandard' package is not installed: "
            f"pip install zstandard (or store the file as {path.stem}.gz)"
        ) from None
    limit = max_pfns * 8
    out = bytearray()
    try:
        with open(path, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True) as r:
            while True:
                piece = r.read(min(_CHUNK, limit + 1 - len(out)))
                if not piece:
                    break
                out += piece
                if len(out) > limit:
                    raise _limit_error(path, len(out), max_pfns)
    except zstandard.ZstdError as e:
        raise SnapshotError(f"{path.name}: not valid zstd data ({e})") from None
    _check_len(path, len(out))
    return np.frombuffer(out, dtype="<u8")


def _read_npy(path: Path, max_pfns: int) -> np.ndarray:
    fmt = np.lib.format
    try:
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, SyntaxError, EOFError, tokenize.TokenError, RecursionError) as e:
        raise SnapshotError(f"{path.name}: not a .npy array file ({e})") from None
    if dtype.hasobject or dtype.kind not in "ui" or dtype.itemsize != 8:
        raise SnapshotError(f"{path.name}: dtype {dtype} is not a 64-bit integer array")
    if len(shape) != 1:
        raise SnapshotError(f"{path.name}: shape {shape} is not one-dimensional")
    if shape[0] > max_pfns:
        raise _limit_error(path, shape[0] * 8, max_pfns)
    _check_len(path, shape[0] * 8)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise SnapshotError(f"{path.name}: cannot load the .npy array ({e})") from None
    return arr.astype("<u8", copy=False).view("<u8")


def read_u64_array(path: Path, max_pfns: int = DEFAULT_MAX_PFNS) -> np.ndarray:
    """The u64 array stored in ``path`` (raw, ``.gz``, ``.zst`` or ``.npy``) as native uint64.

    Raises :class:`SnapshotError` if the file is unreadable, corrupt, not a whole number
    of u64 values, or holds more than ``max_pfns`` values.
    """
    path = Path(path)
    try:
        if path.name.endswith(".gz"):
            arr = _read_gzip(path, max_pfns)
        elif path.name.endswith(".zst"):
            arr = _read_zstd(path, max_pfns)
        elif path.name.endswith(".npy"):
            arr = _read_npy(path, max_pfns)
        else:
            arr = _read_raw(path, max_pfns)
    except OSError as e:
        raise SnapshotError(f"{path.name}: cannot read ({os.strerror(e.errno) if e.errno else e})") from None
    return np.ascontiguousarray(arr, dtype=np.uint64)
