"""Which network parameters the generated constructor may offer (issue 11, item 2).

The spellings of a class are chosen so that they reproduce the compiled instance; a
spelling that holds for that instance can still be a literal that silently depends on a
network parameter (`nn.Linear(8192, classes)` where 8192 came from `width`). So a
parameter the network class would take is *probed*: the network is elaborated again
with that parameter changed (what `netdsl compile -D name=value` does), its classes are
built, and the classes of the compiled network, instantiated abstractly with the new
value, must construct exactly the same modules with the same arguments, wiring and
inputs. A parameter that fails (or whose change cannot be elaborated at all) fixes
structure the code cannot recompute: it is not offered, and the docstring lists it as
fixed at compile time.

The probe reads only the IR (the sources and block types it carries), so a network
compiled from its JSON IR gets the same answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx
from netdsl.backends.pytorch import pyexpr as E
from netdsl.backends.pytorch.classes import DEFAULT, BackendBug, ClassDef, Ctor, resolve_ref

from netdsl.diagnostics import NetdslError

PLAIN = (bool, int, float, str, tuple, type(None))


def _plain(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return isinstance(value, PLAIN)


def perturbations(value: Any) -> list[Any]:
    """Other values to try for a parameter, most telling first."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        out = [2 * value if value else 1, value + 1, value - 1]
        return [v for v in dict.fromkeys(out) if v != value and v > 0]
    if isinstance(value, float):
        if 0.0 < value <= 1.0:
            return [value / 2, (value + 1.0) / 2]
        return [2 * value if value else 0.5, value + 1.0]
    if (
        isinstance(value, (tuple, list))
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return [type(value)(2 * v for v in value)]
    return []  # strings, layers, None: nothing to try, so nothing proved


def _reload(G: nx.DiGraph, source: str, defines: dict, inputs: dict | None) -> nx.DiGraph:
    from netdsl.elaborate import elaborate
    from netdsl.loader import Program
    from netdsl.parser import parse
    from netdsl.passes import run_passes

    sources = G.graph.get("sources")
    text = sources.text(source) if sources is not None else None
    if text is None:
        raise LookupError(source)
    root = parse(text, source)
    program = Program(root, [root], sources)
    program.blocks.update(G.graph.get("blocks", {}))
    G2 = elaborate(program, G.graph["name"], defines, inputs)
    G2.graph["sources"] = sources
    return run_passes(G2, lint_between=False)


def _input_shapes(G: nx.DiGraph) -> dict[str, tuple]:
    return {name: tuple(G.nodes[node]["shape"]) for name, node in G.graph["inputs"].items()}


class Prober:
    def __init__(self, G: nx.DiGraph, source: str, fold_bn: bool):
        self.G = G
        self.source = source
        self.fold_bn = fold_bn
        self.defines = {k: v for k, v in G.graph["params"].items() if _plain(v)}
        self._overrides: dict | None = None

    def overrides(self) -> dict:
        """The --input overrides the compiled network had: inputs whose shape differs
        from what the source gives with the same parameters."""
        if self._overrides is None:
            base = _reload(self.G, self.source, self.defines, None)
            want = _input_shapes(self.G)
            self._overrides = {k: v for k, v in _input_shapes(base).items() if want.get(k) != v}
        return self._overrides

    def changed(self, name: str, value: Any) -> nx.DiGraph:
        defines = dict(self.defines, **{name: value})
        G2 = _reload(self.G, self.source, defines, None)
        if _input_shapes(G2) != _input_shapes(self.G) and self.overrides():
            G2 = _reload(self.G, self.source, defines, self.overrides())
        return G2


def unhonoured(
    G: nx.DiGraph, source: str, net: ClassDef, rename: dict[str, str], fold_bn: bool
) -> set[str]:
    """The .net names of the parameters `net` takes that a changed value breaks."""
    from netdsl.backends.pytorch.structure import Builder

    prober = Prober(G, source, fold_bn)
    env = {rename[k]: v for k, v in G.graph["params"].items() if k in rename}
    bad = set()
    for p in net.params:
        ok = False
        for value in perturbations(G.graph["params"][p.raw]):
            try:
                G2 = prober.changed(p.raw, value)
                builder = Builder(G2, fold_bn=fold_bn)
                net2 = builder.run(G2.graph["name"])
                rename2 = builder.rename_for(None)
                env2 = {rename2[k]: v for k, v in G2.graph["params"].items() if k in rename2}
                want = list(instantiate(net2, env2)) + [_input_shapes(G2)]
            except (NetdslError, RecursionError, MemoryError, LookupError, BackendBug):
                continue  # not a valid value (or not buildable): try the next
            got = list(instantiate(net, dict(env, **{p.py: value}))) + [_input_shapes(G)]
            ok = got == want
            break
        if not ok:
            bad.add(p.raw)
    return bad


def freeze(net: ClassDef, frozen_py: set[str]) -> None:
    """Spell every argument of the network class that uses a frozen parameter as its
    compiled value (the network class has one member, whose env holds the values)."""
    env = net.members[0].env
    for k in net.order:
        texts = net.choice[k]
        for i, t in enumerate(texts):
            if t == DEFAULT or not (E.names(E.parse(t)) & frozen_py):
                continue
            value = E.evaluate(t, env)
            texts[i] = E.literal(value)


# ------------------------------------------------------- abstract instantiation


def _norm(value: Any) -> Any:
    """3 and (3, 3) build the same module."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, tuple):
        value = tuple(_norm(v) for v in value)
        if len(value) == 2 and value[0] == value[1]:
            return value[0]
    return value


def instantiate(cls: ClassDef, env: dict, path: str = "") -> Iterator[tuple]:
    """What constructing `cls` with `env` builds: one record per module, block instance
    and container wiring, with every argument's value (the code's behaviour, abstractly)."""
    present = []
    for k in cls.order:
        if k in cls.conds and not E.evaluate(cls.conds[k], env):
            continue
        present.append(k)
        if cls.kinds[k] == "merge":
            yield (path + k, "merge", cls.child(k).merge)
            continue
        values = iter(
            [DEFAULT if t == DEFAULT else _norm(E.evaluate(t, env)) for t in cls.choice[k]]
        )
        yield from _ctor(cls.child(k).ctor, values, path + k)
    wiring = tuple(
        (k, tuple(resolve_ref(r, present, cls.inputs) for r in cls.inputs[k])) for k in present
    )
    out = resolve_ref(cls.output, present, cls.inputs) if cls.output is not None else None
    yield (path, "wiring", wiring, out)


def _ctor(ctor: Ctor, values: Iterator, path: str) -> Iterator[tuple]:
    if ctor.kind == "group":
        for key, m in zip(ctor.keys, ctor.members):
            yield from _ctor(m, values, f"{path}.{key}")
        return
    if ctor.kind == "module":
        yield (path, ctor.name, ctor.keys, tuple(next(values) for _ in ctor.keys), ctor.fold)
        return
    target: ClassDef = ctor.target
    env: dict[str, Any] = {}
    computed = []
    for p, key in zip(target.params, ctor.keys):
        v = next(values)
        if v != DEFAULT:
            env[key] = v
        elif p.computed is not None:
            computed.append(p)
        else:
            env[key] = p.default_value
    for p in computed:
        env[p.py] = E.evaluate(p.computed, env)
    yield (path, "instance", target.block)
    yield from instantiate(target, env, path + ".")
