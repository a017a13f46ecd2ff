"""Check the ONNX backend against the PyTorch backend on every network (issue 14).

    python benchmarks/onnx_check.py                      # every network under networks/
    python benchmarks/onnx_check.py networks/lenet5.net  # some
    python benchmarks/onnx_check.py --markdown out.md    # also write the table

For each network: the generated PyTorch module is built (its own init, then
random batch-norm statistics) and its state_dict saved with safetensors; the
onnx backend compiles the network with `--weights` that file; then

  1. onnx.checker.check_model(full_check=True) passes,
  2. ONNX shape inference (strict, on the model without its value_info) gives
     netdsl's shape, with a symbolic batch, at every layer's value,
  3. onnxruntime's outputs equal the PyTorch module's eval-mode outputs on the
     same input (batch 2) within atol 1e-4 (times the largest output where that
     exceeds 1: see `tolerance`); where they do not, because float32 rounding
     alone exceeds that in a very deep network, onnxruntime's distance to the
     module's float64 result must be at most 1.5 x PyTorch's own (float32).

Needs torch, onnx, onnxruntime and safetensors. Exit status 1 if any check fails.
tests/test_onnx_backend.py runs `verify` on a subset in CI.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ATOL = 1e-4
# Where float32 cannot hold ATOL (ResNet-152: PyTorch in float32 is itself 3.5e-4
# from float64), onnxruntime must be as close to float64 as PyTorch is, give or take.
FLOAT32_SLACK = 1.5


def tolerance(reference) -> float:
    """ATOL for outputs of order one; for larger outputs (ResNet-50's random logits
    reach ~100) ATOL of their magnitude: float32 itself carries only ~7 digits,
    and PyTorch in float32 is ~1e-6 relative away from the float64 result."""
    import numpy as np

    return ATOL * max(1.0, float(np.max(np.abs(reference))))


def float64_outputs(model, module, feeds) -> list:
    """The module's outputs in float64 arithmetic (on a copy): the exact result, to
    tell float32 rounding from a wrong graph."""
    import copy

    import torch

    exact = copy.deepcopy(model).double()
    with torch.no_grad():
        out = exact(*(torch.from_numpy(feeds[n]).double() for n in module.INPUT_SHAPES))
    return [o.numpy() for o in ([out] if isinstance(out, torch.Tensor) else out)]


def networks() -> list[Path]:
    return sorted(p for p in (ROOT / "networks").rglob("*.net") if "blocks" not in p.parts)


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_model(G, folder: Path, seed: int = 0):
    """The generated PyTorch module in eval mode, with the parameters its own
    initialisation drew, random batch-norm affine parameters, and random batch-norm
    statistics: those of one random batch (as training would leave them, so that
    activations stay of order one and atol 1e-4 is a fair test in float32), then
    scaled and shifted at random."""
    import torch
    from netdsl.backends.pytorch import generate

    file = folder / f"gen_{G.graph['name']}.py"
    file.write_text(generate(G, {}, "py"))
    module = _import(file, f"onnx_check_{G.graph['name']}")
    torch.manual_seed(seed)
    model = module.create_model()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in norms:
            if m.affine:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
        if norms:
            momenta = [m.momentum for m in norms]
            for m in norms:
                m.momentum = 1.0  # running statistics := this batch's
            model.train()
            model(*(torch.randn(4, *shape) for shape in module.INPUT_SHAPES.values()))
            for m, momentum in zip(norms, momenta, strict=True):
                m.momentum = momentum
        for m in norms:
            m.running_mean.add_(torch.empty_like(m.running_mean).uniform_(-0.1, 0.1))
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
    return model.eval(), module


def inferred_shapes(model) -> dict[str, list]:
    """{value: dims} by ONNX shape inference alone: on a copy without the model's
    value_info and output shapes, whose weights are declared as typed graph inputs
    rather than carried (inference reads only their types; VGG's would be 550 MB)."""
    import onnx
    from onnx import helper

    g = model.graph
    bare = helper.make_graph(
        list(g.node),
        g.name,
        list(g.input)
        + [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in g.initializer],
        [onnx.ValueInfoProto(name=o.name) for o in g.output],
    )
    bare = helper.make_model(bare, opset_imports=list(model.opset_import))
    bare.ir_version = model.ir_version
    done = onnx.shape_inference.infer_shapes(bare, check_type=True, strict_mode=True)
    out = {}
    for vi in list(done.graph.value_info) + list(done.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            dims = t.shape.dim
            out[vi.name] = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in dims]
    return out


def verify(path: Path | str, batch: int = 2, seed: int = 0, opset: int | None = None) -> dict:
    """Run the three checks on one network; returns figures, raises AssertionError.
    opset: the ONNX opset to write (the backend's default if None)."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from netdsl.backends.onnx import BATCH_DIM, generate
    from netdsl.backends.onnx.graph import read, value_names
    from safetensors.torch import save_file

    from netdsl.api import load

    path = Path(path)
    G = load(str(path))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model, module = torch_model(G, folder, seed)
        weights = folder / "w.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
        t1 = time.perf_counter()
        options = {"weights": str(weights)} | ({"opset": opset} if opset else {})
        data = generate(G, options, "onnx")
        t_compile = time.perf_counter() - t1
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)

    net = read(G)
    shapes = inferred_shapes(proto)
    written = {n.output[0] for n in proto.graph.node}
    names = value_names(net)
    checked = 0
    for layer in net.needed():
        value = names[layer.name]
        if layer.op == "input" or value not in written:
            continue
        got = shapes.get(value)
        want = [BATCH_DIM, *layer.shape]
        assert got == want, f"{path.name}: ONNX infers {got} for {layer.name}, netdsl {want}"
        checked += 1
    for o in net.main_outputs:
        want = [BATCH_DIM, *net.layers[o.layer].shape]
        assert shapes.get(o.name) == want, f"{path.name}: output {o.name}: {shapes.get(o.name)}"

    rng = np.random.default_rng(seed)
    feeds = {
        name: rng.standard_normal((batch, *module.INPUT_SHAPES[name]), dtype=np.float32)
        for name in module.INPUT_SHAPES
    }
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in net.main_outputs]
    got = session.run(names, feeds)
    with torch.no_grad():
        ref = model(*(torch.from_numpy(feeds[n]) for n in module.INPUT_SHAPES))
    ref = [ref] if isinstance(ref, torch.Tensor) else list(ref)
    worst, exact, vs64 = 0.0, None, ""
    for i, (name, a, b) in enumerate(zip(names, got, ref, strict=True)):
        b = b.numpy()
        assert a.shape == b.shape, f"{path.name}: {name} is {a.shape} in ONNX, {b.shape} in torch"
        diff, limit = float(np.max(np.abs(a - b))), tolerance(b)
        if diff > limit:
            # Deep networks: is it float32 rounding? Both against float64 arithmetic.
            if exact is None:
                exact = float64_outputs(model, module, feeds)
            ours, theirs = (float(np.max(np.abs(x - exact[i]))) for x in (a, b))
            assert ours <= max(limit, FLOAT32_SLACK * theirs), (
                f"{path.name}: {name} differs from PyTorch by {diff:.2e} > {limit:.2e}, "
                f"and from float64 by {ours:.2e} (PyTorch in float32: {theirs:.2e})"
            )
            vs64 = f"{ours:.1e} (PyTorch {theirs:.1e})"
        worst = max(worst, diff)
    return {
        "network": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "nodes": len(proto.graph.node),
        "initializers": len(proto.graph.initializer),
        "values_checked": checked,
        "max_abs_diff": worst,
        "max_abs_output": max(float(np.max(np.abs(a))) for a in got),
        "vs_float64": vs64,  # set where float32 rounding exceeds the tolerance
        "compile_s": t_compile,
        "total_s": time.perf_counter() - t0,
        "mbytes": len(data) / 1e6,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("nets", nargs="*", type=Path, help="default: every network under networks/")
    ap.add_argument("--markdown", type=Path, help="also write the table here")
    args = ap.parse_args(argv)
    rows, failed = [], 0
    head = (
        "| network | nodes | values checked | max abs diff | max abs output "
        "| vs float64 | compile s | MB |"
    )
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|"
    print(head)
    print(rule)
    lines = [head, rule]
    for path in args.nets or networks():
        try:
            r = verify(path)
        except Exception as exc:  # noqa: BLE001 - every network gets its row
            failed += 1
            line = f"| {path} | FAILED: {type(exc).__name__}: {exc} | | | | | | |"
        else:
            rows.append(r)
            line = (
                f"| {r['network']} | {r['nodes']} | {r['values_checked']} | "
                f"{r['max_abs_diff']:.1e} | {r['max_abs_output']:.3g} | {r['vs_float64']} | "
                f"{r['compile_s']:.2f} | "
                f"{r['mbytes']:.1f} |"
            )
        print(line, flush=True)
        lines.append(line)
    print(f"{len(rows)} passed, {failed} failed")
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
