"""The engine's decorator: ``@kernel`` compiles a function with numba, cached on disk, and
without numba's reference counting (NRT).

The kernels pass the ``PageArrays`` and ``SimArrays`` namedtuples (two dozen arrays) to
each other. With NRT on, every call that is not inlined increments and decrements the
reference count of each array in them, with atomic instructions. The arrays outlive
every kernel call (the Python caller holds them), so a kernel borrows them and needs no
counts. A kernel may not allocate an array (NRT owns allocations): the few functions that
do (``run_ticks``, ``sample``, ``alloc_contig_range`` and its caller ``cma_alloc``,
``_check``) keep plain ``@njit(cache=True)``, stay thin and call kernels for their loops
(code inlined into them counts references on every array it touches: ``tick_ops`` and
``_sample_pageblocks`` exist for that).

A kernel takes ``A`` and ``S`` by reference (``mmkit.engine.byref``): a call passes one
pointer for each, where by value it copied a hundred-odd machine words per namedtuple.
The buddy allocator's and the free path's functions, the predicates and the steps of one
migration are ``inline="always"``. Every inlined copy costs compile time, so the
functions that call the allocator from many places (``anon_fault``, ``file_page``,
``free_user_page``, ``do_alloc``, ``record``, ...) stay calls: each kernel holds one copy
of the allocator, not one per call site. The cold paths (the slow path's retries,
reclaim, zsmalloc and balloon pages, contiguous ranges) call ``get_page_from_freelist``
and ``free_the_page``, one compiled copy each. ``prefill`` calls ``do_alloc`` as the
tick does: with its allocation path inlined into it (a copy of the allocator per kind of
page) it filled a machine faster, but its compile sat at the top of the engine's longest
chain of kernels, each compiled after the ones it calls. The per-CPU free
(``free_unref_page_commit``) is inlined into ``migrate_folios_pass``, which frees a page
per page migrated, and the allocation path into ``replay_ticks``. A loop that does a kernel's
work page by page calls it once per loop, not once per page (``migrate_folios_pass``):
each call reads the descriptors of every array the callee uses.

A kernel called from other kernels is compiled once, for plain argument types, however
many constants its callers pass (``one_specialisation``); numba alone compiles it once
per pattern of literal arguments. And its machine code exists once: a caller calls a
kernel of more than ``linking.SMALL`` lines of LLVM IR by its symbol, where numba would
compile the callee's code again inside every caller above it; a smaller one is linked
into its callers, where LLVM may inline it (``mmkit.engine.linking``). An
``inline="always"`` kernel is read by numba's frontend once per process, not once per
call site it is inlined into (``linking.memo_untyped_ir``).

What each of these rules gained or cost, measured: ``docs/performance.md``.
"""

from __future__ import annotations

from numba import njit

from mmkit.engine import linking
from mmkit.engine.byref import by_reference
from mmkit.model.memory import PageArrays

by_reference(PageArrays)
linking.install()
linking.memo_untyped_ir()


def one_specialisation(dispatcher):
    """Compile ``dispatcher`` once for all the constants its callers pass.

    numba types a global constant or a literal argument (``record(S, A, EV_MIGRATED, ...)``,
    ``compact_zones_for(..., True)``) as ``Literal[int](7)``, and a kernel called from
    another kernel is compiled once per pattern of literal arguments: ``record`` 24 times,
    ``get_page_from_freelist`` 7 times, each with everything it calls. The callers' types
    are made plain (``types.unliteral``) before the kernel is looked up, so each kernel
    compiles once (``tests/test_numba_private.py`` checks numba still goes this way).
    """
    from numba.core import config, types

    if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1 (coverage): a plain Python function
        return dispatcher
    typed = dispatcher.get_call_template

    def get_call_template(args, kws):
        return typed(tuple(types.unliteral(a) for a in args), {k: types.unliteral(v) for k, v in kws.items()})

    dispatcher.get_call_template = get_call_template
    return dispatcher


def kernel(fn=None, *, inline="never", nogil: bool = False):
    """``@kernel`` or ``@kernel(inline="always")`` for the one-line helpers of hot loops."""
    deco = njit(cache=True, _nrt=False, inline=inline, nogil=nogil)

    def make(f):
        return linking.register(one_specialisation(deco(f)))

    return make if fn is None else make(fn)


def inline_into(*callers: str):
    """An ``inline=`` cost model for numba: inline this function where it is called from
    the kernels named ``callers`` (and from what is inlined into them), call it anywhere
    else."""
    names = frozenset(callers)

    def cost_model(expr, caller_ir, callee_ir) -> bool:
        return caller_ir.func_id.func_name in names

    return cost_model
