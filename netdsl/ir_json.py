"""The IR as JSON and back, losslessly: what the JSON backend writes under "ir" and what
`netdsl compile model.json` reads (docs/ir.md).

The encoding is generic on purpose: every record the IR holds is a dataclass of the
netdsl package (netdsl.ir, netdsl.ast, netdsl.types, ...), so a record added to the IR
later travels without a change here. Plain JSON values stand for themselves; everything
JSON cannot say exactly is a one-key object whose key starts with "$":

  {"$t": [...]}                 a tuple
  {"$d": [[key, value], ...]}   a dict (keys of any type, insertion order kept)
  {"$f": "inf"}                 a float JSON has no literal for (inf, -inf, nan)
  {"$set": [...]}               a set or frozenset
  {"$type": [sizes, dims]}      a netdsl.types.TensorType
  {"$op": "name"}               an op of the registry (a layer-valued block argument
                                such as `gate=hardsigmoid` holds one), by name
  {"$r": "module.Class", "f": {field: value}}    a record (a dataclass of netdsl)
  {"$sources": [[file, text], ...]}   the source texts (for docstrings and diagnostics)

Decoding builds records only from dataclasses of the netdsl package, so a JSON file can
name no other class and runs no code of its own.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from typing import Any

import networkx as nx

from netdsl.ops import OPS
from netdsl.ops.base import OpDef
from netdsl.sources import Sources
from netdsl.types import TensorType

SCHEMA = "netdsl-ir"
SCHEMA_VERSION = 2


class DecodeError(ValueError):
    """The JSON does not hold an IR this netdsl can read; the message says why."""


def encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$f": repr(value)}
    if isinstance(value, TensorType):
        return {"$type": [list(value), list(value.dims)]}
    if isinstance(value, OpDef):  # code, not data: the registry has it by name
        return {"$op": value.name}
    if isinstance(value, tuple):
        return {"$t": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"$d": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((encode(v) for v in value), key=repr)}
    if isinstance(value, Sources):
        return {"$sources": [[f, value.text(f)] for f in value.files()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not cls.__module__.startswith("netdsl."):
            raise TypeError(f"the IR holds a {cls.__module__}.{cls.__qualname__}")
        return {
            "$r": f"{cls.__module__}.{cls.__qualname__}",
            "f": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    raise TypeError(f"the IR holds a {type(value).__name__}, which has no JSON form")


def encode_graph(G: nx.DiGraph) -> dict:
    """The whole IR: graph attributes, nodes in order with all their attributes, edges."""
    return {
        "graph": encode(dict(G.graph)),
        "nodes": [[node, encode(data)] for node, data in G.nodes(data=True)],
        "edges": [[u, v, encode(data)] for u, v, data in G.edges(data=True)],
    }


def _record_class(name: str) -> type:
    module, _, qualname = name.rpartition(".")
    if not module.startswith("netdsl.") or not qualname.isidentifier():
        raise DecodeError(f"unknown record type {name!r}")
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        raise DecodeError(f"unknown record type {name!r}") from None
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise DecodeError(f"{name!r} is not an IR record type")
    return cls


def decode(data: Any) -> Any:
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        raise DecodeError(f"unexpected JSON value {data!r}")
    if len(data) == 1:
        ((key, inner),) = data.items()
        if key == "$t":
            return tuple(decode(v) for v in _list(inner, key))
        if key == "$d":
            return {_hashable(decode(k)): decode(v) for k, v in _pairs(inner)}
        if key == "$f":
            if inner not in ("inf", "-inf", "nan"):
                raise DecodeError(f"bad float {inner!r}")
            return float(inner)
        if key == "$set":
            return {_hashable(decode(v)) for v in _list(inner, key)}
        if key == "$type":
            sizes, dims = _list(inner, key)
            return TensorType(tuple(sizes), tuple(dims))
        if key == "$op":
            if not isinstance(inner, str) or inner not in OPS:
                raise DecodeError(f"unknown op {inner!r}")
            return OPS[inner]
        if key == "$sources":
            sources = Sources()
            for file, text in _pairs(inner):
                if not (isinstance(file, str) and isinstance(text, str)):
                    raise DecodeError("$sources: expected [file, text] pairs of strings")
                sources.add(file, text)
            return sources
    if set(data) == {"$r", "f"}:
        cls = _record_class(data["$r"])
        fields = data["f"]
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(fields, dict) or set(fields) != names:
            raise DecodeError(f"a {data['$r']} record needs exactly the fields {sorted(names)}")
        # Set the fields as they were written, bypassing __init__/__post_init__: this
        # restores a record, it does not build a new one (frozen records included).
        record = cls.__new__(cls)
        for name, value in fields.items():
            object.__setattr__(record, name, decode(value))
        return record
    raise DecodeError(f"unexpected JSON object with keys {sorted(data)}")


def decode_graph(data: Any) -> nx.DiGraph:
    """The IR from what encode_graph wrote; DecodeError if it is not one."""
    if not isinstance(data, dict) or not {"graph", "nodes", "edges"} <= set(data):
        raise DecodeError("no IR in it (expected 'graph', 'nodes' and 'edges')")
    G = nx.DiGraph()
    graph = decode(data["graph"])
    if not isinstance(graph, dict):
        raise DecodeError("the graph's attributes are not an object")
    G.graph.update(graph)
    for item in _list(data["nodes"], "nodes"):
        node, attrs = _list(item, "node")
        G.add_node(node, **_attrs(decode(attrs)))
    for item in _list(data["edges"], "edges"):
        u, v, attrs = _list(item, "edge")
        if u not in G or v not in G:
            raise DecodeError(f"edge {u!r} -> {v!r} names a layer that does not exist")
        G.add_edge(u, v, **_attrs(decode(attrs)))
    return G


def _list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise DecodeError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def _pairs(value: Any) -> list:
    pairs = _list(value, "$d")
    if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise DecodeError("$d: expected [key, value] pairs")
    return pairs


def _hashable(key: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        raise DecodeError(f"{key!r} cannot be a key") from None
    return key


def _attrs(value: Any) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise DecodeError("attributes must be an object with string keys")
    return value


def read_ir(path: str, max_bytes: int, given: list[str]) -> nx.DiGraph:
    """The IR in a JSON file the JSON backend wrote; NetdslError (E510) when it is not
    one, or when `given` names options that only apply to .net sources."""
    import json

    from netdsl.diagnostics import Diagnostic, NetdslError, Span
    from netdsl.loader import read_text

    sources = Sources()
    text = read_text(path, None, sources, max_bytes=max_bytes)
    sources.add(path, text)

    def fail(message: str, line: int = 1, col: int = 1, hint: str | None = None):
        exc = NetdslError(Diagnostic("E510", message, Span(path, line, col, line, col + 1), hint))
        exc.sources = sources
        return exc

    if given:
        raise fail(
            f"{', '.join(given)} cannot change an IR that is already elaborated",
            hint="give them when compiling the .net file to JSON",
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:
        raise fail("the JSON is nested too deeply") from None
    wrote = "the JSON backend writes it: netdsl compile model.net -o model.json"
    # The summary's graph attributes (networkx node-link form) say what the file is.
    head = data.get("graph") if isinstance(data, dict) else None
    if not isinstance(head, dict) or head.get("format") != SCHEMA:
        raise fail(f'not a netdsl IR file (no "format": "{SCHEMA}")', hint=wrote)
    version = head.get("version")
    if version != SCHEMA_VERSION:
        raise fail(
            f"IR schema version {version!r} is not the version {SCHEMA_VERSION} this netdsl reads",
            hint="compile the .net file again with this netdsl",
        )
    if "ir" not in data:
        raise fail('the file has no "ir" member', hint=wrote)
    try:
        G = decode_graph(data["ir"])
    except DecodeError as exc:
        raise fail(f"malformed IR: {exc}", hint=wrote) from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise fail(f"malformed IR: {exc}", hint=wrote) from None
    # A file may have been edited by hand: what reaches the backends is a valid IR, whose
    # every type follows again from its op, arguments and inputs.
    from netdsl.ir import IRError, lint

    try:
        lint(G)
    except IRError as exc:
        raise fail(f"inconsistent IR: {exc}", hint=wrote) from None
    except Exception as exc:  # a hand-edited value of the wrong kind anywhere in the graph
        raise fail(f"inconsistent IR: {type(exc).__name__}: {exc}", hint=wrote) from None
    return G
