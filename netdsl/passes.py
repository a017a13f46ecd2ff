"""The passes over the IR, in order, with lint() between them when asked.

Elaboration builds the graph and infers every type as it goes (later layers need
their inputs' types); the passes then annotate it. Each pass is a function over the
graph that adds to the nodes' `meta` mapping (or rewrites the graph) and leaves the
IR valid: with NETDSL_LINT set (the test suite) or `netdsl --debug`, lint() re-checks
every type and container after each one. Backends read the annotations, so nothing
is computed twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx

from netdsl.ir import lint


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[nx.DiGraph], None]
    doc: str


def _annotate(G: nx.DiGraph, key: str, values: dict) -> None:
    for node, value in values.items():
        G.nodes[node].setdefault("meta", {})[key] = value


def _costs(G: nx.DiGraph) -> None:
    from netdsl.stats import costs

    _annotate(G, "cost", costs(G))


def _receptive_fields(G: nx.DiGraph) -> None:
    from netdsl.stats import receptive_fields

    _annotate(G, "rf", receptive_fields(G))


PASSES: tuple[Pass, ...] = (
    Pass("costs", _costs, "parameters, buffers, MACs and connections of every layer"),
    Pass("receptive_fields", _receptive_fields, "receptive field and jump of every layer"),
)


def linting() -> bool:
    return bool(os.environ.get("NETDSL_LINT"))


def run_passes(G: nx.DiGraph, lint_between: bool | None = None) -> nx.DiGraph:
    """Run the passes not yet run on G, in order; lint after each if asked (default:
    when NETDSL_LINT is set)."""
    check = linting() if lint_between is None else lint_between
    done = G.graph.setdefault("passes", [])
    if check and not done:
        lint(G)
    for p in PASSES:
        if p.name in done:
            continue
        p.run(G)
        done.append(p.name)
        if check:
            lint(G)
    return G


def annotation(G: nx.DiGraph, key: str) -> dict:
    """{node: meta[key]} for every node, running the passes first if they have not run."""
    if len(G.graph.get("passes", ())) < len(PASSES):
        run_passes(G)
    return {node: data["meta"][key] for node, data in G.nodes(data=True)}
