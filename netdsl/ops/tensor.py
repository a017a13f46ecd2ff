"""Ops that reshape or regularise without learning: flatten, dropout."""

from __future__ import annotations

from netdsl.ops.base import Arg, OpDef, numel


def _flatten_shape(args: dict, ins: list) -> tuple[int, ...]:
    return (numel(ins[0]),)


FLATTEN = OpDef(
    name="flatten",
    args=(),
    shape=_flatten_shape,
    doc="CxHxW to C*H*W (the batch dimension is kept)",
    category="tensor",
    aliases_input=True,  # a view: no new activation memory
)

DROPOUT = OpDef(
    name="dropout",
    args=(Arg("p", "float", 0.5, min=0, max=1, doc="probability of zeroing an element"),),
    shape=lambda a, i: i[0],
    doc="zero elements at random during training",
    category="tensor",
    aliases_input=True,  # the identity at inference
)

OPS = [FLATTEN, DROPOUT]
