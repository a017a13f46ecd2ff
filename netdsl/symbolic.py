"""Symbolic forms of argument expressions, for code generation.

The PyTorch backend writes one class per block type whose constructor takes
the block's parameters. For that it needs to know, for each layer argument,
the expression over those parameters that produced it (``planes * 4``), not
only its value. `render` gives that expression as Python source, or None when
it depends on anything else (a loop variable, a tensor's height, ...).
"""

from __future__ import annotations

from netdsl import ast

_BIN = {"+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"}
_ATOMIC = (ast.Const, ast.Name, ast.Attr)


# Longer forms are given up (None): `x = x + 1` in a loop would otherwise grow one
# without bound, and quadratic time with it.
MAX_LENGTH = 400


def _bounded(text: str) -> str | None:
    return text if len(text) <= MAX_LENGTH else None


def _wrap(e: ast.Expr, text: str) -> str:
    return text if isinstance(e, _ATOMIC) else f"({text})"


def render(e: ast.Expr, syms: dict[str, str | None]) -> str | None:
    if isinstance(e, ast.Const):
        v = e.value
        if v is None or isinstance(v, (bool, int, float, str)):
            return repr(v)
        if isinstance(v, tuple):
            return repr(v)
        return None
    if isinstance(e, ast.Name):
        return syms.get(e.id)
    if isinstance(e, ast.Attr):
        if isinstance(e.obj, ast.InRef) and e.name == "channels":
            return "in_channels"
        return None
    if isinstance(e, ast.BinOp) and e.op in _BIN:
        left, right = render(e.left, syms), render(e.right, syms)
        if left is None or right is None:
            return None
        return _bounded(f"{_wrap(e.left, left)} {e.op} {_wrap(e.right, right)}")
    if isinstance(e, ast.UnOp):
        inner = render(e.operand, syms)
        if inner is None:
            return None
        return f"not {_wrap(e.operand, inner)}" if e.op == "not" else f"-{_wrap(e.operand, inner)}"
    if isinstance(e, (ast.TupleE, ast.ListE)):
        parts = [render(i, syms) for i in e.items]
        if any(p is None for p in parts):
            return None
        if isinstance(e, ast.ListE):
            return _bounded(f"[{', '.join(parts)}]")
        return _bounded(f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})")
    return None
