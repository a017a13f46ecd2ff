"""Writing the classes: constructors, forward passes, initialisation, the file."""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field

import jinja2
import networkx as nx
from netdsl.backends.pytorch import names as N
from netdsl.backends.pytorch import pyexpr as E
from netdsl.backends.pytorch.classes import DEFAULT, IN, ClassDef, Ctor
from netdsl.backends.pytorch.helpers import HELPERS
from netdsl.backends.pytorch.honour import freeze, unhonoured
from netdsl.backends.pytorch.pyexpr import Atom, Seq, Tree, call, flat
from netdsl.backends.pytorch.spelling import SPELLING
from netdsl.backends.pytorch.structure import Builder
from netdsl.backends.pytorch.tidy import LINE_LENGTH as WIDTH

from netdsl.ir import in_shapes
from netdsl.ops import OPS
from netdsl.text import visible

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")),
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
    undefined=jinja2.StrictUndefined,
)

INDENT = "    "

# What a name the generated code uses needs imported (chosen from the parsed code,
# so a docstring or comment that mentions `F.` imports nothing).
IMPORTS = {
    "argparse": "import argparse",
    "time": "import time",
    "OrderedDict": "from collections import OrderedDict",
    "NamedTuple": "from typing import NamedTuple",
    "torch": "import torch",
    "nn": "import torch.nn as nn",
    "F": "import torch.nn.functional as F",
}


def statement(indent: int, prefix: str, tree: Tree | str, suffix: str = "") -> list[str]:
    """One statement on one line: ruff format breaks it (tidy.py)."""
    text = tree if isinstance(tree, str) else flat(tree)
    return [INDENT * indent + prefix + text + suffix]


def condition(indent: int, keyword: str, cond: str) -> list[str]:
    return [f"{INDENT * indent}{keyword} {cond}:"]


def used_imports(text: str) -> list[str]:
    """The import lines for the module-level names the code loads (ruff sorts them)."""
    names = {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name) and n.id in IMPORTS}
    return [line for name, line in IMPORTS.items() if name in names]


# Weights stored as a list of per-map tensors (helpers), initialised one by one.
PARAMETER_LISTS = {"ConnectionTableConv2d"}


def tree_of(text: str) -> Tree:
    """A spelling as a layout tree (lists and tuples may be split over lines)."""
    node = E.parse(text)
    if isinstance(node, ast.List):
        return Seq("", "[", tuple(("", tree_of(E.unparse(e))) for e in node.elts), "]")
    if isinstance(node, ast.Tuple):
        items = tuple(("", tree_of(E.unparse(e))) for e in node.elts)
        return Seq("", "(", items, ")", single_comma=True)
    return Atom(text)


@dataclass
class Names:
    """Module-level names: classes and what the file imports or defines."""

    taken: set[str] = field(default_factory=lambda: set(N.MODULE_NAMES) | set(HELPERS))

    def local_reserved(self) -> set[str]:
        return self.taken | N.AMBIGUOUS


def group_keys(ctor: Ctor) -> list[str]:
    """nn.Sequential keys of a group's members: numbers as they are, names made safe."""
    taken: set[str] = set()
    keys = []
    for k in ctor.keys:
        key = k if k.isdigit() else N.attr_name(k, taken)
        taken.add(key)
        keys.append(key)
    return keys


class Writer:
    def __init__(self, G: nx.DiGraph, source: str, fold_bn: bool = False):
        self.G = G
        self.source = source
        self.builder = Builder(G, fold_bn=fold_bn)
        self.fold_bn = fold_bn
        self.names = Names()
        self.any_folds = False

    def folds(self, cls: ClassDef, attrs: dict[str, str]) -> list[str]:
        """The FOLDED_BATCHNORM class attribute: convolution -> (batch norm, eps)."""
        found = []

        def walk(ctor: Ctor, path: str) -> None:
            if ctor.kind == "group":
                for key, m in zip(group_keys(ctor), ctor.members):
                    walk(m, f"{path}.{key}")
            elif ctor.kind == "module" and ctor.fold is not None:
                found.append((path, *ctor.fold))

        for k in cls.order:
            if k in attrs and cls.child(k).ctor is not None:
                walk(cls.child(k).ctor, attrs[k])
        if not found:
            return []
        self.any_folds = True
        items = tuple(
            ("", Atom(f"{E.str_literal(c)}: ({E.str_literal(b)}, {E.literal(eps)})"))
            for c, b, eps in found
        )
        return statement(1, "FOLDED_BATCHNORM = ", Seq("", "{", items, "}")) + [""]

    # ---------------------------------------------------------------- classes
    def ctor_tree(self, ctor: Ctor, texts: list[str]) -> Tree:
        """The constructor call; `texts` are the chosen spellings, consumed in order."""
        if ctor.kind == "group":
            members = [self.ctor_tree(m, texts) for m in ctor.members]
            if all(k == str(i) for i, k in enumerate(ctor.keys)):
                return call("nn.Sequential", [("", m) for m in members])
            pairs = []
            for key, m in zip(group_keys(ctor), members):
                pairs.append(("", Seq("", "(", (("", Atom(E.str_literal(key))), ("", m)), ")")))
            return call(
                "nn.Sequential",
                [("", call("OrderedDict", [("", Seq("", "[", tuple(pairs), "]"))]))],
            )
        args: list[tuple[str, Tree]] = []
        if ctor.kind == "instance":
            params = {p.py: p for p in ctor.target.params}
            for key in ctor.keys:
                text = texts.pop(0)
                if text == DEFAULT:
                    continue
                p = params[key]
                prefix = "" if (not p.raw or p.default is None) else f"{key}="
                args.append((prefix, tree_of(text)))
            return call(ctor.target.name, args)
        for kw in ctor.keys:
            text = texts.pop(0)
            args.append(("" if kw is None else f"{kw}=", tree_of(text)))
        return call(ctor.name, args)

    def attrs_for(self, cls: ClassDef) -> dict[str, str]:
        taken: set[str] = set()
        out = {}
        for k in cls.order:
            if cls.kinds[k] == "merge":
                continue
            a = N.attr_name(k, taken)
            taken.add(a)
            out[k] = a
        return out

    def signature(self, cls: ClassDef) -> Tree:
        items: list[tuple[str, Tree]] = [("", Atom("self"))]
        for p in cls.params:
            if p.default is None:
                items.append(("", Atom(p.py)))
            else:
                items.append((f"{p.py}=", tree_of(p.default)))
        return Seq("def __init__", "(", tuple(items), ")")

    def init_body(self, cls: ClassDef, attrs: dict[str, str]) -> list[str]:
        out = [INDENT * 2 + "super().__init__()"]
        for p in cls.params:
            if p.computed is not None:
                out += condition(2, "if", f"{p.py} is None")
                out += statement(3, f"{p.py} = ", p.computed)
        optional = set(cls.optional)
        i = 0
        order = [k for k in cls.order if k in attrs]
        while i < len(order):
            k = order[i]
            if k not in optional:
                out += statement(2, f"self.{attrs[k]} = ", self.child_tree(cls, k))
                i += 1
                continue
            cond = cls.conds[k]
            run = [k]
            while i + len(run) < len(order):
                nxt = order[i + len(run)]
                if nxt in optional and cls.conds[nxt] == cond:
                    run.append(nxt)
                else:
                    break
            out += condition(2, "if", cond)
            for r in run:
                out += statement(3, f"self.{attrs[r]} = ", self.child_tree(cls, r))
            out.append(INDENT * 2 + "else:")
            for r in run:
                out.append(INDENT * 3 + f"self.{attrs[r]} = None")
            i += len(run)
        return out

    def child_tree(self, cls: ClassDef, key: str) -> Tree:
        return self.ctor_tree(cls.child(key).ctor, list(cls.choice[key]))

    def docstring(self, text: str) -> list[str]:
        return [INDENT + f'"""{E.doc_text(text)}"""']

    def block_class(self, cls: ClassDef) -> list[str]:
        attrs = self.attrs_for(cls)
        where = ""
        block = self.G.graph["blocks"].get(cls.block)
        if block is not None and block.span is not None:
            where = f" ({os.path.basename(str(block.span.file))}, line {block.span.line})"
        doc = f"Block {cls.block}{where}"
        variants = [c for c in self.builder.classes if c.block == cls.block]
        if len(variants) > 1:
            doc += f", variant {variants.index(cls) + 1} of {len(variants)}"
        # Parameters the class does not take: fixed by its structure, if its members agree.
        taken = {p.raw for p in cls.params}
        fixed = []
        for p in block.params if block is not None else []:
            if p.name in taken:
                continue
            values = [m.env[self.builder.rename_for(cls.block)[p.name]] for m in cls.members]
            if all(E.same(v, values[0]) for v in values):
                try:
                    fixed.append(f"{p.name}={E.literal(values[0])}")
                except ValueError:
                    pass
        if fixed:
            doc += ", built for " + ", ".join(fixed)
        doc += "."
        lines = [f"class {cls.name}(nn.Module):"]
        lines += self.wrap_doc(doc)
        lines.append("")
        lines += self.folds(cls, attrs)
        lines += statement(1, "", self.signature(cls), ":")
        lines += self.init_body(cls, attrs)
        lines.append("")
        lines += self.forward(cls, attrs, ["x"], [(None, cls.output, False, 0.0)])
        return lines

    def wrap_doc(self, text: str) -> list[str]:
        width = WIDTH - len(INDENT) - 6
        words = text.split()
        rows, row = [], ""
        for w in words:
            if row and len(row) + 1 + len(w) > width:
                rows.append(row)
                row = w
            else:
                row = f"{row} {w}" if row else w
        rows.append(row)
        # Escaped row by row: escaping adds no spaces, so the wrapping stays as measured
        # closely enough, and every row is inert on its own.
        rows = [E.doc_text(r) for r in rows]
        if len(rows) == 1:
            return [INDENT + f'"""{rows[0]}"""']
        return [INDENT + '"""' + rows[0]] + [INDENT + r for r in rows[1:]] + [INDENT + '"""']

    # ---------------------------------------------------------------- forward
    def forward(self, cls: ClassDef, attrs, in_vars: list[str], outputs) -> list[str]:
        """The forward method. outputs: [(name, ref, aux, weight)]."""
        inputs = cls.inputs
        order = cls.order
        optional = set(cls.optional)
        member = cls.members[0]
        in_refs = [IN] if member.block is not None else list(member.inputs)
        main_refs = [r for _, r, aux, _ in outputs if not aux]
        aux_refs = [r for _, r, aux, _ in outputs if aux]

        def ancestors(refs):
            seen: set[str] = set()
            stack = [r for r in refs if r in inputs]
            while stack:
                r = stack.pop()
                if r in seen:
                    continue
                seen.add(r)
                stack.extend(x for x in inputs[r] if x in inputs)
            return seen

        main_keys = ancestors(main_refs)
        aux_keys = ancestors(aux_refs) - main_keys
        sections = [[k for k in order if k in main_keys], [k for k in order if k in aux_keys]]
        # Layers that reach no output (never: elaboration drops them) would be skipped.
        uses: dict[str, int] = {}
        for k in sections[0] + sections[1]:
            for r in inputs[k]:
                uses[r] = uses.get(r, 0) + 1
        for r in main_refs + aux_refs:
            uses[r] = uses.get(r, 0) + 1
        section_of = {k: 0 for k in sections[0]} | {k: 1 for k in sections[1]}

        named_outputs = {r for name, r, _, _ in outputs if name is not None}

        def continues(k: str) -> bool:
            if len(inputs[k]) != 1 or k in optional or cls.kinds[k] == "merge":
                return False
            if k in named_outputs:
                return False  # a network output gets its own name
            r = inputs[k][0]
            if r in section_of and cls.var(r) and cls.var(k) and cls.var(r) != cls.var(k):
                return False  # the .net names a new variable here: so does the code
            return (
                r in section_of
                and uses.get(r) == 1
                and r not in optional
                and section_of[r] == section_of[k]
            )

        succ = {inputs[k][0]: k for k in order if k in section_of and continues(k)}
        out_names = {}
        for name, ref, _, _ in outputs:
            if name is not None:
                out_names.setdefault(ref, name)

        reserved = self.names.local_reserved() | {c.name for c in self.builder.classes}
        var_of: dict[str, str] = {}
        live: dict[str, str] = {}  # var name -> ref it holds
        remaining = dict(uses)
        for v, r in zip(in_vars, in_refs):
            var_of[r] = v
            live[v] = r

        def free(name: str, dying: set[str]) -> bool:
            return name not in live or live[name] in dying

        def pick(k: str) -> str:
            chain = [k]
            while chain[-1] in succ:
                chain.append(succ[chain[-1]])
            dying = {r for r in inputs[k] if remaining.get(r) == 1}
            cands = []
            if chain[-1] in out_names:
                cands.append(out_names[chain[-1]])
            for c in reversed(chain):
                v = cls.var(c)
                if v:
                    cands.append(v)
                    break
            net_inputs = set(in_refs) if member.block is None else set()
            reusable = [r for r in inputs[k] if r in dying and r not in net_inputs]
            if cls.kinds[k] == "merge":
                cands.append("out")
            else:
                reusable = reusable[:1] if reusable and reusable[0] == inputs[k][0] else []
            cands += [var_of[r] for r in reusable]
            if member.block is None and set(inputs[k]) & net_inputs:
                cands.append("x")
            if len(chain) > 1:
                cands.append("out")
            cands.append(attrs.get(k, k))
            for c in cands:
                name = c if c in var_of.values() and c in live else N.fresh(c, set(), reserved)
                if name in reserved or name in N.PY_RESERVED:
                    continue
                if free(name, dying):
                    return name
            base = N.fresh(attrs.get(k, k), set(), reserved)
            i = 1
            while not free(f"{base}_{i}", dying):
                i += 1
            return f"{base}_{i}"

        chain_name: dict[str, str] = {}
        body: list[str] = []

        def emit(k: str, depth: int) -> list[str]:
            out: list[str] = []
            vin = [var_of[r] for r in inputs[k]]
            if k in chain_name:
                v = chain_name[k]
            else:
                v = pick(k)
            if k in succ:
                chain_name[succ[k]] = v
            for r in inputs[k]:
                remaining[r] -= 1
                if remaining[r] == 0 and live.get(var_of[r]) == r:
                    del live[var_of[r]]
            if cls.kinds[k] == "merge":
                out += statement(depth, f"{v} = ", self.merge_tree(cls, k, vin))
            elif k in optional:
                a = attrs[k]
                if v == vin[0]:
                    out += condition(depth, "if", f"self.{a} is not None")
                    out += statement(depth + 1, f"{v} = ", f"self.{a}({v})")
                else:
                    one = f"{v} = {vin[0]} if self.{a} is None else self.{a}({vin[0]})"
                    if len(INDENT * depth + one) <= WIDTH:
                        out.append(INDENT * depth + one)
                    else:
                        out.append(INDENT * depth + f"{v} = {vin[0]}")
                        out += condition(depth, "if", f"self.{a} is not None")
                        out += statement(depth + 1, f"{v} = ", f"self.{a}({vin[0]})")
            else:
                out += statement(depth, f"{v} = ", f"self.{attrs[k]}({vin[0]})")
            var_of[k] = v
            live[v] = k
            return out

        for k in sections[0]:
            body += emit(k, 2)
        lines = [INDENT + f"def forward(self, {', '.join(in_vars)}):"]
        if member.block is not None:
            body.append(INDENT * 2 + f"return {var_of[cls.output]}")
            return lines + body
        ret = self.returns
        mains = [var_of[r] for r in main_refs]
        if aux_refs:
            body += condition(2, "if", "self.training")
            for k in sections[1]:
                body += emit(k, 3)
            allv = mains + [var_of[r] for r in aux_refs]
            body += statement(3, "return ", call(ret["train"], [("", Atom(v)) for v in allv]))
        if len(mains) == 1:
            body.append(INDENT * 2 + f"return {mains[0]}")
        else:
            body += statement(2, "return ", call(ret["eval"], [("", Atom(v)) for v in mains]))
        return lines + body

    def merge_tree(self, cls: ClassDef, k: str, vin: list[str]) -> Tree:
        op = cls.child(k).merge
        if op == "concat":
            return call(
                "torch.cat",
                [("", Seq("", "[", tuple(("", Atom(v)) for v in vin), "]")), ("", Atom("1"))],
            )
        return Atom(SPELLING[op].expr({}, vin))

    # ------------------------------------------------------------ the network
    def network_class(self, net: ClassDef) -> list[str]:
        G = self.G
        attrs = self.attrs_for(net)
        member = net.members[0]
        outputs = member.outputs
        taken: set[str] = set()
        reserved = self.names.local_reserved() | {c.name for c in self.builder.classes}
        in_vars = []
        for name in member.inputs:
            v = N.fresh(name, taken, reserved)
            taken.add(v)
            in_vars.append(v)
        self.in_vars = in_vars
        fixed = []
        for k, v in G.graph["params"].items():
            if k not in {p.raw for p in net.params}:
                try:
                    fixed.append(f"{k}={E.literal(v)}")
                except ValueError:  # a layer: not a literal
                    fixed.append(k)
        doc = f"{G.graph['name']} ({os.path.basename(self.source)})."
        if fixed:
            doc += (
                " Fixed at compile time (not constructor arguments: the code cannot"
                " recompute the structure they shape): " + ", ".join(fixed) + "."
            )
        if self.builder.fold:
            doc += (
                " Batch norm is folded into the convolutions (inference only): load the"
                " weights of the unfolded model through fold_batchnorm()."
            )
        lines = [f"class {net.name}(nn.Module):"]
        lines += self.wrap_doc(doc)
        lines.append("")
        aux = [(n, w) for n, _, a, w in outputs if a]
        if aux:
            items = tuple(
                ("", Atom(f"{E.str_literal(self.fields[n])}: {E.literal(w)}")) for n, w in aux
            )
            lines += statement(1, "AUX_LOSS_WEIGHTS = ", Seq("", "{", items, "}"))
            lines.append("")
        lines += self.folds(net, attrs)
        lines += statement(1, "", self.signature(net), ":")
        lines += self.init_body(net, attrs)
        init = self.init_weights()
        if init:
            lines.append(INDENT * 2 + "self._init_weights()")
        lines.append("")
        outs = [(self.fields[n], r, a, w) for n, r, a, w in outputs]
        lines += self.forward(net, attrs, in_vars, outs)
        if init:
            lines.append("")
            lines += init
        return lines

    def output_types(self, net_name: str, outputs) -> list[str]:
        """NamedTuple classes for several outputs; sets self.returns."""
        mains = [n for n, _, a, _ in outputs if not a]
        auxs = [n for n, _, a, _ in outputs if a]
        self.returns = {}
        self.fields = {}
        taken: set[str] = set()
        for n, _, _, _ in outputs:
            f = n.lstrip("_") or "output"
            f = N.fresh(f, taken, {"count", "index"})
            taken.add(f)
            self.fields[n] = f
        classes = []
        if auxs:
            name = N.fresh(f"{net_name}Outputs", set(), self.names.taken)
            self.names.taken.add(name)
            self.returns["train"] = name
            classes.append((name, mains + auxs, "all outputs (training mode)"))
            if len(mains) > 1:
                name2 = N.fresh(f"{net_name}MainOutputs", set(), self.names.taken)
                self.names.taken.add(name2)
                self.returns["eval"] = name2
                classes.append((name2, mains, "the outputs of evaluation mode"))
        elif len(mains) > 1:
            name = N.fresh(f"{net_name}Outputs", set(), self.names.taken)
            self.names.taken.add(name)
            self.returns["eval"] = name
            classes.append((name, mains, "the outputs"))
        out = []
        for name, fields, what in classes:
            if out:
                out += ["", ""]
            out.append(f"class {name}(NamedTuple):")
            out += self.docstring(f"{net_name}: {what}.")
            out.append("")
            for f in fields:
                out.append(INDENT + f"{self.fields[f]}: torch.Tensor")
        return out

    # --------------------------------------------------------- initialisation
    def init_weights(self) -> list[str]:
        G = self.G
        rules: dict[str, dict] = {}
        for rule in G.graph.get("init", []):
            r = rules.setdefault(rule["op"], {})
            for part in ("weight", "bias"):
                if rule.get(part) is not None:
                    r[part] = rule[part]
        branches = []
        seen: set[str] = set()
        for op_name, rule in rules.items():
            op = OPS[op_name]
            found: dict[str, list] = {}
            for node, data in G.nodes(data=True):
                spelling = SPELLING[op_name]
                if data["op"] != op_name or spelling.module is None or node in self.builder.fold:
                    continue
                args = data["args"]
                if node in self.builder.folded:
                    args = dict(args, bias=True)
                cost = op.cost(args, in_shapes(G, node), data["shape"])
                if cost.params == 0:
                    continue
                cls = spelling.module(args, in_shapes(G, node)).cls
                found.setdefault(cls, []).append(args)
            plain = [c for c in found if c not in PARAMETER_LISTS and c not in seen]
            lists = [c for c in found if c in PARAMETER_LISTS and c not in seen]
            seen |= set(found)
            for group, is_list in ((plain, False), (lists, True)):
                if not group:
                    continue
                all_args = [a for c in group for a in found[c]]
                stmts = self.init_statements(rule, all_args, is_list)
                if stmts:
                    branches.append((group, stmts))
        if not branches:
            return []
        merged: list[tuple[list[str], list[str]]] = []
        for group, stmts in branches:
            for g, st in merged:
                if st == stmts:
                    g.extend(group)
                    break
            else:
                merged.append((list(group), stmts))
        branches = merged
        lines = [INDENT + "def _init_weights(self):", INDENT * 2 + "for m in self.modules():"]
        for i, (group, stmts) in enumerate(branches):
            kind = "if" if i == 0 else "elif"
            types = group[0] if len(group) == 1 else "(" + ", ".join(group) + ")"
            lines += condition(3, kind, f"isinstance(m, {types})")
            lines += [INDENT * 4 + s for s in stmts]
        return lines

    def init_statements(self, rule: dict, args_list: list[dict], is_list: bool) -> list[str]:
        out = []
        for part in ("weight", "bias"):
            spec = rule.get(part)
            if spec is None:
                continue
            flags = []
            for a in args_list:
                if part == "bias" and "bias" in a:
                    flags.append(bool(a["bias"]))
                elif "affine" in a:
                    flags.append(bool(a["affine"]))
                else:
                    flags.append(True)
            if not any(flags):
                continue
            target = f"m.{part}"
            if is_list and part == "weight":
                out.append("for w in m.weight:")
                out.append(INDENT + init_call(spec, "w"))
            elif all(flags):
                out.append(init_call(spec, target))
            else:
                out.append(f"if m.{part} is not None:")
                out.append(INDENT + init_call(spec, target))
        return out

    # ------------------------------------------------------------------ file
    def write(self) -> str:
        G = self.G
        builder = self.builder
        net = builder.run(G.graph["name"])
        rename = builder.rename_for(None)
        fixed = unhonoured(G, self.source, net, rename, self.fold_bn)
        if fixed:
            freeze(net, {rename[p] for p in fixed})
            builder.finish_class(net)
        taken = {c.name for c in builder.classes}
        for params in builder.renames.values():
            taken |= set(params.values())
        self.names.taken |= taken
        net.name = N.fresh(G.graph["name"], taken, N.MODULE_NAMES | set(HELPERS))
        self.names.taken.add(net.name)
        outputs = net.members[0].outputs
        types = self.output_types(net.name, outputs)
        parts: list[list[str]] = []
        for h in builder.helpers:
            parts.append(HELPERS[h].rstrip("\n").split("\n"))
        if types:
            parts.append(types)
        for cls in builder.classes:
            parts.append(self.block_class(cls))
        parts.append(self.network_class(net))
        body = "\n\n\n".join("\n".join(p) for p in parts)
        shapes = tuple(
            ("", Atom(f"{E.str_literal(name)}: {E.literal(tuple(G.nodes[node]['shape']))}"))
            for name, node in G.graph["inputs"].items()
        )
        defaults = ", ".join(f"{p.py}={p.default}" for p in net.params)
        create_doc = f"Build {net.name}."
        if defaults:
            create_doc = f"Build {net.name}; keyword arguments override {defaults}."
        main_outputs = [o for o in outputs if not o[2]]
        header = comment(
            f"{G.graph['name']}: a PyTorch model generated by `netdsl compile` from "
            f"{os.path.basename(self.source)}. Edit the .net file and compile again rather "
            "than editing this file."
        )
        context = dict(
            header="\n".join(header),
            network=G.graph["name"],
            cls=net.name,
            source=os.path.basename(self.source),
            imports=[],
            body=body,
            input_shapes="\n".join(statement(0, "INPUT_SHAPES = ", Seq("", "{", shapes, "}"))),
            create_doc="\n".join(self.wrap_doc(create_doc)),
            parser="\n".join(
                statement(
                    1,
                    "parser = ",
                    call(
                        "argparse.ArgumentParser",
                        [
                            (
                                "description=",
                                Atom(E.str_literal(f"Run {net.name} once on random input.")),
                            )
                        ],
                    ),
                )
            ),
            single_output=len(main_outputs) == 1,
            output_name=self.fields[main_outputs[0][0]] if main_outputs else "output",
            fold_bn=self.any_folds,
        )
        template = TEMPLATES.get_template("module.py.j2")
        imports = used_imports(template.render(context, imports=[]))
        return template.render(context, imports=imports)


def init_call(spec: dict, target: str) -> str:
    fn, a = spec["fn"], spec["args"]
    n = E.number
    if fn == "constant":
        return f"nn.init.constant_({target}, {n(a['value'])})"
    if fn == "normal":
        return f"nn.init.normal_({target}, {n(a['mean'])}, {n(a['std'])})"
    if fn == "trunc_normal":
        return (
            f"nn.init.trunc_normal_({target}, {n(a['mean'])}, {n(a['std'])}, "
            f"{n(a['a'])}, {n(a['b'])})"
        )
    if fn == "uniform":
        return f"nn.init.uniform_({target}, {n(a['a'])}, {n(a['b'])})"
    if fn in ("kaiming_normal", "kaiming_uniform"):
        kw = []
        if a.get("a", 0) != 0:
            kw.append(f"a={n(a['a'])}")
        if a.get("mode", "fan_in") != "fan_in":
            kw.append(f"mode={E.str_literal(a['mode'])}")
        if a.get("nonlinearity", "leaky_relu") != "leaky_relu":
            kw.append(f"nonlinearity={E.str_literal(a['nonlinearity'])}")
        return f"nn.init.{fn}_({', '.join([target] + kw)})"
    if fn in ("xavier_normal", "xavier_uniform"):
        gain = a.get("gain", 1.0)
        extra = f", gain={n(gain)}" if gain != 1.0 else ""
        return f"nn.init.{fn}_({target}{extra})"
    raise ValueError(f"unknown initialiser {fn!r}")


def comment(text: str) -> list[str]:
    """A comment wrapped at the line width (a word longer than a line stands alone);
    control characters are made visible, so nothing from the source ends the comment."""
    rows: list[str] = []
    row = ""
    for word in visible(text).split():
        if row and len("# " + row + " " + word) > WIDTH:
            rows.append(row)
            row = word
        else:
            row = f"{row} {word}" if row else word
    rows.append(row)
    return ["# " + r for r in rows]
