"""Writing the ONNX model: graph inputs and outputs, one group of nodes per layer
(from the spelling table), initializers named as the PyTorch state_dict, types,
and metadata. The result is checked by onnx's checker before it is returned.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import onnx
from netdsl.backends.onnx import BATCH_DIM, DEFAULT_OPSET, graph, weights
from netdsl.backends.onnx.graph import Layer, Network
from netdsl.backends.onnx.spelling import SPELLINGS, UNSUPPORTED
from onnx import TensorProto, helper

import netdsl
from netdsl.diagnostics import Diagnostic, NetdslError

MIN_OPSET = 13  # Softmax over one axis, Unsqueeze/Squeeze axes as inputs
MAX_BYTES = 2**31 - 2**24  # protobuf's 2 GiB limit, less room for the graph itself


def max_opset() -> int:
    return onnx.defs.onnx_opset_version()


class Emitter:
    """What a spelling's emit function writes through: nodes, constants, weights."""

    def __init__(self, net: Network, values: dict[str, str], opset: int = DEFAULT_OPSET):
        self.net = net
        self.opset = opset  # spellings fall back to older operators below their opset
        self.values = values  # layer -> ONNX value name
        self.nodes: list[onnx.NodeProto] = []
        self.used: list[str] = []  # state_dict keys the graph reads, first use first
        self._used: set[str] = set()

    # values
    def out(self, layer: Layer) -> str:
        return self.values[layer.name]

    def input(self, layer: Layer, port: int = 0) -> str:
        return self.values[layer.inputs[port]]

    def inputs(self, layer: Layer) -> list[str]:
        return [self.values[p] for p in layer.inputs]

    def tmp(self, layer: Layer, what: str) -> str:
        """An intermediate value of a layer written as several nodes."""
        return f"{layer.name}/{what}"

    def weight(self, layer: Layer, tensor: str) -> str:
        key = graph.state_key(layer.name, tensor)
        if key not in self._used:
            self._used.add(key)
            self.used.append(key)
        return key

    # nodes
    def node(self, op_type: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output

    def _const(self, name: str, tensor: onnx.TensorProto) -> str:
        self.nodes.append(helper.make_node("Constant", [], [name], name=name, value=tensor))
        return name

    def ints(self, layer: Layer, what: str, values: list[int]) -> str:
        name = self.tmp(layer, what)
        return self._const(name, helper.make_tensor(name, TensorProto.INT64, [len(values)], values))

    def floats(self, layer: Layer, what: str, values: list[float], shape: tuple) -> str:
        name = self.tmp(layer, what)
        return self._const(name, helper.make_tensor(name, TensorProto.FLOAT, list(shape), values))

    def per_channel(self, layer: Layer, value: str, rank: int) -> str:
        """A [C] tensor reshaped to [C, 1, ...] so it broadcasts over a rank-`rank` layer."""
        what = value.rsplit(".", 1)[-1]
        shape = self.ints(layer, f"{what}_shape", [-1] + [1] * (rank - 1))
        return self.node("Reshape", [value, shape], self.tmp(layer, f"{what}_per_channel"))


def unsupported(net: Network) -> list[Diagnostic]:
    out = []
    for layer in net.layers.values():
        if layer.op == "input" or layer.op in SPELLINGS:
            continue
        why = UNSUPPORTED.get(layer.op, "it has no ONNX spelling")
        inside = f" in block instance '{layer.scope[-1]}'" if layer.scope else ""
        out.append(
            Diagnostic(
                "E822",
                f"the onnx backend cannot write op '{layer.op}' (layer '{layer.name}'{inside}): "
                f"{why}",
                layer.span,
                hint="compile to PyTorch (-o model.py) and export that, or use another op",
            )
        )
    return out


def _tensor_type(shape: tuple[int, ...]) -> onnx.TypeProto:
    return helper.make_tensor_type_proto(TensorProto.FLOAT, [BATCH_DIM, *shape])


def build(net: Network, opset: int, tensors: dict[str, np.ndarray], provenance: str):
    values = graph.value_names(net)
    e = Emitter(net, values, opset)
    needed = net.needed()
    for layer in needed:
        if layer.op != "input":
            SPELLINGS[layer.op].emit(e, layer)
    outputs = []
    for o in net.main_outputs:
        shape = net.layers[o.layer].shape
        if values[o.layer] != o.name:
            e.node("Identity", [values[o.layer]], o.name)
        outputs.append(helper.make_value_info(o.name, _tensor_type(shape)))
    inputs = [
        helper.make_value_info(name, _tensor_type(net.layers[layer].shape))
        for name, layer in net.inputs
    ]
    out_names = {o.name for o in net.main_outputs}
    value_info = [
        helper.make_value_info(values[layer.name], _tensor_type(layer.shape))
        for layer in needed
        if layer.op != "input" and values[layer.name] not in out_names
    ]
    g = helper.make_graph(
        e.nodes,
        net.name,
        inputs,
        outputs,
        value_info=value_info,
        doc_string=f"{net.name}, from {os.path.basename(net.source)} by netdsl",
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        g,
        opset_imports=opsets,
        producer_name="netdsl",
        producer_version=netdsl.__version__,
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    for key in e.used:  # filled in place: make_graph and make_model copy what they get
        array = tensors.pop(key)
        t = model.graph.initializer.add()
        t.name = key
        t.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        t.dims.extend(array.shape)
        t.raw_data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        del array
    helper.set_model_props(
        model,
        {
            "netdsl_version": netdsl.__version__,
            "source": os.path.basename(net.source),
            "network": net.name,
            "parameters": json.dumps(net.params, sort_keys=True, default=str),
            "inputs": json.dumps({n: list(net.layers[lay].shape) for n, lay in net.inputs}),
            "weights": provenance,
        },
    )
    return model


def write(G, options: dict) -> bytes:
    net = graph.read(G)
    opset = options.get("opset")
    opset = DEFAULT_OPSET if opset is None else opset
    if not MIN_OPSET <= opset <= max_opset():
        raise NetdslError(
            Diagnostic(
                "E805",
                f"--opset {opset} is not supported",
                None,
                hint=f"the onnx backend writes opsets {MIN_OPSET} to {max_opset()} "
                f"(default {DEFAULT_OPSET})",
            )
        )
    problems = unsupported(net)
    if problems:
        raise NetdslError(problems[: weights.MAX_REPORTED])
    size = sum(
        4 * math.prod(s.param.shape) for s in weights.expected(net).values() if s.param.exported
    )
    if size > MAX_BYTES:
        raise NetdslError(
            Diagnostic(
                "E824",
                f"{net.name}'s weights take {size / 2**30:.1f} GiB; one ONNX file holds "
                "at most 2 GiB",
                None,
                hint="export the PyTorch module with torch.onnx.export(..., external_data=True)",
            )
        )
    path = options.get("weights")
    if path:
        tensors = weights.load(str(path), net)
        provenance = os.path.basename(str(path))
    else:
        seed = options.get("seed")
        seed = 0 if seed is None else seed
        tensors = weights.draw(net, seed)
        provenance = f"random, seed {seed}"
    data = build(net, opset, tensors, provenance).SerializeToString()
    del tensors
    try:
        onnx.checker.check_model(data)  # the bytes: a model is serialised once, not twice
    except onnx.checker.ValidationError as exc:  # our bug, never the user's
        raise AssertionError(f"the onnx backend wrote an invalid model: {exc}") from exc
    return data


__all__ = ["DEFAULT_OPSET", "Emitter", "build", "write"]
