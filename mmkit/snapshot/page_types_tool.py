"""The kernel's ``tools/mm/page-types -F FILE`` summary, byte for byte, from a snapshot.

What ``page-types`` does with ``-F kpageflags`` and no other option (torvalds/linux
``tools/mm/page-types.c``):

* ``-F`` only names the file to read instead of ``/proc/kpageflags``; it does **not**
  imply raw mode (``-r``). So every flags word goes through ``well_known_flags``: bits
  32-47 (``KPF_HACKERS_BITS``: reserved, mlocked, owner_2, private ... arch_3) are
  cleared, and compound head/tail are cleared unless the page is also ``KPF_HUGE``
  (hugetlbfs). ``expand_overloaded_flags`` (anon_exclusive, slub_frozen, readahead ...)
  runs only in raw mode, so never here.
* ``-b`` filters (``parse_bits_mask``) apply to the flags *after* that masking
  (``add_page`` -> ``bit_mask_ok``); several ``-b`` must all pass.
* The summary (``show_summary``) lists the distinct flag words in the order of the slots
  of a 8192-entry open-addressing hash table (``hash_slot``: slot 0 for flags 0, else
  ``flags & 8191`` probed linearly, wrapping to 1), filled in pfn order. It is not sorted.
* Each row: ``"0x%016llx\\t%10lu %8lu  %s\\t%s\\n"``: flags, pages, ``pages * page_size >>
  20`` MB, one letter per named bit (``page_flag_name``, 44 characters today) and the
  comma-separated long names; then ``"             total\\t%10lu %8lu\\n"``.
* A set bit without a name makes the tool stop with ``unknown flag bit N``; here that is
  a :class:`SnapshotError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from mmkit.errors import ParameterError, SnapshotError
from mmkit.model import kpf

__all__ = [
    "PAGE_FLAG_NAMES",
    "describe_flags",
    "page_types",
    "page_types_text",
    "parse_bits_mask",
    "parse_flag_names",
    "well_known_flags",
]

# Bits page-types adds past the kernel's (tools/mm/page-types.c: "take some arbitrary free
# slots for expanding overloaded flags, not part of kernel API").
KPF_ANON_EXCLUSIVE = 47
KPF_READAHEAD = 48
KPF_SLUB_FROZEN = 50
KPF_SLUB_DEBUG = 51
KPF_FILE = 61
KPF_SWAP = 62
KPF_MMAP_EXCLUSIVE = 63

# page_flag_names[] of tools/mm/page-types.c: "letter:name" per bit. Note "H" twice
# (compound_head, arch_2) and no entry for 27-31, 42-46, 49, 52-60: KPF_ARCH_3 (42) has
# no name in the tool, so a raw-mode run would stop on it (here it is masked away).
PAGE_FLAG_NAMES: dict[int, str] = {
    kpf.KPF_LOCKED: "L:locked",
    kpf.KPF_ERROR: "E:error",
    kpf.KPF_REFERENCED: "R:referenced",
    kpf.KPF_UPTODATE: "U:uptodate",
    kpf.KPF_DIRTY: "D:dirty",
    kpf.KPF_LRU: "l:lru",
    kpf.KPF_ACTIVE: "A:active",
    kpf.KPF_SLAB: "S:slab",
    kpf.KPF_WRITEBACK: "W:writeback",
    kpf.KPF_RECLAIM: "I:reclaim",
    kpf.KPF_BUDDY: "B:buddy",
    kpf.KPF_MMAP: "M:mmap",
    kpf.KPF_ANON: "a:anonymous",
    kpf.KPF_SWAPCACHE: "s:swapcache",
    kpf.KPF_SWAPBACKED: "b:swapbacked",
    kpf.KPF_COMPOUND_HEAD: "H:compound_head",
    kpf.KPF_COMPOUND_TAIL: "T:compound_tail",
    kpf.KPF_HUGE: "G:huge",
    kpf.KPF_UNEVICTABLE: "u:unevictable",
    kpf.KPF_HWPOISON: "X:hwpoison",
    kpf.KPF_NOPAGE: "n:nopage",
    kpf.KPF_KSM: "x:ksm",
    kpf.KPF_THP: "t:thp",
    kpf.KPF_OFFLINE: "o:offline",
    kpf.KPF_PGTABLE: "g:pgtable",
    kpf.KPF_ZERO_PAGE: "z:zero_page",
    kpf.KPF_IDLE: "i:idle_page",
    kpf.KPF_RESERVED: "r:reserved",
    kpf.KPF_MLOCKED: "m:mlocked",
    kpf.KPF_OWNER_2: "d:owner_2",
    kpf.KPF_PRIVATE: "P:private",
    kpf.KPF_PRIVATE_2: "p:private_2",
    kpf.KPF_OWNER_PRIVATE: "O:owner_private",
    kpf.KPF_ARCH: "h:arch",
    kpf.KPF_UNCACHED: "c:uncached",
    kpf.KPF_SOFTDIRTY: "f:softdirty",
    kpf.KPF_ARCH_2: "H:arch_2",
    KPF_ANON_EXCLUSIVE: "d:anon_exclusive",
    KPF_READAHEAD: "I:readahead",
    KPF_SLUB_FROZEN: "A:slub_frozen",
    KPF_SLUB_DEBUG: "E:slub_debug",
    KPF_FILE: "F:file",
    KPF_SWAP: "w:swap",
    KPF_MMAP_EXCLUSIVE: "1:mmap_exclusive",
}
_NAMED_BITS = tuple(sorted(PAGE_FLAG_NAMES))  # index order of the C array
_NAMED_MASK = sum(1 << b for b in _NAMED_BITS)

KPF_ALL_BITS = (1 << 64) - 1
KPF_HACKERS_BITS = 0xFFFF << 32
BITS_COMPOUND = (1 << kpf.KPF_COMPOUND_HEAD) | (1 << kpf.KPF_COMPOUND_TAIL)
_HASH_SIZE = 1 << 13

HEADER = "             flags\tpage-count       MB  symbolic-flags\t\t\tlong-symbolic-flags\n"


# ------------------------------------------------------------------ flag masks
def well_known_flags(flags: np.ndarray) -> np.ndarray:
    """``well_known_flags`` on an array: drop bits 32-47, and compound bits unless huge."""
    f = np.asarray(flags, dtype=np.uint64) & np.uint64(~KPF_HACKERS_BITS & KPF_ALL_BITS)
    comp = ((f & np.uint64(BITS_COMPOUND)) != 0) & ((f & np.uint64(1 << kpf.KPF_HUGE)) == 0)
    f[comp] &= np.uint64(~BITS_COMPOUND & KPF_ALL_BITS)
    return f


def _strtoll(s: str) -> tuple[int, bool]:
    """C ``strtoll(s, NULL, 0)``: (value as u64, whether any digit was read)."""
    i, n = 0, len(s)
    while i < n and s[i] in " \t\n\v\f\r":
        i += 1
    neg = False
    if i < n and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    base = 10
    if s[i:i + 2].lower() == "0x" and i + 2 < n and s[i + 2] in "0123456789abcdefABCDEF":
        base, i = 16, i + 2
    elif s[i:i + 1] == "0":
        base = 8
    digits = "0123456789abcdef"[:base]
    j = i
    while j < n and s[j].lower() in digits:
        j += 1
    if j == i:
        return 0, False
    digits = s[i:j].lstrip("0") or "0"
    v = int(digits, base) if len(digits) <= 64 else 1 << 64  # 64 digits are past LLONG_MAX already
    v = min(v, (1 << 63) if neg else (1 << 63) - 1)  # saturates at LLONG_MIN / LLONG_MAX
    if neg:
        v = -v
    return v & KPF_ALL_BITS, True


def _parse_number(s: str) -> int:
    # parse_number(): strtoll(str, NULL, 0); 0 is an error unless the text starts with '0'
    n, _ = _strtoll(s)
    if n == 0 and not s.startswith("0"):
        raise ParameterError(f"bits: invalid name or number: {s}")
    return n


def _parse_flag_name(s: str, length: int) -> int:
    # parse_flag_name(): "compound" or any prefix of it (of the token) -> both compound bits;
    # else the first name (in bit order) whose start equals the token; else a number.
    if not s or not length:
        return 0
    tok = s[:length]
    if length <= 8 and "compound".startswith(tok):
        return BITS_COMPOUND
    for b in _NAMED_BITS:
        if PAGE_FLAG_NAMES[b][2:].startswith(tok):
            return 1 << b
    return _parse_number(s)


def parse_flag_names(s: str, all_: bool = False) -> int:
    """``parse_flag_names``: OR of the comma-separated names/numbers up to ``=`` or the end.

    Names may be abbreviated (first match in bit order); ``~name`` counts only when
    ``all_`` is true (the mask side of ``a,~b``).
    """
    flags = 0
    start = 0
    p = 0
    while True:
        ch = s[p] if p < len(s) else "\0"
        if ch in ",=\0":
            tok_start = start
            if s[tok_start:tok_start + 1] != "~":
                flags |= _parse_flag_name(s[tok_start:], p - tok_start)
            elif all_:
                tok_start += 1  # the C code's *++str
                if tok_start < len(s):  # and the character after '~' is not the end
                    flags |= _parse_flag_name(s[tok_start:], p - tok_start)
            if ch != ",":
                break
            start = p + 1
        p += 1
    return flags


def parse_bits_mask(spec: str) -> tuple[int, int]:
    """``parse_bits_mask`` of page-types ``-b``: ``(mask, bits)`` for one filter.

    ``a,b`` -> any of a, b set (``bits`` is ``KPF_ALL_BITS``); ``a,b=a`` -> of a and b exactly
    a; ``a,~b`` -> a set and b clear; ``=a,b`` -> the flags are exactly a|b. A page passes
    when ``flags & mask != 0`` (any-of form) or ``flags & mask == bits``.
    """
    if not isinstance(spec, str):
        raise ParameterError(f"bits: {spec!r}; give a string such as 'lru,~active'")
    eq = spec.find("=")
    if eq == 0:
        return KPF_ALL_BITS, parse_flag_names(spec[1:])
    if eq > 0:
        return parse_flag_names(spec), parse_flag_names(spec[eq + 1:])
    if "~" in spec:
        return parse_flag_names(spec, True), parse_flag_names(spec)
    return parse_flag_names(spec), KPF_ALL_BITS


def _filters(bits: str | Sequence[str] | None) -> list[tuple[int, int]]:
    if bits is None:
        return []
    specs = [bits] if isinstance(bits, str) else list(bits)
    if len(specs) > 64:  # MAX_BIT_FILTERS
        raise ParameterError("bits: too much bit filters (page-types takes at most 64)")
    return [parse_bits_mask(s) for s in specs]


def _bit_mask_ok(flags: np.ndarray, filters: list[tuple[int, int]]) -> np.ndarray:
    ok = np.ones(flags.shape, dtype=bool)
    for mask, want in filters:
        m = np.uint64(mask)
        if want == KPF_ALL_BITS:
            ok &= (flags & m) != 0
        else:
            ok &= (flags & m) == np.uint64(want)
    return ok


# ------------------------------------------------------------------ names
def _check_named(flags: int) -> None:
    unknown = flags & ~_NAMED_MASK & KPF_ALL_BITS
    if unknown:
        bit = (unknown & -unknown).bit_length() - 1
        raise SnapshotError(
            f"kpageflags: flags {flags:#018x} have bit {bit} set, which page-types has no name "
            f"for (it stops with 'unknown flag bit {bit}'): not a kpageflags file of a known kernel?"
        )


def page_flag_name(flags: int) -> str:
    """``page_flag_name``: one character per named bit, its letter or ``_``."""
    _check_named(flags)
    return "".join(PAGE_FLAG_NAMES[b][0] if (flags >> b) & 1 else "_" for b in _NAMED_BITS)


def page_flag_longname(flags: int) -> str:
    """``page_flag_longname``: the names of the set bits, comma separated."""
    return ",".join(PAGE_FLAG_NAMES[b][2:] for b in _NAMED_BITS if (flags >> b) & 1)


def describe_flags(spec: str) -> str:
    """What ``page-types -d SPEC`` prints: flags, symbolic and long names of a flag list."""
    f = parse_flag_names(spec)
    return f"0x{f:016x}\t{page_flag_name(f)}\t{page_flag_longname(f)}\n"


# ------------------------------------------------------------------ summary
def _hash_order(firsts: list[int]) -> list[int]:
    """Slot of each distinct flag word, inserted in the given order (``hash_slot``)."""
    table = [0] * _HASH_SIZE  # page_flags[]; 0 = empty (flags 0 always owns slot 0)
    slots = []
    for flags in firsts:
        if flags == 0:
            slots.append(0)
            continue
        k = flags & (_HASH_SIZE - 1)
        for _ in range(1, _HASH_SIZE):
            if not k or k >= _HASH_SIZE:
                k = 1
            if table[k] == 0:
                table[k] = flags
                break
            if table[k] == flags:
                break
            k += 1
        else:
            raise SnapshotError("kpageflags: more than 8191 distinct flag words: page-types' hash table is full")
        slots.append(k)
    return slots


def _flags_of(source) -> tuple[np.ndarray, int]:
    if isinstance(source, np.ndarray):
        if source.ndim != 1 or source.dtype.kind not in "ui":
            raise ParameterError(f"kpageflags: a 1-D integer array is needed, got {source.dtype} {source.shape}")
        return source.astype(np.uint64, copy=False), 4096
    if hasattr(source, "kpageflags") and hasattr(source, "page_size"):
        return source.kpageflags, int(source.page_size)
    raise ParameterError(f"page_types: {type(source).__name__} is neither a Snapshot nor a kpageflags array")


def page_types(snapshot, bits: str | Sequence[str] | None = None, *, page_size: int | None = None) -> pl.DataFrame:
    """The page-types summary as a frame, rows in the tool's print order.

    Columns ``flags`` (u64, after ``well_known_flags``), ``page_count``, ``MB``,
    ``symbolic_flags``, ``long_symbolic_flags``. ``snapshot`` is a :class:`Snapshot` (its
    kpageflags and page size) or a kpageflags array (page size 4096 unless given).
    ``bits`` is one ``-b`` spec or a list of them (all must pass), e.g. ``"lru,~active"``.
    """
    raw, psize = _flags_of(snapshot)
    if page_size is not None:
        psize = int(page_size)
    filters = _filters(bits)
    flags = well_known_flags(raw)
    if filters:
        flags = flags[_bit_mask_ok(flags, filters)]
    # distinct flag words in the order the tool first meets them (pfn order), with counts
    groups = (
        pl.DataFrame({"f": flags}, schema={"f": pl.UInt64})
        .with_row_index("pfn")
        .group_by("f")
        .agg(pl.col("pfn").min().alias("first"), pl.len().alias("n"))
        .sort("first")
    )
    vals = [int(v) for v in groups["f"]]
    counts = [int(n) for n in groups["n"]]
    slots = _hash_order(vals)
    rows = sorted(range(len(vals)), key=lambda i: slots[i])
    out_flags = [vals[i] for i in rows]
    out_counts = [counts[i] for i in rows]
    return pl.DataFrame(
        {
            "flags": out_flags,
            "page_count": out_counts,
            "MB": [(c * psize) >> 20 for c in out_counts],
            "symbolic_flags": [page_flag_name(f) for f in out_flags],
            "long_symbolic_flags": [page_flag_longname(f) for f in out_flags],
        },
        schema={"flags": pl.UInt64, "page_count": pl.Int64, "MB": pl.Int64,
                "symbolic_flags": pl.String, "long_symbolic_flags": pl.String},
    )


def page_types_text(snapshot, bits: str | Sequence[str] | None = None, *, page_size: int | None = None) -> str:
    """Exactly what ``page-types -F kpageflags [-b BITS ...]`` prints (``show_summary``)."""
    _, psize = _flags_of(snapshot)
    if page_size is not None:
        psize = int(page_size)
    frame = page_types(snapshot, bits, page_size=psize)
    parts = [HEADER]
    for f, n, mb, sym, long in frame.iter_rows():
        parts.append(f"0x{f:016x}\t{n:10d} {mb:8d}  {sym}\t{long}\n")
    total = int(frame["page_count"].sum()) if frame.height else 0
    parts.append(f"             total\t{total:10d} {(total * psize) >> 20:8d}\n")
    return "".join(parts)
