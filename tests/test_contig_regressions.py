"""Regressions of the contiguous-range and balloon paths: soak run 62 of seed 987654
(issue 21) and the CMA allocations of issue 16 that never succeeded."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from test_engine_differential import RATES, assert_same, make_pair, run_differential

import mmkit
from mmkit.engine.sim import Sim
from mmkit.model.events import EVENT_NAMES
from mmkit.model.kinds import MigrateType, PageKind
from mmkit.reference import engine_state
from mmkit.semantics import NAMED, RULE_FIELDS, FailureRoute, MovableMarker, NewpageRoute

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "verification"))
import soak

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

SMALL = [("DMA32", 4), ("Normal", 8)]
# run 62 of `soak.py --seed 987654` before the fix: v3-02 with these two rules
RUN62 = dict(seed=600170890430, n_ops=43, scale=1.4)


def test_run62_mix_is_refused_with_its_reason():
    """-256 as the movable sentinel beside the v3.19 balloon protocol made zsmalloc pages
    read as balloon pages: the balloon branch list_del'ed a page->lru nobody linked."""
    with pytest.raises(mmkit.VariantError, match="PAGE_BALLOON_MAPCOUNT_VALUE"):
        NAMED["v3-02"].replace(movable_marker=MovableMarker.PG_RECLAIM_MAPCOUNT_256,
                               failure_route=FailureRoute.V6_18)


@pytest.mark.slow  # the slow tier: a long soak regression (40 s)
def test_run62_operations_agree_with_the_twin_and_soak_clean():
    """Run 62's operations under the half of its mix that can exist (v3-02 with the
    v6.18 failure route): engine and twin agree op by op, no violation, no finding."""
    v = NAMED["v3-02"].replace(failure_route=FailureRoute.V6_18)
    e = run_differential(v, RUN62["seed"], RUN62["n_ops"], RATES[0], zones=SMALL, full_every=4,
                         scale=RUN62["scale"])
    assert e.count("misrouted_putback", PageKind.BALLOON) > 0  # the route's fault is shown
    out = soak.run(soak.Case(variant=v, layout=0, rates=0, **RUN62))
    assert out.violations == [] and out.findings == []


def balloon_contig_ops(s):
    """The minimal operation list: a balloon, every migration failing, a contiguous
    range over the balloon's pages (their isolation, then the failure route)."""
    s.balloon_inflate(40)
    kind = s.mem.kind if isinstance(s, Sim) else np.array([p.kind for p in s.mem.pages])
    pfns = np.flatnonzero(kind == PageKind.BALLOON)
    start = int(pfns[0]) & ~511
    return pfns, s.alloc_contig_range(start, start + 512)


@pytest.mark.parametrize("route", [FailureRoute.V4_8, FailureRoute.V6_18])
def test_balloon_page_the_route_cannot_put_back_is_a_recorded_fault(route):
    """A v3.19-protocol balloon page under a failure route without the balloon branch is
    released from isolation but never put back on the balloon list: the event names it
    (before the fix it left silently, an owner finding)."""
    v = NAMED["v3-02"].replace(failure_route=route)
    e, t = make_pair(v, 5, zones=SMALL, migrate_fail=1.0)
    pfns, res = balloon_contig_ops(e)
    _, res_t = balloon_contig_ops(t)
    assert res == res_t and res["ok"] == 0 and res["failed"] > 0
    assert_same(e, t, f"{v.name} after alloc_contig_range")
    ev = e.events()
    misrouted = set(ev[ev[:, 2] == 6][:, 1].tolist())
    off_list = {p for p in pfns.tolist() if e.mem.lru_next[p] == -1}
    assert off_list and misrouted == off_list
    e.check()
    assert soak.owner_findings(e) == []
    assert soak.owner_findings(e, excuse=False)  # the event is what excuses them


# ---------------------------------------------------------------- CMA (issue 16)
UNMOVABLE_KINDS = (PageKind.SLAB, PageKind.SLAB_RECLAIMABLE, PageKind.PAGETABLE)


@pytest.fixture(scope="module")
def cma_run():
    """The cma preset at 1 GiB without pinned pages or THPs: what is left in a range then
    is what alloc_contig_range can move or drop."""
    return mmkit.compare(workload="cma", gib=1, seed=1, variants=["v3-04", "v3-04-reviewed", "v4.8"],
                         pinned_rate=0.0, thp_rate=0.0)


def test_cma_area_takes_only_movable_pages(cma_run):
    """Reserved at boot (before the prefill), the area never holds slab or page tables
    (before, it was reserved after the prefill and held them: every allocation failed)."""
    for v, mem in cma_run.memories.items():
        cma_blocks = np.flatnonzero((mem.pb_flags & 7) == MigrateType.CMA)
        assert cma_blocks.size > 0
        frames = (cma_blocks[:, None] * 512 + np.arange(512)).ravel()
        assert not np.isin(mem.kind[frames], UNMOVABLE_KINDS).any(), v


def test_cma_allocations_succeed_and_show_review_point3(cma_run):
    fin = {row["variant"]: row for row in cma_run.final().iter_rows(named=True)}
    for v in cma_run.variants:  # before: 0 successes; on a real kernel almost every one succeeds
        ok, failed = fin[v]["cma_alloc_success"], fin[v]["cma_alloc_fail"]
        assert ok >= 10 and ok >= 4 * failed, (v, ok, failed)
    # v3-04's PageIsolated is PG_owner_priv_1: clean PG_checked pages are migrated, not dropped
    a, b = fin["v3-04"], fin["v3-04-reviewed"]
    assert a["cma_skip_false_positive"] > 0 == b["cma_skip_false_positive"]
    assert a["cma_reclaimed"] < b["cma_reclaimed"] and a["cma_migrated"] > b["cma_migrated"]


# run 751 of `soak.py --seed 1673161500` (a fresh seed of the campaign): v3-02 with these
# two rules. A balloon newpage misrouted onto an LRU list (v3-04's newpage route under
# v3-02's balloon) is later isolated by compaction as an LRU page; its migration goes
# through the balloon's migratepage, whose balloon_page_delete takes it off the list it
# is on (PagePrivate set): the migration list. unmap_and_move's own list_del then met
# LIST_POISON, and the engine wrote through index -1 (the last list head; compiled, a
# heap corruption that crashed the soak). Now: a recorded list_corruption, as a kernel
# with CONFIG_DEBUG_LIST reports it. Run 751's own operations (seed 117954869825) stopped
# corrupting when the free pages of isolated pageblocks left NR_FREE_PAGES; this seed, the
# first of a search over random ones with the same variant and machine whose corruption
# the newpage route records, corrupts again.
RUN751 = dict(seed=208552543545, n_ops=55, scale=1.4)
RUN751_VARIANT = dict(isolate_free_min_wmark=True, newpage_route=NewpageRoute.PAGE_MOVABLE)


def test_run751_soaks_clean_and_shows_the_corruption_as_an_event():
    # soak run 751 of seed 1673161500, as drawn when there were 22 rule fields (each new
    # field changes which fields a seed's user-built variants draw)
    case = soak.Case(variant=NAMED["v3-02"].replace(**RUN751_VARIANT), layout=1, rates=0,
                     seed=RUN751["seed"], n_ops=RUN751["n_ops"], scale=RUN751["scale"])
    out = soak.run(case)
    assert out.faults["list_corruption"] > 0
    assert out.violations == [] and out.findings == []


def test_run751_operations_agree_with_the_twin():
    v = NAMED["v3-02"].replace(**RUN751_VARIANT)
    e = run_differential(v, RUN751["seed"], RUN751["n_ops"], RATES[0], zones=[("Normal", 8)], full_every=4,
                         scale=RUN751["scale"])
    assert e.count("list_corruption") > 0
    ev = e.events()  # tick, pfn, event, kind, rule, extra
    corrupt = ev[ev[:, 2] == EVENT_NAMES.index("list_corruption")]
    assert (corrupt[:, 4] == RULE_FIELDS.index("newpage_route")).any()


# run 697 of `soak.py --seed 77992141`: v6.18 on the mib=32 machine, whose DMA zone starts
# at pfn 1. alloc_contig_range [512, 2048) isolates [1, 2048): pageblock 0 crosses the
# zone's edge, and v6.10's move_freepages_block moves nothing there, so pages freed into it
# while isolated (reclaim for a THP's migration target) stayed on the MIGRATE_ISOLATE list
# after the undo. The kernel's set_migratetype_isolate refuses such a pageblock (-EBUSY).
# v6.18 now isolates the range's own pageblocks (contig_pageblock_isolation, v5.19), so the
# run keeps the MAX_ORDER window that found it: v6.10's free-list rules with v4.5's window
RUN697_KEEP = (0, 1, 2, 9, 10, 11, 12, 13, 16, 17, 19, 20, 21, 23, 24, 25, 26, 28, 29)


def test_run697_soaks_clean():
    case = soak.case_of(697, 77992141)
    assert case.variant.contig_pageblock_isolation
    ops = soak.ops_of(case)
    case = dataclasses.replace(case, variant=case.variant.replace(contig_pageblock_isolation=False))
    out = soak.run(case, [ops[i] for i in RUN697_KEEP])
    assert out.violations == [] and out.findings == []


@pytest.mark.parametrize("variant,window,ok", [("v6.18", "MAX_ORDER", False), ("v4.8", "MAX_ORDER", True),
                                               ("v6.18", "pageblock", True)])
def test_a_range_whose_isolation_crosses_the_zone_edge(variant, window, ok):
    """[512, 1024) on the mib=32 machine: a MAX_ORDER isolation window, [1, 1024), takes
    in pageblock 0, which starts below the DMA zone. v6.10's rules refuse it and nothing
    changes; v4.5's move the part inside the zone and go on. v5.19's window is the
    range's own pageblock, and v6.18 allocates it."""
    v = NAMED[variant].replace(contig_pageblock_isolation=window == "pageblock")
    e, t = make_pair(v, 5, mib=32)
    assert int(e.mem.zone_start[0]) == 1
    before = engine_state(e.mem)["free_lists"]
    a, b = e.alloc_contig_range(512, 1024), t.alloc_contig_range(512, 1024)
    assert a == b and bool(a["ok"]) == ok
    if not ok:
        assert engine_state(e.mem)["free_lists"] == before
        assert a["ret"] == -16  # -EBUSY: cma_alloc would try the next position
    assert_same(e, t, f"{variant} {window}")
    e.check()
