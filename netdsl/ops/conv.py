"""2-D convolution, including LeNet-5's partially connected (connection table) form."""

from __future__ import annotations

from netdsl.ops.base import CHW_ONLY, Arg, Cost, OpDef, OpError, ShapeError, spatial


def dilated(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    """The extent a dilated kernel covers, per dim."""
    return (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)


def same_padding(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """PyTorch's padding="same": (before, after) per dim; the odd pixel goes after."""
    out = []
    for k in dilated(kernel, dilation):
        total = k - 1
        out.append((total // 2, total - total // 2))
    return tuple(out)


def conv_padding(args: dict) -> tuple[tuple[int, int], ...]:
    if args["pad"] == "same":
        return same_padding(args["kernel"], args["dilation"])
    return tuple((p, p) for p in args["pad"])


def _check(args: dict) -> None:
    if args["pad"] == "same" and args["stride"] != (1, 1):
        raise OpError(
            "E307",
            'conv(): pad="same" needs stride 1',
            arg="pad",
            hint="give the padding explicitly, e.g. pad=(kernel - 1) / 2 for odd kernels",
        )
    if args["filters"] % args["groups"]:
        raise OpError(
            "E307",
            f"conv(): groups={args['groups']} does not divide filters={args['filters']}",
            arg="groups",
        )
    table = args["table"]
    if table is None:
        return
    if args["groups"] != 1:
        raise OpError("E307", "conv(): a connection table needs groups=1", arg="groups")
    if not isinstance(table, (list, tuple)) or len(table) != args["filters"]:
        n = len(table) if isinstance(table, (list, tuple)) else "no"
        raise OpError(
            "E307",
            f"conv(): the connection table needs one entry per output map "
            f"({args['filters']}), it has {n}",
            arg="table",
        )
    for i, entry in enumerate(table):
        if not isinstance(entry, (list, tuple)) or not entry:
            raise OpError(
                "E320",
                f"conv(): table entry {i} must be a non-empty list of input-map indices",
                arg="table",
            )
        for j in entry:
            if isinstance(j, bool) or not isinstance(j, int) or j < 0:
                raise OpError(
                    "E320",
                    f"conv(): table entry {i} has {j!r}, not an input-map index",
                    arg="table",
                )
        if len(set(entry)) != len(entry):
            raise OpError("E320", f"conv(): table entry {i} repeats an input map", arg="table")


def _shape(args: dict, ins: list) -> tuple[int, ...]:
    c, h, w = spatial(ins[0], "conv")
    groups, table = args["groups"], args["table"]
    if table is not None:
        worst = max(max(entry) for entry in table)
        if worst >= c:
            raise ShapeError(
                f"conv connection table refers to input map {worst}, but the input has {c} maps",
                hint=f"indices run from 0 to {c - 1}",
                arg="table",
            )
    elif c % groups:
        raise ShapeError(
            f"conv groups={groups} does not divide the {c} input channels",
            hint="groups must divide both the input channels and filters",
            arg="groups",
        )
    ext = dilated(args["kernel"], args["dilation"])
    pads = conv_padding(args)
    size = []
    for n, k, s, (p0, p1) in zip((h, w), ext, args["stride"], pads, strict=True):
        size.append((n + p0 + p1 - k) // s + 1 if n + p0 + p1 >= k else 0)
    if min(size) < 1:
        padded = f"{h + sum(pads[0])}x{w + sum(pads[1])}"
        where = f"input {h}x{w}" + (f" (padded {padded})" if any(map(any, pads)) else "")
        raise ShapeError(
            f"conv output would be {size[0]}x{size[1]}: {where} is smaller than the "
            f"dilated kernel {ext[0]}x{ext[1]}",
            hint="use a smaller kernel, more padding, or remove a downsampling layer before it",
        )
    return (args["filters"], size[0], size[1])


def fan_ins(args: dict, c: int) -> list[int]:
    """Weights feeding one output element, per output map (bias excluded)."""
    kh, kw = args["kernel"]
    if args["table"] is not None:
        return [len(entry) * kh * kw for entry in args["table"]]
    return [c // args["groups"] * kh * kw] * args["filters"]


def _cost(args: dict, ins: list, out: tuple) -> Cost:
    if args["table"] is None:
        # Every map has the same fan-in: no list of `filters` entries (filters may be huge).
        kh, kw = args["kernel"]
        maps = args["filters"]
        weights = ins[0][0] // args["groups"] * kh * kw * maps
    else:
        fans = fan_ins(args, ins[0][0])
        maps, weights = len(fans), sum(fans)
    pixels = out[1] * out[2]
    bias = 1 if args["bias"] else 0
    return Cost(
        params=weights + bias * maps,
        macs=weights * pixels,
        connections=(weights + bias * maps) * pixels,
    )


def _rf(args: dict, ins: list):
    ext = dilated(args["kernel"], args["dilation"])
    return ((ext[0], args["stride"][0]), (ext[1], args["stride"][1]))


CONV = OpDef(
    name="conv",
    args=(
        Arg("filters", "int", min=1, doc="output channels (feature maps)"),
        Arg("kernel", "pair", min=1, doc="kernel size, k or (kh, kw)"),
        Arg("stride", "pair", 1, min=1),
        Arg("pad", "pad", 0, min=0, doc='zero padding per side, or "same" (stride 1 only)'),
        Arg("dilation", "pair", 1, min=1),
        Arg("groups", "int", 1, min=1, doc="must divide in-channels and filters"),
        Arg("bias", "bool", True),
        Arg("table", "table", None, doc="per output map, the input maps it sees (LeNet-5 C3)"),
    ),
    shape=_shape,
    cost=_cost,
    rf=_rf,
    check=_check,
    doc="2-D convolution",
    accepts=CHW_ONLY,
)

OPS = [CONV]
