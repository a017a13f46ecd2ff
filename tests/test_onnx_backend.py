"""The ONNX backend (issue 14): coverage of the registry, state_dict names, validity,
shape inference, equality with the PyTorch module, weights files, errors, imports."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
np = pytest.importorskip("numpy")
pytest.importorskip("safetensors")
torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from netdsl.backends.onnx import BATCH_DIM, DEFAULT_OPSET, generate  # noqa: E402
from netdsl.backends.onnx import spelling as S  # noqa: E402
from netdsl.backends.onnx.graph import read, value_names  # noqa: E402
from netdsl.backends.onnx.weights import expected  # noqa: E402
from safetensors.numpy import save_file as save_numpy  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from netdsl.api import load  # noqa: E402
from netdsl.cli import main  # noqa: E402
from netdsl.diagnostics import NetdslError  # noqa: E402
from netdsl.ops import OPS  # noqa: E402
from netdsl.render import render_all  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NETS = ROOT / "networks"
DATA = ROOT / "tests" / "data"
ALL = sorted(p for p in NETS.rglob("*.net") if "blocks" not in p.parts)
EXTRA = [DATA / "onnx" / "ops.net", *sorted((DATA / "pytorch").glob("*.net"))]


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def _check_script():
    spec = importlib.util.spec_from_file_location(
        "onnx_check", ROOT / "benchmarks" / "onnx_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECK = _check_script()


def compile_onnx(path, **options) -> onnx.ModelProto:
    return onnx.load_from_string(generate(load(str(path)), options, "onnx"))


# ---------------------------------------------------------------- the table
def test_every_op_of_the_registry_is_spelt_or_declared_unsupported():
    missing = sorted(set(OPS) - set(S.SPELLINGS) - set(S.UNSUPPORTED))
    assert not missing, f"the onnx backend has no row for {missing}"
    assert not set(S.SPELLINGS) & set(S.UNSUPPORTED)
    assert set(S.SPELLINGS) | set(S.UNSUPPORTED) <= set(OPS), "rows for ops that do not exist"


def test_ops_net_uses_every_spelt_op():
    # So that the equality test below exercises every row of the table.
    used = {layer.op for layer in read(load(str(DATA / "onnx" / "ops.net"))).layers.values()}
    assert set(S.SPELLINGS) <= used, set(S.SPELLINGS) - used


def test_an_unsupported_op_is_a_clear_error_and_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.delitem(S.SPELLINGS, "lrn")
    monkeypatch.setitem(S.UNSUPPORTED, "lrn", "no reason, in this test")
    out = tmp_path / "alexnet.onnx"
    out.write_bytes(b"old")
    r = CliRunner().invoke(main, ["compile", str(NETS / "alexnet.net"), "-o", str(out)])
    assert r.exit_code == 1, r.output
    assert "error[E822]: the onnx backend cannot write op 'lrn' (layer 'norm1')" in r.output
    assert "no reason, in this test" in r.output
    assert "alexnet.net:" in r.output and "^" in r.output and "Traceback" not in r.output
    assert out.read_bytes() == b"old"


# ------------------------------------------------------------------ names
def _torch_state(path: Path, pytorch_module):
    _, _, module, _ = pytorch_module(path)
    with torch.device("meta"):
        model = module.create_model()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("path", ALL + EXTRA, ids=_rel)
def test_tensor_names_and_shapes_are_the_pytorch_state_dict(path, pytorch_module):
    ours = {k: s.param.shape for k, s in expected(read(load(str(path)))).items()}
    assert list(ours.items()) == list(_torch_state(path, pytorch_module).items())


def test_initializers_and_values_are_named_after_layers():
    model = compile_onnx(NETS / "torchvision" / "resnet50.net")
    inits = [t.name for t in model.graph.initializer]
    assert inits[:5] == [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
    ]
    assert "layer1.0.downsample.0.weight" in inits and "fc.bias" in inits
    assert not any(n.endswith("num_batches_tracked") for n in inits)  # a training counter
    outputs = {n.output[0]: n for n in model.graph.node}
    assert outputs["layer1.0.conv1"].op_type == "Conv"
    assert outputs["layer4.2.bn3"].op_type == "BatchNormalization"
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["logits"]


def test_auxiliary_heads_are_left_out_of_the_inference_graph():
    G = load(str(NETS / "torchvision" / "googlenet.net"))
    model = onnx.load_from_string(generate(G, {}, "onnx"))
    assert [o.name for o in model.graph.output] == ["logits"]
    assert not any(n.name.startswith("aux") for n in model.graph.node)
    # ... but a weights file with them (a state_dict has them) is accepted.
    assert any(k.startswith("aux1.") for k in expected(read(G)))


# --------------------------------------------------- validity and shapes
@pytest.mark.parametrize("path", ALL + EXTRA, ids=_rel)
def test_full_check_and_shape_inference_give_netdsl_shapes(path):
    model = compile_onnx(path)
    onnx.checker.check_model(model, full_check=True)
    net = read(load(str(path)))
    shapes = CHECK.inferred_shapes(model)
    written = {n.output[0] for n in model.graph.node}
    names = value_names(net)
    checked = 0
    for layer in net.needed():
        value = names[layer.name]
        if layer.op != "input" and value in written:
            assert shapes[value] == [BATCH_DIM, *layer.shape], layer.name
            checked += 1
    assert checked >= len([x for x in net.needed() if x.op != "input"]) - len(net.main_outputs)
    for o in net.main_outputs:
        assert shapes[o.name] == [BATCH_DIM, *net.layers[o.layer].shape]


# ------------------------------------------------ equality with PyTorch
CI_EQUAL = [
    NETS / "lenet5.net",
    NETS / "googlenet.net",
    NETS / "torchvision" / "googlenet.net",
    # networks/torchvision/resnet50.net: through the CLI, below
    NETS / "inception_naive.net",
    NETS / "inception_reduced.net",
    NETS / "resnet18.net",
    *EXTRA,
]


@pytest.mark.parametrize("path", CI_EQUAL, ids=_rel)
def test_onnxruntime_equals_the_pytorch_module(path):
    r = CHECK.verify(path)
    assert r["max_abs_diff"] <= 1e-4 * max(1, r["max_abs_output"])
    assert r["max_abs_output"] > 1e-3  # the outputs are not all zero


def test_compile_with_weights_through_the_cli_gives_pytorch_logits(tmp_path):
    # The "done when", on the torchvision ResNet-50 mirror.
    net = NETS / "torchvision" / "resnet50.net"
    model, module = CHECK.torch_model(load(str(net)), tmp_path, seed=3)
    weights = tmp_path / "w.safetensors"
    save_file(model.state_dict(), str(weights))
    out = tmp_path / "resnet50.onnx"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "netdsl",
            "compile",
            str(net),
            "-o",
            str(out),
            "--weights",
            str(weights),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    x = np.random.default_rng(1).standard_normal((2, 3, 224, 224), dtype=np.float32)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"image": x})
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert logits.shape == (2, 1000)
    assert np.max(np.abs(logits - ref)) <= CHECK.tolerance(ref)


def test_a_torchvision_state_dict_loads_into_its_mirror(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).eval()
    weights = tmp_path / "tv.safetensors"
    save_file(reference.state_dict(), str(weights))
    data = generate(load(str(NETS / "torchvision" / "resnet18.net")), {"weights": str(weights)})
    x = np.random.default_rng(2).standard_normal((2, 3, 224, 224), dtype=np.float32)
    (logits,) = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(
        None, {"image": x}
    )
    with torch.no_grad():
        ref = reference(torch.from_numpy(x)).numpy()
    assert np.max(np.abs(logits - ref)) <= CHECK.tolerance(ref)


# ---------------------------------------------------------- weights files
def _lenet_weights(tmp_path, change=None) -> Path:
    G = load(str(NETS / "lenet5.net"))
    tensors = {
        k: np.zeros(s.param.shape, dtype=s.param.dtype) for k, s in expected(read(G)).items()
    }
    if change:
        change(tensors)
    path = tmp_path / "w.safetensors"
    save_numpy(tensors, str(path))
    return path


def _compile_lenet(tmp_path, weights) -> tuple:
    out = tmp_path / "out.onnx"
    out.write_bytes(b"old")
    r = CliRunner().invoke(
        main, ["compile", str(NETS / "lenet5.net"), "-o", str(out), "--weights", str(weights)]
    )
    return r, out


def test_a_missing_tensor_is_named(tmp_path):
    r, out = _compile_lenet(tmp_path, _lenet_weights(tmp_path, lambda t: t.pop("C3.weight.7")))
    assert r.exit_code == 1
    assert "error[E821]: w.safetensors has no tensor 'C3.weight.7' (1x4x5x5)" in r.output
    assert "layer 'C3' (conv)" in r.output and "lenet5.net:" in r.output
    assert out.read_bytes() == b"old"


def test_an_extra_tensor_is_named(tmp_path):
    def extra(t):
        t["F7.weight"] = np.zeros((3, 3), np.float32)

    r, out = _compile_lenet(tmp_path, _lenet_weights(tmp_path, extra))
    assert r.exit_code == 1
    assert "w.safetensors has a tensor 'F7.weight' that no layer of LeNet5 owns" in r.output
    assert out.read_bytes() == b"old"


def test_a_misshaped_tensor_is_named(tmp_path):
    def reshape(t):
        t["F6.weight"] = np.zeros((84, 100), np.float32)

    r, out = _compile_lenet(tmp_path, _lenet_weights(tmp_path, reshape))
    assert r.exit_code == 1
    assert (
        "'F6.weight' in w.safetensors is 84x100, but layer 'F6' (linear) needs 84x120" in r.output
    )
    assert out.read_bytes() == b"old"


def test_every_problem_is_listed_at_once(tmp_path):
    def many(t):
        t.pop("C1.bias")
        t["output.weight"] = np.zeros((1, 84), np.float32)

    r, _ = _compile_lenet(tmp_path, _lenet_weights(tmp_path, many))
    assert "'C1.bias'" in r.output and "'output.weight'" in r.output


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all", b"\xff" * 64])
def test_a_file_that_is_not_safetensors(tmp_path, content):
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(content)
    r, out = _compile_lenet(tmp_path, bad)
    assert r.exit_code == 1 and "error[E820]" in r.output and "Traceback" not in r.output
    assert out.read_bytes() == b"old"


def test_a_missing_weights_file(tmp_path):
    r, out = _compile_lenet(tmp_path, tmp_path / "nope.safetensors")
    assert r.exit_code == 1 and "error[E801]" in r.output and "nope.safetensors" in r.output
    assert out.read_bytes() == b"old"


def test_weights_from_the_file_are_the_initializers(tmp_path):
    def fill(t):
        t["F6.weight"][:] = np.arange(84 * 120, dtype=np.float32).reshape(84, 120)

    model = onnx.load_from_string(
        generate(load(str(NETS / "lenet5.net")), {"weights": str(_lenet_weights(tmp_path, fill))})
    )
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert inits["F6.weight"][2, 3] == 2 * 120 + 3


# ----------------------------------------------------------- drawn weights
def _inits(path, **options) -> dict:
    model = compile_onnx(path, **options)
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}


def test_the_seed_decides_the_weights():
    G = load(str(NETS / "lenet5.net"))
    a, b = generate(G, {"seed": 1}), generate(G, {"seed": 1})
    assert a == b
    assert generate(G, {"seed": 2}) != a


def test_init_rules_are_followed():
    # networks/torchvision/vgg16.net: conv kaiming_normal(fan_out, relu), bias 0;
    # linear normal(0, 0.01), bias 0 (torchvision's VGG._initialize_weights).
    w = _inits(NETS / "torchvision" / "vgg16.net", seed=5)
    conv = w["features.0.weight"]  # 64x3x3x3: fan_out = 64 * 9
    assert conv.shape == (64, 3, 3, 3)
    assert abs(conv.std() / math.sqrt(2 / (64 * 9)) - 1) < 0.1
    assert not w["features.0.bias"].any()
    fc = w["classifier.0.weight"]
    assert abs(fc.std() / 0.01 - 1) < 0.01 and abs(fc.mean()) < 1e-4
    assert not w["classifier.0.bias"].any()


def test_pytorch_defaults_without_rules():
    # nn.Conv2d / nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
    w = _inits(NETS / "alexnet.net")
    k = w["conv1.weight"]
    bound = 1 / math.sqrt(3 * 11 * 11)
    assert k.min() >= -bound and k.max() <= bound and k.max() > 0.95 * bound
    assert abs(k.std() / (bound / math.sqrt(3)) - 1) < 0.05
    b = w["conv1.bias"]
    assert b.min() >= -bound and b.max() <= bound and b.std() > 0
    # Batch norm: weight 1, bias 0, mean 0, variance 1.
    r = _inits(NETS / "resnet18.net")
    assert (r["bn1.weight"] == 1).all() and (r["bn1.bias"] == 0).all()
    assert (r["bn1.running_mean"] == 0).all() and (r["bn1.running_var"] == 1).all()


def test_a_fan_rule_on_a_vector_is_an_error(tmp_path):
    net = tmp_path / "bad_init.net"
    net.write_text(
        "network N {\n    input x: 3x8x8\n    init batchnorm(weight=kaiming_normal())\n"
        "    out y = x -> conv(4, 3) -> batchnorm -> flatten\n}\n"
    )
    with pytest.raises(NetdslError) as e:
        generate(load(str(net)), {})
    d = e.value.diagnostics[0]
    assert d.code == "E823" and "'batchnorm.weight' is 4" in d.message
    assert "bad_init.net:4:" in render_all(e.value.diagnostics)


# Below their opset (HardSwish 14, Gelu 20) ops are written from older operators.
@pytest.mark.parametrize("opset", [13, 19])
def test_fallback_spellings_equal_the_pytorch_module(opset):
    r = CHECK.verify(DATA / "onnx" / "ops.net", opset=opset)
    assert r["max_abs_diff"] <= 1e-4 * max(1, r["max_abs_output"])


# ------------------------------------------------------ opset, batch, metadata
@pytest.mark.parametrize("opset", [13, 17, DEFAULT_OPSET, "max"])
def test_opsets_run_in_onnxruntime(opset):
    opset = onnx.defs.onnx_opset_version() if opset == "max" else opset
    path = DATA / "onnx" / "ops.net"
    data = generate(load(str(path)), {"opset": opset})
    model = onnx.load_from_string(data)
    assert [o.version for o in model.opset_import if o.domain == ""] == [opset]
    onnx.checker.check_model(model, full_check=True)
    if opset <= 23:  # what this onnxruntime implements for sure
        s = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        feeds = {
            "image": np.ones((1, 3, 23, 19), np.float32),
            "seq": np.ones((1, 6, 10), np.float32),
        }
        probs, *_ = s.run(None, feeds)
        assert probs.shape == (1, 5) and abs(probs.sum() - 1) < 1e-5


def test_a_bad_opset_is_refused(tmp_path):
    out = tmp_path / "x.onnx"
    r = CliRunner().invoke(
        main, ["compile", str(NETS / "lenet5.net"), "-o", str(out), "--opset", "9"]
    )
    assert r.exit_code == 1 and "error[E805]: --opset 9 is not supported" in r.output
    assert not out.exists()


def test_the_batch_dimension_is_symbolic():
    data = generate(load(str(NETS / "lenet5.net")), {})
    model = onnx.load_from_string(data)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == BATCH_DIM and [d.dim_value for d in dims[1:]] == [1, 32, 32]
    s = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for n in (1, 5):
        (y,) = s.run(None, {"image": np.zeros((n, 1, 32, 32), np.float32)})
        assert y.shape == (n, 10)


def test_metadata_props(tmp_path):
    out = tmp_path / "a.onnx"
    r = CliRunner().invoke(
        main,
        ["compile", str(NETS / "alexnet.net"), "-D", "classes=10", "-o", str(out), "--seed", "4"],
    )
    assert r.exit_code == 0, r.output
    model = onnx.load(str(out))
    props = {p.key: p.value for p in model.metadata_props}
    import netdsl

    assert props["netdsl_version"] == netdsl.__version__
    assert props["source"] == "alexnet.net" and props["network"] == "AlexNet"
    assert json.loads(props["parameters"])["classes"] == 10
    assert props["weights"] == "random, seed 4"
    assert model.producer_name == "netdsl"
    assert model.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 10


def test_options_of_the_onnx_backend_are_refused_elsewhere(tmp_path):
    r = CliRunner().invoke(
        main, ["compile", str(NETS / "lenet5.net"), "-o", str(tmp_path / "m.py"), "--opset", "17"]
    )
    assert r.exit_code == 2 and "has no option --opset" in r.output


# ----------------------------------------------------------------- imports
_NO_HEAVY = r"""
import contextlib, io, sys
import netdsl.cli
for argv in (["check", "networks/resnet50.net"], ["stats", "networks/googlenet.net"],
             ["compile", "networks/lenet5.net", "-o", "-", "-b", "mermaid"],
             ["compile", "networks/lenet5.net", "-o", "-", "-b", "graphviz"],
             ["compile", "networks/lenet5.net", "-o", "-", "-b", "json"], ["backends"]):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            netdsl.cli.main.main(argv, standalone_mode=False)
        except SystemExit:
            pass
heavy = ("onnx", "onnxruntime", "numpy", "safetensors", "torch")
heavy = sorted(m for m in heavy if m in sys.modules)
assert not heavy, heavy
print("ok")
"""


def test_check_stats_and_diagrams_import_neither_onnx_nor_numpy():
    r = subprocess.run([sys.executable, "-c", _NO_HEAVY], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_the_onnx_backend_never_imports_torch(tmp_path):
    code = (
        "import sys\nfrom netdsl.cli import main\n"
        f"argv = ['compile', 'networks/lenet5.net', '-o', {str(tmp_path / 'l.onnx')!r}]\n"
        "try:\n    main.main(argv)\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "assert 'torch' not in sys.modules\nprint('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert onnx.load(str(tmp_path / "l.onnx")).graph.name == "LeNet5"


def test_a_model_over_two_gigabytes_is_refused_before_any_weight_is_drawn(tmp_path):
    net = tmp_path / "huge.net"
    net.write_text("network Huge {\n    input v: 100000\n    out y = v -> linear(6000)\n}\n")
    with pytest.raises(NetdslError) as e:
        generate(load(str(net)), {})
    d = e.value.diagnostics[0]
    assert d.code == "E824" and "2.2 GiB" in d.message and "2 GiB" in d.message
