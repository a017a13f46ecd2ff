"""Fully connected layer."""

from __future__ import annotations

from netdsl.ops.base import Arg, Cost, OpDef, ShapeError, TorchArg, TorchModule, fmt_shape
from netdsl.ops.torch_helpers import keywords


def _shape(args: dict, ins: list) -> tuple[int, ...]:
    if len(ins[0]) != 1:
        raise ShapeError(
            f"linear needs a flat input (C), got {fmt_shape(ins[0])}",
            hint="add flatten before it",
        )
    return (args["features"],)


def _cost(args: dict, ins: list, out: tuple) -> Cost:
    n_in, n_out = ins[0][0], args["features"]
    bias = n_out if args["bias"] else 0
    return Cost(params=n_in * n_out + bias, macs=n_in * n_out, connections=n_in * n_out + bias)


def _torch(args: dict, ins: list) -> TorchModule:
    head = [
        TorchArg(None, ins[0][0], "in:channels"),
        TorchArg(None, args["features"], "arg:features"),
    ]
    return TorchModule("nn.Linear", tuple(head + keywords(args, [("bias", "bias", True)])))


LINEAR = OpDef(
    name="linear",
    args=(
        Arg("features", "int", min=1, doc="output features"),
        Arg("bias", "bool", True),
    ),
    shape=_shape,
    cost=_cost,
    rf=lambda a, i: "global",
    torch=_torch,
    doc="fully connected layer on a flat (C) input",
    extra={"torch_keywords": {"bias": "bias"}},
)

OPS = [LINEAR]
