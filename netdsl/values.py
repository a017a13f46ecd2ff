"""Run-time values of the elaborator: tensors and (not yet applied) layers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from netdsl import ast
from netdsl.diagnostics import Span
from netdsl.ops.base import OpDef, plain_type_name


@dataclass(frozen=True, slots=True)
class Tensor:
    node: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ArgValue:
    """An argument as written: its value, where it was written, and its symbolic form."""

    value: Any
    span: Span
    sym: str | None


@dataclass(frozen=True, slots=True)
class Spec:
    """A layer that has not been applied to a tensor yet."""

    span: Span
    name: str | None

    def named(self, name: str) -> Spec:
        return replace(self, name=name)

    @property
    def size(self) -> int:
        """How many layers applying this creates, at least (for resource limits)."""
        return 1


@dataclass(frozen=True, slots=True)
class OpSpec(Spec):
    op: OpDef
    pos: tuple[ArgValue, ...] = ()
    kw: tuple[tuple[str, ArgValue], ...] = ()
    called: bool = False


@dataclass(frozen=True, slots=True)
class BlockSpec(Spec):
    block: ast.Block
    pos: tuple[ArgValue, ...] = ()
    kw: tuple[tuple[str, ArgValue], ...] = ()
    called: bool = False


@dataclass(frozen=True, slots=True)
class SeqSpec(Spec):
    items: tuple[Spec, ...] = ()
    total: int = 0
    # A list of layers written inside another list: one numbered member of the outer
    # group (nn.Sequential inside nn.Sequential: features.0.0), not flattened into it.
    numbered: bool = False

    @property
    def size(self) -> int:
        return self.total


@dataclass(frozen=True, slots=True)
class RepeatSpec(Spec):
    """`repeat n { layers }` whose body does not change between repetitions."""

    body: Spec | None = None
    count: int = 0

    @property
    def size(self) -> int:
        return self.count * self.body.size


def seq(items: list[Spec], span: Span, name: str | None = None, numbered: bool = False) -> SeqSpec:
    return SeqSpec(span, name, tuple(items), sum(i.size for i in items), numbered)


class LayerList(list):
    """The value of a list literal that holds layers (`[conv(64, 3), relu]`), as opposed
    to one a `for` or a chain produced: only a literal nests as a numbered group."""

    __slots__ = ()


def holds_layers(items: list) -> bool:
    return any(isinstance(i, Spec) or (isinstance(i, list) and holds_layers(i)) for i in items)


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str
    fn: Any
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Initializer:
    fn: str
    args: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"fn": self.fn, "args": dict(self.args)}


class _Poison:
    """The value of a name whose defining statement failed (its error is already reported)."""

    def __repr__(self) -> str:
        return "<poisoned>"


POISON: Any = _Poison()


class Poisoned(Exception):
    """A statement read a poisoned name: it is skipped without a second, cascading error."""


def type_name(value: Any) -> str:
    for cls, name in (
        (Tensor, "tensor"),
        (Spec, "layer"),
        (Builtin, "function"),
        (Initializer, "initializer"),
    ):
        if isinstance(value, cls):
            return name
    return plain_type_name(value)


def a_type(value: Any) -> str:
    """The type of a value with its article, for messages: "an int", "a layer"."""
    name = type_name(value)
    return ("an " if name[0] in "aeiou" else "a ") + name
