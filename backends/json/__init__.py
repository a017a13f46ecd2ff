"""JSON backend: the analysed IR in networkx's node-link form, plus the whole IR.

Load the summary with ``networkx.node_link_graph(json.load(f), edges="edges")``; the
"ir" member is the complete IR, losslessly (netdsl.ir_json), which netdsl reads back:
``netdsl compile model.json -o model.py`` writes what compiling the .net file writes.

Each node (in the IR's order) carries ``op``, ``args``, ``shape``, ``params``,
``buffers``, ``macs``, ``receptive_field`` ([h, w], or null for global),
``rf_jump``, ``span`` ({file, line, col, end_line, end_col}), ``scope`` (the
instance paths that contain it, outermost first) and ``scope_blocks`` (their
block types), plus ``sym`` and ``guard`` when the layer sits in a block. Edges
carry ``port``. The graph carries ``name``, ``params``, ``inputs``,
``outputs``, ``totals``, ``instances``, ``groups`` and ``init``. Tuples become
lists; keys are sorted, so the output is deterministic.
"""

from __future__ import annotations

import dataclasses
import json
import math

import networkx as nx

from netdsl.diagnostics import Span
from netdsl.ir import training_only
from netdsl.ir_json import SCHEMA, SCHEMA_VERSION, encode_graph
from netdsl.passes import annotation
from netdsl.plugins import Backend


def _span(s: Span | None):
    if s is None:
        return None
    return {
        "file": s.file,
        "line": s.line,
        "col": s.col,
        "end_line": s.end_line,
        "end_col": s.end_col,
    }


def safe(value):
    """A JSON-safe copy: tuples to lists, spans and dataclasses to objects, keys to strings."""
    if isinstance(value, Span):
        return _span(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((safe(v) for v in value), key=repr)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: safe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


def to_data(G: nx.DiGraph) -> dict:
    cost = annotation(G, "cost")
    heads = training_only(G)
    rfs = annotation(G, "rf")
    H = nx.DiGraph()
    for node, data in G.nodes(data=True):
        scope = data.get("scope") or ()
        rf = rfs[node]
        attrs = {
            "op": data["op"],
            "args": safe(data.get("args", {})),
            "shape": list(data["shape"]),
            "params": cost[node].params,
            "buffers": cost[node].buffers,
            "macs": cost[node].macs,
            "receptive_field": list(rf.size) if rf.size is not None else None,
            "rf_jump": list(rf.jump),
            "span": _span(data.get("span")),
            "scope": [s.path for s in scope],
            "scope_blocks": [s.block for s in scope],
        }
        if data.get("sym"):
            attrs["sym"] = safe(data["sym"])
        if data.get("guard"):
            attrs["guard"] = safe(data["guard"])
        H.add_node(node, **attrs)
    for u, v, data in G.edges(data=True):
        H.add_edge(u, v, port=data.get("port", 0))
    g = G.graph
    H.graph.update(
        format=SCHEMA,
        version=SCHEMA_VERSION,
        name=g.get("name"),
        params=safe(g.get("params", {})),
        inputs=safe(g.get("inputs", {})),
        outputs=[
            {
                "name": o["name"],
                "node": o["node"],
                "aux": bool(o.get("aux")),
                "weight": o.get("weight"),
                "shape": list(G.nodes[o["node"]]["shape"]),
                "span": _span(o.get("span")),
            }
            for o in g.get("outputs", [])
        ],
        totals={
            "layers": sum(1 for _, d in G.nodes(data=True) if d["op"] != "input"),
            "params": sum(c.params for c in cost.values()),
            "buffers": sum(c.buffers for c in cost.values()),
            # the eval forward, as `stats` (docs/statistics.md); with the aux heads too
            "macs": sum(c.macs for n, c in cost.items() if n not in heads),
            "train_macs": sum(c.macs for c in cost.values()),
        },
        instances={
            path: {
                "block": inst.block,
                "args": safe(inst.args),
                "span": _span(inst.span),
                "scope": [s.path for s in inst.scope],
                "inputs": list(inst.inputs),
                "output": inst.output,
            }
            for path, inst in g.get("instances", {}).items()
        },
        groups={
            path: {
                "span": _span(grp.span),
                "scope": [s.path for s in grp.scope],
                "members": list(grp.members),
            }
            for path, grp in g.get("groups", {}).items()
        },
        init=safe(g.get("init", [])),
    )
    return nx.node_link_data(H, edges="edges")


def generate(G, options: dict | None = None, fmt: str | None = None) -> str:
    data = to_data(G)
    data["ir"] = encode_graph(G)
    # ASCII escapes keep every string exact and inert, lone surrogates included (UTF-8
    # cannot encode those); json.loads reads them back as they were.
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


backend = Backend(
    name="json",
    description="the analysed IR as JSON (networkx node-link form)",
    extensions=("json",),
    generate=generate,
)
