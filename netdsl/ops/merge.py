"""Merges of several tensors: channel concatenation, element-wise sum and product.

Sum and product broadcast as PyTorch does between tensors of one rank: in every
dimension the sizes agree or one of them is 1 (squeeze-and-excitation multiplies a
C×H×W map by its C×1×1 gate).
"""

from __future__ import annotations

from collections import Counter

from netdsl.ops.base import OpDef, ShapeError, fmt_shape


def _odd_one(keys: list) -> int:
    """Index of the first input that disagrees with the most common value."""
    common = Counter(keys).most_common(1)[0][0]
    return next(i for i, k in enumerate(keys) if k != common)


def _listing(ins: list) -> str:
    return ", ".join(fmt_shape(s) for s in ins)


def _needs_two(op: str, ins: list) -> None:
    if len(ins) < 2:
        raise ShapeError(f"{op} needs at least two inputs, got {len(ins)}")


def _concat_shape(args: dict, ins: list) -> tuple[int, ...]:
    _needs_two("concat", ins)
    ranks = [len(s) for s in ins]
    if len(set(ranks)) > 1:
        i = _odd_one(ranks)
        raise ShapeError(
            f"concat inputs must have the same rank, got {_listing(ins)}: "
            f"input {i} ({fmt_shape(ins[i])}) differs",
            hint="flatten all inputs, or none",
        )
    rest = [tuple(s[1:]) for s in ins]
    if len(set(rest)) > 1:
        i = _odd_one(rest)
        raise ShapeError(
            f"concat inputs must have the same height and width, got {_listing(ins)}: "
            f"input {i} ({fmt_shape(ins[i])}) differs",
            hint="concat joins channels; pad or pool the branches to one spatial size",
        )
    return (sum(s[0] for s in ins), *rest[0])


CONCAT = OpDef(
    name="concat",
    args=(),
    shape=_concat_shape,
    inputs=None,
    doc="join inputs along channels",
    category="merge",
)


def _broadcast(ins: list) -> tuple[int, ...] | None:
    """The broadcast shape of same-rank shapes, or None where some dimension clashes."""
    if len({len(s) for s in ins}) > 1:
        return None
    out = []
    for sizes in zip(*ins, strict=True):
        big = {d for d in sizes if d != 1}
        if len(big) > 1:
            return None
        out.append(big.pop() if big else 1)
    return tuple(out)


def _elementwise(op: str, hint: str):
    def shape(args: dict, ins: list) -> tuple[int, ...]:
        _needs_two(op, ins)
        out = _broadcast(ins)
        if out is not None:
            return out
        shapes = [tuple(s) for s in ins]
        if len(shapes) == 2:
            message = f"{op} needs inputs of one shape, got {_listing(ins)}"
        else:
            i = _odd_one(shapes)
            message = (
                f"{op} needs inputs of one shape, got {_listing(ins)}: "
                f"input {i} ({fmt_shape(ins[i])}) differs"
            )
        raise ShapeError(message + " (sizes of 1 broadcast)", hint=hint)

    return shape


_add_shape = _elementwise(
    "add", "project the shortcut to the same shape, e.g. a 1x1 conv with the same stride"
)


ADD = OpDef(
    name="add",
    args=(),
    shape=_add_shape,
    inputs=None,
    doc="element-wise sum (broadcasting sizes of 1)",
    category="merge",
)

MUL = OpDef(
    name="mul",
    args=(),
    shape=_elementwise("mul", "a gate is C×1×1: global_avgpool or adaptive_avgpool(1) first"),
    inputs=None,
    doc="element-wise product (broadcasting sizes of 1)",
    category="merge",
)

OPS = [CONCAT, ADD, MUL]
