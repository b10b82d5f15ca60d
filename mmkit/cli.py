"""The ``mmkit`` command line: one table of subcommands, each a small function.

To add a subcommand, write ``_add_NAME(parser)`` (its arguments) and ``_run_NAME(args)``
(returns the exit status) and add one :class:`Command` row to :data:`COMMANDS`; a
command with ``children`` is a group (``mmkit snapshot capture``). Heavy modules are
imported inside the run functions so ``mmkit --help`` stays fast.

Errors mmkit raises on purpose (:class:`~mmkit.errors.MmkitError`) print one line
``mmkit: error: ...`` to stderr and exit with status 2, without a traceback. An
interrupt (Ctrl-C, ``timeout -s INT``) prints one line ``mmkit: interrupted: ...`` saying
how far the command got and exits with status 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mmkit.errors import Interrupted, MmkitError

__all__ = ["COMMANDS", "Command", "build_parser", "main"]


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one-line help, arguments and action (or sub-commands)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    run: Callable[[argparse.Namespace], int] | None = None
    children: tuple["Command", ...] = field(default_factory=tuple)


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse names the flag in its error)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not >= 1")
    return n


# ------------------------------------------------------------------ snapshot capture
def _add_snapshot_capture(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="new folder to write the snapshot into")
    p.add_argument("--attempts", type=_positive_int, default=5,
                   help="captures to try until buddyinfo is unchanged across the read (default 5)")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")


def _run_snapshot_capture(args: argparse.Namespace) -> int:
    from mmkit.snapshot.live import capture, check_destination

    check_destination(args.dir, args.overwrite, "--overwrite")
    snap = capture(args.dir, attempts=args.attempts, overwrite=args.overwrite)
    m = snap.meta
    state = "consistent" if m.get("consistent") else "NOT consistent (buddyinfo kept changing)"
    frames = f"{m['nr_pfns']} page frames" if m.get("nr_pfns") is not None else "no page arrays"
    print(f"captured {snap.path}: {frames}, kernel {m.get('kernel_release')}, "
          f"{m.get('capture_seconds')} s, {m.get('attempts')} attempt(s), {state}")
    for name, why in (m.get("missing") or {}).items():
        print(f"  left out {name}: {why}")
    if str(m.get("debugfs", "read")).startswith("missing"):
        print(f"  left out extfrag_index, unusable_index: {m['debugfs'].removeprefix('missing: ')}")
    return 0


# ------------------------------------------------------------------ snapshot check
def _add_snapshot_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="snapshot folder")
    p.add_argument("--style", choices=("modern", "legacy"), default=None,
                   help="extfrag_index number format: modern '%%2d.%%03d' (v5.16+) or legacy '%%d.%%03d'; "
                        "default: the snapshot's era, read from meta.json or its files")


def _run_snapshot_check(args: argparse.Namespace) -> int:
    import mmkit.metrics
    import mmkit.snapshot

    snap = mmkit.snapshot.load(args.dir)
    names = mmkit.metrics.check(snap, style=args.style)
    style, why = (args.style, "--style") if args.style else snap.extfrag_style()
    print(f"{args.dir}: {', '.join(names)} identical to mmkit's computation from buddyinfo")
    if "extfrag_index" in names:
        print(f"extfrag_index compared in the {style} format ({why})")
    return 0


# ------------------------------------------------------------------ page-types
def _add_page_types(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="snapshot folder (uses its kpageflags)")
    p.add_argument("-b", "--bits", action="append", metavar="BITS",
                   help="page-types bit filter, e.g. 'lru,~active', '=anonymous', 'compound' "
                        "(repeatable: all must pass)")


def _run_page_types(args: argparse.Namespace) -> int:
    import mmkit.snapshot

    sys.stdout.write(mmkit.snapshot.page_types_text(mmkit.snapshot.load(args.dir), args.bits))
    return 0


# ------------------------------------------------------------------ debugfs
def _add_debugfs(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="snapshot folder (uses its buddyinfo)")
    p.add_argument("which", choices=("extfrag_index", "unusable_index"), help="debugfs extfrag/ file to print")
    p.add_argument("--style", choices=("modern", "legacy"), default=None,
                   help="extfrag number format: modern '%%2d.%%03d' (v5.16+) or legacy '%%d.%%03d'; "
                        "default from the snapshot's kernel release")


def _run_debugfs(args: argparse.Namespace) -> int:
    import mmkit.metrics
    import mmkit.snapshot

    sys.stdout.write(mmkit.metrics.debugfs_text(mmkit.snapshot.load(args.dir), args.which, style=args.style))
    return 0


# ------------------------------------------------------------------ run
def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workload", default="review-04", help="workload preset (see `mmkit workloads`)")
    p.add_argument("--variants", default="v4.5,v3-04,v4.8", help="comma-separated variant names (see `mmkit variants`)")
    p.add_argument("--gib", type=float, default=None, help="size of the synthetic machine (default: the workload's)")
    p.add_argument("--snapshot", default=None, metavar="DIR", help="start from a snapshot folder instead")
    p.add_argument("--ticks", type=int, default=None, help="ticks to run (default: the workload's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a workload parameter (repeatable), e.g. --set thp_rate=0.1")
    p.add_argument("--out", default=None, metavar="DIR", help="write the Result here (a new folder)")
    p.add_argument("--json", action="store_true", help="print the final table as JSON")
    p.add_argument("--progress", action="store_true", help="show a progress bar")


def _parse_sets(items: list[str]) -> dict:
    from mmkit.errors import ParameterError
    from mmkit.workloads import PARAMS

    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or name not in PARAMS:
            raise ParameterError(f"--set: {item!r} is not NAME=VALUE with NAME one of {sorted(PARAMS)}")
        t = PARAMS[name].type
        words = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
        try:
            out[name] = words[value.lower()] if t is bool else t(value)
        except (KeyError, ValueError):
            kind = "bool (true or false)" if t is bool else t.__name__
            raise ParameterError(f"--set: {name}={value!r} is not a {kind}") from None
    return out


def _run_run(args: argparse.Namespace) -> int:
    import json

    import mmkit
    from mmkit.inputs import check_out_folder

    if args.out is not None:  # before the run, not after it
        check_out_folder(args.out, "--out")
    try:
        res = mmkit.compare(args.snapshot, args.workload, args.variants, ticks=args.ticks, seed=args.seed,
                            gib=args.gib, progress=args.progress, **_parse_sets(args.set))
    except Interrupted as e:
        raise Interrupted(e.progress + (f"; nothing written to {args.out}" if args.out else "")) from None
    table = res.table()
    if args.json:
        print(json.dumps({"info": res.info, "table": table.to_dicts()}, default=str, indent=1))
    else:
        import polars as pl

        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, float_precision=3):
            print(table)
    if args.out:
        print(f"result written to {res.save(args.out)}", file=sys.stderr)
    return 0


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _run_variants(args: argparse.Namespace) -> int:
    import json

    import mmkit

    df = mmkit.variants()
    if args.json:
        print(json.dumps(df.to_dicts(), indent=1))
    else:
        for row in df.iter_rows(named=True):
            print(f"{row['name']:<16} {row['description']}")
    return 0


def _run_workloads(args: argparse.Namespace) -> int:
    import json

    from mmkit.workloads import PARAMS, PRESETS

    if args.json:
        print(json.dumps([{"name": w.name, "description": w.description, "gib": w.gib, "ticks": w.ticks,
                           "params": w.params()} for w in PRESETS.values()], indent=1, default=str))
    else:
        for w in PRESETS.values():
            print(f"{w.name:<15} {w.description} ({w.gib:g} GiB, {w.ticks} ticks)")
        ref = PARAMS["scale_from_gib"].default
        print(f"\nOn a machine larger than {ref:g} GiB, ops_per_tick and balloon_pages grow in proportion "
              f"(scale_from_gib={ref:g}; 0 turns it off), so every preset's pressure scales with the machine.")
    return 0


# ------------------------------------------------------------------ report
# ------------------------------------------------------------------ sweep
def _add_sweep(p: argparse.ArgumentParser) -> None:
    from mmkit.sweep.cli import add_arguments

    add_arguments(p)


def _run_sweep(args: argparse.Namespace) -> int:
    from mmkit.sweep.cli import run

    return run(args)


def _add_report(p: argparse.ArgumentParser) -> None:
    from mmkit.report.command import add_arguments

    add_arguments(p)


def _run_report(args: argparse.Namespace) -> int:
    from mmkit.report.command import run

    return run(args)


# ------------------------------------------------------------------ trace record
def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < x <= 86400:
        raise argparse.ArgumentTypeError(f"{x} is not in (0, 86400]")
    return x


def _add_trace_record(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="new folder to write the trace into (events.parquet, meta.json, "
                                              "start/ and end/ snapshots)")
    p.add_argument("--seconds", type=_positive_float, required=True, help="how long to record between the snapshots")
    p.add_argument("--events", default=None, metavar="LIST",
                   help="comma-separated system:event names (default: all of mmkit.trace.DEFAULT_EVENTS); "
                        "kmem:mm_page_alloc and kmem:mm_page_free are required")
    p.add_argument("--buffer-kb", type=_positive_int, default=None,
                   help="ring buffer per CPU in KiB (default 32768, at most 1/32 of available memory)")
    p.add_argument("--attempts", type=_positive_int, default=5,
                   help="captures per snapshot until buddyinfo is unchanged across the read (default 5)")
    p.add_argument("--keep-raw", action="store_true", help="keep the raw ring-buffer pages in DIR/raw/")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")


def _run_trace_record(args: argparse.Namespace) -> int:
    from mmkit.trace.cli import _run_trace_record as run

    return run(args)


# ------------------------------------------------------------------ replay
def _add_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="a trace folder written by `mmkit trace record`")
    p.add_argument("--variants", default="v4.5,v4.8,v6.18", help="comma-separated variant names (see `mmkit variants`)")
    p.add_argument("--tick-ms", type=_positive_float, default=100.0, help="trace time per tick in ms (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--swap", action="store_true", help="let the simulation's reclaim swap anonymous pages")
    p.add_argument("--out", default=None, metavar="DIR", help="write the Result here (a new folder)")
    p.add_argument("--json", action="store_true", help="print the comparison with the real machine as JSON")
    p.add_argument("--progress", action="store_true", help="show a progress bar")


def _run_replay(args: argparse.Namespace) -> int:
    import json

    import mmkit.trace.replay as rp
    from mmkit.inputs import check_out_folder

    if args.out is not None:
        check_out_folder(args.out, "--out")
    try:
        res = rp.replay(args.dir, args.variants.split(","), tick_ms=args.tick_ms, seed=args.seed, swap=args.swap,
                        progress=args.progress)
    except Interrupted as e:
        raise Interrupted(e.progress + (f"; nothing written to {args.out}" if args.out else "")) from None
    vs = rp.versus_real(res)
    if args.json:
        print(json.dumps({"trace": res.info["trace"], "replay": res.info["replay"], "versus_real": vs.to_dicts()},
                         default=str, indent=1))
    else:
        import polars as pl

        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, float_precision=3):
            print(vs.select("variant", "free_pages_sim", "free_pages_real", "free_l1_share", "unusable_9_sim",
                            "unusable_9_real", "pgmigrate_success_sim", "pgmigrate_success_real",
                            "compact_stall_sim", "compact_stall_real"))
            print(pl.DataFrame([{"variant": k, **v} for k, v in res.info["replay"].items()]))
    if args.out:
        print(f"result written to {res.save(args.out)}", file=sys.stderr)
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("run", "run a workload under several variants and print the before/after table",
            _add_run, _run_run),
    Command("variants", "list the named variants", _add_json, _run_variants),
    Command("workloads", "list the workload presets", _add_json, _run_workloads),
    Command("snapshot", "capture and check snapshots of real kernel memory state", children=(
        Command("capture", "capture this machine's /proc and debugfs memory files into DIR "
                "(without root: what the world-readable files give)",
                _add_snapshot_capture, _run_snapshot_capture),
        Command("check", "compare the snapshot's debugfs extfrag files with mmkit's computation",
                _add_snapshot_check, _run_snapshot_check),
    )),
    Command("page-types", "print what the kernel's tools/mm/page-types -F prints for DIR's kpageflags",
            _add_page_types, _run_page_types),
    Command("debugfs", "print debugfs extfrag/extfrag_index or unusable_index computed from DIR's buddyinfo",
            _add_debugfs, _run_debugfs),
    Command("report", "execute notebooks and write self-contained HTML reports (offline, code hideable)",
            _add_report, _run_report),
    Command("sweep", "run a grid of workloads, variants, seeds and machine sizes on a local pool or a Dask cluster",
            _add_sweep, _run_sweep),
    Command("trace", "record this machine's page allocator (tracefs) between two snapshots", children=(
        Command("record", "snapshot, the page allocator's tracepoints for N seconds, snapshot (root)",
                _add_trace_record, _run_trace_record),
    )),
    Command("replay", "replay a recorded trace under several variants, from its start snapshot, and compare the "
            "end with the real machine's", _add_replay, _run_replay),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own: usage then one line, exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add(sub: argparse._SubParsersAction, cmds: Sequence[Command]) -> None:
    for c in cmds:
        p = sub.add_parser(c.name, help=c.help, description=c.help)
        if c.children:
            inner = p.add_subparsers(dest=f"_{c.name}_cmd", metavar="COMMAND", required=True)
            _add(inner, c.children)
        else:
            if c.add_arguments:
                c.add_arguments(p)
            p.set_defaults(_run=c.run)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser built from :data:`COMMANDS`."""
    parser = _Parser(prog="mmkit", description="mmkit: Linux physical memory, simulated and read from the kernel")
    sub = parser.add_subparsers(dest="_cmd", metavar="COMMAND", required=True, parser_class=_Parser)
    _add(sub, COMMANDS)
    return parser


INTERRUPTED = 130  # the shell's status for a command ended by SIGINT (128 + 2)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mmkit`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Called without ``argv`` (as the ``mmkit`` command is), an interrupt ends the process
    once its one line is printed and the exit handlers have run: every file is whole or
    removed by then, and the interpreter's own teardown (unloading the compiled engine)
    would take most of a second more."""
    args = build_parser().parse_args(argv)
    try:
        status = int(args._run(args) or 0)
    except MmkitError as e:
        print(f"mmkit: error: {' '.join(str(e).split(chr(10)))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `mmkit page-types DIR | head`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail
        return 0
    except KeyboardInterrupt as e:  # Ctrl-C: one line saying how far it got (mmkit.errors.Interrupted)
        how = getattr(e, "progress", "")
        print(f"mmkit: interrupted{': ' + how if how else ''}", file=sys.stderr)
        status = INTERRUPTED
    if status == INTERRUPTED and argv is None:
        import atexit

        atexit._run_exitfuncs()  # what exit runs before the teardown (multiprocessing's cleanup among them)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
