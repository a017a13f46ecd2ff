"""Ops that reshape or regularise without learning: flatten, dropout, stochastic depth."""

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

# "Deep Networks with Stochastic Depth" (Huang et al. 2016) as torchvision.ops runs it:
# in training, drop a residual branch (mode "row": per sample; "batch": all at once)
# with probability p and scale survivors by 1 / (1 - p); the identity in eval.
STOCHASTIC_DEPTH = OpDef(
    name="stochastic_depth",
    args=(
        Arg("p", "float", min=0, max=1, doc="probability of dropping the branch"),
        Arg(
            "mode",
            "str",
            "row",
            choices=("row", "batch"),
            doc='"row": each sample on its own; "batch": the whole batch together',
        ),
    ),
    shape=lambda a, i: i[0],
    doc="drop a residual branch at random during training",
    category="tensor",
    aliases_input=True,  # the identity at inference
)

OPS = [FLATTEN, DROPOUT, STOCHASTIC_DEPTH]
