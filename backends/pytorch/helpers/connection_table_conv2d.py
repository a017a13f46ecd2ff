"""ConnectionTableConv2d: LeNet-5's partially connected convolution.

A real module so that ruff and pytest see it; the PyTorch backend pastes the class
below the imports into every generated file that uses it (see helpers/__init__.py).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConnectionTableConv2d(nn.Module):
    """A convolution where output map i sees only the input maps listed in table[i].

    LeNet-5's C3 layer. One weight tensor per output map, so the parameter count
    is exactly the connections that exist (no masked dense weight).
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        table,
        stride=1,
        padding=0,
        dilation=1,
        bias=True,
    ):
        super().__init__()
        if len(table) != out_channels:
            raise ValueError(f"table has {len(table)} entries, expected {out_channels}")
        if any(not 0 <= i < in_channels for entry in table for i in entry):
            raise ValueError(f"table indices must lie in [0, {in_channels})")
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.table = [list(entry) for entry in table]
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.weight = nn.ParameterList(
            nn.Parameter(torch.empty(1, len(entry), kh, kw)) for entry in self.table
        )
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        # As nn.Conv2d does, with each map's own fan-in.
        for i, weight in enumerate(self.weight):
            nn.init.kaiming_uniform_(weight, a=5**0.5)
            if self.bias is not None:
                bound = 1 / weight[0].numel() ** 0.5
                nn.init.uniform_(self.bias[i : i + 1], -bound, bound)

    def forward(self, x):
        maps = [
            F.conv2d(
                x[:, entry],
                self.weight[i],
                None if self.bias is None else self.bias[i : i + 1],
                self.stride,
                self.padding,
                self.dilation,
            )
            for i, entry in enumerate(self.table)
        ]
        return torch.cat(maps, 1)
