"""The two places where mmkit leans on numba internals, each checked so that a numba
release that changes them fails here, loudly, instead of making the engine silently slow
or its cache silently stale. Why each is worth it: docs/performance.md ("numba internals
in use")."""

from pathlib import Path

import numpy as np
import pytest
from numba import njit
from numba.core import caching

import mmkit
from mmkit.engine import CACHE_DIR, _facts, _locator, buddy
from mmkit.engine.jit import kernel


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
