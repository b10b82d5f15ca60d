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
    """``mmkit trace record`` alone (before it is in mmkit's COMMANDS): parses ``argv``
    and runs it with mmkit's error and interrupt handling (status 2 and 130)."""
    import sys

    from mmkit.cli import _add_trace_record
    from mmkit.errors import MmkitError

    p = argparse.ArgumentParser(prog="mmkit trace record",
                                description="snapshot, the page allocator's tracepoints for N seconds, snapshot (root)")
    _add_trace_record(p)
    args = p.parse_args(argv)
    try:
        return _run_trace_record(args)
    except MmkitError as e:
        print(f"mmkit: error: {' '.join(str(e).split(chr(10)))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        how = getattr(e, "progress", "")
        print(f"mmkit: interrupted{': ' + how if how else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    import sys

    sys.exit(main_record())
