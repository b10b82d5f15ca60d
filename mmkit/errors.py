"""Typed errors: every failure a user can meet is one of these, with the fix in its text.

Each class docstring says when it is raised and what to do; ``docs/errors.md`` is built
from these docstrings.
"""

from __future__ import annotations


class MmkitError(Exception):
    """Base of every error mmkit raises on purpose. Catch this to catch them all."""


class ParameterError(MmkitError, ValueError):
    """A parameter is out of its allowed range or of the wrong type.

    Fix: the message names the parameter and its allowed range; pass a value inside it.
    """


class VariantError(MmkitError, ValueError):
    """A variant name is unknown, or a user-built variant combines rules no kernel can have.

    Fix: use a name from ``mmkit.variants()``, or change the field the message names.
    """


class InvariantError(MmkitError, AssertionError):
    """A simulated memory broke one of the page-model invariants (``Memory.check``).

    This is a bug in mmkit or in a hand-edited Memory: the message names the pfn and the
    rule. Please report it with the seed and the variant.
    """

    def __init__(self, rule: str, pfn: int, detail: str = "") -> None:
        self.rule = rule
        self.pfn = pfn
        self.detail = detail
        msg = f"invariant broken at pfn {pfn:#x} ({pfn}): {rule}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class SnapshotError(MmkitError, ValueError):
    """A kernel snapshot folder or file is missing, truncated or not what it claims to be.

    Fix: the message names the file and what is wrong with it; capture again with
    ``mmkit snapshot capture DIR`` or repair that file.
    """


class OutOfMemoryError(MmkitError, MemoryError):
    """A workload asked for more pages than the simulated machine has.

    Fix: make the machine larger (``gib=``) or the workload smaller.
    """
