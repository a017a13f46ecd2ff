"""From the IR to classes: one nn.Module class per block type (or per variant).

Every container (the network, and each block instance) is first *described* on
its own: its direct children (layers, block instances, ordered groups) in
creation order, the constructor call of each with every argument as a *slot*
(candidate Python spellings, most symbolic first, plus the value netdsl
computed), and its dataflow (which child feeds which).

Instances of one block type are then unified greedily into as few classes as
possible. An instance joins a class when

  * the children they share have the same constructor structure,
  * every child that only some members have was created under an `if` whose
    condition is expressible in the parameters, and that condition is true
    exactly for the members that have it (the class builds it under that `if`,
    and the forward pass skips it when it is None),
  * their dataflow agrees once skipped children are bypassed, and
  * for every argument one spelling reproduces every member's value.

All of this is checked by evaluating the chosen spellings with each member's
parameters, so a class constructed with an instance's arguments builds exactly
that instance. Instances that cannot join any class start a new variant.
"""

from __future__ import annotations

import ast

import networkx as nx
from netdsl.backends.pytorch import names as N
from netdsl.backends.pytorch import pyexpr as E
from netdsl.backends.pytorch.classes import (
    DEFAULT,
    IN,
    BackendBug,
    Child,
    ClassDef,
    Ctor,
    Desc,
    Slot,
)
from netdsl.backends.pytorch.helpers import HELPERS
from netdsl.backends.pytorch.spelling import SPELLING, TorchArg, compact
from netdsl.backends.pytorch.unify import Unifier

from netdsl.ir import Instance, inputs_of
from netdsl.ops import OPS

# ------------------------------------------------------------------------ builder


def _terms(tree: ast.expr) -> list[tuple[ast.expr, int]]:
    """(term, count) of a sum; `2 * growth` counts growth twice."""
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Add):
        return _terms(tree.left) + _terms(tree.right)
    if (
        isinstance(tree, ast.BinOp)
        and isinstance(tree.op, ast.Mult)
        and isinstance(tree.left, ast.Constant)
        and type(tree.left.value) is int
    ):
        return [(tree.right, tree.left.value)]
    return [(tree, 1)]


def _sum_of_terms(trees: list[ast.expr]) -> str:
    """The concatenated channels as one sum with like terms collected: a dense block's
    `in_channels + growth + growth + growth` is `in_channels + 3 * growth`."""
    counts: dict[str, list] = {}
    for term, n in (t for tree in trees for t in _terms(tree)):
        counts.setdefault(E.unparse(term), [term, 0])[1] += n
    total = None
    for term, n in counts.values():
        part = term if n == 1 else ast.BinOp(ast.Constant(n), ast.Mult(), term)
        total = part if total is None else ast.BinOp(total, ast.Add(), part)
    return E.unparse(total)


class Builder(Unifier):
    def __init__(self, G: nx.DiGraph, fold_bn: bool = False):
        self.G = G
        self.instances: dict[str, Instance] = G.graph["instances"]
        self.groups = G.graph["groups"]
        self.output_nodes = {o["node"] for o in G.graph["outputs"]}
        self._index()
        self.fold: dict[str, str] = {}  # batch norm node -> the convolution it folds into
        self.folded: dict[str, str] = {}  # convolution -> its batch norm
        if fold_bn:
            self._find_folds()
        self._prefix = ""
        self.blocks = G.graph.get("blocks", {})
        self.class_of: dict[str, ClassDef] = {}  # instance path -> class
        self.classes: list[ClassDef] = []
        self.helpers: list[str] = []
        self.global_names: set[str] = set()
        self.renames: dict[str | None, dict[str, str]] = {}

    # ---------------------------------------------------------------- indexing
    def _container(self, path: str) -> str:
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            p = ".".join(parts[:i])
            if p in self.instances or p in self.groups:
                return p
        return ""

    def _index(self) -> None:
        G = self.G
        first: dict[str, int] = {}
        self.parent: dict[str, str] = {}
        for i, (node, data) in enumerate(G.nodes(data=True)):
            if data["op"] == "input":
                continue
            path = node
            while True:
                c = self._container(path)
                self.parent.setdefault(path, c)
                if path not in first:
                    first[path] = i
                if not c:
                    break
                path = c
        self.first = first
        self.children_of: dict[str, list[str]] = {}
        for path in sorted(first, key=lambda p: (first[p], p.count("."))):
            self.children_of.setdefault(self.parent[path], []).append(path)
        for path, kids in self.children_of.items():
            for kid in kids:
                rest = kid[len(path) + 1 :] if path else kid
                if "." in rest:
                    raise BackendBug(f"{kid!r} is not a direct child of {path!r}")

    def _find_folds(self) -> None:
        """Batch norms that directly follow a convolution (its only reader) in one
        container and under the same conditions: they fold into it."""
        G = self.G
        for node, data in G.nodes(data=True):
            if data["op"] != "batchnorm" or len(data["shape"]) != 3:
                continue
            ins = inputs_of(G, node)
            if len(ins) != 1:
                continue
            conv = ins[0]
            cd = G.nodes[conv]
            if cd["op"] != "conv" or cd["args"].get("table") is not None:
                continue
            if G.out_degree(conv) != 1 or conv in self.output_nodes:
                continue
            if self.parent.get(conv) != self.parent.get(node):
                continue
            if tuple(cd.get("guard", ())) != tuple(data.get("guard", ())):
                continue
            self.fold[node] = conv
            self.folded[conv] = node

    def members(self, group: str) -> list[str]:
        return [m for m in self.groups[group].members if m in self.first and m not in self.fold]

    def kind(self, path: str) -> str:
        if path in self.instances:
            return "instance"
        if path in self.groups:
            return "group"
        return "merge" if SPELLING[self.G.nodes[path]["op"]].module is None else "module"

    def out_node(self, path: str) -> str:
        k = self.kind(path)
        if k == "instance":
            return self.instances[path].output
        if k == "group":
            return self.out_node(self.members(path)[-1])
        return path

    def in_nodes(self, path: str) -> list[str]:
        k = self.kind(path)
        if k == "instance":
            return list(self.instances[path].inputs)
        if k == "group":
            return self.in_nodes(self.members(path)[0])
        return inputs_of(self.G, path)

    def guard(self, path: str) -> tuple:
        k = self.kind(path)
        if k == "instance":
            return tuple(self.instances[path].guard)
        if k == "group":
            return tuple(self.groups[path].guard)
        return tuple(self.G.nodes[path].get("guard", ()))

    # ----------------------------------------------------------------- renames
    def rename_for(self, block: str | None) -> dict[str, str]:
        if block in self.renames:
            return self.renames[block]
        if block is None:
            params = list(self.G.graph["params"])
        else:
            params = [p.name for p in self.blocks[block].params]
        taken: set[str] = {"in_channels"}
        reserved = N.MODULE_NAMES | self.global_names | set(self.helpers_all())
        out = {}
        for p in params:
            py = N.fresh(p, taken, reserved)
            taken.add(py)
            out[p] = py
        self.renames[block] = out
        return out

    # -------------------------------------------------------------- describing
    def describe(self, path: str, block: str | None, env: dict, rename: dict) -> Desc:
        G = self.G
        prefix = path + "." if path else ""
        producers: dict[str, str] = {}
        chan: dict[str, str | None] = {}
        refs_in: list[str] = []
        if block is None:
            for name, node in G.graph["inputs"].items():
                producers[node] = name
                chan[name] = None
                refs_in.append(name)
        else:
            inst = self.instances[path]
            producers[inst.inputs[0]] = IN
            chan[IN] = "in_channels"
        children: dict[str, Child] = {}
        self._prefix = prefix
        for kid in self.children_of.get(path, []):
            if kid in self.fold:
                continue
            key = kid[len(prefix) :]
            kind = self.kind(kid)
            ins = []
            for n in self.in_nodes(kid):
                if n not in producers:
                    raise BackendBug(f"{kid!r} reads {n!r}, which {path or 'the network'} lacks")
                ins.append(producers[n])
            out = self.out_node(kid)
            child = Child(key, kind, self.guard(kid), ins, out_node=out)
            var = G.nodes[out].get("var", {}).get(prefix) if out in G else None
            if var is None and out in self.folded:
                var = G.nodes[self.folded[out]].get("var", {}).get(prefix)
            child.var = var
            in_chan = chan.get(ins[0]) if ins else None
            if kind == "merge":
                child.merge = G.nodes[kid]["op"]
                out_text = self._merge_chan(kid, [chan.get(r) for r in ins], env)
            else:
                child.ctor, out_text = self.ctor(kid, in_chan, env, rename)
            children[key] = child
            if out not in producers:
                producers[out] = key
            if out in self.folded:  # readers of the folded batch norm read the convolution
                producers[self.folded[out]] = key
            chan[key] = out_text
        if block is None:
            desc = Desc(path, None, env, children, None, inputs=refs_in)
            for o in G.graph["outputs"]:
                desc.outputs.append((o["name"], producers[o["node"]], o["aux"], o["weight"]))
            return desc
        inst = self.instances[path]
        output = producers.get(inst.output)
        if output is None:
            raise BackendBug(f"output {inst.output!r} of {path!r} is not produced inside it")
        desc = Desc(path, block, env, children, output)
        desc.out_channels = G.nodes[inst.output]["shape"][0]
        desc.out_chan = chan.get(output)
        return desc

    def _check_chan(self, text: str | None, env: dict, value: int) -> str | None:
        """text if it spells value under env; constant arithmetic is folded (64 * 4 -> 256)."""
        if text is None or not E.holds(text, env, value):
            return None
        tree = E.parse(text)
        if tree is not None and E.is_constant(tree):
            return E.literal(value)
        return text

    def _merge_chan(self, node: str, texts: list, env: dict) -> str | None:
        G = self.G
        c = G.nodes[node]["shape"][0]
        if G.nodes[node]["op"] == "concat":
            if any(t is None for t in texts):
                return None
            return self._check_chan(_sum_of_terms([E.parse(t) for t in texts]), env, c)
        return self._check_chan(texts[0], env, c)

    def ctor(self, path: str, in_chan: str | None, env: dict, rename: dict):
        """(Ctor, spelling of its output channels) of a layer, instance or group."""
        kind = self.kind(path)
        if kind == "group":
            members = []
            keys = []
            text = in_chan
            for m in self.members(path):
                c, text = self.ctor(m, text, env, rename)
                members.append(c)
                keys.append(m.rsplit(".", 1)[-1])
            return Ctor("group", "", tuple(keys), members=members), text
        if kind == "instance":
            return self._instance_ctor(path, in_chan, env, rename)
        return self._module_ctor(path, in_chan, env, rename)

    def _module_ctor(self, node: str, in_chan: str | None, env: dict, rename: dict):
        G = self.G
        data = G.nodes[node]
        op = OPS[data["op"]]
        args = data["args"]
        raw_sym = dict(data.get("sym") or {})
        fold = None
        if node in self.folded:
            bn = self.folded[node]
            args = dict(args, bias=True)  # the batch norm's shift becomes the bias
            raw_sym.pop("bias", None)
            rel = ".".join(
                p if p.isdigit() else N.attr_name(p, set())
                for p in bn[len(self._prefix) :].split(".")
            )
            fold = (rel, G.nodes[bn]["args"]["eps"])
        in_shapes = [G.nodes[p]["shape"] for p in inputs_of(G, node)]
        spelling = SPELLING[op.name]
        tm = spelling.module(args, in_shapes)
        sym = {}
        for name, s in raw_sym.items():
            t = E.normalise(s, rename)
            if t is not None and not E.is_constant(E.parse(t)):
                sym[name] = t
        targs = list(tm.args)
        tk = spelling.keywords
        present = {a.source for a in targs if a.source}
        for name in sym:
            if f"arg:{name}" in present or name not in tk:
                continue
            value = args[name]
            if isinstance(value, tuple) and len(value) == 2:
                value = compact(value)
            targs.append(TorchArg(tk[name], value, f"arg:{name}"))
        if any(a.keyword == "inplace" for a in targs):
            safe = self._inplace_safe(node)
            targs = [a for a in targs if a.keyword != "inplace"]
            if safe:
                targs.append(TorchArg("inplace", True))
        korder = list(tk.values())
        pos = [a for a in targs if a.keyword is None]
        kws = [a for a in targs if a.keyword is not None]
        kws.sort(key=lambda a: korder.index(a.keyword) if a.keyword in korder else len(korder))
        arg_types = {a.name: a.type for a in op.args}
        slots = []
        for a in pos + kws:
            lit = E.literal(a.value)
            cands = []
            pair = False
            if a.source and a.source.startswith("arg:"):
                name = a.source[4:]
                pair = arg_types.get(name) in ("pair", "pad")
                t = sym.get(name)
                if t is not None and E.holds(t, env, a.value, pair):
                    cands.append(t)
            elif a.source == "in:channels" and in_chan is not None:
                if E.holds(in_chan, env, a.value):
                    cands.append(in_chan)
            if lit not in cands:
                cands.append(lit)
            slots.append(Slot(tuple(cands), a.value, pair))
        for h in tm.helpers:
            if h not in self.helpers:
                self.helpers.append(h)
        ctor = Ctor(
            "module", tm.cls, tuple(a.keyword for a in pos + kws), slots, helpers=tm.helpers
        )
        ctor.fold = fold
        out_c = data["shape"][0]
        out_text = None
        if "filters" in args or "features" in args:
            t = sym.get("filters", sym.get("features"))
            out_text = self._check_chan(t, env, out_c)
        elif in_shapes and len(in_shapes[0]) == len(data["shape"]) and in_shapes[0][0] == out_c:
            out_text = self._check_chan(in_chan, env, out_c)
        elif data["op"] == "flatten" and in_shapes and len(in_shapes[0]) > 1:
            spatial = 1
            for d in in_shapes[0][1:]:
                spatial *= d
            if spatial == 1:
                out_text = self._check_chan(in_chan, env, out_c)
            elif in_chan is not None:
                # The spatial dims are known when compiling; the channels may follow a
                # parameter (honour.py checks that the dims do not).
                t = E.normalise(f"({in_chan}) * {spatial}")
                out_text = self._check_chan(t, env, out_c)
        return ctor, out_text

    def _inplace_safe(self, node: str) -> bool:
        """Whether an in-place op at node may overwrite its input: nothing else reads it."""
        G = self.G
        scope = G.nodes[node]["scope"]
        prefix = scope[-1].path + "." if scope else ""
        p = inputs_of(G, node)[0]
        while True:
            data = G.nodes[p]
            if data["op"] == "input" or (prefix and not p.startswith(prefix)):
                return False
            if G.out_degree(p) > 1 or p in self.output_nodes:
                return False
            if not OPS[data["op"]].aliases_input:
                return True
            p = inputs_of(G, p)[0]

    def _instance_ctor(self, path: str, in_chan: str | None, env: dict, rename: dict):
        inst = self.instances[path]
        cls = self.class_of[path]
        in_c = self.G.nodes[inst.inputs[0]]["shape"][0]
        keys = []
        slots = []
        subst: dict[str, ast.expr] = {}
        sub_rename = self.rename_for(inst.block)
        for p in cls.params:
            keys.append(p.py)
            if not p.raw:
                cands = []
                if in_chan is not None and E.holds(in_chan, env, in_c):
                    cands.append(in_chan)
                lit = E.literal(in_c)
                if lit not in cands:
                    cands.append(lit)
                slots.append(Slot(tuple(cands), in_c))
                subst["in_channels"] = E.parse(cands[0])
                continue
            value = inst.args[p.raw]
            cands = []
            given = p.raw in inst.arg_syms
            s = inst.arg_syms.get(p.raw)
            if s is not None:
                t = E.normalise(s, rename)
                if t is not None and not E.is_constant(E.parse(t)) and E.holds(t, env, value):
                    cands.append(t)
            default_ok = False
            if p.default is not None:
                if not given:
                    default_ok = True
                elif p.computed is None and E.same(value, p.default_value):
                    default_ok = True
            if default_ok:
                cands.append(DEFAULT)
            lit = E.literal(value)
            cands.append(lit)
            slots.append(Slot(tuple(cands), value, default_ok=default_ok))
            first = cands[0] if cands[0] != DEFAULT else lit
            subst[p.py] = E.parse(first)
        # Values of parameters the class does not take, for its output channels.
        for raw, py in sub_rename.items():
            if py not in subst:
                try:
                    subst[py] = E.parse(E.literal(inst.args[raw]))
                except ValueError:
                    pass
        ctor = Ctor("instance", cls.name, tuple(keys), slots, target=cls)
        out_c = self.G.nodes[inst.output]["shape"][0]
        out_text = None
        if cls.out_chan is not None:
            tree = E.substitute(E.parse(cls.out_chan), subst)
            out_text = self._check_chan(E.unparse(tree), env, out_c)
        return ctor, out_text

    def block_order(self) -> list[str]:
        """Block types, contained ones first (then in order of first use)."""
        contains: dict[str, set[str]] = {}
        first: dict[str, int] = {}
        for i, (path, inst) in enumerate(self.instances.items()):
            if path not in self.first:
                continue
            first.setdefault(inst.block, i)
            contains.setdefault(inst.block, set())
            if inst.scope:
                contains.setdefault(inst.scope[-1].block, set()).add(inst.block)
        height: dict[str, int] = {}

        def h(b: str) -> int:
            if b not in height:
                height[b] = 1 + max((h(c) for c in contains.get(b, ())), default=-1)
            return height[b]

        return sorted(first, key=lambda b: (h(b), first[b]))

    def instance_env(self, path: str, rename: dict) -> dict:
        inst = self.instances[path]
        env = {rename[k]: v for k, v in inst.args.items() if k in rename}
        env["in_channels"] = self.G.nodes[inst.inputs[0]]["shape"][0]
        return env

    def run(self, net_name: str):
        self.global_names = set(N.MODULE_NAMES) | set(self.blocks) | {net_name}
        for b in self.block_order():
            rename = self.rename_for(b)
            variants: list[ClassDef] = []
            for path, inst in self.instances.items():
                if inst.block != b or path not in self.first:
                    continue
                d = self.describe(path, b, self.instance_env(path, rename), rename)
                for cls in variants:
                    if self.try_add(cls, d):
                        break
                else:
                    cls = self.new_class(d)
                    cls.span = inst.span
                    variants.append(cls)
                self.class_of[path] = cls
            for cls in variants:
                self.finish_class(cls)
            self.classes.extend(variants)
            # Class names are needed by the parents' descriptions: name now.
            self._name_variants(b, variants)
        rename = self.rename_for(None)
        env = {rename[k]: v for k, v in self.G.graph["params"].items()}
        net = self.new_class(self.describe("", None, env, rename))
        self.finish_class(net)
        return net

    def _name_variants(self, block: str, variants: list[ClassDef]) -> None:
        taken = set(self.global_names) - {block}
        for params in self.renames.values():
            taken |= set(params.values())
        taken |= {c.name for c in self.classes if c.name}
        reserved = N.MODULE_NAMES | set(self.helpers_all())
        base = N.fresh(block, taken, reserved)
        for i, cls in enumerate(variants):
            name = base if i == 0 else N.fresh(f"{base}{i + 1}", taken, reserved)
            taken.add(name)
            cls.name = name
            self.global_names.add(name)

    @staticmethod
    def helpers_all() -> list[str]:
        return list(HELPERS)
