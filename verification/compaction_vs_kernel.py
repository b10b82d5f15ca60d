"""mmkit's simulated full compaction against this machine's kernel doing the same.

How (run as root, from the repository root)::

    .venv/bin/python verification/compaction_vs_kernel.py /tmp/cvk/compaction.html
    # variants of the state: --drop-caches (no page-cache large folios from the file
    # churn), --sync (no dirty large folios); --reuse recomputes mmkit's side only;
    # --bundle DEST also writes the run as data/compaction-runs keeps it

1. Allocate and touch every buffer the captures need (two states of kpageflags and
   kpagecount, ~210 MB on a 24 GiB machine) before anything else, so that reading a state
   allocates nothing and the state read is the state compacted.
2. Fragment free memory as ``verification/capture_fragmented.py`` does (its functions
   are reused): ``--gib`` GiB anonymous with every other page freed, ``--files`` small
   files with every other one deleted, then transparent huge pages until ``--zone`` has
   no free block of order ``--eat-from`` or above.
3. Set ``vm.compaction_proactiveness`` to 0 for the run (kcompactd's proactive
   compaction would otherwise compact on its own between the reads; the old value is put
   back), wait until buddyinfo stops changing (at most 60 s), enable the compaction
   tracepoints in a tracefs instance of our own, read state A (buddyinfo, pagetypeinfo,
   zoneinfo, vmstat, meminfo, debugfs extfrag files, kpageflags, kpagecount; repeated
   until buddyinfo is the same before and after the arrays, at most 5 times), then at
   once ``echo 1 > /proc/sys/vm/compact_memory`` with /proc/vmstat read just before and
   just after, then state B the same way.
4. Release the memory and the files, write A and B as snapshot folders
   (``OUT/before``, ``OUT/after``) with the trace (``OUT/trace.txt``), rebuild A with
   ``mmkit.Memory.from_snapshot`` under v6.18 and run ``mmkit.compact.compact_memory``
   on it, on the CPU the kernel's compaction ran on (the trace's), with the per-CPU lists
   decayed once for each second the kernel's vmstat worker had between reading A and
   compacting, and between compacting and reading B (``decay_pcp_high``).
5. Print, per zone, free pages by order (before, kernel after, mmkit after, and their
   difference), the unusable free space index at order 9, how each zone's compact_zone
   ended (kernel: ``mm_compaction_end``; mmkit: its result), the LRU large folios of
   state A, and the vmstat deltas (pgmigrate_success, compact_migrate_scanned,
   compact_free_scanned, compact_isolated) real against simulated; write them to
   ``OUT/figures.json`` and one altair chart to the path given (HTML, and PNG beside it
   when vl-convert is installed).

``--live`` runs it on a busy machine: a second process keeps allocating and freeing
(anonymous mappings of 1-64 MiB, up to ``--live-mib`` held, and small files written and
deleted) from before state A until after state B, and state A is read without waiting
for buddyinfo to settle, then compacted at once.

Nothing is tuned to the run: the rebuild and the engine are the same for every state.
The machine is shared, so other processes allocate while the kernel compacts; the
comparison is of one run, not an average.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

PROC = Path("/proc")
DEBUGFS = Path("/sys/kernel/debug")
TEXTS = ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo")
DEBUGFS_TEXTS = ("extfrag_index", "unusable_index")
VMSTAT_COMPARED = ("pgmigrate_success", "compact_migrate_scanned", "compact_free_scanned", "compact_isolated")
VMSTAT_WATCHED = VMSTAT_COMPARED + ("pgmigrate_fail", "compact_stall", "compact_daemon_wake",
                                    "compact_daemon_migrate_scanned", "compact_daemon_free_scanned")
CHUNK = 1 << 23


def read_text(path: Path) -> bytes:
    with open(path, "rb", buffering=0) as f:
        out = []
        while True:
            b = f.read(1 << 20)
            if not b:
                return b"".join(out)
            out.append(b)


def vmstat() -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in read_text(PROC / "vmstat").decode().splitlines())}


class StateBuffers:
    """kpageflags and kpagecount read into buffers allocated and touched in advance."""

    def __init__(self, nr_pfns: int) -> None:
        self.size = nr_pfns * 8 + CHUNK
        self.bufs = {n: bytearray(self.size) for n in ("kpageflags", "kpagecount")}
        self.lens: dict[str, int] = {}

    def _read(self, name: str) -> None:
        view = memoryview(self.bufs[name])
        fd = os.open(PROC / name, os.O_RDONLY)
        n = 0
        try:
            while n < self.size:
                got = os.readv(fd, [view[n:n + CHUNK]])
                if not got:
                    break
                n += got
        finally:
            os.close(fd)
        if n >= self.size:
            raise SystemExit(f"/proc/{name} is larger than zoneinfo said; rerun")
        self.lens[name] = n

    def read(self) -> None:
        ts = [threading.Thread(target=self._read, args=(n,)) for n in self.bufs]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    def data(self, name: str) -> memoryview:
        return memoryview(self.bufs[name])[: self.lens[name]]


def small_group() -> dict[str, bytes]:
    files = {"buddyinfo": read_text(PROC / "buddyinfo")}
    for name in DEBUGFS_TEXTS:
        p = DEBUGFS / "extfrag" / name
        if p.exists():
            files[name] = read_text(p)
    for name in TEXTS[1:]:
        files[name] = read_text(PROC / name)
    return files


def settle(timeout: float = 60.0, quiet: int = 4, every: float = 0.5) -> float:
    """Wait until buddyinfo is the same for ``quiet`` reads ``every`` seconds apart (writeback,
    free page reporting and per-CPU list draining settle after the fragmenting), at most
    ``timeout`` seconds; returns the seconds waited."""
    t0 = time.monotonic()
    last, same = None, 0
    while time.monotonic() - t0 < timeout and same < quiet:
        cur = read_text(PROC / "buddyinfo")
        same = same + 1 if cur == last else 0
        last = cur
        time.sleep(every)
    return time.monotonic() - t0


class CompactionTrace:
    """The kernel's compaction tracepoints (mm_compaction_begin / _end / _migratepages) in a
    tracefs instance of our own, so each zone's compact_zone result can be read back."""

    EVENTS = ("compaction/mm_compaction_begin", "compaction/mm_compaction_end",
              "compaction/mm_compaction_migratepages", "compaction/mm_compaction_isolate_migratepages",
              "compaction/mm_compaction_isolate_freepages", "migrate/mm_migrate_pages")

    def __init__(self) -> None:
        root = next((p for p in (Path("/sys/kernel/tracing"), DEBUGFS / "tracing")
                     if (p / "instances").is_dir()), None)
        self.inst = None
        if root is None or not (root / "events/compaction").is_dir():
            return
        self.inst = root / "instances" / f"mmkit-cvk-{os.getpid()}"
        self.inst.mkdir()
        (self.inst / "buffer_size_kb").write_text("65536\n")
        for e in self.EVENTS:
            if (self.inst / "events" / e).is_dir():
                (self.inst / "events" / e / "enable").write_text("1\n")

    def text(self) -> str:
        return (self.inst / "trace").read_text() if self.inst else ""

    def close(self) -> None:
        if self.inst is not None:
            (self.inst / "tracing_on").write_text("0\n")
            for e in self.EVENTS:
                if (self.inst / "events" / e).is_dir():
                    (self.inst / "events" / e / "enable").write_text("0\n")
            os.rmdir(self.inst)
            self.inst = None


def zone_results(trace: str) -> list[dict]:
    """compact_zone's end of each zone from ``mm_compaction_end`` lines."""
    out = []
    for line in trace.splitlines():
        if "mm_compaction_end:" not in line:
            continue
        kv = dict(tok.split("=", 1) for tok in line.split("mm_compaction_end:", 1)[1].replace(",", " ").split()
                  if "=" in tok)
        out.append({k: (int(v, 16) if v.startswith("0x") else v) for k, v in kv.items()})
    return out


def read_state(bufs: StateBuffers, attempts: int = 5) -> tuple[dict[str, bytes], bool, int, float]:
    """The small files, then the arrays, then the small files again, until buddyinfo and
    the debugfs files are the same on both sides. Also returns when (``time.monotonic``)
    the kept attempt read its small files (zoneinfo's per-CPU counts among them)."""
    for i in range(1, attempts + 1):
        t = time.monotonic()
        before = small_group()
        bufs.read()
        after = small_group()
        if all(before.get(k) == after.get(k) for k in ("buddyinfo",) + DEBUGFS_TEXTS):
            return before, True, i, t
    return before, False, attempts, t


def write_snapshot(dest: Path, texts: dict[str, bytes], bufs: StateBuffers, meta: dict) -> None:
    dest.mkdir(parents=True)
    for name, data in texts.items():
        (dest / name).write_bytes(data)
    for name in ("kpageflags", "kpagecount"):
        with open(dest / f"{name}.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6,
                                                                   filename="", mtime=0) as f:
            f.write(bufs.data(name))
    meta = dict(meta, nr_pfns=bufs.lens["kpageflags"] // 8)
    (dest / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def nr_pfns_from_zoneinfo() -> int:
    import mmkit.snapshot

    zi = mmkit.snapshot.parse_zoneinfo(read_text(PROC / "zoneinfo").decode())
    ends = 0
    for (_n, _z), g in zi.filter(zi["scope"] == "zone").group_by(["node", "zone"]):
        kv = dict(zip(g["key"].to_list(), g["value"].to_list()))
        if "start_pfn" in kv:
            ends = max(ends, kv["start_pfn"] + kv["spanned"])
    return ends


# --------------------------------------------------------------------------- experiment
def live_load(stop, held_mib: int, scratch: str) -> None:
    """The busy machine of ``--live`` (a child process): anonymous mappings of 1-64 MiB,
    every page touched, freed at random once ``held_mib`` are held, and 4-64 KiB files
    written and deleted, until ``stop`` is set."""
    import mmap
    import random

    rng = random.Random(0x5EED)
    held: list[mmap.mmap] = []
    files: list[str] = []
    total = 0
    k = 0
    while not stop.is_set():
        size = rng.choice((1, 2, 4, 8, 16, 64)) << 20
        m = mmap.mmap(-1, size)
        for off in range(0, size, 4096):
            m[off] = 1
        held.append(m)
        total += size
        while total > held_mib << 20:
            old = held.pop(rng.randrange(len(held)))
            total -= len(old)
            old.close()
        for _ in range(8):
            name = os.path.join(scratch, f"live-{k}")
            k += 1
            with open(name, "wb") as f:
                f.write(os.urandom(rng.choice((4, 16, 64)) << 10))
            files.append(name)
            if len(files) > 2000:
                os.unlink(files.pop(rng.randrange(len(files))))
    for m in held:
        m.close()
    for name in files:
        os.unlink(name)


def run_kernel(args) -> dict:
    """Fragment, read A, compact, read B; returns the deltas and timings."""
    import capture_fragmented as cf

    if os.geteuid() != 0:
        raise SystemExit("run as root: kpageflags, pagetypeinfo and compact_memory are root-only")
    if not (DEBUGFS / "extfrag").is_dir() and not os.path.ismount(DEBUGFS):
        os.system(f"mount -t debugfs none {DEBUGFS}")
    n = nr_pfns_from_zoneinfo()
    state_a, state_b = StateBuffers(n), StateBuffers(n)
    proactive = PROC / "sys/vm/compaction_proactiveness"
    old_proactive = proactive.read_text().strip()
    scratch = Path(tempfile.mkdtemp(prefix="mmkit-cvk-", dir=args.out.resolve().parent))
    mm = eater = live = None
    try:
        t0 = time.monotonic()
        mm = cf.fragment_anon(args.gib)
        cf.churn_files(scratch, args.files)
        if args.drop_caches:
            os.sync()
            (PROC / "sys/vm/drop_caches").write_text("1\n")
        eater, n_thp = cf.eat_high_orders(args.zone, args.eat_from, args.max_thp)
        print(f"fragmented in {time.monotonic() - t0:.1f} s ({n_thp} huge pages)", file=sys.stderr)
        proactive.write_text("0\n")
        if args.sync:
            os.sync()
        if args.live:
            import multiprocessing as mp

            stop_live = mp.Event()
            live = mp.Process(target=live_load, args=(stop_live, args.live_mib, str(scratch)), daemon=True)
            live.start()
            time.sleep(2.0)  # let it get going
            waited = 0.0
        else:
            waited = settle()
        if args.sync:
            os.sync()
        tracer = CompactionTrace()
        texts_a, ok_a, tries_a, t_a = read_state(state_a)
        vm0 = vmstat()
        t1 = time.monotonic()
        (PROC / "sys/vm/compact_memory").write_text("1\n")
        t2 = time.monotonic()
        compact_seconds = t2 - t1
        vm1 = vmstat()
        texts_b, ok_b, tries_b, t_b = read_state(state_b)
        if live is not None:
            stop_live.set()
            live.join(60)
        trace = tracer.text()
        tracer.close()
        print(f"settled in {waited:.1f} s; compact_memory took {compact_seconds:.2f} s", file=sys.stderr)
    finally:
        if live is not None and live.is_alive():
            stop_live.set()
            live.join(60)
            if live.is_alive():
                live.kill()
        if "tracer" in locals():
            tracer.close()
        proactive.write_text(old_proactive + "\n")
        if mm is not None:
            mm.close()
        if eater is not None:
            eater.close()
        shutil.rmtree(scratch, ignore_errors=True)
    release = os.uname().release
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    base = {"format": "mmkit-snapshot", "format_version": 1, "kernel_release": release,
            "page_size": os.sysconf("SC_PAGE_SIZE"), "pageblock_order": 9, "captured_at": now,
            "source": "verification/compaction_vs_kernel.py"}
    write_snapshot(args.out / "before", texts_a, state_a, dict(base, consistent=ok_a, attempts=tries_a))
    write_snapshot(args.out / "after", texts_b, state_b, dict(base, consistent=ok_b, attempts=tries_b))
    deltas = {k: vm1.get(k, 0) - vm0.get(k, 0) for k in VMSTAT_WATCHED}
    (args.out / "trace.txt").write_text(trace)
    run = {"kernel_release": release, "gib": args.gib, "files": args.files, "drop_caches": args.drop_caches,
           "sync": args.sync, "live_mib": args.live_mib if args.live else 0,
           "huge_pages": n_thp, "settle_seconds": round(waited, 1), "compact_seconds": round(compact_seconds, 3),
           "seconds_a_to_compaction": round(t1 - t_a, 3), "seconds_compaction_to_b": round(t_b - t2, 3),
           "consistent": [ok_a, ok_b], "kernel_vmstat_delta": deltas, "kernel_zone_results": zone_results(trace),
           "compaction_cpu": compaction_cpu(args.out / "trace.txt")}
    (args.out / "kernel_run.json").write_text(json.dumps(run, indent=2) + "\n")
    return run


# --------------------------------------------------------------------------- comparison
def compare(args, run: dict) -> dict:
    import mmkit
    import mmkit.snapshot
    from mmkit.compact import compact_memory
    from mmkit.metrics import unusable_free_index
    from mmkit.from_snapshot import from_snapshot_report

    before = mmkit.snapshot.load(args.out / "before")
    after = mmkit.snapshot.load(args.out / "after")
    t0 = time.perf_counter()
    mem = mmkit.Memory.from_snapshot(before, variant="v6.18")
    build_s = time.perf_counter() - t0
    cpu = run.get("compaction_cpu")
    if cpu is None:  # runs recorded before kernel_run.json kept it
        cpu = compaction_cpu(args.out / "trace.txt")
    if cpu is not None and cpu < mem.cpus:
        mem.this_cpu[0] = cpu  # the pages migration frees go to this CPU's lists, as the kernel's did
    # the vmstat worker decays every CPU's per-CPU lists once a second (decay_pcp_high):
    # as many times as whole seconds passed between the reading of A and the compaction,
    # and between the compaction and the reading of B
    decays = (round(run.get("seconds_a_to_compaction", 0.0)), round(run.get("seconds_compaction_to_b", 0.0)))
    vmstat_seconds(mem, decays[0])
    rep = from_snapshot_report(before, mem)
    t0 = time.perf_counter()
    sim_mem, sim_vm = compact_memory(mem)
    sim_s = time.perf_counter() - t0
    vmstat_seconds(sim_mem, decays[1])

    kernel_after = {z: after.nr_free[i] for i, z in enumerate(after.zone_names)}
    kernel_before = {z: before.nr_free[i] for i, z in enumerate(before.zone_names)}
    shifts = np.arange(11)
    zones = []
    for z, name in enumerate(sim_mem.zone_names):
        if name not in kernel_after:
            continue
        ka, kb, sm = kernel_after[name], kernel_before[name], sim_mem.nr_free[z]
        pages_k, pages_s, pages_b = ka << shifts, sm << shifts, kb << shifts
        tot = max(int(pages_k.sum()), 1)
        zones.append({
            "zone": name,
            "free_pages_before": pages_b.tolist(), "free_pages_kernel": pages_k.tolist(),
            "free_pages_mmkit": pages_s.tolist(),
            "error_pages": (pages_s - pages_k).tolist(),
            "error_l1_pct": round(100.0 * float(np.abs(pages_s - pages_k).sum()) / tot, 2),
            "free_total_before": int(pages_b.sum()), "free_total_kernel": int(pages_k.sum()),
            "free_total_mmkit": int(pages_s.sum()),
            "unusable9_before": unusable_free_index(kb, 9), "unusable9_kernel": unusable_free_index(ka, 9),
            "unusable9_mmkit": unusable_free_index(sm, 9),
            "result": sim_mem.meta["compact_memory"]["results"].get(name),
            "scanners": sim_mem.meta["compact_memory"].get("scanners", {}).get(name),
        })
    kernel_end = {}
    zstart = {int(sim_mem.zone_start[z]): name for z, name in enumerate(sim_mem.zone_names)}
    for r in run.get("kernel_zone_results", []):
        name = zstart.get(r.get("zone_start"))
        if name:
            kernel_end[name] = {"status": r.get("status"), "migrate_pfn": r.get("migrate_pfn"),
                                "free_pfn": r.get("free_pfn"), "zone_end": r.get("zone_end")}
    for z in zones:
        z["kernel_end"] = kernel_end.get(z["zone"])
    vm_rows = []
    for k in VMSTAT_COMPARED:
        real, sim = run["kernel_vmstat_delta"][k], sim_vm.get(k, 0)
        vm_rows.append({"counter": k, "kernel": real, "mmkit": sim, "error": sim - real,
                        "error_pct": round(100.0 * (sim - real) / real, 1) if real else None})
    return {"run": run, "build_seconds": round(build_s, 3), "simulate_seconds": round(sim_s, 3), "cpu": cpu,
            "vmstat_decays": list(decays),
            "large_folios": large_folios(mem), "pcp_estimate": pcp_estimate_check(mem, before, after),
            "rebuild": {"buddyinfo_exact": rep.buddyinfo_exact, "roundtrip_pct": round(rep.roundtrip_pct, 3),
                        "roundtrip_frames_pct": round(rep.roundtrip_frames_pct, 3)},
            "zones": zones, "vmstat": vm_rows,
            "other_kernel_deltas": {k: v for k, v in run["kernel_vmstat_delta"].items() if k not in VMSTAT_COMPARED}}


def bundle(src: Path, dest: Path, run: dict, fig: dict) -> None:
    """The run as ``data/compaction-runs`` keeps it, about 0.3 MB: state A whole (its
    arrays zstd-compressed), state B's text files (the kernel's buddyinfo and vmstat after
    the compaction; without its arrays the per-CPU estimate check is left out),
    ``kernel_run.json`` with the CPU the kernel compacted on (instead of the trace), and
    the figures of this comparison (``figures.json``: what ``tests/test_kernel_runs.py``
    holds later versions to)."""
    import zstandard

    from mmkit.snapshot.arrays import find_array_file, read_u64_array

    if dest.exists():
        raise SystemExit(f"{dest} exists")
    for side in ("before", "after"):
        (dest / side).mkdir(parents=True)
        for f in sorted((src / side).iterdir()):
            if f.name.split(".")[0] in ("kpageflags", "kpagecount"):
                continue
            shutil.copyfile(f, dest / side / f.name)
    for name in ("kpageflags", "kpagecount"):
        data = read_u64_array(find_array_file(src / "before", name)).astype("<u8").tobytes()  # as /proc gave it
        (dest / "before" / f"{name}.zst").write_bytes(zstandard.ZstdCompressor(level=19).compress(data))
    run = dict(run, compaction_cpu=fig["cpu"])  # compare() took it from the run, or else from the trace
    (dest / "kernel_run.json").write_text(json.dumps(run, indent=2) + "\n")
    kept = {k: v for k, v in fig.items() if k not in ("build_seconds", "simulate_seconds")}
    (dest / "figures.json").write_text(json.dumps(kept, indent=2) + "\n")


def vmstat_seconds(mem, seconds: int) -> None:
    """``seconds`` runs of the vmstat worker's ``decay_pcp_high`` on every CPU and zone
    (v6.7+ variants; nothing for the others)."""
    from mmkit.engine.pcp import decay_pcp_high

    if not mem.variant.pcp_autotune:
        return
    A, vc = mem.arrays(), mem.variant.compile()
    for _ in range(max(int(seconds), 0)):
        for z in range(mem.nr_zones):
            for cpu in range(mem.cpus):
                decay_pcp_high(A, vc, z, cpu)


def compaction_cpu(trace_path: Path) -> int | None:
    """The CPU most of the kernel's compaction trace events ran on (ftrace's ``[NNN]``
    column), or None without a trace."""
    import re
    from collections import Counter

    if not trace_path.exists():
        return None
    cpus = Counter(int(m.group(1)) for m in re.finditer(r"\[(\d{3})\] \S+ +[\d.]+: mm_", trace_path.read_text()))
    return cpus.most_common(1)[0][0] if cpus else None


def pcp_estimate_check(mem, before, after) -> dict:
    """How well ``Memory.from_snapshot`` guessed which flagless pages of state A sat on
    per-CPU lists. A flagless, unmapped page of A that is a buddy page in B was free in
    A (compact_memory frees nothing of the kernel's own: it was a per-CPU page, unless a
    kernel allocation was freed meanwhile); ``recall`` is the share of those the estimate
    had picked, ``random`` what picking as many candidates at random would give."""
    from mmkit.model import kpf
    from mmkit.model.kinds import PageKind

    if not after.has("kpageflags"):
        return None  # a bundled run keeps state B's text files only
    n = mem.nr_pages
    fa, ca = before.kpageflags[:n], before.kpagecount[:n]
    fb = after.kpageflags[:n]
    cand = (fa == 0) & (ca == 0) & np.isin(mem.kind, (PageKind.KERNEL, PageKind.PCP))
    picked = mem.kind == PageKind.PCP
    freed = cand & ((fb >> kpf.KPF_BUDDY) & 1).astype(bool)
    nf, npk, nc = int(freed.sum()), int(picked.sum()), int(cand.sum())
    hit = int((freed & picked).sum())
    return {"candidates": nc, "picked": npk, "free_in_b": nf, "picked_and_free_in_b": hit,
            "recall": round(hit / nf, 3) if nf else None, "random": round(npk / nc, 3) if nc else None}


def large_folios(mem) -> dict:
    """The LRU large folios below pageblock order that 6.18's whole-zone compaction isolates
    (isolate_migratepages_block: skip_isolation_on_order lets them through when
    is_via_compact_memory), and those whose split would fail if no free block of their
    order is isolated for them: file folios with buffers (PG_private) that are dirty or
    under writeback, which filemap_release_folio cannot release."""
    from mmkit.model import flags as pg
    from mmkit.model.kinds import PAGEBLOCK_ORDER, PageKind

    heads = np.flatnonzero(((mem.flags >> pg.PG_head) & 1 & (mem.flags >> pg.PG_lru) & 1).astype(bool))
    orders = mem.private[heads + 1]
    keep = orders < PAGEBLOCK_ORDER
    heads, orders = heads[keep], orders[keep]
    f = mem.flags[heads]
    stuck = (mem.kind[heads] == PageKind.FILE) & ((f >> pg.PG_private) & 1 == 1) & \
        (((f >> pg.PG_dirty) & 1 == 1) | ((f >> pg.PG_writeback) & 1 == 1))
    return {"count_by_order": {int(o): int(c) for o, c in zip(*np.unique(orders, return_counts=True))},
            "pages": int((1 << orders.astype(np.int64)).sum()),
            "unsplittable": [(hex(int(h)), int(o)) for h, o in zip(heads[stuck][:8], orders[stuck][:8])],
            "unsplittable_count": int(stuck.sum())}


def print_tables(fig: dict) -> None:
    print(f"kernel {fig['run']['kernel_release']}: compact_memory took {fig['run']['compact_seconds']} s; "
          f"mmkit rebuilt state A in {fig['build_seconds']} s (buddyinfo exact: {fig['rebuild']['buddyinfo_exact']}, "
          f"kpageflags round trip {fig['rebuild']['roundtrip_frames_pct']}% of page frames) and compacted it in "
          f"{fig['simulate_seconds']} s")
    for z in fig["zones"]:
        print(f"\nzone {z['zone']}: free pages by order (before -> kernel after | mmkit after | mmkit - kernel)")
        print("order " + " ".join(f"{o:>9d}" for o in range(11)) + "      total")
        for label, key in (("before", "free_pages_before"), ("kernel", "free_pages_kernel"),
                           ("mmkit", "free_pages_mmkit"), ("error", "error_pages")):
            row = z[key]
            fmt = "{:>+9d}" if label == "error" else "{:>9d}"
            print(f"{label:<6}" + " ".join(fmt.format(v) for v in row) + f" {sum(row):>10d}")
        print(f"L1 error {z['error_l1_pct']}% of the kernel's free pages; unusable index at order 9: "
              f"before {z['unusable9_before'] / 1000:.3f}, kernel {z['unusable9_kernel'] / 1000:.3f}, "
              f"mmkit {z['unusable9_mmkit'] / 1000:.3f}")
        ke = z.get("kernel_end")
        kernel_status = (f"{ke['status']} (migrate scanner at {ke['migrate_pfn']:#x}, free scanner at "
                         f"{ke['free_pfn']:#x}, zone end {ke['zone_end']:#x})") if ke else "not traced"
        sc = z.get("scanners") or {}
        mmkit_status = z["result"] + (f" (migrate scanner at {sc['migrate_pfn']:#x}, free scanner at "
                                      f"{sc['free_pfn']:#x})" if sc else "")
        print(f"compact_zone ended: kernel {kernel_status}; mmkit {mmkit_status}")
    lf = fig["large_folios"]
    print(f"\nLRU large folios below pageblock order in state A: {sum(lf['count_by_order'].values())} "
          f"({lf['pages']} pages; by order {lf['count_by_order']}); dirty or writeback with buffers "
          f"(cannot be split when no free block of their order is isolated): {lf['unsplittable_count']}, "
          f"first {lf['unsplittable'][:4]}")
    pe = fig.get("pcp_estimate")
    if pe:
        print(f"\nper-CPU pages of state A (from_snapshot's estimate): picked {pe['picked']} of {pe['candidates']} "
              f"flagless pages; {pe['free_in_b']} flagless pages of A are buddy pages in B, of which the estimate "
              f"had picked {pe['picked_and_free_in_b']} (recall {pe['recall']}; picking at random: {pe['random']})")
    print("\nvmstat deltas of compact_memory      kernel      mmkit      error")
    for r in fig["vmstat"]:
        pct = f"{r['error_pct']:+.1f}%" if r["error_pct"] is not None else "n/a"
        print(f"  {r['counter']:<30} {r['kernel']:>10d} {r['mmkit']:>10d} {r['error']:>+10d} ({pct})")
    print("  other kernel deltas: " + ", ".join(f"{k} {v}" for k, v in fig["other_kernel_deltas"].items()))


def chart(fig: dict, path: Path) -> list[Path]:
    import altair as alt

    rows = []
    for z in fig["zones"]:
        for src, key in (("before (state A)", "free_pages_before"), ("kernel after", "free_pages_kernel"),
                         ("mmkit after", "free_pages_mmkit")):
            for o, v in enumerate(z[key]):
                rows.append({"zone": z["zone"], "order": o, "source": src, "free_pages": v})
    base = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        x=alt.X("order:O", title="order"),
        xOffset=alt.XOffset("source:N", sort=["before (state A)", "kernel after", "mmkit after"]),
        y=alt.Y("free_pages:Q", title="free pages"),
        color=alt.Color("source:N", sort=["before (state A)", "kernel after", "mmkit after"], title=None),
        tooltip=["zone:N", "order:O", "source:N", "free_pages:Q"],
    ).properties(width=420, height=220)
    c = base.facet(row=alt.Row("zone:N", title=None)).resolve_scale(y="independent").properties(
        title=f"echo 1 > /proc/sys/vm/compact_memory on {fig['run']['kernel_release']}: kernel vs mmkit (v6.18)")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [path.with_suffix(".html")]
    c.save(str(out[0]))
    if importlib.util.find_spec("vl_convert") is not None:
        out.append(path.with_suffix(".png"))
        c.save(str(out[1]), scale_factor=1.5)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chart", type=Path,
                    help="chart path (.html; a .png is written beside it if vl-convert is installed)")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for the two snapshots, the trace and figures.json (default: the chart's folder)")
    ap.add_argument("--gib", type=float, default=6.0)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--zone", default="Normal")
    ap.add_argument("--eat-from", type=int, default=9)
    ap.add_argument("--max-thp", type=int, default=512)
    ap.add_argument("--sync", action="store_true",
                    help="write back dirty page cache just before reading state A (dirty large folios with "
                         "buffers cannot be split, which can end the kernel's compaction early)")
    ap.add_argument("--drop-caches", action="store_true",
                    help="after the file churn, sync and drop the clean page cache (no large file folios left)")
    ap.add_argument("--live", action="store_true",
                    help="compact a busy machine: a second process allocates and frees throughout, and "
                         "state A is compacted as soon as it is read (no settling)")
    ap.add_argument("--live-mib", type=int, default=1024, help="anonymous memory --live holds at most (MiB)")
    ap.add_argument("--reuse", action="store_true",
                    help="compare the snapshots already in --out (kernel_run.json) instead of running the kernel")
    ap.add_argument("--bundle", type=Path, default=None, metavar="DEST",
                    help="also write the run in the form data/compaction-runs keeps (state A with its arrays "
                         "zstd-compressed, state B's text files, kernel_run.json, figures.json) to DEST")
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = args.chart.parent
    if args.reuse:
        run = json.loads((args.out / "kernel_run.json").read_text())
    else:
        if (args.out / "before").exists() or (args.out / "after").exists():
            print(f"{args.out}/before or after exists; remove them or pass --reuse", file=sys.stderr)
            return 2
        args.out.mkdir(parents=True, exist_ok=True)
        run = run_kernel(args)
    fig = compare(args, run)
    (args.out / "figures.json").write_text(json.dumps(fig, indent=2) + "\n")
    print_tables(fig)
    for p in chart(fig, args.chart):
        print(f"chart: {p}")
    if args.bundle is not None:
        bundle(args.out, args.bundle, run, fig)
        print(f"bundled: {args.bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
