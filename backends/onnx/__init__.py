"""The ONNX backend: a model for onnxruntime, TensorRT, OpenVINO or Netron, from the IR alone.

Imports neither torch nor (until a model is written) onnx or numpy, so that
discovering backends stays cheap. See docs/onnx.md.
"""

from __future__ import annotations

from netdsl.plugins import Backend, Option

# Run by onnxruntime >= 1.20, TensorRT 10 and OpenVINO 2024; --opset picks another.
DEFAULT_OPSET = 21
BATCH_DIM = "batch"  # the symbolic batch dimension of every input and output


def generate(G, options: dict | None = None, fmt: str | None = None) -> bytes:
    from netdsl.backends.onnx.emit import write

    return write(G, options or {})


backend = Backend(
    name="onnx",
    description="ONNX model (inference graph, weights named as the PyTorch state_dict)",
    extensions=("onnx",),
    generate=generate,
    options=(
        Option("opset", "ONNX opset to write (13 or later)", default=DEFAULT_OPSET, type=int),
        Option(
            "weights",
            "a .safetensors file of the generated PyTorch module's state_dict; "
            "without it, weights are drawn by the network's init rules",
            default=None,
        ),
        Option("seed", "random seed for drawn weights", default=0, type=int),
    ),
)
