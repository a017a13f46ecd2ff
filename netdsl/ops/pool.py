"""Pooling: max, average, adaptive/global, and LeNet-5's trainable subsampling."""

from __future__ import annotations

import math

from netdsl.ops.base import (
    CHW_ONLY,
    Arg,
    Cost,
    OpDef,
    OpError,
    ShapeError,
    numel,
    spatial,
)


def pool_size(n: int, k: int, s: int, p: int = 0, d: int = 1, ceil: bool = False) -> int:
    """PyTorch's pooling output size (pooling_output_shape), exactly.

    With ceil_mode the last window must still start inside the input or its
    left padding, which is why a window may be dropped again.
    """
    num = n + 2 * p - (d * (k - 1) + 1) + (s - 1 if ceil else 0)
    out = num // s + 1  # floor, also for negative numerators, as PyTorch's div_rtn
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _stride(args: dict) -> tuple[int, int]:
    return args["kernel"] if args["stride"] is None else args["stride"]


def _check_pad(op: str):
    def check(args: dict) -> None:
        for p, k in zip(args["pad"], args["kernel"], strict=True):
            if p > k // 2:
                raise OpError(
                    "E307",
                    f"{op}(): pad={p} is more than half the kernel size {k}",
                    arg="pad",
                    hint=f"PyTorch allows at most {k // 2} here",
                )

    return check


def _windowed_shape(op: str, dilation: bool):
    def shape(args: dict, ins: list) -> tuple[int, ...]:
        c, h, w = spatial(ins[0], op)
        k, s, p = args["kernel"], _stride(args), args["pad"]
        d = args["dilation"] if dilation else (1, 1)
        ceil = args["ceil_mode"]
        size = [pool_size(n, *dim, ceil=ceil) for n, *dim in zip((h, w), k, s, p, d, strict=True)]
        if min(size) < 1:
            ext = [di * (ki - 1) + 1 for di, ki in zip(d, k, strict=True)]
            word = "dilated window" if d != (1, 1) else "window"
            raise ShapeError(
                f"{op} {word} {ext[0]}x{ext[1]} is larger than its padded input "
                f"{h + 2 * p[0]}x{w + 2 * p[1]}",
                hint="use a smaller kernel, or remove a downsampling layer before it",
            )
        return (c, size[0], size[1])

    return shape


def _window_cost(args: dict, ins: list, out: tuple) -> Cost:
    kh, kw = args["kernel"]
    return Cost(connections=kh * kw * numel(out))


def _window_rf(args: dict, ins: list):
    k, s = args["kernel"], _stride(args)
    d = args.get("dilation", (1, 1))
    return tuple((di * (ki - 1) + 1, si) for ki, si, di in zip(k, s, d, strict=True))


_KERNEL = Arg("kernel", "pair", min=1, doc="window size")
_STRIDE = Arg("stride", "pair", None, min=1, doc="defaults to the kernel size")
_PAD = Arg("pad", "pair", 0, min=0, doc="implicit padding per side, at most kernel / 2")
_CEIL = Arg("ceil_mode", "bool", False, doc="round the output size up")

MAXPOOL = OpDef(
    name="maxpool",
    args=(_KERNEL, _STRIDE, _PAD, Arg("dilation", "pair", 1, min=1), _CEIL),
    shape=_windowed_shape("maxpool", dilation=True),
    cost=_window_cost,
    rf=_window_rf,
    check=_check_pad("maxpool"),
    doc="max pooling",
    category="pool",
    accepts=CHW_ONLY,
)

AVGPOOL = OpDef(
    name="avgpool",
    args=(
        _KERNEL,
        _STRIDE,
        _PAD,
        _CEIL,
        Arg("count_include_pad", "bool", True, doc="padding zeros count in the mean"),
    ),
    shape=_windowed_shape("avgpool", dilation=False),
    cost=_window_cost,
    rf=_window_rf,
    check=_check_pad("avgpool"),
    doc="average pooling",
    category="pool",
    accepts=CHW_ONLY,
)


def adaptive_windows(n: int, m: int) -> list[tuple[int, int]]:
    """[start, end) of each of the m windows adaptive pooling puts on n inputs."""
    return [(i * n // m, -(-(i + 1) * n // m)) for i in range(m)]


def _adaptive_shape(args: dict, ins: list) -> tuple[int, ...]:
    c, _, _ = spatial(ins[0], "adaptive_avgpool")
    return (c, *args["size"])


def adaptive_total(n: int, m: int) -> int:
    """The sum of the m window lengths, sum(e - b for b, e in adaptive_windows(n, m)),
    in O(1): n + m - gcd(n, m). (Sizes can be huge; a list of windows could not be.)"""
    return n + m - math.gcd(n, m)


def adaptive_widest(n: int, m: int) -> int:
    """The longest of the m windows, in O(1). Window i is ceil((r + n) / m) long, where
    r = i * n mod m runs over the multiples of gcd(n, m) below m."""
    return -(-(n + m - math.gcd(n, m)) // m)


def _adaptive_cost(args: dict, ins: list, out: tuple) -> Cost:
    c, h, w = ins[0]
    rows = adaptive_total(h, out[1])
    cols = adaptive_total(w, out[2])
    return Cost(connections=c * rows * cols)


def _adaptive_rf(args: dict, ins: list):
    _, h, w = ins[0]
    if tuple(args["size"]) == (1, 1):
        return "global"
    # Windows vary by at most one pixel; the widest and the mean step (at least
    # one: upsampling cannot shrink the receptive field) bound the effect.
    out = []
    for n, m in zip((h, w), args["size"], strict=True):
        widest = adaptive_widest(n, m)
        out.append((widest, max(1, n // m)))
    return tuple(out)


ADAPTIVE_AVGPOOL = OpDef(
    name="adaptive_avgpool",
    args=(Arg("size", "pair", min=1, doc="output height and width"),),
    shape=_adaptive_shape,
    cost=_adaptive_cost,
    rf=_adaptive_rf,
    accepts=CHW_ONLY,
    doc="average pooling to a fixed output size",
    category="pool",
)


def _global(op: str, doc: str) -> OpDef:
    def shape(args: dict, ins: list) -> tuple[int, ...]:
        c, _, _ = spatial(ins[0], op)
        return (c, 1, 1)

    return OpDef(
        name=op,
        args=(),
        shape=shape,
        cost=lambda a, i, o: Cost(connections=numel(i[0])),
        rf=lambda a, i: "global",
        accepts=CHW_ONLY,
        doc=doc,
        category="pool",
    )


GLOBAL_AVGPOOL = _global("global_avgpool", "mean of each whole map")
GLOBAL_MAXPOOL = _global("global_maxpool", "maximum of each whole map")


def _subsample_shape(args: dict, ins: list) -> tuple[int, ...]:
    c, h, w = spatial(ins[0], "subsample")
    k, s = args["kernel"], _stride(args)
    if k[0] > h or k[1] > w:
        raise ShapeError(
            f"subsample window {k[0]}x{k[1]} is larger than its input {h}x{w}",
            hint="use a smaller kernel, or remove a downsampling layer before it",
        )
    return (c, (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1)


def _subsample_cost(args: dict, ins: list, out: tuple) -> Cost:
    kh, kw = args["kernel"]
    return Cost(params=2 * out[0], connections=(kh * kw + 1) * numel(out))


SUBSAMPLE = OpDef(
    name="subsample",
    args=(Arg("kernel", "pair", 2, min=1), _STRIDE),
    shape=_subsample_shape,
    cost=_subsample_cost,
    rf=_window_rf,
    doc="LeNet-5 subsampling: window sum x trainable weight + bias, per map",
    category="pool",
    accepts=CHW_ONLY,
)

OPS = [MAXPOOL, AVGPOOL, ADAPTIVE_AVGPOOL, GLOBAL_AVGPOOL, GLOBAL_MAXPOOL, SUBSAMPLE]
