"""What the zoo tests know about torchvision: how to build each model, how to give it
weights that prove something, and its published and measured figures.

Every figure here comes from torchvision and torch, never from netdsl.
"""

from __future__ import annotations

import math

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

# Builder arguments that make torchvision's module match the mirror (the mirrors keep the
# training-only auxiliary heads, as torchvision does when it trains them).
TV_KWARGS: dict[str, dict] = {
    "googlenet": {"aux_logits": True, "init_weights": True},
    "inception_v3": {"aux_logits": True, "init_weights": True},
}


def randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Random weights with sensible scales, and random batch-norm statistics and affine
    parameters: at default init a batch norm is an identity and proves nothing."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                fan_in = p[0].numel()
                p.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
            elif name.endswith("weight"):  # norm scales
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


def build(name: str, device: str = "meta") -> torch.nn.Module:
    """torchvision's model, on `device` (meta: free; cpu: random weights, eval mode)."""
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(weights=None, **TV_KWARGS.get(name, {}))
    if device != "meta":
        model = model.to_empty(device=device)
        randomise(model)
    return model.eval()


def weights(name: str):
    return torchvision.models.get_model_weights(name).DEFAULT


def crop_size(name: str) -> int:
    """The eval crop size of the default weights (the input the published figures use)."""
    size = weights(name).transforms().crop_size
    return size[0] if isinstance(size, (list, tuple)) else size


def published_params(name: str) -> int:
    return weights(name).meta["num_params"]


def counted_params(name: str) -> int:
    return sum(p.numel() for p in build(name).parameters())


def eval_macs(name: str, size: int | None = None) -> int:
    """MACs of the eval forward at batch 1, as FlopCounterMode counts them (FLOPs / 2)."""
    size = size or crop_size(name)
    model = build(name)
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, size, size))
    return counter.get_total_flops() // 2
