"""Running mmkit as the unprivileged user nobody, for the tests of what a user without
root gets (``setpriv`` to drop to nobody, as root)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def as_nobody() -> list[str]:
    """The command prefix that runs a program as nobody. Skips the test when that cannot
    be: not root, no ``setpriv``, or a folder on the way to this checkout or its Python
    that other users may not enter (a clone inside a 0700 ``mktemp -d`` folder), where
    nobody could not even start mmkit."""
    exe = shutil.which("setpriv")
    if exe is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run as nobody")
    closed = [str(p) for where in (ROOT, Path(sys.prefix))
              for p in (where, *where.parents) if p.is_dir() and not p.stat().st_mode & 0o001]
    if closed:
        pytest.skip(f"nobody may not enter {sorted(set(closed))[0]} (mode without o+x), on the way to this "
                    "checkout or its Python: clone into a folder other users can enter to run this test")
    return [exe, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
