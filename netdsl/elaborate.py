"""Elaboration: run a network's description and build the IR graph.

The elaborator is a small interpreter over the AST. Layers are values
(`Spec`s) until `->` applies them to a tensor; applying one adds nodes to the
graph, with its output shape inferred on the spot (later layers need it:
`linear` reads its input's size, blocks read `in.channels`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from netdsl import ast
from netdsl.builtins import BUILTINS, BuiltinError, call_builtin
from netdsl.diagnostics import Diagnostic, NetdslError, Note, Span
from netdsl.evaluate import Evaluator
from netdsl.ir import Group, Instance, Scope, new_graph
from netdsl.loader import Program
from netdsl.ops import OPS
from netdsl.ops.base import OpError, fmt_shape
from netdsl.symbolic import render
from netdsl.values import (
    ArgValue,
    BlockSpec,
    Initializer,
    OpSpec,
    RepeatSpec,
    SeqSpec,
    Spec,
    Tensor,
    type_name,
)


@dataclass
class Limits:
    max_layers: int = 5_000_000
    max_block_depth: int = 100


@dataclass
class Frame:
    """One network body or block instance being elaborated."""

    prefix: str  # "" for the network, "layer1.0." inside that instance
    scope: tuple[Scope, ...]
    vars: dict[str, Any] = field(default_factory=dict)
    syms: dict[str, str | None] = field(default_factory=dict)
    in_tensor: Tensor | None = None
    block: ast.Block | None = None
    out: Any = None
    out_span: Span | None = None
    guards: list[tuple[str | None, bool]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def notes(self) -> list[Note]:
        return [
            Note(f"in block {s.block} '{s.path}' ({s.span})", s.span) for s in reversed(self.scope)
        ]


class Elaborator(Evaluator):
    def __init__(self, program: Program, limits: Limits | None = None):
        self.program = program
        self.limits = limits or Limits()
        self.G: nx.DiGraph | None = None
        self.stack: list[str] = []  # block types being instantiated, for recursion checks

    # ------------------------------------------------------------------ errors
    def fail(self, code: str, msg: str, span: Span | None, frame: Frame | None, hint=None):
        notes = frame.notes() if frame is not None else []
        raise NetdslError(Diagnostic(code, msg, span, hint, notes))

    # ----------------------------------------------------------------- network
    def network(self, net: ast.Network, defines: dict, inputs: dict) -> nx.DiGraph:
        G = self.G = new_graph(net.name)
        G.graph["blocks"] = self.program.blocks
        frame = Frame(prefix="", scope=())
        known = {p.name for p in net.params}
        for key in defines:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else (f"parameters of {net.name}: {', '.join(sorted(known)) or 'none'}")
                )
                self.fail(
                    "E205", f"network {net.name} has no parameter '{key}'", net.span, None, hint
                )
        for p in net.params:
            if p.name in defines:
                value = defines[p.name]
            elif p.default is not None:
                value = self.ev(p.default, frame)
            else:
                self.fail(
                    "E303",
                    f"network parameter '{p.name}' has no default",
                    p.span,
                    None,
                    hint=f"give it a value with -D {p.name}=...",
                )
            frame.vars[p.name] = value
            frame.syms[p.name] = p.name
            G.graph["params"][p.name] = value
        self.input_overrides = dict(inputs)
        self.exec_body(net.body, frame)
        for name in self.input_overrides:
            self.fail(
                "E206",
                f"network {net.name} has no input '{name}'",
                net.span,
                None,
                hint=f"inputs: {', '.join(G.graph['inputs']) or 'none'}",
            )
        self.finish(net)
        return G

    def finish(self, net: ast.Network) -> None:
        G = self.G
        if not G.graph["outputs"]:
            self.fail(
                "E601",
                f"network {net.name} declares no output",
                net.span,
                None,
                hint="add e.g. `out logits = x -> linear(classes)`",
            )
        if not G.graph["inputs"]:
            self.fail(
                "E602",
                f"network {net.name} declares no input",
                net.span,
                None,
                hint="add e.g. `input image: 3x224x224`",
            )
        for name, node in G.graph["inputs"].items():
            if G.out_degree(node) == 0 and all(o["node"] != node for o in G.graph["outputs"]):
                self.fail(
                    "E603",
                    f"input '{name}' is never used",
                    G.nodes[node]["span"],
                    None,
                    hint="remove it, or feed it into a layer",
                )
        # Layers no output depends on would be dead code in every backend.
        live: set[str] = set()
        for o in G.graph["outputs"]:
            live.add(o["node"])
            live |= nx.ancestors(G, o["node"])
        dead = [n for n in G if n not in live and G.nodes[n]["op"] != "input"]
        G.graph["warnings"] = [
            Diagnostic(
                "W001",
                f"layer '{n}' does not reach any output",
                G.nodes[n]["span"],
                severity="warning",
            )
            for n in dead
        ]
        G.remove_nodes_from(dead)

    # -------------------------------------------------------------- statements
    def exec_body(self, body: list[ast.Stmt], frame: Frame) -> list:
        values = []
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                self.assign(stmt, frame)
            elif isinstance(stmt, ast.ExprStmt):
                v = self.ev(stmt.expr, frame)
                if v is not None:
                    values.append(v)
            elif isinstance(stmt, ast.Out):
                self.output(stmt, frame)
            elif isinstance(stmt, ast.Aux):
                self.output(stmt, frame)
            elif isinstance(stmt, ast.Input):
                self.input(stmt, frame)
            elif isinstance(stmt, ast.Init):
                self.init(stmt, frame)
        return values

    def assign(self, stmt: ast.Assign, frame: Frame) -> None:
        value = self.ev(stmt.expr, frame)
        if len(stmt.targets) == 1:
            target = stmt.targets[0]
            sym = render(stmt.expr, frame.syms)
            if frame.guards and sym is not None:
                # Assigned under `if`: symbolically the value depends on the condition.
                old = frame.syms.get(target)
                if old is None or any(g is None for g, _ in frame.guards):
                    sym = None
                else:
                    conds = [g if taken else f"not ({g})" for g, taken in frame.guards]
                    sym = f"({sym} if {' and '.join(conds)} else {old})"
            frame.vars[target] = value
            frame.syms[target] = sym
            if isinstance(value, Tensor) and value.node in self.G:
                # The first .net name of a tensor in this block, for generated code.
                self.G.nodes[value.node].setdefault("var", {}).setdefault(frame.prefix, target)
            return
        if not isinstance(value, (list, tuple)) or len(value) != len(stmt.targets):
            got = f"{len(value)} values" if isinstance(value, (list, tuple)) else type_name(value)
            self.fail(
                "E319", f"cannot unpack {got} into {len(stmt.targets)} names", stmt.span, frame
            )
        for name, v in zip(stmt.targets, value):
            frame.vars[name] = v
            frame.syms[name] = None

    def input(self, stmt: ast.Input, frame: Frame) -> None:
        if frame.block is not None:
            self.fail(
                "E207", "`input` belongs in a network; a block's input is `in`", stmt.span, frame
            )
        if stmt.name in self.input_overrides:
            shape = self.input_overrides.pop(stmt.name)
        else:
            shape = self.ev(stmt.shape, frame)
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if (
            not isinstance(shape, tuple)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            self.fail(
                "E308",
                f"input shape must be positive integers like 3x224x224, got {shape!r}",
                stmt.shape.span,
                frame,
            )
        G = self.G
        if stmt.name in G:
            self.fail("E203", f"name '{stmt.name}' is already used", stmt.span, frame)
        G.add_node(
            stmt.name,
            op="input",
            args={"shape": shape},
            shape=shape,
            span=stmt.span,
            scope=(),
            sym={},
            guard=(),
        )
        G.graph["inputs"][stmt.name] = stmt.name
        frame.vars[stmt.name] = Tensor(stmt.name, shape)

    def output(self, stmt, frame: Frame) -> None:
        value = self.ev(stmt.expr, frame)
        if not isinstance(value, Tensor):
            self.fail(
                "E604",
                f"an output must be a tensor, not a {type_name(value)}",
                stmt.expr.span,
                frame,
                hint="apply the layer to a tensor: `out y = x -> layer`",
            )
        if frame.block is not None:
            if isinstance(stmt, ast.Aux) or stmt.name is not None:
                self.fail("E605", "a block has one unnamed output: `out EXPR`", stmt.span, frame)
            if frame.out is not None:
                self.fail(
                    "E606",
                    "block output given twice",
                    stmt.span,
                    frame,
                    hint=f"the first `out` is at {frame.out_span}",
                )
            frame.out, frame.out_span = value, stmt.span
            return
        if stmt.name is None:
            self.fail(
                "E605", "a network's outputs are named: `out logits = EXPR`", stmt.span, frame
            )
        outputs = self.G.graph["outputs"]
        if any(o["name"] == stmt.name for o in outputs):
            self.fail("E203", f"output '{stmt.name}' is declared twice", stmt.span, frame)
        weight = 1.0
        if isinstance(stmt, ast.Aux):
            weight = self.ev(stmt.weight, frame)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                self.fail(
                    "E304",
                    f"aux loss weight must be a non-negative number, got {weight!r}",
                    stmt.weight.span,
                    frame,
                )
        outputs.append(
            {
                "name": stmt.name,
                "node": value.node,
                "aux": isinstance(stmt, ast.Aux),
                "weight": float(weight),
                "span": stmt.span,
            }
        )

    def init(self, stmt: ast.Init, frame: Frame) -> None:
        if stmt.op not in OPS:
            self.unknown(stmt.op, list(OPS), stmt.span, frame, what="op")
        rule: dict[str, Any] = {"op": stmt.op, "span": stmt.span}
        for arg in stmt.args:
            if arg.name not in ("weight", "bias"):
                self.fail(
                    "E202",
                    "init takes weight= and bias=",
                    arg.span,
                    frame,
                    hint="e.g. init conv(weight=normal(0, 0.01), bias=0)",
                )
            v = self.ev(arg.value, frame)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = Initializer("constant", {"value": float(v)})
            if not isinstance(v, Initializer):
                self.fail(
                    "E304",
                    f"an initialiser is a number or e.g. normal(0, 0.01), not {type_name(v)}",
                    arg.value.span,
                    frame,
                )
            rule[arg.name] = v.to_dict()
        self.G.graph["init"].append(rule)

    # --------------------------------------------------------------- applying
    def local_name(self, frame: Frame, base: str) -> str:
        n = frame.counters.get(base, 0)
        while True:
            name = base if n == 0 else f"{base}_{n}"
            n += 1
            if (
                frame.prefix + name not in self.G
                and frame.prefix + name not in self.G.graph["instances"]
                and frame.prefix + name not in self.G.graph["groups"]
            ):
                frame.counters[base] = n
                return name

    def claim(self, path: str, span: Span, frame: Frame) -> None:
        G = self.G
        if path in G or path in G.graph["instances"] or path in G.graph["groups"]:
            where = G.nodes[path]["span"] if path in G else None
            self.fail(
                "E203",
                f"layer name '{path}' is already used",
                span,
                frame,
                hint=f"it was first used at {where}" if where else "names must be unique",
            )

    def apply(self, spec: Spec, inputs: list[Tensor], frame: Frame, path: str | None = None):
        if isinstance(spec, OpSpec):
            return self.apply_op(spec, inputs, frame, path)
        if isinstance(spec, BlockSpec):
            return self.apply_block(spec, inputs, frame, path)
        if isinstance(spec, RepeatSpec):
            if spec.name is not None or path is not None:
                return self.apply_group(spec, inputs, frame, path)
            x = inputs[0]
            for _ in range(spec.count):
                x = self.apply(spec.body, [x], frame)
            return x
        if isinstance(spec, SeqSpec):
            if spec.name is not None or path is not None:
                return self.apply_group(spec, inputs, frame, path)
            x = inputs[0]
            for item in spec.items:
                x = self.apply(item, [x], frame)
            return x
        raise AssertionError(spec)

    def members(self, spec: Spec):
        """A group's members: nested unnamed sequences and repeats are flattened."""
        if isinstance(spec, SeqSpec) and spec.name is None:
            for item in spec.items:
                yield from self.members(item)
        elif isinstance(spec, RepeatSpec) and spec.name is None:
            for _ in range(spec.count):
                yield from self.members(spec.body)
        else:
            yield spec

    def apply_group(self, spec, inputs, frame, path):
        if len(inputs) != 1:
            self.fail("E309", "a group of layers takes one input", spec.span, frame)
        if path is None:
            path = frame.prefix + spec.name
        self.claim(path, spec.span, frame)
        group = Group(path, spec.span, frame.scope, guard=tuple(frame.guards))
        self.G.graph["groups"][path] = group
        inner = spec.body if isinstance(spec, RepeatSpec) else spec
        flat = (
            [m for _ in range(spec.count) for m in self.members(inner)]
            if isinstance(spec, RepeatSpec)
            else list(self.members(inner.named(None) if isinstance(inner, SeqSpec) else inner))
        )
        x = inputs[0]
        for i, member in enumerate(flat):
            member_path = f"{path}.{member.name if member.name else i}"
            group.members.append(member_path)
            x = self.apply(member, [x], frame, member_path)
        return x

    def bind_op(self, spec: OpSpec, frame: Frame) -> dict:
        try:
            return spec.op.bind([a.value for a in spec.pos], {k: a.value for k, a in spec.kw})
        except OpError as exc:
            self.op_error(exc, spec, frame)

    def op_error(self, exc: OpError, spec, frame: Frame, extra_notes=()):
        span = spec.span
        if exc.arg is not None:
            for k, a in spec.kw:
                if k == exc.arg:
                    span = a.span
            names = [a.name for a in spec.op.args]
            if exc.arg in names and names.index(exc.arg) < len(spec.pos):
                span = spec.pos[names.index(exc.arg)].span
        notes = list(extra_notes) + frame.notes()
        raise NetdslError(Diagnostic(exc.code, exc.message, span, exc.hint, notes))

    def apply_op(self, spec: OpSpec, inputs: list[Tensor], frame: Frame, path=None) -> Tensor:
        op = spec.op
        if op.inputs is None:
            if len(inputs) < 2:
                self.fail(
                    "E309",
                    f"{op.name} needs at least two tensors, got {len(inputs)}",
                    spec.span,
                    frame,
                    hint=f"e.g. {op.name}(a, b)",
                )
        elif len(inputs) != op.inputs:
            self.fail(
                "E309",
                f"{op.name} takes {op.inputs} input tensor, got {len(inputs)}",
                spec.span,
                frame,
            )
        args = self.bind_op(spec, frame)
        shapes = [t.shape for t in inputs]
        try:
            shape = op.shape(args, shapes)
        except OpError as exc:
            inputs_note = Note(
                "input shape"
                + ("s" if len(shapes) > 1 else "")
                + ": "
                + ", ".join(f"{fmt_shape(s)} (from '{t.node}')" for s, t in zip(shapes, inputs))
            )
            self.op_error(exc, spec, frame, [inputs_note])
        if path is None:
            path = frame.prefix + (spec.name or self.local_name(frame, op.name))
        self.claim(path, spec.span, frame)
        G = self.G
        if len(G) >= self.limits.max_layers:
            self.fail(
                "E701",
                f"the network expands to more than {self.limits.max_layers:,} layers",
                spec.span,
                frame,
                hint="raise the limit with --max-layers if this is intended",
            )
        names = [a.name for a in op.args]
        sym = {names[i]: a.sym for i, a in enumerate(spec.pos) if a.sym is not None}
        sym.update({k: a.sym for k, a in spec.kw if a.sym is not None})
        G.add_node(
            path,
            op=op.name,
            args=args,
            shape=shape,
            span=spec.span,
            scope=frame.scope,
            sym=sym,
            guard=tuple(frame.guards),
        )
        for port, t in enumerate(inputs):
            G.add_edge(t.node, path, port=port)
        return Tensor(path, shape)

    def apply_block(self, spec: BlockSpec, inputs: list[Tensor], frame: Frame, path=None):
        block = spec.block
        if len(inputs) != 1:
            self.fail(
                "E309",
                f"block {block.name} takes one input tensor, got {len(inputs)}",
                spec.span,
                frame,
            )
        if block.name in self.stack:
            chain = " -> ".join(self.stack[self.stack.index(block.name) :] + [block.name])
            self.fail(
                "E505",
                f"block {block.name} uses itself: {chain}",
                spec.span,
                frame,
                hint="blocks cannot be recursive; use repeat or for",
            )
        if len(self.stack) >= self.limits.max_block_depth:
            self.fail(
                "E702", f"blocks nested deeper than {self.limits.max_block_depth}", spec.span, frame
            )
        if path is None:
            path = frame.prefix + (spec.name or self.local_name(frame, block.name.lower()))
        self.claim(path, spec.span, frame)
        scope = Scope(block.name, path, spec.span)
        inner = Frame(
            prefix=path + ".", scope=frame.scope + (scope,), in_tensor=inputs[0], block=block
        )
        self.bind_block_args(spec, inner, frame)
        instance = Instance(
            block.name,
            path,
            {p.name: inner.vars[p.name] for p in block.params},
            spec.span,
            frame.scope,
            [inputs[0].node],
            arg_syms=self.given_syms(spec),
            guard=tuple(frame.guards),
        )
        self.G.graph["instances"][path] = instance
        self.stack.append(block.name)
        self.exec_body(block.body, inner)
        self.stack.pop()
        if inner.out is None:
            self.fail(
                "E607",
                f"block {block.name} has no `out`",
                block.span,
                frame,
                hint="end the block with `out EXPR`",
            )
        instance.output = inner.out.node
        return inner.out

    @staticmethod
    def given_syms(spec: BlockSpec) -> dict[str, str | None]:
        """The symbolic form of each argument given explicitly in a block call."""
        names = [p.name for p in spec.block.params]
        syms = {name: a.sym for name, a in zip(names, spec.pos)}
        syms.update({k: a.sym for k, a in spec.kw if k in names})
        return syms

    def bind_block_args(self, spec: BlockSpec, inner: Frame, caller: Frame) -> None:
        block = spec.block
        names = [p.name for p in block.params]
        if len(spec.pos) > len(names):
            self.fail(
                "E301",
                f"block {block.name} takes {len(names)} argument"
                f"{'s' if len(names) != 1 else ''} but {len(spec.pos)} were given",
                spec.span,
                caller,
                hint=f"{block.name}({', '.join(names)})",
            )
        given: dict[str, ArgValue] = dict(zip(names, spec.pos))
        for k, a in spec.kw:
            if k not in names:
                close = difflib.get_close_matches(k, names, n=1)
                self.fail(
                    "E202",
                    f"block {block.name} has no parameter '{k}'",
                    a.span,
                    caller,
                    hint=f"did you mean '{close[0]}'?"
                    if close
                    else f"{block.name}({', '.join(names)})",
                )
            if k in given:
                self.fail("E302", f"{block.name}() got '{k}' twice", a.span, caller)
            given[k] = a
        for p in block.params:
            if p.name in given:
                inner.vars[p.name] = given[p.name].value
            elif p.default is not None:
                inner.vars[p.name] = self.ev(p.default, inner)
            else:
                self.fail(
                    "E303",
                    f"block {block.name} needs argument '{p.name}'",
                    spec.span,
                    caller,
                    hint=f"{block.name}({', '.join(names)})",
                )
            inner.syms[p.name] = p.name

    def call_builtin(self, b, args, kwargs, span, frame):
        try:
            return call_builtin(b, args, kwargs)
        except BuiltinError as exc:
            self.fail("E310", exc.message, span, frame, hint=exc.hint)

    def unknown(self, name: str, candidates, span: Span, frame: Frame | None, what="name"):
        close = difflib.get_close_matches(name, candidates, n=1)
        hint = f"did you mean '{close[0]}'?" if close else None
        self.fail("E201", f"unknown {what} '{name}'", span, frame, hint=hint)

    def names_in_scope(self, frame: Frame) -> list[str]:
        return list(frame.vars) + list(self.program.blocks) + list(OPS) + list(BUILTINS)


def elaborate(
    program: Program,
    network: str | None = None,
    defines: dict | None = None,
    inputs: dict | None = None,
    limits: Limits | None = None,
) -> nx.DiGraph:
    nets = [n for m in [program.root] for n in m.networks]
    if not nets:
        raise NetdslError(
            Diagnostic(
                "E608",
                f"{program.root.file} defines no network",
                None,
                hint="a file with only blocks is a library: import it",
            )
        )
    if network is None:
        if len(nets) > 1:
            raise NetdslError(
                Diagnostic(
                    "E609",
                    f"{program.root.file} defines several networks",
                    nets[1].span,
                    hint="choose one with --network " + " or ".join(n.name for n in nets),
                )
            )
        net = nets[0]
    else:
        matches = [n for n in nets if n.name == network]
        if not matches:
            names = [n.name for n in nets]
            close = difflib.get_close_matches(network, names, n=1)
            raise NetdslError(
                Diagnostic(
                    "E201",
                    f"no network '{network}' in {program.root.file}",
                    None,
                    hint=f"did you mean '{close[0]}'?"
                    if close
                    else f"networks: {', '.join(names)}",
                )
            )
        net = matches[0]
    return Elaborator(program, limits).network(net, defines or {}, inputs or {})
