"""Element-wise activations, and softmax over channels. Shapes pass through."""

from __future__ import annotations

from netdsl.ops.base import Arg, OpDef


def _same(args: dict, ins: list) -> tuple[int, ...]:
    return ins[0]


def _activation(name: str, doc: str, aliases_input: bool = False) -> OpDef:
    return OpDef(
        name=name,
        args=(),
        shape=_same,
        doc=doc,
        category="activation",
        aliases_input=aliases_input,
    )


# Counted as in place (no new activation memory), as frameworks run it (see docs/ops.md).
RELU = _activation("relu", "max(0, x)", aliases_input=True)
TANH = _activation("tanh", "hyperbolic tangent")
SIGMOID = _activation("sigmoid", "logistic sigmoid")
SOFTMAX = _activation("softmax", "softmax over channels")

LEAKY_RELU = OpDef(
    name="leaky_relu",
    args=(Arg("slope", "float", 0.01, doc="gradient for x < 0"),),
    shape=_same,
    doc="x for x >= 0, slope * x otherwise",
    category="activation",
)

OPS = [RELU, TANH, SIGMOID, LEAKY_RELU, SOFTMAX]
