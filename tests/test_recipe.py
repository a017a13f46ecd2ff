"""Training recipes: the `train { ... }` section (netdsl.recipe) and the papers' defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdsl.api import load
from netdsl.diagnostics import NetdslError
from netdsl.recipe import family, resolve

ROOT = Path(__file__).resolve().parent.parent


def net(tmp_path, train: str, name: str = "N", where: str = "network") -> str:
    path = tmp_path / "n.net"
    body = f"train {{\n{train}\n}}"
    if where == "block":
        text = (
            f"block B() {{\n{body}\nout in -> relu\n}}\n"
            f"network {name} {{ input x: 3x8x8\n out y = x -> B -> flatten -> linear(2) }}"
        )
    else:
        text = (
            f"network {name}(classes=2) {{\n input x: 3x8x8\n{body}\n"
            " out y = x -> flatten -> linear(classes) }"
        )
    path.write_text(text)
    return str(path)


def error(path: str):
    with pytest.raises(NetdslError) as exc:
        load(path)
    return exc.value.diagnostics[0]


def test_a_section_becomes_data_in_the_ir(tmp_path):
    G = load(
        net(
            tmp_path,
            """
        optimizer = adamw(lr=3e-4, weight_decay=0.05)
        schedule = cosine(warmup=5)
        augment = [random_resized_crop(8), flip, color_jitter(brightness=0.2)]
        epochs = 300; batch = 1024
        label_smoothing = 0.1
        warm_start = "features.*"
    """,
        )
    )
    t = G.graph["train"]
    assert t["optimizer"] == {
        "name": "adamw",
        "lr": 3e-4,
        "betas": (0.9, 0.999),
        "weight_decay": 0.05,
    }
    assert t["schedule"] == {"name": "cosine", "warmup": 5}
    assert [a["name"] for a in t["augment"]] == ["random_resized_crop", "flip", "color_jitter"]
    assert t["augment"][2]["brightness"] == 0.2 and t["augment"][2]["hue"] == 0.0
    assert t["epochs"] == 300 and t["batch"] == 1024 and t["label_smoothing"] == 0.1
    assert t["warm_start"] == ["features.*"]


def test_values_are_expressions_over_the_network_parameters(tmp_path):
    G = load(net(tmp_path, "optimizer = sgd(lr=0.1 * 512 / 256)\nbatch = classes * 64"))
    assert G.graph["train"]["optimizer"]["lr"] == pytest.approx(0.2)
    assert G.graph["train"]["batch"] == 128


def test_a_variable_wins_over_a_term_name(tmp_path):
    path = tmp_path / "v.net"
    path.write_text(
        "network V {\n input x: 3x8x8\n flip = 3\n train { epochs = flip }\n"
        " out y = x -> flatten -> linear(2) }"
    )
    assert load(str(path)).graph["train"]["epochs"] == 3


@pytest.mark.parametrize(
    "train, code, message, hint",
    [
        (
            "optimiser = sgd(lr=0.1)",
            "E901",
            "unknown training setting 'optimiser'",
            "did you mean 'optimizer'?",
        ),
        ("optimizer = sgdd(lr=0.1)", "E902", "unknown optimizer 'sgdd'", "did you mean 'sgd'?"),
        ("optimizer = sgd(momentum=0.9)", "E902", "sgd() needs 'lr'", None),
        (
            "optimizer = sgd(lr=0.1, moment=0.9)",
            "E902",
            "sgd() has no argument 'moment'",
            "did you mean 'momentum'?",
        ),
        ("optimizer = 0.1", "E902", "'optimizer' is one of: sgd, adam, adamw, rmsprop", None),
        ("epochs = 0", "E902", "'epochs' must be a positive integer, not 0", None),
        ("epochs = 2\nepochs = 3", "E904", "training setting 'epochs' given twice", None),
        ("schedule = step(every=-1)", "E902", "step(): bad value -1 for 'every'", None),
        ("warm_start = [1, 2]", "E902", "'warm_start' is a list of name patterns", None),
    ],
)
def test_mistakes_are_errors_with_a_position(tmp_path, train, code, message, hint):
    d = error(net(tmp_path, train))
    assert (d.code, d.message) == (code, message)
    assert d.span is not None and d.span.line >= 3
    if hint:
        assert d.hint == hint


def test_a_train_section_in_a_block_is_an_error(tmp_path):
    d = error(net(tmp_path, "epochs = 1", where="block"))
    assert d.code == "E905"


def test_two_train_sections_are_an_error(tmp_path):
    path = tmp_path / "two.net"
    path.write_text(
        "network T {\n input x: 3x8x8\n train { epochs = 1 }\n train { batch = 2 }\n"
        " out y = x -> flatten -> linear(2) }"
    )
    d = error(str(path))
    assert d.code == "E904" and d.span.line == 4


def test_syntax_error_inside_a_section(tmp_path):
    d = error(net(tmp_path, "epochs 3"))
    assert d.code == "E101"


@pytest.mark.parametrize(
    "name, fam",
    [
        ("AlexNet", "alexnet"),
        ("VGG16_BN", "vgg"),
        ("GoogLeNet", "googlenet"),
        ("ResNet50", "resnet"),
        ("LeNet5", None),
    ],
)
def test_families(name, fam):
    assert family(name) == fam


def test_family_defaults_fill_what_the_file_leaves_out():
    # the torchvision mirror has no train section: the paper's ResNet recipe applies
    G = load(str(ROOT / "networks/torchvision/resnet50.net"))
    assert "train" not in G.graph or not G.graph["train"]
    recipe, origin = resolve(G)
    assert recipe["optimizer"]["lr"] == 0.1 and recipe["optimizer"]["weight_decay"] == 1e-4
    assert origin["optimizer"] == "paper: resnet" and origin["label_smoothing"] == "default"


@pytest.mark.parametrize(
    "file, lr, decay, batch",
    [
        ("alexnet", 0.01, 5e-4, 128),
        ("vgg16", 0.01, 5e-4, 256),
        ("googlenet", 0.01, 2e-4, 32),
        ("resnet50", 0.1, 1e-4, 256),
        ("resnet18", 0.1, 1e-4, 256),
    ],
)
def test_seed_networks_state_their_papers_recipe(file, lr, decay, batch):
    G = load(str(ROOT / f"networks/{file}.net"))
    t = G.graph["train"]
    assert (t["optimizer"]["lr"], t["optimizer"]["weight_decay"], t["batch"]) == (lr, decay, batch)
    assert t["optimizer"]["momentum"] == 0.9


def test_vgg_deeper_configurations_warm_start_from_a():
    for n in ("vgg13", "vgg16", "vgg19"):
        assert load(str(ROOT / f"networks/{n}.net")).graph["train"]["warm_start"]
    assert "warm_start" not in load(str(ROOT / "networks/vgg11.net")).graph["train"]
