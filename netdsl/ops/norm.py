"""Normalisation: local response normalisation (AlexNet) and batch normalisation."""

from __future__ import annotations

from netdsl.ops.base import Arg, Cost, OpDef, ShapeError, TorchArg, TorchModule, fmt_shape
from netdsl.ops.torch_helpers import keywords


def _lrn_shape(args: dict, ins: list) -> tuple[int, ...]:
    if len(ins[0]) < 2:
        raise ShapeError(
            f"lrn needs a CxHxW input, got {fmt_shape(ins[0])}",
            hint="normalise before flatten",
        )
    return ins[0]


def _lrn_torch(args: dict, ins: list) -> TorchModule:
    # PyTorch's defaults, not the DSL's: k=2.0 (AlexNet's) must be spelled out.
    spec = [("alpha", "alpha", 1e-4), ("beta", "beta", 0.75), ("k", "k", 1.0)]
    head = [TorchArg(None, args["size"], "arg:size")]
    return TorchModule("nn.LocalResponseNorm", tuple(head + keywords(args, spec)))


LRN = OpDef(
    name="lrn",
    args=(
        Arg("size", "int", 5, min=1, doc="neighbouring channels in the sum"),
        Arg("alpha", "float", 1e-4, min=0, doc="scale; divided by size, as in PyTorch"),
        Arg("beta", "float", 0.75, min=0, doc="exponent"),
        Arg("k", "float", 2.0, min=0, doc="additive constant"),
    ),
    shape=_lrn_shape,
    torch=_lrn_torch,
    doc="local response normalisation across channels (PyTorch's formula)",
    category="norm",
    extra={"torch_keywords": {"alpha": "alpha", "beta": "beta", "k": "k"}},
)


def _bn_shape(args: dict, ins: list) -> tuple[int, ...]:
    if len(ins[0]) not in (1, 2, 3):
        raise ShapeError(
            f"batchnorm needs a C or CxHxW input, got {fmt_shape(ins[0])}",
        )
    return ins[0]


def _bn_cost(args: dict, ins: list, out: tuple) -> Cost:
    c = ins[0][0]
    # Buffers as in PyTorch's state_dict: running mean and variance, plus the
    # one-element num_batches_tracked counter.
    return Cost(params=2 * c if args["affine"] else 0, buffers=2 * c + 1)


def _bn_torch(args: dict, ins: list) -> TorchModule:
    cls = "nn.BatchNorm2d" if len(ins[0]) == 3 else "nn.BatchNorm1d"
    spec = [("eps", "eps", 1e-5), ("momentum", "momentum", 0.1), ("affine", "affine", True)]
    head = [TorchArg(None, ins[0][0], "in:channels")]
    return TorchModule(cls, tuple(head + keywords(args, spec)))


BATCHNORM = OpDef(
    name="batchnorm",
    args=(
        Arg("eps", "float", 1e-5, min=0),
        Arg("momentum", "float", 0.1, min=0, max=1, doc="weight of the newest batch statistics"),
        Arg("affine", "bool", True, doc="learn a per-channel scale and shift"),
    ),
    shape=_bn_shape,
    cost=_bn_cost,
    torch=_bn_torch,
    doc="batch normalisation per channel",
    category="norm",
    extra={"torch_keywords": {"eps": "eps", "momentum": "momentum", "affine": "affine"}},
)

OPS = [LRN, BATCHNORM]
