"""Invariant soak, small: random operation sequences through the ``Sim`` door under the
six named variants and random user-built ones, ``Sim.check()`` and the owner checks of
``verification/soak.py`` after every operation (that script runs 1,000 of them).

Faults the variants are meant to show (a zsmalloc page put back on an LRU list, a balloon
page a deflate overtook) are events, not violations: the owner checks excuse a page an
event names, and the last tests show they would not without the event.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opgen import random_sim_ops

import mmkit
from mmkit.engine.sim import Sim
from mmkit.model.flags import PG_lru
from mmkit.model.kinds import PageKind
from mmkit.model.memory import synthetic_layout
from mmkit.semantics import NAMED, NewpageRoute

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "verification"))
import soak

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"  # the pure-Python engine: far fewer runs


def one_op(op_seed: int, spans, scale: float):
    """The operation seed ``op_seed`` stands for (a shrinkable handle on one operation)."""
    return next(iter(random_sim_ops(op_seed, 1, spans, scale)))


@settings(max_examples=6 if NO_JIT else 200, suppress_health_check=list(HealthCheck))
@given(variant=soak.variants(), layout=st.integers(0, 2), rates=st.integers(0, len(soak.RATES) - 1),
       seed=st.integers(0, 2**40), scale=st.sampled_from([1.0, 1.4]),
       op_seeds=st.lists(st.integers(0, 2**32), min_size=1, max_size=8 if NO_JIT else 40))
def test_random_operations_keep_every_invariant(variant, layout, rates, seed, scale, op_seeds):
    case = soak.Case(variant, layout, rates, seed, len(op_seeds), scale)
    spans = [(s, s + n) for _, s, n in synthetic_layout(**soak._geometry(soak.LAYOUTS[layout]))]
    out = soak.run(case, [one_op(s, spans, scale) for s in op_seeds])
    assert not out.violations, f"{case.describe()}: {out.violations}"
    assert not out.findings, f"{case.describe()}: {out.findings}"


@pytest.mark.parametrize("index", range(2 if NO_JIT else 12))
def test_seeded_soak_runs(index):
    """The first runs ``verification/soak.py`` makes, every variant among them."""
    out = soak.run(soak.case_of(index))
    assert not out.violations and not out.findings, (out.case.describe(), out.violations, out.findings)


def test_user_built_variants_are_valid_and_varied():
    rng = np.random.default_rng(0)
    vs = [soak.random_variant(rng, user_share=1.0) for _ in range(30)]
    for v in vs:
        v.validate()
        assert v.name not in NAMED
    assert len({tuple(v.compile()) for v in vs}) > 20
    assert soak.user_variant("v4.8", {"pg_isolated": mmkit.semantics.IsolatedBit.NONE}) is None


# ------------------------------------------------------------------ the owner checks see
def busy_sim(variant="v4.8") -> Sim:
    s = Sim(mmkit.Memory.synthetic(zones=[("DMA32", 4), ("Normal", 8)], variant=variant), seed=1)
    s.anon(400)
    s.file(300)
    s.thp(2)
    s.balloon_inflate(50)
    s.zram_store(100)
    s.kernel(20)
    s.check()
    assert soak.owner_findings(s) == []
    return s


def first(s: Sim, kind: PageKind, lru: bool | None = None) -> int:
    ok = (s.mem.kind == kind) & (s.mem.lru_next[: s.mem.nr_pages] > -2)
    if lru is not None:
        ok &= ((s.mem.flags >> PG_lru) & 1 == 1) == lru
    return int(np.flatnonzero(ok)[0])


CORRUPTIONS = {
    "without PG_lru": lambda s: s.mem.flags.__setitem__(p := first(s, PageKind.FILE, True),
                                                       s.mem.flags[p] & ~np.uint32(1 << PG_lru)),
    "a BALLOON page on LRU list": lambda s: s.mem.kind.__setitem__(first(s, PageKind.ANON, True), PageKind.BALLOON),
    "zsmalloc page of no live zspage": lambda s: s.mem.kind.__setitem__(first(s, PageKind.KERNEL), PageKind.ZSMALLOC),
    "compound tail inconsistent": lambda s: s.mem.kind.__setitem__(
        int(np.flatnonzero(s.mem.lru_next[: s.mem.nr_pages] <= -2)[3]), PageKind.FILE),
    "objects, the count says": lambda s: s.S.st.__setitem__(soak._st.ST_ZS_OBJECTS, s.S.st[soak._st.ST_ZS_OBJECTS] + 1),
}


@pytest.mark.parametrize("what", list(CORRUPTIONS))
def test_owner_checks_catch_each_corruption(what):
    s = busy_sim()
    CORRUPTIONS[what](s)
    found = soak.owner_findings(s)
    assert any(what in f for f in found), found


def test_balloon_page_off_its_list_is_found():
    s = busy_sim()
    p = first(s, PageKind.BALLOON)
    nxt, prv = int(s.mem.lru_next[p]), int(s.mem.lru_prev[p])
    s.mem.lru_next[prv], s.mem.lru_prev[nxt] = nxt, prv  # list_del without telling anyone
    assert any("on the balloon list 0 times" in f for f in soak.owner_findings(s))


def test_misrouted_pages_are_events_not_violations():
    """v3-02 puts migrated zsmalloc pages back with putback_lru_page: they sit on LRU
    lists. check() passes, the owner checks excuse them by their events, and without the
    excuse they would be findings."""
    s = Sim(mmkit.Memory.synthetic(mib=32, variant="v3-02"), seed=3, deflate_race=0.5, migrate_fail=0.02)
    s.anon(1200)
    s.zram_store(800)
    s.free(np.flatnonzero((s.mem.kind == PageKind.ANON) & (s.mem.lru_next[: s.mem.nr_pages] > -2))[::2])
    s.compact_memory()
    s.check()
    assert s.count("misrouted_putback") > 0
    assert soak.owner_findings(s) == []
    assert any("a ZSMALLOC page on LRU list" in f for f in soak.owner_findings(s, excuse=False))


# Soak run 948 of seed 1596037121, pinned by its case (a new Variant field changes which
# case a seed gives): v4.5's balloon (PG_private, no movable mark) under v3-02's newpage
# test, PageMovable(newpage). Every migrated balloon page is put back with
# putback_lru_page while it is on balloon->pages, which threads it onto an LRU list and
# leaves balloon->pages pointing at it.
BROKEN_BALLOON_LIST = soak.Case(
    variant=NAMED["v4.5"].replace(name="v4.5+extfrag_costly_only=True,newpage_route=PAGE_MOVABLE",
                                  extfrag_costly_only=True, newpage_route=NewpageRoute.PAGE_MOVABLE),
    layout=2, rates=1, seed=433527583351, n_ops=33, scale=1.4)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("keep", [None, [7, 8, 10, 11, 15, 16, 17, 22, 23, 24, 25, 28, 29, 30, 31]],
                         ids=["run 948", "the ops that hung"])
def test_a_list_broken_by_a_misroute_stays_where_it_broke(keep):
    """A deflate then freed the misrouted page while balloon->pages still pointed at it,
    and later balloon list writes went through that pointer into the buddy free lists:
    run 948 ended with a free-list block that was not PageBuddy, and these 15 of its
    operations looped for ever in release_freepages. With the list checks of
    CONFIG_DEBUG_LIST no write goes through the broken link, the deflate's walk stops
    there with a list_corruption event, and every invariant holds."""
    ops = soak.ops_of(BROKEN_BALLOON_LIST)
    out = soak.run(BROKEN_BALLOON_LIST, None if keep is None else [ops[k] for k in keep], numbers=keep)
    assert not out.violations, out.violations
    assert out.faults["lru_corruption"] > 0 and out.faults["list_corruption"] > 0, out.faults
