"""``mmkit.compact.compact_memory``: echo 1 > /proc/sys/vm/compact_memory on a copy of a
Memory, on the rebuilt ``data/fragmented`` snapshot and on synthetic machines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mmkit
import mmkit.snapshot
from mmkit.compact import KERNEL_VMSTAT_NAMES, compact_memory
from mmkit.engine.sim import Sim
from mmkit.errors import ParameterError
from mmkit.metrics import unusable_free_index
from mmkit.model import flags as pg
from mmkit.model.kinds import PageKind

FRAGMENTED = Path(__file__).parent.parent / "data" / "fragmented"


@pytest.fixture(scope="module")
def before():
    return mmkit.Memory.from_snapshot(FRAGMENTED)


@pytest.fixture(scope="module")
def compacted(before):
    snapshot_of_arrays = (before.kind.copy(), before.nr_free.copy(), before.lru_next.copy())
    after, vm = compact_memory(before)
    return after, vm, snapshot_of_arrays


def test_free_pages_are_conserved_exactly(before, compacted):
    """Free pages, in the buddy or on a per-CPU list (where migration frees its source
    pages), are the same before and after: compaction frees and allocates nothing."""
    after, _vm, _ = compacted
    assert (after.free_pages() + after.pcp_pages()).tolist() == (before.free_pages() + before.pcp_pages()).tolist()
    assert after.pcp_pages().sum() > before.pcp_pages().sum()  # this snapshot's lists took some
    free = (PageKind.FREE, PageKind.PCP)
    assert int(np.isin(after.kind, free).sum()) == int(np.isin(before.kind, free).sum())


def test_compaction_makes_order_9_blocks_in_normal(before, compacted):
    after, _vm, _ = compacted
    z = after.zone_names.index("Normal")
    assert before.nr_free[z, 9:].sum() == 0
    assert after.nr_free[z, 9:].sum() > 0
    assert unusable_free_index(after.nr_free[z], 9) < unusable_free_index(before.nr_free[z], 9) == 1000
    for zone in ("DMA", "DMA32"):  # nothing to move there: every page is free or reserved
        zz = after.zone_names.index(zone)
        assert after.nr_free[zz].tolist() == before.nr_free[zz].tolist()


def test_vmstat_deltas_under_kernel_names(compacted):
    _after, vm, _ = compacted
    assert tuple(vm) == KERNEL_VMSTAT_NAMES
    assert vm["pgmigrate_success"] > 0
    assert vm["compact_isolated"] >= vm["pgmigrate_success"]  # migrate and free sides both count
    assert vm["compact_migrate_scanned"] > 0 and vm["compact_free_scanned"] > 0
    assert vm["compact_stall"] == vm["compact_fail"] == vm["compact_success"] == 0  # not direct compaction


def test_result_meta_and_lru_drain(compacted):
    after, _vm, _ = compacted
    cm = after.meta["compact_memory"]
    assert cm["variant"] == "v6.18"
    assert cm["results"] == {"DMA": "complete", "DMA32": "complete", "Normal": "complete"}
    assert cm["lru_add_drained"] == 8  # the anonymous pages a per-CPU lru_add batch held
    assert after.meta["lru_add_pending"] == ()


def test_the_input_memory_is_left_alone(before, compacted):
    _after, _vm, (kind, nr_free, lru_next) = compacted
    assert (before.kind == kind).all() and (before.nr_free == nr_free).all() and (before.lru_next == lru_next).all()
    assert len(before.meta["lru_add_pending"]) == 8


def test_compacted_memory_is_consistent(compacted):
    after, _vm, _ = compacted
    after.check()
    Sim(after).check()
    text = mmkit.snapshot.buddyinfo(after)
    parsed = mmkit.snapshot.parse_buddyinfo(text)
    assert parsed["nr_free"].to_numpy().reshape(3, 11).tolist() == after.nr_free.tolist()
    lru = (after.flags[: after.nr_pages] >> pg.PG_lru) & 1 == 1
    assert (after.refcount[lru] >= 1).all()


def test_deterministic(before, compacted):
    after, vm, _ = compacted
    again, vm2 = compact_memory(before)
    assert vm2 == vm and (again.nr_free == after.nr_free).all() and (again.kind == after.kind).all()


def test_variant_must_be_the_memorys_own(before):
    with pytest.raises(ParameterError, match="from_snapshot") as e:
        compact_memory(before, variant="v4.8")
    assert str(FRAGMENTED) in str(e.value)


def test_synthetic_machine():
    mem = mmkit.Memory.synthetic(mib=64, variant="v4.8")
    sim = Sim(mem, seed=3)
    pfns = sim.anon(6000)
    sim.free(pfns[::2])
    out, vm = compact_memory(mem, variant="v4.8")  # its own variant, by name
    assert out.free_pages().tolist() == mem.free_pages().tolist()
    assert vm["pgmigrate_success"] > 0
    assert out.nr_free[:, 9:].sum() >= mem.nr_free[:, 9:].sum()
    with pytest.raises(ParameterError, match="synthetic"):
        compact_memory(mem, variant="v6.18")


def test_bad_memory():
    with pytest.raises(ParameterError, match="Memory"):
        compact_memory("data/fragmented")


def test_the_kernel_counter_names_are_this_machines_vmstat_items():
    """``KERNEL_VMSTAT_NAMES`` (the engine's counters less ``VMSTAT_MMKIT_OWN``) are items
    of a real /proc/vmstat (the bundled snapshot's, this machine's kernel), but for those
    of a config this kernel was built without; mmkit's own counters are not."""
    from pathlib import Path

    from mmkit.engine.state import VMSTAT_MMKIT_OWN

    real = {line.split()[0] for line in (Path(__file__).resolve().parents[1] / "data" / "fragmented" / "vmstat")
            .read_text().splitlines()}
    config_dependent = {"cma_alloc_success", "cma_alloc_fail"}  # CONFIG_CMA (mm/vmstat.c)
    assert set(KERNEL_VMSTAT_NAMES) - real <= config_dependent
    assert "compact_stall" in real and not VMSTAT_MMKIT_OWN & real
