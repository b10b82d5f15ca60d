"""Write ``docs/errors.md``: every error a user can meet, its cause and the fix.

The table comes from the docstrings of the ``MmkitError`` classes (``mmkit/errors.py``
and any subclass elsewhere in ``mmkit/``): the paragraphs before ``Fix:`` are the cause,
the ``Fix:`` paragraph the fix. Below it, the messages mmkit raises, grouped by class,
found in the source (``raise XError(...)``, and the helpers that build one). Everything
is read with ``ast``: nothing is imported, so the page can be rebuilt without numba.

    python docs/gen_errors.py           # rewrite docs/errors.md
    python docs/gen_errors.py --check   # exit 1 if docs/errors.md is out of date
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generated import write_or_check

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mmkit"
OUT = ROOT / "docs" / "errors.md"

# helpers that build an error from a message argument: name -> (class, index of the message)
BUILDERS = {"_fail": ("SnapshotError", 2), "_limit_error": ("SnapshotError", None)}


@dataclass
class ErrorClass:
    name: str
    bases: list[str]
    doc: str
    where: str
    template: tuple[str, str] | None = None  # (first parameter, message) of a custom __init__
    messages: list[tuple[str, str]] = field(default_factory=list)  # (file:line, message)

    @property
    def cause(self) -> str:
        return _join(self.doc.split("Fix:")[0])

    @property
    def fix(self) -> str:
        return _join(self.doc.split("Fix:", 1)[1]) if "Fix:" in self.doc else ""


def _join(text: str) -> str:
    """Docstring paragraphs as one table cell."""
    paras = [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]
    return "<br>".join(paras).replace("|", "\\|")


def _files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def find_classes() -> dict[str, ErrorClass]:
    """Every class deriving (directly or not) from ``MmkitError``, in source order, then
    ``Interrupted``."""
    found: dict[str, ErrorClass] = {}
    for path in _files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in node.bases]
                found[node.name] = ErrorClass(node.name, bases, ast.get_docstring(node) or "",
                                              str(path.relative_to(ROOT)), _template(node))
    ours: dict[str, ErrorClass] = {"MmkitError": found["MmkitError"]}
    changed = True
    while changed:
        changed = False
        for name, c in found.items():
            if name not in ours and any(b in ours for b in c.bases):
                ours[name] = c
                changed = True
    # and mmkit's interrupt: a KeyboardInterrupt, not an MmkitError (``except Exception``
    # must not swallow Ctrl-C)
    ours.update({n: c for n, c in found.items() if "KeyboardInterrupt" in c.bases and c.where == "mmkit/errors.py"})
    return ours


def _template(cls: ast.ClassDef) -> tuple[str, str] | None:
    """The message a class's own ``__init__`` builds (its first f-string), and the name
    of the parameter a raise passes first."""
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__init__" and len(node.args.args) > 1:
            for sub in ast.walk(node):
                if isinstance(sub, ast.JoinedStr):
                    return node.args.args[1].arg, _render(sub)
    return None


def _string_tables(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level ``NAME = {key: "text", ...}`` dicts (e.g. the invariant rules)."""
    out = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Dict) and node.value.values
                and all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in node.value.values)):
            out[node.targets[0].id] = [v.value for v in node.value.values]
    return out


def _render(node: ast.expr) -> str:
    """A message expression as text: f-string fields as ``{expression}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            else:
                expr = ast.unparse(v.value)
                parts.append("{" + (expr if len(expr) <= 40 else "...") + "}")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _render(node.left) + _render(node.right)
    return "{" + ast.unparse(node) + "}"


def find_messages(classes: dict[str, ErrorClass]) -> None:
    """Fill each class's ``messages`` from the ``raise`` statements and builders."""
    for path in _files():
        tree = ast.parse(path.read_text(), str(path))
        rel = str(path.relative_to(ROOT))
        tables = _string_tables(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Raise, ast.Return)) and isinstance(getattr(node, "exc", None) or
                                                                      getattr(node, "value", None), ast.Call):
                call = node.exc if isinstance(node, ast.Raise) else node.value
                fn = call.func.id if isinstance(call.func, ast.Name) else None
                if fn in classes and call.args:
                    arg = call.args[0]
                    table = arg.value.id if isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name) else ""
                    # a message looked up in a module-level table: one line per entry
                    for msg in tables.get(table) or [_render(arg)]:
                        if classes[fn].template:  # the class builds the message around its first argument
                            param, text = classes[fn].template
                            msg = text.replace("{" + param + "}", msg, 1)
                        classes[fn].messages.append((f"{rel}:{node.lineno}", msg))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BUILDERS:
                cls, i = BUILDERS[node.func.id]
                if i is not None and len(node.args) > i and cls in classes:
                    classes[cls].messages.append((f"{rel}:{node.lineno}",
                                                  "{file} line {n}: " + _render(node.args[i]) + ": '{the line}'"))


def _fix(c: ErrorClass, classes: dict[str, ErrorClass]) -> str:
    """The class's own ``Fix:``, else its nearest base's, said to be that one."""
    if c.fix:
        return c.fix
    for b in c.bases:
        if b in classes and classes[b].fix:
            return f"as for `{b}`: {_fix(classes[b], classes)}"
    return ""


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def page() -> str:
    classes = find_classes()
    find_messages(classes)
    out = [
        "# Errors",
        "",
        "Every error mmkit raises on purpose is a subclass of `mmkit.MmkitError`; any other",
        "exception out of mmkit is a bug. An interrupt (Ctrl-C) is `mmkit.errors.Interrupted`, a",
        "`KeyboardInterrupt`, not an `MmkitError`. This page is generated by",
        "`python docs/gen_errors.py` from the docstrings of the error classes and from the",
        "source; do not edit it by hand.",
        "",
        "| error | is also a | cause | fix | defined in |",
        "|---|---|---|---|---|",
    ]
    for c in classes.values():
        also = ", ".join(f"`{b}`" for b in c.bases if b != "Exception") or "`Exception`"
        out.append(f"| `{c.name}` | {also} | {c.cause} | {_fix(c, classes)} | `{c.where}` |")
    out += ["", "## The messages, by error", "",
            "Each message as the source writes it: `{...}` is filled in when it is raised (a file",
            "name, a line number, the value given). The fix is the one in the table above.", ""]
    for c in classes.values():
        if not c.messages:
            continue
        n = len(c.messages)
        out += [f"### {c.name} ({n} place{'s' if n > 1 else ''})", ""]
        by_file: dict[str, list[tuple[str, str]]] = {}
        for where, msg in sorted(c.messages, key=lambda m: (m[0].rsplit(":", 1)[0], int(m[0].rsplit(":", 1)[1]))):
            by_file.setdefault(where.rsplit(":", 1)[0], []).append((where, msg))
        for f, items in by_file.items():
            out.append(f"- `{f}`")
            seen = set()
            for where, msg in items:
                if msg in seen:
                    continue
                seen.add(msg)
                out.append(f"  - line {where.rsplit(':', 1)[1]}: {_code(msg)}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_or_check(OUT, page(), argv, script="docs/gen_errors.py",
                          description="Write docs/errors.md from the error classes and the source.")


if __name__ == "__main__":
    sys.exit(main())
