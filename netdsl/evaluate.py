"""Expression evaluation for the elaborator (a mixin: it needs `apply`, `fail`, ...)."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any

from netdsl import ast
from netdsl.builtins import BUILTINS
from netdsl.diagnostics import Span
from netdsl.ops import OPS
from netdsl.symbolic import render
from netdsl.values import (
    POISON,
    ArgValue,
    BlockSpec,
    Builtin,
    LayerList,
    OpSpec,
    Poisoned,
    RepeatSpec,
    SeqSpec,
    Spec,
    Tensor,
    a_type,
    holds_layers,
    seq,
    type_name,
)

_ARITH = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}
# Operators between two tensors, and the merge op each one is.
_TENSOR_OPS = {"+": "add", "*": "mul"}

_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_BRACES = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TENSOR_ATTRS = ("channels", "height", "width", "shape", "size")
# Integers beyond this are certainly mistakes; refusing them keeps `2 ** 10 ** 9` from hanging.
_MAX_INT_BITS = 256


_finite = math.isfinite


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Evaluator:
    def ev(self, e: ast.Expr, frame, name: str | None = None) -> Any:
        method = getattr(self, "ev_" + type(e).__name__)
        value = method(e, frame, name) if name is not None else method(e, frame)
        return value

    # ----------------------------------------------------------------- atoms
    def ev_Const(self, e, frame):
        return e.value

    def ev_Name(self, e, frame):
        if e.id in frame.vars:
            value = frame.vars[e.id]
            if value is POISON:
                raise Poisoned(e.id)
            return value
        block = self.program.blocks.get(e.id)
        if block is not None:
            return BlockSpec(e.span, None, block)
        op = OPS.get(e.id)
        if op is not None:
            return OpSpec(e.span, None, op)
        if e.id in BUILTINS:
            return BUILTINS[e.id]
        if e.id == "same":
            return "same"
        self.unknown(e.id, self.names_in_scope(frame), e.span, frame)

    def ev_InRef(self, e, frame):
        if frame.in_tensor is not None:
            return frame.in_tensor
        inputs = self.G.graph["inputs"]
        if frame.block is None and len(inputs) == 1:
            node = next(iter(inputs.values()))
            return Tensor(node, self.G.nodes[node]["shape"])
        self.fail(
            "E201",
            "`in` is a block's input; here there is none",
            e.span,
            frame,
            hint="name the network's input instead",
        )

    def ev_ListE(self, e, frame):
        items = [self.ev(i, frame) for i in e.items]
        if not holds_layers(items):
            return items
        # In a list of layers, an `if` that is not taken (and has no else) adds nothing:
        # `[if expand { conv(...) }, conv(...)]` is how optional layers are written.
        return LayerList(
            v for v, x in zip(items, e.items, strict=True) if v is not None or type(x) is not ast.If
        )

    def ev_TupleE(self, e, frame):
        return tuple(self.ev(i, frame) for i in e.items)

    def ev_Attr(self, e, frame):
        obj = self.ev(e.obj, frame)
        if isinstance(obj, Tensor):
            shape = obj.shape
            if e.name == "shape":
                return shape
            if e.name == "size":
                n = 1
                for d in shape:
                    n *= d
                return n
            if e.name == "channels":
                return shape[0]
            if e.name in ("height", "width"):
                if len(shape) != 3:
                    self.fail(
                        "E402",
                        f"a {len(shape)}-d tensor has no {e.name}",
                        _attr_span(e),
                        frame,
                        hint=f"its shape is {'x'.join(map(str, shape))}",
                    )
                return shape[1] if e.name == "height" else shape[2]
            self.unknown(e.name, _TENSOR_ATTRS, _attr_span(e), frame, what="tensor attribute")
        self.fail("E311", f"{a_type(obj)} has no attribute '{e.name}'", _attr_span(e), frame)

    def ev_Index(self, e, frame):
        obj = self.ev(e.obj, frame)
        idx = self.ev(e.index, frame)
        if not isinstance(obj, (list, tuple, str)):
            self.fail("E311", f"cannot index {a_type(obj)}", e.span, frame)
        if isinstance(idx, bool) or not isinstance(idx, int):
            self.fail(
                "E304", f"an index must be an integer, not {type_name(idx)}", e.index.span, frame
            )
        if not -len(obj) <= idx < len(obj):
            self.fail(
                "E312", f"index {idx} is out of range for length {len(obj)}", e.index.span, frame
            )
        return obj[idx]

    # ------------------------------------------------------------- operators
    def ev_UnOp(self, e, frame):
        v = self.ev(e.operand, frame)
        if e.op == "not":
            return not self.truth(v, e.operand, frame)
        if not _is_num(v):
            self.fail("E304", f"cannot negate {a_type(v)}", e.span, frame)
        return -v

    def _not_finite(self, result, left, op, right, e, frame):
        # Floats overflow to inf, and inf - inf is NaN, which every range check passes
        # (NaN < 0 and NaN > 1 are both false): refused where the arithmetic happens.
        what = "not a number (NaN)" if result != result else "beyond the largest float"
        self.fail("E703", f"{left!r} {op} {right!r} is {what}", e.span, frame)

    def truth(self, v, e, frame) -> bool:
        if not isinstance(v, bool):
            self.fail(
                "E304", f"a condition must be true or false, not {type_name(v)}", e.span, frame
            )
        return v

    def ev_BinOp(self, e, frame, name=None):
        op = e.op
        if op in ("and", "or"):
            left = self.truth(self.ev(e.left, frame), e.left, frame)
            if (op == "and") != left:
                return left
            return self.truth(self.ev(e.right, frame), e.right, frame)
        left, right = self.ev(e.left, frame), self.ev(e.right, frame)
        if op in _TENSOR_OPS and isinstance(left, Tensor) and isinstance(right, Tensor):
            spec = OpSpec(e.span, name, OPS[_TENSOR_OPS[op]])
            return self.apply(spec, [left, right], frame)
        if op in _COMPARE:
            if op in ("==", "!=") or (_is_num(left) and _is_num(right)):
                return _COMPARE[op](left, right)
        elif _is_num(left) and _is_num(right):
            if op in ("/", "//", "%") and right == 0:
                self.fail("E313", "division by zero", e.span, frame)
            if (
                op == "**"
                and isinstance(left, int)
                and isinstance(right, int)
                and abs(right) * max(abs(left), 2).bit_length() > _MAX_INT_BITS * 64
            ):
                self.fail("E703", "number too large", e.span, frame)
            try:
                result = _ARITH[op](left, right)
            except OverflowError:
                self.fail("E703", "number too large", e.span, frame)
            except ZeroDivisionError:
                self.fail("E313", f"{left!r} {op} {right!r} is undefined", e.span, frame)
            if isinstance(result, complex):
                self.fail("E313", f"{left!r} {op} {right!r} is not a real number", e.span, frame)
            if isinstance(result, int) and result.bit_length() > _MAX_INT_BITS:
                self.fail("E703", "number too large", e.span, frame)
            if isinstance(result, float) and not _finite(result):
                self._not_finite(result, left, op, right, e, frame)
            return result
        elif op in ("+", "*") and isinstance(left, (list, tuple)):
            if op == "+" and type(left) is type(right):
                if len(left) + len(right) > self.limits.max_layers:
                    self.fail(
                        "E701",
                        f"list of {len(left) + len(right):,} items is too long",
                        e.span,
                        frame,
                    )
                return left + right
            if op == "*" and isinstance(right, int) and not isinstance(right, bool):
                if len(left) * right > self.limits.max_layers:
                    self.fail(
                        "E701", f"list of {len(left) * right:,} items is too long", e.span, frame
                    )
                return left * right
        hint = None
        if isinstance(left, Tensor) != isinstance(right, Tensor):
            hint = "tensors can only be added to or multiplied by tensors"
        elif isinstance(left, Spec) or isinstance(right, Spec):
            hint = "apply layers to a tensor with '->'"
        self.fail(
            "E304",
            f"unsupported operation: {type_name(left)} {op} {type_name(right)}",
            e.span,
            frame,
            hint=hint,
        )

    # ------------------------------------------------------------------ calls
    def ev_Call(self, e, frame, name=None):
        f = self.ev(e.func, frame)
        pos, kw = [], []
        for a in e.args:
            v = self.ev(a.value, frame)
            av = ArgValue(v, a.span, render(a.value, frame.syms))
            if a.name is None:
                if kw:
                    self.fail("E314", "positional argument after keyword argument", a.span, frame)
                pos.append(av)
            else:
                kw.append((a.name, av))
        if isinstance(f, Builtin):
            return self.call_builtin(
                f, [a.value for a in pos], {k: a.value for k, a in kw}, e.span, frame
            )
        if not isinstance(f, (OpSpec, BlockSpec)):
            self.fail("E311", f"{a_type(f)} cannot be called", e.func.span, frame)
        if f.called:
            self.fail(
                "E311",
                "this layer already has its arguments",
                e.span,
                frame,
                hint="write a single call: conv(64, 3, pad=1)",
            )
        tensors = []
        while pos and isinstance(pos[0].value, Tensor):
            tensors.append(pos.pop(0).value)
        for a in pos + [a for _, a in kw]:
            if isinstance(a.value, Tensor):
                self.fail(
                    "E304",
                    "tensors come first in a call, e.g. relu(x) or concat(a, b)",
                    a.span,
                    frame,
                )
        spec = type(f)(e.span, name, **_spec_fields(f), pos=tuple(pos), kw=tuple(kw), called=True)
        if tensors:
            return self.apply(spec, tensors, frame)
        return spec

    # ----------------------------------------------------------------- chains
    def as_spec(self, v, span, frame, name=None, inner=False) -> Spec:
        if isinstance(v, Spec):
            return v if name is None else v.named(name)
        if isinstance(v, (list, tuple)):
            items = [self.as_spec(i, span, frame, inner=True) for i in v]
            return seq(items, span, name, numbered=inner and isinstance(v, LayerList))
        what = a_type(v)
        self.fail(
            "E315",
            f"expected a layer here, got {what}",
            span,
            frame,
            hint="the right of '->' must be a layer such as conv(64, 3) or a block",
        )

    def ev_Chain(self, e, frame):
        # `a -> b -> c` is a left-deep tree; walk its spine in a loop, not by recursion,
        # so a long chain costs no stack. Layers composed without a tensor on the left
        # become one flat sequence (as nested unnamed sequences would be flattened).
        links = []
        while isinstance(e, ast.Chain):
            links.append(e)
            e = e.left
        links.reverse()
        value = self.ev(e, frame)
        composed: list[Spec] | None = None
        for link in links:
            right = self.as_spec(self.ev(link.right, frame), link.right.span, frame)
            if composed is not None:
                composed.append(right)
            elif isinstance(value, Tensor):
                value = self.apply(right, [value], frame)
            elif isinstance(value, (Spec, list)):
                composed = [self.as_spec(value, link.left.span, frame), right]
            else:
                self.fail(
                    "E315",
                    f"expected a tensor or a layer before '->', got {a_type(value)}",
                    link.left.span,
                    frame,
                )
        if composed is not None:
            return seq(composed, links[-1].span)
        return value

    def layer_name(self, e, frame) -> str:
        if not e.template:
            return e.name

        def sub(m):
            key = m.group(1)
            if key not in frame.vars:
                self.unknown(key, list(frame.vars), e.span, frame)
            v = frame.vars[key]
            if v is POISON:
                raise Poisoned(key)
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                self.fail(
                    "E304",
                    f"'{{{key}}}' in a name must be an integer or string, not {type_name(v)}",
                    e.span,
                    frame,
                )
            return str(v)

        name = _BRACES.sub(sub, e.name)
        if not _IDENT.fullmatch(name):
            self.fail(
                "E318",
                f"layer name {name!r} is not a valid name",
                e.span,
                frame,
                hint="names are letters, digits and '_', not starting with a digit",
            )
        return name

    def ev_As(self, e, frame):
        inner = e.expr
        name = self.layer_name(e, frame)
        if isinstance(inner, (ast.BinOp, ast.Call)):
            v = self.ev(inner, frame, name=name)
        else:
            v = self.ev(inner, frame)
        if isinstance(v, Tensor):
            if v.node.rsplit(".", 1)[-1] == name:
                return v
            self.fail(
                "E316",
                "`as` names a layer, not a tensor",
                e.span,
                frame,
                hint="put it right after the layer: x -> conv(64, 3) as conv1",
            )
        return self.as_spec(v, e.span, frame, name=name)

    # ---------------------------------------------------------- control flow
    def body_value(self, values: list):
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def ev_If(self, e, frame):
        cond = self.truth(self.ev(e.cond, frame), e.cond, frame)
        frame.guards.append((render(e.cond, frame.syms), cond))
        try:
            if cond:
                return self.body_value(self.exec_body(e.then, frame))
            if e.orelse is not None:
                return self.body_value(self.exec_body(e.orelse, frame))
            return None
        finally:
            frame.guards.pop()

    def ev_For(self, e, frame):
        seq_ = self.ev(e.iter, frame)
        if not isinstance(seq_, (list, tuple)):
            self.fail("E304", f"for needs a list or tuple, not {a_type(seq_)}", e.iter.span, frame)
        out: list = []
        loop = self.loop_enter("for", e, len(seq_), frame)
        for item in seq_:
            if len(e.names) == 1:
                frame.vars[e.names[0]] = item
            else:
                if not isinstance(item, (list, tuple)) or len(item) != len(e.names):
                    self.fail(
                        "E319",
                        f"cannot unpack {item!r} into {len(e.names)} names",
                        e.iter.span,
                        frame,
                    )
                for n, v in zip(e.names, item):
                    frame.vars[n] = v
            for n in e.names:
                frame.syms[n] = None
            values = self.exec_body(e.body, frame)
            out.extend(values)
            self.loop_step(loop, values, frame)
        self.loop_exit(loop)
        return out

    def ev_Repeat(self, e, frame):
        n = self.ev(e.count, frame)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            self.fail(
                "E305",
                f"repeat count must be a non-negative integer, got {n!r}",
                e.count.span,
                frame,
            )
        if n > self.limits.max_layers:
            self.fail(
                "E701",
                f"repeat {n:,} exceeds the limit of {self.limits.max_layers:,} layers",
                e.span,
                frame,
                hint="raise the limit with --max-layers",
            )
        pure = _pure(e.body)
        if pure and n > 0:
            # A body of layers only is the same every time: keep one copy, lazily.
            value = self.body_value(self.exec_body(e.body, frame))
            if value is None:
                return None
            if not isinstance(value, Tensor) and not (
                isinstance(value, list) and any(isinstance(v, Tensor) for v in value)
            ):
                body = self.as_spec(value, e.span, frame)
                spec = RepeatSpec(e.span, None, body, n)
                if spec.size > self.limits.max_layers:
                    self.fail(
                        "E701",
                        f"repeat expands to {spec.size:,} layers, more than the "
                        f"limit of {self.limits.max_layers:,}",
                        e.span,
                        frame,
                        hint="raise the limit with --max-layers",
                    )
                return spec
            n -= 1
            out = [value]
        else:
            out = []
        loop = self.loop_enter("repeat", e, n, frame)
        for _ in range(n):
            values = self.exec_body(e.body, frame)
            out.extend(values)
            self.loop_step(loop, values, frame)
        self.loop_exit(loop)
        return out

    # ------------------------------------------------------------ loop limits
    def loop_enter(self, kind: str, e, total: int, frame) -> _Loop:
        """A loop of `total` iterations starts: refuse it at once if, with the loops around
        it, it would run more iterations than the limit."""
        outer = 1
        for enclosing in self.loops:
            outer *= enclosing.remaining
        runs = self.iterations + total * outer
        if runs > self.limits.max_iterations:
            around = f" (inside loops that run it {outer:,} times)" if outer > 1 else ""
            before = (
                f"; with the {self.iterations:,} iterations run before it, that is {runs:,} in all"
                if self.iterations
                else ""
            )
            self.fail(
                "E707",
                f"this {kind} loop would run {total * outer:,} iterations{around}{before}, "
                f"more than the limit of {self.limits.max_iterations:,}",
                e.span,
                frame,
                hint="networks do not need loops this long; check the loop's range",
            )
        loop = _Loop(kind, e.span, total, outer, len(self.G))
        self.loops.append(loop)
        return loop

    def loop_step(self, loop: _Loop, values: list, frame) -> None:
        """One iteration done: count it, and refuse early a loop that is going to create far
        more layers than the limit (judged by the layers its iterations so far created)."""
        self.iterations += 1
        loop.done += 1
        loop.remaining -= 1
        for v in values:
            if isinstance(v, Spec):
                loop.specs += v.size
            elif isinstance(v, list):
                loop.specs += sum(i.size for i in v if isinstance(i, Spec))
        made = len(self.G) - loop.start + loop.specs
        projected = made * loop.total * loop.outer // loop.done
        if projected > self.limits.max_layers:
            around = f" (inside loops that run it {loop.outer:,} times)" if loop.outer > 1 else ""
            self.fail(
                "E701",
                f"this {loop.kind} loop of {loop.total:,} iterations{around} would create about "
                f"{projected:,} layers, more than the limit of {self.limits.max_layers:,}",
                loop.span,
                frame,
                hint="raise the limit with --max-layers if this is intended",
            )

    def loop_exit(self, loop: _Loop) -> None:
        self.loops.remove(loop)


@dataclass
class _Loop:
    """A running for/repeat loop, for the resource limits."""

    kind: str
    span: Any
    total: int
    outer: int  # how many times the enclosing loops (still) run this one
    start: int  # layers in the graph when it began
    done: int = 0
    specs: int = 0  # layers in the (not yet applied) layer values it produced
    remaining: int = field(default=0)

    def __post_init__(self):
        self.remaining = self.total


def _pure(body: list[ast.Stmt]) -> bool:
    """True when a body only computes values: no assignment or output anywhere inside."""
    for stmt in body:
        if not isinstance(stmt, ast.ExprStmt):
            return False
        e = stmt.expr
        if isinstance(e, ast.If):
            if not _pure(e.then) or (e.orelse is not None and not _pure(e.orelse)):
                return False
        elif isinstance(e, (ast.For, ast.Repeat)) and not _pure(e.body):
            return False
    return True


def _attr_span(e: ast.Attr):
    """The span of the attribute's name (`chanels` in `x.chanels`): the end of `e`."""
    s = e.span
    if s.end_line is None or s.end_col is None or s.end_col - len(e.name) < 1:
        return s
    return Span(s.file, s.end_line, s.end_col - len(e.name), s.end_line, s.end_col)


def _spec_fields(f) -> dict:
    if isinstance(f, OpSpec):
        return {"op": f.op}
    return {"block": f.block}


__all__ = ["Evaluator", "SeqSpec"]
