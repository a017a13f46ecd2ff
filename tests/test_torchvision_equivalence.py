"""The generated code of every torchvision mirror (networks/torchvision/) is
torchvision's model: the same state_dict keys, shapes and buffers, torchvision's
weights load with strict=True, and eval-mode outputs agree.

Both models are built on the meta device (initialisation is the slow part and is
irrelevant here), torchvision's is given random weights with sensible scales, and
ours loads its state_dict, which defines every parameter and buffer.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

NETWORKS = Path(__file__).resolve().parent.parent / "networks" / "torchvision"
NAMES = sorted(p.stem for p in NETWORKS.glob("*.net"))


def randomise(model) -> None:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                fan_in = p[0].numel()
                p.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
            elif name.endswith("weight"):  # batch norm scale
                p.uniform_(0.5, 1.5, generator=gen)
            else:
                p.uniform_(-0.1, 0.1, generator=gen)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.uniform_(-0.1, 0.1, generator=gen)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5, generator=gen)
            elif name.endswith("num_batches_tracked"):
                b.fill_(7)


def torchvision_model(name: str):
    kwargs = {"aux_logits": True, "init_weights": True} if name == "googlenet" else {}
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(weights=None, **kwargs)
    model = model.to_empty(device="cpu")
    randomise(model)
    return model.eval()


@pytest.mark.parametrize("name", NAMES)
def test_same_model_as_torchvision(name, pytorch_module):
    G, source, module, _ = pytorch_module(NETWORKS / f"{name}.net")
    reference = torchvision_model(name)
    with torch.device("meta"):
        ours = module.create_model()
    ours = ours.to_empty(device="cpu").eval()

    theirs_sd = reference.state_dict()
    ours_sd = ours.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for key, value in theirs_sd.items():
        assert ours_sd[key].shape == value.shape, key
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in reference.named_buffers()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in reference.named_parameters()]

    ours.load_state_dict(theirs_sd, strict=True)
    # Every layer is exercised at 128x128 too (the heads pool adaptively), in less time.
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expect = reference(x)
        got = ours(x)
    assert got.shape == expect.shape
    assert torch.allclose(got, expect, rtol=1e-5, atol=1e-5), (got - expect).abs().max()
