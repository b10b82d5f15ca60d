"""Each kernel's machine code exists once: a caller calls its callee's symbol.

numba links the LLVM module of every function a function calls into the caller's own
module, optimises the whole again and emits machine code for all of it
(``CPUCodeLibrary.finalize``): a kernel that is called, not inlined, is compiled once on
its own and once more inside every kernel above it, and the engine's entry points each
carried the whole engine. Here a call from one kernel to another stays a call to the
callee's symbol, which the execution engine (LLVM's MCJIT, one per process) already holds:
the callee was compiled, or loaded from the cache, before its caller was compiled.

A cached caller is object code with the callee's symbol undefined. So the cache keeps,
beside each library's object code, the kernels it calls (module, name and argument
types), and loading a library loads those first (each from the cache, or compiles it),
before LLVM resolves the caller's symbols. The kernels a kernel calls through a plain
``@njit`` function linked into it (``run_ticks``, ``sample``) are counted with it.

Only kernels (``mmkit.engine.jit.kernel``) of more than ``SMALL`` lines of optimised LLVM
IR are linked this way; a smaller kernel and every other library (numba's own helpers, the
reference-counting runtime) are linked as numba links them, and a library with no kernel
to load keeps numba's cache format. ``memo_untyped_ir`` makes numba's IR inlining read an
``inline="always"`` kernel once per process. ``tests/test_numba_private.py`` checks that
numba still builds libraries and inlines this way; what each gained:
``docs/performance.md``.
"""

from __future__ import annotations

import copy
import importlib
import weakref

import llvmlite.binding as ll
from numba.core import codegen as _codegen
from numba.core.registry import cpu_target

from mmkit.engine import numba_config

# a kernel's library -> (module, qualified name, argument types, symbol) of the kernel it holds
_KERNEL_LIBRARY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_KERNEL_FUNCTIONS: weakref.WeakSet = weakref.WeakSet()  # the Python functions of the kernels
_KIND = "mmkit-object"  # a serialized library that calls other kernels by symbol


def _load(dep, codegen) -> None:
    """Load (or compile) the kernel ``dep`` names and make the symbol its caller was
    compiled against resolve to it: numba's symbol names carry a number counted per
    process, so a kernel compiled again in another process has another name."""
    module, qualname, args, symbol = dep
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    obj.compile(tuple(args))
    if not codegen._engine.is_symbol_defined(symbol):
        cres = obj.overloads[tuple(args)]
        addr = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
        if not addr:  # LLVM would abort the process on the unresolved symbol
            raise RuntimeError(f"mmkit engine cache: {module}.{qualname} loaded without its symbol "
                               f"{cres.fndesc.llvm_func_name}; remove the cache folder {numba_config().CACHE_DIR}")
        ll.add_symbol(symbol, addr)


SMALL = 300  # a kernel of at most this many lines of optimised LLVM IR (instructions, labels) is linked


def _small(library, dep) -> bool:
    """Is the kernel in ``library`` small enough to link into each caller, where LLVM may
    inline it (``SMALL``)? Its optimised function's lines of LLVM IR, counted once per
    library, when a caller is compiled."""
    n = _SIZE.get(library)
    if n is None:
        fn = library._get_module_for_linking().get_function(dep[3])
        n = _SIZE[library] = str(fn).count("\n")
    return n <= SMALL


_SIZE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class KernelLinkingLibrary(_codegen.JITCodeLibrary):
    """numba's JIT code library, which links a kernel it calls by symbol (module docs)."""

    def __init__(self, codegen, name):
        super().__init__(codegen, name)
        self._kernel_deps: list = []
        self._lazy_bitcode = None

    def finalize(self):
        deps = []
        linked = []
        for library in self._linking_libraries:
            dep = _KERNEL_LIBRARY.get(library)
            if dep is not None and not _small(library, dep):
                deps.append(dep)
            else:
                linked.append(library)
                deps += getattr(library, "_kernel_deps", ())
        self._linking_libraries = linked
        self._kernel_deps = list(dict.fromkeys(deps))
        super().finalize()

    def _get_module_for_linking(self):
        if self._shared_module is None and self._lazy_bitcode is not None:
            self._shared_module = ll.parse_bitcode(self._lazy_bitcode)
            self._lazy_bitcode = None
        return super()._get_module_for_linking()

    def serialize_using_object_code(self):
        name, kind, data = super().serialize_using_object_code()
        if not self._kernel_deps and self not in _KERNEL_LIBRARY:
            return name, kind, data  # not mmkit's: numba's own format
        mod = self._get_module_for_linking()
        symbols = [g.name for gs in (mod.functions, mod.global_variables) for g in gs if not g.is_declaration]
        return name, _KIND, (*data, symbols, self._kernel_deps)

    @classmethod
    def _unserialize(cls, codegen, state):
        """numba's ``_unserialize`` of object code, which first loads the kernels this
        one calls, and parses the LLVM module kept for linking only when a caller is
        compiled against it (most loads link nothing)."""
        name, kind, data = state
        if kind != _KIND:
            return super()._unserialize(codegen, state)
        object_code, shared_bitcode, symbols, deps = data
        for dep in deps:
            _load(dep, codegen)
        self = codegen.create_library(name)
        self.enable_object_caching()
        self._set_compiled_object(object_code)
        self._lazy_bitcode = shared_bitcode
        self._finalize_final_module()
        codegen._engine._defined_symbols.update(symbols)
        self._kernel_deps = list(deps)
        return self


def install() -> None:
    """Make numba's CPU code generator build its libraries with ``KernelLinkingLibrary``."""
    cg = cpu_target.target_context.codegen()
    if cg._library_class is not KernelLinkingLibrary:
        if cg._library_class is not _codegen.JITCodeLibrary:
            raise RuntimeError(f"numba's CPU code library is {cg._library_class!r}, not JITCodeLibrary")
        cg._library_class = KernelLinkingLibrary


def register(dispatcher):
    """Mark the libraries ``dispatcher`` (a kernel) compiles or loads as linked by symbol."""
    from numba.core import config

    if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1 (coverage): a plain Python function
        return dispatcher
    add = dispatcher.add_overload
    py = dispatcher.py_func
    _KERNEL_FUNCTIONS.add(py)

    def add_overload(cres):
        _KERNEL_LIBRARY[cres.library] = (py.__module__, py.__qualname__, tuple(cres.signature.args),
                                         cres.fndesc.llvm_func_name)
        return add(cres)

    dispatcher.add_overload = add_overload
    return dispatcher


_UNTYPED: dict = {}  # an inline="always" kernel's Python function -> its untyped IR, made once
_SHARED: list = []  # while an inline_ir runs: {id(source scope): (scope, deepcopy memo)}


def _block_deepcopy(self, memo):
    shared = _SHARED[-1]
    entry = shared.get(id(self.scope))
    if entry is None:
        entry = shared[id(self.scope)] = (self.scope, {})
    out = copy.copy(self)
    memo[id(self)] = out
    out.__dict__ = copy.deepcopy(self.__dict__, entry[1])
    return out


def memo_untyped_ir() -> None:
    """Make numba's IR inlining of a kernel read the kernel once per process.

    numba's ``InlineWorker.inline_function`` runs the frontend (bytecode analysis and the
    untyped passes, which inline the callee's own callees the same way) at every call
    site, then ``inline_ir`` copies the callee's IR one block at a time, each block with
    its own ``copy.deepcopy`` memo: the function's scope, every variable in it, was
    copied once per block. For a kernel, the IR is kept (``_UNTYPED``; ``inline_ir``
    copies it before it changes anything) and, while ``inline_ir`` runs, a block is
    copied with one memo per source function (``_block_deepcopy``). Other functions are
    inlined as numba inlines them."""
    from numba.core import ir
    from numba.core.inline_closurecall import InlineWorker

    if getattr(InlineWorker.inline_function, "_mmkit", False):
        return
    run = InlineWorker.run_untyped_passes
    inline = InlineWorker.inline_function

    def inline_function(self, caller_ir, block, i, function, arg_typs=None):
        if function not in _KERNEL_FUNCTIONS:
            return inline(self, caller_ir, block, i, function, arg_typs)
        callee_ir = _UNTYPED.get(function)
        if callee_ir is None:
            callee_ir = _UNTYPED[function] = run(self, function)
        _SHARED.append({})
        ir.Block.__deepcopy__ = _block_deepcopy
        try:
            return self.inline_ir(caller_ir, block, i, callee_ir, function.__code__.co_freevars, arg_typs=arg_typs)
        finally:
            _SHARED.pop()
            if not _SHARED:
                del ir.Block.__deepcopy__

    inline_function._mmkit = True
    InlineWorker.inline_function = inline_function
