"""What makes a contiguous range over a CMA area fail before v5.x and not today: a pinned
page in it (v5.1, 9a4e9f3b2d73: a long-term pin moves a CMA page out first,
``longterm_pin_migrate``) and a THP in it (v5.7, 1da2f328fa64: ``alloc_contig_range``
migrates THPs, ``alloc_contig_thp``). Each rule alone, on and off, engine against twin."""

from __future__ import annotations

import numpy as np
import pytest

import mmkit
from mmkit.engine.sim import Sim
from mmkit.model.flags import PG_head, PG_lru
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, MigrateType, PageKind
from mmkit.model.memory import synthetic_layout
from mmkit.reference.buddy import RefMemory
from mmkit.reference.sim import RefSim
from mmkit.semantics import NAMED
from opgen import agree as _agree
from opgen import both, no_watermarks, sim_cma_area

PB = PAGEBLOCK_NR_PAGES
ZONES = [("Normal", 64)]  # 32 pageblocks


def sims(**rules):
    v = NAMED["v6.18"].replace(name="x", **rules)
    e = Sim(mmkit.Memory.synthetic(zones=ZONES, variant=v, cpus=0), seed=5)
    t = RefSim(RefMemory.boot(synthetic_layout(zones=ZONES), v), seed=5)
    return e, t


def agree(e, t):
    _agree(e, t)
    e.check()


def cma_area(e, t, blocks):
    start = sim_cma_area(e, blocks)
    assert sim_cma_area(t, blocks) == start
    return start


# ----------------------------------------------------------------- long-term pins
@pytest.mark.parametrize("rule", [False, True])
def test_a_long_term_pin_moves_a_cma_page_out_from_v5_1(rule):
    """28 of 32 pageblocks CMA: v5.7's cma_balance serves the faults from CMA. With the
    rule every pinned page is moved to an unmovable pageblock first (one migration
    each); without it the pins stay in CMA."""
    e, t = sims(longterm_pin_migrate=rule)
    start = cma_area(e, t, 28)
    pfns = both(e, t, "anon", 40, pinned=True)
    assert (pfns >= 0).all()
    mem = e.mem
    in_cma = pfns >= start
    if rule:
        assert not in_cma.any()
        assert all(mem.migratetype(int(p)) == MigrateType.UNMOVABLE for p in pfns)
        assert e.vmstat["pgmigrate_success"] == 40
    else:
        assert in_cma.all()
        assert e.vmstat["pgmigrate_success"] == 0
    assert (mem.refcount[pfns] == 2).all() and (mem.kind[pfns] == PageKind.ANON).all()
    assert ((mem.flags[pfns] >> PG_lru) & 1).all()
    # the pages the pins left are free again (CMA's), nothing is lost
    assert int((mem.kind == PageKind.ANON).sum()) == 40
    agree(e, t)


def test_a_pinned_cma_page_fails_a_contiguous_range_only_without_the_rule():
    """The range is the pageblock the first fault lands in (the same on both runs)."""
    lo = None
    for rule, ok in ((False, 0), (True, 1)):
        e, t = sims(longterm_pin_migrate=rule)
        start = cma_area(e, t, 28)
        pfns = both(e, t, "anon", 40, pinned=True)
        if lo is None:
            lo = int(pfns[0]) & ~(PB - 1)
        assert lo >= start
        res = both(e, t, "alloc_contig_range", lo, lo + PB)
        assert res["ok"] == ok, rule
        agree(e, t)


# ----------------------------------------------------------------- THPs in a range
def thps_in_cma(whole_target_outside, **rules):
    """16 of 32 pageblocks CMA (no cma_balance: CMA serves movable requests once the
    MOVABLE lists are empty). The rest is filled with anonymous pages, then two THPs
    and 100 anonymous pages land in CMA; below the area every other page is freed
    (order-0 holes: targets for 4,096 pages, no order-9 block), and with
    ``whole_target_outside`` one whole pageblock too."""
    e, t = sims(cma_balance=False, **rules)
    restore = no_watermarks(e, t)
    start = cma_area(e, t, 16)
    n = int(np.count_nonzero(e.mem.kind[:start] == PageKind.FREE))
    low = both(e, t, "anon", n)
    assert (low < start).all()
    thp = both(e, t, "thp", 2)
    anon = both(e, t, "anon", 100)
    assert (thp >= start).all() and (anon >= start).all()
    drop = [int(p) for p in low if p % 2 == 0]
    if whole_target_outside:
        blk = 2 * PB
        drop += [int(p) for p in low if blk <= p < blk + PB and p % 2 == 1]
    both(e, t, "free", drop)
    restore()
    agree(e, t)
    lo = min(int(p) for p in thp) & ~(PB - 1)
    return e, t, thp, lo, start


def heads_below(mem, start):
    heads = np.flatnonzero(((mem.flags[:start] >> PG_head) & 1) == 1)
    return heads


@pytest.mark.parametrize("rule", [False, True])
def test_a_thp_in_a_contiguous_range_is_migrated_whole_from_v5_7(rule):
    e, t, thp, lo, start = thps_in_cma(True, alloc_contig_thp=rule)
    before = e.vmstat["pgmigrate_success"]
    res = both(e, t, "alloc_contig_range", lo, lo + PB)
    moved = e.vmstat["pgmigrate_success"] - before
    if rule:
        assert res["ok"] == 1
        # the THP now lives below the CMA area, whole: one head, order 9, in the free block
        heads = heads_below(e.mem, start)
        assert heads.size == 1 and 2 * PB <= heads[0] < 3 * PB, heads
        assert moved >= PB
    else:
        assert res["ok"] == 0
        assert heads_below(e.mem, start).size == 0
    agree(e, t)


def test_a_thp_that_finds_no_target_of_its_order_is_split_and_its_pages_migrated():
    e, t, thp, lo, start = thps_in_cma(False, alloc_contig_thp=True)
    before = e.vmstat["pgmigrate_success"]
    res = both(e, t, "alloc_contig_range", lo, lo + PB)
    assert res["ok"] == 1
    assert heads_below(e.mem, start).size == 0  # no order-9 block below: split
    assert e.vmstat["pgmigrate_success"] - before >= PB
    # the range is the caller's now; the THP's 512 pages are order-0 anonymous pages
    assert int((e.mem.kind[:start] == PageKind.ANON).sum()) >= PB
    agree(e, t)


# ----------------------------------------------------------------- the preset
def test_review_04_contiguous_allocations_succeed_only_today():
    """review-04 at 512 MiB (seeds 1-3): a pinned page or a THP sits in every window of
    its CMA area when an allocation comes, so before v5.x each one fails; v6.18 moves
    both (the pins the prefill left in the area still fail some)."""
    ok = {"v4.8": 0, "v6.18": 0}
    for seed in (1, 2, 3):
        r = mmkit.compare(workload="review-04", variants=list(ok), gib=0.5, seed=seed, progress=False)
        for row in r.final().iter_rows(named=True):
            ok[row["variant"]] += row["cma_alloc_success"]
    assert ok["v4.8"] == 0 and ok["v6.18"] > 0, ok
