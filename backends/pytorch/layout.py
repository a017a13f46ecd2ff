"""Line layout as ruff format (and black) does it, for the code this backend writes.

A statement is `prefix + tree + suffix`. If it fits in the line width it stays on
one line. Otherwise it is split at the tree's brackets ("right-hand split"): the
bracket's content goes on one indented line if it fits there, else one item per
line with a trailing comma, each item laid out the same way in turn. A lone item
gets no comma (black splits it at its own brackets instead). That is all the
layout our generated statements need; tests check the result with `ruff format`.
"""

from __future__ import annotations

from netdsl.backends.pytorch.pyexpr import Atom, Seq, Tree, flat

WIDTH = 88  # ruff's default, so the file is clean wherever it is dropped
INDENT = "    "


def lines(indent: int, prefix: str, tree: Tree, suffix: str = "") -> list[str]:
    pad = INDENT * indent
    one = pad + prefix + flat(tree) + suffix
    if len(one) <= WIDTH or isinstance(tree, Atom) or not tree.items:
        return [one]
    head = pad + prefix + tree.head + tree.open
    tail = pad + tree.close + suffix
    inner = INDENT * (indent + 1)
    items = tree.items
    if len(items) == 1:
        p, t = items[0]
        comma = "," if tree.single_comma else ""
        body = inner + p + flat(t) + comma
        if len(body) <= WIDTH:
            return [head, body, tail]
        return [head, *lines(indent + 1, p, t, comma), tail]
    body = inner + ", ".join(p + flat(t) for p, t in items)
    if len(body) <= WIDTH:
        return [head, body, tail]
    out = [head]
    for p, t in items:
        out += lines(indent + 1, p, t, ",")
    out.append(tail)
    return out


def statement(indent: int, prefix: str, tree: Tree | str, suffix: str = "") -> list[str]:
    if isinstance(tree, str):
        tree = Atom(tree)
    return lines(indent, prefix, tree, suffix)


def condition(indent: int, keyword: str, cond: str) -> list[str]:
    """`if cond:`, wrapped in parentheses when too long (as ruff does)."""
    pad = INDENT * indent
    one = f"{pad}{keyword} {cond}:"
    if len(one) <= WIDTH:
        return [one]
    return [f"{pad}{keyword} (", f"{pad}{INDENT}{cond}", f"{pad}):"]


__all__ = ["Atom", "Seq", "WIDTH", "condition", "lines", "statement"]
