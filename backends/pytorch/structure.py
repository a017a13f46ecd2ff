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
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from netdsl.backends.pytorch import names as N
from netdsl.backends.pytorch import pyexpr as E

from netdsl.ir import Instance, inputs_of
from netdsl.ops import OPS
from netdsl.ops.base import TorchArg
from netdsl.ops.torch_helpers import compact
from netdsl.symbolic import render

DEFAULT = "<default>"  # slot spelling: leave the argument out, the default is right
IN = "<in>"  # ref: a block's input


class BackendBug(AssertionError):
    """The PyTorch backend could not produce correct code: a bug, not a user error."""


# --------------------------------------------------------------------------- data


@dataclass
class Slot:
    cands: tuple[str, ...]  # spellings, preferred first
    value: Any
    pair: bool = False  # a pair argument: 3 and (3, 3) mean the same
    default_ok: bool = False


@dataclass
class Ctor:
    kind: str  # "module" | "instance" | "group"
    name: str  # "nn.Conv2d", a block class name, or "" for a group
    keys: tuple  # module: keywords (None: positional); instance: parameters; group: member keys
    slots: list[Slot] = field(default_factory=list)
    members: list[Ctor] = field(default_factory=list)
    helpers: tuple[str, ...] = ()
    target: Any = None  # instance: the ClassDef called
    fold: tuple | None = None  # a convolution with a batch norm folded in: (its name, eps)

    def sig(self):
        if self.kind == "group":
            return ("group", self.keys, tuple(m.sig() for m in self.members))
        return (self.kind, self.name, self.keys, self.fold)

    def all_slots(self) -> list[Slot]:
        if self.kind == "group":
            return [s for m in self.members for s in m.all_slots()]
        return list(self.slots)


@dataclass
class Child:
    key: str
    kind: str  # "module" | "instance" | "group" | "merge"
    guard: tuple
    inputs: list[str]
    ctor: Ctor | None = None
    merge: str | None = None  # op name of a merge
    var: str | None = None  # .net variable name of its output
    out_node: str = ""


@dataclass
class Desc:
    """One container (block instance or the network) described on its own."""

    path: str
    block: str | None
    env: dict[str, Any]
    children: dict[str, Child]
    output: str | None  # ref of a block's output
    out_channels: Any = None
    out_chan: str | None = None  # a spelling of out_channels, if any
    inputs: list[str] = field(default_factory=list)  # refs of a network's inputs
    outputs: list[tuple] = field(default_factory=list)  # network: (name, ref, aux, weight)


@dataclass
class Param:
    raw: str  # .net name ("" for in_channels)
    py: str
    default: str | None = None  # Python default (source); None: required
    default_value: Any = None
    computed: str | None = None  # default computed from other parameters: source


@dataclass
class ClassDef:
    block: str | None  # None: the network
    members: list[Desc]
    order: list[str]
    sigs: dict[str, Any]
    kinds: dict[str, str]
    present: dict[str, set[int]]
    inputs: dict[str, list[str]]
    output: str | None
    choice: dict[str, list[str]]
    out_chan: str | None
    name: str = ""
    params: list[Param] = field(default_factory=list)
    conds: dict[str, str] = field(default_factory=dict)  # optional key -> condition
    span: Any = None

    @property
    def optional(self) -> list[str]:
        n = len(self.members)
        return [k for k in self.order if len(self.present[k]) < n]

    def child(self, key: str) -> Child:
        """The key's child as described for the first member that has it."""
        return self.members[min(self.present[key])].children[key]

    def var(self, key: str) -> str | None:
        for i in sorted(self.present[key]):
            v = self.members[i].children[key].var
            if v:
                return v
        return None


# ------------------------------------------------------------------ small helpers


def _valid(text: str, slot: Slot, env: dict) -> bool:
    if text == DEFAULT:
        return slot.default_ok
    return E.holds(text, env, slot.value, slot.pair)


def _conj(guard: tuple) -> str | None:
    parts = []
    for cond, taken in guard:
        if cond is None:
            return None
        parts.append(f"({cond})" if taken else f"not ({cond})")
    return " and ".join(parts)


def _resolve(ref: str, keys, inputs: dict[str, list[str]]) -> str:
    seen = 0
    while ref in inputs and ref not in keys:
        ref = inputs[ref][0]
        seen += 1
        if seen > len(inputs):
            raise BackendBug("cycle while bypassing optional layers")
    return ref


# ------------------------------------------------------------------------ builder


class Builder:
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
        op = OPS[self.G.nodes[path]["op"]]
        return "merge" if op.torch is None else "module"

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
            trees = [E.parse(t) for t in texts]
            total = trees[0]
            for t in trees[1:]:
                total = ast.BinOp(total, ast.Add(), t)
            return self._check_chan(E.unparse(total), env, c)
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
        tm = op.torch(args, in_shapes)
        sym = {}
        for name, s in raw_sym.items():
            t = E.normalise(s, rename)
            if t is not None and not E.is_constant(E.parse(t)):
                sym[name] = t
        targs = list(tm.args)
        tk = op.extra.get("torch_keywords", {})
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
            if not OPS[data["op"]].extra.get("aliases_input", False):
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

    # ---------------------------------------------------------------- classes
    def new_class(self, d: Desc) -> ClassDef:
        return ClassDef(
            block=d.block,
            members=[d],
            order=list(d.children),
            sigs={k: self._sig(c) for k, c in d.children.items()},
            kinds={k: c.kind for k, c in d.children.items()},
            present={k: {0} for k in d.children},
            inputs={k: list(c.inputs) for k, c in d.children.items()},
            output=d.output,
            choice={
                k: [s.cands[0] for s in c.ctor.all_slots()] if c.ctor else []
                for k, c in d.children.items()
            },
            out_chan=d.out_chan,
        )

    @staticmethod
    def _sig(c: Child):
        return (c.kind, c.merge, len(c.inputs), c.ctor.sig() if c.ctor else None)

    def try_add(self, cls: ClassDef, d: Desc) -> bool:
        keys_d = list(d.children)
        for k in keys_d:
            if k in cls.sigs and cls.sigs[k] != self._sig(d.children[k]):
                return False
        # Creation order: shared keys in the same order; new keys after their predecessor.
        order = list(cls.order)
        last = -1
        for k in keys_d:
            if k in order:
                i = order.index(k)
                if i < last:
                    return False
                last = i
            else:
                last += 1
                order.insert(last, k)
        idx = len(cls.members)
        members = cls.members + [d]
        present = {k: set(v) for k, v in cls.present.items()}
        for k in keys_d:
            present.setdefault(k, set()).add(idx)
        structural = len(order) != len(cls.order) or any(k not in d.children for k in order)
        inputs = {k: list(v) for k, v in cls.inputs.items()}
        for k in keys_d:
            inputs.setdefault(k, list(d.children[k].inputs))
        output = cls.output
        # Optional children: one guard, expressible, true exactly where present.
        conds = {}
        for k in order:
            if len(present[k]) == len(members):
                continue
            have = [members[i].children[k] for i in sorted(present[k])]
            g = have[0].guard
            if not g or any(c.guard != g for c in have):
                return False
            if have[0].kind == "merge" or len(have[0].inputs) != 1:
                return False
            cond = _conj(g)
            cond = E.normalise(cond, self.rename_for(cls.block)) if cond is not None else None
            if cond is None:
                return False
            for i, m in enumerate(members):
                if not E.holds(cond, m.env, i in present[k]):
                    return False
            conds[k] = cond

        # Dataflow: shared children agree once absent ones are bypassed.
        def agrees(m: Desc, inputs, output) -> bool:
            keys = m.children
            for k, c in keys.items():
                if [_resolve(r, keys, inputs) for r in inputs[k]] != c.inputs:
                    return False
            return m.output is None or _resolve(output, keys, inputs) == m.output

        if not agrees(d, inputs, output):
            # Try d's own wiring for the shared children (it may name a child others lack).
            alt = dict(inputs)
            for k in keys_d:
                alt[k] = list(d.children[k].inputs)
            alt_out = d.output if d.output is not None else output
            if not agrees(d, alt, alt_out):
                return False
            inputs, output, structural = alt, alt_out, True
        if structural and not all(agrees(m, inputs, output) for m in members):
            return False
        # Topological: every input comes before its reader.
        pos = {k: i for i, k in enumerate(order)}
        for k in order:
            for r in inputs[k]:
                if r in pos and pos[r] >= pos[k]:
                    return False
        # Arguments: one spelling for all members that have the child.
        choice = {k: list(v) for k, v in cls.choice.items()}
        for k in keys_d:
            slots_d = d.children[k].ctor.all_slots() if d.children[k].ctor else []
            if k not in choice:
                choice[k] = [s.cands[0] for s in slots_d]
                continue
            for i, s in enumerate(slots_d):
                if _valid(choice[k][i], s, d.env):
                    continue
                holders = [members[j] for j in sorted(present[k])]
                slot_lists = [(m, m.children[k].ctor.all_slots()[i]) for m in holders]
                cands = []
                for _, s2 in slot_lists:
                    for c in s2.cands:
                        if c not in cands:
                            cands.append(c)
                for c in cands:
                    if all(_valid(c, s2, m.env) for m, s2 in slot_lists):
                        choice[k][i] = c
                        break
                else:
                    return False
        out_chan = cls.out_chan
        if out_chan is not None and not E.holds(out_chan, d.env, d.out_channels):
            out_chan = None
            for m in members:
                t = m.out_chan
                if t is not None and all(E.holds(t, x.env, x.out_channels) for x in members):
                    out_chan = t
                    break
        cls.members = members
        cls.order = order
        for k in keys_d:
            cls.sigs.setdefault(k, self._sig(d.children[k]))
            cls.kinds.setdefault(k, d.children[k].kind)
        cls.present = present
        cls.inputs = inputs
        cls.output = output
        cls.choice = choice
        cls.out_chan = out_chan
        cls.conds = conds
        return True

    def finish_class(self, cls: ClassDef) -> None:
        """Decide the constructor's parameters: those the chosen spellings use."""
        used: set[str] = set()
        texts = [t for k in cls.order for t in cls.choice[k] if t != DEFAULT]
        texts += list(cls.conds.values())
        for t in texts:
            tree = E.parse(t)
            if tree is None:
                raise BackendBug(f"unparsable spelling {t!r}")
            used |= E.names(tree)
        params: list[Param] = []
        if cls.block is None:
            rename = self.rename_for(None)
            for raw, py in rename.items():
                if py in used:
                    value = self.G.graph["params"][raw]
                    if isinstance(value, list):
                        value = tuple(value)
                    params.append(Param(raw, py, E.literal(value), value))
            cls.params = params
            return
        block = self.blocks[cls.block]
        rename = self.rename_for(cls.block)
        py_of = {p.name: rename[p.name] for p in block.params}
        defaults: dict[str, tuple] = {}
        for p in block.params:
            if p.default is None:
                continue
            text = render(p.default, dict(py_of))
            tree = E.parse(text) if text is not None else None
            if tree is None:
                continue
            defaults[p.name] = (E.unparse(tree), tree)
        # A default computed from other parameters needs those too.
        changed = True
        while changed:
            changed = False
            for p in block.params:
                if py_of[p.name] in used and p.name in defaults:
                    extra = E.names(defaults[p.name][1]) - used
                    if extra:
                        used |= extra
                        changed = True
        required, optional = [], []
        for p in block.params:
            py = py_of[p.name]
            if py not in used:
                continue
            if p.name not in defaults:
                required.append(Param(p.name, py))
                continue
            text, tree = defaults[p.name]
            if E.is_constant(tree):
                value = E.evaluate(text, {})
                if isinstance(value, list):
                    value = tuple(value)
                    text = E.literal(value)
                optional.append(Param(p.name, py, text, value))
            else:
                optional.append(Param(p.name, py, "None", None, computed=text))
        head = [Param("", "in_channels")] if "in_channels" in used else []
        cls.params = head + required + optional

    # ------------------------------------------------------------------- run
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
        from netdsl.ops.torch_helpers import HELPERS

        return list(HELPERS)
