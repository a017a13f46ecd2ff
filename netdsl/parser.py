"""Text -> AST, with Lark's LALR parser; syntax errors become diagnostics."""

from __future__ import annotations

import ast as pyast
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from netdsl import ast
from netdsl.diagnostics import Diagnostic, NetdslError, Span

# Terminals spelled in words, for "expected ..." messages.
_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "SHAPE": "a shape like 3x224x224",
    "STRING": "a string",
    "COMP_OP": "a comparison",
    "$END": "end of file",
}


@lru_cache(maxsize=1)
def _grammar() -> str:
    return resources.files("netdsl.grammars").joinpath("netdsl.lark").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(_grammar(), parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line, tok.end_column)


class _ToAst(Transformer):
    """Builds AST nodes; every node gets its span from Lark's meta."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _s(self, meta) -> Span:
        return _span(self.file, meta)

    # --- module level
    @v_args(meta=True)
    def start(self, meta, items):
        return items

    @v_args(meta=True)
    def import_stmt(self, meta, c):
        return ast.Import(pyast.literal_eval(c[0]), self._s(meta))

    @v_args(meta=True)
    def block_def(self, meta, c):
        return ast.Block(str(c[0]), c[1] or [], c[2], self._s(meta))

    @v_args(meta=True)
    def network_def(self, meta, c):
        return ast.Network(str(c[0]), c[1] or [], c[2], self._s(meta))

    def params(self, c):
        return [p for p in c if p is not None]

    @v_args(meta=True)
    def param(self, meta, c):
        return ast.Param(str(c[0]), c[1], self._s(meta))

    def body(self, c):
        return [s for s in c if s is not None]

    # --- statements
    @v_args(meta=True)
    def input_stmt(self, meta, c):
        return ast.Input(self._s(meta), str(c[0]), c[1])

    @v_args(meta=True)
    def out_stmt(self, meta, c):
        return ast.Out(self._s(meta), str(c[0]) if c[0] is not None else None, c[1])

    @v_args(meta=True)
    def aux_stmt(self, meta, c):
        return ast.Aux(self._s(meta), c[0], str(c[1]), c[2])

    @v_args(meta=True)
    def init_stmt(self, meta, c):
        return ast.Init(self._s(meta), str(c[0]), c[1] or [])

    @v_args(meta=True)
    def assign(self, meta, c):
        return ast.Assign(self._s(meta), [str(t) for t in c[:-1]], c[-1])

    @v_args(meta=True)
    def expr_stmt(self, meta, c):
        return ast.ExprStmt(self._s(meta), c[0])

    # --- expressions
    @v_args(meta=True)
    def chain(self, meta, c):
        return ast.Chain(self._s(meta), c[0], c[1])

    @v_args(meta=True)
    def alias(self, meta, c):
        if c[1].type == "STRING":
            return ast.As(self._s(meta), c[0], pyast.literal_eval(c[1]), template=True)
        return ast.As(self._s(meta), c[0], str(c[1]))

    @v_args(meta=True)
    def or_(self, meta, c):
        return ast.BinOp(self._s(meta), "or", c[0], c[1])

    @v_args(meta=True)
    def and_(self, meta, c):
        return ast.BinOp(self._s(meta), "and", c[0], c[1])

    @v_args(meta=True)
    def not_(self, meta, c):
        return ast.UnOp(self._s(meta), "not", c[0])

    @v_args(meta=True)
    def compare(self, meta, c):
        return ast.BinOp(self._s(meta), str(c[1]), c[0], c[2])

    @v_args(meta=True)
    def binop(self, meta, c):
        return ast.BinOp(self._s(meta), str(c[1]), c[0], c[2])

    @v_args(meta=True)
    def pow(self, meta, c):
        return ast.BinOp(self._s(meta), "**", c[0], c[1])

    @v_args(meta=True)
    def neg(self, meta, c):
        return ast.UnOp(self._s(meta), "-", c[1])

    @v_args(meta=True)
    def attr(self, meta, c):
        return ast.Attr(self._s(meta), c[0], str(c[1]))

    @v_args(meta=True)
    def call(self, meta, c):
        return ast.Call(self._s(meta), c[0], c[1] or [])

    @v_args(meta=True)
    def index(self, meta, c):
        return ast.Index(self._s(meta), c[0], c[1])

    def arglist(self, c):
        return [a if isinstance(a, ast.Arg) else ast.Arg(None, a, a.span) for a in c if a]

    @v_args(meta=True)
    def kwarg(self, meta, c):
        return ast.Arg(str(c[0]), c[1], self._s(meta))

    @v_args(meta=True)
    def name(self, meta, c):
        return ast.Name(self._s(meta), str(c[0]))

    @v_args(meta=True)
    def input_ref(self, meta, c):
        return ast.InRef(self._s(meta))

    @v_args(meta=True)
    def int(self, meta, c):
        return ast.Const(self._s(meta), int(c[0]))

    @v_args(meta=True)
    def float(self, meta, c):
        return ast.Const(self._s(meta), float(c[0]))

    @v_args(meta=True)
    def shape(self, meta, c):
        return ast.Const(self._s(meta), tuple(int(d) for d in str(c[0]).split("x")))

    @v_args(meta=True)
    def string(self, meta, c):
        return ast.Const(self._s(meta), pyast.literal_eval(c[0]))

    @v_args(meta=True)
    def true(self, meta, c):
        return ast.Const(self._s(meta), True)

    @v_args(meta=True)
    def false(self, meta, c):
        return ast.Const(self._s(meta), False)

    @v_args(meta=True)
    def none(self, meta, c):
        return ast.Const(self._s(meta), None)

    @v_args(meta=True)
    def list(self, meta, c):
        return ast.ListE(self._s(meta), [x for x in c if x is not None])

    @v_args(meta=True)
    def tuple(self, meta, c):
        return ast.TupleE(self._s(meta), [x for x in c if x is not None])

    @v_args(meta=True)
    def if_expr(self, meta, c):
        orelse = c[2]
        if isinstance(orelse, ast.If):
            orelse = [ast.ExprStmt(orelse.span, orelse)]
        return ast.If(self._s(meta), c[0], c[1], orelse)

    @v_args(meta=True)
    def for_expr(self, meta, c):
        return ast.For(self._s(meta), [str(t) for t in c[:-2]], c[-2], c[-1])

    @v_args(meta=True)
    def repeat_expr(self, meta, c):
        return ast.Repeat(self._s(meta), c[0], c[1])


def _describe(parser: Lark, names) -> str:
    words = []
    for name in sorted(set(names)):
        if name in _WORDS:
            words.append(_WORDS[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            words.append(name)
            continue
        words.append(f"'{pattern.value}'" if pattern.type == "str" else name.lower())
    words = sorted(set(words))
    if len(words) > 6:
        return ", ".join(words[:6]) + " or another token"
    if len(words) > 1:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return words[0] if words else "something else"


def _syntax_error(exc: UnexpectedInput, file: str, text: str) -> NetdslError:
    parser = _lark()
    line, col = exc.line, exc.column
    hint = None
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        msg = f"unexpected character {ch!r}"
        if ch == "'":
            hint = 'strings use double quotes: "..."'
        span = Span(file, line, col, line, col + 1)
    elif isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        expected = getattr(exc, "expected", None) or []
        msg = f"unexpected end of file; expected {_describe(parser, expected)}"
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        span = Span(file, line, col, line, col + 1)
        if "RBRACE" in expected or "RPAR" in expected or "RSQB" in expected:
            hint = "is a bracket left unclosed?"
    else:
        tok = exc.token
        msg = f"unexpected {_token_words(tok)}; expected {_describe(parser, exc.expected)}"
        span = _tok_span(file, tok)
        closers = [c for c in ("RPAR", "RSQB", "RBRACE") if c in exc.expected]
        if tok.type == "NAME" and "EQUAL" in exc.expected:
            hint = "a missing operator or '->' between two names?"
        elif closers:
            hint = f"is a {_describe(parser, closers[:1])} missing?"
    return NetdslError(Diagnostic("E101", msg, span, hint))


def _token_words(tok: Token) -> str:
    kinds = {"NAME": "name", "INT": "integer", "FLOAT": "number", "SHAPE": "shape"}
    if tok.type in kinds:
        return f"{kinds[tok.type]} {tok.value!r}"
    return repr(tok.value)


def parse(text: str, file: str = "<input>") -> ast.Module:
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, file, text) from None
    items = _ToAst(file).transform(tree)
    module = ast.Module(file=file, source=text)
    for item in items:
        if isinstance(item, ast.Import):
            module.imports.append(item)
        elif isinstance(item, ast.Block):
            module.blocks.append(item)
        else:
            module.networks.append(item)
    return module
