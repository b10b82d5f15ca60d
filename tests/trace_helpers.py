"""Helpers of the trace tests: the machine's tracing settings (to check they are restored
exactly), and a capture of the same events both as the kernel prints them (the
instance's ``trace`` file) and as raw ring-buffer pages (``trace_pipe_raw``), which is
how ``tests/data/trace/kernel-*`` were made (``python tests/trace_helpers.py OUT``, root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mmkit.trace import events as ev
from mmkit.trace.tracefs import DEFAULT_MOUNT, Session, tracefs_mounts

DATA = Path(__file__).resolve().parent / "data" / "trace"


def can_trace() -> str | None:
    """Why this machine cannot record (None when it can)."""
    if os.geteuid() != 0:
        return "needs root"
    try:
        if "tracefs" not in Path("/proc/filesystems").read_text():
            return "no tracefs in this kernel"
    except OSError:
        return "no /proc/filesystems"
    return None


def tracing_state() -> dict:
    """Every tracing setting mmkit could touch, read without changing anything that
    stays changed: the tracefs mounts, then (mounting tracefs for the read only if it
    was not mounted) the top-level tracing_on, buffer_size_kb, current_tracer,
    trace_clock, set_event, set_event_pid, tracing_cpumask, options/overwrite, each
    event's filter of the systems mmkit records, and the instances."""
    mounts = [str(p) for p in tracefs_mounts()]
    state: dict = {"mounts": mounts}
    root, mounted = (Path(mounts[0]), False) if mounts else (DEFAULT_MOUNT, True)
    if mounted:
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(root)], check=True)
    try:
        for name in ("tracing_on", "buffer_size_kb", "current_tracer", "trace_clock", "set_event", "set_event_pid",
                     "tracing_cpumask", "options/overwrite", "events/enable"):
            state[name] = (root / name).read_text()
        state["instances"] = sorted(p.name for p in (root / "instances").iterdir())
        for spec in ev.EVENTS:
            d = root / "events" / spec.system / spec.name
            if d.is_dir():
                state[f"{spec.full_name}/enable"] = (d / "enable").read_text()
                state[f"{spec.full_name}/filter"] = (d / "filter").read_text()
    finally:
        if mounted:
            subprocess.run(["umount", str(root)], check=True)
    return state


def capture_pair(out: Path, command: list[str], buffer_kb: int = 8192) -> dict[int, bytes]:
    """Run ``command`` with every mmkit event traced in an instance; write the kernel's
    text of the buffer to ``out/kernel.txt`` and the formats to ``out/formats/``; return
    each CPU's raw pages (read after the text, so the same events)."""
    from mmkit.trace.record import _save_formats

    pairs = [(s.system, s.name) for s in ev.EVENTS]
    s = Session(pairs, buffer_kb).start()
    try:
        s.set_tracing(True)
        subprocess.run(command, check=True)
        s.set_tracing(False)
        out.mkdir(parents=True, exist_ok=True)
        (out / "kernel.txt").write_text((s.instance / "trace").read_text())
        if (out / "formats").exists():
            shutil.rmtree(out / "formats")
        _save_formats(s.root, out / "formats", s.enabled)
        raw: dict[int, bytes] = {}
        for c in s.cpus:
            fd = os.open(s.pipe_path(c), os.O_RDONLY | os.O_NONBLOCK)
            chunks = []
            try:
                while True:
                    try:
                        b = os.read(fd, 1 << 16)
                    except BlockingIOError:
                        break
                    if not b:
                        break
                    chunks.append(b)
            finally:
                os.close(fd)
            raw[c] = b"".join(chunks)
        return raw
    finally:
        s.close()


def make_sample(out: Path, pages: int = 6) -> None:
    """The stored sample: cpu0's first ``pages`` raw pages and the kernel's text of the
    same events (the first lines of CPU 0, in order)."""
    import numpy as np

    from mmkit.trace.formats import parse_header_page
    from mmkit.trace.ringbuf import walk_pages

    raw = capture_pair(out, ["sh", "-c", "dd if=/dev/zero bs=1M count=4 2>/dev/null | cat >/dev/null; "
                                         "echo 1 > /proc/sys/vm/compact_memory"])
    header = parse_header_page((out / "formats" / "header_page").read_text())
    data = raw[0][: pages * header.page_size]
    n = len(walk_pages(np.frombuffer(data, np.uint8), header).ts)
    lines = [ln for ln in (out / "kernel.txt").read_text().splitlines() if "[000]" in ln][:n]
    (out / "kernel.txt").write_text("\n".join(lines) + "\n")
    (out / "kernel-cpu0.raw").write_bytes(data)


if __name__ == "__main__":
    make_sample(Path(sys.argv[1]))
