"""The diagram model shared by the graphviz and mermaid backends.

`build(G, depth)` turns the analysed IR into what a diagram shows: boxes
(layers, inputs, outputs, collapsed blocks), clusters (block instances and
ordered groups, nested) and labelled edges. The backends only spell it.

Depth. Block instances and ordered groups (`[...] as name`) nest; a container's
*level* is 1 for one written in the network itself, 2 for one inside that, and
so on — the number of parts of its dotted path, as `netdsl stats --depth`
counts. With `depth=N`, containers at level N are drawn as single boxes
(showing their block type, output shape and subtotal) and everything inside
them is hidden; containers above level N are drawn as clusters. `depth=None`
draws every layer. So `depth=1` shows only the network's own layers, with each
top-level block or group as one box (ResNet-152 fits on a page: stem, four
stages, head).

All text here is raw (unescaped); each backend escapes for its own syntax.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import networkx as nx
from netdsl.backends.graphviz.labels import fmt_value, op_summary

from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.ir import training_only
from netdsl.ops import OPS
from netdsl.passes import annotation
from netdsl.plugins import Option

RANKDIRS = ("TB", "LR", "BT", "RL")

# Options every diagram backend takes, declared once.
DIAGRAM_OPTIONS = (
    Option(
        "depth",
        "collapse blocks and groups nested N levels deep into one box each "
        "(1: top level only); default: every layer",
        default=None,
        type=int,
        minimum=1,
    ),
    Option("rankdir", "layout direction", default="TB", type=str, choices=RANKDIRS),
)


def check_rankdir(rankdir: str) -> None:
    if rankdir not in RANKDIRS:
        raise NetdslError(
            Diagnostic(
                "E805", f"bad rankdir {rankdir!r}", None, hint="use one of " + ", ".join(RANKDIRS)
            )
        )


# Colour family of each op category (netdsl.ops OpDef.category), refined by op.
FAMILY_OF_OP = {"conv": "conv", "linear": "dense"}
FAMILY_OF_CATEGORY = {
    "layer": "conv",
    "pool": "pool",
    "norm": "norm",
    "activation": "act",
    "tensor": "tensor",
    "merge": "merge",
}


@dataclass
class Box:
    """One drawn node."""

    id: str  # unique key: an IR node path, "block:PATH" or "output:NAME"
    kind: str  # "layer", "input", "output", "block" (a collapsed container)
    family: str  # colour family: conv dense pool norm act tensor merge input output block group
    title: str  # first line, bold; may be "" when the op line says it all
    lines: list[str]  # further lines (op summary, block arguments)
    shape: str  # output shape, "64×56×56"
    params: int = 0
    macs: int = 0
    aux: bool = False  # used only by auxiliary (training-only) outputs
    tooltip: str = ""
    path: str = ""  # IR node path or container path


@dataclass
class Cluster:
    id: str  # "cluster:PATH"
    kind: str  # "block" or "group"
    path: str
    title: str
    subtitle: str  # block type, or "" for groups
    lines: list[str]
    params: int
    macs: int
    level: int
    aux: bool = False
    children: list = field(default_factory=list)  # Box | Cluster, in order of first appearance


@dataclass
class Edge:
    src: str
    dst: str
    label: str
    aux: bool = False


@dataclass
class Diagram:
    name: str
    params: dict
    total_params: int
    total_macs: int
    children: list  # top level: Box | Cluster
    edges: list[Edge]
    depth: int | None

    def boxes(self):
        """Every Box, depth first, in drawing order."""

        def walk(items):
            for item in items:
                if isinstance(item, Cluster):
                    yield from walk(item.children)
                else:
                    yield item

        return list(walk(self.children))

    def clusters(self):
        def walk(items):
            for item in items:
                if isinstance(item, Cluster):
                    yield item
                    yield from walk(item.children)

        return list(walk(self.children))


@dataclass
class _Container:
    kind: str  # "block" or "group"
    path: str
    block: str | None
    args: dict
    parent: str | None = None
    level: int = 0
    nodes: list = field(default_factory=list)  # every IR node inside, in G order
    members: list = field(default_factory=list)


# ---------------------------------------------------------------------------
# Text


def fmt_shape(shape) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def fmt_count(n: int) -> str:
    """3 significant digits with a K/M/G suffix: 850, 9.41K, 23.5M, 1.58G."""
    if n < 1000:
        return str(n)
    for suffix, scale in (("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
        v = n / scale
        if v < 999.5 or suffix == "T":
            text = f"{v:.3g}" if v < 100 else f"{v:.0f}"
            return text + suffix
    return str(n)  # pragma: no cover


def _redundant_title(name: str, op: str) -> bool:
    """relu, relu_1, ...: the op line says it all."""
    return name == op or re.fullmatch(re.escape(op) + r"_\d+", name) is not None


def _where(span) -> str:
    if span is None:
        return ""
    return f"{os.path.basename(span.file)}:{span.line}:{span.col}"


# ---------------------------------------------------------------------------
# Structure


def check_depth(depth) -> int | None:
    if depth is None:
        return None
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise NetdslError(
            Diagnostic(
                "E805",
                f"bad diagram depth {depth!r}: it must be a whole number, at least 1",
                None,
                hint="--depth 1 draws each top-level block or group as one box; "
                "leave it out to draw every layer",
            )
        )
    return depth


def _containers(G: nx.DiGraph) -> tuple[dict[str, _Container], dict[str, str | None]]:
    """Containers (block instances and groups) with their parents, and each node's parent."""
    boxes: dict[str, _Container] = {}
    for path, inst in G.graph.get("instances", {}).items():
        boxes[path] = _Container("block", path, inst.block, dict(inst.args))
    for path, grp in G.graph.get("groups", {}).items():
        if path in boxes:  # pragma: no cover - paths are unique by construction
            continue
        boxes[path] = _Container("group", path, None, {}, members=list(grp.members))
    member_of: dict[str, str] = {}
    for path, grp in G.graph.get("groups", {}).items():
        for m in grp.members:
            member_of[m] = path
    for path, inst in G.graph.get("instances", {}).items():
        boxes[path].parent = member_of.get(path) or (inst.scope[-1].path if inst.scope else None)
    for path, grp in G.graph.get("groups", {}).items():
        boxes[path].parent = member_of.get(path) or (grp.scope[-1].path if grp.scope else None)
    node_parent: dict[str, str | None] = {}
    for node, data in G.nodes(data=True):
        scope = data.get("scope") or ()
        node_parent[node] = member_of.get(node) or (scope[-1].path if scope else None)
    for c in boxes.values():  # a parent that is not a container: treat as top level
        if c.parent is not None and c.parent not in boxes:
            c.parent = None
    for node, p in node_parent.items():
        if p is not None and p not in boxes:
            node_parent[node] = None

    def level(path: str) -> int:
        chain = []
        p: str | None = path
        while p is not None and boxes[p].level == 0:
            chain.append(p)
            p = boxes[p].parent
            if len(chain) > len(boxes):  # pragma: no cover - a cycle would be an IR bug
                raise AssertionError("container cycle")
        base = boxes[p].level if p is not None else 0
        for q in reversed(chain):
            base += 1
            boxes[q].level = base
        return boxes[path].level

    for path in boxes:
        level(path)
    return boxes, node_parent


def _chain(path: str | None, boxes: dict[str, _Container]) -> list[str]:
    """Container paths from the outermost to `path` itself."""
    out = []
    while path is not None:
        out.append(path)
        path = boxes[path].parent
    return out[::-1]


def _defaults(G: nx.DiGraph, block: str | None) -> dict:
    """A block's parameters with constant defaults: {name: value}."""
    from netdsl import ast

    definition = G.graph.get("blocks", {}).get(block) if block else None
    out = {}
    for p in getattr(definition, "params", ()) or ():
        if isinstance(p.default, ast.Const):
            out[p.name] = p.default.value
    return out


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


def build(G: nx.DiGraph, depth: int | None = None) -> Diagram:
    depth = check_depth(depth)
    cost = annotation(G, "cost")
    order = {n: i for i, n in enumerate(G)}
    boxes, node_parent = _containers(G)
    aux = training_only(G)
    instances = G.graph.get("instances", {})

    # Each node's containers, outermost first; subtotals and contents.
    chains: dict[str, list[str]] = {}
    for node in G:
        chains[node] = _chain(node_parent[node], boxes)
        for c in chains[node]:
            boxes[c].nodes.append(node)

    def visible(node: str) -> str:
        """The box a node is drawn as: itself, or the collapsed container holding it."""
        if depth is not None and len(chains[node]) >= depth:
            return "block:" + chains[node][depth - 1]
        return node

    def local(path: str, container_chain: list[str]) -> str:
        """A name relative to its innermost enclosing block instance."""
        for c in reversed(container_chain):
            if boxes[c].kind == "block" and path.startswith(c + "."):
                return path[len(c) + 1 :]
        return path

    def subtotal(c: _Container) -> tuple[int, int]:
        return (sum(cost[n].params for n in c.nodes), sum(cost[n].macs for n in c.nodes))

    def out_node(c: _Container) -> str:
        if c.kind == "block":
            inst = instances.get(c.path)
            if inst is not None and inst.output in G:
                return inst.output
        inside = set(c.nodes)
        leaving = [n for n in c.nodes if any(s not in inside for s in G.succ[n])]
        return (leaving or c.nodes)[-1]

    def block_lines(c: _Container) -> tuple[str, list[str]]:
        if c.kind == "block":
            defaults = _defaults(G, c.block)
            args = " ".join(
                f"{k}={fmt_value(v)}"
                for k, v in c.args.items()
                if not (k in defaults and _same(defaults[k], v))
            )
            return c.block or "", [args] if args else []
        kinds = {instances[m].block for m in c.members if m in instances}
        if c.members and all(m in instances for m in c.members) and len(kinds) == 1:
            return "", [f"{len(c.members)} × {kinds.pop()}"]
        n = len(c.nodes)
        return "", [f"{n} layer{'s' if n != 1 else ''}"]

    # Boxes and clusters, in order of first appearance.
    root: list = []
    clusters: dict[str, Cluster] = {}
    placed: set[str] = set()
    drawn: dict[str, Box] = {}

    def make_box(key: str) -> Box:
        if key.startswith("block:") and key not in G:
            c = boxes[key[len("block:") :]]
            kind_line, lines = block_lines(c)
            params, macs = subtotal(c)
            enclosing = _chain(c.parent, boxes)
            title = local(c.path, enclosing)
            if kind_line:
                lines = [kind_line, *lines]
            return Box(
                id=key,
                kind="block",
                family="block" if c.kind == "block" else "group",
                title=title,
                lines=lines,
                shape=fmt_shape(G.nodes[out_node(c)]["shape"]),
                params=params,
                macs=macs,
                aux=all(n in aux for n in c.nodes),
                tooltip=f"{c.path} ({c.block or 'group'})",
                path=c.path,
            )
        data = G.nodes[key]
        op = data["op"]
        where = _where(data.get("span"))
        tooltip = f"{key} — {where}" if where else key
        if op == "input":
            return Box(
                id=key,
                kind="input",
                family="input",
                title=key,
                lines=["input"],
                shape=fmt_shape(data["shape"]),
                tooltip=tooltip,
                path=key,
            )
        opdef = OPS.get(op)
        family = FAMILY_OF_OP.get(op) or FAMILY_OF_CATEGORY.get(
            opdef.category if opdef else "", "tensor"
        )
        name = local(key, chains[key])
        title = "" if "." not in name and _redundant_title(name, op) else name
        return Box(
            id=key,
            kind="layer",
            family=family,
            title=title,
            lines=[op_summary(op, data["args"])],
            shape=fmt_shape(data["shape"]),
            params=cost[key].params,
            macs=cost[key].macs,
            aux=key in aux,
            tooltip=tooltip,
            path=key,
        )

    def cluster_of(path: str) -> Cluster:
        if path not in clusters:
            c = boxes[path]
            kind_line, lines = block_lines(c)
            if c.kind == "group":
                lines = []  # the members are drawn; their count adds nothing
            params, macs = subtotal(c)
            clusters[path] = Cluster(
                id="cluster:" + path,
                kind=c.kind,
                path=path,
                title=local(path, _chain(c.parent, boxes)),
                subtitle=kind_line,
                lines=lines,
                params=params,
                macs=macs,
                level=c.level,
                aux=all(n in aux for n in c.nodes),
            )
        return clusters[path]

    for node in G:
        key = visible(node)
        if key in placed:
            continue
        placed.add(key)
        chain = chains[node]
        # Clusters drawn around it: containers above the collapse level.
        shown = chain if depth is None else chain[: depth - 1]
        if key.startswith("block:"):
            shown = [c for c in shown if c != key[len("block:") :]]
        parent_list = root
        for path in shown:
            cl = cluster_of(path)
            if cl.id not in placed:
                placed.add(cl.id)
                parent_list.append(cl)
            parent_list = cl.children
        box = make_box(key)
        drawn[key] = box
        parent_list.append(box)

    # Edges between drawn boxes, deduplicated, in order of target then port.
    edges: list[Edge] = []
    seen: set[tuple[str, str]] = set()
    for u, v, _ in sorted(G.edges(data=True), key=lambda e: (order[e[1]], e[2].get("port", 0))):
        a, b = visible(u), visible(v)
        if a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        edges.append(Edge(a, b, fmt_shape(G.nodes[u]["shape"]), aux=drawn[b].aux))

    # Outputs: a box each, fed by the box that computes it.
    for out in G.graph.get("outputs", []):
        key = "output:" + out["name"]
        shape = fmt_shape(G.nodes[out["node"]]["shape"])
        if out.get("aux"):
            lines = [f"aux output · loss weight {fmt_value(out.get('weight'))}"]
        else:
            lines = ["output"]
        box = Box(
            id=key,
            kind="output",
            family="output",
            title=out["name"],
            lines=lines,
            shape=shape,
            aux=bool(out.get("aux")),
            tooltip=f"{out['name']} — {_where(out.get('span'))}".rstrip(" —"),
            path=out["node"],
        )
        root.append(box)
        edges.append(Edge(visible(out["node"]), key, shape, aux=box.aux))

    return Diagram(
        name=G.graph.get("name", "network"),
        params=dict(G.graph.get("params", {})),
        total_params=sum(c.params for c in cost.values()),
        total_macs=sum(c.macs for c in cost.values()),
        children=root,
        edges=edges,
        depth=depth,
    )
