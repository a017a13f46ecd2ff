"""The PyTorch backend: a self-contained, runnable Python module per network.

See docs/pytorch.md for what is generated and the naming and unification rules.
"""

from __future__ import annotations

import ast

import networkx as nx

from netdsl.plugins import Backend, Option


def generate(G: nx.DiGraph, options: dict | None = None, fmt: str | None = None) -> str:
    from netdsl.backends.pytorch.emit import Writer

    options = options or {}
    source = _source_name(G)
    text = Writer(G, source).write()
    try:
        ast.parse(text)
    except SyntaxError as exc:  # our bug, never the user's
        raise AssertionError(f"the PyTorch backend produced invalid Python: {exc}") from exc
    return text


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
    options=(),
)
