"""mmkit.replay: a recorded trace's allocations and frees run under each variant's rules
(mmkit/trace/replay.py, mmkit/engine/replay.py; docs/modelling.md "Replaying a trace").

Traces here are written by hand beside the bundled snapshots (data/idle), so each
inference is tested on events whose answer is known; the bundled real trace is replayed
at the end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mmkit
from mmkit.engine import replay as R
from mmkit.engine.sim import Sim
from mmkit.errors import Interrupted, ParameterError, TraceError
from mmkit.model.kinds import PageKind
from mmkit.from_snapshot import build_memory
from mmkit.trace import events as tev
from mmkit.trace.replay import replay_ops

ROOT = Path(__file__).resolve().parents[1]
IDLE = ROOT / "data" / "idle"
SAMPLE = ROOT / "data" / "trace-sample"

ANON = 1314250  # GFP_HIGHUSER_MOVABLE | __GFP_ZERO | __GFP_COMP (vma_alloc_zeroed_movable_folio)
FILE = 1051850  # GFP_HIGHUSER_MOVABLE (page cache)
KERNEL = 3264  # GFP_KERNEL
COMP = 262144  # __GFP_COMP


@pytest.fixture(scope="module")
def idle_mem():
    return build_memory(IDLE, "v6.18")


def free_pfns(mem, n: int, order: int = 0) -> list[int]:
    """``n`` pfns of free blocks' heads in the Normal zone, aligned to ``order``."""
    z = mem.zone_names.index("Normal")
    k = mem.kind[mem.zone_start[z]:mem.zone_end[z]]
    free = np.flatnonzero(k == PageKind.FREE) + int(mem.zone_start[z])
    free = free[(free & ((1 << order) - 1)) == 0]
    out = []
    for p in free.tolist():
        if (mem.kind[p:p + (1 << order)] == PageKind.FREE).all() and (not out or p >= out[-1] + (1 << order)):
            out.append(p)
        if len(out) == n:
            break
    assert len(out) == n
    return out


def alloc(ts, pfn, order=0, gfp=FILE, mt=1, cpu=0, pid=100):
    return {"ts_ns": ts, "cpu": cpu, "event": "mm_page_alloc", "pid": pid, "pfn": pfn, "order": order,
            "gfp_flags": gfp, "migratetype": mt}


def free(ts, pfn, order=0, cpu=0, pid=100):
    return {"ts_ns": ts, "cpu": cpu, "event": "mm_page_free", "pid": pid, "pfn": pfn, "order": order}


def other(ts, event, pid=100, cpu=0):
    return {"ts_ns": ts, "cpu": cpu, "event": event, "pid": pid}


def write_trace(path: Path, rows: list[dict], *, start=IDLE, end=IDLE, **meta) -> Path:
    """A trace folder as mmkit trace record writes one, from event rows."""
    path.mkdir(parents=True)
    shutil.copytree(start, path / "start")
    shutil.copytree(end, path / "end")
    sch = tev.schema()
    cols = {c: [r.get(c) for r in rows] for c in sch}
    df = pl.DataFrame(cols, schema={c: (pl.String if c == "event" else t) for c, t in sch.items()})
    df = df.with_columns(pl.col("event").cast(tev.event_dtype())).sort("ts_ns", maintain_order=True)
    df.write_parquet(path / "events.parquet")
    last = max((r["ts_ns"] for r in rows), default=0)
    m = {"format": "mmkit-trace", "format_version": 1, "kernel_release": "6.18.44-fc-v595", "cpus": [0, 1],
         "events": df.height, "lost_total": 0,
         "times_ns": {"start_snapshot_begin_ns": 0, "start_snapshot_end_ns": 0, "record_end_ns": last + 1,
                      "end_snapshot_end_ns": last + 1}}
    m.update(meta)
    (path / "meta.json").write_text(json.dumps(m))
    return path


def free_total(mem) -> int:
    return int((mem.nr_free << np.arange(mem.nr_free.shape[1])).sum())


def run_one(path, variant="v6.18", **kw):
    res = mmkit.replay(path, [variant], tick_ms=kw.pop("tick_ms", 1.0), **kw)
    return res, res.info["replay"][variant]


# ---------------------------------------------------------------- inferences
def test_allocs_then_frees_balance(tmp_path, idle_mem):
    """Every replayed allocation freed by its real pfn: the free pages end where they
    started, in every variant, whatever pfns the simulation chose."""
    pfns = free_pfns(idle_mem, 300)
    rows = [alloc(1000 + i, p, gfp=FILE if i % 3 else ANON) for i, p in enumerate(pfns)]
    big = [q for q in free_pfns(idle_mem, 400, 2) if q > max(pfns)][0]  # apart from the order-0 pfns
    rows += [alloc(2000, big, order=2, gfp=KERNEL | COMP, mt=0)]
    rows += [free(5000 + i, p) for i, p in enumerate(pfns)]
    rows += [free(9000, rows[300]["pfn"], order=2)]
    path = write_trace(tmp_path / "t", rows)
    res = mmkit.replay(path, ["v4.5", "v4.8", "v6.18"], tick_ms=0.001)
    for v in ("v4.5", "v4.8", "v6.18"):
        c = res.info["replay"][v]
        assert c["allocs"] == 301 and c["frees"] == 301, c
        assert c["free_unknown"] == c["alloc_failed"] == c["free_reclaimed"] == 0, c
        tl = res.timeline.filter(pl.col("variant") == v)
        assert tl["used_pages"][-1] == tl["used_pages"][0], v  # free pages may sit on per-CPU lists
    # the middle of the run holds the 304 pages
    mid = res.timeline.filter((pl.col("variant") == "v6.18"))
    assert mid["used_pages"].max() - mid["used_pages"][0] == 304


def test_free_of_a_start_page_frees_it(tmp_path, idle_mem):
    """A free of a page the start snapshot shows allocated frees that page here."""
    n = idle_mem.nr_pages
    anon = np.flatnonzero((idle_mem.kind == PageKind.ANON) & (idle_mem.lru_next[:n] > -2)
                          & ((idle_mem.flags >> 15) & 1 == 0))[:5]  # order-0 anonymous pages
    rows = [free(100 + i, int(p)) for i, p in enumerate(anon)]
    path = write_trace(tmp_path / "t", rows + [alloc(50, free_pfns(idle_mem, 1)[0])])
    res, c = run_one(path)
    assert c["frees"] == 5 and c["allocs"] == 1, c
    mem = res.memories["v6.18"]
    assert all(mem.kind[int(p)] in (PageKind.FREE, PageKind.PCP) for p in anon)


def test_unknown_free_and_failed_real_alloc_are_counted(tmp_path, idle_mem):
    p = free_pfns(idle_mem, 1)[0]
    rows = [free(10, p), alloc(20, None, order=9, gfp=ANON), alloc(30, p), free(40, p)]
    res, c = run_one(write_trace(tmp_path / "t", rows))
    assert c["free_unknown"] == 1 and c["allocs"] == 1 and c["frees"] == 1
    assert res.info["trace"]["real_failed_allocs_by_order"] == {9: 1}


def test_partial_free_splits_the_object(tmp_path, idle_mem):
    """An order-3 block without __GFP_COMP freed as eight order-0 pages (split_page),
    and a compound page-cache folio freed in halves: each split once, all pages freed."""
    a, b = free_pfns(idle_mem, 2, 3)
    rows = [alloc(10, a, order=3, gfp=KERNEL, mt=0), alloc(11, b, order=3, gfp=FILE | COMP)]
    rows += [free(20 + i, a + i) for i in range(8)]
    rows += [free(40, b, order=2), free(41, b + 4, order=2)]
    res, c = run_one(write_trace(tmp_path / "t", rows))
    assert c["free_split"] == 2, c
    assert c["frees"] == 8 + 8 and c["free_unknown"] == 0, c
    tl = res.timeline
    assert tl["used_pages"][-1] == tl["used_pages"][0]
    sim_check(res)


def sim_check(res):
    for name, mem in res.memories.items():
        Sim(mem).check()


def test_migration_source_becomes_an_orphan(tmp_path, idle_mem):
    """A free inside a task's compaction is a migration's source: the object lives on,
    and the next free of an unknown pfn of its order frees it."""
    p, dst = free_pfns(idle_mem, 2)
    rows = [alloc(10, p), other(20, "mm_compaction_begin", pid=7), free(21, p, pid=7),
            other(22, "mm_compaction_end", pid=7), free(30, dst)]
    res, c = run_one(write_trace(tmp_path / "t", rows))
    assert c["migrated"] == 1 and c["orphan_freed"] == 1 and c["free_unknown"] == 0, c
    tl = res.timeline
    assert tl["used_pages"][-1] == tl["used_pages"][0]
    # the same free outside a compaction window frees the object at once
    rows[2]["pid"] = 8
    res, c = run_one(write_trace(tmp_path / "u", rows))
    assert c["migrated"] == 0 and c["frees"] == 1 and c["free_unknown"] == 1, c


def test_deferred_init_frees_give_the_frames_to_the_buddy(tmp_path, idle_mem):
    """Frames the start snapshot shows not initialised (deferred struct page init) that
    the real kernel frees (__free_pages_core) join the buddy here too, their pageblocks
    MIGRATE_MOVABLE."""
    n = idle_mem.nr_pages
    un = idle_mem.kind[:n] == PageKind.UNINIT
    heads = [p for p in np.flatnonzero(un[::1024]) * 1024 if un[p:p + 1024].all()]
    assert len(heads) >= 2, "data/idle has frames not initialised yet"
    p = free_pfns(idle_mem, 1)[0]
    rows = [free(10, int(heads[0]), order=10), free(11, int(heads[1]), order=10), alloc(12, p), free(13, p)]
    res, c = run_one(write_trace(tmp_path / "t", rows))
    assert c["deferred_init_pages"] == 2048 and c["free_unknown"] == 0 and c["frees"] == 1, c
    mem = res.memories["v6.18"]
    for h in heads[:2]:
        assert np.isin(mem.kind[h:h + 1024], [PageKind.FREE, PageKind.PCP]).all()
        assert ((mem.pb_flags[h >> 9:(h >> 9) + 2] & 7) == 1).all()  # MIGRATE_MOVABLE
    def free_frames(m):
        return int(np.isin(m.kind[:n], [PageKind.FREE, PageKind.PCP]).sum())

    assert free_frames(mem) - free_frames(idle_mem) == 2048
    assert res.timeline["used_pages"][-1] == res.timeline["used_pages"][0]
    sim_check(res)


def test_objects_followed_through_compaction():
    """Objects moved by this simulation's compaction are freed where they went."""
    mem = mmkit.Memory.synthetic(gib=0.125, variant="v6.18")
    sim = Sim(mem, 0)
    real2oid, obj_order, free_ids, orphans, rc = R.begin_replay(sim)
    obj_page = sim.S.obj_page
    n = 4000
    real = np.arange(n, dtype=np.int64) * 3 + 7  # any distinct real pfns
    zone_hi = mem.nr_zones - 1
    pk = R.pack(R.OP_ALLOC, 0, int(PageKind.FILE), 1, zone_hi, 0, 0, 0)
    ops = np.stack([np.zeros(n, dtype=np.int64), real, np.full(n, pk)], axis=1)
    R.replay_ticks(sim.A, sim.vc, sim.S, ops, 0, 0, 1, real2oid, obj_order, free_ids, orphans, rc, 5, 100_000_000)
    assert rc[R.RC_ALLOCS] == n
    before = obj_page[real2oid[real]].copy()
    # free every other object: holes for compaction to fill
    fk = R.pack(R.OP_FREE, 0, 0, 0, 0, 0, 0, 0)
    ops = np.stack([np.ones(n // 2, dtype=np.int64), real[::2], np.full(n // 2, fk)], axis=1)
    R.replay_ticks(sim.A, sim.vc, sim.S, ops, 0, 1, 2, real2oid, obj_order, free_ids, orphans, rc, 5, 100_000_000)
    sim.compact_zone(order=-1)
    assert sim.vmstat["pgmigrate_success"] > 0
    live = real[1::2]
    moved = obj_page[real2oid[live]] != before[1::2]
    assert moved.sum() > 0  # objects did move
    for oid in real2oid[live]:
        p = obj_page[oid]
        assert mem.kind[p] == PageKind.FILE and (mem.mapping[p] >> 2) == oid + 16
    ops = np.stack([np.full(live.shape[0], 2, dtype=np.int64), live, np.full(live.shape[0], fk)], axis=1)
    R.replay_ticks(sim.A, sim.vc, sim.S, ops, 0, 2, 3, real2oid, obj_order, free_ids, orphans, rc, 5, 100_000_000)
    assert rc[R.RC_FREES] == n and rc[R.RC_FREE_RECLAIMED] == 0 and rc[R.RC_FREE_UNKNOWN] == 0
    sim.check()


def test_request_classes_from_gfp(tmp_path, idle_mem):
    """Kind, zone and gfp class come from the mask, with the trace's own gfp names."""
    pfns = free_pfns(idle_mem, 5)
    dma32 = 4
    rows = [alloc(1, pfns[0], gfp=ANON), alloc(2, pfns[1], gfp=FILE), alloc(3, pfns[2], gfp=KERNEL, mt=0),
            alloc(4, pfns[3], gfp=KERNEL | 16, mt=2), alloc(5, pfns[4], gfp=KERNEL | dma32, mt=0)]
    tr = mmkit.trace.load(write_trace(tmp_path / "t", rows))
    ro = replay_ops(tr, idle_mem, tick_ms=1)
    x = ro.ops[:, 2]
    kinds = ((x >> 16) & 0xFF).tolist()
    assert kinds == [PageKind.ANON, PageKind.FILE, PageKind.KERNEL, PageKind.SLAB_RECLAIMABLE, PageKind.KERNEL]
    zones = [idle_mem.zone_names[z] for z in ((x >> 32) & 0xFF).tolist()]
    assert zones == ["Normal", "Normal", "Normal", "Normal", "DMA32"]
    assert ro.info["kinds"] == {"anon": 1, "file": 1, "slab_reclaimable": 1, "kernel": 2}


# ---------------------------------------------------------------- bad input
def test_pfns_outside_the_snapshot_refuse_the_trace(tmp_path):
    rows = [alloc(10 + i, (1 << 40) + i) for i in range(10)]
    with pytest.raises(TraceError, match=r"outside the start snapshot's zones .*mm_page_alloc.*not of the same machine"):
        mmkit.replay(write_trace(tmp_path / "t", rows), ["v6.18"])


def test_snapshot_of_another_kernel_refuses_the_trace(tmp_path, idle_mem):
    path = write_trace(tmp_path / "t", [alloc(10, free_pfns(idle_mem, 1)[0])], kernel_release="6.1.0")
    with pytest.raises(TraceError, match=r"meta.json: the trace was recorded on kernel 6.1.0 but its start snapshot"):
        mmkit.replay(path, ["v6.18"])


def test_events_out_of_time_order_refuse_the_trace(tmp_path, idle_mem):
    p = free_pfns(idle_mem, 1)[0]
    path = write_trace(tmp_path / "t", [alloc(10, p), free(20, p)])
    df = pl.read_parquet(path / "events.parquet")
    df.reverse().write_parquet(path / "events.parquet")  # same rows, last first
    with pytest.raises(TraceError, match=r"events.parquet: events out of time order at row 1 \(mm_page_alloc at ts 10"):
        mmkit.replay(path, ["v6.18"])


def test_unknown_gfp_bits_and_lost_events_are_reported(tmp_path, idle_mem):
    p = free_pfns(idle_mem, 1)[0]
    path = write_trace(tmp_path / "t", [alloc(10, p, gfp=FILE | (1 << 40)), free(20, p)], lost_total=12)
    res, c = run_one(path)
    assert res.info["trace"]["unknown_gfp_bits"] == hex(1 << 40)
    assert res.info["trace"]["lost_events"] == 12
    assert c["allocs"] == 1 and c["frees"] == 1


def test_bad_arguments(tmp_path, idle_mem):
    path = write_trace(tmp_path / "t", [alloc(10, free_pfns(idle_mem, 1)[0])])
    with pytest.raises(ParameterError, match="tick_ms"):
        mmkit.replay(path, ["v6.18"], tick_ms=0)
    with pytest.raises(ParameterError, match="sample_every"):
        mmkit.replay(path, ["v6.18"], sample_every=0)
    with pytest.raises(ParameterError, match="trace: expected"):
        mmkit.replay(42)
    with pytest.raises(TraceError, match="no such trace folder"):
        mmkit.replay(tmp_path / "nothing")
    with pytest.raises(TraceError, match="no mm_page_alloc"):
        mmkit.replay(write_trace(tmp_path / "u", [free(10, 5)]), ["v6.18"])
    (tmp_path / "t" / "events.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(TraceError, match="events.parquet: cannot be read as parquet"):
        mmkit.replay(path, ["v6.18"])


def test_deterministic_and_stoppable(tmp_path, idle_mem):
    pfns = free_pfns(idle_mem, 200)
    rows = [alloc(i * 1000, p, gfp=ANON) for i, p in enumerate(pfns)]
    rows += [free(10**6 + i * 1000, p) for i, p in enumerate(pfns[::2])]
    path = write_trace(tmp_path / "t", rows)
    a = mmkit.replay(path, ["v4.8", "v6.18"], tick_ms=0.01)
    b = mmkit.replay(path, ["v4.8", "v6.18"], tick_ms=0.01)
    assert a.timeline.equals(b.timeline) and a.info["replay"] == b.info["replay"]
    for v in ("v4.8", "v6.18"):
        assert np.array_equal(a.memories[v].nr_free, b.memories[v].nr_free)
    # a variant's result does not depend on the variants run beside it
    c = mmkit.replay(path, ["v6.18"], tick_ms=0.01)
    assert c.timeline.equals(a.timeline.filter(pl.col("variant") == "v6.18"))
    assert np.array_equal(c.memories["v6.18"].nr_free, a.memories["v6.18"].nr_free)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Interrupted, match="replay stopped"):
        mmkit.replay(path, ["v6.18"], tick_ms=0.01, stop=stop)


def test_stop_in_the_middle_stops_within_a_second():
    """``stop`` set once the first events are done (Ctrl-C does the same through the
    wait loop): the replay ends within a second with the Result up to there."""
    import time

    stop = threading.Event()
    when = []

    def progress(done, total):
        if done >= total // 4 and not stop.is_set():
            when.append(time.perf_counter())
            stop.set()

    with pytest.raises(Interrupted, match="replay stopped at tick") as e:
        mmkit.replay(SAMPLE, ["v4.8", "v6.18"], progress=progress, stop=stop)
    assert when and time.perf_counter() - when[0] < 1.0
    part = e.value.partial
    at = part.info["stopped_at"]
    assert 0 < max(at.values()) and max(at.values()) < part.info["ticks"]
    assert part.timeline["tick"].max() <= max(at.values())


def test_cli(tmp_path, idle_mem):
    p = free_pfns(idle_mem, 1)[0]
    path = write_trace(tmp_path / "t", [alloc(10, p), free(20, p)])
    out = subprocess.run([sys.executable, "-m", "mmkit.cli", "replay", str(path), "--variants", "v6.18", "--json"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["replay"]["v6.18"]["allocs"] == 1 and doc["versus_real"][0]["variant"] == "v6.18"
    bad = subprocess.run([sys.executable, "-m", "mmkit.cli", "replay", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("mmkit: error:") and "Traceback" not in bad.stderr


# ---------------------------------------------------------------- the bundled real trace
@pytest.mark.skipif(not SAMPLE.exists(), reason="no bundled trace")
def test_bundled_trace_replays_close_to_the_real_end():
    res = mmkit.replay(SAMPLE, ["v6.18"])
    row = mmkit.versus_real(res).row(0, named=True)
    assert row["free_l1_share"] <= 0.10, row
    assert abs(row["unusable_9_sim"] - row["unusable_9_real"]) <= 0.05, row
    sim_check(res)
