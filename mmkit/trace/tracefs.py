"""tracefs for the recorder: find it (mounting it at ``/sys/kernel/tracing`` when it is
not mounted, and unmounting what mmkit mounted afterwards), and an instance of our own.

mmkit never touches the top-level trace buffer: it creates its own tracefs instance
``instances/mmkit-<pid>`` (``mkdir``), which has its own ring buffers, ``tracing_on``,
``buffer_size_kb``, ``trace_clock``, options and event enables, so it cannot clash with
anyone else's tracing (``perf``, ``trace-cmd``, the top-level buffer, other instances) and
nobody's settings change. Restoring is removing that instance (``rmdir``) and unmounting
tracefs if mmkit mounted it. A guardian process (:mod:`mmkit.trace.guardian`) does the
same if the recorder dies before it could (SIGKILL).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mmkit.errors import TracingUnavailableError

__all__ = ["DEFAULT_MOUNT", "Session", "find_tracefs", "read_cpu_stats"]

DEFAULT_MOUNT = Path("/sys/kernel/tracing")
INSTANCE_PREFIX = "mmkit-"


def tracefs_mounts(mounts_file: str = "/proc/self/mounts") -> list[Path]:
    """Where tracefs is mounted now (``/sys/kernel/tracing`` first when it is)."""
    out = []
    with open(mounts_file) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "tracefs":
                out.append(Path(parts[1].replace("\\040", " ")))
    out.sort(key=lambda p: p != DEFAULT_MOUNT)
    return out


def _has_tracefs() -> bool:
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1:] == ["tracefs"] for line in f)
    except OSError:
        return False


def find_tracefs() -> tuple[Path, bool]:
    """A tracefs mount to use and whether mmkit mounted it (then it must unmount it).

    Raises :class:`TracingUnavailableError` when not root, when this kernel has no tracefs
    or when mounting it fails."""
    if os.geteuid() != 0:
        raise TracingUnavailableError("recording the page allocator needs root (tracefs instances and "
                                      "per-CPU ring buffers are root-only); run as root, e.g. sudo mmkit trace record ...")
    mounts = tracefs_mounts()
    if mounts:
        return mounts[0], False
    if not _has_tracefs():
        raise TracingUnavailableError("this kernel has no tracefs (/proc/filesystems does not list it): "
                                      "it needs CONFIG_FTRACE and CONFIG_TRACING")
    r = subprocess.run(["mount", "-t", "tracefs", "nodev", str(DEFAULT_MOUNT)], capture_output=True, text=True)
    if r.returncode != 0:
        raise TracingUnavailableError(f"tracefs is not mounted and mounting it at {DEFAULT_MOUNT} failed: "
                                      f"{r.stderr.strip() or r.returncode}")
    return DEFAULT_MOUNT, True


def read_cpu_stats(path: Path) -> dict[str, int]:
    """``per_cpu/cpuN/stats`` as ``{'entries': .., 'overrun': .., 'commit_overrun': ..,
    'dropped_events': .., 'read_events': .., 'bytes': ..}`` (the integer lines only)."""
    out = {}
    for line in path.read_text().splitlines():
        key, _, val = line.partition(":")
        val = val.strip()
        if val.isdigit():
            out[key.strip().replace(" ", "_")] = int(val)
    return out


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


@dataclass
class Session:
    """One recording's tracefs instance, from :meth:`start` to :meth:`close`.

    ``start`` finds tracefs (mounting it if needed), starts the guardian, creates
    ``instances/mmkit-<pid>`` and configures it (tracing off, ``buffer_kb`` per CPU,
    the ``mono`` clock so times compare with ``time.monotonic_ns()``, overwrite off so a
    full buffer drops new events and counts them, the given events enabled). ``close``
    removes the instance and unmounts what was mounted, then tells the guardian it is
    done; it is safe to call twice."""

    events: list[tuple[str, str]]
    buffer_kb: int
    root: Path | None = None
    mounted: bool = False
    instance: Path | None = None
    clock: str = ""
    cpus: list[int] = field(default_factory=list)
    guardian: subprocess.Popen | None = None
    enabled: list[str] = field(default_factory=list)
    closed: bool = False
    scratch: list[Path] = field(default_factory=list)  # the recorder's temporary folders: the guardian removes them too

    def start(self) -> Session:
        self.root, self.mounted = find_tracefs()
        path = self.root / "instances" / f"{INSTANCE_PREFIX}{os.getpid()}"
        try:
            if path.exists():  # not ours: never removed by close()
                raise TracingUnavailableError(f"the tracefs instance {path} already exists: another mmkit "
                                              f"recorder with pid {os.getpid()}, or one that left it behind; "
                                              f"remove it with rmdir {path} if no recorder runs")
            self.instance = path
            self._start_guardian()
            try:
                os.mkdir(path)
            except OSError as e:
                self.instance = None
                raise TracingUnavailableError(f"cannot create a tracefs instance under {path.parent}: "
                                              f"{e.strerror}") from None
            self._configure()
        except BaseException:
            self.close()
            raise
        return self

    def _start_guardian(self) -> None:
        plan = {"instance": str(self.instance), "unmount": str(self.root) if self.mounted else None,
                "remove": [str(p) for p in self.scratch]}
        script = Path(__file__).with_name("guardian.py")
        self.guardian = subprocess.Popen([sys.executable, "-I", str(script)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, start_new_session=True, text=True)
        self.guardian.stdin.write(json.dumps(plan) + "\n")
        self.guardian.stdin.flush()
        if self.guardian.stdout.readline().strip() != "ready":
            raise TracingUnavailableError("the guardian process that restores tracing if the recorder is killed "
                                          "did not start")

    def _configure(self) -> None:
        inst = self.instance
        _write(inst / "tracing_on", "0")
        clocks = (inst / "trace_clock").read_text().replace("[", "").replace("]", "").split()
        self.clock = "mono" if "mono" in clocks else "local"
        _write(inst / "trace_clock", self.clock)
        ow = inst / "options" / "overwrite"
        if ow.exists():
            _write(ow, "0")
        _write(inst / "buffer_size_kb", str(self.buffer_kb))
        self.cpus = sorted(int(p.name[3:]) for p in (inst / "per_cpu").iterdir() if p.name[3:].isdigit())
        for system, event in self.events:
            try:
                _write(inst / "events" / system / event / "enable", "1")
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise
                continue
            self.enabled.append(f"{system}:{event}")

    def set_tracing(self, on: bool) -> None:
        _write(self.instance / "tracing_on", "1" if on else "0")

    def pipe_path(self, cpu: int) -> Path:
        return self.instance / "per_cpu" / f"cpu{cpu}" / "trace_pipe_raw"

    def stats(self) -> dict[int, dict[str, int]]:
        return {c: read_cpu_stats(self.instance / "per_cpu" / f"cpu{c}" / "stats") for c in self.cpus}

    def close(self) -> list[str]:
        """Remove the instance, unmount what was mounted, release the guardian; returns
        what could not be restored (also printed by the guardian if it had to act)."""
        if self.closed:
            return []
        self.closed = True
        from mmkit.trace.guardian import undo

        plan = {"instance": str(self.instance) if self.instance is not None else None,
                "unmount": str(self.root) if self.mounted else None}
        if self.instance is not None:
            try:
                _write(self.instance / "tracing_on", "0")
            except OSError:
                pass
        problems = undo(plan, patience=5.0)
        if self.guardian is not None:
            try:
                self.guardian.stdin.write("done" if not problems else "")
                self.guardian.stdin.close()
            except OSError:
                pass
            try:
                self.guardian.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        return problems

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

