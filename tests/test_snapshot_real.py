"""Real kernels' files (tests/data/real, one folder per published dump, its SOURCE inside)
and the eras issue: 2.6.x and RHEL 8 zoneinfo, extfrag_index formats by era, empty
pagetypeinfo, page size without meta.json, trailing whitespace, zoneinfo without managed.

Every value asserted here was checked by hand against the dump (free pages are
sum(nr_free << order) of the buddyinfo line).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mmkit.metrics
import mmkit.snapshot
from mmkit import cli
from mmkit.errors import SnapshotError
from mmkit.metrics.fragmentation import MetricsMismatch, TrailingWhitespaceMismatch
from mmkit.snapshot import parse

DATA = Path(__file__).parent / "data"
REAL = DATA / "real"
ERAS = DATA / "eras"
FIXTURE = DATA / "linux-6.18-idle"
DUMPS = sorted(p.name for p in REAL.iterdir() if p.is_dir())

PARSERS = {
    "buddyinfo": parse.parse_buddyinfo, "pagetypeinfo": parse.parse_pagetypeinfo,
    "zoneinfo": parse.parse_zoneinfo, "vmstat": parse.parse_vmstat, "meminfo": parse.parse_meminfo,
    "extfrag_index": parse.parse_extfrag_index, "unusable_index": parse.parse_unusable_index,
}

# what each dump must give: free pages per (node, zone) from buddyinfo, orders, pageblock order,
# page size, extfrag style, and the files mmkit refuses (with a piece of the message)
EXPECT = {
    "aries-arm32-highmem-cma": dict(free={(0, "Normal"): 25591, (0, "HighMem"): 3208}, orders=11,
                                    pageblock_order=10, page_size=4096),
    "linux-doc-2018-dma-1": dict(free={(0, "DMA"): 1}, orders=11, page_size=4096, style="legacy", check=True),
    "linux-doc-2018-dma-1983": dict(free={(0, "DMA"): 1983}, orders=11, page_size=4096, style="legacy",
                                    check=True),
    "linux-mm-2007-v2.6.21-amd64": dict(free={(0, "DMA"): 2014, (0, "DMA32"): 4976}, orders=11,
                                        page_size=4096, style="legacy"),
    "linux-mm-2010-thp-after": dict(free={(0, "DMA"): 3972, (0, "DMA32"): 817904, (0, "Normal"): 85660},
                                    orders=11, page_size=4096, check="whitespace"),
    "linux-mm-2010-thp-before": dict(free={(0, "DMA"): 3972, (0, "DMA32"): 340094, (0, "Normal"): 2722},
                                     orders=11, page_size=4096, style="legacy", check="whitespace"),
    "linux-mm-2011-nonvolatile-zone": dict(),
    "linux-mm-2015-v3.16-lge": dict(free={(0, "Normal"): 27590}, orders=11, page_size=4096,
                                    refused={"pagetypeinfo": "missing 'Page block order:', 'Pages per block:'"}),
    "linux-mm-2018-numa-movable": dict(),
    "lkml-2021-extfrag-legacy": dict(text_style="legacy"),
    "lkml-2021-extfrag-modern": dict(text_style="modern"),
}


def test_every_dump_has_a_source_and_an_expectation():
    assert len(DUMPS) >= 10
    assert sorted(EXPECT) == DUMPS
    for d in DUMPS:
        src = (REAL / d / "SOURCE").read_text()
        assert src.startswith("SOURCE: ") and "FILES:" in src, d


@pytest.mark.parametrize("dump", DUMPS)
def test_real_dump(dump):
    """Every file parses or is refused with a SnapshotError naming it; Snapshot agrees."""
    folder, want = REAL / dump, EXPECT[dump]
    refused = want.get("refused", {})
    for name, fn in PARSERS.items():
        if not (folder / name).is_file():
            continue
        text = (folder / name).read_text()
        if name in refused:
            with pytest.raises(SnapshotError, match=refused[name]) as e:
                fn(text)
            assert str(e.value).startswith(name)
        else:
            fn(text)
    if "text_style" in want:
        from mmkit.snapshot.snapshot import _extfrag_text_style
        text = (folder / "extfrag_index").read_text()
        assert _extfrag_text_style(text) == want["text_style"]
        ef = parse.parse_extfrag_index(text)
        assert ef.filter((pl.col("zone") == "Normal") & (pl.col("order") == 4))["index"].to_list() == [931]
    if not (folder / "buddyinfo").is_file():
        return
    snap = mmkit.snapshot.load(folder)
    bi = snap.buddyinfo
    free = {(n, z): int(sum(c << o for o, c in zip(g["order"], g["nr_free"])))
            for (n, z), g in bi.group_by("node", "zone", maintain_order=True)}
    assert free == want["free"]
    assert snap.nr_free.shape[1] == want["orders"]
    assert snap.page_size == want["page_size"]
    if "pageblock_order" in want:
        assert snap.pageblock_order == want["pageblock_order"]
    if "style" in want:
        assert snap.extfrag_style()[0] == want["style"]
    for name in refused:
        with pytest.raises(SnapshotError, match=name):
            snap.validate()
    if not refused:
        snap.validate()
    if want.get("check") is True:
        assert mmkit.metrics.check(snap) == tuple(n for n in ("extfrag_index", "unusable_index") if snap.has(n))
    elif want.get("check") == "whitespace":
        with pytest.raises(TrailingWhitespaceMismatch, match="only whitespace at line ends"):
            mmkit.metrics.check(snap)


def test_real_zoneinfo_of_four_eras():
    zi = parse.parse_zoneinfo((REAL / "linux-mm-2011-nonvolatile-zone" / "zoneinfo").read_text())
    kv = dict(zip(zi.filter(pl.col("scope") == "zone")["key"], zi.filter(pl.col("scope") == "zone")["value"]))
    assert kv["present"] == 1292800 and kv["start_pfn"] == 1048576 and "managed" not in kv
    assert sorted(set(zi["cpu"].drop_nulls())) == [0, 1, 2, 3]
    assert set(zi["zone"]) == {"Non-volatile"}

    zi = parse.parse_zoneinfo((REAL / "linux-mm-2018-numa-movable" / "zoneinfo").read_text())
    free = zi.filter(pl.col("key") == "pages free")
    assert dict(zip(zip(free["node"], free["zone"]), free["value"]))[(1, "Movable")] == 448427
    assert free.height == 10  # unpopulated zones listed too (v4.12+)
    assert zi.filter(pl.col("scope") == "node")["zone"].unique().sort().to_list() == ["DMA", "Movable"]


# ------------------------------------------------------------------ 2.6.x zoneinfo
def test_zoneinfo_2_6_scanned_and_hot_cold_pcp_lists():
    zi = parse.parse_zoneinfo((REAL / "linux-mm-2007-v2.6.21-amd64" / "zoneinfo").read_text())
    dma = zi.filter((pl.col("zone") == "DMA") & (pl.col("scope") == "zone"))
    kv = dict(zip(dma["key"], dma["value"]))
    assert (kv["scanned"], kv["nr_scan_active"], kv["nr_scan_inactive"]) == (0, 19, 24)
    assert kv["pages free"] == 2014 and kv["start_pfn"] == 0 and "managed" not in kv
    cpu = zi.filter((pl.col("zone") == "DMA32") & (pl.col("scope") == "cpu"))
    assert dict(zip(cpu["key"], cpu["value"])) == {"count": 129, "high": 186, "batch": 31,
                                                   "pcp[1] count": 15, "pcp[1] high": 62, "pcp[1] batch": 15}
    assert set(cpu["cpu"]) == {0}


def test_zoneinfo_2_6_cpu_lines_without_pagesets_header():
    """2.6.20-era zoneinfo prints 'cpu: N pcp: M' straight after the counters."""
    text = ("Node 0, zone   Normal\n  pages free     4435\n        min      1448\n"
            "        scanned  0 (a: 0 i: 0)\n    nr_bounce    0\n    cpu: 0 pcp: 0\n"
            "              count: 156\n              high:  186\n              batch: 31\n"
            "    cpu: 0 pcp: 1\n              count: 9\n              high:  62\n              batch: 15\n"
            "  vm stats threshold: 20\n  all_unreclaimable: 0\n  prev_priority:     12\n  start_pfn:         0\n")
    zi = parse.parse_zoneinfo(text)
    cpu = zi.filter(pl.col("scope") == "cpu")
    assert dict(zip(cpu["key"], cpu["value"]))["pcp[1] count"] == 9
    assert dict(zip(cpu["key"], cpu["value"]))["vm stats threshold"] == 20
    tail = zi.filter(pl.col("key") == "start_pfn")
    assert tail["scope"].to_list() == ["zone"]


# ------------------------------------------------------------------ RHEL 8 / 4.14-4.19 unnamed counter
def test_zoneinfo_unnamed_per_node_counter():
    zi = parse.parse_zoneinfo((REAL / "linux-mm-2018-numa-movable" / "zoneinfo").read_text())
    un = zi.filter(pl.col("key") == parse.UNNAMED_KEY)
    assert un.select("node", "zone", "scope", "value").rows() == [(0, "DMA", "node", 83328),
                                                                  (1, "Movable", "node", 0)]


def test_zoneinfo_value_without_label_elsewhere_is_refused():
    with pytest.raises(SnapshotError, match=r"zoneinfo line 3: a value without a label outside 'per-node stats'"):
        parse.parse_zoneinfo("Node 0, zone DMA\n  pages free     3\n                   5\n")


# ------------------------------------------------------------------ extfrag_index by era
def _without_meta(tmp_path, src, drop=("meta.json",)):
    d = tmp_path / src.name
    shutil.copytree(src, d)
    for name in drop:
        (d / name).unlink(missing_ok=True)
    return d


@pytest.mark.parametrize("era, style, why", [
    ("v3.10-reserve-numa", "legacy", "zoneinfo has scanned"),
    ("v4.5-pageowner", "legacy", "zoneinfo has scanned"),
    ("v6.12-13orders", "modern", "zoneinfo has high_min"),
])
def test_extfrag_era_from_the_files_without_meta(tmp_path, era, style, why):
    snap = mmkit.snapshot.load(_without_meta(tmp_path, ERAS / era))
    assert snap.extfrag_style()[0] == style and why in snap.extfrag_style()[1]
    assert mmkit.metrics.check(snap) == ("extfrag_index", "unusable_index")


def test_extfrag_era_from_vmstat(tmp_path):
    d = _without_meta(tmp_path, ERAS / "v4.5-pageowner", drop=("meta.json", "zoneinfo"))
    (d / "vmstat").write_text("nr_free_pages 1000\nnr_unstable 0\n")
    snap = mmkit.snapshot.load(d)
    assert snap.extfrag_style() == ("legacy", "vmstat has nr_unstable (NR_UNSTABLE_NFS, removed in v5.8)")
    assert mmkit.metrics.check(snap) == ("extfrag_index", "unusable_index")


def test_extfrag_style_of_the_text_itself():
    from mmkit.snapshot.snapshot import _extfrag_text_style
    before = "Node 0, zone   Normal -1.000 -1.000 -1.000 -1.000 0.931 0.966 0.983 0.992 0.996 0.998 0.999\n"
    after = "Node 0, zone   Normal -1.000 -1.000 -1.000 -1.000  0.931  0.966  0.983  0.992  0.996  0.998  0.999\n"
    assert _extfrag_text_style(before) == "legacy"  # Lin Feng's patch message, before and after
    assert _extfrag_text_style(after) == "modern"
    assert _extfrag_text_style("Node 0, zone      DMA  0.500 \n") == "modern"
    assert _extfrag_text_style("Node 0, zone      DMA" + " -1.000" * 11 + " \n") is None


def test_wrong_style_mismatch_says_the_other_style_matches(tmp_path):
    snap = mmkit.snapshot.load(REAL / "linux-doc-2018-dma-1983")
    with pytest.raises(MetricsMismatch, match="the legacy format matches"):
        mmkit.metrics.check(snap, style="modern")


def test_cli_check_style_option(capsys):
    d = str(REAL / "linux-doc-2018-dma-1983")
    assert cli.main(["snapshot", "check", d]) == 0
    out = capsys.readouterr().out
    assert "identical" in out and "compared in the legacy format (extfrag_index itself" in out
    assert cli.main(["snapshot", "check", d, "--style", "legacy"]) == 0
    assert "legacy format (--style)" in capsys.readouterr().out
    assert cli.main(["snapshot", "check", d, "--style", "modern"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmkit: error: extfrag_index line 1") and "legacy format matches" in err
    assert err.count("\n") == 1


# ------------------------------------------------------------------ trailing whitespace
def test_trailing_whitespace_only_is_said(capsys):
    d = REAL / "linux-mm-2010-thp-before"
    assert cli.main(["snapshot", "check", str(d)]) == 2
    err = capsys.readouterr().err
    assert "only whitespace at line ends differs (3 line(s))" in err and "Every value agrees" in err


def test_trailing_whitespace_added_is_said_too(tmp_path):
    d = _without_meta(tmp_path, ERAS / "v4.5-pageowner", drop=())
    (d / "unusable_index").write_text((d / "unusable_index").read_text().replace(" \n", "  \n", 1))
    with pytest.raises(TrailingWhitespaceMismatch, match="unusable_index line 1: only whitespace"):
        mmkit.metrics.check(mmkit.snapshot.load(d))


# ------------------------------------------------------------------ empty pagetypeinfo
def test_empty_pagetypeinfo_is_absent(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    shutil.copy(FIXTURE / "buddyinfo", d / "buddyinfo")
    (d / "pagetypeinfo").write_text("")
    snap = mmkit.snapshot.load(d)
    assert not snap.has("pagetypeinfo") and snap.is_blank("pagetypeinfo")
    with pytest.raises(SnapshotError, match="pageblock order unknown: no meta.json, pagetypeinfo is empty") as e:
        snap.pageblock_order
    assert "missing" not in str(e.value)
    with pytest.raises(SnapshotError, match="the pagetypeinfo file is empty .*readable by root only"):
        snap.pagetypeinfo
    snap.validate()  # nothing else to parse: the empty file is skipped
    with pytest.raises(SnapshotError, match="pagetypeinfo: the file is empty"):
        parse.parse_pagetypeinfo("\n \n")


def test_empty_pagetypeinfo_pageblock_order_from_meminfo(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    for name in ("buddyinfo", "meminfo"):
        shutil.copy(FIXTURE / name, d / name)
    (d / "pagetypeinfo").write_bytes(b"")
    snap = mmkit.snapshot.load(d)
    assert snap.pageblock_order == 9 and "Hugepagesize 2048 kB" in snap.pageblock_order_source


# ------------------------------------------------------------------ page size without meta.json
def _arm64_64k(tmp_path, orders=14):
    """arm64, 64 KiB pages, pre-6.4 (ARCH_FORCE_MAX_ORDER 14: orders 0..13), 512 MiB pageblocks,
    in the kernel's formats (frag_show_print, pagetypeinfo_show): crafted counts."""
    d = tmp_path / f"arm64-64k-{orders}"
    d.mkdir()
    rows = {"DMA": [3, 1, 0, 2, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0][:orders],
            "Normal": [812, 301, 95, 40, 12, 7, 3, 2, 1, 1, 0, 2, 3, 5][:orders]}
    (d / "buddyinfo").write_text("".join("Node %d, zone %8s " % (0, z) + "".join("%6lu " % c for c in r) + "\n"
                                         for z, r in rows.items()))
    pti = "Page block order: 13\nPages per block:  8192\n\n"
    pti += "%-43s " % "Free pages count per migrate type at order" + "".join("%6d " % o for o in range(orders)) + "\n"
    for z, r in rows.items():
        pti += "Node %4d, zone %8s, type %12s " % (0, z, "Movable") + "".join("%6lu " % c for c in r) + "\n"
    pti += "\n%-23s" % "Number of blocks type " + "%12s " % "Movable" + "\n"
    for z in rows:
        pti += "Node %d, zone %8s " % (0, z) + "%12lu " % 4 + "\n"
    (d / "pagetypeinfo").write_text(pti)
    return d


@pytest.mark.parametrize("orders", [13, 14])
def test_page_size_64k_from_orders_and_pageblock(tmp_path, orders):
    snap = mmkit.snapshot.load(_arm64_64k(tmp_path, orders))
    assert snap.page_size == 65536
    assert snap.page_size_source == f"{orders} orders in buddyinfo and pageblock order 13"


def test_page_size_64k_without_pagetypeinfo(tmp_path):
    d = _arm64_64k(tmp_path)
    (d / "pagetypeinfo").unlink()
    assert mmkit.snapshot.load(d).page_size == 65536  # 14 orders: only arm64 64K


def test_page_size_from_hugepagesize(tmp_path):
    d = _arm64_64k(tmp_path)
    (d / "meminfo").write_text("MemTotal:       33554432 kB\nHugepagesize:     524288 kB\n")
    snap = mmkit.snapshot.load(d)
    assert snap.page_size == 65536 and snap.page_size_source.startswith("meminfo Hugepagesize 524288 kB")


def test_page_size_from_memtotal_and_managed(tmp_path):
    d = tmp_path / "ppc64"
    d.mkdir()
    (d / "buddyinfo").write_text("Node 0, zone   Normal " + "".join("%6lu " % c for c in [5, 4, 3, 2, 1, 0, 0, 0, 1])
                                 + "\n")
    (d / "zoneinfo").write_text("Node 0, zone   Normal\n  pages free     300\n        min      10\n"
                                "        spanned  65536\n        present  65536\n        managed  65000\n")
    (d / "meminfo").write_text("MemTotal:        4160000 kB\n")
    snap = mmkit.snapshot.load(d)
    assert snap.page_size == 65536 and "MemTotal 4160000 kB" in snap.page_size_source


def test_page_size_defaults_and_meta_wins(tmp_path):
    assert mmkit.snapshot.load(FIXTURE).page_size == 4096
    assert mmkit.snapshot.load(ERAS / "v6.12-13orders").page_size_source == "meta.json"
    snap = mmkit.snapshot.load(_without_meta(tmp_path, ERAS / "v6.12-13orders"))
    assert snap.page_size == 65536 and snap.pageblock_order == 13


# ------------------------------------------------------------------ zoneinfo without managed
def test_from_snapshot_without_managed_lines(tmp_path):
    """3.2 and 3.4 print no managed line (v3.8+): present pages stand in, and the report says so."""
    from mmkit.from_snapshot import build_memory, from_snapshot_report

    d = tmp_path / "no-managed"
    d.mkdir()
    for name in ("buddyinfo", "pagetypeinfo", "kpageflags.gz", "kpagecount.gz"):
        shutil.copy(FIXTURE / name, d / name)
    lines = (FIXTURE / "zoneinfo").read_text().split("\n")
    (d / "zoneinfo").write_text("\n".join(ln for ln in lines if not ln.strip().startswith("managed ")))
    snap = mmkit.snapshot.load(d)
    assert "managed" not in set(snap.zoneinfo["key"])
    mem = build_memory(snap)
    mem.check()
    zones = {z["zone"]: z for z in mem.meta["from_snapshot"]["zones"]}
    assert zones["Normal"]["managed"] == zones["Normal"]["present"]
    assert zones["Normal"]["managed_from"].startswith("present (zoneinfo has no managed line")
    assert np.array_equal(mem.zone_managed[mem.zone_present > 0], mem.zone_present[mem.zone_present > 0])
    rep = from_snapshot_report(snap, mem)
    assert rep.approximations and all("managed pages taken from present" in a for a in rep.approximations)
    assert "managed pages" in rep.text() and "before v3.8" in rep.text()
