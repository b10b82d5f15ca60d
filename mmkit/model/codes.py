"""The index constants the kernels read (``EV_*``, ``SM_*``, ``VM_*``) against the
table that declares their names: one check, run when each module defining them loads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def check_codes(namespace: Mapping[str, Any], prefix: str, names: Iterable[str], where: str, table: str) -> None:
    """The ``<prefix><NAME> = i`` constants of ``namespace`` (a module's ``globals()``)
    must be exactly ``names`` upper-cased, each ``i`` its position in ``table``; else an
    ImportError from module ``where`` naming the lines to add or fix and to remove."""
    have = {k: v for k, v in namespace.items() if k.startswith(prefix)}
    want = {prefix + n.upper(): i for i, n in enumerate(names)}
    if have != want:
        raise ImportError(f"{where}: the {prefix}* constants must be {table} in order; "
                          f"add or fix: {sorted(f'{k} = {v}' for k, v in want.items() if have.get(k) != v)}, "
                          f"remove: {sorted(k for k in have if k not in want)}")
