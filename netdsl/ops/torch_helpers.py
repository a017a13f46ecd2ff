"""PyTorch spelling utilities, and the source of helper modules PyTorch lacks.

HELPERS maps a helper class name to its complete source, formatted as ruff
format does at its default line length (88), like all generated code. The
PyTorch backend pastes the source of every helper a network uses into the
generated file, which imports `torch`, `torch.nn as nn` and
`torch.nn.functional as F`; the source relies on nothing else. It is a string
here so that netdsl never imports torch.
"""

from __future__ import annotations

from typing import Any

from netdsl.ops.base import TorchArg

CONNECTION_TABLE_CONV2D = '''\
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
        kh, kw = (
            (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        )
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
'''

SUBSAMPLE2D = '''\
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
'''

HELPERS: dict[str, str] = {
    "ConnectionTableConv2d": CONNECTION_TABLE_CONV2D,
    "Subsample2d": SUBSAMPLE2D,
}


def compact(pair: tuple[int, int]) -> int | tuple[int, int]:
    """A pair as PyTorch code spells it: `3` rather than `(3, 3)`."""
    return pair[0] if pair[0] == pair[1] else pair


def keywords(args: dict, spec: list[tuple[str, str, Any]]) -> list[TorchArg]:
    """Keyword TorchArgs for the DSL args whose value differs from PyTorch's default.

    spec: (DSL arg name, PyTorch keyword, PyTorch's default). Pairs are compacted.
    """
    out = []
    for name, keyword, default in spec:
        value = args[name]
        if isinstance(value, tuple):
            value = compact(value)
        if value == default:
            continue
        out.append(TorchArg(keyword, value, f"arg:{name}"))
    return out
