"""``mmkit trace record DIR --seconds N``: what the command runs. Its arguments are
declared in :mod:`mmkit.cli` (``_add_trace_record``), where the command is listed, so
that ``mmkit --help`` does not import the trace package."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["_run_trace_record", "main_record"]


def _run_trace_record(args: argparse.Namespace) -> int:
    import mmkit.trace

    events = mmkit.trace.DEFAULT_EVENTS if args.events is None else [e.strip() for e in args.events.split(",") if e.strip()]
    info = mmkit.trace.record(args.dir, args.seconds, events=events, buffer_kb=args.buffer_kb,
                              overwrite=args.overwrite, progress=not args.no_progress, keep_raw=args.keep_raw,
                              attempts=args.attempts)
    print(info.summary())
    for name, why in info.missing.items():
        print(f"  not recorded {name}: {why}")
    if info.lost_total:
        print(f"  WARNING: the kernel lost {info.lost_total} events; record with a larger --buffer-kb "
              "(meta.json 'lost' has the counts per CPU)")
    return 0


def main_record(argv: Sequence[str] | None = None) -> int:
    """``mmkit trace record`` with ``argv`` (default ``sys.argv[1:]``): :func:`mmkit.cli.main`
    runs it, with its one-line errors (status 2) and interrupts (status 130)."""
    import sys

    from mmkit.cli import main

    return main(["trace", "record", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    import sys

    sys.exit(main_record())
