"""How PyTorch spells each op of the registry: the backend's table, keyed by op name.

An op is spelled either as a module (`module`: the nn.Module class and its constructor
arguments, from the op's arguments and input types) or as an expression over its
inputs in `forward` (`expr`). `keywords` maps the op's argument names to PyTorch's
keyword names, so that an argument computed from block parameters can be spelled
symbolically. An op PyTorch cannot express is listed in UNSUPPORTED with the reason;
tests/test_spelling_tables.py fails when an op of the registry is in neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netdsl.types import TensorType


@dataclass(frozen=True)
class TorchArg:
    """One constructor argument of a PyTorch module.

    `source` says where the value came from, so a block class can spell it
    symbolically: "arg:NAME" (the op's argument NAME), "in:channels" (the input's
    channel count), or None (derived; spelled as a literal).
    """

    keyword: str | None  # None: positional
    value: Any
    source: str | None = None


@dataclass(frozen=True)
class TorchModule:
    cls: str  # e.g. "nn.Conv2d", or a helper class named in `helpers`
    args: tuple[TorchArg, ...] = ()
    helpers: tuple[str, ...] = ()  # helper classes it needs (see helpers/)


@dataclass(frozen=True)
class Spelling:
    module: Callable[[dict, list[TensorType]], TorchModule] | None = None
    expr: Callable[[dict, list[str]], str] | None = None
    keywords: dict[str, str] = field(default_factory=dict)
    # Op arguments PyTorch has no parameter for (checks only, such as linear's
    # in_features: PyTorch takes the input's size instead).
    unspelled: tuple[str, ...] = ()


def compact(pair: tuple[int, int]) -> int | tuple[int, int]:
    """A pair as PyTorch code spells it: `3` rather than `(3, 3)`."""
    return pair[0] if pair[0] == pair[1] else pair


def keywords(args: dict, spec: list[tuple[str, str, Any]]) -> list[TorchArg]:
    """Keyword TorchArgs for the op's args whose value differs from PyTorch's default.

    spec: (op arg name, PyTorch keyword, PyTorch's default). Pairs are compacted.
    """
    out = []
    for name, keyword, default in spec:
        value = args[name]
        if isinstance(value, tuple):
            value = compact(value)
        if value == default:
            continue
        out.append(TorchArg(keyword, value, f"arg:{name}"))
    return out


def channels(t: TensorType) -> TorchArg:
    """The input's channel count as a positional argument (nn.Conv2d's in_channels)."""
    return TorchArg(None, t[0], "in:channels")


# ------------------------------------------------------------------ convolution

_CONV_SPEC = [
    ("stride", "stride", 1),
    ("pad", "padding", 0),
    ("dilation", "dilation", 1),
    ("groups", "groups", 1),
    ("bias", "bias", True),
]


def _conv(args: dict, ins: list) -> TorchModule:
    head = [
        channels(ins[0]),
        TorchArg(None, args["filters"], "arg:filters"),
        TorchArg("kernel_size", compact(args["kernel"]), "arg:kernel"),
    ]
    if args["table"] is not None:
        head.append(TorchArg("table", [list(e) for e in args["table"]], "arg:table"))
        spec = [s for s in _CONV_SPEC if s[0] != "groups"]
        return TorchModule(
            "ConnectionTableConv2d", tuple(head + keywords(args, spec)), ("ConnectionTableConv2d",)
        )
    return TorchModule("nn.Conv2d", tuple(head + keywords(args, _CONV_SPEC)))


def _linear(args: dict, ins: list) -> TorchModule:
    head = [
        TorchArg(None, ins[0][-1], "in:channels"),
        TorchArg(None, args["features"], "arg:features"),
    ]
    return TorchModule("nn.Linear", tuple(head + keywords(args, [("bias", "bias", True)])))


# --------------------------------------------------------------------- pooling


def _window(cls: str, spec: list) -> Callable[[dict, list], TorchModule]:
    def module(args: dict, ins: list) -> TorchModule:
        head = keywords(args, [("kernel", "kernel_size", None)])
        return TorchModule(cls, tuple(head + keywords(args, spec)))

    return module


def _subsample(args: dict, ins: list) -> TorchModule:
    spec = [("kernel", "kernel_size", 2), ("stride", "stride", None)]
    return TorchModule(
        "Subsample2d", tuple([channels(ins[0])] + keywords(args, spec)), ("Subsample2d",)
    )


def _global(cls: str) -> Callable[[dict, list], TorchModule]:
    return lambda a, i: TorchModule(cls, (TorchArg(None, (1, 1), None),))


# ---------------------------------------------------------------- normalisation


def _lrn(args: dict, ins: list) -> TorchModule:
    # PyTorch's defaults, not netdsl's: k=2.0 (AlexNet's) must be spelled out.
    spec = [("alpha", "alpha", 1e-4), ("beta", "beta", 0.75), ("k", "k", 1.0)]
    head = [TorchArg(None, args["size"], "arg:size")]
    return TorchModule("nn.LocalResponseNorm", tuple(head + keywords(args, spec)))


def _batchnorm(args: dict, ins: list) -> TorchModule:
    cls = "nn.BatchNorm2d" if len(ins[0]) == 3 else "nn.BatchNorm1d"
    spec = [("eps", "eps", 1e-5), ("momentum", "momentum", 0.1), ("affine", "affine", True)]
    return TorchModule(cls, tuple([channels(ins[0])] + keywords(args, spec)))


def _plain(cls: str, *args: TorchArg) -> Callable[[dict, list], TorchModule]:
    return lambda a, i: TorchModule(cls, args)


SPELLING: dict[str, Spelling] = {
    "conv": Spelling(
        module=_conv,
        keywords={
            "kernel": "kernel_size",
            "stride": "stride",
            "pad": "padding",
            "dilation": "dilation",
            "groups": "groups",
            "bias": "bias",
            "table": "table",
        },
    ),
    "linear": Spelling(module=_linear, keywords={"bias": "bias"}, unspelled=("in_features",)),
    "maxpool": Spelling(
        module=_window(
            "nn.MaxPool2d",
            [
                ("stride", "stride", None),
                ("pad", "padding", 0),
                ("dilation", "dilation", 1),
                ("ceil_mode", "ceil_mode", False),
            ],
        ),
        keywords={
            "kernel": "kernel_size",
            "stride": "stride",
            "pad": "padding",
            "dilation": "dilation",
            "ceil_mode": "ceil_mode",
        },
    ),
    "avgpool": Spelling(
        module=_window(
            "nn.AvgPool2d",
            [
                ("stride", "stride", None),
                ("pad", "padding", 0),
                ("ceil_mode", "ceil_mode", False),
                ("count_include_pad", "count_include_pad", True),
            ],
        ),
        keywords={
            "kernel": "kernel_size",
            "stride": "stride",
            "pad": "padding",
            "ceil_mode": "ceil_mode",
            "count_include_pad": "count_include_pad",
        },
    ),
    "adaptive_avgpool": Spelling(
        module=lambda a, i: TorchModule(
            "nn.AdaptiveAvgPool2d", (TorchArg(None, a["size"], "arg:size"),)
        )
    ),
    "global_avgpool": Spelling(module=_global("nn.AdaptiveAvgPool2d")),
    "global_maxpool": Spelling(module=_global("nn.AdaptiveMaxPool2d")),
    "subsample": Spelling(
        module=_subsample, keywords={"kernel": "kernel_size", "stride": "stride"}
    ),
    "lrn": Spelling(module=_lrn, keywords={"alpha": "alpha", "beta": "beta", "k": "k"}),
    "batchnorm": Spelling(
        module=_batchnorm, keywords={"eps": "eps", "momentum": "momentum", "affine": "affine"}
    ),
    # In place, as torchvision writes it; the backend drops inplace=True when the
    # input tensor has another consumer (see docs/ops.md).
    "relu": Spelling(module=_plain("nn.ReLU", TorchArg("inplace", True))),
    "relu6": Spelling(module=_plain("nn.ReLU6", TorchArg("inplace", True))),
    "silu": Spelling(module=_plain("nn.SiLU", TorchArg("inplace", True))),
    "hardswish": Spelling(module=_plain("nn.Hardswish", TorchArg("inplace", True))),
    "hardsigmoid": Spelling(module=_plain("nn.Hardsigmoid")),
    "gelu": Spelling(
        module=lambda a, i: TorchModule(
            "nn.GELU", tuple(keywords(a, [("approximate", "approximate", "none")]))
        ),
        keywords={"approximate": "approximate"},
    ),
    "tanh": Spelling(module=_plain("nn.Tanh")),
    "sigmoid": Spelling(module=_plain("nn.Sigmoid")),
    "softmax": Spelling(module=_plain("nn.Softmax", TorchArg("dim", 1))),
    "leaky_relu": Spelling(
        module=lambda a, i: TorchModule(
            "nn.LeakyReLU", tuple(keywords(a, [("slope", "negative_slope", 0.01)]))
        ),
        keywords={"slope": "negative_slope"},
    ),
    "flatten": Spelling(module=_plain("nn.Flatten")),
    # p is always spelled, as torchvision does: it is the point of the layer.
    "dropout": Spelling(
        module=lambda a, i: TorchModule("nn.Dropout", (TorchArg("p", a["p"], "arg:p"),))
    ),
    "stochastic_depth": Spelling(
        module=lambda a, i: TorchModule(
            "StochasticDepth",
            (TorchArg(None, a["p"], "arg:p"), TorchArg(None, a["mode"], "arg:mode")),
            ("StochasticDepth",),
        ),
        keywords={"p": "p", "mode": "mode"},
    ),
    "concat": Spelling(expr=lambda a, names: f"torch.cat([{', '.join(names)}], 1)"),
    "add": Spelling(expr=lambda a, names: " + ".join(names)),
    "mul": Spelling(expr=lambda a, names: " * ".join(names)),
}

# Ops of the registry this backend cannot write, with the reason (none yet).
UNSUPPORTED: dict[str, str] = {}
