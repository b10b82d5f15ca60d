"""The numba kernels: each ``@njit(cache=True)`` function does one kernel job and is
named after the kernel function it models. They take the ``PageArrays`` namedtuple, the
compiled Variant (an int64 array indexed by ``mmkit.semantics.variant.F_*``) and ints.

Numba's on-disk cache checks only the source file of the function it caches, not the
files of the functions it calls, so an edited callee could leave a stale caller in the
cache. The cache therefore lives in a folder named after a hash of every engine source
file: any edit starts a fresh cache. The folder is ``$NUMBA_CACHE_DIR/mmkit-<hash>``
when NUMBA_CACHE_DIR is set (read-only installs, Binder), else
``$XDG_CACHE_HOME/mmkit/numba-<hash>`` (``~/.cache`` by default).

Inside it, a function's cache files are found by the function's place in the package
(``engine/``, ``snapshot/``) and checked against a hash of its file's content, not
against the file's absolute path and modification time as numba does by default: a
second checkout, a clean clone or a reinstall of the same sources loads the cache
instead of compiling for minutes.
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


_PACKAGE = Path(__file__).resolve().parent.parent  # the mmkit folder


def _package_locator():
    from numba.core import caching

    class PackageCacheLocator(caching.UserProvidedCacheLocator):
        """numba cache locator for mmkit's own functions (see the module docstring)."""

        _stamps: dict[str, str] = {}

        def __init__(self, py_func, py_file):
            super().__init__(py_func, py_file)
            rel = Path(py_file).resolve().relative_to(_PACKAGE)
            self._cache_path = os.path.join(numba_config().CACHE_DIR, *rel.parent.parts)

        def get_source_stamp(self):
            stamp = self._stamps.get(self._py_file)
            if stamp is None:
                stamp = self._stamps[self._py_file] = hashlib.sha256(Path(self._py_file).read_bytes()).hexdigest()
            return stamp

        @classmethod
        def from_function(cls, py_func, py_file):
            try:
                Path(py_file).resolve().relative_to(_PACKAGE)
            except (ValueError, OSError):
                return None
            return super().from_function(py_func, py_file)

    return caching, PackageCacheLocator


def numba_config():
    import numba

    return numba.config


CACHE_DIR = _configure_cache()
_caching, _locator = _package_locator()
if _locator not in _caching.CacheImpl._locator_classes:
    _caching.CacheImpl._locator_classes.insert(0, _locator)
