"""StochasticDepth: torchvision.ops.StochasticDepth, so generated code needs torch only.

A real module so that ruff and pytest see it; the PyTorch backend pastes the class
below the imports into every generated file that uses it (see helpers/__init__.py).
"""

import torch
import torch.nn as nn


class StochasticDepth(nn.Module):
    """Drops the residual branch it wraps with probability p during training, per
    sample ("row") or for the whole batch ("batch"); the identity in eval (Huang et
    al. 2016, as torchvision.ops.StochasticDepth)."""

    def __init__(self, p, mode):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"
