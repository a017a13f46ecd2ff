"""Fully connected layer."""

from __future__ import annotations

from netdsl.ops.base import (
    Arg,
    Cost,
    OpDef,
    OpError,
    ShapeError,
    fmt_shape,
)


def _shape(args: dict, ins: list) -> tuple[int, ...]:
    if len(ins[0]) != 1:
        raise ShapeError(
            f"linear needs a flat input (C), got {fmt_shape(ins[0])}",
            hint="add flatten before it",
        )
    declared = args["in_features"]
    if declared is not None and declared != ins[0][0]:
        raise OpError(
            "E403",
            f"linear expects {declared} input features (in_features={declared}), "
            f"but its input has {ins[0][0]}",
            arg="in_features",
            hint="the layers before it, or the input's shape, differ from what was declared",
        )
    return (args["features"],)


def _cost(args: dict, ins: list, out: tuple) -> Cost:
    n_in, n_out = ins[0][0], args["features"]
    bias = n_out if args["bias"] else 0
    return Cost(params=n_in * n_out + bias, macs=n_in * n_out, connections=n_in * n_out + bias)


LINEAR = OpDef(
    name="linear",
    args=(
        Arg("features", "int", min=1, doc="output features"),
        Arg("bias", "bool", True),
        Arg("in_features", "int", None, min=1, doc="input size it expects, if stated: checked"),
    ),
    shape=_shape,
    cost=_cost,
    rf=lambda a, i: "global",
    doc="fully connected layer on a flat (C) input",
)

OPS = [LINEAR]
