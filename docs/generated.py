"""The command line the generated pages share: write the page, or with ``--check`` exit 1
when the file on disk differs from what its generator would write."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_or_check(out: Path, text: str, argv: list[str] | None, *, script: str, description: str) -> int:
    """``script``: the generator's path, as the out-of-date message tells users to run it."""
    name = out.relative_to(ROOT)
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--check", action="store_true", help=f"exit 1 if {name} is out of date")
    args = ap.parse_args(argv)
    if args.check:
        if (out.read_text() if out.exists() else "") != text:
            print(f"{name} is out of date: run python {script}", file=sys.stderr)
            return 1
        return 0
    out.write_text(text)
    print(f"wrote {name}")
    return 0
