"""How ONNX spells each netdsl op: the backend's table, keyed by op name.

A row says which tensors the op owns (named and shaped as in the generated
PyTorch module's state_dict, with PyTorch's default initialisation) and how its
ONNX nodes are written. An op without a row is in UNSUPPORTED with the reason;
tests/test_onnx_backend.py fails when the registry has an op that is in neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from netdsl.backends.onnx.graph import Layer


@dataclass(frozen=True)
class Param:
    """One state_dict tensor of a layer."""

    tensor: str  # the key's last part(s): "weight", "running_mean", "weight.3"
    shape: tuple[int, ...]
    # PyTorch's default initialisation, as data: ("uniform", bound) draws from
    # [-bound, bound] (bound may be a tuple: one per row), ("constant", value).
    default: tuple
    part: str | None  # the `init` rule part that replaces the default ("weight"/"bias")
    dtype: str = "float32"
    exported: bool = True  # False: in the state_dict but not needed for inference


@dataclass(frozen=True)
class Spelling:
    emit: Callable  # emit(e: netdsl.backends.onnx.emit.Emitter, layer: Layer) -> None
    params: Callable[[Layer], list[Param]] = lambda layer: []


def _bound(fan_in: int) -> tuple:
    # nn.Conv2d / nn.Linear: kaiming_uniform_(a=sqrt(5)) and the bias both give
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    return ("uniform", 1 / fan_in**0.5)


def _pairs(before_after: tuple[tuple[int, int], ...]) -> list[int]:
    """((top, bottom), (left, right)) -> ONNX's [top, left, bottom, right]."""
    return [p[0] for p in before_after] + [p[1] for p in before_after]


# ------------------------------------------------------------------ conv
def _conv_pads(args: dict) -> list[int]:
    if args["pad"] == "same":
        # PyTorch's padding="same": the odd pixel goes after.
        pads = []
        for k, d in zip(args["kernel"], args["dilation"], strict=True):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return _pairs(tuple(pads))
    return _pairs(tuple((p, p) for p in args["pad"]))


def _conv_params(layer: Layer) -> list[Param]:
    a = layer.args
    kh, kw = a["kernel"]
    table = a["table"]
    if table is not None:
        # ConnectionTableConv2d: one weight tensor per output map, in an nn.ParameterList;
        # that is a submodule, so its tensors follow the bias in the state_dict.
        fans = [len(entry) * kh * kw for entry in table]
        out = []
        if a["bias"]:
            bounds = tuple(1 / f**0.5 for f in fans)
            out.append(Param("bias", (a["filters"],), ("uniform", bounds), "bias"))
        return out + [
            Param(f"weight.{i}", (1, len(entry), kh, kw), _bound(fans[i]), "weight")
            for i, entry in enumerate(table)
        ]
    c = layer.in_shapes[0][0]
    fan_in = c // a["groups"] * kh * kw
    out = [Param("weight", (a["filters"], c // a["groups"], kh, kw), _bound(fan_in), "weight")]
    if a["bias"]:
        out.append(Param("bias", (a["filters"],), _bound(fan_in), "bias"))
    return out


def _conv(e, layer: Layer) -> None:
    a = layer.args
    attrs = {
        "kernel_shape": list(a["kernel"]),
        "strides": list(a["stride"]),
        "pads": _conv_pads(a),
        "dilations": list(a["dilation"]),
    }
    x = e.input(layer)
    if a["table"] is None:
        ins = [x, e.weight(layer, "weight")]
        if a["bias"]:
            ins.append(e.weight(layer, "bias"))
        e.node("Conv", ins, e.out(layer), group=a["groups"], **attrs)
        return
    # A partially connected convolution: each output map convolves the input maps
    # its table entry lists (Gather), and the maps are joined; no dense masked weight.
    maps = []
    for i, entry in enumerate(a["table"]):
        picked = e.node(
            "Gather", [x, e.ints(layer, f"maps{i}", entry)], e.tmp(layer, f"in{i}"), axis=1
        )
        w = e.weight(layer, f"weight.{i}")
        maps.append(e.node("Conv", [picked, w], e.tmp(layer, f"map{i}"), **attrs))
    if not a["bias"]:
        e.node("Concat", maps, e.out(layer), axis=1)
        return
    joined = e.node("Concat", maps, e.tmp(layer, "maps"), axis=1)
    bias = e.per_channel(layer, e.weight(layer, "bias"), len(layer.shape))
    e.node("Add", [joined, bias], e.out(layer))


# ---------------------------------------------------------------- linear
def _linear_params(layer: Layer) -> list[Param]:
    n_in, n_out = layer.in_shapes[0][0], layer.args["features"]
    out = [Param("weight", (n_out, n_in), _bound(n_in), "weight")]
    if layer.args["bias"]:
        out.append(Param("bias", (n_out,), _bound(n_in), "bias"))
    return out


def _linear(e, layer: Layer) -> None:
    ins = [e.input(layer), e.weight(layer, "weight")]
    if layer.args["bias"]:
        ins.append(e.weight(layer, "bias"))
    e.node("Gemm", ins, e.out(layer), transB=1)


# --------------------------------------------------------------- pooling
def _stride(args: dict) -> list[int]:
    return list(args["kernel"] if args["stride"] is None else args["stride"])


def _maxpool(e, layer: Layer) -> None:
    a = layer.args
    e.node(
        "MaxPool",
        [e.input(layer)],
        e.out(layer),
        kernel_shape=list(a["kernel"]),
        strides=_stride(a),
        pads=_pairs(tuple((p, p) for p in a["pad"])),
        dilations=list(a["dilation"]),
        ceil_mode=int(a["ceil_mode"]),
    )


def _avgpool(e, layer: Layer) -> None:
    a = layer.args
    e.node(
        "AveragePool",
        [e.input(layer)],
        e.out(layer),
        kernel_shape=list(a["kernel"]),
        strides=_stride(a),
        pads=_pairs(tuple((p, p) for p in a["pad"])),
        ceil_mode=int(a["ceil_mode"]),
        count_include_pad=int(a["count_include_pad"]),
    )


def _adaptive_avgpool(e, layer: Layer) -> None:
    _, h, w = layer.in_shapes[0]
    oh, ow = layer.args["size"]
    x = e.input(layer)
    if (oh, ow) == (1, 1):
        e.node("GlobalAveragePool", [x], e.out(layer))
    elif h % oh == 0 and w % ow == 0:
        # Equal windows that tile the input: a plain average pooling.
        k = [h // oh, w // ow]
        e.node("AveragePool", [x], e.out(layer), kernel_shape=k, strides=k)
    else:
        # Windows of PyTorch's rule (start floor(i*n/m), end ceil((i+1)*n/m)) overlap
        # and vary in size; ONNX has no such pooling. A window mean is separable:
        # rows then columns, each a product with a constant averaging matrix.
        rows = e.floats(layer, "rows", _averaging(h, oh), (oh, h))  # oh x h
        cols = e.floats(layer, "cols", _transpose(_averaging(w, ow), ow, w), (w, ow))
        tall = e.node("MatMul", [rows, x], e.tmp(layer, "by_rows"))
        e.node("MatMul", [tall, cols], e.out(layer))


def _averaging(n: int, m: int) -> list[float]:
    """Row-major m x n matrix: row i averages PyTorch's i-th adaptive window."""
    out = []
    for i in range(m):
        start, end = i * n // m, -(-(i + 1) * n // m)
        out += [1 / (end - start) if start <= j < end else 0.0 for j in range(n)]
    return out


def _transpose(values: list[float], rows: int, cols: int) -> list[float]:
    return [values[r * cols + c] for c in range(cols) for r in range(rows)]


def _global(op_type: str):
    def emit(e, layer: Layer) -> None:
        e.node(op_type, [e.input(layer)], e.out(layer))

    return emit


def _subsample_params(layer: Layer) -> list[Param]:
    c = layer.in_shapes[0][0]
    kh, kw = layer.args["kernel"]
    bound = ("uniform", 1 / (kh * kw) ** 0.5)  # Subsample2d.reset_parameters
    return [Param("weight", (c,), bound, "weight"), Param("bias", (c,), bound, "bias")]


def _subsample(e, layer: Layer) -> None:
    # LeNet-5: each window's sum times a per-map weight, plus a per-map bias.
    # The sum is the window mean times the window's area.
    a = layer.args
    kh, kw = a["kernel"]
    mean = e.node(
        "AveragePool",
        [e.input(layer)],
        e.tmp(layer, "mean"),
        kernel_shape=[kh, kw],
        strides=_stride(a),
    )
    w = e.per_channel(layer, e.weight(layer, "weight"), 3)
    area = e.floats(layer, "area", [float(kh * kw)], ())
    scaled = e.node("Mul", [w, area], e.tmp(layer, "weight_x_area"))
    prod = e.node("Mul", [mean, scaled], e.tmp(layer, "scaled"))
    e.node("Add", [prod, e.per_channel(layer, e.weight(layer, "bias"), 3)], e.out(layer))


# --------------------------------------------------------- normalisation
def _lrn(e, layer: Layer) -> None:
    a = layer.args
    size, x = a["size"], e.input(layer)
    if size % 2 == 1 and len(layer.shape) == 3:
        # ONNX's LRN is PyTorch's formula for odd sizes (its window is centred).
        e.node("LRN", [x], e.out(layer), size=size, alpha=a["alpha"], beta=a["beta"], bias=a["k"])
        return
    # Even sizes (PyTorch's window has size//2 maps before, (size-1)//2 after) and
    # other ranks: PyTorch's own computation, a mean of squares over a channel window.
    sq = e.node("Mul", [x, x], e.tmp(layer, "square"))
    axis1 = e.ints(layer, "axis1", [1])
    lifted = e.node("Unsqueeze", [sq, axis1], e.tmp(layer, "lifted"))
    rest = len(layer.shape) - 1
    mean = e.node(
        "AveragePool",
        [lifted],
        e.tmp(layer, "window_mean"),
        kernel_shape=[size] + [1] * rest,
        pads=[size // 2] + [0] * rest + [(size - 1) // 2] + [0] * rest,
        count_include_pad=1,
    )
    flat = e.node("Squeeze", [mean, axis1], e.tmp(layer, "mean"))
    scaled = e.node("Mul", [flat, e.floats(layer, "alpha", [a["alpha"]], ())], e.tmp(layer, "am"))
    shifted = e.node("Add", [scaled, e.floats(layer, "k", [a["k"]], ())], e.tmp(layer, "kam"))
    div = e.node("Pow", [shifted, e.floats(layer, "beta", [a["beta"]], ())], e.tmp(layer, "div"))
    e.node("Div", [x, div], e.out(layer))


def _bn_params(layer: Layer) -> list[Param]:
    c = layer.in_shapes[0][0]
    out = []
    if layer.args["affine"]:
        out += [
            Param("weight", (c,), ("constant", 1.0), "weight"),
            Param("bias", (c,), ("constant", 0.0), "bias"),
        ]
    return out + [
        Param("running_mean", (c,), ("constant", 0.0), None),
        Param("running_var", (c,), ("constant", 1.0), None),
        # A training counter: in the state_dict, not in the inference graph.
        Param("num_batches_tracked", (), ("constant", 0), None, dtype="int64", exported=False),
    ]


def _batchnorm(e, layer: Layer) -> None:
    a = layer.args
    c = layer.in_shapes[0][0]
    if a["affine"]:
        scale, shift = e.weight(layer, "weight"), e.weight(layer, "bias")
    else:
        scale = e.floats(layer, "ones", [1.0] * c, (c,))
        shift = e.floats(layer, "zeros", [0.0] * c, (c,))
    ins = [e.input(layer), scale, shift]
    ins += [e.weight(layer, "running_mean"), e.weight(layer, "running_var")]
    # ONNX's momentum weighs the old statistics, PyTorch's the new batch.
    e.node("BatchNormalization", ins, e.out(layer), epsilon=a["eps"], momentum=1.0 - a["momentum"])


# ----------------------------------------------------------- activations
def _unary(op_type: str, **fixed):
    def emit(e, layer: Layer) -> None:
        e.node(op_type, [e.input(layer)], e.out(layer), **fixed)

    return emit


def _leaky_relu(e, layer: Layer) -> None:
    e.node("LeakyRelu", [e.input(layer)], e.out(layer), alpha=layer.args["slope"])


def _relu6(e, layer: Layer) -> None:
    lo, hi = e.floats(layer, "min", [0.0], ()), e.floats(layer, "max", [6.0], ())
    e.node("Clip", [e.input(layer), lo, hi], e.out(layer))


def _silu(e, layer: Layer) -> None:
    x = e.input(layer)
    e.node("Mul", [x, e.node("Sigmoid", [x], e.tmp(layer, "sigmoid"))], e.out(layer))


# PyTorch's hardsigmoid is relu6(x + 3) / 6: ONNX's HardSigmoid with alpha 1/6, beta 1/2.
_HARD = {"alpha": 1.0 / 6.0, "beta": 0.5}


def _hardswish(e, layer: Layer) -> None:
    x = e.input(layer)
    if e.opset >= 14:
        e.node("HardSwish", [x], e.out(layer))
        return
    gate = e.node("HardSigmoid", [x], e.tmp(layer, "gate"), **_HARD)
    e.node("Mul", [x, gate], e.out(layer))


def _gelu(e, layer: Layer) -> None:
    x, approximate = e.input(layer), layer.args["approximate"]
    if e.opset >= 20:
        e.node("Gelu", [x], e.out(layer), approximate=approximate)
        return

    # Below opset 20, PyTorch's formulas: x/2 (1 + erf(x / sqrt 2)), or with
    # tanh(sqrt(2 / pi) (x + 0.044715 x^3)) in place of the erf.
    def const(what, v):
        return e.floats(layer, what, [v], ())

    if approximate == "none":
        inner = e.node("Div", [x, const("sqrt2", math.sqrt(2.0))], e.tmp(layer, "scaled"))
        curve = e.node("Erf", [inner], e.tmp(layer, "erf"))
    else:
        cube = e.node("Mul", [x, e.node("Mul", [x, x], e.tmp(layer, "x2"))], e.tmp(layer, "x3"))
        term = e.node("Mul", [cube, const("c", 0.044715)], e.tmp(layer, "cx3"))
        total = e.node("Add", [x, term], e.tmp(layer, "sum"))
        inner = e.node("Mul", [total, const("k", math.sqrt(2.0 / math.pi))], e.tmp(layer, "arg"))
        curve = e.node("Tanh", [inner], e.tmp(layer, "tanh"))
    lifted = e.node("Add", [curve, const("one", 1.0)], e.tmp(layer, "lifted"))
    half = e.node("Mul", [x, const("half", 0.5)], e.tmp(layer, "x_half"))
    e.node("Mul", [half, lifted], e.out(layer))


# --------------------------------------------------------------- merges
def _concat(e, layer: Layer) -> None:
    e.node("Concat", e.inputs(layer), e.out(layer), axis=1)


def _add(e, layer: Layer) -> None:
    ins = e.inputs(layer)
    e.node("Add" if len(ins) == 2 else "Sum", ins, e.out(layer))


def _mul(e, layer: Layer) -> None:
    # Mul broadcasts as numpy does (a C×1×1 gate over C×H×W maps); three or more
    # factors are a chain of Muls, ONNX having no n-ary product.
    ins = e.inputs(layer)
    acc = ins[0]
    for k, name in enumerate(ins[1:-1], start=1):
        acc = e.node("Mul", [acc, name], e.tmp(layer, f"product{k}"))
    e.node("Mul", [acc, ins[-1]], e.out(layer))


SPELLINGS: dict[str, Spelling] = {
    "conv": Spelling(_conv, _conv_params),
    "linear": Spelling(_linear, _linear_params),
    "maxpool": Spelling(_maxpool),
    "avgpool": Spelling(_avgpool),
    "adaptive_avgpool": Spelling(_adaptive_avgpool),
    "global_avgpool": Spelling(_global("GlobalAveragePool")),
    "global_maxpool": Spelling(_global("GlobalMaxPool")),
    "subsample": Spelling(_subsample, _subsample_params),
    "lrn": Spelling(_lrn),
    "batchnorm": Spelling(_batchnorm, _bn_params),
    "relu": Spelling(_unary("Relu")),
    "relu6": Spelling(_relu6),
    "silu": Spelling(_silu),
    "hardswish": Spelling(_hardswish),
    "hardsigmoid": Spelling(_unary("HardSigmoid", **_HARD)),
    "gelu": Spelling(_gelu),
    "tanh": Spelling(_unary("Tanh")),
    "sigmoid": Spelling(_unary("Sigmoid")),
    "leaky_relu": Spelling(_leaky_relu),
    "softmax": Spelling(_unary("Softmax", axis=1)),  # over channels, as nn.Softmax(dim=1)
    "flatten": Spelling(_unary("Flatten", axis=1)),
    "dropout": Spelling(_unary("Identity")),  # the identity at inference
    "stochastic_depth": Spelling(_unary("Identity")),  # likewise
    "concat": Spelling(_concat),
    "add": Spelling(_add),
    "mul": Spelling(_mul),
}

# Ops of the registry that this backend cannot write: {op: why}. Compiling a
# network that uses one is error E822, naming the op, the layer and its location.
UNSUPPORTED: dict[str, str] = {}
