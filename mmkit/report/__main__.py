"""``python -m mmkit.report``: the main job of ``bash run.sh``.

Executes ``notebooks/02-the-review.ipynb`` (the review told as a reproducible story, from
the data bundled in the repository) and writes its HTML report to ``reports/``, then
prints the report's path. Takes the same arguments as ``mmkit report``.
"""

from __future__ import annotations

import argparse
import sys

from mmkit.errors import MmkitError
from mmkit.report.command import add_arguments, run

MAIN_NOTEBOOK = "02-the-review"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mmkit.report",
        description="mmkit's main job: execute the flagship notebook and write its HTML report")
    add_arguments(parser, default_help=MAIN_NOTEBOOK)
    args = parser.parse_args(argv)
    try:
        return run(args, default=[MAIN_NOTEBOOK])
    except MmkitError as e:  # as `mmkit` prints them: one line, no traceback
        print(f"mmkit: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
