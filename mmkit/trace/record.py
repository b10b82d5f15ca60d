"""``mmkit.trace.record``: a start snapshot, the page allocator's events from per-CPU
ring buffers, an end snapshot; written into a new folder atomically.

While recording, one thread per CPU reads that CPU's ``trace_pipe_raw`` (non-blocking,
up to 64 pages per ``readv``; the kernel hands out whole pages) and appends the pages
to a file; nothing is decoded until tracing is off. Then the pages are decoded with
numpy (:mod:`mmkit.trace.decode`) into ``events.parquet``.

Layout of the timeline (all times CLOCK_MONOTONIC ns, the trace clock ``mono``):
tracing on -> start snapshot -> ``seconds`` of recording -> end snapshot -> tracing off.
Tracing runs through both captures, so no event falls between a snapshot and the trace;
``meta.json`` gives each boundary so replay can cut the stream at the start snapshot.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmkit.errors import Interrupted, MmkitError, ParameterError, TraceError, TracingUnavailableError
from mmkit.snapshot.live import install_folder
from mmkit.trace import events as ev
from mmkit.trace.decode import CpuPages, decode
from mmkit.trace.formats import parse_event_format, parse_header_event, parse_header_page
from mmkit.trace.tracefs import Session

__all__ = ["FORMAT_VERSION", "RecordInfo", "record"]

FORMAT_VERSION = 1
EVENTS_FILE = "events.parquet"
META_FILE = "meta.json"
READV_PAGES = 64


@dataclass
class RecordInfo:
    """What :func:`record` did: where, how many events, how fast, and what was lost.

    ``lost`` is per CPU (the kernel's counts: ``dropped_events`` and ``overrun`` from
    ``per_cpu/cpuN/stats``, ``pages_missed`` pages flagged ``RB_MISSED_EVENTS`` and
    ``missed_stored`` the counts those pages carry); ``lost_total`` sums the kernel's
    ``dropped_events + overrun`` over CPUs (0 for a complete trace)."""

    path: Path
    events: int
    seconds: float  # tracing on -> off
    record_rate: float  # events per second of tracing
    parse_seconds: float
    parse_rate: float  # events decoded per second
    raw_bytes: int
    buffer_kb: int
    cpus: list[int]
    lost: dict[int, dict[str, int]]
    lost_total: int
    missing: dict[str, str] = field(default_factory=dict)  # event -> why it was not recorded
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        lost = ", ".join(f"cpu{c}: {d['dropped_events'] + d['overrun']}" for c, d in self.lost.items())
        return (f"recorded {self.path}: {self.events} events in {self.seconds:.1f} s ({self.record_rate:,.0f}/s), "
                f"decoded at {self.parse_rate:,.0f}/s; lost {self.lost_total} ({lost})")


SHM = Path("/dev/shm")
SHM_MIN_FREE = 2 << 30


def _raw_folder(tmp: Path) -> tuple[Path, str]:
    """Where the readers write the raw ring-buffer pages while the machine is recorded: a
    folder in /dev/shm when it has room (tmpfs: swap-backed movable pages that compaction
    migrates like anonymous memory), else ``tmp/raw`` on the destination's file system.
    Files written there are dirty page cache, large folios under writeback that the
    kernel's compaction cannot move: the recording would change what it records (a
    proactive compaction run of this machine ended COMPACT_CONTENDED at one of them)."""
    try:
        if SHM.is_dir() and shutil.disk_usage(SHM).free >= SHM_MIN_FREE:
            return Path(tempfile.mkdtemp(prefix="mmkit-trace-raw-", dir=SHM)), "tmpfs /dev/shm"
    except OSError:
        pass
    raw = tmp / "raw"
    raw.mkdir()
    return raw, "the destination's file system"


class _Reader(threading.Thread):
    """Copies one CPU's ``trace_pipe_raw`` pages into a file until told to stop and the
    pipe is empty."""

    def __init__(self, cpu: int, pipe: Path, out: Path, page_size: int, stop: threading.Event) -> None:
        super().__init__(name=f"mmkit-trace-cpu{cpu}", daemon=True)
        self.cpu, self.pipe, self.out, self.P, self.stop = cpu, pipe, out, page_size, stop
        self.bytes = 0
        self.error: BaseException | None = None
        self.fd = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)

    def run(self) -> None:
        bufs = [bytearray(self.P) for _ in range(READV_PAGES)]
        views = [memoryview(b) for b in bufs]
        try:
            with open(self.out, "wb", buffering=1 << 20) as f:
                while True:
                    try:
                        n = os.readv(self.fd, views)
                    except BlockingIOError:
                        n = 0
                    if n:
                        full, rest = divmod(n, self.P)
                        for k in range(full):
                            f.write(views[k])
                        if rest:  # the kernel hands out whole pages; anything else is a short read
                            f.write(views[full][:rest])
                        self.bytes += n
                        if full == READV_PAGES:
                            continue
                    if self.stop.is_set() and not n:
                        break
                    self.stop.wait(0.01)
        except BaseException as e:  # reported by the main thread
            self.error = e
        finally:
            os.close(self.fd)


def _check(seconds, events, buffer_kb, progress) -> list[tuple[str, str]]:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 86400:
        raise ParameterError(f"seconds: {seconds!r}; give a number of seconds in (0, 86400]")
    if buffer_kb is not None and (isinstance(buffer_kb, bool) or not isinstance(buffer_kb, int)
                                  or not 64 <= buffer_kb <= 4 << 20):
        raise ParameterError(f"buffer_kb: {buffer_kb!r}; give an int of KiB per CPU in 64..4194304, or None")
    if not (isinstance(progress, bool) or callable(progress)):
        raise ParameterError(f"progress: {progress!r}; give True (a bar), False or a callable f(done, total)")
    if isinstance(events, str) or not all(isinstance(e, str) for e in events):
        raise ParameterError(f"events: {events!r}; give a list of 'system:event' names")
    out = []
    for e in events:
        name = e.rpartition(":")[2]
        if name not in ev.BY_NAME:
            raise ParameterError(f"events: {e!r} is not an event mmkit reads; choose from mmkit.trace.DEFAULT_EVENTS")
        out.append((ev.BY_NAME[name].system, name))
    for need in ev.REQUIRED_EVENTS:
        if tuple(need.split(":")) not in out:
            raise ParameterError(f"events: {need} is required (the page allocator's stream)")
    return out


def _auto_buffer_kb(ncpu: int) -> int:
    """32 MiB per CPU (about 800,000 page events, 1.6 s of a CPU at 500,000/s), at most
    1/32 of the memory available."""
    try:
        with open("/proc/meminfo") as f:
            avail = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        avail = 1 << 20
    return int(max(1024, min(32768, avail // 32 // max(ncpu, 1))))


class _Bar:
    """tqdm over the recording seconds (or a line on stderr); ``progress=f`` is called
    as ``f(done_seconds, total_seconds)``."""

    def __init__(self, seconds: float, progress) -> None:
        self.cb = progress if callable(progress) else None
        self.bar = None
        self.total = seconds
        self.done = 0.0
        self.on = progress is True
        if self.on:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=round(seconds, 1), desc="mmkit trace record", unit="s",
                                bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s{postfix}")
            except ImportError:
                pass

    def update(self, done: float, events: int) -> None:
        done = min(done, self.total)
        if self.cb is not None:
            self.cb(done, self.total)
        if self.bar is not None:
            self.bar.n = min(self.bar.total, round(done, 1))
            self.bar.set_postfix_str(f"~{events:,} events")  # refreshes
        elif self.on:
            import sys

            print(f"\rrecording {done:.1f}/{self.total:.1f} s, ~{events:,} events", end="", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.on:
            import sys

            print("", file=sys.stderr)


def _sigterm_as_interrupt():
    """In the main thread, SIGTERM raises KeyboardInterrupt like Ctrl-C (so the same
    cleanup runs); returns a function that puts the old handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    old = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, old)


def _save_formats(root: Path, dest: Path, enabled: list[str]) -> None:
    """Copy header_page, header_event and each enabled event's format into ``dest``:
    the trace describes itself, so its raw pages can be read on another machine."""
    dest.mkdir()
    for name in ("header_page", "header_event"):
        (dest / name).write_text((root / "events" / name).read_text())
    for full in enabled:
        system, event = full.split(":")
        (dest / system).mkdir(exist_ok=True)
        (dest / system / f"{event}.format").write_text((root / "events" / system / event / "format").read_text())


def load_formats(folder: Path) -> tuple:
    """(page header, header_event dict, {id: EventFormat}) from a saved formats/ folder."""
    try:
        header = parse_header_page((folder / "header_page").read_text(), str(folder / "header_page"))
        hev = parse_header_event((folder / "header_event").read_text(), str(folder / "header_event"))
    except FileNotFoundError as e:
        raise TraceError(f"{e.filename}: missing (a trace's formats/ folder needs header_page and header_event)") from None
    formats = {}
    for p in sorted(folder.glob("*/*.format")):
        fmt = parse_event_format(p.read_text(), p.parent.name, str(p))
        formats[fmt.id] = fmt
    return header, hev, formats


def record(dir: str | os.PathLike, seconds: float, *, events=ev.DEFAULT_EVENTS, buffer_kb: int | None = None,
           overwrite: bool = False, progress=True, keep_raw: bool = False, attempts: int = 5) -> RecordInfo:
    """Record this machine's page allocator for ``seconds`` into the new folder ``dir``.

    Parameters
    ----------
    dir : path
        New folder (must not exist or be empty, unless ``overwrite``); its parent must exist.
    seconds : float
        How long to record between the two snapshots.
    events : list of str
        'system:event' names from :data:`DEFAULT_EVENTS` (all by default);
        ``kmem:mm_page_alloc`` and ``kmem:mm_page_free`` are required. Those this kernel
        lacks are skipped and listed in ``meta.json``'s ``missing``.
    buffer_kb : int, optional
        Ring buffer per CPU in KiB (default: 32 MiB, at most 1/32 of available memory
        over the CPUs).
    overwrite : bool
        Replace ``dir`` if it exists.
    progress : bool or callable
        True for a bar over the seconds; ``f(done, total)`` to be called instead.
    keep_raw : bool
        Keep the raw ring-buffer pages in ``dir/raw/cpuN.raw`` (with ``dir/formats/``
        they are enough to decode again).
    attempts : int
        Passed to each snapshot's capture (:func:`mmkit.snapshot.capture`): reads until
        buddyinfo is unchanged across one, at most this many times.

    Returns
    -------
    RecordInfo
        Path, event count, rates and the per-CPU lost-event counts.

    Raises
    ------
    TracingUnavailableError
        Not root, no tracefs, a required tracepoint missing, or the instance exists.
    ParameterError
        A bad argument or destination (before anything is touched).
    Interrupted
        Ctrl-C or SIGTERM: tracing is restored and no folder is left (nothing half-written).

    Notes
    -----
    Tracing is done in mmkit's own tracefs instance ``instances/mmkit-<pid>``: the
    top-level buffer and every other instance are untouched; removing the instance (and
    unmounting tracefs if mmkit mounted it) restores everything, after success, errors,
    Ctrl-C, SIGTERM, and (through a guardian process) SIGKILL of the recorder.
    """
    from mmkit.snapshot.live import capture, check_destination

    pairs = _check(seconds, events, buffer_kb, progress)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ParameterError(f"attempts: {attempts!r}; give an int >= 1")
    try:
        dest = check_destination(dir, overwrite, "overwrite=True")
    except MmkitError as e:
        raise ParameterError(str(e)) from None
    ncpu = os.cpu_count() or 1
    kb = buffer_kb if buffer_kb is not None else _auto_buffer_kb(ncpu)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    restore_sigterm = None
    raw, raw_scratch = _raw_folder(tmp)
    on_tmpfs = raw.parent != tmp
    session = Session(pairs, kb, scratch=[tmp, raw] if on_tmpfs else [tmp])
    readers: list[_Reader] = []
    stop = threading.Event()
    bar = None
    phase = "starting"
    try:
        restore_sigterm = _sigterm_as_interrupt()
        session.start()
        missing = {f"{s}:{e}": "not in this kernel" for s, e in pairs if f"{s}:{e}" not in session.enabled}
        for need in ev.REQUIRED_EVENTS:
            if need in missing:
                raise TracingUnavailableError(f"this kernel has no {need} tracepoint; it cannot be recorded")
        _save_formats(session.root, tmp / "formats", session.enabled)
        header, _, formats = load_formats(tmp / "formats")
        readers = [_Reader(c, session.pipe_path(c), raw / f"cpu{c}.raw", header.page_size, stop) for c in session.cpus]
        for r in readers:
            r.start()
        times: dict[str, int] = {}
        times["tracing_on_ns"] = time.monotonic_ns()
        session.set_tracing(True)
        phase = "the start snapshot"
        times["start_snapshot_begin_ns"] = time.monotonic_ns()
        capture(tmp / "start", attempts=attempts)
        times["start_snapshot_end_ns"] = time.monotonic_ns()
        phase = "recording"
        bar = _Bar(float(seconds), progress)
        t0 = time.monotonic()
        while (done := time.monotonic() - t0) < seconds:
            bar.update(done, sum(r.bytes for r in readers) // 40)
            time.sleep(min(0.1, max(0.0, seconds - done)))
            if any(r.error for r in readers):
                break
        bar.update(float(seconds), sum(r.bytes for r in readers) // 40)
        bar.close()
        bar = None
        times["record_end_ns"] = time.monotonic_ns()
        phase = "the end snapshot"
        capture(tmp / "end", attempts=attempts)
        times["end_snapshot_end_ns"] = time.monotonic_ns()
        session.set_tracing(False)
        times["tracing_off_ns"] = time.monotonic_ns()
        phase = "draining the ring buffers"
        stop.set()
        for r in readers:
            r.join()
        for r in readers:
            if r.error is not None:
                raise TraceError(f"reading {r.pipe} failed: {r.error}")
        stats = session.stats()
        enabled = list(session.enabled)
        root = session.root
        problems = session.close()
        if problems:
            raise TracingUnavailableError("tracing could not be restored: " + "; ".join(problems))
        phase = "decoding"
        t1 = time.perf_counter()
        cpus = [CpuPages(r.cpu, np.fromfile(r.out, dtype=np.uint8), str(r.out)) for r in readers]
        dec = decode(cpus, header, formats)
        del cpus
        parse_seconds = time.perf_counter() - t1
        dec.frame.write_parquet(tmp / EVENTS_FILE, compression="zstd", statistics=True)
        if on_tmpfs:  # kept beside the trace when asked for; its memory freed now
            if keep_raw:
                shutil.copytree(raw, tmp / "raw")
            shutil.rmtree(raw)
        elif not keep_raw:
            shutil.rmtree(raw)
        lost = {c: {"dropped_events": stats[c].get("dropped_events", 0), "overrun": stats[c].get("overrun", 0),
                    "commit_overrun": stats[c].get("commit_overrun", 0),
                    "pages_missed": dec.pages_missed.get(c, 0), "missed_stored": dec.missed_stored.get(c, 0)}
                for c in session.cpus}
        lost_total = sum(d["dropped_events"] + d["overrun"] for d in lost.values())
        n = dec.frame.height
        span = (times["tracing_off_ns"] - times["tracing_on_ns"]) / 1e9
        raw_bytes = sum(r.bytes for r in readers)
        meta = {
            "format": "mmkit-trace",
            "format_version": FORMAT_VERSION,
            "kernel_release": os.uname().release,
            "machine": os.uname().machine,
            "cpus": session.cpus,
            "page_size": os.sysconf("SC_PAGE_SIZE"),
            "ring_page_size": header.page_size,
            "trace_clock": session.clock,
            "tracefs": str(root),
            "instance": str(session.instance),
            "events_recorded": enabled,
            "missing": missing,
            "event_names": list(ev.EVENT_NAMES),
            "counts": dec.counts,
            "events": n,
            "buffer_kb": kb,
            "seconds_requested": seconds,
            "times_ns": times,
            "durations_s": {
                "tracing": round(span, 3),
                "start_snapshot": round((times["start_snapshot_end_ns"] - times["start_snapshot_begin_ns"]) / 1e9, 3),
                "recording": round((times["record_end_ns"] - times["start_snapshot_end_ns"]) / 1e9, 3),
                "end_snapshot": round((times["end_snapshot_end_ns"] - times["record_end_ns"]) / 1e9, 3),
                "decode": round(parse_seconds, 3),
            },
            "record_rate": round(n / span, 1) if span > 0 else None,
            "parse_rate": round(n / parse_seconds, 1) if parse_seconds > 0 else None,
            "raw_bytes": raw_bytes,
            "raw_scratch": raw_scratch,
            "lost": {str(c): d for c, d in lost.items()},
            "lost_total": lost_total,
            "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "source": "mmkit.trace.record",
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        os.chmod(tmp, 0o755)
        install_folder(tmp, dest, overwrite)
        return RecordInfo(dest, n, span, meta["record_rate"] or 0.0, parse_seconds, meta["parse_rate"] or 0.0,
                          raw_bytes, kb, session.cpus, lost, lost_total, missing, dec.counts)
    except KeyboardInterrupt as e:
        why = "SIGTERM" if str(e) == "SIGTERM" else "interrupt"
        raise Interrupted(f"mmkit trace record stopped by {why} during {phase}; tracing restored, "
                          f"nothing written to {dest}", progress=f"stopped during {phase}") from None
    finally:
        if bar is not None:
            bar.close()
        stop.set()
        for r in readers:  # they close their trace_pipe_raw, so the instance can be removed
            r.join(timeout=5)
        session.close()
        if restore_sigterm is not None:
            restore_sigterm()
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if raw.exists():
            shutil.rmtree(raw, ignore_errors=True)

