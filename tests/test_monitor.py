"""The live monitor: the sampler against a fake /proc of real file text (root and not),
the bounded history, the snapshot series round trip, and the Monitor widget driven
programmatically (buttons, charts, stop latency, the compact_memory prediction)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from denied import deny_opens
from nobody import as_nobody

import mmkit.snapshot
from mmkit.errors import ParameterError, SnapshotError
from mmkit.metrics import History, sample_rows
from mmkit.snapshot import sampler
from mmkit.widgets import Monitor

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "linux-6.18-idle"
TEXTS = ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo")
LRU, SLAB, PGTABLE = 1 << 5, 1 << 7, 1 << 26


def _fake(tmp: Path, flags: np.ndarray | None = None) -> dict:
    proc = tmp / "proc"
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "sys" / "vm").mkdir()
    for name in TEXTS:
        shutil.copy(FIXTURE / name, proc / name)
    (proc / "sys" / "kernel" / "osrelease").write_text("6.18.0-fake\n")
    (proc / "sys" / "vm" / "compact_memory").write_text("")
    if flags is None:
        # DMA spans pfns 1..4095, pageblocks 0..7: block 0 LRU + slab, 1 LRU only, 2 slab
        # only, 3 page table + LRU, 4 LRU + slab in its last page; the rest free
        flags = np.full(8 * 512, 1 << 10, dtype="<u8")
        flags[0:10], flags[100] = LRU, SLAB
        flags[512:1024] = LRU
        flags[1024:1100] = SLAB
        flags[1536], flags[1537] = PGTABLE, LRU | (1 << 4)
        flags[2048], flags[2559] = LRU, SLAB
    flags.astype("<u8").tofile(proc / "kpageflags")
    np.zeros(flags.shape[0], dtype="<u8").tofile(proc / "kpagecount")
    dbg = tmp / "debug"
    (dbg / "extfrag").mkdir(parents=True)
    for name in ("extfrag_index", "unusable_index"):
        shutil.copy(FIXTURE / name, dbg / "extfrag" / name)
    return {"proc_root": proc, "debugfs_root": dbg}


@pytest.fixture
def fake(tmp_path):
    return _fake(tmp_path)


_deny = deny_opens


# ------------------------------------------------------------------ the sampler
def test_sample_reads_every_source_from_a_fake_proc(fake):
    s = mmkit.snapshot.sample(**fake)
    assert s.unavailable == {}
    assert set(s.status().values()) == {"read"}
    for name in ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat"):
        assert s.texts[name] == (FIXTURE / name).read_bytes()
    assert s.texts["unusable_index"] == (FIXTURE / "unusable_index").read_bytes()
    assert s.kernel_release == "6.18.0-fake"
    assert s.zone_names == ("DMA", "DMA32", "Normal") and s.nr_free.shape == (3, 11)
    assert s.pagetypeinfo.pageblock_order == 9 and s.vmstat.height > 100
    z = s.zones.filter(pl.col("zone") == "DMA").row(0, named=True)
    assert (z["start_pfn"], z["spanned"], z["min"]) == (1, 4095, 53)
    # blocks 0, 3 and 4 hold an LRU page and a slab or page-table page
    assert s.mixed.rows() == [(0, "DMA", 8, 3), (0, "DMA32", 2040, 0), (0, "Normal", 10752, 0)]


def test_mixed_count_is_the_same_read_in_chunks(tmp_path, monkeypatch):
    """The real idle machine's kpageflags, read in 8 MiB chunks and in 3-pageblock
    chunks, against the whole array counted at once."""
    flags = np.frombuffer(gzip.decompress((FIXTURE / "kpageflags.gz").read_bytes()), dtype="<u8")
    fake = _fake(tmp_path, flags)
    whole = flags[: flags.shape[0] // 512 * 512].reshape(-1, 512)
    mixed = (whole & LRU).any(axis=1) & (whole & (SLAB | PGTABLE)).any(axis=1)
    s = mmkit.snapshot.sample(**fake)
    zi = s.zones.filter(pl.col("present") > 0)
    want = [int(mixed[st >> 9: -(-(st + sp) // 512)].sum()) for st, sp in zi.select("start_pfn", "spanned").rows()]
    assert s.mixed["mixed_pageblocks"].to_list() == want and sum(want) > 0
    monkeypatch.setattr(sampler, "_CHUNK_PFNS", 3 * 512)
    assert mmkit.snapshot.sample(**fake).mixed.equals(s.mixed)


def test_kpageflags_is_read_at_most_a_tenth_of_the_time(fake, monkeypatch):
    import time as _time

    class Clock:  # the sampler's monotonic clock, stopped: how long a sample takes does not matter
        now = 1000.0
        time = staticmethod(_time.time)
        perf_counter = staticmethod(_time.perf_counter)

        @staticmethod
        def monotonic():
            return Clock.now

    monkeypatch.setattr(sampler, "time", Clock)
    sm = mmkit.snapshot.Sampler(**fake)
    first, second = sm.sample(), sm.sample()
    assert first.mixed is not None and first.kpageflags_seconds > 0
    assert second.mixed is None and second.kpageflags_next == pytest.approx(9 * first.kpageflags_seconds)
    assert second.status()["kpageflags"] == "not read this time"
    Clock.now += 10 * first.kpageflags_seconds  # nine times the read's duration has gone by
    assert sm.sample().mixed is not None
    every = mmkit.snapshot.Sampler(**fake, kpageflags_cost=1)
    assert every.sample().mixed is not None and every.sample().mixed is not None
    off = mmkit.snapshot.Sampler(**fake, kpageflags=False).sample()
    assert off.mixed is None and "kpageflags=False" in off.unavailable["kpageflags"]


def test_a_stop_cuts_the_kpageflags_read_short(fake):
    stop = threading.Event()
    stop.set()
    s = mmkit.snapshot.Sampler(**fake).sample(stop)
    assert s.mixed is None and s.buddyinfo.height == 33


def test_not_root_gives_what_the_world_readable_files_give(fake, monkeypatch):
    _deny(monkeypatch, ("pagetypeinfo", "kpageflags", "extfrag_index", "unusable_index"))
    s = mmkit.snapshot.sample(**fake)
    assert s.unavailable == {"pagetypeinfo": "needs root (0400 since 5.6)", "kpageflags": "needs root (0400)",
                             "extfrag_index": "needs root (debugfs is 0700)",
                             "unusable_index": "needs root (debugfs is 0700)"}
    assert s.status()["pagetypeinfo"] == "unavailable: needs root (0400 since 5.6)"
    assert s.pagetypeinfo is None and s.mixed is None
    assert s.vmstat is not None and s.zones is not None and s.nr_free.sum() > 0
    rows = sample_rows(s, 1)
    assert "pageblocks" not in rows["metric"].to_list() and "compact_stall" in rows["metric"].to_list()


def test_buddyinfo_is_required(fake, monkeypatch):
    _deny(monkeypatch, ("buddyinfo",))
    with pytest.raises(SnapshotError, match="cannot read .*buddyinfo"):
        mmkit.snapshot.sample(**fake)


def test_an_unparsable_optional_file_is_unavailable(fake):
    (fake["proc_root"] / "pagetypeinfo").write_text("nonsense\n")
    s = mmkit.snapshot.sample(**fake)
    assert s.unavailable["pagetypeinfo"].startswith("not understood") and "pagetypeinfo" not in s.texts


def test_sample_as_nobody_on_this_machine():
    code = "import json, mmkit.snapshot as s; x = s.sample(); print(json.dumps(x.status())); print(x.nr_free.sum())"
    r = subprocess.run(as_nobody() + [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd="/", env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": "/tmp"})
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout.splitlines()[0])
    assert status["buddyinfo"] == status["zoneinfo"] == status["vmstat"] == "read"
    assert status["pagetypeinfo"] == "unavailable: needs root (0400 since 5.6)"
    assert status["kpageflags"] == "unavailable: needs root (0400)"
    assert int(r.stdout.splitlines()[1]) > 0


# ------------------------------------------------------------------ the history
def test_history_is_bounded_and_exact(fake):
    sm = mmkit.snapshot.Sampler(**fake)
    h = History(max_samples=3)
    for _ in range(5):
        h.append(sm.sample())
    df = h.frame
    assert len(h) == 3 and sorted(df["seq"].unique().to_list()) == [3, 4, 5]
    assert df.schema == pl.Schema(mmkit.metrics.history.SCHEMA)
    # the indices are the kernel's: the debugfs file of the same moment, value for value
    kernel = mmkit.snapshot.parse_unusable_index((FIXTURE / "unusable_index").read_text())
    mine = df.filter((pl.col("seq") == 5) & (pl.col("metric") == "unusable_index"))
    assert mine["value"].to_list() == kernel["index"].to_list()
    frag = mmkit.snapshot.parse_extfrag_index((FIXTURE / "extfrag_index").read_text())
    assert df.filter((pl.col("seq") == 5) & (pl.col("metric") == "fragmentation_index"))["value"].to_list() == \
        frag["index"].to_list()
    blocks = df.filter((pl.col("seq") == 5) & (pl.col("metric") == "pageblocks") & (pl.col("zone") == "Normal"))
    assert dict(zip(blocks["type"], blocks["value"]))["Movable"] == 751
    assert set(df.filter(pl.col("metric") == "mixed_pageblocks")["seq"].to_list()) <= {3, 4, 5}
    with pytest.raises(ParameterError, match="max_samples"):
        History(0)


def test_save_and_load_series_round_trip(fake, tmp_path, monkeypatch):
    sm = mmkit.snapshot.Sampler(**fake)
    h = History(10)
    h.append(sm.sample())
    bi = fake["proc_root"] / "buddyinfo"
    bi.write_text(bi.read_text().replace("Normal   1091", "Normal   1000"))
    _deny(monkeypatch, ("pagetypeinfo",))
    h.append(sm.sample())
    out = h.save(tmp_path / "series")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["debug", "proc", "series"]  # nothing half-written
    assert not list(tmp_path.glob(".series.tmp-*"))
    s = mmkit.snapshot.load_series(out)
    assert len(s) == 2 and s.history.equals(h.frame)
    a, b = s.snapshots
    assert a.text("buddyinfo") == (FIXTURE / "buddyinfo").read_text()
    assert b.nr_free[2, 0] == 1000 and b.meta["missing"] == {"pagetypeinfo": "needs root (0400 since 5.6)"}
    assert a.has("pagetypeinfo") and not b.has("pagetypeinfo") and a.pageblock_order == 9
    assert mmkit.metrics.check(a) == ("extfrag_index", "unusable_index")
    assert s.times == [r["time"] for r in h.records()]
    with pytest.raises(SnapshotError, match="already exists"):
        h.save(out)
    h.save(out, overwrite=True)
    with pytest.raises(SnapshotError, match="not a snapshot series"):
        mmkit.snapshot.load_series(tmp_path)


# ------------------------------------------------------------------ the widget
def _shown(out) -> str:
    (item,) = out.outputs
    return item["data"]["text/html"]


def _spec(out) -> dict:
    return json.loads(_shown(out).split("var spec=", 1)[1].split(";function draw()", 1)[0])


def test_monitor_buttons_draw_and_stop_within_a_second(fake):
    mon = Monitor(interval=0.2, max_samples=5, **fake)
    assert not mon.running and mon.samples == 0
    mon.sample_button.click()
    assert mon.samples == 1 and "vegaEmbed" in _shown(mon.outputs["free"])
    assert "window.vegaEmbed" in mon._loader.outputs[0]["data"]["text/html"]
    before = _spec(mon.outputs["free"])
    bi = fake["proc_root"] / "buddyinfo"
    bi.write_text(bi.read_text().replace("Normal   1091", "Normal   5000"))
    mon.start_button.click()
    assert mon.running and mon.start_button.disabled and not mon.stop_button.disabled
    deadline = time.monotonic() + 20
    while mon.samples < 5 or mon.history["seq"].max() < 7:
        assert time.monotonic() < deadline, mon.status.value
        time.sleep(0.05)
    t0 = time.perf_counter()
    mon.stop_button.click()
    took = time.perf_counter() - t0
    assert took < 1.0 and not mon.running and "stopped" in mon.status.value
    n = mon.history["seq"].max()
    time.sleep(0.5)
    assert mon.history["seq"].max() == n  # nothing samples any more
    assert mon.samples == 5  # the ring's bound
    after = _spec(mon.outputs["free"])
    assert after["datasets"] != before["datasets"]  # the chart follows the machine
    # the other tabs draw when picked; the view controls redraw
    for i, name in enumerate(("indices", "pageblocks", "compaction")):
        mon.tabs.selected_index = i + 1
        assert "vegaEmbed" in _shown(mon.outputs[name])
    mon.tabs.selected_index = 1
    mon.controls["order"].value = 3
    assert "order 3" in _spec(mon.outputs["indices"])["title"]["text"]
    mon.tabs.selected_index = 0
    mon.controls["zone"].value = "Normal"
    assert "zone Normal" in " ".join(_spec(mon.outputs["free"])["vconcat"][0]["title"]["subtitle"])
    for chart in mon.build_charts().values():
        chart.to_dict(validate=True)


def test_monitor_without_root_shows_what_is_unavailable(fake, monkeypatch):
    _deny(monkeypatch, ("pagetypeinfo", "kpageflags", "kpagecount"))
    mon = Monitor(**fake)
    mon.sample()
    assert "pagetypeinfo: needs root (0400 since 5.6)" in mon.sources.value
    assert mon.unavailable["kpageflags"] == "needs root (0400)"
    mon.tabs.selected_index = 2
    text = _shown(mon.outputs["pageblocks"])
    assert "pagetypeinfo: needs root (0400 since 5.6)" in text and "kpageflags: needs root (0400)" in text
    # the prediction needs the page arrays: the button says so, nothing raises
    mon.tabs.selected_index = 4
    mon.predict_button.click()
    mon._predict_thread.join(30)
    assert "kpageflags: needs root (0400)" in mon.predict_status.value
    assert mon.prediction is None and not mon.predict_button.disabled


def test_monitor_save_button_writes_a_series(fake, tmp_path):
    mon = Monitor(**fake)
    with pytest.raises(ParameterError, match="no samples"):
        mon.save(tmp_path / "none")
    mon.sample()
    mon.sample()
    mon.controls["path"].value = str(tmp_path / "s")
    mon.save_button.click()
    assert "saved 2 samples" in mon.status.value
    assert len(mmkit.snapshot.load_series(tmp_path / "s")) == 2
    mon.save_button.click()  # the folder exists now: said in the status line, not raised
    assert "already exists" in mon.status.value


def test_bad_arguments():
    with pytest.raises(ParameterError, match="interval"):
        Monitor(interval=0)
    with pytest.raises(ParameterError, match="order"):
        Monitor(order=11)
    with pytest.raises(ParameterError, match="kpageflags"):
        mmkit.snapshot.Sampler(kpageflags="yes")


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/proc/kpageflags"), reason="needs root")
def test_stop_within_a_second_while_reading_this_machines_kpageflags():
    """kpageflags read at every sample (about half a second on 24 GiB): Stop still ends
    the thread within a second."""
    mon = Monitor(interval=0.2)
    mon.sampler.kpageflags_cost = 1.0
    mon.start()
    deadline = time.monotonic() + 60  # the first sample (slow on a loaded machine)
    while mon.samples < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next kpageflags read
    took = mon.stop()
    assert took < 1.0 and not mon.running
    assert mon.samples >= 1 and mon.history.filter(pl.col("metric") == "mixed_pageblocks").height > 0


@pytest.mark.slow  # the slow tier: a real compaction
def test_predict_on_a_fake_machine_and_run_the_real_one_there(tmp_path):
    """The prediction on the real idle machine's files (a fake /proc of them: nothing
    here touches this machine), and the real path writing that /proc's compact_memory."""
    flags = np.frombuffer(gzip.decompress((FIXTURE / "kpageflags.gz").read_bytes()), dtype="<u8")
    fake = _fake(tmp_path, flags)
    counts = np.frombuffer(gzip.decompress((FIXTURE / "kpagecount.gz").read_bytes()), dtype="<u8")
    counts.tofile(fake["proc_root"] / "kpagecount")
    mon = Monitor(**fake)
    mon.tabs.selected_index = 4
    p = mon.predict()
    states = p["state"].unique(maintain_order=True).to_list()
    assert states == ["now (captured)", "predicted by compact_memory (v6.18)"]
    now = p.filter(pl.col("state") == states[0])
    assert now.filter(pl.col("zone") == "Normal")["nr_free"].to_list() == [1091, 774, 466, 227, 97, 244, 211, 142,
                                                                            76, 0, 242]
    pred = p.filter(pl.col("state") == states[1])
    pages = lambda d: int((d["nr_free"] * 2 ** d["order"]).sum())  # noqa: E731
    # compaction moves pages and frees none, but the pages migration frees go to the
    # compacting CPU's per-CPU list (CPU 0: zoneinfo's high 5035), out of buddyinfo as in
    # the kernel; and the rebuild is close to, not exactly, the captured free lists
    lost = pages(now) - pages(pred)
    assert -pages(now) // 1000 < lost <= 5035 + pages(now) // 1000
    assert pred.filter(pl.col("order") >= 9)["nr_free"].sum() >= now.filter(pl.col("order") >= 9)["nr_free"].sum()
    assert "pgmigrate_success" in mon.prediction_vmstat["counter"].to_list()
    assert "vegaEmbed" in _shown(mon.outputs["prediction"]) and "free pages" in mon.prediction_table.value
    assert (fake["proc_root"] / "sys" / "vm" / "compact_memory").read_text() == ""
    # the real one, confirmed: here it writes the fake /proc's file, then samples again
    if os.geteuid() == 0:
        mon.controls["real"].value = True
        mon.predict_button.click()
        mon._predict_thread.join(120)
        assert (fake["proc_root"] / "sys" / "vm" / "compact_memory").read_text() == "1\n"
        assert mon.prediction["state"].unique(maintain_order=True).to_list()[-1] == "after the real compact_memory"
        assert "real" in mon.prediction_vmstat.columns and mon.controls["real"].value is False
        assert mon.samples == 1
