"""Elaboration: run a network's description and build the IR graph.

The elaborator is a small interpreter over the AST. Layers are values
(`Spec`s) until `->` applies them to a tensor; applying one adds nodes to the
graph, with its output shape inferred on the spot (later layers need it:
`linear` reads its input's size, blocks read `in.channels`).
"""

from __future__ import annotations

import difflib
from dataclasses import fields
from typing import Any

import networkx as nx

from netdsl import ast
from netdsl.apply import Applier
from netdsl.builtins import BUILTINS, INIT_FUNCTIONS, BuiltinError, call_builtin
from netdsl.diagnostics import Diagnostic, NetdslError, Note, Span
from netdsl.evaluate import Evaluator
from netdsl.frame import Frame, Limits
from netdsl.ir import new_graph
from netdsl.loader import Program
from netdsl.ops import OPS
from netdsl.symbolic import render
from netdsl.types import as_type
from netdsl.values import (
    POISON,
    Initializer,
    Poisoned,
    Tensor,
    a_type,
    type_name,
)

# Statement keywords, and misspellings' targets, for did-you-mean hints.
_KEYWORDS = {"input": "input", "out": "out", "output": "out", "aux": "aux", "init": "init"}
_KEYWORDS |= {"repeat": "repeat", "outputs": "out", "inputs": "input"}

# Independent errors reported from one network before giving up.
MAX_ERRORS = 20


class Elaborator(Evaluator, Applier):
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
            elif isinstance(stmt, ast.Train):
                self.train(stmt, frame)
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
        shape = as_type(shape)  # the default layout of its rank: 3x224x224 is C×H×W
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
                named = getattr(v, "name", None)
                self.fail(
                    "E304",
                    f"an initialiser is a number or e.g. normal(0, 0.01), not {type_name(v)}",
                    arg.value.span,
                    frame,
                    hint=f"call it: {named}()" if named in INIT_FUNCTIONS else None,
                )
            rule[arg.name] = v.to_dict()
        self.G.graph["init"].append(rule)

    def train(self, stmt: ast.Train, frame: Frame) -> None:
        """A training recipe (netdsl/recipe.py): data in G.graph["train"] for backends."""
        from netdsl.recipe import RecipeError, read

        if frame.block is not None:
            self.fail("E905", "a train section belongs in a network, not a block", stmt.span, frame)
        if self.G.graph.get("train") is not None:
            self.fail(
                "E904",
                "the network has two train sections",
                stmt.span,
                frame,
                hint="merge them into one",
            )
        try:
            self.G.graph["train"] = read(
                stmt, lambda e: self.ev(e, frame), lambda n: n in frame.vars
            )
        except RecipeError as exc:
            self.fail(exc.code, exc.message, exc.span, frame, hint=exc.hint)

    # --------------------------------------------------------------- applying
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


def _end_of(module: ast.Module) -> Span:
    """Just after the file's last character that is not white space (rustc points there
    for a missing `main`)."""
    text = module.source.rstrip()
    line = text.count("\n") + 1
    col = len(text) - (text.rfind("\n") + 1) + 1
    return Span(module.file, line, col, line, col + 1)


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
                _end_of(program.root),
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
