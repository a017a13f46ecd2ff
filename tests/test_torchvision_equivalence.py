"""The generated code of every torchvision mirror (networks/torchvision/) is
torchvision's model: the same state_dict keys, shapes and buffers, torchvision's
weights load with strict=True, and eval-mode outputs agree.

Strict loading is checked for every mirror on the meta device (free, whatever the
model's size). Output equality, which needs real weights, runs in the suite for the
models in OUTPUTS (at least one per family); `benchmarks/zoo_outputs.py` runs it for
all of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import zoo  # noqa: E402  (tests/zoo.py: needs torch)

NETWORKS = Path(__file__).resolve().parent.parent / "networks" / "torchvision"
NAMES = sorted(p.stem for p in NETWORKS.glob("*.net"))

# Output equality in the suite: one or two models per family (the script checks all).
OUTPUTS = {
    "alexnet",
    "densenet121",
    "efficientnet_b0",
    "googlenet",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
    "squeezenet1_0",
    "vgg11",
    "vgg11_bn",
}


@pytest.mark.parametrize("name", NAMES)
def test_strict_load_on_meta(name, pytorch_module):
    _, _, module, _ = pytorch_module(NETWORKS / f"{name}.net")
    reference = zoo.build(name)
    with torch.device("meta"):
        ours = module.create_model().eval()
    theirs_sd = reference.state_dict()
    ours_sd = ours.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for key, value in theirs_sd.items():
        assert ours_sd[key].shape == value.shape, key
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in reference.named_buffers()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in reference.named_parameters()]
    ours.load_state_dict(theirs_sd, strict=True, assign=True)


def outputs_agree(module, name: str, size: int = 128, batch: int = 2) -> float:
    """Largest absolute difference of eval outputs with torchvision's randomised weights."""
    reference = zoo.build(name, device="cpu")
    with torch.device("meta"):
        ours = module.create_model()
    ours = ours.to_empty(device="cpu").eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expect = reference(x)
        got = ours(x)
    assert got.shape == expect.shape
    return (got - expect).abs().max().item()


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_outputs_equal_torchvision(name, pytorch_module):
    assert name in NAMES
    _, _, module, _ = pytorch_module(NETWORKS / f"{name}.net")
    # 128x128 exercises every layer (the heads pool adaptively) in less time.
    assert outputs_agree(module, name) <= 1e-5
