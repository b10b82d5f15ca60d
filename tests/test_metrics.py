"""Kernel-exact fragmentation metrics: hand-derived values and byte-exact debugfs goldens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mmkit.metrics as mm
import mmkit.snapshot
from mmkit.errors import ParameterError, SnapshotError
from mmkit.metrics import MetricsMismatch

ROOT = Path(__file__).parent.parent
FIXTURE = ROOT / "tests" / "data" / "linux-6.18-idle"
SAMPLES = [ROOT / "data" / "idle", ROOT / "data" / "fragmented"]


# ------------------------------------------------------------------ fill_contig_page_info
def test_contig_page_info_by_hand():
    # nr_free [4, 2, 1]: free_pages = 4*1 + 2*2 + 1*4 = 12, total = 7 blocks;
    # suitable at order 1 = 2 + (1 << 1) = 4 order-1 blocks
    assert mm.contig_page_info([4, 2, 1], 1) == (12, 7, 4)
    assert mm.contig_page_info([4, 2, 1], 0) == (12, 7, 12)
    assert mm.contig_page_info([4, 2, 1], 2) == (12, 7, 1)


# ------------------------------------------------------------------ __fragmentation_index
def test_fragmentation_total_zero():
    # no free block at all: "if (!info->free_blocks_total) return 0"
    assert [mm.fragmentation_index([0] * 11, o) for o in range(11)] == [0] * 11


def test_fragmentation_suitable_means_minus_1000():
    # [0, 0, 1]: one order-2 block serves orders 0..2 -> -1000 ("would not fail")
    assert [mm.fragmentation_index([0, 0, 1], o) for o in range(3)] == [-1000, -1000, -1000]


@pytest.mark.parametrize("row, order, expected", [
    # [4, 2, 0, 0] at order 2: free_pages = 4 + 4 = 8, total = 6, requested = 4:
    # 1000 - (1000 + 8000/4) / 6 = 1000 - 3000/6 = 1000 - 500 = 500
    ([4, 2, 0, 0], 2, 500),
    # [4, 2, 0, 0] at order 3: 8000/8 = 1000; (1000 + 1000)/6 = 333 (truncated); 1000 - 333 = 667
    ([4, 2, 0, 0], 3, 667),
    # [10, 0, 0, 0] at order 3: 10000/8 = 1250; (1000 + 1250)/10 = 225; 1000 - 225 = 775
    ([10, 0, 0, 0], 3, 775),
    # [3, 1, 0] at order 2: free 5, total 4; 5000/4 = 1250; 2250/4 = 562 (562.5 truncated); 438
    ([3, 1, 0], 2, 438),
    # many order-0 pages, order 10: 1_000_000 pages; 1e9/1024 = 976562; (1000+976562)/1e6 = 0;
    # 1000 - 0 = 1000: "fails entirely for fragmentation"
    ([1_000_000] + [0] * 10, 10, 1000),
    # one order-1 block asked at order 2: free 2, total 1; 2000/4 = 500; 1500/1 = 1500;
    # 1000 - 1500 = -500 (the kernel's u64 arithmetic wraps, then the int is negative)
    ([0, 1, 0], 2, -500),
])
def test_fragmentation_main_formula(row, order, expected):
    assert mm.fragmentation_index(row, order) == expected


def test_fragmentation_on_the_real_fragmented_zone():
    # data/fragmented, Normal: [678698, 4867, 3819, 2265, 855, 111, 10, 7, 4, 0, 0]
    # free_pages = 678698 + 4867*2 + 3819*4 + 2265*8 + 855*16 + 111*32 + 10*64 + 7*128 + 4*256
    #            = 741620; total = 690636 blocks; nothing at order 9 or 10.
    # order 9:  741620000/512 = 1448476; (1000 + 1448476)/690636 = 2; 1000 - 2 = 998
    # order 10: 741620000/1024 = 724238; (1000 + 724238)/690636 = 1; 1000 - 1 = 999
    row = [678698, 4867, 3819, 2265, 855, 111, 10, 7, 4, 0, 0]
    assert mm.contig_page_info(row, 9) == (741620, 690636, 0)
    assert mm.fragmentation_index(row, 9) == 998
    assert mm.fragmentation_index(row, 10) == 999
    assert mm.fragmentation_index(row, 8) == -1000  # the 4 order-8 blocks are suitable


# ------------------------------------------------------------------ unusable_free_index
@pytest.mark.parametrize("row, order, expected", [
    ([0] * 11, 3, 1000),          # no free memory: "all free memory is unusable"
    ([4, 2, 0, 0], 0, 0),         # every free page serves order 0
    # [4, 2, 0, 0] at order 1: free 8, suitable 2 order-1 blocks = 4 pages; (8-4)*1000/8 = 500
    ([4, 2, 0, 0], 1, 500),
    ([4, 2, 0, 0], 2, 1000),      # no order-2 block: nothing usable
    # fixture DMA zone at order 9: free 3840 = 256+512+3072; suitable 1 + 3*2 = 7 blocks of 512
    # = 3584 pages; (3840-3584)*1000/3840 = 66 (66.67 truncated)
    ([0] * 8 + [1, 1, 3], 9, 66),
])
def test_unusable_by_hand(row, order, expected):
    assert mm.unusable_free_index(row, order) == expected


def test_matrix_forms_agree_with_rows():
    m = np.array([[4, 2, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [10, 0, 0, 0]], dtype=np.int64)
    f, u = mm.fragmentation_indices(m), mm.unusable_free_indices(m)
    assert f.shape == u.shape == (4, 4) and f.dtype == np.int64
    for z in range(4):
        for o in range(4):
            assert f[z, o] == mm.fragmentation_index(m[z], o)
            assert u[z, o] == mm.unusable_free_index(m[z], o)


@pytest.mark.parametrize("row, order, msg", [
    ([1, 2, 3], 3, "order: 3; must be in 0..2"),
    ([1, 2, 3], -1, "order: -1"),
    ([1, 2, 3], 1.0, "give an int"),
    ([1, -2, 3], 1, "cannot be negative"),
    ([[1, 2]], 0, "give one count per order"),
    ([], 0, "give one count per order"),
    ([0.5, 1.0], 0, "integers"),
])
def test_bad_arguments(row, order, msg):
    with pytest.raises(ParameterError, match=msg):
        mm.fragmentation_index(row, order)


def test_largest_free_order():
    assert mm.largest_free_order([0, 3, 0, 1, 0]) == 3
    assert mm.largest_free_order([0, 0]) == -1


# ------------------------------------------------------------------ debugfs text, byte exact
@pytest.mark.parametrize("folder", [FIXTURE] + SAMPLES, ids=lambda p: p.name)
def test_debugfs_byte_exact_on_real_kernels(folder):
    s = mmkit.snapshot.load(folder)
    for which in mm.DEBUGFS_FILES:
        assert mm.debugfs_text(s, which).encode() == (folder / which).read_bytes()
    assert mm.check(s) == ("extfrag_index", "unusable_index")


def test_fragmented_sample_exercises_the_formula():
    s = mmkit.snapshot.load(SAMPLES[1])
    ef = s.extfrag_index
    main = ef.filter((pl.col("index") != -1000) & (pl.col("index") != 0))
    assert main.height >= 2  # the kernel computed the main branch; we matched it byte for byte
    ui = s.unusable_index.filter(pl.col("zone") == "Normal").sort("order")["index"].to_list()
    assert ui[1] > 900  # most free memory is order-0 holes


def test_modern_and_legacy_extfrag_format():
    class M:
        zone_names = ("DMA", "Normal")
        nr_free = np.array([[0, 0, 1], [4, 2, 0]])
    # Normal [4, 2, 0] order 2: free 8, total 6; 8000/4 = 2000; 3000/6 = 500; 1000 - 500 = 500
    assert mm.debugfs_text(M(), "extfrag_index") == (
        "Node 0, zone      DMA -1.000 -1.000 -1.000 \n"
        "Node 0, zone   Normal -1.000 -1.000  0.500 \n"
    )
    assert mm.debugfs_text(M(), "extfrag_index", style="legacy") == (
        "Node 0, zone      DMA -1.000 -1.000 -1.000 \n"
        "Node 0, zone   Normal -1.000 -1.000 0.500 \n"
    )
    # unusable_show_print never had the width: [4, 2, 0] order 1 -> 500, order 2 -> 1000
    assert mm.debugfs_text(M(), "unusable_index", style="modern") == (
        "Node 0, zone      DMA 0.000 0.000 0.000 \n"
        "Node 0, zone   Normal 0.000 0.500 1.000 \n"
    )


def test_negative_index_printed_like_c():
    class M:
        zone_names = ("Normal",)
        nr_free = np.array([[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    # orders 0, 1: the order-1 block is suitable -> -1000.
    # order 2: -500 -> "%2d.%03d" of (-500/1000, -500%1000) in C = (0, -500) -> " 0.-500"
    # order k >= 2: 1000 - (1000 + 2000 / 2^k) / 1; order 8: 2000/256 = 7 -> -7 -> " 0.-07";
    # order 11: 2000/2048 = 0 -> 1000 - 1000 = 0 -> " 0.000"
    text = mm.debugfs_text(M(), "extfrag_index")
    assert text.split()[4:] == ["-1.000", "-1.000", "0.-500", "0.-250", "0.-125", "0.-62", "0.-31", "0.-15",
                                "0.-07", "0.-03", "0.-01", "0.000"]


def test_memory_object_skips_unpopulated_zones():
    from mmkit.model import Memory

    m = Memory.empty([("DMA", 0, 4096), ("DMA32", 4096, 4096), ("Normal", 8192, 4096)])
    m.zone_present[:] = [4096, 0, 4096]  # DMA32 unpopulated: populated_zone() is false
    m.nr_free[0, 10] = 3
    m.nr_free[2, :3] = [4, 2, 0]
    text = mm.debugfs_text(m, "unusable_index")
    assert [line.split()[3] for line in text.splitlines()] == ["DMA", "Normal"]
    assert text.splitlines()[1].split()[4:7] == ["0.000", "0.500", "1.000"]
    summary = mm.zone_summary(m)
    assert summary.rows() == [(0, "DMA", 3072, 3, 10), (0, "Normal", 8, 6, 1)]


def test_duck_typed_object_and_nodes():
    class M:
        zone_names = ("Normal", "Normal")
        zone_nodes = np.array([0, 1])
        nr_free = [[1, 0], [0, 1]]
    assert mm.debugfs_text(M(), "unusable_index") == (
        "Node 0, zone   Normal 0.000 1.000 \n"
        "Node 1, zone   Normal 0.000 0.000 \n"
    )


def test_debugfs_text_bad_arguments():
    s = mmkit.snapshot.load(FIXTURE)
    with pytest.raises(ParameterError, match="which"):
        mm.debugfs_text(s, "buddyinfo")
    with pytest.raises(ParameterError, match="style"):
        mm.debugfs_text(s, "extfrag_index", style="v4")
    with pytest.raises(ParameterError, match="zone_names"):
        mm.debugfs_text(object(), "extfrag_index")


def test_free_pages_frames():
    s = mmkit.snapshot.load(FIXTURE)
    f = mm.free_pages_by_order(s)
    assert f.columns == ["node", "zone", "order", "nr_free", "free_pages"]
    normal = f.filter(pl.col("zone") == "Normal")
    assert normal["free_pages"].sum() == 314623  # = zoneinfo's "pages free" for Normal
    assert normal.filter(pl.col("order") == 10)["free_pages"].item() == 242 * 1024
    z = mm.zone_summary(s)
    assert z["largest_free_order"].to_list() == [10, 10, 10]
    assert z["free_pages"].to_list() == [3840, 772918, 314623]


# ------------------------------------------------------------------ check() failures
def copy_snapshot(tmp_path: Path, src: Path = FIXTURE, skip=()) -> Path:
    d = tmp_path / "s"
    d.mkdir()
    for p in src.iterdir():
        if p.name not in skip and not p.name.startswith("kpage"):
            (d / p.name).write_bytes(p.read_bytes())
    return d


def test_check_reports_first_difference(tmp_path):
    d = copy_snapshot(tmp_path)
    text = (d / "unusable_index").read_text().replace("0.150 0.212", "0.150 0.213")
    (d / "unusable_index").write_text(text)
    with pytest.raises(MetricsMismatch) as e:
        mm.check(mmkit.snapshot.load(d))
    err = e.value
    # "Node 0, zone   Normal " is 22 characters, each value "0.000 " 6: order 9's value
    # starts at index 22 + 9*6 = 76, and its last digit (index 80) differs: column 81
    assert (err.name, err.line, err.column) == ("unusable_index", 3, 81)
    assert "line 3, column 81" in str(err) and "0.213" in str(err)
    assert isinstance(err, SnapshotError)


def test_check_detects_stale_buddyinfo(tmp_path):
    d = copy_snapshot(tmp_path, SAMPLES[1])
    (d / "buddyinfo").write_bytes((SAMPLES[0] / "buddyinfo").read_bytes())
    with pytest.raises(MetricsMismatch, match="line 3"):
        mm.check(mmkit.snapshot.load(d))


def test_check_wrong_era_format(tmp_path):
    # an era fixture printed by v4.5 ("%d.%03d") checked as a modern kernel's
    s = mmkit.snapshot.load(ROOT / "tests" / "data" / "eras" / "v4.5-pageowner")
    assert mm.check(s) == ("extfrag_index", "unusable_index")  # style from kernel_release 4.5.7
    with pytest.raises(MetricsMismatch, match="extfrag_index line 2"):
        mm.check(s, style="modern")


def test_check_missing_files(tmp_path):
    d = copy_snapshot(tmp_path, skip=("extfrag_index", "unusable_index"))
    with pytest.raises(SnapshotError, match="no extfrag_index or unusable_index"):
        mm.check(mmkit.snapshot.load(d))
    (tmp_path / "x").mkdir()
    d2 = copy_snapshot(tmp_path / "x", skip=("extfrag_index",))
    assert mm.check(mmkit.snapshot.load(d2)) == ("unusable_index",)


def test_check_needs_a_snapshot():
    with pytest.raises(ParameterError):
        mm.check(object())
