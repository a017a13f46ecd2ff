"""Normalisation: local response normalisation (AlexNet) and batch normalisation."""

from __future__ import annotations

from netdsl.ops.base import Arg, Cost, OpDef, ShapeError, fmt_shape


def _lrn_shape(args: dict, ins: list) -> tuple[int, ...]:
    if len(ins[0]) < 2:
        raise ShapeError(
            f"lrn needs a CxHxW input, got {fmt_shape(ins[0])}",
            hint="normalise before flatten",
        )
    return ins[0]


LRN = OpDef(
    name="lrn",
    args=(
        Arg("size", "int", 5, min=1, doc="neighbouring channels in the sum"),
        Arg("alpha", "float", 1e-4, min=0, doc="scale; divided by size, as in PyTorch"),
        Arg("beta", "float", 0.75, min=0, doc="exponent"),
        Arg("k", "float", 2.0, min=0, doc="additive constant"),
    ),
    shape=_lrn_shape,
    doc="local response normalisation across channels (PyTorch's formula)",
    category="norm",
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


BATCHNORM = OpDef(
    name="batchnorm",
    args=(
        Arg("eps", "float", 1e-5, min=0),
        Arg("momentum", "float", 0.1, min=0, max=1, doc="weight of the newest batch statistics"),
        Arg("affine", "bool", True, doc="learn a per-channel scale and shift"),
    ),
    shape=_bn_shape,
    cost=_bn_cost,
    doc="batch normalisation per channel",
    category="norm",
)

OPS = [LRN, BATCHNORM]
