"""What an event's ``print fmt`` says about its text: the gfp names that
``__print_flags`` prints (``GFP_KERNEL|__GFP_ZERO``) and the names ``__print_symbolic``
prints for a field (``status=success``), read from the format file so text printed by
another kernel reads back to the same numbers.
"""

from __future__ import annotations

import ast
import operator
import re

__all__ = ["flag_names", "symbol_tables"]

_OPS = {ast.BitOr: operator.or_, ast.BitAnd: operator.and_, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
        ast.BitXor: operator.xor, ast.Add: operator.add, ast.Sub: operator.sub}


def _eval(expr: str) -> int:
    """An integer C expression of constants, casts, ``| & ~ << >>`` (what the kernel's
    ``__GFP_*`` macros expand to) evaluated without ``eval``."""
    e = re.sub(r"\(\s*(?:unsigned\s+long|unsigned\s+int|gfp_t|int|long)\s*\)", "", expr)
    e = re.sub(r"\b(\d+)U?L{0,2}\b", r"\1", e)
    e = re.sub(r"\b0x([0-9a-fA-F]+)U?L{0,2}\b", r"0x\1", e)

    def walk(n: ast.AST) -> int:
        if isinstance(n, ast.Expression):
            return walk(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, int):
            return n.value
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            return _OPS[type(n.op)](walk(n.left), walk(n.right))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Invert):
            return ~walk(n.operand) & (2**64 - 1)
        raise ValueError(f"not a constant expression: {expr!r}")

    return walk(ast.parse(e.strip(), mode="eval")) & (2**64 - 1)


def _split_args(text: str, start: int) -> tuple[list[str], int]:
    """The comma-separated arguments of the call whose '(' is at ``start``."""
    depth, args, cur, i, quote = 0, [], [], start, False
    while i < len(text):
        ch = text[i]
        if quote:
            cur.append(ch)
            if ch == '"' and text[i - 1] != "\\":
                quote = False
        elif ch == '"':
            quote = True
            cur.append(ch)
        elif ch in "({":
            depth += 1
            if depth > 1:
                cur.append(ch)
        elif ch in ")}":
            depth -= 1
            if depth == 0:
                args.append("".join(cur).strip())
                return args, i
            cur.append(ch)
        elif ch == "," and depth == 1:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    raise ValueError("unbalanced parentheses")


def _pairs(args: list[str]) -> dict[str, int]:
    out = {}
    for a in args:
        m = re.fullmatch(r"\{\s*(.*)\s*,\s*\"([^\"]*)\"\s*\}", a, re.S)
        if m:
            try:
                out[m[2]] = _eval(m[1])
            except (ValueError, SyntaxError):
                continue
    return out


def flag_names(print_fmt: str) -> dict[str, int]:
    """``{name: bits}`` of the first ``__print_flags`` table in ``print_fmt`` (the gfp
    names, composites first as the kernel tries them)."""
    i = print_fmt.find("__print_flags(")
    if i < 0:
        return {}
    args, _ = _split_args(print_fmt, i + len("__print_flags"))
    return _pairs(args[2:])


def symbol_tables(print_fmt: str) -> dict[str, dict[str, int]]:
    """``{field: {name: value}}`` for each ``__print_symbolic(REC->field, ...)``, plus
    ``REC->field ? "a" : "b"`` choices (compaction's ``mode=sync``)."""
    out: dict[str, dict[str, int]] = {}
    for m in re.finditer(r"__print_symbolic\(", print_fmt):
        args, _ = _split_args(print_fmt, m.end() - 1)
        f = re.fullmatch(r"REC->(\w+)", args[0].strip())
        if f:
            out[f[1]] = _pairs(args[1:])
    for m in re.finditer(r"REC->(\w+)\s*\?\s*\"([^\"]*)\"\s*:\s*\"([^\"]*)\"", print_fmt):
        out[m[1]] = {m[2]: 1, m[3]: 0}
    return out
