"""The PyTorch backend: a self-contained, runnable Python module per network.

See docs/pytorch.md for what is generated and the naming and unification rules.
"""

from __future__ import annotations

import ast

import networkx as nx
from netdsl.backends.pytorch.spelling import SPELLING, UNSUPPORTED

from netdsl.plugins import Backend, Option


def generate(G: nx.DiGraph, options: dict | None = None, fmt: str | None = None) -> str:
    from netdsl.backends.pytorch.emit import Writer
    from netdsl.backends.pytorch.tidy import tidy

    options = options or {}
    source = _source_name(G)
    text = Writer(G, source, fold_bn=bool(options.get("fold_bn"))).write()
    try:
        ast.parse(text)
    except SyntaxError as exc:  # our bug, never the user's
        raise AssertionError(f"the PyTorch backend produced invalid Python: {exc}") from exc
    return tidy(text)


def _source_name(G: nx.DiGraph) -> str:
    for node in G.graph["inputs"].values():
        span = G.nodes[node].get("span")
        if span is not None and getattr(span, "file", None):
            return str(span.file)
    return "<network>"


backend = Backend(
    name="pytorch",
    description="runnable PyTorch module: one nn.Module class per block type",
    extensions=("py",),
    generate=generate,
    ops=SPELLING,
    unsupported=UNSUPPORTED,
    options=(
        Option(
            "fold_bn",
            "fold each batch norm into the convolution before it (inference only); "
            "the file gets fold_batchnorm() to convert the unfolded model's weights",
            default=False,
            type=lambda s: s.strip().lower() in ("1", "true", "yes", "on"),
        ),
    ),
)
