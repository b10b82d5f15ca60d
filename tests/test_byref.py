"""``mmkit.engine.byref``: the kernels take ``PageArrays`` and ``SimArrays`` by reference
(one pointer per call), read and write the same arrays as by value, and leave no
reference behind."""

import os
import re
import sys
from collections import namedtuple

import numpy as np
import pytest
from numba import njit, typeof

import mmkit
from mmkit.engine.byref import ArraysRef
from mmkit.engine.sim import Sim
from mmkit.engine.state import new_sim
from mmkit.model.memory import PageArrays


# numba's compiler itself (LLVM IR, wrappers, reference counts): not there under
# NUMBA_DISABLE_JIT=1 (bash run.sh coverage), where kernels are plain Python
needs_the_compiler = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                                        reason="NUMBA_DISABLE_JIT=1: no compiled code")


def _touch(X, i):
    X.flags[i] += np.uint32(X.nr_free.shape[1])
    return X.flags[i] + X.zone_start[0]


def _caller_of(callee):
    """A kernel that calls ``callee`` (not inlined) ``n`` times."""

    @njit(_nrt=False)
    def caller(X, n):
        s = 0
        for i in range(n):
            s += callee(X, i)
        return s

    return caller


_touch_ref = njit(_nrt=False)(_touch)
_caller = _caller_of(_touch_ref)


def _memory():
    return mmkit.Memory.synthetic(mib=32, variant="v4.8")


def test_the_namedtuples_are_typed_by_reference():
    A = _memory().arrays()
    S = new_sim(0)
    assert isinstance(typeof(A), ArraysRef) and typeof(A).fields == PageArrays._fields
    assert isinstance(typeof(S), ArraysRef)
    assert typeof(A) == typeof(_memory().arrays())  # one type (one compile) for every memory


@needs_the_compiler
def test_a_call_passes_one_word_for_the_arrays():
    """The callee's LLVM definition takes ``A`` as one pointer (by value it was one
    parameter per array member, 138 for ``PageArrays``)."""
    A = _memory().arrays()
    _caller(A, 4)
    ir = _touch_ref.inspect_llvm(_touch_ref.signatures[0])
    define = next(line for line in ir.splitlines() if line.startswith("define") and "_touch" in line)
    params = re.findall(r'%"?arg\.X[^ ",)]*', define)
    assert params == ["%arg.X"] or params == ['%"arg.X'], define[:300]


@needs_the_compiler
def test_by_reference_reads_and_writes_the_same_arrays_as_by_value():
    """The same function on the same arrays through a namedtuple class numba passes by
    value gives the same results and the same writes."""
    ByValue = namedtuple("ByValue", PageArrays._fields)
    a1, a2 = _memory().arrays(), _memory().arrays()
    v = ByValue(*a2)
    caller_by_value = _caller_of(njit(_nrt=False)(_touch))
    assert not isinstance(typeof(v), ArraysRef)
    assert _caller(a1, 64) == caller_by_value(v, 64)
    assert np.array_equal(a1.flags, a2.flags) and a1.flags[:64].any()


@njit
def _with_reference_counting(X):
    c = X.flags.copy()  # an allocation: NRT on
    return c.sum() + X.nr_free.sum()


@needs_the_compiler
def test_no_reference_is_left_behind():
    """Calls from Python into kernels with and without reference counting leave each
    array's reference count as it was (the wrapper gives back what unboxing took)."""
    A = _memory().arrays()
    before = [sys.getrefcount(a) for a in A]
    for _ in range(200):
        _caller(A, 1)
        _with_reference_counting(A)
    assert [sys.getrefcount(a) for a in A] == before


def test_the_engine_runs_on_it():
    """A Sim (its kernels take A and S by reference) compacts as the twin does: the
    differential tests check that in depth; here, that a by-reference kernel that calls
    others runs and writes its state."""
    sim = Sim(_memory(), 3)
    pages = sim.anon(4000)
    sim.free(pages[::2])
    before = int(sim.S.vm.sum())
    sim.compact_memory()
    assert int(sim.S.vm.sum()) > before


@needs_the_compiler
@pytest.mark.parametrize("bad", ["not a tuple", (1, 2, 3)])
def test_a_kernel_refuses_what_is_not_its_namedtuple(bad):
    from numba.core.errors import TypingError

    with pytest.raises(TypingError):
        _caller(bad, 1)
