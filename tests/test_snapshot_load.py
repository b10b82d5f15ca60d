"""Loading snapshot folders: the real 6.18 fixture, and every way a folder can be bad."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import mmkit.snapshot
from mmkit.errors import ParameterError, SnapshotError
from mmkit.snapshot.arrays import read_u64_array

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "linux-6.18-idle"


@pytest.fixture(scope="module")
def snap():
    return mmkit.snapshot.load(FIXTURE)


def minimal(tmp_path: Path, folder: str = "snap", **files: bytes) -> Path:
    """A snapshot folder with the fixture's buddyinfo and the given files (``a__gz`` = ``a.gz``)."""
    d = tmp_path / folder
    d.mkdir()
    shutil.copy(FIXTURE / "buddyinfo", d / "buddyinfo")
    for name, data in files.items():
        (d / name.replace("__", ".")).write_bytes(data)
    return d


# ------------------------------------------------------------------ the real fixture
def test_fixture_files(snap):
    assert snap.files == ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo", "extfrag_index",
                          "unusable_index", "kpageflags.gz", "kpagecount.gz")
    assert snap.meta == {} and snap.kernel_release is None
    assert snap.page_size == 4096
    assert snap.pageblock_order == 9  # from pagetypeinfo: no meta.json


def test_fixture_buddyinfo(snap):
    bi = snap.buddyinfo
    assert bi.columns == ["node", "zone", "order", "nr_free"]
    assert bi.height == 3 * 11
    assert snap.zone_names == ("DMA", "DMA32", "Normal")
    assert snap.zone_nodes == (0, 0, 0)
    assert snap.nr_free.shape == (3, 11)
    # "Node 0, zone   Normal   1091    774 ... 0    242"
    assert snap.nr_free[2].tolist() == [1091, 774, 466, 227, 97, 244, 211, 142, 76, 0, 242]
    assert snap.nr_free[0].tolist() == [0] * 8 + [1, 1, 3]


def test_fixture_arrays(snap):
    flags, counts = snap.kpageflags, snap.kpagecount
    assert flags.dtype == np.uint64 and counts.dtype == np.uint64
    assert flags.shape == counts.shape == (6_553_600,)  # 24 GiB + holes, as the README says
    assert snap.nr_pfns == 6_553_600
    # every free page has KPF_BUDDY (modern kernels mark each page of a free block)
    assert int(((flags >> np.uint64(10)) & np.uint64(1)).sum()) == 1_091_321


def test_fixture_pagetypeinfo(snap):
    pti = snap.pagetypeinfo
    assert pti.pageblock_order == 9 and pti.pages_per_block == 512 and pti.orders == 11
    assert pti.migratetypes == ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate")
    assert pti.mixed is None  # no page_owner on this kernel
    blocks = {(r["zone"], r["type"]): r["count"] for r in pti.blocks.iter_rows(named=True)}
    assert blocks[("Normal", "Unmovable")] == 41 and blocks[("DMA32", "Movable")] == 1528
    # read as one consistent group: the per-migratetype lists add up to buddyinfo
    sums = pti.free.group_by("zone", "order").agg(n=__import__("polars").col("nr_free").sum())
    got = {(r["zone"], r["order"]): r["n"] for r in sums.iter_rows(named=True)}
    for z, zone in enumerate(snap.zone_names):
        for o in range(11):
            assert got[(zone, o)] == snap.nr_free[z, o]
    assert not pti.free["capped"].any()


def test_fixture_zoneinfo(snap):
    zi = snap.zoneinfo
    def val(zone, key, scope="zone", cpu=None):
        f = zi.filter((zi["zone"] == zone) & (zi["key"] == key) & (zi["scope"] == scope))
        if cpu is not None:
            f = f.filter(f["cpu"] == cpu)
        assert f.height == 1, (zone, key, f)
        return f["value"][0]
    assert val("Normal", "managed") == 425984
    assert val("Normal", "pages free") == 314623
    assert val("DMA", "nr_inactive_anon", scope="node") == 30955  # per-node stats on the first zone
    assert val("DMA32", "protection[2]") == 1664
    assert val("Normal", "count", scope="cpu", cpu=1) == 681
    assert val("Normal", "vm stats threshold", scope="cpu", cpu=0) == 20
    assert val("Normal", "start_pfn") == 1048576
    # unpopulated zones are listed too (v4.12+, b2bd8598195f), up to their protection line only
    assert val("Device", "present") == 0
    assert set(zi.filter(zi["zone"] == "Device")["key"]) >= {"pages free", "cma", "protection[4]"}
    # buddyinfo and zoneinfo agree on free pages in each zone (a consistent capture)
    for z, zone in enumerate(snap.zone_names):
        assert sum(int(c) << o for o, c in enumerate(snap.nr_free[z])) == val(zone, "pages free")


def test_fixture_vmstat_meminfo(snap):
    vm = dict(snap.vmstat.iter_rows())
    assert vm["nr_free_pages"] == 1091381 and vm["nr_unstable"] == 0
    mi = {r["key"]: (r["value"], r["unit"]) for r in snap.meminfo.iter_rows(named=True)}
    assert mi["MemTotal"] == (24684096, "kB")
    assert mi["Active(anon)"] == (1556, "kB")
    assert mi["HugePages_Total"] == (0, None)


def test_fixture_debugfs_frames(snap):
    ef, ui = snap.extfrag_index, snap.unusable_index
    assert (ef["index"] == -1000).all() and ef.height == 33
    row = ui.filter(ui["zone"] == "Normal").sort("order")["index"].to_list()
    assert row == [0, 3, 8, 14, 20, 25, 49, 92, 150, 212, 212]


def test_validate(snap):
    assert snap.validate() is snap
    assert "kpageflags.gz" in repr(snap)


# ------------------------------------------------------------------ missing things
def test_missing_folder(tmp_path):
    with pytest.raises(SnapshotError, match="does not exist"):
        mmkit.snapshot.load(tmp_path / "nope")


def test_file_not_folder(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(SnapshotError, match="not a folder"):
        mmkit.snapshot.load(f)


def test_buddyinfo_required(tmp_path):
    (tmp_path / "vmstat").write_text("nr_free_pages 1\n")
    with pytest.raises(SnapshotError, match="no buddyinfo"):
        mmkit.snapshot.load(tmp_path)


def test_only_buddyinfo(tmp_path):
    s = mmkit.snapshot.load(minimal(tmp_path))
    assert s.files == ("buddyinfo",)
    for attr, name in [("pagetypeinfo", "pagetypeinfo"), ("zoneinfo", "zoneinfo"), ("vmstat", "vmstat"),
                       ("meminfo", "meminfo"), ("extfrag_index", "extfrag_index"),
                       ("unusable_index", "unusable_index"), ("kpageflags", "kpageflags"),
                       ("kpagecount", "kpagecount")]:
        with pytest.raises(SnapshotError, match=f"no {name} file"):
            getattr(s, attr)
    with pytest.raises(SnapshotError, match="pageblock order unknown"):
        s.pageblock_order
    assert s.nr_free.shape == (3, 11)


def test_bad_max_pfns(tmp_path):
    with pytest.raises(ParameterError):
        mmkit.snapshot.load(minimal(tmp_path), max_pfns=0)


# ------------------------------------------------------------------ bad text
def test_garbage_buddyinfo_names_line(tmp_path):
    d = minimal(tmp_path)
    (d / "buddyinfo").write_text("Node 0, zone DMA 1 2 3\nthis is not buddyinfo\n")
    with pytest.raises(SnapshotError, match=r"buddyinfo line 2: .*'this is not buddyinfo'"):
        mmkit.snapshot.load(d)


def test_binary_buddyinfo(tmp_path):
    d = minimal(tmp_path)
    (d / "buddyinfo").write_bytes(b"Node 0, zone DMA 1 2\n\xff\xfe\x00garbage")
    with pytest.raises(SnapshotError, match="buddyinfo line 2: not text"):
        mmkit.snapshot.load(d)


def test_empty_buddyinfo(tmp_path):
    d = minimal(tmp_path)
    (d / "buddyinfo").write_text("")
    with pytest.raises(SnapshotError, match="buddyinfo: no zone lines"):
        mmkit.snapshot.load(d)


def test_garbage_optional_file(tmp_path):
    d = minimal(tmp_path, pagetypeinfo=b"Page block order: 9\nPages per block:  512\n\nwhat\n")
    s = mmkit.snapshot.load(d)  # only buddyinfo is parsed eagerly
    with pytest.raises(SnapshotError, match="pagetypeinfo line 4"):
        s.pagetypeinfo


@pytest.mark.parametrize("text, where", [
    (b'{"page_size": 4096,\n "kernel_release": }', "meta.json line 2"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"page_size": 3000}', "page_size"),
    (b'{"pageblock_order": "nine"}', "pageblock_order"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_bad_meta(tmp_path, text, where):
    s = mmkit.snapshot.load(minimal(tmp_path, meta__json=text))
    with pytest.raises(SnapshotError, match=where):
        s.meta


def test_meta_values(tmp_path):
    meta = {"kernel_release": "4.5.7", "page_size": 65536, "pageblock_order": 13}
    s = mmkit.snapshot.load(minimal(tmp_path, meta__json=json.dumps(meta).encode()))
    assert (s.kernel_release, s.page_size, s.pageblock_order) == ("4.5.7", 65536, 13)
    assert "meta.json" in s.files


# ------------------------------------------------------------------ binary arrays
def u64(values) -> bytes:
    return np.asarray(values, dtype="<u8").tobytes()


def test_raw_arrays(tmp_path):
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags=u64([1, 2, 3]), kpagecount=u64([0, 1, 2])))
    assert s.kpageflags.tolist() == [1, 2, 3] and s.kpagecount.tolist() == [0, 1, 2]
    assert s.files[-2:] == ("kpageflags", "kpagecount")


def test_big_endian_is_not_assumed(tmp_path):
    # kpageflags is little-endian u64 on x86-64; the loader reads "<u8" whatever the host
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags=bytes([0x00, 0x04] + [0] * 6)))
    assert s.kpageflags.tolist() == [0x400]


def test_length_not_multiple_of_8(tmp_path):
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags=b"\0" * 12))
    with pytest.raises(SnapshotError, match="12 bytes is not a multiple of 8"):
        s.kpageflags


def test_empty_array(tmp_path):
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags=b""))
    with pytest.raises(SnapshotError, match="empty"):
        s.kpageflags


def test_count_length_must_match_flags(tmp_path):
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags=u64([1, 2, 3]), kpagecount=u64([0, 1])))
    with pytest.raises(SnapshotError, match="kpagecount: 2 page frames, but kpageflags has 3"):
        s.kpagecount


def test_two_forms_of_one_array(tmp_path):
    d = minimal(tmp_path, kpageflags=u64([1]), kpageflags__gz=gzip.compress(u64([1])))
    with pytest.raises(SnapshotError, match="stored twice"):
        mmkit.snapshot.load(d)


def test_huge_sparse_file_refused_fast(tmp_path):
    d = minimal(tmp_path)
    with open(d / "kpageflags", "wb") as f:
        f.truncate(1 << 40)  # a 1 TB file (sparse: no disk used)
    s = mmkit.snapshot.load(d)
    t = time.monotonic()
    with pytest.raises(SnapshotError, match="more than 134217728 page frames"):
        s.kpageflags
    assert time.monotonic() - t < 1


def test_gzip_arrays_multi_member(tmp_path):
    data = gzip.compress(u64(range(10))) + gzip.compress(u64(range(10, 15)))
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags__gz=data))
    assert s.kpageflags.tolist() == list(range(15))


def test_gzip_bomb_stops_at_the_bound(tmp_path):
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 1 << 17
    d = minimal(tmp_path, kpageflags__gz=bomb)
    s = mmkit.snapshot.load(d, max_pfns=1 << 20)  # 8 MiB bound
    t = time.monotonic()
    with pytest.raises(SnapshotError, match="more than 1048576 page frames"):
        s.kpageflags
    assert time.monotonic() - t < 2


def test_gzip_truncated(tmp_path):
    data = gzip.compress(os.urandom(80_000))
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags__gz=data[:-1000]))
    with pytest.raises(SnapshotError, match="truncated"):
        s.kpageflags


def test_gzip_corrupt(tmp_path):
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags__gz=b"this is not gzip at all"))
    with pytest.raises(SnapshotError, match="not valid gzip"):
        s.kpageflags


def test_gzip_odd_length(tmp_path):
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags__gz=gzip.compress(b"\0" * 9)))
    with pytest.raises(SnapshotError, match="9 bytes is not a multiple of 8"):
        s.kpageflags


def test_zstd_without_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard -> ImportError
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags__zst=b"\x28\xb5\x2f\xfd"))
    with pytest.raises(SnapshotError, match="pip install zstandard"):
        s.kpageflags


def test_zstd_with_package(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    data = zstandard.ZstdCompressor().compress(u64(range(100)))
    s = mmkit.snapshot.load(minimal(tmp_path, kpageflags__zst=data))
    assert s.kpageflags.tolist() == list(range(100))
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (16 << 20))
    s = mmkit.snapshot.load(minimal(tmp_path, "bomb", kpageflags__zst=bomb), max_pfns=1 << 10)
    with pytest.raises(SnapshotError, match="more than 1024 page frames"):
        s.kpageflags
    s = mmkit.snapshot.load(minimal(tmp_path, "bad", kpageflags__zst=b"\x28\xb5\x2f\xfdgarbage"))
    with pytest.raises(SnapshotError, match="zstd"):
        s.kpageflags


def test_npy_array(tmp_path):
    d = minimal(tmp_path)
    np.save(d / "kpageflags.npy", np.arange(5, dtype=np.uint64))
    assert mmkit.snapshot.load(d).kpageflags.tolist() == [0, 1, 2, 3, 4]


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_pickle_disguised_as_npy_is_never_unpickled(tmp_path):
    target = tmp_path / "pwned"
    d = minimal(tmp_path)
    (d / "kpageflags.npy").write_bytes(pickle.dumps(_Evil(str(target))))
    s = mmkit.snapshot.load(d)
    with pytest.raises(SnapshotError, match="not a .npy array file"):
        s.kpageflags
    assert not target.exists()


def test_object_npy_is_refused(tmp_path):
    target = tmp_path / "pwned"
    d = minimal(tmp_path)
    np.save(d / "kpageflags.npy", np.array([_Evil(str(target))], dtype=object), allow_pickle=True)
    s = mmkit.snapshot.load(d)
    with pytest.raises(SnapshotError, match="dtype object"):
        s.kpageflags
    assert not target.exists()


@pytest.mark.parametrize("arr, msg", [
    (np.zeros((2, 2), dtype=np.uint64), "not one-dimensional"),
    (np.zeros(3, dtype=np.float64), "not a 64-bit integer"),
    (np.zeros(3, dtype=np.uint32), "not a 64-bit integer"),
])
def test_npy_wrong_shape_or_dtype(tmp_path, arr, msg):
    d = minimal(tmp_path)
    np.save(d / "kpageflags.npy", arr)
    with pytest.raises(SnapshotError, match=msg):
        mmkit.snapshot.load(d).kpageflags


def test_npy_over_bound(tmp_path):
    d = minimal(tmp_path)
    np.save(d / "kpageflags.npy", np.zeros(2048, dtype=np.uint64))
    with pytest.raises(SnapshotError, match="more than 1024 page frames"):
        mmkit.snapshot.load(d, max_pfns=1024).kpageflags


def test_read_u64_array_unreadable(tmp_path):
    with pytest.raises(SnapshotError, match="cannot read"):
        read_u64_array(tmp_path / "missing.gz")
