"""The AST: plain dataclasses, each with the source span it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netdsl.diagnostics import Span


@dataclass(slots=True)
class Expr:
    span: Span


@dataclass(slots=True)
class Name(Expr):
    id: str


@dataclass(slots=True)
class InRef(Expr):
    pass


@dataclass(slots=True)
class Const(Expr):
    value: Any


@dataclass(slots=True)
class ListE(Expr):
    items: list[Expr]


@dataclass(slots=True)
class TupleE(Expr):
    items: list[Expr]


@dataclass(slots=True)
class Attr(Expr):
    obj: Expr
    name: str


@dataclass(slots=True)
class Arg:
    name: str | None
    value: Expr
    span: Span


@dataclass(slots=True)
class Call(Expr):
    func: Expr
    args: list[Arg]


@dataclass(slots=True)
class Index(Expr):
    obj: Expr
    index: Expr


@dataclass(slots=True)
class BinOp(Expr):
    op: str  # + - * / // % ** == != < <= > >= and or
    left: Expr
    right: Expr


@dataclass(slots=True)
class UnOp(Expr):
    op: str  # - not
    operand: Expr


@dataclass(slots=True)
class Chain(Expr):
    left: Expr
    right: Expr


@dataclass(slots=True)
class As(Expr):
    expr: Expr
    name: str
    template: bool = False  # "layer{i}": braces name variables


@dataclass(slots=True)
class If(Expr):
    cond: Expr
    then: list[Stmt]
    orelse: list[Stmt] | None


@dataclass(slots=True)
class For(Expr):
    names: list[str]
    iter: Expr
    body: list[Stmt]


@dataclass(slots=True)
class Repeat(Expr):
    count: Expr
    body: list[Stmt]


@dataclass(slots=True)
class Stmt:
    span: Span


@dataclass(slots=True)
class Input(Stmt):
    name: str
    shape: Expr


@dataclass(slots=True)
class Out(Stmt):
    name: str | None
    expr: Expr


@dataclass(slots=True)
class Aux(Stmt):
    weight: Expr
    name: str
    expr: Expr


@dataclass(slots=True)
class Init(Stmt):
    op: str
    args: list[Arg]


@dataclass(slots=True)
class Train(Stmt):
    """A training recipe: `train { name = expr ... }` (netdsl/recipe.py reads it)."""

    items: list[tuple[str, Expr, Span]]


@dataclass(slots=True)
class Assign(Stmt):
    targets: list[str]
    expr: Expr


@dataclass(slots=True)
class ExprStmt(Stmt):
    expr: Expr


@dataclass(slots=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(slots=True)
class Block:
    name: str
    params: list[Param]
    body: list[Stmt]
    span: Span


@dataclass(slots=True)
class Network:
    name: str
    params: list[Param]
    body: list[Stmt]
    span: Span


@dataclass(slots=True)
class Import:
    path: str
    span: Span


@dataclass(slots=True)
class Module:
    file: str
    source: str
    imports: list[Import] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
