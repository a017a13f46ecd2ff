"""How diagrams label each op: the diagram backends' table, keyed by op name.

A label is the op and its key arguments as a paper's table writes them
("conv 3×3/2, 64"). Graphviz and Mermaid share it (both draw the model of
model.py). tests/test_spelling_tables.py fails when an op of the registry has no
row here.
"""

from __future__ import annotations

from collections.abc import Callable


def fmt_value(v) -> str:
    """A value as the .net file writes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(fmt_value(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    return str(v)


def pair(p) -> str:
    if isinstance(p, tuple):
        return str(p[0]) if p[0] == p[1] else f"{p[0]}×{p[1]}"
    return str(p)


def kernel(k) -> str:
    if isinstance(k, tuple):
        return f"{k[0]}×{k[1]}"
    return f"{k}×{k}"


def window(args: dict, stride_default) -> str:
    """'3×3/2': kernel, and the stride when it is not 1."""
    s = args.get("stride")
    if s is None:
        s = stride_default
    text = kernel(args["kernel"])
    if s is not None and s not in ((1, 1), 1):
        text += f"/{pair(s)}"
    return text


def _conv(a: dict) -> str:
    text = f"conv {window(a, (1, 1))}, {a['filters']}"
    if a.get("dilation") not in (None, (1, 1)):
        text += f", dilation {pair(a['dilation'])}"
    if a.get("groups", 1) != 1:
        text += f", groups {a['groups']}"
    if a.get("table") is not None:
        text += ", table"
    return text


def _pool(op: str) -> Callable[[dict], str]:
    def label(a: dict) -> str:
        text = f"{op} {window(a, a['kernel'])}"
        if a.get("pad") not in (None, (0, 0), 0):
            text += f" pad {pair(a['pad'])}"
        if a.get("ceil_mode"):
            text += " ceil"
        return text

    return label


def _name(text: str) -> Callable[[dict], str]:
    return lambda a: text


def _with(op: str, arg: str) -> Callable[[dict], str]:
    """'dropout 0.5': the op and the one argument that matters."""
    return lambda a: f"{op} {fmt_value(a[arg])}"


LABELS: dict[str, Callable[[dict], str]] = {
    "conv": _conv,
    "linear": lambda a: f"linear, {a['features']}",
    "maxpool": _pool("maxpool"),
    "avgpool": _pool("avgpool"),
    "subsample": _pool("subsample"),
    "adaptive_avgpool": lambda a: f"adaptive avgpool → {kernel(a['size'])}",
    "global_avgpool": _name("global avgpool"),
    "global_maxpool": _name("global maxpool"),
    "lrn": _with("lrn", "size"),
    "batchnorm": _name("batchnorm"),
    "dropout": _with("dropout", "p"),
    "stochastic_depth": _with("stochastic depth", "p"),
    "leaky_relu": _with("leaky_relu", "slope"),
    "relu": _name("relu"),
    "relu6": _name("relu6"),
    "silu": _name("silu"),
    "hardswish": _name("hardswish"),
    "hardsigmoid": _name("hardsigmoid"),
    "gelu": lambda a: "gelu" if a["approximate"] == "none" else "gelu (tanh)",
    "tanh": _name("tanh"),
    "sigmoid": _name("sigmoid"),
    "softmax": _name("softmax"),
    "flatten": _name("flatten"),
    "concat": _name("concat"),
    "add": _name("add"),
    "mul": _name("multiply"),
}

# Ops the diagrams cannot draw, with the reason (none: every op is a box).
UNSUPPORTED: dict[str, str] = {}


def op_summary(op: str, args: dict) -> str:
    """The op and its key arguments, as in a paper's table: 'conv 3×3/2, 64'."""
    return LABELS[op](args)
