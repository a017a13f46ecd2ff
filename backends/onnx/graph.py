"""What the ONNX backend reads of the IR, in one place.

Everything below this module (the spelling table, weights, the model writer)
sees only these records, so a change to the IR's shape is adapted here alone.
No onnx or numpy here: it is imported when the backend is discovered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from netdsl.backends.pytorch.names import attr_name

from netdsl.diagnostics import Span
from netdsl.ir import inputs_of

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Layer:
    """One IR node as the backend needs it."""

    name: str  # the IR's dotted node name; also its ONNX value and node name
    op: str
    args: dict[str, Any]
    shape: Shape  # output shape without the batch dimension
    inputs: tuple[str, ...]  # input layers, in port order
    in_shapes: tuple[Shape, ...]
    span: Span | None
    scope: tuple[str, ...] = ()  # enclosing block instances, outermost first (for messages)


@dataclass(frozen=True)
class Output:
    name: str
    layer: str
    aux: bool
    span: Span | None


@dataclass
class Network:
    name: str
    params: dict[str, Any]
    source: str  # the .net file the network was read from ("<network>" if unknown)
    inputs: list[tuple[str, str]]  # (input name, its layer)
    outputs: list[Output]  # declaration order; auxiliary heads included
    layers: dict[str, Layer]  # creation order, which is a topological order
    # init rules by op: {"conv": {"weight": {"fn": ..., "args": {...}}, "bias": ...}};
    # for each part the last rule that names it wins, as in the PyTorch backend.
    init: dict[str, dict[str, dict]] = field(default_factory=dict)

    @property
    def main_outputs(self) -> list[Output]:
        """What an exported model computes: the outputs that are not auxiliary heads
        (those are for training only, as in the PyTorch module's eval mode)."""
        return [o for o in self.outputs if not o.aux]

    def needed(self) -> list[Layer]:
        """Layers the main outputs depend on, in creation order."""
        seen: set[str] = set()
        stack = [o.layer for o in self.main_outputs]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(self.layers[name].inputs)
        return [layer for name, layer in self.layers.items() if name in seen]


def read(G: nx.DiGraph) -> Network:
    layers: dict[str, Layer] = {}
    for node, data in G.nodes(data=True):
        preds = inputs_of(G, node)
        layers[node] = Layer(
            name=node,
            op=data["op"],
            args=dict(data.get("args") or {}),
            shape=tuple(data["shape"]),
            inputs=tuple(preds),
            in_shapes=tuple(tuple(G.nodes[p]["shape"]) for p in preds),
            span=data.get("span"),
            scope=tuple(s.path for s in data.get("scope") or ()),
        )
    init: dict[str, dict[str, dict]] = {}
    for rule in G.graph.get("init", []):
        parts = init.setdefault(rule["op"], {})
        for part in ("weight", "bias"):
            if rule.get(part) is not None:
                parts[part] = rule[part]
    g = G.graph
    return Network(
        name=g["name"],
        params=dict(g.get("params", {})),
        source=_source(G),
        inputs=list(g["inputs"].items()),
        outputs=[
            Output(o["name"], o["node"], bool(o.get("aux")), o.get("span"))
            for o in g.get("outputs", [])
        ],
        layers=layers,
        init=init,
    )


def _source(G: nx.DiGraph) -> str:
    for node in G.graph["inputs"].values():
        span = G.nodes[node].get("span")
        if span is not None and getattr(span, "file", None):
            return str(span.file)
    return "<network>"


def value_names(net: Network) -> dict[str, str]:
    """ONNX value of each layer: its name, unless a main output of another layer
    takes it (`out relu = ...` beside an unnamed relu layer); inputs keep theirs."""
    taken = {o.name: o.layer for o in net.main_outputs}
    values = {}
    for name in net.layers:
        values[name] = name if taken.get(name, name) == name else f"{name}/value"
    for inp, layer in net.inputs:
        values[layer] = inp
    return values


def state_key(layer: str, tensor: str) -> str:
    """The generated PyTorch module's state_dict key for `tensor` of `layer`.

    Module attributes are the layer names, made safe as the PyTorch backend does
    (`class` -> `class_`); numbered group members keep their numbers.
    """
    parts = [p if p.isdigit() else attr_name(p, set()) for p in layer.split(".")]
    return ".".join([*parts, tensor])
