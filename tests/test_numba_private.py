"""The places where mmkit leans on numba internals, each checked so that a numba
release that changes them fails here, loudly, instead of making the engine silently slow
or its cache silently stale. Why each is worth it: docs/performance.md ("numba internals
in use")."""

import os
from pathlib import Path

import numpy as np
import pytest
from numba import njit
from numba.core import caching

import mmkit
from mmkit.engine import CACHE_DIR, _facts, _locator, buddy
from mmkit.engine.jit import kernel

# NUMBA_DISABLE_JIT=1 (bash run.sh coverage): kernels are plain Python, no numba internal is used
pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="NUMBA_DISABLE_JIT=1: no compiler")


def _new_array(n):
    return np.zeros(n, dtype=np.int64)


def _first(a):
    return a[0]


def test_kernels_compile_without_reference_counting():
    """``@kernel`` passes numba's private ``_nrt=False``. numba honours it: the compiled
    kernel's flags say so (plain ``njit``'s do not, so this test can fail), a kernel may
    not allocate (an allocation needs the reference-counting runtime), and the engine's
    kernels carry the option."""
    a = np.arange(4, dtype=np.int64)
    plain, borrowed = njit(_first), kernel(_first)
    assert plain(a) == borrowed(a) == 0
    assert plain.overloads[plain.signatures[0]].target_context.enable_nrt is True
    assert borrowed.overloads[borrowed.signatures[0]].target_context.enable_nrt is False
    assert len(njit(_new_array)(3)) == 3
    with pytest.raises(Exception, match="Only accept returning of array passed into the function"):
        kernel(_new_array)(3)
    assert buddy.zone_free_pages.targetoptions.get("_nrt") is False


def test_the_engine_cache_locator_is_numbas_first_choice():
    """mmkit's locator sits first in numba's private ``CacheImpl._locator_classes`` and
    numba uses it for engine kernels: their cache files live in mmkit's own folder
    (``CACHE_DIR``, named after the sources' hash) and are stamped with the digest of the
    file's code (the cache key's: its syntax tree without docstrings), not its path and
    mtime."""
    assert caching.CacheImpl._locator_classes[0] is _locator
    m = mmkit.Memory.synthetic(mib=32, variant="v4.8")
    buddy.zone_free_pages(m.arrays(), 0)
    loc = buddy.zone_free_pages._cache._impl.locator
    assert isinstance(loc, _locator)
    assert Path(loc.get_cache_path()) == Path(CACHE_DIR) / "engine"
    src = Path(buddy.__file__).read_bytes()
    assert loc.get_source_stamp() == _facts(src)[0]
    index = Path(CACHE_DIR) / "engine"
    assert any(p.name.startswith("buddy.zone_free_pages") for p in index.iterdir())


def _callee(x, flag):
    return x + 1 if flag else x


def test_a_kernel_compiles_once_for_all_the_constants_its_callers_pass():
    """``@kernel`` replaces the dispatcher's ``get_call_template`` (a numba method mmkit
    overrides) so that literal arguments do not each get their own compile. Plain
    ``njit`` compiles one specialisation per literal pattern: if a numba release stops
    going through ``get_call_template``, the kernel would too, and this fails."""
    plain, once = njit(_callee), kernel(_callee)

    @njit
    def call_plain(n):
        return plain(0, True) + plain(1, False) + plain(n, True)

    @njit
    def call_once(n):
        return once(0, True) + once(1, False) + once(n, True)

    assert call_plain(5) == call_once(5) == 8
    assert len(plain.signatures) == 3
    assert [str(s) for s in once.signatures] == ["(int64, bool)"]
    # a keyword argument too
    @njit
    def call_kw(n):
        return once(2, flag=True)

    assert call_kw(1) == 3 and len(once.signatures) == 1


# --- kernels call kernels by symbol (mmkit.engine.linking) --------------------------------

def _big_loop(k, m1, m2, m3):
    return f"""
    for i in range(a.shape[0]):
        x = a[i] + {k}
        if x % {m1} == 0:
            s += x * {m1 + 4}
        elif x % {m2} == 1:
            s -= x // {m2 - 3}
        elif x % {m3} == 2:
            s ^= x << {k % 5 + 1}
        else:
            s += (x * x) % {m3 + 2}
        if s > 1000000:
            s = s % 999983"""


_PRIMES = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103,
           107, 109, 113, 127, 131, 137, 139, 149, 151, 157]
# ``big``: twelve loops, well above linking.SMALL LLVM instructions (the tests check it)
_LINK_MODULE = f"""
import numpy as np
from mmkit.engine.jit import kernel


@kernel
def big(a):
    s = 0{"".join(_big_loop(k, *_PRIMES[3 * k:3 * k + 3]) for k in range(12))}
    return s


@kernel
def small(x):
    return x + 1


@kernel
def caller(a):
    return big(a) + small(3)


@kernel
def other(a):
    return a[0] * 2 + a[-1]
"""


def _link_env(tmp_path):
    (tmp_path / "lk.py").write_text(_LINK_MODULE)
    return dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                NUMBA_CACHE_DIR=str(tmp_path / "cache"))


def _run(code, env, cwd):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_a_kernel_calls_a_large_kernel_by_symbol_and_links_a_small_one(tmp_path):
    """``mmkit.engine.linking`` replaces numba's CPU code library (``JITCPUCodegen.
    _library_class``) with one whose ``finalize`` does not link a large kernel's LLVM
    module into its callers: the caller's module declares the callee's symbol, and
    records the kernel it calls. A small kernel is linked as numba links it, where LLVM
    may inline it. If numba stops linking through ``CPUCodeLibrary._linking_libraries``
    and ``finalize``, the caller holds the large callee's code again and this fails."""
    import importlib
    import sys

    from mmkit.engine import linking

    _link_env(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        lk = importlib.import_module("lk")
        a = np.arange(50, dtype=np.int64)
        assert lk.caller(a) == lk.big.py_func(a) + 4
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lk", None)
    big_cres = lk.big.overloads[lk.big.signatures[0]]
    small_cres = lk.small.overloads[lk.small.signatures[0]]
    lib = lk.caller.overloads[lk.caller.signatures[0]].library
    assert isinstance(lib, linking.KernelLinkingLibrary)
    assert linking._SIZE[big_cres.library] > linking.SMALL >= linking._SIZE[small_cres.library]  # the premise
    mod = lib._get_module_for_linking()
    assert mod.get_function(big_cres.fndesc.llvm_func_name).is_declaration
    declared = {f.name for f in mod.functions if f.is_declaration}
    assert small_cres.fndesc.llvm_func_name not in declared  # linked (and here inlined by LLVM)
    assert [d[:2] for d in lib._kernel_deps] == [("lk", "big")]
    # numba's own way, for contrast: a plain njit caller holds its callee's code
    plain = njit(lk.big.py_func)
    plain_caller = njit(lambda a: plain(a) + 1)
    assert plain_caller(a) == lk.big.py_func(a) + 1
    pmod = plain_caller.overloads[plain_caller.signatures[0]].library._get_module_for_linking()
    name = plain.overloads[plain.signatures[0]].fndesc.llvm_func_name
    assert not pmod.get_function(name).is_declaration


def test_a_cached_kernel_loads_what_it_calls_first_under_its_callers_symbol(tmp_path):
    """A cached caller is object code whose callee is an undefined symbol, and numba's
    symbol names carry a number counted per process. Here the callee is compiled again in
    a second process, under another number, after its caller was cached; a third process
    loads the caller from the cache: the callee is loaded first and its caller's symbol
    resolves to it (``llvmlite.binding.add_symbol``), where LLVM would abort the process."""
    env = _link_env(tmp_path)
    first = _run("import numpy as np, lk; a = np.arange(50, dtype=np.int64); print(lk.caller(a), "
                 "lk.caller.overloads[lk.caller.signatures[0]].library._kernel_deps[0][3], lk.big._cache.cache_path)",
                 env, tmp_path)
    value, symbol, where = first.split()
    gone = list(Path(where).glob("lk.big-*"))
    assert gone
    for p in gone:
        p.unlink()
    again = _run("import numpy as np, lk; lk.other(np.arange(3)); lk.other(np.arange(3.0)); a = np.arange(50, dtype=np.int64); "
                 "lk.big(a); print(lk.big.overloads[lk.big.signatures[0]].fndesc.llvm_func_name)", env, tmp_path)
    assert again != symbol  # the premise: the callee's symbol changed
    third = _run("import numpy as np, lk; a = np.arange(50, dtype=np.int64); v = lk.caller(a); "
                 "print(v, sum(lk.caller.stats.cache_hits.values()), sum(lk.big.stats.cache_hits.values()))",
                 env, tmp_path)
    assert third.split() == [value, "1", "1"]


def _inlined(x):
    return x * 3 + 1


def test_an_inlined_function_is_read_once_per_process():
    """``@kernel(inline="always")``: numba's ``InlineWorker.inline_function`` runs the
    frontend over the callee at every call site it inlines; mmkit's replacement keeps
    the callee's IR (``linking._UNTYPED``) and copies each block with one memo for the
    whole function (``ir.Block.__deepcopy__``, set only while ``inline_ir`` runs). If
    numba stops inlining through ``inline_function``, the callee is never kept and this
    fails."""
    from numba.core import ir

    from mmkit.engine import linking

    inl = kernel(_inlined, inline="always")

    @njit
    def twice(x):
        return inl(x) + inl(x + 1) + inl(2)

    assert twice(4) == 13 + 16 + 7
    assert _inlined in linking._UNTYPED
    assert "__deepcopy__" not in vars(ir.Block) and not linking._SHARED
    assert len(inl.signatures) == 0  # inlined at the IR level, never compiled on its own
