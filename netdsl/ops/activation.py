"""Element-wise activations, and softmax over channels. Shapes pass through."""

from __future__ import annotations

from netdsl.ops.base import Arg, OpDef, TorchArg, TorchModule
from netdsl.ops.torch_helpers import keywords


def _same(args: dict, ins: list) -> tuple[int, ...]:
    return ins[0]


def _activation(name: str, cls: str, doc: str, *args: TorchArg, extra=None) -> OpDef:
    return OpDef(
        name=name,
        args=(),
        shape=_same,
        torch=lambda a, i: TorchModule(cls, args),
        doc=doc,
        category="activation",
        extra=extra or {},
    )


# In place, as torchvision writes it; the PyTorch backend must drop inplace=True
# when the input tensor has another consumer (see docs/ops.md).
RELU = _activation(
    "relu", "nn.ReLU", "max(0, x)", TorchArg("inplace", True), extra={"aliases_input": True}
)
TANH = _activation("tanh", "nn.Tanh", "hyperbolic tangent")
SIGMOID = _activation("sigmoid", "nn.Sigmoid", "logistic sigmoid")
SOFTMAX = _activation("softmax", "nn.Softmax", "softmax over channels", TorchArg("dim", 1))

LEAKY_RELU = OpDef(
    name="leaky_relu",
    args=(Arg("slope", "float", 0.01, doc="gradient for x < 0"),),
    shape=_same,
    torch=lambda a, i: TorchModule(
        "nn.LeakyReLU", tuple(keywords(a, [("slope", "negative_slope", 0.01)]))
    ),
    doc="x for x >= 0, slope * x otherwise",
    category="activation",
    extra={"torch_keywords": {"slope": "negative_slope"}},
)

OPS = [RELU, TANH, SIGMOID, LEAKY_RELU, SOFTMAX]
