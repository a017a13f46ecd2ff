"""The registry against real PyTorch: shapes, parameter and buffer counts, errors.

For every point of a grid the op is built twice: straight from the raw values
(PyTorch's own verdict) and from the registry's spelling. Both must agree with
the registry on the output shape, the counts, and on whether it is an error.
"""

from __future__ import annotations

import itertools

import pytest
from netdsl.backends.pytorch.helpers import HELPERS
from netdsl.backends.pytorch.spelling import SPELLING, TorchModule

from netdsl.ops import OPS, get_op
from netdsl.ops.base import OpError

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

ERROR = "error"

# PyTorch warns that an even kernel with padding="same" pads a copy; expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


def build(module: TorchModule):
    if module.cls.startswith("nn."):
        cls = getattr(nn, module.cls.split(".")[-1])
    else:
        namespace = {"torch": torch, "nn": nn, "F": F}
        for name in module.helpers:
            exec(HELPERS[name], namespace)
        cls = namespace[module.cls]
    positional = [a.value for a in module.args if a.keyword is None]
    keyword = {a.keyword: a.value for a in module.args if a.keyword is not None}
    return cls(*positional, **keyword)


def measure(make, shape):
    """(output shape, params, buffers) of a module, or ERROR if PyTorch refuses it."""
    try:
        module = make()
        with torch.no_grad():
            out = module.eval()(torch.zeros(2, *shape))
    except (RuntimeError, ValueError):
        return ERROR
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for b in module.buffers())
    return tuple(out.shape[1:]), params, buffers


def registry(name, shape, positional, keyword):
    """What the registry says, and its PyTorch spelling (None on an error)."""
    op = get_op(name)
    try:
        args = op.bind(list(positional), keyword)
        out = op.shape(args, [shape])
    except OpError:
        return ERROR, None
    cost = op.cost(args, [shape], out)
    return (out, cost.params, cost.buffers), SPELLING[op.name].module(args, [shape])


def compare(name, shape, positional, keyword, direct) -> str | None:
    said, module = registry(name, shape, positional, keyword)
    truth = measure(direct, shape)
    if said != truth:
        return f"{name}{tuple(positional)} {keyword} on {shape}: registry {said}, torch {truth}"
    if module is not None and measure(lambda: build(module), shape) != truth:
        return f"{name}{tuple(positional)} {keyword} on {shape}: spelling {module} differs"
    return None


def check_all(cases):
    torch.manual_seed(0)
    failures = [f for f in (compare(*case) for case in cases) if f]
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} mismatches)"


SIZES = [(1, 1), (2, 2), (3, 3), (4, 5), (5, 5), (7, 6), (8, 8)]


def test_conv_grid():
    cases = []
    grid = itertools.product(
        [1, 4],  # in-channels
        [(3, 3), (4, 5), (5, 5), (8, 8), (1, 1)],
        [1, 2, 3, (2, 3), 5],  # kernel
        [1, 2, 3],  # stride
        [0, 1, (2, 0), "same"],  # pad
        [1, 2],  # dilation
        [1, 2],  # groups
    )
    for c, (h, w), k, s, p, d, g in grid:
        keyword = {"stride": s, "pad": p, "dilation": d, "groups": g, "bias": (h + w) % 2 == 0}

        def direct(c=c, k=k, s=s, p=p, d=d, g=g, bias=keyword["bias"]):
            return nn.Conv2d(c, 4, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)

        cases.append(("conv", (c, h, w), [4, k], keyword, direct))
    check_all(cases)


@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
def test_pool_grid(kind):
    cases = []
    grid = itertools.product(SIZES, [1, 2, 3, (2, 3)], [None, 1, 2, 3], [0, 1, 2], [1, 2])
    for (h, w), k, s, p, extra in grid:
        for ceil in (False, True):
            keyword = {"stride": s, "pad": p, "ceil_mode": ceil}
            if kind == "maxpool":
                keyword["dilation"] = extra

                def direct(k=k, s=s, p=p, d=extra, ceil=ceil):
                    return nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
            else:
                keyword["count_include_pad"] = extra == 1

                def direct(k=k, s=s, p=p, ceil=ceil, inc=extra == 1):
                    return nn.AvgPool2d(k, s, p, ceil_mode=ceil, count_include_pad=inc)

            cases.append((kind, (3, h, w), [k], keyword, direct))
    check_all(cases)


def test_subsample_and_adaptive_grid():
    cases = []
    for (h, w), k, s in itertools.product(SIZES, [1, 2, 3, (2, 3)], [None, 1, 2]):
        ks = (k, k) if isinstance(k, int) else k
        ss = ks if s is None else (s, s)

        def direct(ks=ks, ss=ss):
            # The LeNet unit by hand: a grouped window-sum (a 1-weight conv) plus a bias.
            return _Reference(ks, ss)

        cases.append(("subsample", (3, h, w), [k], {"stride": s}, direct))
    for (h, w), size in itertools.product(SIZES, [1, 2, (3, 6), 7]):
        cases.append(
            (
                "adaptive_avgpool",
                (2, h, w),
                [size],
                {},
                lambda size=size: nn.AdaptiveAvgPool2d(size),
            )
        )
        cases.append(("global_avgpool", (2, h, w), [], {}, lambda: nn.AdaptiveAvgPool2d(1)))
        cases.append(("global_maxpool", (2, h, w), [], {}, lambda: nn.AdaptiveMaxPool2d(1)))
    check_all(cases)


class _Reference(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3))
        self.bias = nn.Parameter(torch.zeros(3))
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        ones = torch.ones(3, 1, *self.kernel)
        summed = F.conv2d(x, ones, stride=self.stride, groups=3)
        return summed * self.weight[:, None, None] + self.bias[:, None, None]


def test_other_ops():
    cases = [
        ("linear", (120,), [84], {}, lambda: nn.Linear(120, 84)),
        ("linear", (120,), [84], {"bias": False}, lambda: nn.Linear(120, 84, bias=False)),
        ("linear", (3, 4, 4), [84], {}, lambda: nn.Linear(4, 84)),  # would be a different op
        ("flatten", (3, 4, 5), [], {}, nn.Flatten),
        ("dropout", (3, 4, 5), [0.2], {}, lambda: nn.Dropout(0.2)),
        ("relu", (7,), [], {}, nn.ReLU),
        ("tanh", (3, 2, 2), [], {}, nn.Tanh),
        ("sigmoid", (3, 2, 2), [], {}, nn.Sigmoid),
        ("leaky_relu", (3, 2, 2), [0.1], {}, lambda: nn.LeakyReLU(0.1)),
        ("relu6", (3, 2, 2), [], {}, nn.ReLU6),
        ("silu", (5,), [], {}, nn.SiLU),
        ("hardswish", (3, 2, 2), [], {}, nn.Hardswish),
        ("hardsigmoid", (3, 2, 2), [], {}, nn.Hardsigmoid),
        ("gelu", (4, 7), [], {}, nn.GELU),
        ("gelu", (3, 2, 2), ["tanh"], {}, lambda: nn.GELU(approximate="tanh")),
        ("gelu", (3, 2, 2), ["erf"], {}, lambda: nn.GELU(approximate="erf")),
        ("softmax", (10,), [], {}, lambda: nn.Softmax(1)),
        ("lrn", (8, 5, 5), [3], {"k": 1}, lambda: nn.LocalResponseNorm(3)),
        ("lrn", (8,), [], {}, lambda: nn.LocalResponseNorm(5)),
        ("batchnorm", (8, 5, 5), [], {}, lambda: nn.BatchNorm2d(8)),
        ("batchnorm", (8,), [], {"affine": False}, lambda: nn.BatchNorm1d(8, affine=False)),
        ("batchnorm", (8, 6), [], {"eps": 1e-3}, lambda: nn.BatchNorm1d(8, eps=1e-3)),
    ]
    # The registry refuses linear on a CxHxW input although PyTorch would apply it
    # to the last dim; drop that case from the agreement check, keep the rest.
    said, _ = registry("linear", (3, 4, 4), [84], {})
    assert said == ERROR
    check_all([c for c in cases if c[1] != (3, 4, 4)])


LENET_TABLE = (
    [[i % 6, (i + 1) % 6, (i + 2) % 6] for i in range(6)]
    + [[i % 6, (i + 1) % 6, (i + 2) % 6, (i + 3) % 6] for i in range(6)]
    + [[0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5]]
    + [[0, 1, 2, 3, 4, 5]]
)


def test_lenet_connection_table_is_a_sparse_conv():
    op = get_op("conv")
    args = op.bind([16, 5], {"table": LENET_TABLE})
    module = build(SPELLING[op.name].module(args, [(6, 14, 14)]))
    assert sum(p.numel() for p in module.parameters()) == 1516
    x = torch.randn(2, 6, 14, 14)
    # The same maps from a dense conv whose weights are zero off the table.
    dense = torch.zeros(16, 6, 5, 5)
    for i, entry in enumerate(LENET_TABLE):
        dense[i, entry] = module.weight[i][0].detach()
    with torch.no_grad():
        expected = F.conv2d(x, dense, module.bias)
        assert torch.allclose(module(x), expected, atol=1e-5)
    assert module(x).shape == (2, *op.shape(args, [(6, 14, 14)]))


def test_subsample_helper_sums_windows():
    op = get_op("subsample")
    module = build(SPELLING[op.name].module(op.bind([], {}), [(2, 4, 4)]))
    with torch.no_grad():
        module.weight.copy_(torch.tensor([1.0, 2.0]))
        module.bias.copy_(torch.tensor([0.0, 0.5]))
        y = module(torch.ones(1, 2, 4, 4))
    assert y[0, 0].tolist() == [[4.0, 4.0], [4.0, 4.0]]
    assert y[0, 1].tolist() == [[8.5, 8.5], [8.5, 8.5]]


def test_merge_expressions():
    a, b, c = torch.zeros(2, 4, 5, 5), torch.zeros(2, 6, 5, 5), torch.zeros(2, 6, 3, 3)
    gate, row, col = torch.zeros(2, 6, 1, 1), torch.zeros(2, 1, 5, 1), torch.zeros(2, 6, 1, 3)
    cases = [("concat", [a, b]), ("concat", [a, c]), ("add", [b, b]), ("add", [a, b])]
    # Broadcasting: sizes of 1 stretch, other sizes must agree (as torch decides).
    for name in ("add", "mul"):
        cases += [(name, [b, gate]), (name, [gate, b]), (name, [row, gate]), (name, [c, gate])]
        cases += [(name, [b, row, gate]), (name, [c, row]), (name, [col, c]), (name, [a, gate])]
    for name, tensors in cases:
        names = [f"x{i}" for i in range(len(tensors))]
        op = get_op(name)
        try:
            said = op.shape({}, [tuple(t.shape[1:]) for t in tensors])
        except OpError:
            said = ERROR
        scope = {"torch": torch, **dict(zip(names, tensors, strict=True))}
        try:
            got = tuple(eval(SPELLING[op.name].expr({}, names), scope).shape[1:])
        except RuntimeError:
            got = ERROR
        assert said == got, (name, said, got)


@pytest.mark.parametrize(
    "name, positional, reference",
    [
        ("relu6", [], F.relu6),
        ("silu", [], F.silu),
        ("hardswish", [], F.hardswish),
        ("hardsigmoid", [], F.hardsigmoid),
        ("gelu", [], F.gelu),
        ("gelu", ["tanh"], lambda x: F.gelu(x, approximate="tanh")),
    ],
)
def test_activation_values(name, positional, reference):
    # Inputs well past the kinks (relu6 clips at 6, the hard ones saturate at +-3).
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * 8
    op = get_op(name)
    module = build(SPELLING[name].module(op.bind(positional, {}), [(3, 4, 4)]))
    expected = reference(x.clone())
    assert (x.abs() > 6).any()
    assert torch.allclose(module(x.clone()), expected, atol=1e-6)


def test_every_op_is_covered():
    covered = {
        "conv", "maxpool", "avgpool", "subsample", "adaptive_avgpool", "global_avgpool",
        "global_maxpool", "linear", "flatten", "dropout", "relu", "tanh", "sigmoid",
        "leaky_relu", "softmax", "lrn", "batchnorm", "concat", "add",
        "relu6", "silu", "hardswish", "hardsigmoid", "gelu", "mul", "stochastic_depth",
    }  # fmt: skip
    assert set(OPS) == covered


def test_lrn_conversion_from_the_alexnet_paper():
    # docs/ops.md: the paper's alpha=1e-4 (not divided by n=5) is lrn(5, alpha=5e-4).
    op = get_op("lrn")
    module = build(SPELLING[op.name].module(op.bind([5], {"alpha": 5e-4, "k": 2}), [(10, 3, 3)]))
    x = torch.randn(1, 10, 3, 3) * 30
    squares = torch.stack([(x[:, max(0, c - 2) : c + 3] ** 2).sum(1) for c in range(10)], 1)
    assert torch.allclose(module(x), x / (2 + 1e-4 * squares) ** 0.75, rtol=1e-4)


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_stochastic_depth_is_torchvisions(mode, p):
    torchvision = pytest.importorskip("torchvision")
    op = get_op("stochastic_depth")
    ours = build(SPELLING[op.name].module(op.bind([p, mode], {}), [(3, 4, 4)]))
    theirs = torchvision.ops.StochasticDepth(p, mode)
    x = torch.randn(16, 3, 4, 4)
    for train in (True, False):
        ours.train(train)
        theirs.train(train)
        torch.manual_seed(5)
        expected = theirs(x)
        torch.manual_seed(5)
        assert torch.equal(ours(x), expected)
    assert torch.equal(ours.eval()(x), x)  # the identity in eval
