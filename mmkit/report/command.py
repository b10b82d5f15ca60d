"""The arguments and action of ``mmkit report``, shared with ``python -m mmkit.report``."""

from __future__ import annotations

import argparse

DEFAULT_TIMEOUT = 900


def add_arguments(p: argparse.ArgumentParser, *, default_help: str = "every numbered notebook") -> None:
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                   help=f"a notebook's name (02-the-review), number (02), short name (the-review) or path; "
                        f"default: {default_help}")
    p.add_argument("--out", default="reports", metavar="DIR", help="folder for the HTML files (default: reports)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"per-cell time limit (default {DEFAULT_TIMEOUT}: room for numba's first compile)")
    p.add_argument("--list", action="store_true", help="list the notebooks and exit")


def run(args: argparse.Namespace, default: list[str] | None = None) -> int:
    """Build the reports ``args`` ask for; print each report's path on stdout."""
    from mmkit.inputs import check_out_folder
    from mmkit.report import available, build

    if args.list:
        for p in available():
            print(p.stem)
        return 0
    check_out_folder(args.out, "--out", new=False)
    reports = build(args.notebooks or default, args.out, timeout=args.timeout)
    for r in reports:
        print(r.html)
    return 0
