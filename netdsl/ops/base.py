"""The op registry's vocabulary: how one operation is described, once.

An OpDef says everything netdsl knows about an operation: its arguments and
defaults, which tensor types it accepts, how its output type follows from its
inputs, what it costs and how it widens the receptive field. How a backend spells
it lives in that backend's table (backends/*/spelling.py), never here. Ops are
declarative; argument binding and checking is done here, generically, so every op
reports mistakes the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netdsl.types import CHW, HWC, LD, TensorType, as_type, describe_layout

Shape = tuple[int, ...]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class OpError(Exception):
    """A mistake in how an op is used. The elaborator attaches the source span.

    `arg` names the offending argument (its span is preferred when known).
    """

    def __init__(self, code: str, message: str, arg: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.arg = arg
        self.hint = hint


class ShapeError(OpError):
    def __init__(self, message: str, hint: str | None = None, arg: str | None = None):
        super().__init__("E401", message, arg=arg, hint=hint)


@dataclass(frozen=True)
class Arg:
    """One argument of an op.

    type is one of:
      int, float, bool, str      plain values (int accepted where float is wanted)
      pair                       int or (int, int); normalised to a 2-tuple
      pad                        like pair, or the string "same"
      table                      list of lists of ints (conv's connection table)
      init                       anything (free-form, validated by the op)
    """

    name: str
    type: str
    default: Any = REQUIRED
    min: float | None = None
    choices: tuple | None = None
    doc: str = ""
    max: float | None = None


@dataclass(frozen=True)
class Cost:
    params: int = 0  # trainable parameters
    buffers: int = 0  # non-trainable state (e.g. batchnorm running statistics)
    macs: int = 0  # multiply-accumulates (conv and linear only, bias excluded)
    connections: int = 0  # LeNet's sense: (fan-in + bias) x output elements


@dataclass(frozen=True)
class OpDef:
    name: str
    args: tuple[Arg, ...]
    shape: Callable[[dict, list[Shape]], Shape]
    cost: Callable[[dict, list[Shape], Shape], Cost] = lambda a, i, o: Cost()
    # Receptive-field effect per spatial dim: ((k_h, s_h), (k_w, s_w)) with k the
    # effective (dilated) kernel; None = identity; "global" = sees the whole input.
    rf: Callable[[dict, list[Shape]], Any] = lambda a, i: None
    inputs: int | None = 1  # number of tensor inputs; None = two or more
    # The layouts (dimension names) each input may have; None: any type.
    accepts: tuple[tuple[str, ...], ...] | None = None
    # The output shares the input's memory (a view, an in-place op, the identity at
    # inference): statistics count no new activation for it.
    aliases_input: bool = False
    doc: str = ""
    category: str = "layer"
    # Checks that involve several arguments (or a table's structure), run at the
    # end of bind so such mistakes are reported before any shape is known.
    check: Callable[[dict], None] | None = None

    def bind(self, positional: list, keyword: dict) -> dict:
        """Bind call arguments to names, fill defaults, check and normalise types."""
        bound: dict[str, Any] = {}
        if len(positional) > len(self.args):
            n, given = len(self.args), len(positional)
            takes = f"at most {n} argument{'s' if n != 1 else ''}" if n else "no arguments"
            raise OpError(
                "E301",
                f"{self.name}() takes {takes}, but {given} {'was' if given == 1 else 'were'} given",
                hint=f"signature: {self.signature()}",
            )
        for arg, value in zip(self.args, positional, strict=False):
            bound[arg.name] = value
        names = [a.name for a in self.args]
        for key, value in keyword.items():
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"signature: {self.signature()}"
                raise OpError("E202", f"{self.name}() has no argument '{key}'", arg=key, hint=hint)
            if key in bound:
                raise OpError("E302", f"{self.name}() got '{key}' twice", arg=key)
            bound[key] = value
        out = {}
        for arg in self.args:
            if arg.name not in bound:
                if arg.default is REQUIRED:
                    raise OpError(
                        "E303",
                        f"{self.name}() needs argument '{arg.name}'",
                        hint=f"signature: {self.signature()}",
                    )
                # Defaults are normalised like given values (pairs become 2-tuples).
                out[arg.name] = check_value(self.name, arg, arg.default)
                continue
            out[arg.name] = check_value(self.name, arg, bound[arg.name])
        if self.check is not None:
            self.check(out)
        return out

    def infer(self, args: dict, ins: list[TensorType]) -> TensorType:
        """The output type: the inputs' layouts checked against `accepts`, then the op's
        shape rule; an output of the input's rank keeps its dimension names."""
        if self.accepts is not None:
            for t in ins:
                if t.dims not in self.accepts:
                    wanted = " or ".join(describe_layout(d) for d in self.accepts)
                    raise ShapeError(
                        f"{self.name} expects {wanted}, got {t.describe()}",
                        hint=layout_hint(self.accepts, t),
                    )
        out = self.shape(args, ins)
        if isinstance(out, TensorType):
            return out
        if ins and len(out) == len(ins[0]):
            return TensorType(out, ins[0].dims)
        return TensorType(out)

    def signature(self) -> str:
        parts = []
        for a in self.args:
            parts.append(a.name if a.default is REQUIRED else f"{a.name}={a.default!r}")
        return f"{self.name}({', '.join(parts)})"


def plain_type_name(value: Any) -> str:
    """The netdsl name of a plain value's type, for messages (netdsl.values adds its own)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "none"
    if isinstance(value, list):
        return "list"
    if isinstance(value, tuple):
        return "tuple"
    return type(value).__name__


def _check_int(op: str, arg: Arg, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OpError(
            "E304",
            f"{op}(): '{arg.name}' must be an integer, not {plain_type_name(value)} {value!r}",
            arg=arg.name,
        )
    if arg.min is not None and value < arg.min:
        raise OpError(
            "E305",
            f"{op}(): '{arg.name}' must be at least {int(arg.min)}, got {value}",
            arg=arg.name,
        )
    if arg.max is not None and value > arg.max:
        raise OpError(
            "E305",
            f"{op}(): '{arg.name}' must be at most {int(arg.max)}, got {value}",
            arg=arg.name,
        )
    return value


def check_value(op: str, arg: Arg, value: Any) -> Any:
    t = arg.type
    if arg.default is None and value is None:
        return None
    if t == "int":
        value = _check_int(op, arg, value)
    elif t == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OpError(
                "E304",
                f"{op}(): '{arg.name}' must be a number, not {plain_type_name(value)} {value!r}",
                arg=arg.name,
            )
        value = float(value)
        if arg.min is not None and value < arg.min:
            raise OpError(
                "E305",
                f"{op}(): '{arg.name}' must be at least {arg.min}, got {value}",
                arg=arg.name,
            )
        if arg.max is not None and value > arg.max:
            raise OpError(
                "E305", f"{op}(): '{arg.name}' must be at most {arg.max}, got {value}", arg=arg.name
            )
    elif t == "bool":
        if not isinstance(value, bool):
            raise OpError(
                "E304",
                f"{op}(): '{arg.name}' must be true or false, "
                f"not {plain_type_name(value)} {value!r}",
                arg=arg.name,
            )
    elif t == "str":
        if not isinstance(value, str):
            raise OpError(
                "E304",
                f"{op}(): '{arg.name}' must be a string, not {plain_type_name(value)} {value!r}",
                arg=arg.name,
            )
    elif t in ("pair", "pad"):
        if t == "pad" and value == "same":
            return "same"
        items = list(value) if isinstance(value, (list, tuple)) else [value, value]
        if len(items) != 2:
            raise OpError(
                "E304",
                f"{op}(): '{arg.name}' must be an integer or a pair of integers, got {value!r}",
                arg=arg.name,
            )
        value = tuple(_check_int(op, arg, v) for v in items)
    if arg.choices is not None and value not in arg.choices:
        options = ", ".join(repr(c) for c in arg.choices)
        raise OpError(
            "E306", f"{op}(): '{arg.name}' must be one of {options}, got {value!r}", arg=arg.name
        )
    return value


def spatial(shape: Shape, op: str) -> tuple[int, int, int]:
    """(channels, height, width) of a C×H×W image, or a clear error."""
    if len(shape) != 3:
        raise ShapeError(
            f"{op} expects {describe_layout(CHW)}, got {as_type(shape).describe()}",
            hint=layout_hint((CHW,), as_type(shape)),
        )
    return shape  # type: ignore[return-value]


# Image ops (convolution, pooling) take channels-first images only.
CHW_ONLY = (CHW,)


def layout_hint(accepts: tuple[tuple[str, ...], ...], got: TensorType) -> str | None:
    """What usually fixes a layout mismatch."""
    if CHW in accepts and len(got) == 1:
        return "is there a flatten or linear layer before it?"
    if CHW in accepts and got.dims == HWC:
        return "permute the channels-last image to C×H×W first"
    if CHW in accepts and got.dims == LD:
        return "reshape the tokens into an image first"
    return None


def fmt_shape(shape: Shape) -> str:
    """Sizes as the language writes them: 3x224x224."""
    return "x".join(str(d) for d in shape) if shape else "scalar"


def numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
