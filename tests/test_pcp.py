"""Per-CPU page lists (``struct per_cpu_pages``): the sizes each era gives them, the free
and allocation paths, the drains, and what a snapshot's zoneinfo puts on them.

The sizes are checked against this project's two captures of a 6.18 kernel: the
variant's formulas must give the kernel's own ``batch``, ``high_min`` and ``high_max``
for every zone and CPU.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import mmkit
from mmkit.engine import pages
from mmkit.engine.kpageflags import kpageflags
from mmkit.engine.pcp import (
    PCP_ALLOC_FACTOR,
    PCP_BATCH,
    PCP_COUNT,
    PCP_HIGH,
    PCP_HIGH_MAX,
    PCP_HIGH_MIN,
    zone_batchsize,
)
from mmkit.engine.sim import Sim
from mmkit.errors import ParameterError
from mmkit.model import kpf
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, MigrateType, PageKind
from mmkit.model.memory import Memory
from mmkit.from_snapshot import build_memory, from_snapshot_report

ROOT = Path(__file__).parent.parent
FIXTURE = Path(__file__).parent / "data" / "linux-6.18-idle"
FRAGMENTED = ROOT / "data" / "fragmented"
NORMAL = 2


def _mem(variant: str, cpus: int = 2, gib: float = 6) -> Memory:
    return Memory.synthetic(gib=gib, variant=variant, cpus=cpus)


def _alloc(mem, n, order=0, mt=MigrateType.MOVABLE):
    out = [pages.alloc_pages(mem, order, mt, PageKind.ANON) for _ in range(n)]
    assert min(out) >= 0
    return out


# ------------------------------------------------------------------ sizes by era
@pytest.mark.parametrize("path", [FIXTURE, FRAGMENTED], ids=["idle-fixture", "fragmented"])
def test_v618_sizes_are_the_kernels_own(path):
    """batch, high_min and high_max of v6.18's formulas equal what the kernel printed in
    zoneinfo, zone by zone and CPU by CPU (low watermarks differ between the captures)."""
    mem = build_memory(path, variant="v6.18")
    rows = mem.meta["from_snapshot"]["zones"]
    assert mem.cpus == 2
    for r in rows:
        assert r["pcp"]["sizes_compared"] == 3 * mem.cpus, r["zone"]
        assert r["pcp"]["sizes_differ"] == [], r["zone"]
    assert mem.pcp[NORMAL, 0, PCP_BATCH] == 63


def test_v4_sizes():
    """v4.x: batch a quarter of managed/1024 up to 512 KiB, rounded to 2**n - 1, and
    high six batches; a zone under 6 MiB gets batch 0, so its lists keep nothing."""
    assert zone_batchsize(1 << 20, False) == 31
    assert zone_batchsize(3840, False) == 0
    assert zone_batchsize(1 << 20, True) == 63
    assert zone_batchsize(40000, True) == 7  # 40000 >> 12 = 9 -> 13 -> 8 - 1
    mem = _mem("v4.8")
    assert mem.pcp[NORMAL, :, PCP_HIGH].tolist() == [186, 186]
    assert mem.pcp[0, :, PCP_HIGH].tolist() == [0, 0]


def test_cpus_is_checked():
    for bad in (-1, 1.5, True, 100000):
        with pytest.raises(ParameterError, match="cpus"):
            Memory.synthetic(gib=1, cpus=bad)
    with pytest.raises(ParameterError, match="cpus"):
        mmkit.compare(FRAGMENTED, workload="steady", variants=["v6.18"], ticks=1, cpus=2)


# ------------------------------------------------------------------ free and alloc
def test_a_freed_page_sits_on_the_list_not_in_the_buddy():
    mem = _mem("v6.18")
    pfns = _alloc(mem, 10)
    free_before = int(mem.free_pages()[NORMAL])
    pcp_before = int(mem.pcp_pages()[NORMAL])
    pages.free_pages(mem, pfns[0])
    assert mem.kind[pfns[0]] == PageKind.PCP
    assert int(mem.free_pages()[NORMAL]) == free_before  # MemFree and buddyinfo leave it out
    assert int(mem.pcp_pages()[NORMAL]) == pcp_before + 1
    assert not kpageflags(mem)[pfns[0]] >> kpf.KPF_BUDDY & 1
    assert pages.alloc_pages(mem, 0, MigrateType.MOVABLE, PageKind.ANON) == pfns[0]  # the hot page first
    mem.check()


def test_v48_refill_and_bulk_free_are_a_batch():
    mem = _mem("v4.8", cpus=1)
    pfns = _alloc(mem, 1)
    assert mem.pcp[NORMAL, 0, PCP_COUNT] == 30  # a refill of 31, one handed out
    more = _alloc(mem, 300)
    for p in pfns + more:
        pages.free_pages(mem, p)
        assert mem.pcp[NORMAL, 0, PCP_COUNT] < 186  # at high, a batch of 31 goes back
    assert mem.pcp[NORMAL, 0, PCP_COUNT] >= 186 - 31
    mem.check()


def test_v618_high_grows_at_refills_and_orders_up_to_3_and_thp_are_kept():
    mem = _mem("v6.18", cpus=1)
    high0 = int(mem.pcp[NORMAL, 0, PCP_HIGH])
    assert high0 == mem.pcp[NORMAL, 0, PCP_HIGH_MIN]
    _alloc(mem, 2000)
    assert mem.pcp[NORMAL, 0, PCP_HIGH] > high0  # nr_pcp_alloc raised it
    assert mem.pcp[NORMAL, 0, PCP_ALLOC_FACTOR] > 0
    assert mem.pcp[NORMAL, 0, PCP_HIGH] <= mem.pcp[NORMAL, 0, PCP_HIGH_MAX]
    for order in (1, 3, 9):
        (p,) = _alloc(mem, 1, order)
        pages.free_pages(mem, p, order)
        assert mem.kind[p] == PageKind.PCP and (mem.private[p] & 0xFF) == order
    (p,) = _alloc(mem, 1, 4)
    pages.free_pages(mem, p, 4)
    assert mem.kind[p] == PageKind.FREE  # order 4: never on a per-CPU list
    mem.check()


def test_v48_keeps_order_0_only():
    mem = _mem("v4.8", cpus=1)
    (p,) = _alloc(mem, 1, 1)
    pages.free_pages(mem, p, 1)
    assert mem.kind[p] == PageKind.FREE


def test_a_v618_memory_for_v48_gives_its_higher_orders_back():
    mem = _mem("v6.18", cpus=1)
    (p,) = _alloc(mem, 1, 2)
    pages.free_pages(mem, p, 2)
    assert mem.kind[p] == PageKind.PCP
    old = mem.copy()
    out = mmkit.engine.encode.reencode(old, "v4.8")
    assert out.kind[p] == PageKind.FREE
    assert out.pcp[NORMAL, 0, PCP_HIGH] == 186
    out.check()


def test_no_cpus_means_no_lists():
    mem = _mem("v6.18", cpus=0)
    (p,) = _alloc(mem, 1)
    pages.free_pages(mem, p)
    assert mem.kind[p] == PageKind.FREE and mem.cpus == 0


# ------------------------------------------------------------------ drains
def _with_pcp_pages(variant="v6.18"):
    mem = _mem(variant)
    pfns = _alloc(mem, 3000)
    for p in pfns[::2]:
        pages.free_pages(mem, p)
    assert mem.pcp_pages().sum() > 0
    return mem


def test_compact_memory_leaves_the_lists_alone():
    """Proc compaction drains only the LRU batches (lru_add_drain_all), not the per-CPU
    lists, in the kernel and here; the pages it frees by migrating go to the list of the
    CPU it runs on."""
    mem = build_memory(FRAGMENTED, variant="v6.18")
    before = np.flatnonzero(mem.kind == PageKind.PCP)
    out, stats = mmkit.compact_memory(mem)
    assert stats["pgmigrate_success"] > 0 and before.size > 0
    # CPU 1's lists are untouched (no drain_all_pages); CPU 0's, which took every page
    # migration freed, gave back only what lay above high (bulk frees), never all: a bulk
    # free gives back at most batch << PCP_BATCH_SCALE_MAX pages (63 << 5), plus what
    # its last block (at most a pageblock) took past that
    assert out.pcp[NORMAL, 1, PCP_COUNT] == mem.pcp[NORMAL, 1, PCP_COUNT]
    assert out.pcp[NORMAL, 0, PCP_COUNT] >= out.pcp[NORMAL, 0, PCP_HIGH] - (63 << 5) - (PAGEBLOCK_NR_PAGES - 1)
    out.check()


def test_alloc_contig_range_drains_every_cpu():
    mem = _with_pcp_pages()
    s = Sim(mem, 1)
    on = np.flatnonzero(mem.kind == PageKind.PCP)
    block = int(on[0]) & ~511
    res = s.alloc_contig_range(block, block + 512)
    assert res["ok"] == 1, res
    assert not (mem.kind[block:block + 512] == PageKind.PCP).any()
    assert (mem.pcp[NORMAL, :, PCP_COUNT] == 0).all()  # drain_all_pages(zone)
    mem.check()


def test_direct_compaction_flushes_this_cpus_lists():
    """compact_zone of an order > 0 drains this CPU's lists once the migrate scanner has
    left the order-aligned block it migrated from (check_drain). CPU 1's lists are made
    to keep everything (high far above), so without a flush every page migration frees
    would still be there; order -1 (compact_memory) never flushes."""
    # seed 2: compaction at order 9 migrates (on seed 3, since kswapd leaves free CMA pages
    # out of its count, DMA32 already has a free order-9 block and it stops at once)
    r = mmkit.compare(None, workload="review-04", variants=["v6.18"], gib=5, cpus=2, ticks=100, seed=2)
    DMA32 = 1
    for order, flushed in ((9, True), (-1, False)):
        s = Sim(r.memories["v6.18"].copy(), 1)
        mem = s.mem
        mem.this_cpu[0] = 1
        mem.pcp[DMA32, 1, [PCP_HIGH, PCP_HIGH_MIN, PCP_HIGH_MAX]] = 10**7
        other = int(mem.pcp[DMA32, 0, PCP_COUNT])
        before = int(mem.pcp[DMA32, 1, PCP_COUNT])
        s.compact_zone(DMA32, order=order, sync=True, ignore_skip=True)
        migrated = int(s.S.vm[mmkit.engine.state.VM_PGMIGRATE_SUCCESS])
        assert migrated > 0 and before > 0
        after = int(mem.pcp[DMA32, 1, PCP_COUNT])
        # without a flush every source page freed is still there, with the free targets
        # compaction did not use (release_free_list frees them through __free_pages)
        assert (after < before) if flushed else (after >= before + migrated), (order, before, migrated, after)
        assert mem.pcp[DMA32, 0, PCP_COUNT] == other  # another CPU's lists are left
        mem.check()


# ------------------------------------------------------------------ snapshots
def test_fragmented_snapshot_puts_zoneinfos_count_on_the_lists():
    mem = build_memory(FRAGMENTED, variant="v6.18")
    row = mem.meta["from_snapshot"]["zones"][NORMAL]["pcp"]
    counts = [int(mem.pcp[NORMAL, c, PCP_COUNT]) for c in range(mem.cpus)]
    assert sum(counts) == row["zoneinfo_count"] == row["picked"] > 0
    assert row["in_movable_blocks"] + row["elsewhere"] == row["picked"]
    on = mem.kind == PageKind.PCP
    assert int(on.sum()) == row["picked"]
    assert (mem.flags[on] == 0).all() and (mem.refcount[on] == 0).all()
    text = from_snapshot_report(FRAGMENTED, mem).text()
    assert f"zoneinfo counts {row['zoneinfo_count']} pages on 2 CPUs" in text
    assert "the kernel's agree" in text
    mem.check()


def _copy_fixture(tmp_path, edit):
    dst = tmp_path / "snap"
    shutil.copytree(FIXTURE, dst)
    zi = dst / "zoneinfo"
    zi.write_text(edit(zi.read_text()))
    return dst


def test_zoneinfo_without_pagesets_gives_empty_lists_and_says_so(tmp_path):
    def strip(text):
        out, skip = [], False
        for line in text.splitlines():
            if line.strip() == "pagesets":
                skip = True
                continue
            if skip and (line.startswith("    cpu:") or line.startswith("              ")
                         or line.startswith("  vm stats threshold")):
                continue
            skip = False
            out.append(line)
        return "\n".join(out) + "\n"

    snap = _copy_fixture(tmp_path, strip)
    mem = build_memory(snap, variant="v6.18")
    assert mem.cpus == 0 and not (mem.kind == PageKind.PCP).any()
    assert "zoneinfo has no pagesets" in from_snapshot_report(snap, mem).text()
    mem.check()
    mmkit.compact_memory(mem)


def test_more_pcp_pages_than_flagless_pages_is_reported(tmp_path):
    n = [0]

    def inflate(text):
        def bump(m):
            n[0] += 1
            return m.group(1) + "9000000"
        return re.sub(r"(\n              count:\s+)\d+", bump, text)

    snap = _copy_fixture(tmp_path, inflate)
    assert n[0] >= 2
    mem = build_memory(snap, variant="v6.18")
    row = mem.meta["from_snapshot"]["zones"][NORMAL]["pcp"]
    assert row["shortfall"] > 0 and row["picked"] == row["candidates"]
    assert "more than there are flagless pages" in from_snapshot_report(snap, mem).text()
    mem.check()
