"""Python expressions for generated code: parsing, printing, evaluation, literals.

Symbolic argument forms come from netdsl (netdsl.symbolic.render) as Python
source over block parameters. Here they are parsed (with parameters renamed
where a .net name is not a usable Python identifier), printed back in one
canonical style (minimal parentheses, double-quoted strings, as ruff formats),
substituted into each other and evaluated against concrete parameter values,
which is how the backend checks that a symbolic spelling reproduces the value
netdsl computed.
"""

from __future__ import annotations

import ast
import copy
import functools
import io
import math
import re
import tokenize
from dataclasses import dataclass
from typing import Any

from netdsl.text import visible

# ---------------------------------------------------------------- layout trees
# A small tree for what the line formatter may split: bracketed sequences.


@dataclass(frozen=True)
class Atom:
    text: str


@dataclass(frozen=True)
class Seq:
    """`head` + `open` + items + `close`; items are (prefix, tree), e.g. ("stride=", ...)."""

    head: str
    open: str
    items: tuple[tuple[str, Any], ...]
    close: str
    # A one-element tuple needs its comma even on one line: "(a,)".
    single_comma: bool = False


Tree = Atom | Seq


def flat(tree: Tree) -> str:
    if isinstance(tree, Atom):
        return tree.text
    body = ", ".join(prefix + flat(item) for prefix, item in tree.items)
    if tree.single_comma and len(tree.items) == 1:
        body += ","
    return f"{tree.head}{tree.open}{body}{tree.close}"


def call(func: str, args: list[tuple[str, Tree]]) -> Seq:
    return Seq(func, "(", tuple(args), ")")


# -------------------------------------------------------------------- literals


def doc_text(s: str) -> str:
    """Text that is inert inside a triple-quoted docstring: control characters made
    visible, backslashes escaped, and a double quote escaped where it follows another or
    ends the text, so no run of quotes from the source can close the docstring."""
    text = visible(s).replace("\\", "\\\\")
    return re.sub(r'(?<=")"|"$', r'\\"', text)


def str_literal(s: str) -> str:
    """A string literal as ruff formats it: double quotes unless that needs more escapes."""
    r = repr(s)
    if r.startswith("'") and '"' not in s:
        r = '"' + r[1:-1].replace("\\'", "'") + '"'
    return r


def literal_tree(value: Any) -> Tree:
    """A Python value as source; raises ValueError for what has no literal."""
    if value is None or isinstance(value, bool):
        return Atom(repr(value))
    if isinstance(value, int):
        return Atom(str(value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return Atom(f"float({str_literal(repr(value))})")
        return Atom(repr(value))
    if isinstance(value, str):
        return Atom(str_literal(value))
    if isinstance(value, tuple):
        return Seq("", "(", tuple(("", literal_tree(v)) for v in value), ")", single_comma=True)
    if isinstance(value, list):
        return Seq("", "[", tuple(("", literal_tree(v)) for v in value), "]")
    raise ValueError(f"no Python literal for {value!r}")


def literal(value: Any) -> str:
    return flat(literal_tree(value))


def number(value: float | int) -> str:
    """A number for an initialiser call: 0 rather than 0.0, as people write it."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return literal(value)


# --------------------------------------------------------------------- parsing

_CONSTANT_NAMES = {"True", "False", "None"}


def parse(text: str, rename: dict[str, str] | None = None) -> ast.expr | None:
    """Parse a symbolic form, renaming identifiers; None when it is not usable.

    Renaming is done on tokens, so names that are Python keywords (a .net
    parameter may be called `class`) survive. A form that mentions a
    parameter called True, False or None is ambiguous and refused.
    The result is shared (cached): never modify it.
    """
    key = tuple(sorted(rename.items())) if rename else ()
    return _parse(text, key)


@functools.lru_cache(maxsize=65536)
def _parse(text: str, rename_items: tuple) -> ast.expr | None:
    rename = dict(rename_items)
    if rename:
        if _CONSTANT_NAMES & set(rename):
            try:
                toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
            except (tokenize.TokenError, SyntaxError):
                return None
            if any(t.type == tokenize.NAME and t.string in _CONSTANT_NAMES for t in toks):
                return None
        try:
            out = []
            for tok in tokenize.generate_tokens(io.StringIO(text).readline):
                if tok.type == tokenize.NAME and tok.string in rename:
                    tok = tok._replace(string=rename[tok.string])
                out.append((tok.type, tok.string))
            text = tokenize.untokenize(out).strip()
        except (tokenize.TokenError, SyntaxError, IndentationError):
            return None
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            return None
    return tree


_ALLOWED = (
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Tuple,
    ast.List,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)


def names(tree: ast.expr) -> set[str]:
    return set(_names(tree))


@functools.lru_cache(maxsize=65536)
def _names(tree: ast.expr) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))


def is_constant(tree: ast.expr) -> bool:
    return not names(tree)


def substitute(tree: ast.expr, mapping: dict[str, ast.expr]) -> ast.expr:
    class T(ast.NodeTransformer):
        def visit_Name(self, node):
            return mapping.get(node.id, node)

    return T().visit(copy.deepcopy(tree))


# -------------------------------------------------------------------- printing

_BIN = {
    ast.Add: ("+", 10),
    ast.Sub: ("-", 10),
    ast.Mult: ("*", 11),
    ast.Div: ("/", 11),
    ast.FloorDiv: ("//", 11),
    ast.Mod: ("%", 11),
    ast.Pow: ("**", 13),
    ast.BitOr: ("|", 6),
    ast.BitXor: ("^", 7),
    ast.BitAnd: ("&", 8),
    ast.LShift: ("<<", 9),
    ast.RShift: (">>", 9),
    ast.MatMult: ("@", 11),
}
_CMP = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_ATOM = 20


def _prec(node: ast.expr) -> int:
    if isinstance(node, ast.IfExp):
        return 1
    if isinstance(node, ast.BoolOp):
        return 2 if isinstance(node.op, ast.Or) else 3
    if isinstance(node, ast.UnaryOp):
        return 4 if isinstance(node.op, ast.Not) else 12
    if isinstance(node, ast.Compare):
        return 5
    if isinstance(node, ast.BinOp):
        return _BIN[type(node.op)][1]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        if not isinstance(node.value, bool) and node.value < 0:
            return 12
    return _ATOM


def _wrap(node: ast.expr, need: int) -> str:
    text = unparse(node)
    return f"({text})" if _prec(node) < need else text


def unparse(node: ast.expr) -> str:
    """Canonical source of a parsed form: minimal parentheses, double quotes."""
    if isinstance(node, ast.Constant):
        return literal(node.value)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Tuple):
        items = [_wrap(e, 2) for e in node.elts]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(node, ast.List):
        return "[" + ", ".join(_wrap(e, 2) for e in node.elts) + "]"
    if isinstance(node, ast.BinOp):
        op, p = _BIN[type(node.op)]
        if isinstance(node.op, ast.Pow):
            return f"{_wrap(node.left, p + 1)} ** {_wrap(node.right, 12)}"
        return f"{_wrap(node.left, p)} {op} {_wrap(node.right, p + 1)}"
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return f"not {_wrap(node.operand, 4)}"
        sign = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}[type(node.op)]
        return f"{sign}{_wrap(node.operand, 12)}"
    if isinstance(node, ast.BoolOp):
        p = _prec(node)
        word = " or " if isinstance(node.op, ast.Or) else " and "
        return word.join(_wrap(v, p + 1) for v in node.values)
    if isinstance(node, ast.Compare):
        parts = [_wrap(node.left, 6)]
        for op, right in zip(node.ops, node.comparators):
            parts.append(_CMP[type(op)])
            parts.append(_wrap(right, 6))
        return " ".join(parts)
    if isinstance(node, ast.IfExp):
        return f"{_wrap(node.body, 2)} if {_wrap(node.test, 2)} else {_wrap(node.orelse, 1)}"
    raise ValueError(f"cannot print {ast.dump(node)}")


def normalise(text: str, rename: dict[str, str] | None = None) -> str | None:
    tree = parse(text, rename)
    return None if tree is None else _unparse(tree)


@functools.lru_cache(maxsize=65536)
def _unparse(tree: ast.expr) -> str:
    return unparse(tree)


# ------------------------------------------------------------------ evaluation

_NO_VALUE = object()


@functools.lru_cache(maxsize=65536)
def _compile(text: str):
    try:
        return compile(text, "<netdsl>", "eval")
    except (SyntaxError, ValueError):
        return None


def evaluate(text: str, env: dict[str, Any]) -> Any:
    """The value of a canonical form under env, or _NO_VALUE if it fails."""
    try:
        code = _compile(text)
        if code is None:
            return _NO_VALUE
        for name in code.co_names:
            if name not in env:
                return _NO_VALUE
        return eval(code, {"__builtins__": {}}, dict(env))  # noqa: S307 - our own forms
    except Exception:  # any failure just means "this spelling does not work here"
        return _NO_VALUE


def same(a: Any, b: Any, pair: bool = False) -> bool:
    """Whether two argument values mean the same to PyTorch: [1] == (1,), and for a
    pair argument (kernel, stride, ...) 3 == (3, 3)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if pair and isinstance(a, (list, tuple)) and isinstance(b, (int, float)):
        a, b = b, a
    if pair and isinstance(a, (int, float)) and isinstance(b, (list, tuple)):
        return len(b) == 2 and all(same(a, v) for v in b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def holds(text: str, env: dict[str, Any], value: Any, pair: bool = False) -> bool:
    v = evaluate(text, env)
    return v is not _NO_VALUE and same(v, value, pair)
