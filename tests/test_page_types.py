"""page-types parity: byte-for-byte against the kernel tool's own output.

Every golden ``.txt`` here was printed by the real ``tools/mm/page-types -F`` (see
data/README.md and tests/data/page-types-bits/manifest.json), never by mmkit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mmkit.snapshot
from mmkit.errors import ParameterError, SnapshotError
from mmkit.model import kpf
from mmkit.snapshot.arrays import read_u64_array
from mmkit.snapshot.page_types_tool import (
    BITS_COMPOUND,
    KPF_ALL_BITS,
    describe_flags,
    parse_bits_mask,
    parse_flag_names,
    well_known_flags,
)

ROOT = Path(__file__).parent.parent
DATA = ROOT / "tests" / "data"
FIXTURE = DATA / "linux-6.18-idle"
CRAFTED = DATA / "page-types-crafted"


@pytest.fixture(scope="module")
def fixture():
    s = mmkit.snapshot.load(FIXTURE)
    s.kpageflags
    return s


def bit(*names: str) -> int:
    return sum(1 << getattr(kpf, "KPF_" + n.upper()) for n in names)


# ------------------------------------------------------------------ goldens
def test_fixture_golden_byte_exact(fixture):
    assert mmkit.snapshot.page_types_text(fixture).encode() == (FIXTURE / "page-types.txt").read_bytes()


@pytest.mark.parametrize("name", ["idle", "fragmented"])
def test_sample_goldens_byte_exact(name):
    s = mmkit.snapshot.load(ROOT / "data" / name)
    assert mmkit.snapshot.page_types_text(s).encode() == (ROOT / "data" / name / "page-types.txt").read_bytes()


CASES = json.loads((DATA / "page-types-bits" / "manifest.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[",".join(c["bits"]) for c in CASES])
def test_bit_filters_match_the_tool(fixture, case):
    want = (DATA / "page-types-bits" / case["file"]).read_text()
    assert mmkit.snapshot.page_types_text(fixture, case["bits"]) == want


def test_crafted_hash_order_compound_and_hidden_bits():
    # a hand-made kpageflags: hash collisions (0x2400 before 0x400 share key 0x400), flags
    # with key 0 (zero_page, pgtable, huge compound), compound pages with and without
    # KPF_HUGE, bits 32-47 set (hidden), bit 48 (not hidden, named "readahead")
    flags = read_u64_array(CRAFTED / "kpageflags")
    assert mmkit.snapshot.page_types_text(flags) == (CRAFTED / "page-types.txt").read_text()
    for spec in ("compound", "huge", "=0x20"):
        want = (CRAFTED / f"page-types-b-{re.sub('[^a-z0-9]', '_', spec)}.txt").read_text()
        assert mmkit.snapshot.page_types_text(flags, spec) == want


# ------------------------------------------------------------------ the frame
def test_frame(fixture):
    f = mmkit.snapshot.page_types(fixture)
    assert f.columns == ["flags", "page_count", "MB", "symbolic_flags", "long_symbolic_flags"]
    assert f.schema["flags"] == pl.UInt64
    assert f["page_count"].sum() == 6_553_600
    assert f.row(0) == (0, 5360957, 20941, "_" * 44, "")
    buddy = f.filter(pl.col("flags") == bit("buddy"))
    assert buddy["long_symbolic_flags"].item() == "buddy"
    assert (f["MB"] == (f["page_count"] * 4096) // 2**20).all()
    assert (f["symbolic_flags"].str.len_chars() == 44).all()


def test_page_size_changes_mb():
    flags = np.zeros(1024, dtype=np.uint64)
    f = mmkit.snapshot.page_types(flags, page_size=65536)
    assert f.row(0)[:3] == (0, 1024, 64)
    assert mmkit.snapshot.page_types_text(flags, page_size=65536).endswith("total\t      1024       64\n")


def test_empty_selection():
    flags = np.array([bit("lru")], dtype=np.uint64)
    text = mmkit.snapshot.page_types_text(flags, "buddy")
    assert text.splitlines()[1] == "             total\t         0        0"


def test_well_known_flags():
    f = np.array([bit("compound_head", "lru"), bit("compound_tail", "huge"), 1 << 33 | bit("lru"), 1 << 47],
                 dtype=np.uint64)
    assert well_known_flags(f).tolist() == [bit("lru"), bit("compound_tail", "huge"), bit("lru"), 0]


def test_unknown_bit_is_an_error():
    with pytest.raises(SnapshotError, match="bit 27"):
        mmkit.snapshot.page_types_text(np.array([1 << 27], dtype=np.uint64))
    # bit 42 (KPF_ARCH_3) has no name in the tool, but non-raw mode hides bits 32-47
    assert "total\t         1" in mmkit.snapshot.page_types_text(np.array([1 << 42], dtype=np.uint64))


def test_not_flags():
    with pytest.raises(ParameterError):
        mmkit.snapshot.page_types("nope")
    with pytest.raises(ParameterError):
        mmkit.snapshot.page_types(np.zeros((2, 2), dtype=np.uint64))


# ------------------------------------------------------------------ the -b grammar
@pytest.mark.parametrize("spec, mask, bits", [
    ("lru,~active", bit("lru", "active"), bit("lru")),            # bit1,~bit2
    ("lru,active=lru", bit("lru", "active"), bit("lru")),         # bit1,bit2=bit1
    ("=lru,uptodate", KPF_ALL_BITS, bit("lru", "uptodate")),      # =bits: exact
    ("lru,active", bit("lru", "active"), KPF_ALL_BITS),          # any of
    ("compound", BITS_COMPOUND, KPF_ALL_BITS),
    ("comp", BITS_COMPOUND, KPF_ALL_BITS),                       # any prefix of "compound"
    ("c", BITS_COMPOUND, KPF_ALL_BITS),
    ("a", bit("active"), KPF_ALL_BITS),                          # first name in bit order
    ("anon", bit("anon"), KPF_ALL_BITS),
    ("0x10", 0x10, KPF_ALL_BITS),
    ("010", 8, KPF_ALL_BITS),                                    # strtoll base 0: octal
    ("0", 0, KPF_ALL_BITS),
    ("~lru", bit("lru"), 0),
    ("=", KPF_ALL_BITS, 0),
    ("=-1", KPF_ALL_BITS, KPF_ALL_BITS),                         # strtoll("-1") = all bits
    ("0x1ffffffffffffffff", (1 << 63) - 1, KPF_ALL_BITS),        # strtoll saturates
])
def test_parse_bits_mask(spec, mask, bits):
    assert parse_bits_mask(spec) == (mask, bits)


@pytest.mark.parametrize("spec", ["foo", "lru,foo", "I", ""])
def test_parse_bits_mask_errors(spec):
    if spec == "":
        assert parse_bits_mask(spec) == (0, KPF_ALL_BITS)  # the tool accepts it (matches nothing)
        return
    with pytest.raises(ParameterError, match="invalid name or number"):
        parse_bits_mask(spec)


def test_parse_flag_names_all_flag():
    assert parse_flag_names("lru,~active") == bit("lru")
    assert parse_flag_names("lru,~active", True) == bit("lru", "active")
    assert parse_flag_names("~", True) == 0


def test_describe_flags():
    assert describe_flags("lru,buddy") == (
        "0x0000000000000420\t_____l____B_________________________________\tlru,buddy\n")


def test_too_many_filters():
    with pytest.raises(ParameterError, match="at most 64"):
        mmkit.snapshot.page_types(np.zeros(1, dtype=np.uint64), ["lru"] * 65)
    with pytest.raises(ParameterError):
        mmkit.snapshot.page_types(np.zeros(1, dtype=np.uint64), [3])
