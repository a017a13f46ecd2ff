"""The few facts about an IR node the language server shows, read in one place.

The IR's node records are being reshaped (named-dimension types, frozen Layer records);
when they change, this module is the one to follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netdsl.ir import inputs_of


@dataclass(frozen=True)
class LayerView:
    op: str
    args: dict
    shape: Any
    span: Any
    scope: tuple
    var: dict | None


def _get(data, key, default=None):
    if isinstance(data, dict):
        if key in data:
            return data[key]
        record = data.get("layer")
        if record is not None:
            return getattr(record, key, default)
        return default
    return getattr(data, key, default)


def layer(G, node: str) -> LayerView:
    d = G.nodes[node]
    out = _get(d, "shape")
    if out is None:
        out = _get(d, "out")
    return LayerView(
        op=_get(d, "op", "?"),
        args=dict(_get(d, "args", {}) or {}),
        shape=out,
        span=_get(d, "span"),
        scope=tuple(_get(d, "scope", ()) or ()),
        var=_get(d, "var") or (_get(d, "meta") or {}).get("var"),
    )


def in_types(G, node: str) -> list:
    return [layer(G, p).shape for p in inputs_of(G, node)]


def shape_text(shape) -> str:
    """3x224x224, as the CLI prints shapes (named types print themselves)."""
    if isinstance(shape, tuple) and all(isinstance(d, int) for d in shape):
        return "x".join(map(str, shape))
    return str(shape)
