"""What the public API accepts for the values every layer shares (a seed, a tick count,
a machine size, a flag, an output folder), checked once here and called by ``compare``,
``Memory.synthetic``, ``Sim``, the sweep's grid, the Explorer and the command line.

Each check returns the value in its plain Python type or raises ``ParameterError``
naming the parameter (``name``: ``seed``, ``grid: seed`` or ``--seed``) and what it may
be. A bool is never a number here: ``gib=True`` would otherwise be a 1 GiB machine.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mmkit.errors import ParameterError

MAX_TICKS = 1_000_000
SEED_MAX = 2**63 - 1


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, lo: int, hi: int, hi_text: str | None = None) -> int:
    """``value`` as an int in ``lo..hi``: an int or numpy integer, not a bool, a float or a str."""
    allowed = f"allowed integer {lo}..{hi_text or hi}"
    if _is_bool(value) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"{name}: {value!r} is not an integer ({type(value).__name__}); {allowed}")
    if not lo <= int(value) <= hi:
        raise ParameterError(f"{name}: {value!r} is out of range; {allowed}")
    return int(value)


def check_seed(value: Any, name: str = "seed") -> int:
    """A random seed: an integer 0..2**63-1 (the same seed gives the same run, bit for bit)."""
    return check_int(name, value, 0, SEED_MAX, "2**63-1")


def check_ticks(value: Any, name: str = "ticks") -> int:
    """A run's length: an integer 1..MAX_TICKS."""
    return check_int(name, value, 1, MAX_TICKS)


def check_tick_ms(value: Any, name: str = "tick_ms") -> float:
    """A replay's trace time per tick, in ms: a number 0.001..60000."""
    ms = check_number(name, value)
    if not 0.001 <= ms <= 60_000:
        raise ParameterError(f"{name}: {value!r} is out of range 0.001..60000 (ms of trace time per tick)")
    return ms


def check_number(name: str, value: Any, unit: str = "") -> float:
    """``value`` as a float: an int, a float or a numpy number, not a bool or a str."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        what = f"a number{' of ' + unit if unit else ''}"
        hint = " (without quotes)" if isinstance(value, str) else ""
        raise ParameterError(f"{name}: {value!r} is not {what} ({type(value).__name__}); give an int or a float{hint}")
    return float(value)


def check_gib(value: Any, name: str = "gib") -> float:
    """A synthetic machine's size in GiB: a number whose MiB are a whole multiple of a
    pageblock, at least 32 MiB and at most what mmkit simulates."""
    from mmkit.model.memory import synthetic_layout

    gib = check_number(name, value, "GiB")
    try:
        synthetic_layout(gib=value)  # its message shows the value as given
    except ParameterError as e:
        raise ParameterError(f"{name}: {e}") from None
    return gib


def check_flag(name: str, value: Any) -> bool:
    """``value`` as a bool: True, False (or a numpy bool), not a str or a number."""
    if not _is_bool(value):
        raise ParameterError(f"{name}: {value!r} is not a bool; give True or False")
    return bool(value)


def check_path(name: str, value: Any) -> Path:
    """``value`` as a Path: a non-empty str or os.PathLike."""
    if not isinstance(value, (str, os.PathLike)) or str(value) == "":
        raise ParameterError(f"{name}: {value!r} is not a folder path; give a str or a pathlib.Path")
    return Path(value)


def check_out_folder(value: Any, name: str = "out", *, new: bool = True) -> Path:
    """An output folder, checked before any work: a path that (with ``new``) does not exist
    yet, or is a folder, and whose nearest existing parent this process can write into (a
    folder is made there and removed to find out). Nothing is left behind."""
    path = check_path(name, value)
    if path.exists():
        if new:
            raise ParameterError(f"{name}: {path} exists; choose a new folder (results are never overwritten)")
        if not path.is_dir():
            raise ParameterError(f"{name}: {path} is a file; give a folder")
        parent = path
    else:
        parent = path.absolute().parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise ParameterError(f"{name}: cannot create {path}: {parent} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mmkit-write-test-", dir=parent))
    except OSError as e:
        raise ParameterError(f"{name}: cannot write {path}: {parent} is not writable ({e.strerror}); "
                             f"choose a folder you can write to") from None
    return path


__all__ = ["MAX_TICKS", "SEED_MAX", "check_flag", "check_gib", "check_int", "check_number", "check_out_folder",
           "check_path", "check_seed", "check_ticks"]
