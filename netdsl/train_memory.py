"""Training memory: what one training step keeps alive, from the IR alone (no torch).

Four parts (docs/statistics.md, "Training memory"):

  activations  the tensors autograd saves during the forward pass for the backward
               pass, each storage counted once (a view or an in-place result shares
               its input's storage), including the network inputs when a layer saves
               them, plus small extras (max-pool indices, batch-norm statistics,
               dropout's noise); parameters that autograd saves are not activations
  params       parameters and buffers, fp32 (the master copy, also under bf16)
  grads        one fp32 gradient per parameter
  optimizer    SGD with momentum: one buffer per parameter; Adam: two

  peak = activations + params + grads + optimizer: the moment after the forward pass
  of a step that follows an earlier one (optimiser state and gradients exist). It is
  an upper bound on what the step holds: backward frees activations as it fills
  gradients. Allocator rounding, convolution workspaces and the loss are left out.

What each op saves is one row of SAVES, keyed by op name, as PyTorch's autograd does
on the CPU (torch 2.x derivatives.yaml); a new op adds one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx

from netdsl.ir import in_shapes, inputs_of
from netdsl.ops.base import numel
from netdsl.stats import costs

DTYPE_BYTES = {"fp32": 4, "bf16": 2}
OPTIMIZER_STATES = {"sgd": 1, "adam": 2}  # fp32 buffers per parameter (momentum; m and v)
INDEX_BYTES = 8  # int64 indices (max pooling, advanced indexing)
STAT_BYTES = 4  # batch-norm mean and inverse std stay fp32


@dataclass(frozen=True)
class Saved:
    """One tensor an op saves for backward.

    what: "input" (its input `index`), "output", or "new" (a tensor of its own:
    `elements` elements per sample, or in all when not `per_sample`, of `dtype`:
    "act" is the activation dtype (bf16 under autocast), "in" that of the op's input,
    "i64" and "f32" are fixed).
    """

    what: str
    index: int = 0
    elements: int = 0
    per_sample: bool = True
    dtype: str = "act"


def _inp(k: int = 0) -> Saved:
    return Saved("input", k)


def _out() -> Saved:
    return Saved("output")


def _new(elements: int, per_sample: bool = True, dtype: str = "act") -> Saved:
    return Saved("new", elements=elements, per_sample=per_sample, dtype=dtype)


def _conv(args: dict, ins: list, out: tuple) -> list[Saved]:
    table = args.get("table")
    if table is None:
        return [_inp()]  # and the weight (a parameter)
    # A connection-table conv gathers each output map's input maps (x[:, entry]) and
    # convolves the copy: the copies and the int64 index lists are saved.
    _, h, w = ins[0]
    maps = sum(len(entry) for entry in table)
    return [_new(maps * h * w), _new(maps, per_sample=False, dtype="i64")]


def _lrn(args: dict, ins: list, out: tuple) -> list[Saved]:
    # nn.LocalResponseNorm is composite: x*x, pad over channels, avg_pool3d (saves the
    # padded squares), .mul.add.pow (saves its base and result), x / div (saves both).
    c, h, w = ins[0]
    size = args["size"]
    f32 = "f32"  # fp32 under autocast as well
    return [
        _inp(),
        _new((c + size - 1) * h * w, dtype=f32),
        _new(numel(out), dtype=f32),
        _new(numel(out), dtype=f32),
    ]


def _dropout(args: dict, ins: list, out: tuple) -> list[Saved]:
    if args["p"] == 0:
        return []
    if args["p"] == 1:
        return [_new(1, per_sample=False)]  # a zero scalar
    # On the CPU the noise (input dtype) is saved; CUDA's fused kernel saves a bool mask.
    return [_new(numel(out), dtype="in")]


def _stochastic_depth(args: dict, ins: list, out: tuple) -> list[Saved]:
    if args["p"] == 0:
        return []
    return [_new(1, per_sample=args["mode"] == "row", dtype="in")]


def _adaptive_avg(args: dict, ins: list, out: tuple) -> list[Saved]:
    # A 1x1 output is computed as a mean, which saves nothing.
    return [] if tuple(out[1:]) == (1, 1) else [_inp()]


Rule = Callable[[dict, list, tuple], list[Saved]]

# op name -> what its autograd saves (parameters it saves are not listed).
SAVES: dict[str, Rule] = {
    "conv": _conv,
    "linear": lambda a, i, o: [_inp()],
    "relu": lambda a, i, o: [_out()],
    # Each saves its input, and autograd keeps it apart from the output even where the
    # module runs in place (measured: tests/test_train_memory.py), unlike relu.
    "relu6": lambda a, i, o: [_inp()],
    "silu": lambda a, i, o: [_inp()],
    "hardswish": lambda a, i, o: [_inp()],
    "hardsigmoid": lambda a, i, o: [_inp()],
    "gelu": lambda a, i, o: [_inp()],
    "tanh": lambda a, i, o: [_out()],
    "sigmoid": lambda a, i, o: [_out()],
    "softmax": lambda a, i, o: [_out()],
    "leaky_relu": lambda a, i, o: [_inp()],
    "batchnorm": lambda a, i, o: [_inp(), _new(2 * i[0][0], per_sample=False, dtype="f32")],
    "lrn": _lrn,
    "maxpool": lambda a, i, o: [_inp(), _new(numel(o), dtype="i64")],
    "global_maxpool": lambda a, i, o: [_inp(), _new(o[0], dtype="i64")],
    "avgpool": lambda a, i, o: [_inp()],
    "adaptive_avgpool": _adaptive_avg,
    "global_avgpool": lambda a, i, o: [],
    # Subsample2d: avg_pool2d (saves its input), then * weight (saves the pooled maps).
    "subsample": lambda a, i, o: [_inp(), _new(numel(o), dtype="in")],
    "dropout": _dropout,
    "flatten": lambda a, i, o: [],
    "concat": lambda a, i, o: [],
    "add": lambda a, i, o: [],
    # Each factor's gradient needs the other factors: all inputs are saved.
    "mul": lambda a, i, o: [_inp(k) for k in range(len(i))],
    # torchvision.ops.stochastic_depth: input * noise saves the noise (one value per
    # sample in "row" mode, one in all in "batch" mode); p = 0 returns the input.
    "stochastic_depth": _stochastic_depth,
}

# Buffers that are int64 (8 bytes, not 4): batch norm's num_batches_tracked.
INT64_BUFFERS = {"batchnorm": 1}

# Under autocast these ops run on a bf16 copy of their weight, saved for backward.
CAST_WEIGHTS = {"conv", "linear"}
# Ops whose result is fp32 under CPU bf16 autocast: LRN's avg_pool3d runs in fp32, and
# Subsample2d multiplies by its fp32 weight (type promotion).
AUTOCAST_F32 = {"lrn", "subsample"}

# Ops whose output shares its input's storage: views, and in-place ops (ReLU is
# generated in place where its input has no other consumer, docs/ops.md).
VIEWS = {"flatten"}
IN_PLACE = {"relu"}


def _node(G: nx.DiGraph, node: str) -> tuple[str, dict, tuple, list, list]:
    """The one place this module reads the IR: op, args, shape, inputs, input shapes."""
    data = G.nodes[node]
    return (
        data["op"],
        data.get("args", {}),
        tuple(data["shape"]),
        inputs_of(G, node),
        in_shapes(G, node),
    )


def _storage(G: nx.DiGraph, order: list[str]) -> dict[str, str]:
    """Each node's storage: the node whose output buffer its output lives in."""
    root: dict[str, str] = {}
    for node in order:
        op, args, _, preds, _ = _node(G, node)
        alias = op in VIEWS or (op in ("dropout", "stochastic_depth") and args.get("p") == 0)
        if op in IN_PLACE and len(preds) == 1:
            alias = G.out_degree(preds[0]) == 1 and _node(G, preds[0])[0] != "input"
        root[node] = root[preds[0]] if alias and preds else node
    return root


def _dtypes(G: nx.DiGraph, order: list[str]) -> dict[str, str]:
    """Each node's output dtype under autocast: "act" (bf16) or "f32"."""
    out: dict[str, str] = {}
    for node in order:
        op, _, _, preds, _ = _node(G, node)
        if op == "input":
            out[node] = "f32"  # the batch arrives in fp32; autocast casts copies
        elif op in CAST_WEIGHTS:
            out[node] = "act"
        elif op in AUTOCAST_F32:
            out[node] = "f32"
        else:
            out[node] = "f32" if any(out[p] == "f32" for p in preds) else "act"
    return out


def estimate(G: nx.DiGraph, batch: int = 1, dtype: str = "fp32", optimizer: str = "sgd") -> dict:
    """Bytes per layer and in total: {"layers": {node: {...}}, "totals": {...}}."""
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPE_BYTES)}")
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZER_STATES)}")
    act = DTYPE_BYTES[dtype]
    order = list(nx.topological_sort(G))
    root = _storage(G, order)
    # fp32 is uniform; under bf16 autocast, track which tensors stay fp32.
    kind = _dtypes(G, order) if dtype != "fp32" else dict.fromkeys(order, "act")
    size = {"act": act, "f32": 4, "i64": INDEX_BYTES}
    cost = costs(G)
    seen: set[str] = set()
    layers: dict[str, dict] = {}
    for node in order:
        op, args, shape, preds, shapes = _node(G, node)
        if op == "input":
            continue
        saved = 0
        for s in SAVES[op](args, shapes, shape):
            if s.what == "new":
                n = s.elements * (batch if s.per_sample else 1)
                saved += n * size[kind[preds[0]] if s.dtype == "in" else s.dtype]
                continue
            tensor = node if s.what == "output" else preds[s.index]
            if op in CAST_WEIGHTS and kind[tensor] == "f32":
                saved += numel(shapes[s.index]) * batch * act  # the cast copy, not shared
                continue
            owner = root[tensor]
            if owner not in seen:  # a storage saved by several layers is counted once
                seen.add(owner)
                saved += numel(_node(G, owner)[2]) * batch * size[kind[tensor]]
        c = cost[node]
        if dtype != "fp32" and op in CAST_WEIGHTS:
            # autocast saves the low-precision copy of the weight it multiplies with
            bias = args.get("filters", args.get("features", 0)) if args.get("bias") else 0
            saved += (c.params - bias) * act
        layers[node] = {
            "activations": saved,
            "params": (c.params + c.buffers) * 4 + INT64_BUFFERS.get(op, 0) * 4,
            "grads": c.params * 4,
            "optimizer": c.params * 4 * OPTIMIZER_STATES[optimizer],
        }
    keys = ("activations", "params", "grads", "optimizer")
    totals = {k: sum(v[k] for v in layers.values()) for k in keys}
    totals["peak"] = sum(totals.values())
    return {
        "batch": batch,
        "dtype": dtype,
        "optimizer": optimizer,
        "layers": layers,
        "totals": totals,
    }


def missing_rules() -> list[str]:
    """Registered ops without a SAVES row (a test keeps this empty)."""
    from netdsl.ops import OPS

    return sorted(set(OPS) - set(SAVES))


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def as_text(est: dict) -> str:
    """The per-layer table and totals, for `netdsl stats --train`."""
    rows = [(name, v) for name, v in est["layers"].items() if any(v.values())]
    width = max([len(n) for n, _ in rows] + [5])
    keys = ("activations", "params", "grads", "optimizer")
    head = f"{'layer':<{width}}  " + "  ".join(f"{k:>14}" for k in keys)
    lines = [
        f"training memory: batch {est['batch']}, {est['dtype']}, {est['optimizer']}",
        head,
        "-" * len(head),
    ]
    for name, v in rows:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{_mib(v[k]):>14}" for k in keys))
    t = est["totals"]
    lines.append("-" * len(head))
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{_mib(t[k]):>14}" for k in keys))
    lines.append(f"estimated peak: {_mib(t['peak'])} ({t['peak']:,} bytes)")
    return "\n".join(lines) + "\n"


def attach(report: dict, est: dict) -> None:
    """Put the estimate into a stats report: totals.train_memory and each layer's."""
    settings = {k: est[k] for k in ("batch", "dtype", "optimizer")}
    report["totals"]["train_memory"] = dict(est["totals"], settings=settings)
    for layer in report["layers"]:
        if layer["name"] in est["layers"]:
            layer["train_memory"] = est["layers"][layer["name"]]
