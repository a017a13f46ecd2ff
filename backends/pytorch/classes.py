"""The class model of the PyTorch backend: what a container is described as
(slots, constructor calls, children, dataflow) and what a generated class is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netdsl.backends.pytorch import pyexpr as E

DEFAULT = "<default>"  # slot spelling: leave the argument out, the default is right
IN = "<in>"  # ref: a block's input


class BackendBug(AssertionError):
    """The PyTorch backend could not produce correct code: a bug, not a user error."""


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


def valid_spelling(text: str, slot: Slot, env: dict) -> bool:
    if text == DEFAULT:
        return slot.default_ok
    return E.holds(text, env, slot.value, slot.pair)


def conjunction(guard: tuple) -> str | None:
    parts = []
    for cond, taken in guard:
        if cond is None:
            return None
        parts.append(f"({cond})" if taken else f"not ({cond})")
    return " and ".join(parts)


def resolve_ref(ref: str, keys, inputs: dict[str, list[str]]) -> str:
    seen = 0
    while ref in inputs and ref not in keys:
        ref = inputs[ref][0]
        seen += 1
        if seen > len(inputs):
            raise BackendBug("cycle while bypassing optional layers")
    return ref
