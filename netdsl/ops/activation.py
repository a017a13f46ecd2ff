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
# The activations of the mobile networks; torchvision runs the first three in place too.
RELU6 = _activation("relu6", "min(max(0, x), 6)", aliases_input=True)
SILU = _activation("silu", "x * sigmoid(x) (swish)", aliases_input=True)
HARDSWISH = _activation("hardswish", "x * relu6(x + 3) / 6", aliases_input=True)
HARDSIGMOID = _activation("hardsigmoid", "relu6(x + 3) / 6")
GELU = OpDef(
    name="gelu",
    args=(
        Arg(
            "approximate",
            "str",
            "none",
            choices=("none", "tanh"),
            doc='"none": x * Phi(x), exact; "tanh": the tanh approximation',
        ),
    ),
    shape=_same,
    doc="Gaussian error linear unit",
    category="activation",
)
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

OPS = [RELU, RELU6, SILU, HARDSWISH, HARDSIGMOID, GELU, TANH, SIGMOID, LEAKY_RELU, SOFTMAX]
