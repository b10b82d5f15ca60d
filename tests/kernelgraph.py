"""The engine's kernels and who calls whom, read from the kernels' own source: every numba
dispatcher defined in ``mmkit.engine`` (and in ``MODULES``, none today: every numba
function of mmkit is in the engine), and for each the dispatchers its body calls (by
name, or as ``module.name``)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap

from numba.core.registry import CPUDispatcher

MODULES: tuple[str, ...] = ()


def name(d: CPUDispatcher) -> str:
    return f"{d.py_func.__module__}.{d.py_func.__qualname__}"


def kernels() -> dict[str, CPUDispatcher]:
    import mmkit.engine as E

    mods = [importlib.import_module(f"mmkit.engine.{m.name}") for m in pkgutil.iter_modules(E.__path__)]
    mods += [importlib.import_module(m) for m in MODULES]
    out = {}
    for mod in mods:
        for v in vars(mod).values():
            if isinstance(v, CPUDispatcher) and v.py_func.__module__ == mod.__name__:
                out[name(v)] = v
    return out


def callees(d: CPUDispatcher) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(d.py_func)))
    g = d.py_func.__globals__
    out = set()
    for n in ast.walk(tree):
        if not isinstance(n, ast.Call):
            continue
        f, obj = n.func, None
        if isinstance(f, ast.Name):
            obj = g.get(f.id)
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in g:
            obj = getattr(g[f.value.id], f.attr, None)
        if isinstance(obj, CPUDispatcher):
            out.add(name(obj))
    return out


def reachable(roots, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo.extend(graph.get(k, ()))
    return seen
