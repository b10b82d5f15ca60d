"""Parsers across kernel eras (tests/data/eras, written with the kernels' print formats)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mmkit.metrics
import mmkit.snapshot
from mmkit.errors import SnapshotError
from mmkit.snapshot import parse

ERAS = Path(__file__).parent / "data" / "eras"


def load(era: str):
    return mmkit.snapshot.load(ERAS / era)


# ------------------------------------------------------------------ v3.10: Reserve, NUMA
def test_v310_reserve_and_numa():
    s = load("v3.10-reserve-numa")
    pti = s.pagetypeinfo
    # old migratetype_names[] order: Reclaimable before Movable, then Reserve, CMA, Isolate
    assert pti.migratetypes == ("Unmovable", "Reclaimable", "Movable", "Reserve", "CMA", "Isolate")
    assert pti.orders == 11 and pti.mixed is None
    # pagetypeinfo_show prints everything once per node
    assert sorted(set(zip(pti.free["node"], pti.free["zone"]))) == [(0, "DMA"), (0, "DMA32"), (0, "Normal"),
                                                                    (1, "Normal")]
    assert pti.free.height == 4 * 6 * 11
    b = pti.blocks.filter((pl.col("node") == 1) & (pl.col("type") == "Reserve"))
    assert b["count"].to_list() == [2]
    assert s.zone_nodes == (0, 0, 0, 1) and s.zone_names == ("DMA", "DMA32", "Normal", "Normal")
    zi = s.zoneinfo
    keys = set(zi["key"])
    assert {"scanned", "all_unreclaimable", "inactive_ratio", "nr_alloc_batch"} <= keys
    assert zi.filter(pl.col("key") == "count")["scope"].to_list() == ["cpu"]
    assert zi.filter(pl.col("key") == "protection[3]")["value"].to_list() == [7979]


def test_v310_free_lists_add_up():
    s = load("v3.10-reserve-numa")
    f = s.pagetypeinfo.free.group_by("node", "zone", "order", maintain_order=True).agg(pl.col("nr_free").sum())
    joined = s.buddyinfo.join(f, on=["node", "zone", "order"], suffix="_pti")
    assert (joined["nr_free"] == joined["nr_free_pti"]).all()


# ------------------------------------------------------------------ v4.5: page_owner, CMA
def test_v45_mixed_blocks_and_highatomic():
    pti = load("v4.5-pageowner").pagetypeinfo
    assert pti.migratetypes == ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate")
    assert pti.mixed is not None
    m = {(r["zone"], r["type"]): r["count"] for r in pti.mixed.iter_rows(named=True)}
    assert m[("Normal", "Movable")] == 388 and m[("DMA32", "Unmovable")] == 3
    bl = {(r["zone"], r["type"]): r["count"] for r in pti.blocks.iter_rows(named=True)}
    assert bl[("Normal", "CMA")] == 16 and bl[("Normal", "HighAtomic")] == 1


# ------------------------------------------------------------------ v6.12: 13 orders
def test_v612_thirteen_orders_and_capped_counts():
    s = load("v6.12-13orders")
    assert s.nr_free.shape == (3, 13)
    pti = s.pagetypeinfo
    assert pti.orders == 13 and pti.pageblock_order == 13 and pti.pages_per_block == 8192
    assert pti.migratetypes == ("Unmovable", "Movable", "Reclaimable", "HighAtomic")  # no CMA, no Isolate
    capped = pti.free.filter(pl.col("capped"))
    assert capped.select("zone", "type", "order", "nr_free").rows() == [("DMA", "Movable", 0, 100000)]
    assert pti.mixed is not None and pti.mixed.height == 3 * 4
    assert s.page_size == 65536 and s.pageblock_order == 13


def test_v612_zoneinfo_scopes():
    zi = load("v6.12-13orders").zoneinfo
    node = zi.filter(pl.col("scope") == "node")
    assert set(node["zone"]) == {"DMA"}  # per-node stats only on the first populated zone
    assert dict(zip(node["key"], node["value"]))["nr_inactive_anon"] == 120
    dev = zi.filter(pl.col("zone") == "Device")
    assert dev["key"].to_list()[-1] == "protection[3]"  # unpopulated: nothing after protection
    cpu = zi.filter((pl.col("zone") == "DMA") & (pl.col("scope") == "cpu"))
    assert dict(zip(cpu["key"], cpu["value"])) == {"count": 12, "high": 96, "batch": 16, "high_min": 96,
                                                   "high_max": 960, "vm stats threshold": 32}


def test_v612_negative_fragmentation_index_parsed():
    ef = load("v6.12-13orders").extfrag_index
    normal = ef.filter(pl.col("zone") == "Normal").sort("order")["index"].to_list()
    # the kernel printed " 0.-500  0.-250 ... 0.-07": index/1000 = 0, index%1000 = -500 ...
    assert normal[6:] == [-500, -250, -125, -62, -31, -15, -7]


@pytest.mark.parametrize("era", ["v3.10-reserve-numa", "v4.5-pageowner", "v6.12-13orders"])
def test_era_debugfs_byte_exact(era):
    s = load(era)
    assert mmkit.metrics.check(s) == ("extfrag_index", "unusable_index")
    s.validate()


# ------------------------------------------------------------------ errors, with line numbers
PTI_OK = (ERAS / "v4.5-pageowner" / "pagetypeinfo").read_text()


@pytest.mark.parametrize("mutate, msg", [
    (lambda t: t.replace("Node    0, zone   Normal, type      Movable", "Node    0, zone   Normal, type Movable 5", 1),
     r"pagetypeinfo line \d+: 12 counts for 11 orders"),
    (lambda t: t.replace("Number of blocks type ", "Number of blocks kind "), r"pagetypeinfo line \d+: expected"),
    (lambda t: t.replace("order       0      1", "order       1      0"), "must list 0, 1, 2"),
    (lambda t: t.replace("Pages per block:  512", "Pages per block:  500"), "not 2\\^9"),
    (lambda t: t.replace("Page block order: 9\n", ""), "missing 'Page block order:'"),
    (lambda t: "garbage first\n" + t, "pagetypeinfo line 1: unexpected line"),
    (lambda t: t.replace("    Isolate \n", "  Isolate    Extra \n", 1), r"pagetypeinfo line \d+: 6 counts for 7"),
])
def test_pagetypeinfo_errors(mutate, msg):
    text = mutate(PTI_OK)
    assert text != PTI_OK
    with pytest.raises(SnapshotError, match=msg):
        parse.parse_pagetypeinfo(text)


@pytest.mark.parametrize("fn, text, msg", [
    (parse.parse_buddyinfo, "Node 0, zone DMA 1 2\nNode 0, zone DMA32 1 2 3\n", "line 2: 3 orders, but the first"),
    (parse.parse_buddyinfo, "Node 0, zone DMA 1 2\nNode 0, zone DMA 1 2\n", "line 2: zone DMA of node 0 listed twice"),
    (parse.parse_buddyinfo, "Node 0, zone DMA 1 -2\n", "line 1: expected a decimal number, got '-2'"),
    (parse.parse_buddyinfo, "Node 0, zone DMA 99999999999999999999\n", "does not fit in 64 bits"),
    (parse.parse_buddyinfo, "Node 0, zone DMA\n", "line 1: no free counts"),
    (parse.parse_extfrag_index, "Node 0, zone DMA -1.000 0.5\n", "line 1: expected a value like"),
    (parse.parse_extfrag_index, "", "no zone lines"),
    (parse.parse_vmstat, "nr_free_pages 1\nnr_free_pages 2\n", "line 2: nr_free_pages listed twice"),
    (parse.parse_vmstat, "nr_free_pages one\n", "line 1: expected a signed decimal number"),
    (parse.parse_vmstat, "a b c\n", "line 1: expected 'name value'"),
    (parse.parse_meminfo, "MemTotal 1 kB\n", "line 1: expected 'Name:   value"),
    (parse.parse_zoneinfo, "  pages free 1\n", "line 1: expected 'Node N, zone NAME' first"),
    (parse.parse_zoneinfo, "Node 0, zone DMA\n  ???\n", "line 2: expected 'label value'"),
    (parse.parse_zoneinfo, "Node 0, zone DMA\n  pagesets\n   count: 1\n", "line 3: a per-cpu value before"),
    (parse.parse_zoneinfo, "", "no 'Node N, zone NAME' lines"),
])
def test_parser_errors(fn, text, msg):
    with pytest.raises(SnapshotError, match=msg):
        fn(text)


def test_error_names_the_file_given():
    with pytest.raises(SnapshotError, match="/proc/buddyinfo line 1"):
        parse.parse_buddyinfo("garbage\n", "/proc/buddyinfo")


# ------------------------------------------------------------------ round trips
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 13).flatmap(lambda n: st.lists(st.lists(st.integers(0, 3000), min_size=n, max_size=n),
                                                      min_size=1, max_size=4)))
def test_buddyinfo_and_debugfs_round_trip(matrix):
    """frag_show_print's format parses back; debugfs text parses back to the kernel's ints."""
    names = ["DMA", "DMA32", "Normal", "Movable"][: len(matrix)]
    text = "".join("Node %d, zone %8s " % (0, n) + "".join("%6lu " % c for c in r) + "\n"
                   for n, r in zip(names, matrix))
    bi = parse.parse_buddyinfo(text)
    assert bi["nr_free"].to_list() == [c for r in matrix for c in r]

    class M:
        zone_names = tuple(names)
        nr_free = np.array(matrix, dtype=np.int64)

    for which, ints in (("extfrag_index", mmkit.metrics.fragmentation_indices(M.nr_free)),
                        ("unusable_index", mmkit.metrics.unusable_free_indices(M.nr_free))):
        for style in ("modern", "legacy"):
            back = parse.parse_debugfs_index(mmkit.metrics.debugfs_text(M(), which, style=style), which)
            assert back["index"].to_list() == ints.ravel().tolist()
