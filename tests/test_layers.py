"""The layers hold (issue 18 §3): the model and the snapshot package load without the
engine, numba or each other, so reading a kernel file or laying out a Memory never
compiles anything; every numba function of mmkit is in the engine."""

import subprocess
import sys
from pathlib import Path

import pytest

MMKIT = Path(__file__).resolve().parent.parent / "mmkit"


def loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("module, forbidden", [
    ("mmkit.model", ("numba", "mmkit.engine", "mmkit.snapshot", "polars")),
    ("mmkit.snapshot", ("numba", "mmkit.engine", "mmkit.from_snapshot")),
    ("mmkit.semantics", ("numba", "mmkit.engine", "mmkit.snapshot")),
])
def test_a_layer_loads_without_what_is_above_it(module, forbidden):
    mods = loaded_after(module)
    assert module in mods
    bad = sorted(m for m in mods if any(m == f or m.startswith(f + ".") for f in forbidden))
    assert bad == [], f"import {module} loads {bad}"


def test_the_model_imports_numpy_and_its_own_leaves_only():
    """At module level the model imports numpy, the standard library, its own modules
    and the two leaves every layer shares (mmkit.errors, mmkit.inputs)."""
    import ast

    allowed = {"numpy", "mmkit.errors", "mmkit.inputs", "__future__"}
    for f in sorted((MMKIT / "model").glob("*.py")):
        for node in ast.parse(f.read_text()).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for n in names:
                top = n.split(".")[0]
                if n.startswith("mmkit.model") or n in allowed or top in sys.stdlib_module_names:
                    continue
                pytest.fail(f"{f.name} imports {n} at module level")


def test_every_numba_function_is_in_the_engine():
    import ast

    for f in sorted(MMKIT.rglob("*.py")):
        if "engine" in f.relative_to(MMKIT).parts:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.FunctionDef):
                for d in node.decorator_list:
                    d = d.func if isinstance(d, ast.Call) else d
                    name = d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute) else ""
                    assert name not in ("njit", "jit", "kernel", "vectorize"), f"{f.relative_to(MMKIT)}: {node.name}"


def test_the_charts_do_not_import_the_report():
    """``mmkit.viz`` draws charts; ``mmkit.report`` builds HTML reports from notebooks that
    draw them. No module of viz imports report, at its top or inside a function (the
    Vega libraries both inline live in ``mmkit.viz.vega``)."""
    import ast

    bad = []
    for path in sorted((MMKIT / "viz").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad += [f"{path.name}:{node.lineno} {n}" for n in names if n == "mmkit.report" or n.startswith("mmkit.report.")]
    assert bad == []
