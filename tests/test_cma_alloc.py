"""``cma_alloc``'s walk over its area (``mm/cma.c``, every era): ``alloc_contig_range`` at
the first free position, then, after each -EBUSY, at the next; -ENOMEM (no migration
target) ends the walk. And two rules of ``alloc_contig_range`` since: ``contig_enomem_bail``
(v5.13), ``__alloc_contig_migrate_range`` stops at the first -ENOMEM where before it tried
four more times; ``contig_pageblock_isolation`` (v5.19), the range's own pageblocks are
isolated, not whole MAX_ORDER blocks. Engine against twin."""

from __future__ import annotations

import numpy as np
import pytest

import mmkit
from mmkit.engine.sim import Sim
from mmkit.errors import ParameterError
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES, PageKind
from mmkit.model.memory import synthetic_layout
from mmkit.reference.buddy import RefMemory
from mmkit.reference.sim import RefSim
from mmkit.semantics import NAMED
from opgen import agree, both, no_watermarks, sim_cma_area

PB = PAGEBLOCK_NR_PAGES
ZONES = [("Normal", 32)]  # 16 pageblocks
EBUSY, ENOMEM = -16, -12


def pinned_area(targets: bool, variant=None, **rules):
    """v6.18 (or ``variant``) without the pin's migration (``longterm_pin_migrate`` off:
    a pin stays in CMA): a machine full of anonymous pages with an 8-pageblock CMA area at the top and
    a pinned page in the area's pageblocks 0 and 3; with ``targets``, every page below
    the area freed (8 pageblocks). Returns the pair and the area's first pfn."""
    v = (variant or NAMED["v6.18"]).replace(name="x", longterm_pin_migrate=False, **rules)
    e = Sim(mmkit.Memory.synthetic(zones=ZONES, variant=v, cpus=0), seed=5)
    t = RefSim(RefMemory.boot(synthetic_layout(zones=ZONES), v), seed=5)
    no_watermarks(e, t)
    start = sim_cma_area(e, 8)
    assert sim_cma_area(t, 8) == start
    low = both(e, t, "anon", int(np.count_nonzero(e.mem.kind == PageKind.FREE)))
    holes = [start + 5, start + 3 * PB + 7]
    both(e, t, "free", holes)
    pins = both(e, t, "anon", 2, pinned=True)
    assert sorted(int(p) for p in pins) == holes  # the only free pages: the pins land there
    assert int(np.count_nonzero(e.mem.kind == PageKind.FREE)) == 0
    if targets:
        both(e, t, "free", [int(p) for p in low if p < start])
    return e, t, start


def test_cma_alloc_tries_the_next_position_after_ebusy():
    """Two pageblocks: position 0 holds a pin (-EBUSY, after moving the rest of its
    range out), position 1 is allocated. The failed try's migrations are counted: 511
    pages of pageblock 0 and 512 of pageblock 1, then pageblock 2's 512."""
    e, t, start = pinned_area(True)
    first, res = both(e, t, "cma_alloc", start, 8, 2)
    assert first == start + PB
    assert res["ok"] == 1 and res["ret"] == 0 and res["migrated"] == 511 + 512 + 512
    assert e.vmstat["cma_alloc_busy_retry"] == 1
    assert (e.vmstat["cma_alloc_success"], e.vmstat["cma_alloc_fail"]) == (1, 0)
    assert (e.mem.kind[first:first + 2 * PB] == PageKind.KERNEL).all()
    agree(e, t)
    e.check()


@pytest.mark.parametrize("nblocks,position", [(4, 4), (5, -1)])
def test_cma_alloc_walks_every_position(nblocks, position):
    """Four pageblocks: positions 0-3 each take in pageblock 0 or 3 (-EBUSY), position
    4 is allocated. Five: positions 0-3 all busy, and there is no other: it fails."""
    e, t, start = pinned_area(True)
    first, res = both(e, t, "cma_alloc", start, 8, nblocks)
    assert e.vmstat["cma_alloc_busy_retry"] == 4
    if position < 0:
        assert first == -1 and res["ret"] == EBUSY and e.vmstat["cma_alloc_fail"] == 1
    else:
        assert first == start + position * PB and res["ret"] == 0 and e.vmstat["cma_alloc_success"] == 1
    agree(e, t)
    e.check()


@pytest.mark.parametrize("bail", [False, True])
def test_enomem_ends_the_walk(bail):
    """No free page below the area: the first position's migration finds no target,
    the range fails with -ENOMEM, and cma_alloc tries no other position."""
    e, t, start = pinned_area(False, contig_enomem_bail=bail)
    first, res = both(e, t, "cma_alloc", start, 8, 2)
    assert first == -1 and res["ok"] == 0 and res["ret"] == ENOMEM
    assert e.vmstat["cma_alloc_busy_retry"] == 0
    assert (e.vmstat["cma_alloc_success"], e.vmstat["cma_alloc_fail"]) == (0, 1)
    agree(e, t)
    e.check()


def test_contig_enomem_bail_stops_at_the_first_enomem():
    """v5.13's loop gives up after the first -ENOMEM (one failed migration); before,
    ``tries`` let it call migrate_pages five times over the same list."""
    fails = {}
    for bail in (False, True):
        e, t, start = pinned_area(False, contig_enomem_bail=bail)
        res = both(e, t, "alloc_contig_range", start, start + 2 * PB)
        assert res["ret"] == ENOMEM
        fails[bail] = e.vmstat["pgmigrate_fail"]
        agree(e, t)
    assert fails == {True: 1, False: 5}


def test_a_busy_range_returns_ebusy():
    e, t, start = pinned_area(True)
    res = both(e, t, "alloc_contig_range", start, start + PB)
    assert res["ok"] == 0 and res["ret"] == EBUSY
    # alloc_contig_range counts no cma_alloc: that is its caller's
    assert e.vmstat["cma_alloc_fail"] == e.vmstat["cma_alloc_success"] == 0


@pytest.mark.parametrize("args,match", [
    ((100, 8, 2), "base: 100 must be a pfn aligned"),
    ((0, 8, 0), "area: 8 pageblocks at 0x0 must lie inside one zone and hold the 0"),
    ((0, 2, 3), "hold the 3 asked for"),
    ((0, 17, 1), "must lie inside one zone"),
    ((0, -1, 1), "area_blocks"),
])
def test_cma_alloc_refuses_bad_arguments(args, match):
    e = Sim(mmkit.Memory.synthetic(zones=ZONES, variant="v6.18", cpus=0), seed=5)
    with pytest.raises(ParameterError, match=match):
        e.cma_alloc(*args)


@pytest.mark.parametrize("pageblock_window", [False, True])
def test_the_isolation_window_is_the_ranges_pageblocks_from_v5_19(pageblock_window):
    """A full machine whose only free pages are the pageblock beside the range, in the
    same MAX_ORDER block: v4.5's window isolates that pageblock too and the range's
    pages find no target (-ENOMEM); v5.19's isolates the range's pageblock alone and
    its pages move into the neighbour."""
    v = NAMED["v6.18"].replace(name="x", contig_pageblock_isolation=pageblock_window)
    e = Sim(mmkit.Memory.synthetic(zones=ZONES, variant=v, cpus=0), seed=5)
    t = RefSim(RefMemory.boot(synthetic_layout(zones=ZONES), v), seed=5)
    no_watermarks(e, t)
    pages = both(e, t, "anon", int(np.count_nonzero(e.mem.kind == PageKind.FREE)))
    assert int(np.count_nonzero(e.mem.kind == PageKind.FREE)) == 0
    both(e, t, "free", [int(p) for p in pages if 5 * PB <= p < 6 * PB])
    res = both(e, t, "alloc_contig_range", 4 * PB, 5 * PB)
    if pageblock_window:
        assert res["ok"] == 1 and res["migrated"] == PB
        assert (e.mem.kind[5 * PB:6 * PB] == PageKind.ANON).all()
    else:
        assert res["ok"] == 0 and res["ret"] == ENOMEM and res["migrated"] == 0
    agree(e, t)
    e.check()
