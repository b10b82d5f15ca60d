"""The timeline's whole-memory counts (``sample``) against plain numpy recounts of the
page frames, and its KPF_BALLOON misreports against ``stable_page_flags``.

``sample`` reads the pageblocks' counts of frames by kind (``pb_nr_kind``, kept by the
engine) instead of the frames, and reads frames only where a balloon mark can be; these
tests count the same things the slow, obvious way."""

from __future__ import annotations

import numpy as np
import pytest

import mmkit
from mmkit.engine import workload as W
from mmkit.engine.predicates import TY_OFFLINE
from mmkit.engine.sim import Sim
from mmkit.errors import InvariantError
from mmkit.model.encodings import MAPPING_ID_BALLOON, PAGE_BALLOON_MAPCOUNT_VALUE
from mmkit.model.flags import PG_head, PG_private_2
from mmkit.model.kinds import PAGEBLOCK_ORDER, MigrateType, PageKind as K
from mmkit.model.memory import Memory
from mmkit.result import natural_migratetype
from mmkit.semantics import NAMED

BALLOONISH = [K.BALLOON, K.ZSMALLOC, K.KERNEL, K.RESERVED]


def oracle(mem: Memory, kp: np.ndarray) -> dict[str, int]:
    """The sample's counts from the frames: numpy over every page, no shortcut."""
    kind = mem.kind.astype(np.int64)
    nb = mem.nr_pageblocks
    block = np.arange(mem.nr_pages) >> PAGEBLOCK_ORDER
    nat = natural_migratetype(bool(mem.variant.zsmalloc_movable))
    frame = (kind != K.HOLE) & (kind != K.UNINIT)
    free = (kind == K.FREE) | (kind == K.ISOLATED_FREE) | (kind == K.PCP)
    used = frame & ~free & (kind != K.RESERVED)
    mt = nat[kind]
    unmov = used & (mt >= 0) & (mt != MigrateType.MOVABLE)
    bmt = (mem.pb_flags & 7).astype(np.int64)[block]
    mixing = used & (mt >= 0) & (mt != bmt) & ~((bmt == MigrateType.CMA) & (mt == MigrateType.MOVABLE))
    per = lambda a: np.bincount(block, weights=a, minlength=nb).astype(np.int64)  # noqa: E731
    nframes, nfree, nmix, nunmov = per(frame), per(free), per(mixing), per(unmov)
    has = nframes > 0
    movable = has & ((mem.pb_flags & 7) == MigrateType.MOVABLE)
    isb = ((kp >> np.uint64(23)) & np.uint64(1)).astype(bool)
    truth = kind == K.BALLOON
    return {
        "mixed": int((has & (nmix > 0)).sum()),
        "movable": int(movable.sum()),
        "mixed_movable": int((movable & (nmix > 0)).sum()),
        "free_blocks": int((has & (nfree == nframes)).sum()),
        "used": int(used.sum()),
        "unmovable": int(unmov.sum()),
        "touched": int((has & (nunmov > 0)).sum()),
        "balloon": int(truth.sum()),
        "zsmalloc": int((kind == K.ZSMALLOC).sum()),
        "fp": int((isb & ~truth & np.isin(kind, BALLOONISH)).sum()),
        "fn": int((~isb & truth).sum()),
    }


def sampled(sim: Sim) -> dict[str, int]:
    out = np.zeros(W.NR_SM, dtype=np.int64)
    W.sample(sim.A, sim.vc, sim.S, out)
    return {
        "mixed": out[W.SM_MIXED_BLOCKS], "movable": out[W.SM_MOVABLE_BLOCKS],
        "mixed_movable": out[W.SM_MIXED_MOVABLE_BLOCKS], "free_blocks": out[W.SM_FREE_BLOCKS],
        "used": out[W.SM_USED_PAGES], "unmovable": out[W.SM_UNMOVABLE_PAGES],
        "touched": out[W.SM_BLOCKS_TOUCHED_UNMOVABLE], "balloon": out[W.SM_BALLOON_PAGES],
        "zsmalloc": out[W.SM_ZSMALLOC_PAGES], "fp": out[W.SM_KPF_BALLOON_FALSE_POSITIVE], "fn": out[W.SM_KPF_BALLOON_FALSE_NEGATIVE],
    }


@pytest.mark.parametrize("workload", ["review-04", "balloon-vm", "zram-pressure", "cma"])
def test_sample_counts_equal_a_recount_of_the_frames(workload):
    r = mmkit.compare(workload=workload, variants=list(NAMED), gib=0.25, ticks=40, seed=5)
    fin = {row["variant"]: row for row in r.final().iter_rows(named=True)}
    for name, mem in r.memories.items():
        sim = Sim(mem, 0)  # recounts pb_nr_kind from the frames
        want = oracle(mem, sim.kpageflags())
        assert sampled(sim) == want, name
        # the run's last timeline row was sampled with the engine's running counts
        row = fin[name]
        assert (row["mixed_blocks"], row["used_pages"], row["zsmalloc_pages"], row["kpf_balloon_false_positive"],
                row["kpf_balloon_false_negative"]) == (want["mixed"], want["used"], want["zsmalloc"], want["fp"], want["fn"])
        # and the faults frame's KPF_BALLOON misreports (stable_page_flags' rule, by kind) add up to the same
        mis = r.faults.filter((r.faults["variant"] == name) & (r.faults["fault"] == "kpf_balloon_misreport"))
        assert int(mis["count"].sum()) == want["fp"] + want["fn"], name
        # the pageblocks frame (from the engine's counts) against the frames
        pb = r.pageblocks.filter(r.pageblocks["variant"] == name)
        counts, mixed = pageblock_oracle(mem)
        assert np.array_equal(np.stack([pb[k.name.lower()].to_numpy() for k in K], axis=1), counts), name
        assert np.array_equal(pb["mixed"].to_numpy(), mixed), name
        if workload in ("review-04", "zram-pressure"):
            assert mixed.any(), name  # the comparison above is not of two empty columns


def pageblock_oracle(mem: Memory) -> tuple[np.ndarray, np.ndarray]:
    """Each pageblock's frames by kind and whether it is mixed, from every frame."""
    kind = mem.kind.astype(np.int64)
    nb = mem.nr_pageblocks
    block = np.arange(mem.nr_pages) >> PAGEBLOCK_ORDER
    counts = np.bincount(block * len(K) + kind, minlength=nb * len(K)).reshape(nb, len(K))
    mt = natural_migratetype(bool(mem.variant.zsmalloc_movable))[kind]
    bmt = (mem.pb_flags & 7).astype(np.int64)[block]
    mixing = (mt >= 0) & (mt != bmt) & ~((bmt == MigrateType.CMA) & (mt == MigrateType.MOVABLE))
    return counts, np.bincount(block, weights=mixing, minlength=nb) > 0


@pytest.mark.parametrize("variant", list(NAMED))
def test_balloon_marks_anywhere_are_counted_as_kpageflags_reports_them(variant):
    """Marks the workloads rarely leave (a balloon _mapcount or page type on a kernel
    page, a movable mapping, PG_private_2, a marked compound head) on random frames of
    every kind: sample's false positives and negatives still equal stable_page_flags'."""
    sim = Sim(Memory.synthetic(mib=64, variant=variant), seed=2)
    sim.anon(3000)
    sim.file(2000)
    sim.kernel(400)
    heads = sim.kernel(40, order=2)
    sim.thp(4)
    sim.balloon_inflate(300)
    sim.zram_store(600)
    mem = sim.mem
    rng = np.random.default_rng(11)
    pfns = rng.choice(np.flatnonzero(mem.kind != K.HOLE), 3000, replace=False)
    for i, p in enumerate(pfns):
        what = i % 5
        if what == 0:
            mem.mapcount[p] = PAGE_BALLOON_MAPCOUNT_VALUE
        elif what == 1:
            mem.mapcount[p] = TY_OFFLINE
        elif what == 2:
            mem.mapping[p] = (MAPPING_ID_BALLOON << 2) | 2
        elif what == 3:
            mem.mapping[p] |= 2
            mem.flags[p] |= 1 << PG_private_2
        else:
            mem.mapcount[p] = -1  # a balloon page that lost its mark
    for h in heads[heads >= 0][:10]:
        mem.mapcount[h] = TY_OFFLINE  # a compound head: in the page-type era its tails read as it
        mem.flags[h] |= 1 << PG_head
    assert sampled(sim) == oracle(mem, sim.kpageflags())


def test_check_finds_a_pageblock_count_out_of_step():
    sim = Sim(Memory.synthetic(mib=64, variant="v4.8"), seed=1)
    pfn = int(sim.anon(1)[0])
    sim.check()
    sim.mem.kind[pfn] = K.FILE  # behind the engine's back
    with pytest.raises(InvariantError, match=f"pageblock {pfn >> PAGEBLOCK_ORDER}: pb_nr_kind"):
        sim.check()


def test_a_memory_with_a_kind_outside_pagekind_is_refused():
    mem = Memory.synthetic(mib=64, variant="v4.8")
    mem.kind[77] = 40
    with pytest.raises(InvariantError, match="kind 40, outside PageKind"):
        Sim(mem, 0)
