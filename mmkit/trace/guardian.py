"""The recorder's guardian: a small process that puts tracing back as it was found when
the recorder dies without doing it itself (SIGKILL, a crash, the OOM killer).

It is started by :func:`mmkit.trace.tracefs.Session.start` as ``python -I guardian.py``
(standard library only, so it starts in milliseconds and needs nothing of mmkit),
reads one JSON line on stdin saying what to undo (the tracefs instance mmkit created,
the tracefs mount mmkit made), then waits. The recorder holds the other end of that
pipe: it writes ``done`` once it has restored everything itself; end of file without
``done`` means the recorder is gone, and the guardian undoes the plan: removes the
recorder's temporary folder (so a killed recording leaves no half-written folder),
removes the instance (retrying while the dead recorder's files are still being closed)
and unmounts what mmkit mounted. It ignores SIGINT, SIGTERM and SIGHUP (it is in its own session, so
a Ctrl-C at the terminal does not reach it), so it outlives the signals that end the
recorder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time


def undo(plan: dict, patience: float = 10.0) -> list[str]:
    """Remove the instance and unmount tracefs as ``plan`` says; returns what failed."""
    problems = []
    scratch = plan.get("remove") or []
    for folder in [scratch] if isinstance(scratch, str) else scratch:
        if os.path.isdir(folder):  # the dead recorder's half-written temporary folders
            shutil.rmtree(folder, ignore_errors=True)
    inst = plan.get("instance")
    if inst:
        deadline = time.monotonic() + patience
        while True:
            try:
                if os.path.isdir(inst):
                    os.rmdir(inst)  # tracefs: removing an instance frees its buffers and events
                break
            except OSError as e:  # EBUSY while a reader's file is still open
                if time.monotonic() > deadline:
                    problems.append(f"could not remove {inst}: {e.strerror}")
                    break
                time.sleep(0.05)
    mnt = plan.get("unmount")
    if mnt:
        deadline = time.monotonic() + patience
        while True:
            r = subprocess.run(["umount", mnt], capture_output=True, text=True)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                problems.append(f"could not unmount {mnt}: {r.stderr.strip()}")
                break
            time.sleep(0.05)
    return problems


def main() -> int:
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    line = sys.stdin.readline()
    if not line:
        return 0
    plan = json.loads(line)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    rest = sys.stdin.read()  # blocks until the recorder closes its end, or dies
    if rest.strip() == "done":
        return 0
    problems = undo(plan)
    for p in problems:
        print(f"mmkit trace guardian: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
