"""The IR: a plain networkx.DiGraph, and the invariants every pass keeps.

Nodes are keyed by a unique dotted path (``layer1.0.conv1``); their attributes:

  op      name of the op in the registry ("input" for network inputs)
  args    the op's bound, normalised arguments (defaults filled in)
  shape   output shape without batch, a tuple of ints (CHW for images)
  span    netdsl.diagnostics.Span where the layer was written
  scope   tuple of Scope, outermost first: the block instances that contain it
  sym     {arg name: Python expression} for args that depend on block parameters
  guard   tuple of (Python condition, taken) of the ``if``s inside its block
  var     {block prefix: name}: the .net variable first bound to this tensor in the
          block instance with that prefix ("layer1.0.", "" for the network); optional

Edges carry ``port`` (0-based input index), so concat order is exact.

Graph attributes (``G.graph``):

  name       network name
  params     network parameters as used ({"classes": 1000})
  inputs     {input name: node}
  outputs    [{"name", "node", "aux", "weight"}] in declaration order
  instances  {instance path: Instance} for every block instance
  groups     {group path: Group} for every ordered group ([...] as name)
  blocks     {block name: netdsl.ast.Block} definitions used
  init       [{"op", "weight", "bias", ...}] initialisation rules, in order
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from netdsl.diagnostics import Span


@dataclass(frozen=True)
class Scope:
    block: str  # block type, e.g. "Bottleneck"
    path: str  # instance path, e.g. "layer1.0"
    span: Span  # where it was instantiated


@dataclass
class Instance:
    block: str
    path: str
    args: dict[str, Any]  # the block's parameters as bound for this instance
    span: Span
    scope: tuple[Scope, ...]  # enclosing instances (not including itself)
    inputs: list[str] = field(default_factory=list)  # nodes feeding it, in order
    output: str | None = None  # node whose value it returns
    # Arguments given explicitly in the call: {param: Python expression over the
    # caller's parameters, or None when it has no symbolic form}.
    arg_syms: dict[str, str | None] = field(default_factory=dict)
    guard: tuple = ()  # as a node's guard: the ``if``s of the caller it was created under


@dataclass
class Group:
    path: str
    span: Span
    scope: tuple[Scope, ...]
    members: list[str] = field(default_factory=list)  # member paths, "features.0", ...
    guard: tuple = ()  # as a node's guard


class IRError(AssertionError):
    """An IR invariant is broken: a bug in netdsl, not in the user's network."""


def new_graph(name: str) -> nx.DiGraph:
    return nx.DiGraph(
        name=name, params={}, inputs={}, outputs=[], instances={}, groups={}, blocks={}, init=[]
    )


def inputs_of(G: nx.DiGraph, node: str) -> list[str]:
    """Predecessors of node in port order."""
    # networkx's documented underlying dicts (G._pred, G._node) rather than the views
    # G.pred / G.nodes, which are rebuilt on every access: stats calls this per layer.
    preds = G._pred[node]
    if len(preds) < 2:
        return list(preds)
    return sorted(preds, key=lambda p: preds[p]["port"])


def in_shapes(G: nx.DiGraph, node: str) -> list[tuple[int, ...]]:
    nodes = G._node
    return [nodes[p]["shape"] for p in inputs_of(G, node)]


def lint(G: nx.DiGraph) -> None:
    """Check the IR's invariants; raise IRError on the first broken one."""
    if not nx.is_directed_acyclic_graph(G):
        raise IRError(f"IR has a cycle: {nx.find_cycle(G)}")
    required = ("op", "args", "shape", "span", "scope")
    for node, data in G.nodes(data=True):
        for key in required:
            if key not in data:
                raise IRError(f"node {node!r} lacks {key!r}")
        shape = data["shape"]
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and d > 0 for d in shape):
            raise IRError(f"node {node!r} has bad shape {shape!r}")
        ports = sorted(G.pred[node][p]["port"] for p in G.pred[node])
        if ports != list(range(len(ports))):
            raise IRError(f"node {node!r} has non-contiguous ports {ports}")
        if data["op"] == "input" and ports:
            raise IRError(f"input node {node!r} has predecessors")
    for name, node in G.graph["inputs"].items():
        if node not in G:
            raise IRError(f"input {name!r} names missing node {node!r}")
    names = [o["name"] for o in G.graph["outputs"]]
    if len(set(names)) != len(names):
        raise IRError(f"duplicate output names {names}")
    for out in G.graph["outputs"]:
        if out["node"] not in G:
            raise IRError(f"output {out['name']!r} names missing node {out['node']!r}")
    # Node keys are unique by construction in networkx; names must also be
    # well-formed dotted paths so backends can turn them into attributes.
    for node in G:
        if not node or any(part == "" for part in node.split(".")):
            raise IRError(f"malformed node name {node!r}")
