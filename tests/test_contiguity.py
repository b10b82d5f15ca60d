"""Contiguity beyond MAX_ORDER (mmkit.metrics.contiguity, mmkit.viz.contiguity): exact
counts on machines built page by page, the cheap timeline row against the frame-level
view and against the buddy allocator's own free lists, the Result frame, charts, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mmkit
from mmkit.engine.sim import Sim
from mmkit.errors import ParameterError
from mmkit.metrics.contiguity import BUCKETS, FrameClass, contiguity, contiguity_row, frame_classes
from mmkit.model.kinds import MAX_ORDER, PAGEBLOCK_NR_PAGES, PageKind

ROOT = Path(__file__).resolve().parent.parent
GIB = 1 << 18  # pages in 1 GiB


def machine(variant="v4.8"):
    """3 GiB: DMA [1, 4096), DMA32 [4096, 786432): 1 GiB ranges [1, 2) and [2, 3) GiB."""
    return Sim(mmkit.Memory.synthetic(gib=3, variant=variant), seed=5)


def ranges(c, zone, size):
    return c.ranges.filter((pl.col("zone") == zone) & (pl.col("size") == size)).row(0, named=True)


def test_an_empty_machine_is_free_in_every_aligned_range():
    s = machine()
    c = contiguity(s.mem)
    r = ranges(c, "DMA32", "1GiB")
    assert (r["ranges"], r["free"], r["freeable"]) == (2, 2, 2)
    r = ranges(c, "DMA32", "2MiB")
    assert r["ranges"] == (786432 - 4096) // PAGEBLOCK_NR_PAGES == r["free"]
    # one free run fills DMA32: 782336 pages, in the ">1GiB" bucket
    runs = c.runs.filter(pl.col("zone") == "DMA32")
    assert runs.filter(pl.col("free_pages") > 0)["bucket"].to_list() == [">1GiB"]
    assert runs["free_pages"].sum() == 782336 and runs["free_runs"].sum() == 1
    assert c.spoilers.height == 0


def test_each_class_spoils_the_range_it_is_in():
    s = machine()
    anon = s.anon(300)
    pinned = s.anon(2, pinned=True)
    kern = s.kernel(3)
    slab_r = s.kernel(1, kind=PageKind.SLAB_RECLAIMABLE)
    cls = frame_classes(s.mem)
    assert (cls[anon] == FrameClass.MOVABLE).all()
    assert (cls[pinned] == FrameClass.PINNED).all()
    assert (cls[kern] == FrameClass.UNMOVABLE).all() and (cls[slab_r] == FrameClass.RECLAIMABLE).all()
    c = contiguity(s.mem)
    want = {}
    for pfns, what in ((anon, None), (pinned, "pinned"), (slab_r, "reclaimable"), (kern, "unmovable")):
        for p in pfns:
            r = int(p) // GIB
            if r in (1, 2) and what is not None:
                worst = {"pinned": 0, "reclaimable": 1, "unmovable": 2}
                if r not in want or worst[what] > worst[want[r]]:
                    want[r] = what
    r = ranges(c, "DMA32", "1GiB")
    spoiled = {k: r[f"spoiled_{k}"] for k in ("pinned", "reclaimable", "unmovable")}
    assert sum(spoiled.values()) == len(want)
    for what in ("pinned", "reclaimable", "unmovable"):
        assert spoiled[what] == sum(1 for v in want.values() if v == what)
    # the spoiler list: one row per pageblock of a spoiled 1 GiB range with such frames
    stuck = np.concatenate([pinned, kern, slab_r])
    blocks = {(int(p) // GIB * GIB, int(p) // PAGEBLOCK_NR_PAGES * PAGEBLOCK_NR_PAGES) for p in stuck
              if int(p) // GIB in (1, 2)}
    got = set(zip(c.spoilers["range_pfn"].to_list(), c.spoilers["pageblock_pfn"].to_list()))
    assert got == blocks
    sm = c.summary.filter(pl.col("zone") == "DMA32").row(0, named=True)
    in_dma32 = lambda a: int(((a >= 4096) & (a < 786432)).sum())  # noqa: E731
    assert (sm["pinned"], sm["unmovable"], sm["reclaimable"], sm["movable"]) == (
        in_dma32(pinned), in_dma32(kern), in_dma32(slab_r), in_dma32(anon))


def test_a_pinned_thp_is_pinned_whole_and_zsmalloc_moves_only_where_the_variant_says():
    s = machine("v4.5")  # zsmalloc not movable
    (head,) = s.thp(1)
    cls = frame_classes(s.mem)
    assert (cls[head:head + 512] == FrameClass.MOVABLE).all()
    z = s.zram_store(50)
    assert (frame_classes(s.mem)[s.mem.kind == PageKind.ZSMALLOC] == FrameClass.UNMOVABLE).all() and len(z)
    s2 = machine("v4.8")
    s2.zram_store(50)
    assert (frame_classes(s2.mem)[s2.mem.kind == PageKind.ZSMALLOC] == FrameClass.MOVABLE).all()


def test_runs_count_every_free_frame_once_and_by_length():
    s = machine()
    got = s.anon(5000)
    s.free(got[::2])  # holes of one page between the kept ones
    c = contiguity(s.mem)
    runs = c.runs
    for z in range(s.mem.nr_zones):
        name = s.mem.zone_names[z]
        zr = runs.filter(pl.col("zone") == name)
        free = int((s.mem.kind[s.mem.zone_start[z]:s.mem.zone_end[z]] == PageKind.FREE).sum())
        assert zr["free_pages"].sum() == free
        # every frame is free or movable here: one run per zone of them all
        assert zr["movable_runs"].sum() == 1
    assert BUCKETS[0] == "4KiB" and BUCKETS[9] == "2MiB" and BUCKETS[18] == "1GiB" and BUCKETS[-1] == ">1GiB"


@pytest.mark.parametrize("workload,variant,seed", [("review-04", "v4.5", 1), ("zram-pressure", "v4.8", 2),
                                                   ("balloon-vm", "v6.18", 3), ("cma", "v3-04", 4)])
def test_the_timeline_row_agrees_with_the_frame_view_and_the_buddy_free_lists(workload, variant, seed):
    r = mmkit.compare(workload=workload, variants=[variant], gib=1, seed=seed, ticks=40)
    mem = r.memories[variant]
    row, c = contiguity_row(mem), contiguity(mem)
    for size in ("2MiB", "1GiB"):
        f = c.ranges.filter(pl.col("size") == size)
        assert (row[f"ranges_{size}"], row[f"free_{size}"], row[f"freeable_{size}"]) == (
            f["ranges"].sum(), f["free"].sum(), f["freeable"].sum())
    # a pageblock-aligned 2 MiB range is free exactly when the buddy allocator holds it
    # in a free block of order 9 or more (buddies merge up to MAX_ORDER - 1)
    buddy = sum(int(mem.nr_free[z, o]) << (o - 9) for z in range(mem.nr_zones) for o in range(9, MAX_ORDER))
    assert row["free_2MiB"] == buddy
    # and the Result's last contiguity row is the final memory's
    last = r.contiguity.filter(pl.col("variant") == variant).sort("tick").row(-1, named=True)
    assert last["tick"] == 40 and all(last[k] == pytest.approx(v, nan_ok=True) for k, v in row.items())


def test_result_contiguity_over_time_is_deterministic_saved_and_loaded(tmp_path):
    kw = dict(workload="zram-pressure", variants=["v4.5", "v4.8"], gib=0.5, seed=7, ticks=48)
    a, b = mmkit.compare(**kw), mmkit.compare(**kw)
    assert a.contiguity.equals(b.contiguity)
    ticks = a.contiguity.filter(pl.col("variant") == "v4.5")["tick"].to_list()
    assert ticks == [0, 6, 12, 18, 24, 30, 36, 42, 48]
    a.save(tmp_path / "r")
    back = mmkit.load_result(tmp_path / "r")
    assert back.contiguity.equals(a.contiguity)
    (tmp_path / "r" / "contiguity.parquet").unlink()  # a result saved before the frame existed
    assert mmkit.load_result(tmp_path / "r").contiguity.height == 0


def test_a_real_snapshot():
    c = mmkit.contiguity(mmkit.snapshot.load(ROOT / "data" / "idle"))
    sm = {r["zone"]: r for r in c.summary.iter_rows(named=True)}
    # DMA32 of the idle VM: 772,918 free pages (buddyinfo), nothing movable in it
    assert sm["DMA32"]["free"] == 772918
    # Normal is initialised on demand: most of its frames are not initialised yet
    assert sm["Normal"]["uninit"] > 4_000_000
    n1 = ranges(c, "Normal", "1GiB")
    assert n1["free"] == 0 and n1["spoiled_uninit"] > 0


def test_charts_draw_and_bad_input_is_refused():
    from mmkit.viz.contig import contiguity as chart, contiguity_over_time

    s = machine()
    s.anon(100)
    spec = chart(s.mem).to_dict()
    text = json.dumps(spec)
    assert "Aligned ranges" in text and "Memory in contiguous runs" in text
    r = mmkit.compare(workload="review-04", variants=["v4.5", "v4.8"], gib=0.25, seed=1, ticks=16)
    assert "Contiguity over the run" in json.dumps(contiguity_over_time(r).to_dict())
    with pytest.raises(ParameterError, match="memory"):
        contiguity("data/idle")
    with pytest.raises(ParameterError, match="zones"):
        chart(s.mem, zones=["Highmem"])
    with pytest.raises(ParameterError, match="result.memories"):
        contiguity(r)
