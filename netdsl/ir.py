"""The IR: a plain networkx.DiGraph, and the invariants every pass keeps.

Nodes are keyed by a unique dotted path (``layer1.0.conv1``); their attributes:

  op      name of the op in the registry ("input" for network inputs)
  args    the op's bound, normalised arguments (defaults filled in)
  shape   output type without batch: a netdsl.types.TensorType (sizes with dim names)
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
from netdsl.types import TensorType


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


def training_only(G: nx.DiGraph) -> set[str]:
    """Nodes only auxiliary outputs use (`aux(w) name = ...`): heads that run in the
    training forward and not in eval, as torchvision's aux_logits heads."""
    outs = G.graph.get("outputs", [])
    aux = [o["node"] for o in outs if o.get("aux")]
    if not aux:
        return set()
    main: set[str] = set()
    for o in outs:
        if not o.get("aux"):
            main |= nx.ancestors(G, o["node"]) | {o["node"]}
    used: set[str] = set()
    for n in aux:
        used |= nx.ancestors(G, n) | {n}
    return used - main


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
        if not isinstance(shape, TensorType) or not all(
            isinstance(d, int) and d > 0 for d in shape
        ):
            raise IRError(f"node {node!r} has bad type {shape!r}")
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
    _lint_types(G)
    _lint_containers(G)


def _lint_types(G: nx.DiGraph) -> None:
    """Every layer's type is what its op infers from its arguments and input types: a
    pass that rewrites the graph must leave it consistent."""
    from netdsl.ops import OPS  # the registry imports nothing of the IR; this is lazy

    for node, data in G.nodes(data=True):
        if data["op"] == "input":
            continue
        op = OPS.get(data["op"])
        if op is None:
            raise IRError(f"node {node!r} has unknown op {data['op']!r}")
        ins = in_shapes(G, node)
        if op.inputs is not None and len(ins) != op.inputs:
            raise IRError(f"node {node!r} ({op.name}) has {len(ins)} inputs, wants {op.inputs}")
        inferred = op.infer(data["args"], ins)
        if inferred != data["shape"]:
            raise IRError(
                f"node {node!r} ({op.name}) has type {data['shape']!r}, "
                f"but its op infers {inferred!r}"
            )


def _lint_containers(G: nx.DiGraph) -> None:
    """Block instances and groups refer only to what exists, and scopes nest."""
    instances, groups = G.graph["instances"], G.graph["groups"]
    for path, inst in instances.items():
        for node in inst.inputs:
            if node not in G:
                raise IRError(f"instance {path!r} takes missing node {node!r}")
        if inst.output is not None and inst.output not in G:
            raise IRError(f"instance {path!r} returns missing node {inst.output!r}")
        for outer in inst.scope:
            if outer.path not in instances:
                raise IRError(f"instance {path!r} is scoped in unknown instance {outer.path!r}")
    for path, group in groups.items():
        for member in group.members:
            if member not in G and member not in instances and member not in groups:
                raise IRError(f"group {path!r} has unknown member {member!r}")
    for node, data in G.nodes(data=True):
        for outer in data["scope"]:
            if outer.path not in instances:
                raise IRError(f"node {node!r} is scoped in unknown instance {outer.path!r}")
