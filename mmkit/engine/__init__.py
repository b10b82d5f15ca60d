"""The numba kernels: each ``@njit(cache=True)`` function does one kernel job and is
named after the kernel function it models. They take the ``PageArrays`` namedtuple, the
compiled Variant (an int64 array indexed by ``mmkit.semantics.variant.F_*``) and ints.

Numba's on-disk cache checks only the source file of the function it caches, not the
files of the functions it calls, so an edited callee could leave a stale caller in the
cache. The cache therefore lives in a folder named after a hash of the engine's code:
every file of ``mmkit/engine`` and every mmkit module they import at module level, and
what those import, followed from the import statements themselves (``engine_sources``).
The hash is of each file's syntax tree without its docstrings: editing a docstring or a
comment keeps the compiled engine, editing code or a constant starts a fresh cache. The
folder is ``$NUMBA_CACHE_DIR/mmkit-<hash>`` when NUMBA_CACHE_DIR is set (read-only
installs, Binder), else ``$XDG_CACHE_HOME/mmkit/numba-<hash>`` (``~/.cache`` by default).
When this user cannot write that folder (a read-only home, another user's
XDG_CACHE_HOME), ``<tmp>/mmkit-<uid>/numba-<hash>`` instead, a folder only this user may
write, said once on stderr.

Inside it, a function's cache files are found by the function's place in the package
(``engine/``, ``snapshot/``) and checked against the same digest of its file's code, not
against the file's absolute path and modification time as numba does by default: a
second checkout, a clean clone or a reinstall of the same sources loads the cache
instead of compiling for minutes, and a docstring edit does not make numba compile the
file's kernels again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent  # mmkit/engine
_PACKAGE = _HERE.parent  # the mmkit folder
_STAMPS: dict[str, str] = {}  # a source file's code digest (_facts), by path: the cache key's and the locator's
# what _facts strips, as a version: the facts kept on disk (mmkit-sources.json) by content
# hash are reused only when _facts made them as it does now
_FACTS_VERSION = "2"  # 2: every string standing alone as a statement (1: leading docstrings)


def _facts(source: bytes) -> tuple[str, list[str]]:
    """A module's code digest (its syntax tree without docstrings, a Variant field's
    among them: every string that stands alone as a statement; comments are not in the
    tree, line numbers are not dumped) and the mmkit modules it imports at module level."""
    import ast

    tree = ast.parse(source)
    imports = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imports += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            imports += [a.name for a in node.names]
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            code = [st for st in node.body if not (isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant)
                                                   and isinstance(st.value.value, str))]
            node.body = code or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest(), [m for m in imports if m.split(".")[0] == "mmkit"]


def engine_sources(memo: dict | None = None) -> dict[Path, str]:
    """The files whose code the compiled engine depends on, with their code digests:
    ``mmkit/engine/*.py`` and the mmkit modules they import at module level,
    transitively (imports inside functions are Python-side and left out). ``memo`` maps
    a file's content hash (with ``_FACTS_VERSION``) to its facts, so that an unchanged
    file is not parsed again."""
    memo = {} if memo is None else memo
    out: dict[Path, str] = {}
    todo = sorted(_HERE.glob("*.py"))
    while todo:
        f = todo.pop()
        if f in out:
            continue
        raw = f.read_bytes()
        key = f"{_FACTS_VERSION}:{hashlib.sha256(raw).hexdigest()}"
        if key not in memo:
            memo[key] = _facts(raw)
        out[f], imports = memo[key]
        _STAMPS[str(f)] = out[f]
        for name in imports:
            p = _PACKAGE.parent.joinpath(*name.split("."))
            todo += [c for c in (p.with_suffix(".py"), p / "__init__.py") if c.is_file()]
    return dict(sorted(out.items()))


def _configure_cache() -> str:
    import json

    import numba

    base = os.environ.get("NUMBA_CACHE_DIR")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mmkit"
    memo_file = root / "mmkit-sources.json"
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    known = len(memo)
    h = hashlib.sha256()
    for f, digest in engine_sources(memo).items():
        h.update(str(f.relative_to(_PACKAGE)).encode())
        h.update(digest.encode())
    if len(memo) != known:  # a new or edited file: keep its facts for the next import
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = memo_file.with_name(f"{memo_file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(memo))
            os.replace(tmp, memo_file)
        except OSError:
            pass  # a read-only cache folder: parse again next time
    tag = h.hexdigest()[:16]
    path = root / (f"mmkit-{tag}" if base else f"numba-{tag}")
    if not _writable(path):
        path = _private_fallback(path, tag)
    numba.config.CACHE_DIR = str(path)
    return str(path)


def _writable(folder: Path) -> bool:
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(fd)
        os.unlink(name)
        return True
    except OSError:
        return False


def _private_fallback(wanted: Path, tag: str) -> Path:
    """A cache folder the user can write when ``wanted`` is not (a read-only home, an
    XDG_CACHE_HOME of another user): ``<tmp>/mmkit-<uid>/numba-<tag>``, made 0700 and used
    only if this user owns it and nobody else may write it (compiled code is loaded from
    there). Says so once on stderr; without it numba would fail at the first kernel."""
    import sys
    import tempfile

    from mmkit.errors import MmkitError

    mine = Path(tempfile.gettempdir()) / f"mmkit-{os.getuid()}"
    try:
        mine.mkdir(mode=0o700, exist_ok=True)
        st = mine.stat()
        private = st.st_uid == os.getuid() and not st.st_mode & 0o022
    except OSError:
        private = False
    path = mine / f"numba-{tag}"
    if not private or not _writable(path):
        raise MmkitError(f"cannot write compiled code to {wanted} nor to {mine}: set NUMBA_CACHE_DIR (or "
                         f"XDG_CACHE_HOME) to a folder this user can write")
    print(f"mmkit: {wanted} is not writable; compiled code goes to {path} (set NUMBA_CACHE_DIR or "
          f"XDG_CACHE_HOME to choose)", file=sys.stderr)
    return path


def _package_locator():
    from numba.core import caching

    class PackageCacheLocator(caching.UserProvidedCacheLocator):
        """numba cache locator for mmkit's own functions (see the module docstring)."""

        def __init__(self, py_func, py_file):
            super().__init__(py_func, py_file)
            rel = Path(py_file).resolve().relative_to(_PACKAGE)
            self._cache_path = os.path.join(numba_config().CACHE_DIR, *rel.parent.parts)

        def get_source_stamp(self):
            stamp = _STAMPS.get(self._py_file)
            if stamp is None:
                stamp = _STAMPS[self._py_file] = _facts(Path(self._py_file).read_bytes())[0]
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
