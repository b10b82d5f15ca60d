"""Fuzzing of every snapshot parser, of ``snapshot.load`` and of ``Memory.from_snapshot``.

Each input is a real kernel file (or a small real snapshot folder) corrupted by a
*recipe*: a few operations, each a tuple of ints ``(op, file, a, b, c)`` that the
operation reads modulo what it needs (a byte offset, a line, a number token, a
replacement from a table). Recipes are plain data, so the same table drives the
hypothesis strategy of the unit tests (``tests/test_fuzz.py``, which shrinks a failing
recipe to a small one) and the seeded generator of this script.

The contract under test: every input ends in a valid result or a typed
:class:`mmkit.errors.MmkitError`; never another exception, never a hang (a time bound
per input) and never memory beyond a bound (``RLIMIT_AS`` in the worker).

How to run (from the repository root)::

    .venv/bin/python verification/fuzz.py                 # >= 100,000 inputs, a fresh seed
    .venv/bin/python verification/fuzz.py --scale 0.05 --seed 7   # a quick look, seed 7
    .venv/bin/python verification/fuzz.py --repro snapshot 1 4711   # one input again
    .venv/bin/python verification/fuzz.py --repro snapshot 1 4711 --keep 0,2  # its ops 0 and 2

The seed comes first in the output, with the command that repeats the run (a fresh one,
from the operating system, unless ``--seed`` gives it).

Each target runs in a worker process that the parent watches: an input that takes longer
than the target's bound is reported as a hang (the worker is killed and restarted after
it); a worker that dies is reported as a crash. It prints, per target, the inputs tried,
how they ended (valid, typed error by class, failure) and the time, then each failure
with the command that replays it and, for an untyped exception, the minimal recipe
(operations deleted while the same exception persists) with its own replay command.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import io
import json
import os
import pickle
import re
import resource
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "verification"))
from seeds import announce  # noqa: E402
DATA = ROOT / "data"
TESTS_DATA = ROOT / "tests" / "data"
ERAS = TESTS_DATA / "eras"

TEXT_NAMES = ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo", "extfrag_index", "unusable_index")
ARRAY_NAMES = ("kpageflags", "kpagecount")
FOLDER_TEXT = TEXT_NAMES + ("meta.json",)

# the pfns a fuzzed load may read: 8 MiB per array (the bound logic is the same at 2^27)
FUZZ_MAX_PFNS = 1 << 20
# address space a worker may add to what it holds after its warm-up input
MEMORY_BOUND = 1536 << 20


# --------------------------------------------------------------------------- sources
def text_sources(name: str) -> list[Path]:
    """Every real copy of kernel text file ``name`` in the repository."""
    folders = [DATA / "idle", DATA / "fragmented", TESTS_DATA / "linux-6.18-idle"]
    folders += sorted(p for p in ERAS.iterdir() if p.is_dir())
    return [f / name for f in folders if (f / name).is_file()]


def make_mini(dest: Path, *, normal_pfns: int = 16384, source: Path = DATA / "fragmented") -> Path:
    """A small real snapshot: ``source``'s DMA zone (pfns 1-4095) and the first
    ``normal_pfns`` page frames of its Normal zone, moved to pfn 4096 (alignment kept:
    both start on a MAX_ORDER boundary). zoneinfo is the real one with DMA32 emptied and
    Normal's span, present, managed, free pages and start_pfn set to the crop; buddyinfo
    and the debugfs files are what the kernel would print for the rebuilt memory, so the
    folder passes ``mmkit.metrics.check``. Arrays are stored as captured (gzip)."""
    import mmkit
    import mmkit.metrics
    import mmkit.snapshot
    from mmkit.model import kpf

    snap = mmkit.snapshot.load(source)
    zi_starts = _zone_starts(snap)
    n_start = zi_starts["Normal"]
    flags = np.concatenate([snap.kpageflags[:4096], snap.kpageflags[n_start:n_start + normal_pfns]])
    counts = np.concatenate([snap.kpagecount[:4096], snap.kpagecount[n_start:n_start + normal_pfns]])
    buddy_normal = int(((flags[4096:] >> np.uint64(kpf.KPF_BUDDY)) & np.uint64(1)).sum())
    reserved_normal = int(((flags[4096:] >> np.uint64(kpf.KPF_RESERVED)) & np.uint64(1)).sum())
    zoneinfo = _crop_zoneinfo((source / "zoneinfo").read_text(), {
        "DMA32": {"spanned": 0, "present": 0, "managed": 0, "free": 0, "start_pfn": None},
        "Normal": {"spanned": normal_pfns, "present": normal_pfns, "managed": normal_pfns - reserved_normal,
                   "free": buddy_normal, "start_pfn": 4096},
    })
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    for name in ("pagetypeinfo", "vmstat", "meminfo", "meta.json", "buddyinfo"):
        shutil.copy(source / name, tmp / name)
    meta = json.loads((source / "meta.json").read_text())
    meta["nr_pfns"] = int(flags.shape[0])
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    (tmp / "zoneinfo").write_text(zoneinfo)
    (tmp / "kpageflags.gz").write_bytes(gzip.compress(flags.astype("<u8").tobytes(), mtime=0))
    (tmp / "kpagecount.gz").write_bytes(gzip.compress(counts.astype("<u8").tobytes(), mtime=0))
    mem = mmkit.Memory.from_snapshot(mmkit.snapshot.load(tmp))
    (tmp / "buddyinfo").write_text(mmkit.snapshot.buddyinfo(mem))
    rebuilt = mmkit.snapshot.load(tmp)
    for which in ("extfrag_index", "unusable_index"):
        (tmp / which).write_text(mmkit.metrics.debugfs_text(rebuilt, which))
    mmkit.metrics.check(mmkit.snapshot.load(tmp))
    os.rename(tmp, dest)
    return dest


def _zone_starts(snap) -> dict[str, int]:
    zi = snap.zoneinfo
    rows = zi.filter((zi["key"] == "start_pfn") & (zi["node"] == 0))
    return dict(zip(rows["zone"].to_list(), rows["value"].to_list()))


def _crop_zoneinfo(text: str, zones: dict[str, dict]) -> str:
    """zoneinfo with the listed zones' span lines rewritten (and their start_pfn dropped
    when None): a zone section runs from its ``Node N, zone NAME`` line to the next."""
    out, zone = [], None
    keys = {"spanned": "spanned", "present": "present", "managed": "managed", "pages free": "free",
            "nr_free_pages": "free", "start_pfn:": "start_pfn"}
    for line in text.split("\n"):
        m = re.fullmatch(r"Node\s+\d+,\s+zone\s+(\S+)\s*", line)
        if m:
            zone = m.group(1)
        elif zone in zones:
            s = line.strip()
            for key, field in keys.items():
                if s.startswith(key + " ") or (key.endswith(":") and s.startswith(key)):
                    value = zones[zone][field]
                    if value is None:
                        line = None
                    else:
                        line = re.sub(r"-?[0-9]+\s*$", str(value), line)
                    break
        if line is not None:
            out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------- tables
# numbers a number token may become: huge, negative, past 64 bits, not ASCII digits
SPECIAL_NUMBERS = (
    "0", "-1", "1", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "18446744073709551615", "18446744073709551616", "1" * 30, "9" * 5000,
    "-" + "9" * 5000, "4611686018427387904", "63", "64", "65", "1000000", "4096", "512", "13", "10",
    "-512", "1e9", "0x10", "+5", "007", "", "-0", "\u0661\u0662", "\uff11\uff12", "1.5", "NaN",
    "99999999999999999.000", "0.-999", "-0.-1",
)
# lines that may be inserted: pieces of every file's grammar, out of place, and junk
GARBAGE_LINES = (
    b"", b" ", b"\t", b"Node 0, zone DMA", b"Node 0, zone      DMA      1      2 ",
    b"Node 0, zone   Normal " + b"     1 " * 11, b"Node 1, zone   Normal " + b"     0 " * 11,
    b"Node -1, zone X 1", b"Node 99999999999999999999, zone X 1", b"Node 0, zone DMA, type Movable 1 2 3",
    b"Node    0, zone   Normal, type      Movable " + b"    >100000 " * 11,
    b"Page block order: 9", b"Page block order: 64", b"Page block order: 4611686018427387904",
    b"Pages per block:  512", b"Pages per block: 0",
    b"Free pages count per migrate type at order       0      1      2",
    b"Free pages count per migrate type at order " + b" 0 1 2 3 4 5 6 7 8 9 10",
    b"Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate ",
    b"Number of mixed blocks    Unmovable      Movable ", b"Number of blocks type ",
    b"  per-node stats", b"  pagesets", b"    cpu: 0", b"    cpu: 99999999999999999999", b"              count: 5",
    b"        protection: (0, 0, 0, 0, 0)", b"        protection: ()", b"        protection: (,)",
    b"        protection: (-1, 9223372036854775808)", b"  start_pfn:           1", b"        spanned  0",
    b"        present  -5", b"        managed  99999999", b"  pages free     -1",
    b"MemTotal:       24684096 kB", b"MemTotal: kB", b"Hugepagesize:       2048 MB", b": 1",
    b"nr_free_pages 1", b"nr_free_pages", b"nr_free_pages 1 2", b"\x00\x00\x00", b"\xff\xfe\xfd",
    b"\xc2\xa0\xe2\x80\xa8", b"\r", b"x" * 10000, b"Node 0, zone Big " + b"1 " * 20000,
    b"Node 0, zone Big " + b"0.000 " * 20000, b"[" * 3000, b"{\"page_size\": 65536}",
)
GARBAGE_BYTES = (b"\x00", b"\n", b"\n\n", b" ", b"\t", b"-", b".", b":", b",", b">", b"(", b")", b"\xff",
                 b"\x80", b"\xe2\x80\xa8", b"\r", b"9" * 25, b"Node", b"zone", b"type", b"\\u0000", b"\"", b"[", b"]",
                 b"{", b"}")
# u64 page-frame words: each flag bit, all bits, the buddy bit with neighbours
SPECIAL_WORDS = tuple([0, (1 << 64) - 1, (1 << 63), 1 << 10, (1 << 10) | (1 << 15), (1 << 15) | (1 << 16),
                       (1 << 16), (1 << 5) | (1 << 12), (1 << 7), (1 << 20) | (1 << 23), (1 << 26)]
                      + [1 << b for b in range(64)])


def _meta_blobs() -> tuple[bytes, ...]:
    return (
        b"", b"null", b"[]", b"{}", b'{"page_size": 65536, "pageblock_order": 13}', b'{"page_size": 0}',
        b'{"page_size": true}', b'{"pageblock_order": -1}', b'{"pageblock_order": 31}',
        b'{"kernel_release": 5}', b'{"kernel_release": "4.5.7"}', b'{"kernel_release": "' + b"9" * 5000 + b'.1"}',
        b'{"kernel_release": "99999999999999999999.99999999999999999999"}', b'{"page_size": ' + b"1" * 5000 + b"}",
        b"[" * 100000 + b"]" * 100000, b'{"a": ' * 50000 + b"1" + b"}" * 50000, b'{"page_size": 1e400}',
        b'{"page_size": NaN}', b"\xef\xbb\xbf{}", b'{"kernel_release": "\\ud800"}', b" " * (2 << 20),
    )


def _npy(arr: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, arr, allow_pickle=True)
    return b.getvalue()


class _Evil:
    """A pickle payload: unpickling it would create the file named ``target``."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


# exists only if something unpickled an input (one name per process: the blobs are made
# once per process)
PWNED = os.path.join(tempfile.gettempdir(), f"mmkit-fuzz-unpickled-{os.getpid()}")


def _npy_header(shape: str, descr: str = "<u8", version: bytes = b"\x01\x00", body: bytes = b"") -> bytes:
    d = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    pad = 64 - (10 + len(d) + 1) % 64
    d = d + b" " * pad + b"\n"
    size = len(d).to_bytes(2 if version == b"\x01\x00" else 4, "little")
    return b"\x93NUMPY" + version + size + d + body


def _zst(data: bytes, level: int = 3) -> bytes:
    try:
        import zstandard
    except ImportError:
        return b"\x28\xb5\x2f\xfd" + data[:16]
    return zstandard.ZstdCompressor(level=level).compress(data)


@functools.cache
def array_blobs() -> tuple[tuple[str, bytes | int], ...]:
    """Whole-file replacements for an array: (suffix, bytes or a sparse size to truncate to)."""
    zeros64m = b"\0" * (64 << 20)
    return (
        (".npy", pickle.dumps(_Evil(PWNED))),  # a pickle disguised as .npy
        (".npy", _npy(np.array([_Evil(PWNED)], dtype=object))),  # an object array: needs unpickling
        (".npy", _npy_header("(137438953472,)")),  # claims 1 TB, holds nothing
        (".npy", _npy_header("(1024,)", body=b"\0" * 100)),  # claims more than it holds
        (".npy", _npy_header("(-8,)")),
        (".npy", _npy_header("(4, 4)", body=b"\0" * 128)),
        (".npy", _npy_header("(16,)", descr="<f8", body=b"\0" * 128)),
        (".npy", _npy_header("(16,)", descr=">i8", body=b"\1" * 128)),
        (".npy", _npy_header("(16,)", descr="|V8", body=b"\0" * 128)),
        (".npy", _npy_header("(16,)", descr="<u8", version=b"\x02\x00", body=b"\0" * 128)),
        (".npy", _npy_header("(16,)", descr="<u8", version=b"\x09\x00", body=b"\0" * 128)),
        (".npy", b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 65535),
        (".npy", b"\x93NUMPY\x01\x00\x20\x00{'descr': (((((((((((((((((((("),
        (".npy", _npy(np.arange(16, dtype=np.uint64).reshape(16, order="F"))),
        (".gz", gzip.compress(zeros64m, compresslevel=9)),  # a bomb past the fuzz bound
        (".gz", gzip.compress(b"\0" * 64) + b"\0" * 32),  # trailing zeros after a member
        (".gz", gzip.compress(b"\0" * 64) + b"garbage"),
        (".gz", gzip.compress(b"\0" * 64)[:-4]),  # no ISIZE
        (".gz", b"\x1f\x8b\x08\x04" + b"\0" * 6 + b"\xff\xff" + b"x" * 100),  # FEXTRA longer than the file
        (".gz", zlib.compress(b"\0" * 64)),  # zlib, not gzip
        (".zst", _zst(zeros64m, 19)),
        (".zst", b"\x28\xb5\x2f\xfd\xe4" + b"\xff" * 8),  # a frame header claiming a huge window
        (".zst", _zst(b"\0" * 4096)[:-3]),  # truncated frame
        (".zst", _zst(b"\0" * 64) + b"\x50\x2a\x4d\x18\x04\0\0\0abcd"),  # a skippable frame after it
        ("", 1 << 40),  # a sparse 1 TB raw file
        ("", (FUZZ_MAX_PFNS + 1) * 8),  # one page frame past the bound
        ("", b""),
        ("", b"\0" * 7),
    )


# --------------------------------------------------------------------------- recipes
# text operations (a file's bytes)
T_TRUNCATE, T_FLIP, T_BYTE, T_INSERT_LINE, T_DELETE_LINE, T_DUP_LINE, T_SWAP_LINES, T_NUMBER, \
    T_SPLICE, T_REPEAT_LINE, T_WIDEN, T_CRLF, T_DUP_HEADER = range(13)
# array operations (the u64 words, before they are stored)
A_LEN, A_WORD, A_FLIP, A_RANGE, A_RANDOM, A_ROLL, A_EMPTY = range(20, 27)
# container operations (the stored bytes of an array file)
C_FORM, C_TRUNCATE, C_FLIP, C_SPLICE, C_APPEND, C_BLOB = range(40, 46)
# folder operations
F_REMOVE, F_TWO_FORMS, F_META = range(60, 63)

TEXT_OPS = (T_TRUNCATE, T_FLIP, T_BYTE, T_INSERT_LINE, T_DELETE_LINE, T_DUP_LINE, T_SWAP_LINES, T_NUMBER,
            T_NUMBER, T_NUMBER, T_SPLICE, T_REPEAT_LINE, T_WIDEN, T_CRLF, T_DUP_HEADER)
ARRAY_OPS = (A_LEN, A_WORD, A_WORD, A_FLIP, A_FLIP, A_RANGE, A_RANDOM, A_ROLL, A_EMPTY,
             C_FORM, C_FORM, C_TRUNCATE, C_FLIP, C_SPLICE, C_APPEND, C_BLOB)
FOLDER_OPS = TEXT_OPS + ARRAY_OPS + (F_REMOVE, F_TWO_FORMS, F_META)

Op = tuple[int, int, int, int, int]  # (op, file, a, b, c)
MAX_GROWTH = 1 << 20  # bytes one text operation may add
FORMS = ("", ".gz", ".zst", ".npy")


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def apply_text_op(data: bytes, op: Op) -> bytes:
    """One text operation on a file's bytes."""
    code, _, a, b, c = op
    n = len(data)
    if code == T_TRUNCATE:
        return data[: a % (n + 1)]
    if code in (T_FLIP, T_BYTE):
        if not n:
            return data
        i = a % n
        v = data[i] ^ (1 << (b % 8)) if code == T_FLIP else b % 256
        return data[:i] + bytes([v]) + data[i + 1:]
    if code == T_SPLICE:
        i = a % (n + 1)
        return data[:i] + GARBAGE_BYTES[b % len(GARBAGE_BYTES)] * (1 + c % 3) + data[i:]
    lines = _lines(data)
    i = a % len(lines)
    if code == T_INSERT_LINE:
        lines.insert(a % (len(lines) + 1), GARBAGE_LINES[b % len(GARBAGE_LINES)])
    elif code == T_DELETE_LINE:
        del lines[i]
    elif code == T_DUP_LINE:
        lines[i:i] = [lines[i]] * (1 + c % 3)
    elif code == T_SWAP_LINES:
        j = b % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif code == T_REPEAT_LINE:  # up to 3000 times, within MAX_GROWTH bytes
        lines[i:i] = [lines[i]] * min(b % 3000, MAX_GROWTH // (len(lines[i]) + 1))
    elif code == T_WIDEN:  # many more columns: orders, migratetypes
        tok = b"%d" % (c % 1000)
        lines[i] = lines[i] + b" " + b" ".join([tok] * min(b % 20000, MAX_GROWTH // (len(tok) + 1)))
    elif code == T_CRLF:
        return data.replace(b"\n", b"\r\n")
    elif code == T_DUP_HEADER:  # a line that starts a section, repeated further down
        heads = [k for k, ln in enumerate(lines) if ln[:1] not in (b" ", b"\t", b"")]
        if heads:
            h = heads[i % len(heads)]
            lines.insert(b % (len(lines) + 1), lines[h])
    elif code == T_NUMBER:  # a number on line i, or on the next line that has one
        for k in list(range(i, len(lines))) + list(range(i)):
            nums = list(re.finditer(rb"-?[0-9]+", lines[k]))
            if nums:
                m = nums[b % len(nums)]
                new = SPECIAL_NUMBERS[c % len(SPECIAL_NUMBERS)].encode("utf-8")
                lines[k] = lines[k][: m.start()] + new + lines[k][m.end():]
                break
    return b"\n".join(lines)


def apply_array_op(words: np.ndarray, op: Op) -> np.ndarray:
    """One operation on a u64 array; the result may be shorter or longer by whole words
    (``A_LEN``; :func:`write_array` makes the byte length odd instead, one time in three)."""
    code, _, a, b, c = op
    n = words.shape[0]
    if code == A_EMPTY:
        return words[:0]
    if not n:
        return words
    w = words.copy()
    if code == A_WORD:
        w[a % n] = SPECIAL_WORDS[b % len(SPECIAL_WORDS)]
    elif code == A_FLIP:
        w[a % n] ^= np.uint64(1) << np.uint64(b % 64)
    elif code == A_RANGE:
        i = a % n
        w[i:i + 1 + b % 4096] = SPECIAL_WORDS[c % len(SPECIAL_WORDS)]
    elif code == A_RANDOM:
        i = a % n
        k = min(1 + b % 4096, n - i)
        w[i:i + k] = np.random.default_rng(c).integers(0, 2**64, size=k, dtype=np.uint64, endpoint=False)
    elif code == A_ROLL:
        w = np.roll(w, 1 + a % n)
    elif code == A_LEN:
        k = b % (n + 1)
        w = w[:n - k] if a % 2 else np.concatenate([w, w[:k]])
    return w


def store_array(words: np.ndarray, form: str, ops: Sequence[Op], tail: int = 0) -> tuple[str, bytes | int]:
    """The array's file suffix and content after the container operations (bytes, or an
    int: a sparse file of that size). ``tail`` bytes (-7..7) make the length odd."""
    raw = words.astype("<u8").tobytes()
    if tail > 0:
        raw += b"\x01" * tail
    elif tail < 0:
        raw = raw[:tail]
    suffix = form
    content: bytes | int
    if form == ".gz":
        content = gzip.compress(raw, compresslevel=1, mtime=0)
    elif form == ".zst":
        content = _zst(raw, 1)
    elif form == ".npy":
        content = _npy(np.frombuffer(raw[: len(raw) // 8 * 8], dtype="<u8")) if len(raw) % 8 == 0 else \
            _npy_header(f"({len(raw) // 8 + 1},)", body=raw)
    else:
        content = raw
    blobs = array_blobs()
    for code, _, a, b, c in ops:
        if code == C_BLOB:
            suffix, content = blobs[a % len(blobs)]
            continue
        if isinstance(content, int):
            continue
        if code == C_TRUNCATE:
            content = content[: a % (len(content) + 1)]
        elif code == C_FLIP and content:
            i = a % len(content)
            content = content[:i] + bytes([content[i] ^ (1 << (b % 8))]) + content[i + 1:]
        elif code == C_SPLICE:
            i = a % (len(content) + 1)
            content = content[:i] + GARBAGE_BYTES[b % len(GARBAGE_BYTES)] * (1 + c % 16) + content[i:]
        elif code == C_APPEND:
            extra = (gzip.compress(raw[: (b % 64) * 8], mtime=0) if form == ".gz" else
                     _zst(raw[: (b % 64) * 8]) if form == ".zst" else GARBAGE_BYTES[b % len(GARBAGE_BYTES)])
            content = content + extra
    return suffix, content


def _write(path: Path, content: bytes | int) -> None:
    if isinstance(content, int):
        with open(path, "wb") as f:
            f.truncate(content)
    else:
        path.write_bytes(content)


def write_array(folder: Path, name: str, words: np.ndarray, ops: Sequence[Op], default_form: str = ".gz") -> Path:
    """Write array ``name`` into ``folder`` after the array and container ``ops``."""
    form, tail = default_form, 0
    for op in ops:
        if op[0] == C_FORM:
            form = FORMS[op[2] % len(FORMS)]
        elif op[0] == A_LEN and op[4] % 3 == 0:
            tail = (op[3] % 15) - 7
        elif A_LEN <= op[0] <= A_EMPTY:
            words = apply_array_op(words, op)
    suffix, content = store_array(words, form, [op for op in ops if C_TRUNCATE <= op[0] <= C_BLOB], tail)
    path = folder / (name + suffix)
    _write(path, content)
    return path


def build_folder(base: Path, dest: Path, recipe: Sequence[Op], cache: dict | None = None) -> Path:
    """Copy the snapshot folder ``base`` to ``dest`` with ``recipe`` applied: text
    operations on the text file the op's ``file`` picks, array and container operations
    on the array it picks, and folder operations (remove a file, store an array twice,
    replace meta.json)."""
    cache = {} if cache is None else cache
    if "files" not in cache:
        from mmkit.snapshot.arrays import find_array_file, read_u64_array

        cache["files"] = {n: (base / n).read_bytes() for n in FOLDER_TEXT if (base / n).is_file()}
        cache["arrays"] = {n: read_u64_array(find_array_file(base, n)) for n in ARRAY_NAMES}
    dest.mkdir()
    texts = dict(cache["files"])
    array_ops: dict[str, list[Op]] = {n: [] for n in ARRAY_NAMES}
    removed: set[str] = set()
    two_forms: dict[str, str] = {}
    metas = _meta_blobs()
    for op in recipe:
        code, f = op[0], op[1]
        if code in TEXT_OPS:
            name = FOLDER_TEXT[f % len(FOLDER_TEXT)]
            if name in texts:
                texts[name] = apply_text_op(texts[name], op)
        elif code in ARRAY_OPS:
            array_ops[ARRAY_NAMES[f % 2]].append(op)
        elif code == F_REMOVE:
            removed.add((FOLDER_TEXT + ARRAY_NAMES)[f % (len(FOLDER_TEXT) + 2)])
        elif code == F_TWO_FORMS:
            two_forms[ARRAY_NAMES[f % 2]] = FORMS[op[2] % len(FORMS)]
        elif code == F_META:
            texts["meta.json"] = metas[op[2] % len(metas)]
    for name, data in texts.items():
        if name not in removed:
            (dest / name).write_bytes(data)
    for name in ARRAY_NAMES:
        if name in removed:
            continue
        p = write_array(dest, name, cache["arrays"][name], array_ops[name])
        if name in two_forms:
            other = dest / (name + two_forms[name])
            if other != p:
                other.write_bytes(p.read_bytes() if p.is_file() and p.stat().st_size < 1 << 24 else b"")
    return dest


def random_recipe(rng: np.random.Generator, ops: Sequence[int], max_ops: int = 4, files: int = 16) -> tuple[Op, ...]:
    """A recipe of 1..max_ops operations drawn from ``ops`` (the seeded twin of the
    hypothesis strategy in :func:`recipes`)."""
    k = int(rng.integers(1, max_ops + 1))
    return tuple((int(ops[int(rng.integers(len(ops)))]), int(rng.integers(files)), *(int(x) for x in rng.integers(0, 2**32, 3)))
                 for _ in range(k))


def recipes(ops: Sequence[int], max_ops: int = 4, files: int = 16):
    """The hypothesis strategy of recipes over ``ops``."""
    from hypothesis import strategies as st

    op = st.tuples(st.sampled_from(list(ops)), st.integers(0, files - 1), st.integers(0, 2**32 - 1),
                   st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
    return st.lists(op, min_size=1, max_size=max_ops).map(tuple)


# --------------------------------------------------------------------------- targets
class Target:
    """A fuzz target: ``case(rng or recipe)`` builds an input, ``run(input)`` feeds it to
    mmkit and returns a short description of the valid result."""

    name: str
    ops: Sequence[int]
    bound_seconds: float = 10.0

    def setup(self, workdir: Path) -> None:
        """Prepare sources (once per process)."""

    def run(self, recipe: Sequence[Op], source: int) -> str:
        raise NotImplementedError


class ParserTarget(Target):
    """A text parser of mmkit.snapshot.parse on a corrupted real file (bytes read as
    latin-1, so every byte reaches the parser)."""

    ops = TEXT_OPS
    bound_seconds = 5.0

    def __init__(self, name: str) -> None:
        self.name = name
        self.sources: list[bytes] = []

    def setup(self, workdir: Path) -> None:
        self.sources = [p.read_bytes() for p in text_sources(self.name)]

    def parse(self, text: str):
        from mmkit.snapshot import parse

        fn = {"extfrag_index": parse.parse_extfrag_index, "unusable_index": parse.parse_unusable_index}.get(
            self.name) or getattr(parse, f"parse_{self.name}")
        return fn(text)

    def run(self, recipe: Sequence[Op], source: int) -> str:
        data = self.sources[source % len(self.sources)]
        for op in recipe:
            data = apply_text_op(data, op)
        out = self.parse(data.decode("latin-1"))
        return type(out).__name__


class BitsTarget(Target):
    """page-types ``-b`` / ``-d`` specs (``parse_bits_mask``, ``describe_flags``) from
    corrupted real specs."""

    name = "page_types_bits"
    ops = (T_TRUNCATE, T_FLIP, T_BYTE, T_NUMBER, T_NUMBER, T_SPLICE, T_WIDEN)
    bound_seconds = 5.0
    SPECS = (b"lru,~active", b"anonymous,swapbacked=anonymous", b"=buddy", b"compound_head,~slab",
             b"0x400,0x8000", b"mmap,lru=mmap", b"huge", b"1,2,3", b"~", b"=", b"0", b"017", b"-1")

    def run(self, recipe: Sequence[Op], source: int) -> str:
        from mmkit.snapshot import describe_flags, parse_bits_mask

        data = self.SPECS[source % len(self.SPECS)]
        for op in recipe:
            data = apply_text_op(data, op)
        spec = data.decode("latin-1")
        mask, bits = parse_bits_mask(spec)
        describe_flags(spec)
        return f"{mask:#x}/{bits:#x}"


class ArrayTarget(Target):
    """``read_u64_array`` on a corrupted kpageflags or kpagecount of a real snapshot,
    stored raw, gzip, zstd or .npy, or replaced by a hostile file."""

    name = "arrays"
    ops = ARRAY_OPS
    bound_seconds = 10.0

    def setup(self, workdir: Path) -> None:
        from mmkit.snapshot.arrays import read_u64_array

        mini = workdir / "mini"
        self.words = [read_u64_array(mini / "kpageflags.gz"), read_u64_array(mini / "kpagecount.gz")]
        self.dir = workdir / "arrays"
        self.dir.mkdir(exist_ok=True)

    def run(self, recipe: Sequence[Op], source: int) -> str:
        from mmkit.snapshot.arrays import read_u64_array

        for p in self.dir.iterdir():
            p.unlink()
        path = write_array(self.dir, ARRAY_NAMES[source % 2], self.words[source % 2], recipe,
                           default_form=FORMS[(source // 2) % len(FORMS)])
        arr = read_u64_array(path, FUZZ_MAX_PFNS)
        assert arr.dtype == np.uint64 and arr.ndim == 1 and 0 < arr.shape[0] <= FUZZ_MAX_PFNS
        return f"{arr.shape[0]} pfns"


class SnapshotTarget(Target):
    """A corrupted small real snapshot folder through everything that reads one:
    ``load``, ``validate``, the frames as Memory has them, ``metrics.check``,
    ``debugfs_text``, ``zone_summary``, ``buddyinfo`` and ``page_types_text``."""

    name = "snapshot"
    ops = FOLDER_OPS
    bound_seconds = 20.0

    def setup(self, workdir: Path) -> None:
        self.base = workdir / "mini"
        self.cache: dict = {}
        self.n = 0
        self.workdir = workdir

    def folder(self, recipe: Sequence[Op]) -> Path:
        self.n += 1
        d = self.workdir / f"case-{self.n % 4}"
        if d.exists():
            shutil.rmtree(d)
        return build_folder(self.base, d, recipe, self.cache)

    def run(self, recipe: Sequence[Op], source: int) -> str:
        import mmkit.metrics
        import mmkit.snapshot

        d = self.folder(recipe)
        s = mmkit.snapshot.load(d, max_pfns=FUZZ_MAX_PFNS)
        s.validate()
        s.zone_names, s.zone_nodes, s.nr_free  # noqa: B018
        mmkit.snapshot.buddyinfo(s)
        mmkit.metrics.zone_summary(s)
        mmkit.metrics.free_pages_by_order(s)
        for which in ("extfrag_index", "unusable_index"):
            mmkit.metrics.debugfs_text(s, which)
        if s.has("extfrag_index") or s.has("unusable_index"):
            try:
                mmkit.metrics.check(s)
            except mmkit.metrics.MetricsMismatch:
                pass  # a typed answer: the files disagree
        if s.has("kpageflags"):
            mmkit.snapshot.page_types_text(s, "lru,~active" if source % 2 else None)
        return f"{len(s.files)} files"


class FromSnapshotTarget(SnapshotTarget):
    """``Memory.from_snapshot`` on a corrupted small real snapshot; a Memory it returns
    must pass ``Memory.check()``, and ``from_snapshot_report`` must describe it."""

    name = "from_snapshot"
    bound_seconds = 30.0

    def run(self, recipe: Sequence[Op], source: int) -> str:
        import mmkit
        import mmkit.snapshot
        from mmkit.errors import InvariantError

        d = self.folder(recipe)
        s = mmkit.snapshot.load(d, max_pfns=FUZZ_MAX_PFNS)
        variant = ("v6.18", "v4.8", "v3-04", "v4.5")[source % 4]
        mem = mmkit.Memory.from_snapshot(s, variant=variant)
        try:
            mem.check()
        except InvariantError as e:  # typed, but a built Memory must be sound: a failure
            raise AssertionError(f"from_snapshot built a Memory that fails check(): {e}") from None
        mmkit.snapshot.from_snapshot_report(s, mem)
        return f"{mem.nr_pages} pages"


def all_targets() -> dict[str, Target]:
    ts: list[Target] = [ParserTarget(n) for n in TEXT_NAMES]
    ts += [BitsTarget(), ArrayTarget(), SnapshotTarget(), FromSnapshotTarget()]
    return {t.name: t for t in ts}


# share of the inputs each target gets (parsers are fast, folders slow)
SHARE = {"buddyinfo": 12000, "pagetypeinfo": 12000, "zoneinfo": 12000, "vmstat": 8000, "meminfo": 8000,
         "extfrag_index": 8000, "unusable_index": 6000, "page_types_bits": 8000, "arrays": 15000,
         "snapshot": 8000, "from_snapshot": 3000}


# --------------------------------------------------------------------------- one input
class Timeout(Exception):
    """An input ran past its target's time bound (in-process runs)."""


def outcome(target: Target, recipe: Sequence[Op], source: int) -> tuple[str, str]:
    """Run one input: ``("ok", result)``, ``("typed", class name)`` or ``("FAIL", traceback)``."""
    from mmkit.errors import MmkitError

    try:
        result = "ok", target.run(recipe, source)
    except MmkitError as e:
        result = "typed", type(e).__name__
    except Timeout:
        raise
    except BaseException as e:  # anything else is what the fuzzer looks for
        if isinstance(e, KeyboardInterrupt):
            raise
        return "FAIL", "".join(traceback.format_exception(type(e), e, e.__traceback__, limit=-4))
    if os.path.exists(PWNED):
        return "FAIL", f"the input was unpickled: {PWNED} exists"
    return result


def case_rng(target: str, seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, sum(target.encode()) * 7919 + len(target), index])


def case(target: Target, seed: int, index: int) -> tuple[tuple[Op, ...], int]:
    """The recipe and source of input ``index`` (the same on every run)."""
    rng = case_rng(target.name, seed, index)
    recipe = random_recipe(rng, target.ops)
    return recipe, int(rng.integers(0, 1 << 20))


def workdir_for(root: Path) -> Path:
    """A work folder holding the small real snapshot the folder targets corrupt."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "mini").is_dir():
        make_mini(root / "mini")
    return root


# --------------------------------------------------------------------------- worker
def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def worker(target_name: str, seed: int, start: int, count: int, workdir: Path, memory_bound: int) -> None:
    """Run inputs ``start..start+count`` of one target, one line each on stdout:
    ``index<TAB>status<TAB>seconds<TAB>detail`` (detail: JSON string)."""
    target = all_targets()[target_name]
    target.setup(workdir)
    # warm up (imports, numba, the hostile blobs) on the unchanged source, then bound
    # the address space
    array_blobs()
    outcome(target, (), 0)
    if memory_bound:
        limit = _vm_size() + memory_bound
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print("ready", flush=True)
    for i in range(start, start + count):
        recipe, source = case(target, seed, i)
        t = time.perf_counter()
        status, detail = outcome(target, recipe, source)
        dt = time.perf_counter() - t
        sys.stdout.write(f"{i}\t{status}\t{dt:.4f}\t{json.dumps(detail[:4000])}\n")
        sys.stdout.flush()


# --------------------------------------------------------------------------- parent
class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tried = 0
        self.ok = 0
        self.typed: Counter[str] = Counter()
        self.failures: list[tuple[int, str, str]] = []  # index, kind, detail
        self.seconds = 0.0
        self.slowest = (0.0, -1)

    def add(self, i: int, status: str, dt: float, detail: str) -> None:
        self.tried += 1
        if dt > self.slowest[0]:
            self.slowest = (dt, i)
        if status == "ok":
            self.ok += 1
        elif status == "typed":
            self.typed[detail] += 1
        else:
            self.failures.append((i, status, detail))


def run_target(name: str, seed: int, count: int, workdir: Path, memory_bound: int, bound: float) -> Tally:
    """Run ``count`` inputs of target ``name`` in watched worker processes: a worker that
    hangs or dies is recorded against its input and a new one goes on after it."""
    tally = Tally(name)
    t0 = time.monotonic()
    next_i = 0
    while next_i is not None and next_i < count:
        next_i = _one_worker(tally, name, seed, next_i, count, workdir, memory_bound, bound)
    tally.seconds = time.monotonic() - t0
    return tally


def _one_worker(tally: Tally, name: str, seed: int, start: int, count: int, workdir: Path, memory_bound: int,
                bound: float) -> int | None:
    """One worker from input ``start``; returns where the next one starts (None: give up)."""
    cmd = [sys.executable, __file__, "--worker", name, "--seed", str(seed), "--start", str(start),
           "--count", str(count - start), "--workdir", str(workdir), "--memory-bound", str(memory_bound)]
    # stderr to a file: a full pipe would stall the worker
    with open(workdir / f"{name}.stderr", "w+") as err, \
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1) as proc, \
            selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = False
        last = time.monotonic()
        current = start
        while current < count:
            limit = 600.0 if not ready else bound
            if not sel.select(timeout=max(0.0, limit - (time.monotonic() - last))):
                if time.monotonic() - last < limit:
                    continue
                proc.kill()
                tally.add(current, "HANG", time.monotonic() - last,
                          f"{'hang' if ready else 'no start'}: no answer within {limit:.0f} s")
                return current + 1 if ready else None
            line = proc.stdout.readline()
            if not line:  # the worker died in input ``current``
                rc = proc.wait()
                err.seek(0)
                tally.add(current, "CRASH", 0.0, f"worker exited with {rc}: {err.read()[-3000:]}")
                return current + 1 if ready else None
            last = time.monotonic()
            if line.strip() == "ready":
                ready = True
                continue
            i, status, dt, detail = line.rstrip("\n").split("\t", 3)
            tally.add(int(i), status, float(dt), json.loads(detail))
            current = int(i) + 1
        proc.wait()
    return count


def signature(detail: str) -> str:
    """What tells failures apart: the exception line and the innermost mmkit frame."""
    lines = [ln.strip() for ln in detail.strip().split("\n") if ln.strip()]
    where = [ln for ln in lines if ln.startswith("File ") and "/mmkit/" in ln]
    last = lines[-1] if lines else ""
    last = re.sub(r"[0-9]{3,}", "N", last)[:160]
    return (where[-1] if where else "") + " | " + last


def report(tallies: list[Tally], seed: int, seconds: float, workdir: Path | None = None) -> int:
    print(f"\n{'target':<16}{'inputs':>9}{'valid':>9}{'typed':>9}{'failures':>9}{'time s':>9}  "
          f"slowest input (s)   typed errors")
    tot = Counter()
    for t in tallies:
        typed = sum(t.typed.values())
        kinds = ", ".join(f"{k} {v}" for k, v in t.typed.most_common())
        print(f"{t.name:<16}{t.tried:>9}{t.ok:>9}{typed:>9}{len(t.failures):>9}{t.seconds:>9.1f}  "
              f"{t.slowest[0]:>6.2f} (#{t.slowest[1]})   {kinds}")
        tot.update(inputs=t.tried, ok=t.ok, typed=typed, failures=len(t.failures))
    print(f"{'total':<16}{tot['inputs']:>9}{tot['ok']:>9}{tot['typed']:>9}{tot['failures']:>9}{seconds:>9.1f}")
    groups: dict[str, list[tuple[str, int, str, str]]] = {}
    for t in tallies:
        for i, kind, detail in t.failures:
            groups.setdefault(kind + " " + signature(detail), []).append((t.name, i, kind, detail))
    if groups:
        print(f"\n{len(groups)} distinct failures:")
    for cases in groups.values():
        name, i, kind, detail = cases[0]
        targets = Counter(c[0] for c in cases)
        print(f"\n{kind} x{len(cases)} ({', '.join(f'{k} {v}' for k, v in targets.items())}); first: "
              f".venv/bin/python verification/fuzz.py --repro {name} {seed} {i}")
        print("  " + detail.strip().replace("\n", "\n  ")[-2500:])
        if kind == "FAIL" and workdir is not None:
            print(shrink_report(name, seed, i, workdir), flush=True)
    return 1 if tot["failures"] else 0


def repro(name: str, seed: int, index: int, workdir: Path, keep: Sequence[int] | None = None) -> int:
    target = all_targets()[name]
    target.setup(workdir)
    recipe, source = case(target, seed, index)
    if keep is not None:
        recipe = tuple(recipe[k] for k in keep)
    print(f"recipe {recipe}, source {source}")
    status, detail = outcome(target, recipe, source)
    print(status, detail)
    return 1 if status == "FAIL" else 0


def shrink(target: Target, recipe: Sequence[Op], source: int) -> list[int]:
    """The indices of a minimal sublist of ``recipe`` that still fails with the same
    signature (in this process: for untyped exceptions, not hangs or crashes); each
    operation is deleted in turn while the failure persists."""
    status, detail = outcome(target, recipe, source)
    if status != "FAIL":
        raise ValueError(f"recipe {recipe} (source {source}) does not fail: {status}")
    want = signature(detail)
    keep = list(range(len(recipe)))
    i = 0
    while i < len(keep):
        trial = keep[:i] + keep[i + 1:]
        st, d = outcome(target, [recipe[k] for k in trial], source)
        if trial and st == "FAIL" and signature(d) == want:
            keep = trial
        else:
            i += 1
    return keep


def shrink_report(name: str, seed: int, index: int, workdir: Path) -> str:
    target = all_targets()[name]
    target.setup(workdir)
    recipe, source = case(target, seed, index)
    try:
        keep = shrink(target, recipe, source)
    except ValueError as e:  # does not fail in this process (a worker's limits, a hang)
        return f"  not shrunk: {e}"
    return (f"  minimal recipe ({len(keep)} of {len(recipe)} ops, source {source}): "
            f"{tuple(recipe[k] for k in keep)}\n  replay it: .venv/bin/python verification/fuzz.py --repro "
            f"{name} {seed} {index} --keep {','.join(map(str, keep))}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=None, help="default: a fresh one, printed first")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every target's number of inputs")
    ap.add_argument("--targets", default=",".join(SHARE), help="comma-separated targets")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mmkit-fuzz")
    ap.add_argument("--memory-bound", type=int, default=MEMORY_BOUND, help="bytes of address space per worker")
    ap.add_argument("--repro", nargs=3, metavar=("TARGET", "SEED", "INDEX"))
    ap.add_argument("--keep", metavar="I,J,...", help="with --repro: only these operations of the recipe")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.seed, args.start, args.count, args.workdir, args.memory_bound)
        return 0
    workdir = workdir_for(args.workdir)
    if args.repro:
        keep = None if args.keep is None else [int(k) for k in args.keep.split(",") if k]
        return repro(args.repro[0], int(args.repro[1]), int(args.repro[2]), workdir, keep)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in all_targets()]
    if unknown:
        ap.error(f"unknown targets {unknown}; known: {', '.join(all_targets())}")
    args.seed = announce("verification/fuzz.py", args.seed, sys.argv[1:] if argv is None else argv)
    t0 = time.monotonic()
    return report(fuzz(names, args.seed, args.scale, workdir, args.memory_bound), args.seed,
                  time.monotonic() - t0, workdir)


def fuzz(names: Sequence[str], seed: int, scale: float, workdir: Path, memory_bound: int = MEMORY_BOUND,
         progress: bool = True) -> list[Tally]:
    """Each target of ``names`` on ``SHARE[name] * scale`` inputs of ``seed``."""
    targets = all_targets()
    tallies = []
    for n in names:
        count = max(1, int(SHARE[n] * scale))
        if progress:
            print(f"{n}: {count} inputs ...", flush=True)
        tallies.append(run_target(n, seed, count, workdir, memory_bound, targets[n].bound_seconds))
        t = tallies[-1]
        if progress:
            print(f"  {t.tried} tried, {len(t.failures)} failures, {t.seconds:.1f} s", flush=True)
    return tallies


if __name__ == "__main__":
    sys.exit(main())
