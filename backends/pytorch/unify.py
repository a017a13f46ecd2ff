"""Unifying the instances of a block type into as few classes as possible.

A mixin of structure.Builder; the rule it implements is described in
structure.py's docstring.
"""

from __future__ import annotations

from netdsl.backends.pytorch import pyexpr as E
from netdsl.backends.pytorch.classes import (
    DEFAULT,
    BackendBug,
    Child,
    ClassDef,
    Desc,
    Param,
    conjunction,
    resolve_ref,
    valid_spelling,
)

from netdsl.symbolic import render


class Unifier:
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
            cond = conjunction(g)
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
                if [resolve_ref(r, keys, inputs) for r in inputs[k]] != c.inputs:
                    return False
            return m.output is None or resolve_ref(output, keys, inputs) == m.output

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
                if valid_spelling(choice[k][i], s, d.env):
                    continue
                holders = [members[j] for j in sorted(present[k])]
                slot_lists = [(m, m.children[k].ctor.all_slots()[i]) for m in holders]
                cands = []
                for _, s2 in slot_lists:
                    for c in s2.cands:
                        if c not in cands:
                            cands.append(c)
                for c in cands:
                    if all(valid_spelling(c, s2, m.env) for m, s2 in slot_lists):
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
