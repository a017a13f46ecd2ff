"""Static analysis: per-layer costs, receptive fields, memory and totals.

Conventions (docs/statistics.md): MACs are the multiply-accumulates of conv
and linear layers, bias excluded; FLOPs = 2 x MACs; memory is fp32 and
MB = 10^6 bytes; activations count every tensor a forward pass materialises
(the inputs and every layer output, except layers that alias their input:
in-place ReLU, dropout, flatten).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from netdsl.ir import in_shapes, inputs_of, training_only
from netdsl.ops import OPS
from netdsl.ops.base import Cost, numel
from netdsl.passes import annotation

BYTES = 4  # fp32
MB = 1e6


@dataclass(frozen=True)
class RF:
    """Receptive field of one output position: size and jump (stride in input pixels)."""

    size: tuple[int, int] | None  # None: the whole input ("global")
    jump: tuple[int, int]

    def __str__(self) -> str:
        if self.size is None:
            return "global"
        h, w = self.size
        return f"{h}" if h == w else f"{h}x{w}"


_UNIT = RF((1, 1), (1, 1))


def receptive_fields(G: nx.DiGraph) -> dict[str, RF]:
    """RF of every node; through branches, the largest over all paths."""
    out: dict[str, RF] = {}
    for node in nx.topological_sort(G):
        data = G.nodes[node]
        if data["op"] == "input":
            out[node] = _UNIT
            continue
        preds = [out[p] for p in inputs_of(G, node)]
        if any(p.size is None for p in preds):
            out[node] = RF(None, (1, 1))
            continue
        size = tuple(max(p.size[i] for p in preds) for i in (0, 1))
        jump = tuple(max(p.jump[i] for p in preds) for i in (0, 1))
        effect = OPS[data["op"]].rf(data["args"], in_shapes(G, node))
        if effect == "global":
            out[node] = RF(None, jump)
        elif effect is None:
            out[node] = RF(size, jump)
        else:
            (kh, sh), (kw, sw) = effect
            out[node] = RF(
                (size[0] + (kh - 1) * jump[0], size[1] + (kw - 1) * jump[1]),
                (jump[0] * sh, jump[1] * sw),
            )
    return out


def costs(G: nx.DiGraph) -> dict[str, Cost]:
    result = {}
    for node, data in G.nodes(data=True):
        if data["op"] == "input":
            result[node] = Cost()
        else:
            result[node] = OPS[data["op"]].cost(data["args"], in_shapes(G, node), data["shape"])
    return result


def _aliases(op: str) -> bool:
    return op != "input" and OPS[op].aliases_input


def analyse(G: nx.DiGraph) -> dict:
    """The whole report as plain data (the `--format json` object)."""
    cost = annotation(G, "cost")
    rfs = annotation(G, "rf")
    layers = []
    for node, data in G.nodes(data=True):
        if data["op"] == "input":
            continue
        c = cost[node]
        rf = rfs[node]
        args = data["args"]
        layers.append(
            {
                "name": node,
                "op": data["op"],
                "input_shapes": [list(s) for s in in_shapes(G, node)],
                "output_shape": list(data["shape"]),
                "kernel": _pair(args.get("kernel")),
                # pooling's stride defaults to its kernel
                "stride": _pair(
                    args.get("stride") or args.get("kernel") if "stride" in args else None
                ),
                "pad": args.get("pad") if args.get("pad") == "same" else _pair(args.get("pad")),
                "filters": args.get("filters", args.get("features")),
                "params": c.params,
                "buffers": c.buffers,
                "macs": c.macs,
                "connections": c.connections,
                "memory_bytes": numel(data["shape"]) * BYTES,
                "receptive_field": list(rf.size) if rf.size is not None else None,
                "rf_jump": list(rf.jump),
                "scope": [s.path for s in data["scope"]],
                "line": data["span"].line if data["span"] else None,
            }
        )
    params = sum(c.params for c in cost.values())
    buffers = sum(c.buffers for c in cost.values())
    # MACs are those of the eval forward, the figure torchvision publishes and
    # FlopCounterMode measures; training-only heads add to train_macs alone.
    train_macs = sum(c.macs for c in cost.values())
    heads = training_only(G)
    macs = train_macs - sum(c.macs for n, c in cost.items() if n in heads)
    input_elems = sum(numel(G.nodes[n]["shape"]) for n in G.graph["inputs"].values())
    activations = input_elems + sum(
        numel(d["shape"])
        for n, d in G.nodes(data=True)
        if d["op"] != "input" and not _aliases(d["op"])
    )
    # As torchinfo (1.8) counts it: the output of every leaf layer that has parameters,
    # twice (forward + gradients); parameter-free layers (ReLU, pooling, dropout) and
    # merges (concat, add: functions, not modules) are not counted. docs/benchmarks.md.
    outputs_elems = sum(numel(G.nodes[n]["shape"]) for n, c in cost.items() if c.params > 0)
    fwd_bwd = 2 * outputs_elems * BYTES / MB
    input_mb = input_elems * BYTES / MB
    params_mb = params * BYTES / MB
    return {
        "network": G.graph["name"],
        "params_used": {k: v for k, v in G.graph["params"].items()},
        "inputs": {k: list(G.nodes[n]["shape"]) for k, n in G.graph["inputs"].items()},
        "outputs": {o["name"]: list(G.nodes[o["node"]]["shape"]) for o in G.graph["outputs"]},
        "aux_outputs": {o["name"]: o["weight"] for o in G.graph["outputs"] if o["aux"]},
        "totals": {
            "layers": len(layers),
            "params": params,
            "trainable_params": params,
            "non_trainable_params": 0,
            "buffers": buffers,
            "macs": macs,
            "flops": 2 * macs,
            "train_macs": train_macs,
            "activations": activations,
            "input_size_mb": round(input_mb, 2),
            "forward_backward_pass_size_mb": round(fwd_bwd, 2),
            "params_size_mb": round(params_mb, 2),
            "estimated_total_size_mb": round(input_mb + fwd_bwd + params_mb, 2),
        },
        "layers": layers,
    }


def _pair(v):
    if v is None:
        return None
    if isinstance(v, tuple):
        return list(v)
    return [v, v]
