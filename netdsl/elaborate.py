"""Elaboration: run a network's description and build the IR graph.

The elaborator is a small interpreter over the AST. Layers are values
(`Spec`s) until `->` applies them to a tensor; applying one adds nodes to the
graph, with its output shape inferred on the spot (later layers need it:
`linear` reads its input's size, blocks read `in.channels`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from typing import Any

import networkx as nx

from netdsl import ast
from netdsl.builtins import BUILTINS, BuiltinError, call_builtin
from netdsl.diagnostics import Diagnostic, NetdslError, Note, Span
from netdsl.evaluate import Evaluator
from netdsl.ir import Group, Instance, Scope, new_graph
from netdsl.loader import Program
from netdsl.ops import OPS
from netdsl.ops.base import OpError, fmt_shape, numel
from netdsl.symbolic import render
from netdsl.values import (
    POISON,
    ArgValue,
    BlockSpec,
    Initializer,
    OpSpec,
    Poisoned,
    RepeatSpec,
    SeqSpec,
    Spec,
    Tensor,
    a_type,
    type_name,
)


@dataclass
class Limits:
    """Resource limits: a bad or hostile file fails fast with a clear error, never hangs.

    Loops are judged early: a loop whose first iterations show it is going to exceed a
    limit is refused then, not when the limit is finally reached (docs/errors.md, E7xx).
    """

    max_layers: int = 2_000_000  # layers after expansion (E701)
    max_block_depth: int = 50  # blocks instantiated inside blocks (E702)
    max_iterations: int = 2_000_000  # for/repeat iterations, all loops together (E707)
    warn_bytes: int = 10**9  # a tensor, or a layer's parameters, larger in fp32: W002/W003


# Statement keywords, and misspellings' targets, for did-you-mean hints.
_KEYWORDS = {"input": "input", "out": "out", "output": "out", "aux": "aux", "init": "init"}
_KEYWORDS |= {"repeat": "repeat", "outputs": "out", "inputs": "input"}

# Independent errors reported from one network before giving up.
MAX_ERRORS = 20
# Block instantiation notes on one diagnostic, at most.
MAX_NOTES = 10
INT64_MAX = 2**63 - 1


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
        notes = [
            Note(f"in block {s.block} '{s.path}' ({s.span})", s.span) for s in reversed(self.scope)
        ]
        if len(notes) > MAX_NOTES:  # the innermost and the outermost instances tell the story
            keep = MAX_NOTES // 2
            skipped = Note(f"... {len(notes) - 2 * keep} more enclosing blocks")
            notes = notes[:keep] + [skipped] + notes[-keep:]
        return notes


class Elaborator(Evaluator):
    def __init__(self, program: Program, limits: Limits | None = None):
        self.program = program
        self.limits = limits or Limits()
        self.G: nx.DiGraph | None = None
        self.stack: list[str] = []  # block types being instantiated, for recursion checks
        self.errors: list[Diagnostic] = []  # reported so far (elaboration goes on after one)
        self.warnings: list[Diagnostic] = []
        self.iterations = 0  # loop iterations so far, for Limits.max_iterations
        self.params = 0  # parameters of the layers so far, to stay within int64
        self.loops: list = []  # the for/repeat loops running now (evaluate._Loop)

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
        self.exec_network_body(net.body, frame)
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

        def flag(code, message, span, hint):  # independent checks: report them all
            self.report([Diagnostic(code, message, span, hint)])

        if not G.graph["outputs"]:
            flag(
                "E601",
                f"network {net.name} declares no output",
                net.span,
                hint="add e.g. `out logits = x -> linear(classes)`",
            )
        if not G.graph["inputs"]:
            flag(
                "E602",
                f"network {net.name} declares no input",
                net.span,
                hint="add e.g. `input image: 3x224x224`",
            )
        for name, node in G.graph["inputs"].items():
            if G.out_degree(node) == 0 and all(o["node"] != node for o in G.graph["outputs"]):
                flag(
                    "E603",
                    f"input '{name}' is never used",
                    G.nodes[node]["span"],
                    hint="remove it, or feed it into a layer",
                )
        if self.errors:
            raise NetdslError(self.errors)
        # Layers no output depends on would be dead code in every backend.
        live: set[str] = set()
        for o in G.graph["outputs"]:
            live.add(o["node"])
            live |= nx.ancestors(G, o["node"])
        dead = [n for n in G if n not in live and G.nodes[n]["op"] != "input"]
        G.graph["warnings"] = self.warnings + [
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
    def exec_network_body(self, body: list[ast.Stmt], frame: Frame) -> None:
        """The network's statements, each on its own: after an error the next statement is
        still elaborated, so independent mistakes are all reported (up to MAX_ERRORS).

        The names a failed statement assigns are poisoned: a later statement that reads one
        is skipped silently, as its trouble is already reported. Limit errors (E7xx) stop
        at once. Errors inside a block instance fail the network statement that made it.
        """
        prev = None
        for i, stmt in enumerate(body):
            try:
                self.exec_body([stmt], frame, top=True, prev=prev)
                prev = stmt
                continue
            except Poisoned:
                pass
            except NetdslError as exc:
                self.report(exc.diagnostics)
                if any(d.code.startswith("E7") for d in exc.diagnostics):
                    break
                if len(self.errors) >= MAX_ERRORS:
                    if i + 1 < len(body):
                        self.errors[-1].notes.append(Note(f"stopping after {MAX_ERRORS} errors"))
                    break
            except RecursionError:
                self.report(
                    [
                        Diagnostic(
                            "E704",
                            "this statement is nested too deeply to elaborate",
                            stmt.span,
                            hint="flatten it, e.g. name intermediate values",
                        )
                    ]
                )
                break
            prev = stmt
            self.stack.clear()
            self.loops.clear()
            frame.guards.clear()
            for name in assigned_names(stmt):
                frame.vars[name] = POISON
                frame.syms[name] = None
        if self.errors:
            raise NetdslError(self.errors)

    def report(self, diagnostics: list[Diagnostic]) -> None:
        seen = {(d.code, d.message, d.span) for d in self.errors}
        for d in diagnostics:
            if (d.code, d.message, d.span) not in seen:
                seen.add((d.code, d.message, d.span))
                self.errors.append(d)

    def exec_body(
        self, body: list[ast.Stmt], frame: Frame, top: bool = False, prev: ast.Stmt | None = None
    ) -> list:
        """Run statements; the values of expression statements are returned (the value of an
        if/for/repeat body). `top`: a network's or block's own body, where a value is lost."""
        values = []
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                self.assign(stmt, frame)
            elif isinstance(stmt, ast.ExprStmt):
                v = self.ev(stmt.expr, frame)
                if top and not isinstance(v, Tensor):
                    self.no_effect(stmt, prev, frame)
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
            prev = stmt
        return values

    def no_effect(self, stmt: ast.ExprStmt, prev: ast.Stmt | None, frame: Frame) -> None:
        """A statement whose value is dropped: almost always a missing '->' (newlines do not
        end statements, so `x = a -> conv(8, 3) relu` is two statements)."""
        if isinstance(stmt.expr, (ast.If, ast.For, ast.Repeat)):
            return
        if prev is not None and prev.span.end_line == stmt.span.line:
            hint = "is a '->' missing before it?"
        else:
            hint = "assign it to a name, or apply it to a tensor with '->'"
        self.fail("E321", "this expression's value is not used", stmt.span, frame, hint=hint)

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
        self.check_size(f"input '{stmt.name}'", shape, [], None, stmt.shape.span, frame)
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
                f"an output must be a tensor, not {a_type(value)}",
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
        if len(self.G) + spec.size > self.limits.max_layers:
            self.fail(
                "E701",
                f"this creates {spec.size:,} layers; with the {len(self.G):,} before it, "
                f"more than the limit of {self.limits.max_layers:,}",
                spec.span,
                frame,
                hint="raise the limit with --max-layers if this is intended",
            )
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
            names = [a.name for a in spec.op.args]
            if exc.arg in names and names.index(exc.arg) < len(spec.pos):
                span = spec.pos[names.index(exc.arg)].span
            for k, a in spec.kw:  # given both ways (E302): the keyword is the culprit
                if k == exc.arg:
                    span = a.span
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
        nodes = [t.node for t in inputs]
        if len(set(nodes)) != len(nodes):
            twice = next(n for n in nodes if nodes.count(n) > 1)
            # The IR keeps one edge per pair of layers (a DiGraph; the edge's port says
            # which input it is), so `concat(a, a)` cannot be represented faithfully.
            self.fail(
                "E322",
                f"{op.name} takes '{twice}' more than once; a layer cannot take the same "
                "tensor twice",
                spec.span,
                frame,
                hint="not supported by netdsl's IR yet",
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
        self.check_size(f"layer '{path}'", shape, shapes, (op, args), spec.span, frame)
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

    def check_size(self, what: str, shape, in_shapes, op_args, span: Span, frame: Frame) -> None:
        """Sizes beyond int64 are errors (E708); beyond Limits.warn_bytes in fp32, warnings
        (W002 for a tensor, W003 for a layer's parameters) with the size in GB."""
        elements = numel(shape)
        if elements > INT64_MAX:
            self.fail(
                "E708",
                f"{what} would be a {fmt_shape(shape)} tensor: {elements:.3g} elements, more "
                "than a 64-bit integer can count",
                span,
                frame,
            )
        limit = self.limits.warn_bytes
        if elements * 4 > limit and all(numel(s) * 4 <= limit for s in in_shapes):
            self.warnings.append(
                Diagnostic(
                    "W002",
                    f"{what} is a {fmt_shape(shape)} tensor: {elements * 4 / 1e9:,.1f} GB "
                    "per sample in fp32",
                    span,
                    notes=frame.notes(),
                    severity="warning",
                )
            )
        if op_args is None:
            return
        op, args = op_args
        params = op.cost(args, in_shapes, shape).params
        self.params += params
        if params > INT64_MAX or self.params > INT64_MAX:
            whose = what if params > INT64_MAX else f"with {what}, the network"
            self.fail(
                "E708",
                f"{whose} would have {max(params, self.params):.3g} parameters, more than a "
                "64-bit integer can count",
                span,
                frame,
            )
        if params * 4 > limit:
            self.warnings.append(
                Diagnostic(
                    "W003",
                    f"{what} has {params:,} parameters: {params * 4 / 1e9:,.1f} GB in fp32",
                    span,
                    notes=frame.notes(),
                    severity="warning",
                )
            )

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
        self.exec_body(block.body, inner, top=True)
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
            self.fail(exc.code, exc.message, span, frame, hint=exc.hint)

    def unknown(self, name: str, candidates, span: Span, frame: Frame | None, what="name"):
        close = difflib.get_close_matches(name, candidates, n=1)
        hint = f"did you mean '{close[0]}'?" if close else None
        if hint is None and what == "name":
            # `ouput y = x` is two statements, `ouput` and `y = x`: a misspelt keyword.
            word = difflib.get_close_matches(name, list(_KEYWORDS), n=1, cutoff=0.75)
            if word:
                hint = f"did you mean the keyword '{_KEYWORDS[word[0]]}'?"
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


def assigned_names(stmt: ast.Stmt) -> set[str]:
    """Every name a statement may bind, in nested bodies too (for poisoning)."""
    names: set[str] = set()
    todo: list = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
            continue
        if isinstance(node, ast.Assign):
            names.update(node.targets)
        elif isinstance(node, ast.For):
            names.update(node.names)
        elif isinstance(node, ast.Input):
            names.add(node.name)
        if isinstance(node, (ast.Expr, ast.Stmt, ast.Arg)):
            todo.extend(getattr(node, f.name) for f in fields(node))
    return names
