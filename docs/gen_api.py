"""Write ``docs/api.md``: the reference of mmkit's public functions, from their numpydoc
docstrings (Parameters, Returns, Raises, Notes, Examples).

Everything is read with ``ast``: nothing is imported, so the page can be rebuilt without
numba. To add a function to the reference, add it to ``PUBLIC`` (its file, its name in
that file, the name users call it by) and give it a numpydoc docstring;
``tests/test_api_docs.py`` checks every entry has the sections and runs its Examples.

    python docs/gen_api.py           # rewrite docs/api.md
    python docs/gen_api.py --check   # exit 1 if docs/api.md is out of date
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generated import write_or_check

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "api.md"

# (file under mmkit/, qualified name in it, the name users call)
PUBLIC = [
    ("run.py", "compare", "mmkit.compare"),
    ("run.py", "simulate", "mmkit.simulate"),
    ("model/memory.py", "Memory.synthetic", "mmkit.Memory.synthetic"),
    ("model/memory.py", "Memory.from_snapshot", "mmkit.Memory.from_snapshot"),
    ("compact.py", "compact_memory", "mmkit.compact_memory"),
    ("metrics/contiguity.py", "contiguity", "mmkit.contiguity"),
    ("sweep/api.py", "sweep", "mmkit.sweep.sweep"),
    ("result.py", "load_result", "mmkit.load_result"),
    ("trace/replay.py", "replay", "mmkit.replay"),
    ("trace/replay.py", "versus_real", "mmkit.versus_real"),
    ("viz/timeline.py", "fragmentation", "mmkit.viz.fragmentation"),
    ("viz/timeline.py", "misrouted", "mmkit.viz.misrouted"),
    ("viz/buddy.py", "buddyinfo", "mmkit.viz.buddyinfo"),
    ("viz/contig.py", "contiguity", "mmkit.viz.contiguity"),
    ("viz/contig.py", "contiguity_over_time", "mmkit.viz.contiguity_over_time"),
    ("viz/memmap.py", "memory_map", "mmkit.viz.memory_map"),
    ("viz/table.py", "compare_table", "mmkit.viz.compare_table"),
    ("viz/monitor.py", "monitor_free", "mmkit.viz.monitor_free"),
    ("viz/monitor.py", "monitor_indices", "mmkit.viz.monitor_indices"),
    ("viz/monitor.py", "monitor_pageblocks", "mmkit.viz.monitor_pageblocks"),
    ("viz/monitor.py", "monitor_compaction", "mmkit.viz.monitor_compaction"),
    ("viz/monitor.py", "compact_prediction", "mmkit.viz.compact_prediction"),
    ("viz/monitor.py", "zone_labels", "mmkit.viz.zone_labels"),
    ("viz/sweep.py", "sweep_allocations", "mmkit.viz.sweep_allocations"),
    ("viz/sweep.py", "sweep_bands", "mmkit.viz.sweep_bands"),
    ("viz/sweep.py", "sweep_distribution", "mmkit.viz.sweep_distribution"),
    ("viz/sweep.py", "sweep_faults", "mmkit.viz.sweep_faults"),
    ("viz/sweep.py", "sweep_fragmentation", "mmkit.viz.sweep_fragmentation"),
]
SECTIONS = ("Parameters", "Returns", "Raises", "Notes", "Examples")
REQUIRED = ("Parameters", "Returns", "Examples")


@dataclass
class Entry:
    name: str
    where: str
    signature: str
    doc: str

    def sections(self) -> dict[str, str]:
        """The docstring split at its numpydoc headers; "" holds the text before them."""
        out, key, buf = {}, "", []
        lines = self.doc.splitlines()
        i = 0
        while i < len(lines):
            if (i + 1 < len(lines) and lines[i].strip() in SECTIONS
                    and set(lines[i + 1].strip()) == {"-"}):
                out[key] = "\n".join(buf).strip("\n")
                key, buf = lines[i].strip(), []
                i += 2
                continue
            buf.append(lines[i])
            i += 1
        out[key] = "\n".join(buf).strip("\n")
        return out


def find(rel: str, qualname: str, public: str) -> Entry:
    path = ROOT / "mmkit" / rel
    tree = ast.parse(path.read_text(), filename=str(path))
    node: ast.AST = tree
    for part in qualname.split("."):
        body = getattr(node, "body", [])
        found = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part), None)
        if found is None:
            raise SystemExit(f"gen_api: {qualname} not found in mmkit/{rel}")
        node = found
    assert isinstance(node, ast.FunctionDef)
    args = node.args
    if args.args and args.args[0].arg in ("self", "cls"):
        args = ast.arguments(posonlyargs=args.posonlyargs, args=args.args[1:], vararg=args.vararg,
                             kwonlyargs=args.kwonlyargs, kw_defaults=args.kw_defaults, kwarg=args.kwarg,
                             defaults=args.defaults)
    ret = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    sig = f"{public}({ast.unparse(args)}){ret}"
    return Entry(public, f"mmkit/{rel}:{node.lineno}", sig, ast.get_docstring(node) or "")


def _items(text: str) -> list[str]:
    """A Parameters/Returns/Raises section as bullets: ``name : type`` lines start an
    item, indented lines are its description."""
    out: list[str] = []
    head, desc = None, []

    def flush() -> None:
        if head is not None:
            name, _, typ = head.partition(" : ")
            label = f"`{name.strip()}`" + (f" ({typ.strip()})" if typ else "")
            out.append(f"- {label}" + (f": {' '.join(desc)}" if desc else ""))

    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith((" ", "\t")):
            desc.append(line.strip())
        else:
            flush()
            head, desc = line.strip(), []
    flush()
    return out


def render(entries: list[Entry]) -> str:
    lines = ["# API reference", "",
             "Generated by `python docs/gen_api.py` from the docstrings; do not edit by hand.",
             "Errors and their fixes: `docs/errors.md`. The rules each variant models: "
             "`mmkit.variants()` and `docs/modelling.md`.", ""]
    lines += [f"- [`{e.name}`](#{re.sub(r'[^a-z0-9]+', '', e.name.lower())})" for e in entries]
    lines.append("")
    for e in entries:
        sec = e.sections()
        lines += [f"## {e.name}", "", "```python", e.signature, "```", "", sec.get("", ""), "",
                  f"Source: `{e.where.split(':')[0]}`", ""]
        for name in SECTIONS:
            if name not in sec:
                continue
            lines += [f"**{name}**", ""]
            if name in ("Parameters", "Returns", "Raises"):
                lines += _items(sec[name])
            elif name == "Examples":
                lines += ["```python", sec[name], "```"]
            else:
                lines.append(sec[name])
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def entries() -> list[Entry]:
    return [find(*p) for p in PUBLIC]


def main(argv: list[str] | None = None) -> int:
    return write_or_check(OUT, render(entries()), argv, script="docs/gen_api.py",
                          description="Write docs/api.md from the public functions' docstrings.")


if __name__ == "__main__":
    sys.exit(main())
