"""Every network of the library loads, passes the IR lint, and the torchvision
mirrors are torchvision's models layer for layer and name for name."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdsl.api import load
from netdsl.ir import lint
from netdsl.loader import load_program
from netdsl.stats import analyse

NETWORKS = Path(__file__).resolve().parent.parent / "networks"
ALL = sorted(NETWORKS.rglob("*.net"))
BLOCK_FILES = [p for p in ALL if "blocks" in p.relative_to(NETWORKS).parts]
NETWORK_FILES = [p for p in ALL if p not in BLOCK_FILES]
TORCHVISION = sorted(p.stem for p in (NETWORKS / "torchvision").glob("*.net"))


def _id(p: Path) -> str:
    return str(p.relative_to(NETWORKS))


def test_library_is_complete():
    names = {_id(p) for p in NETWORK_FILES}
    expected = {
        "lenet5.net",
        "alexnet.net",
        "googlenet.net",
        "inception_naive.net",
        "inception_reduced.net",
    }
    expected |= {f"vgg{d}{bn}.net" for d in (11, 13, 16, 19) for bn in ("", "_bn")}
    expected |= {f"resnet{d}.net" for d in (18, 34, 50, 101, 152)}
    expected |= {f"torchvision/{n}" for n in expected if not n.startswith(("lenet", "incep"))}
    assert expected <= names


@pytest.mark.parametrize("path", NETWORK_FILES, ids=_id)
def test_network_loads_and_lints(path):
    G = load(str(path))
    lint(G)
    assert G.graph["outputs"], "a network needs at least one output"
    assert G.graph["inputs"]
    s = analyse(G)
    assert s["totals"]["params"] > 0
    assert all(len(shape) >= 1 for shape in s["outputs"].values())


@pytest.mark.parametrize("path", BLOCK_FILES, ids=_id)
def test_block_file_parses(path):
    program = load_program(str(path))
    assert program.root.blocks, "a block file defines blocks"
    assert not program.root.networks, "networks belong in networks/, not networks/blocks/"


def test_alexnet_two_towers_loads():
    G = load(str(NETWORKS / "alexnet.net"), defines={"towers": 2})
    lint(G)
    assert G.nodes["conv2"]["args"]["groups"] == 2
    assert G.nodes["conv3"]["args"]["groups"] == 1


def test_resnet_paper_stride_placement():
    # paper: stride on the first 1x1 of a bottleneck; torchvision v1.5: on the 3x3.
    paper = load(str(NETWORKS / "resnet50.net"))
    tv = load(str(NETWORKS / "torchvision/resnet50.net"))
    assert paper.nodes["conv3_x.0.conv1"]["args"]["stride"] == (2, 2)
    assert paper.nodes["conv3_x.0.conv2"]["args"]["stride"] == (1, 1)
    assert tv.nodes["layer2.0.conv1"]["args"]["stride"] == (1, 1)
    assert tv.nodes["layer2.0.conv2"]["args"]["stride"] == (2, 2)


# ---------------------------------------------------------- torchvision names
# Module paths as they appear in torchvision's state_dict keys.
EXPECTED_NAMES = {
    "alexnet": [
        "features.0",
        "features.10",
        "avgpool",
        "classifier.1",
        "classifier.4",
        "classifier.6",
    ],
    "vgg16": ["features.0", "features.28", "features.30", "classifier.0", "classifier.6"],
    "vgg16_bn": ["features.0", "features.1", "features.41", "features.43", "classifier.6"],
    "vgg11": ["features.18", "features.20", "classifier.6"],
    "vgg19_bn": ["features.49", "features.52", "classifier.6"],
    "resnet18": [
        "conv1",
        "bn1",
        "layer1.0.conv1",
        "layer1.1.bn2",
        "layer2.0.downsample.0",
        "layer2.0.downsample.1",
        "layer4.1.conv2",
        "fc",
    ],
    "resnet50": [
        "conv1",
        "layer1.0.downsample.0",
        "layer3.5.conv3",
        "layer4.2.conv3",
        "layer4.2.bn3",
        "fc",
    ],
    "resnet101": ["layer3.22.conv3", "layer4.0.downsample.1"],
    "resnet152": ["layer2.7.bn3", "layer3.35.conv3"],
    "googlenet": [
        "conv1.conv",
        "conv1.bn",
        "conv3.conv",
        "inception3a.branch1.conv",
        "inception3a.branch2.1.conv",
        "inception4e.branch3.1.bn",
        "inception5b.branch4.1.conv",
        "aux1.conv.conv",
        "aux1.fc1",
        "aux2.fc2",
        "fc",
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_torchvision_names(name):
    G = load(str(NETWORKS / "torchvision" / f"{name}.net"))
    missing = [n for n in EXPECTED_NAMES[name] if n not in G]
    assert not missing


def test_torchvision_absent_names():
    # Only shape-changing blocks get a downsample; layer1 of a BasicBlock net has none.
    G = load(str(NETWORKS / "torchvision/resnet18.net"))
    assert not [n for n in G if n.startswith("layer1.") and "downsample" in n]
    G = load(str(NETWORKS / "torchvision/vgg16.net"))
    assert "features.31" not in G and "classifier.7" not in G


def _torchvision_model(name: str, size: int = 224):
    """torchvision's model on the meta device, its state-owning modules with
    their parameter counts, and the output shape of every leaf module."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    kwargs = {"weights": None}
    if name == "googlenet":
        kwargs.update(aux_logits=True, init_weights=False)
    with torch.device("meta"):
        model = torchvision.models.get_model(name, **kwargs)
    owners = {key.rpartition(".")[0] for key in model.state_dict()}
    modules = dict(model.named_modules())
    counts = {m: sum(p.numel() for p in modules[m].parameters(recurse=False)) for m in owners}
    shapes = {}
    for path in owners:
        modules[path].register_forward_hook(
            lambda mod, args, out, path=path: shapes.__setitem__(path, list(out.shape[1:]))
        )
    model.train()  # so GoogLeNet runs its aux heads
    model(torch.empty(2, 3, size, size, device="meta"))
    return counts, shapes


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_mirror(name):
    """Same parameter-owning modules, same names, same parameter counts and
    output shapes as torchvision.models.<name>."""
    G = load(str(NETWORKS / "torchvision" / f"{name}.net"))
    (image,) = G.graph["inputs"].values()
    counts, shapes = _torchvision_model(name, G.nodes[image]["shape"][-1])
    rows = {r["name"]: r for r in analyse(G)["layers"]}
    ours = {n: r["params"] for n, r in rows.items() if r["params"] or r["buffers"]}
    assert set(ours) == set(counts)
    assert ours == counts
    assert {n: rows[n]["output_shape"] for n in shapes} == shapes


KAIMING = {"fn": "kaiming_normal", "args": {"a": 0.0, "mode": "fan_out", "nonlinearity": "relu"}}
TRUNC = {"fn": "trunc_normal", "args": {"mean": 0, "std": 0.01, "a": -2, "b": 2}}
ZERO, ONE = {"fn": "constant", "args": {"value": 0.0}}, {"fn": "constant", "args": {"value": 1.0}}
BN_RULE = {"weight": ONE, "bias": ZERO}


def _expected_init(name: str) -> dict:
    """torchvision's own initialisation code, per model family."""
    if name == "alexnet":  # AlexNet.__init__ initialises nothing itself
        return {}
    if name == "googlenet":  # GoogLeNet._initialize_weights
        return {"conv": {"weight": TRUNC}, "linear": {"weight": TRUNC}, "batchnorm": BN_RULE}
    if name.startswith("vgg"):  # VGG._initialize_weights
        return {
            "conv": {"weight": KAIMING, "bias": ZERO},
            "batchnorm": BN_RULE,
            "linear": {"weight": {"fn": "normal", "args": {"mean": 0, "std": 0.01}}, "bias": ZERO},
        }
    if name.startswith("densenet"):  # DenseNet.__init__: kaiming_normal_ with its defaults
        default = {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"}
        return {
            "conv": {"weight": {"fn": "kaiming_normal", "args": default}},
            "batchnorm": BN_RULE,
            "linear": {"bias": ZERO},
        }
    if name.startswith("squeezenet"):  # SqueezeNet.__init__ (but for its final_conv)
        default = {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"}
        return {"conv": {"weight": {"fn": "kaiming_uniform", "args": default}, "bias": ZERO}}
    if name.startswith("mobilenet"):  # MobileNetV2/V3.__init__: kaiming_normal_(fan_out)
        fan_out = {"a": 0.0, "mode": "fan_out", "nonlinearity": "leaky_relu"}
        return {
            "conv": {"weight": {"fn": "kaiming_normal", "args": fan_out}, "bias": ZERO},
            "batchnorm": BN_RULE,
            "linear": {"weight": {"fn": "normal", "args": {"mean": 0, "std": 0.01}}, "bias": ZERO},
        }
    if name.startswith("efficientnet"):  # EfficientNet.__init__: uniform(+-1/sqrt(out))
        fan_out = {"a": 0.0, "mode": "fan_out", "nonlinearity": "leaky_relu"}
        bound = 1 / 1000**0.5
        uniform = {"fn": "uniform", "args": {"a": -bound, "b": bound}}
        return {
            "conv": {"weight": {"fn": "kaiming_normal", "args": fan_out}, "bias": ZERO},
            "batchnorm": BN_RULE,
            "linear": {"weight": uniform, "bias": ZERO},
        }
    return {"conv": {"weight": KAIMING}, "batchnorm": BN_RULE}  # ResNet.__init__


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_init_rules(name):
    G = load(str(NETWORKS / "torchvision" / f"{name}.net"))
    rules = {
        r["op"]: {k: v for k, v in r.items() if k in ("weight", "bias")} for r in G.graph["init"]
    }
    assert rules == _expected_init(name)
