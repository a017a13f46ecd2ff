"""Parameters and MACs of every torchvision mirror, from torchvision and torch:
parameters equal the weights' published `num_params` (or, for mirrors that keep a
training-only head, torchvision's module built the same way), and MACs of the eval
forward at the weights' crop size equal FlopCounterMode's FLOPs / 2."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import zoo  # noqa: E402

from netdsl.api import load  # noqa: E402
from netdsl.stats import analyse  # noqa: E402

NETWORKS = Path(__file__).resolve().parent.parent / "networks" / "torchvision"
NAMES = sorted(p.stem for p in NETWORKS.glob("*.net"))


def totals(name: str) -> dict:
    return analyse(load(str(NETWORKS / f"{name}.net")))["totals"]


@pytest.mark.parametrize("name", NAMES)
def test_params(name):
    ours = totals(name)["params"]
    assert ours == zoo.counted_params(name)
    if name not in zoo.TV_KWARGS:
        assert ours == zoo.published_params(name)


@pytest.mark.parametrize("name", NAMES)
def test_eval_macs_at_crop_size(name):
    G = load(str(NETWORKS / f"{name}.net"))
    size = zoo.crop_size(name)
    (node,) = G.graph["inputs"].values()
    assert tuple(G.nodes[node]["shape"])[-2:] == (size, size), "declare the crop size as input"
    assert analyse(G)["totals"]["macs"] == zoo.eval_macs(name, size)


def test_training_forward_adds_the_aux_heads():
    # torchvision's GoogLeNet in train mode runs aux1 and aux2 too (FlopCounterMode).
    model = zoo.build("googlenet").train()
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 224, 224))
    assert totals("googlenet")["train_macs"] == counter.get_total_flops() // 2
