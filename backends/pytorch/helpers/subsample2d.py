"""Subsample2d: LeNet-5's trainable subsampling.

A real module so that ruff and pytest see it; the PyTorch backend pastes the class
below the imports into every generated file that uses it (see helpers/__init__.py).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class Subsample2d(nn.Module):
    """LeNet-5's trainable subsampling: each map's window sum, times one weight,
    plus one bias."""

    def __init__(self, channels, kernel_size=2, stride=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self):
        kh, kw = (
            (self.kernel_size, self.kernel_size)
            if isinstance(self.kernel_size, int)
            else self.kernel_size
        )
        bound = 1 / (kh * kw) ** 0.5
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        x = F.avg_pool2d(x, self.kernel_size, self.stride, divisor_override=1)
        return x * self.weight[:, None, None] + self.bias[:, None, None]
