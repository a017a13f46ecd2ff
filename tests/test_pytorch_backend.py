"""The PyTorch backend: every network's generated module imports, runs and matches
the IR (output shapes, parameter and buffer counts, per block instance too), the
code is lint-clean, names from the .net file cannot break it, classes unify where
they can, and the model works with torch.export / torch.compile.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from netdsl.backends.pytorch import generate
from netdsl.backends.pytorch import names as N

from netdsl.api import load
from netdsl.plugins import discover
from netdsl.stats import analyse

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ROOT / "networks"
DATA = Path(__file__).resolve().parent / "data" / "pytorch"
NETWORK_FILES = sorted(
    p for p in NETWORKS.rglob("*.net") if "blocks" not in p.relative_to(NETWORKS).parts
)
DATA_FILES = sorted(DATA.glob("*.net"))


def _id(p: Path) -> str:
    try:
        return str(p.relative_to(NETWORKS))
    except ValueError:
        return p.name


@pytest.fixture(scope="session")
def compiled(pytorch_module):
    return pytorch_module


def build(module):
    """The model without paying for initialisation: built on the meta device, then
    given zeroed CPU memory. Good for shapes and counts, not for values."""
    with torch.device("meta"):
        model = module.create_model()
    model = model.to_empty(device="cpu").eval()
    with torch.no_grad():  # garbage memory may hold denormals, which are slow
        for t in model.state_dict().values():
            t.zero_()
    return model


def test_backend_is_a_registered_plugin():
    found = discover()
    assert "pytorch" in found.backends, found.broken
    backend = found.backends["pytorch"]
    assert backend.extensions == ("py",)
    assert [o.name for o in backend.options] == ["fold_bn"]


# ------------------------------------------------------------------ every network


def _ir_counts(G):
    report = analyse(G)
    per_layer = {layer["name"]: (layer["params"], layer["buffers"]) for layer in report["layers"]}
    return report, per_layer


@pytest.mark.parametrize("path", NETWORK_FILES + DATA_FILES, ids=_id)
def test_generated_model_matches_ir(path, compiled):
    G, source, module, _ = compiled(path)
    report, per_layer = _ir_counts(G)
    model = build(module)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    assert params == report["totals"]["params"]
    assert buffers == report["totals"]["buffers"]

    # Every block instance and group, built by its class from the instance's
    # arguments, is exactly that instance: parameters and output shape.
    # Names that are not Python identifiers were renamed (test_names_... checks them).
    renamed = path.name in ("names.net", "guard_names.net")
    seen: dict[str, tuple] = {}
    hooks = []
    containers = [] if renamed else list(G.graph["instances"]) + list(G.graph["groups"])
    # A block without layers (`out in`) is the identity: no module at all.
    containers = [c for c in containers if any(n.startswith(c + ".") for n in G)]
    for path_ in containers:
        sub = model.get_submodule(path_)
        expect = sum(p for name, (p, _) in per_layer.items() if name.startswith(path_ + "."))
        assert sum(p.numel() for p in sub.parameters()) == expect, path_
        if path_ in G.graph["instances"]:
            hooks.append(
                sub.register_forward_hook(
                    lambda m, i, o, p=path_: seen.__setitem__(p, tuple(o.shape[1:]))
                )
            )

    inputs = [torch.randn(1, *shape) for shape in module.INPUT_SHAPES.values()]
    with torch.no_grad():
        out = model(*inputs)
    for h in hooks:
        h.remove()
    main = [o for o in G.graph["outputs"] if not o["aux"]]
    outs = list(out) if isinstance(out, tuple) else [out]
    assert len(outs) == len(main)
    for o, t in zip(main, outs):
        assert tuple(t.shape) == (1, *G.nodes[o["node"]]["shape"]), o["name"]
    for p, shape in seen.items():
        inst = G.graph["instances"][p]
        assert shape == G.nodes[inst.output]["shape"], p

    # state_dict keys are the IR's dotted names.
    layers_with_state = {n for n, (p, b) in per_layer.items() if p or b}
    prefixes = set()
    for key in model.state_dict():
        parts = key.split(".")
        for i in range(len(parts) - 1, 0, -1):
            if ".".join(parts[:i]) in G:
                prefixes.add(".".join(parts[:i]))
                break
        else:
            prefixes.add(key)
    assert renamed or prefixes == layers_with_state


@pytest.mark.parametrize("path", NETWORK_FILES + DATA_FILES, ids=_id)
def test_generated_code_is_valid_and_deterministic(path, compiled):
    G, source, _, _ = compiled(path)
    tree = ast.parse(source)
    again = generate(load(str(path)), {}, "py")
    assert again == source
    assert source.startswith("# ")
    assert path.name in source.split("\n", 2)[0] + source.split("\n", 2)[1]
    assert "netdsl compile" in source.split("import")[0]
    assert str(ROOT) not in source  # no absolute paths
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported <= {
        "torch",
        "torch.nn",
        "torch.nn.functional",
        "argparse",
        "time",
        "typing",
        "collections",
    }
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert ("F" in loaded) == ("torch.nn.functional" in imported)
    assert source.endswith("\n") and not source.endswith("\n\n")


# The project's ruff settings, as the backend ships them (tests/test_pytorch_tidy.py).
RUFF_CONFIG = str(ROOT / "backends" / "pytorch" / "generated_ruff.toml")


def _ruff() -> list[str] | None:
    exe = shutil.which("ruff")
    if exe is None:
        candidate = Path(sys.executable).parent / "ruff"
        if candidate.exists():
            exe = str(candidate)
    if exe is not None:
        return [exe]
    try:
        subprocess.run([sys.executable, "-m", "ruff", "--version"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    return [sys.executable, "-m", "ruff"]


def test_generated_code_passes_ruff(compiled, tmp_path):
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed")
    for path in NETWORK_FILES + DATA_FILES:
        _, source, _, _ = compiled(path)
        (tmp_path / (_id(path).replace("/", "__").replace(".net", ".py"))).write_text(source)
    check = subprocess.run(
        [
            *ruff,
            "check",
            "--config",
            RUFF_CONFIG,
            "--output-format",
            "concise",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--config", RUFF_CONFIG, "--diff", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_main_block_runs(compiled):
    _, _, _, file = compiled(NETWORKS / "lenet5.net")
    run = subprocess.run(
        [sys.executable, str(file), "--device", "cpu", "--batch", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "logits: (3, 10)" in run.stdout
    assert "parameters: 60,850" in run.stdout
    assert " ms on cpu" in run.stdout


# ----------------------------------------------------------------- classes


def class_names(source: str) -> list[str]:
    return [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]


def test_resnet_bottleneck_is_one_class_with_optional_downsample(compiled):
    G, source, module, _ = compiled(NETWORKS / "torchvision" / "resnet50.net")
    assert class_names(source) == ["Bottleneck", "ResNet50"]
    assert "if stride != 1 or in_channels != planes * expansion:" in source
    assert "self.downsample = None" in source
    assert "skip = x if self.downsample is None else self.downsample(x)" in source
    assert "out = out + skip" in source
    model = module.create_model()
    assert model.layer1[0].downsample is not None and model.layer1[1].downsample is None
    keys = model.state_dict().keys()
    assert "layer1.0.downsample.0.weight" in keys and "layer1.1.downsample.0.weight" not in keys


def test_googlenet_inception_forward_reads_like_the_source(compiled):
    _, source, _, _ = compiled(NETWORKS / "torchvision" / "googlenet.net")
    assert class_names(source) == [
        "GoogLeNetOutputs",
        "BasicConv2d",
        "Inception",
        "InceptionAux",
        "GoogLeNet",
    ]
    assert "torch.cat([b1, b2, b3, b4], 1)" in source
    assert "def __init__(self, in_channels, c1, c3r, c3, c5r, c5, proj):" in source
    assert "BasicConv2d(c3r, c3, 3, pad=1)" in source  # channels propagated symbolically
    assert "self.aux1 = InceptionAux(512, classes)" in source


def test_variants_when_structure_differs(compiled):
    G, source, module, _ = compiled(DATA / "variants.net")
    assert class_names(source) == ["Stage", "Stage2", "Unit", "Unit2", "Residual", "Variants"]
    model = module.create_model()
    assert type(model.s1).__name__ == type(model.s3).__name__ == "Stage"
    assert type(model.s2).__name__ == "Stage2"
    assert type(model.u2).__name__ == "Unit2"
    assert model.r1.proj is None and model.r2.proj is not None and model.r3.proj is None


def test_network_parameters_are_constructor_parameters(compiled):
    G, source, module, _ = compiled(NETWORKS / "torchvision" / "vgg16_bn.net")
    with torch.device("meta"):
        model = module.create_model(classes=7, p=0.1)
    out = model.eval()(torch.randn(1, 3, 64, 64, device="meta"))
    assert out.shape == (1, 7)
    assert model.classifier[2].p == 0.1
    doc = " ".join(type(model).__doc__.split())
    assert "Fixed at compile time" in doc and doc.endswith(": bn=True.")


def test_defines_become_defaults(tmp_path):
    G = load(str(NETWORKS / "lenet5.net"), defines={"classes": 4})
    source = generate(G, {}, "py")
    assert "def __init__(self, classes=4):" in source


def test_aux_outputs_in_training_mode_only(compiled):
    G, source, module, _ = compiled(DATA / "multi.net")
    model = module.create_model()
    assert model.AUX_LOSS_WEIGHTS == {"side": 0.5}
    x = torch.randn(2, 3, 32, 32)
    train = model.train()(x)
    assert type(train).__name__ == "MultiOutputs"
    assert train._fields == ("logits", "features", "side")
    with torch.no_grad():
        ev = model.eval()(x)
    assert type(ev).__name__ == "MultiMainOutputs"
    assert ev._fields == ("logits", "features")
    assert torch.allclose(ev.logits, train.logits.detach())


def test_googlenet_aux_heads(compiled):
    _, _, module, _ = compiled(NETWORKS / "googlenet.net")
    model = build(module)
    assert model.AUX_LOSS_WEIGHTS == {"aux1": 0.3, "aux2": 0.3}
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        out = model.train()(x)
        assert out._fields == ("logits", "aux1", "aux2")
        assert all(t.shape == (1, 1000) for t in out)
        assert model.eval()(x).shape == (1, 1000)


def test_names_that_are_python_words(compiled):
    G, source, module, _ = compiled(DATA / "names.net")
    assert class_names(source) == ["class_", "torch_"]
    assert "def __init__(self, in_channels, lambda_, print_=1):" in source
    assert "self.def_ = nn.Conv2d(in_channels, lambda_, kernel_size=3, padding=print_)" in source
    assert "def forward(self, self_):" in source
    assert "self.training_ = nn.Linear(forward, training)" in source
    model = module.create_model(forward=5, training=3)
    assert model.training is True  # nn.Module's flag is not shadowed
    assert model.eval()(torch.randn(1, 3, 16, 16)).shape == (1, 3)
    assert module.INPUT_SHAPES == {"self": (3, 16, 16)}


def test_reserved_attribute_list_covers_nn_module():
    public = {n for n in dir(torch.nn.Sequential()) if not n.startswith("_")}
    assert public <= N.MODULE_ATTRS
    private = {
        n for n in dir(torch.nn.Sequential()) if n.startswith("_") and not n.startswith("__")
    }
    assert private <= N.MODULE_INTERNALS


def test_inplace_relu_only_where_safe(compiled):
    _, source, module, _ = compiled(DATA / "inplace.net")
    assert "self.r0 = nn.ReLU()" in source  # its input is the caller's tensor
    assert "self.r1 = nn.ReLU()" in source  # conv's output is also read by sigmoid
    assert "self.r2 = nn.ReLU(inplace=True)" in source
    model = module.create_model().eval()
    x = torch.randn(2, 3, 8, 8)
    keep = x.clone()
    with torch.no_grad():
        y = model(x)
        c = model.conv(torch.relu(keep))
        expect = torch.relu(torch.relu(c) + torch.sigmoid(c))
    assert torch.equal(x, keep)
    assert torch.allclose(y, expect)


def test_init_rules(compiled):
    _, source, module, _ = compiled(DATA / "init.net")
    assert "def _init_weights(self):" in source and "self._init_weights()" in source
    assert 'nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")' in source
    assert "if m.bias is not None:" in source  # conv2 has no bias
    assert "nn.init.trunc_normal_(m.weight, 0, 0.02, -0.04, 0.04)" in source
    model = module.create_model()
    assert torch.all(model.conv1.bias == 0)
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)
    assert torch.all(model.fc.bias == 0.5)
    assert model.fc.weight.abs().max() <= 0.04


def test_no_init_method_without_rules(compiled):
    _, source, _, _ = compiled(NETWORKS / "torchvision" / "alexnet.net")
    assert "_init_weights" not in source


def test_lenet_helpers(compiled):
    G, source, module, _ = compiled(NETWORKS / "lenet5.net")
    assert "class ConnectionTableConv2d(nn.Module):" in source
    assert "class Subsample2d(nn.Module):" in source
    model = module.create_model()
    assert sum(p.numel() for p in model.C3.parameters()) == 1516
    assert sum(p.numel() for p in model.S2.parameters()) == 12
    _, other, _, _ = compiled(NETWORKS / "torchvision" / "resnet18.net")
    assert "ConnectionTableConv2d" not in other and "import torch.nn.functional" not in other


# ----------------------------------------------------- torch.export / compile


def test_torch_export_and_compile_agree_with_eager(compiled):
    _, _, module, _ = compiled(DATA / "variants.net")
    torch.manual_seed(0)
    model = module.create_model().eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        eager = model(x)
        exported = torch.export.export(model, (x,))
        assert torch.allclose(exported.module()(x), eager, atol=1e-6)
        compiled_model = torch.compile(model, backend="aot_eager", fullgraph=True)
        assert torch.allclose(compiled_model(x), eager, atol=1e-6)


def test_renamed_parameters_in_conditions(compiled):
    _, source, module, _ = compiled(DATA / "guard_names.net")
    assert class_names(source) == ["with_", "Guarded"]
    assert "if yield_ != 1 or in_channels != pass_:" in source
    model = build(module)
    assert model.a.try_ is not None and model.b.try_ is None and model.c.try_ is not None


def test_computed_defaults_and_symbolic_channels(compiled):
    _, source, module, _ = compiled(DATA / "extras.net")
    assert "def __init__(self, in_channels, c, scale=None):" in source
    assert "        if scale is None:\n            scale = c * 2\n" in source
    assert "self.merge = nn.Conv2d(c + scale, in_channels + c, kernel_size=1)" in source
    assert "def forward(self, left, right):" in source
    assert "l_ = self.m1(left)" in source  # E741: no variable called l
    out = build(module)(torch.randn(1, 3, 16, 16), torch.randn(1, 3, 16, 16))
    assert out._fields == ("y", "z")


# ------------------------------------------------------------------ fold_bn


def _randomise(model) -> None:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, (2.0 / p[0].numel()) ** 0.5, generator=gen)
            else:
                p.uniform_(0.5, 1.5, generator=gen)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.uniform_(-0.1, 0.1, generator=gen)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5, generator=gen)


@pytest.mark.parametrize("name", ["torchvision/resnet18", "torchvision/googlenet", "vgg11_bn"])
def test_fold_bn(name, compiled, tmp_path):
    path = NETWORKS / f"{name}.net"
    G, _, module, _ = compiled(path)
    source = generate(G, {"fold_bn": True}, "py")
    assert "nn.BatchNorm2d" not in source
    assert "def fold_batchnorm(model, state_dict):" in source
    file = tmp_path / "folded.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location("netdsl_folded_" + name.replace("/", "_"), file)
    folded_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(folded_module)

    plain = build(module)
    _randomise(plain)
    folded = build(folded_module)
    folded.load_state_dict(folded_module.fold_batchnorm(folded, plain.state_dict()), strict=True)
    bn = sum(
        p.numel()
        for m in plain.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
        for p in m.parameters()
    )
    convs = sum(m.out_channels for m in folded.modules() if isinstance(m, torch.nn.Conv2d)) - sum(
        m.out_channels
        for m in plain.modules()
        if isinstance(m, torch.nn.Conv2d) and m.bias is not None
    )
    assert sum(p.numel() for p in folded.parameters()) == (
        sum(p.numel() for p in plain.parameters()) - bn + convs
    )
    x = torch.randn(1, *module.INPUT_SHAPES["image"])
    with torch.no_grad():
        got, expect = folded(x), plain(x)
    assert (got - expect).abs().max() <= 1e-5 * expect.abs().max()
    if shutil.which("ruff") or (Path(sys.executable).parent / "ruff").exists():
        ruff = _ruff()
        check = subprocess.run(
            [*ruff, "check", "--config", RUFF_CONFIG, str(file)],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stdout
        fmt = subprocess.run(
            [*ruff, "format", "--config", RUFF_CONFIG, "--check", str(file)],
            capture_output=True,
            text=True,
        )
        assert fmt.returncode == 0, fmt.stdout


def test_fold_bn_from_the_command_line(tmp_path):
    from click.testing import CliRunner

    from netdsl.cli import main

    out = tmp_path / "model.py"
    result = CliRunner().invoke(
        main,
        ["compile", str(NETWORKS / "torchvision" / "resnet50.net"), "--fold-bn", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "FOLDED_BATCHNORM" in out.read_text()


def test_concatenated_channels_collect_like_terms():
    import ast

    from netdsl.backends.pytorch.structure import _sum_of_terms

    trees = [ast.parse(t, mode="eval").body for t in ["c + 2 * g", "g", "h * 2", "g"]]
    # like terms counted, in first-appearance order; `h * 2` is not `2 * h`-shaped, kept
    assert _sum_of_terms(trees) == "c + 4 * g + h * 2"
