"""The numba kernels: each ``@njit(cache=True)`` function does one kernel job and is
named after the kernel function it models. They take the ``PageArrays`` namedtuple, the
compiled Variant (an int64 array indexed by ``mmkit.semantics.variant.F_*``) and ints.

Numba's on-disk cache checks only the source file of the function it caches, not the
files of the functions it calls, so an edited callee could leave a stale caller in the
cache. The cache therefore lives in a folder named after a hash of every engine source
file: any edit starts a fresh cache. The folder is ``$NUMBA_CACHE_DIR/mmkit-<hash>``
when NUMBA_CACHE_DIR is set (read-only installs, Binder), else
``$XDG_CACHE_HOME/mmkit/numba-<hash>`` (``~/.cache`` by default).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def _configure_cache() -> str:
    import numba

    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(here.glob("*.py")) + sorted((here.parent / "model").glob("*.py")) + sorted(
            (here.parent / "semantics").glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    tag = h.hexdigest()[:16]
    base = os.environ.get("NUMBA_CACHE_DIR")
    if base:
        path = Path(base) / f"mmkit-{tag}"
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mmkit" / f"numba-{tag}"
    numba.config.CACHE_DIR = str(path)
    return str(path)


CACHE_DIR = _configure_cache()
