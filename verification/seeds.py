"""Seeds for the soak and the fuzzers: the one given, or a fresh one drawn from the
operating system, printed first with the command that replays the run."""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Sequence


def fresh_seed() -> int:
    """A new seed (31 bits: short enough to type)."""
    return secrets.randbelow(2**31)


def announce(script: str, seed: int | None, argv: Sequence[str]) -> int:
    """The run's seed (``seed``, or a fresh one), printed with the command that repeats
    the run: ``script`` with ``argv`` and ``--seed``."""
    fresh = seed is None
    if fresh:
        seed = fresh_seed()
    args = list(argv) + (["--seed", str(seed)] if fresh else [])  # a given seed is in argv
    cmd = " ".join([".venv/bin/python", script, *map(shlex.quote, args)])
    print(f"seed {seed} ({'fresh' if fresh else 'given'}); repeat this run: {cmd}", flush=True)
    return seed
