"""Reading /proc as a user who is not root, without dropping privileges: the files only
root may open fail to open, as they do for anyone else (tests of capture and sampling)."""

from __future__ import annotations

import errno
from pathlib import Path

from mmkit.snapshot import live


def deny_opens(monkeypatch, names) -> None:
    """Opening any file named in ``names`` raises PermissionError (EACCES)."""
    real_open = live._open

    def deny(path):
        if Path(path).name in names:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path)

    monkeypatch.setattr(live, "_open", deny)
