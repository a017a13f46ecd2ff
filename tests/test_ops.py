"""The op registry without torch: binding, shape rules, costs, spellings."""

from __future__ import annotations

import pytest
from netdsl.backends.pytorch.spelling import SPELLING

from netdsl.ops import OPS, get_op
from netdsl.ops.base import Cost, OpError, ShapeError
from netdsl.ops.pool import pool_size

LENET_TABLE = (
    [[i % 6, (i + 1) % 6, (i + 2) % 6] for i in range(6)]
    + [[i % 6, (i + 1) % 6, (i + 2) % 6, (i + 3) % 6] for i in range(6)]
    + [[0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5]]
    + [[0, 1, 2, 3, 4, 5]]
)


def run(name, shapes, *positional, **keyword):
    """Bind, infer the shape and cost; returns (output shape, Cost)."""
    op = get_op(name)
    args = op.bind(list(positional), keyword)
    out = op.shape(args, list(shapes))
    return out, op.cost(args, list(shapes), out)


def error(name, shapes=None, *positional, **keyword) -> OpError:
    with pytest.raises(OpError) as info:
        if shapes is None:
            get_op(name).bind(list(positional), keyword)
        else:
            run(name, shapes, *positional, **keyword)
    return info.value


# --- registry and binding ----------------------------------------------------


def test_registry_names():
    assert set(OPS) >= {"conv", "linear", "maxpool", "concat", "add", "subsample", "lrn"}
    for name, op in OPS.items():
        assert op.name == name


def test_unknown_op_suggests_a_name():
    err = error("maxpol")
    assert err.code == "E201" and "maxpool" in err.hint


def test_unknown_argument_did_you_mean():
    err = error("conv", None, 64, 3, strid=2)
    assert err.code == "E202" and err.arg == "strid"
    assert err.hint == "did you mean 'stride'?"


@pytest.mark.parametrize(
    "name, positional, keyword, code, arg",
    [
        ("conv", ["64", 3], {}, "E304", "filters"),
        ("conv", [64, 3.5], {}, "E304", "kernel"),
        ("conv", [64, (3, 3, 3)], {}, "E304", "kernel"),
        ("conv", [64, 3], {"bias": 1}, "E304", "bias"),
        ("conv", [64, 3], {"pad": "valid"}, "E304", "pad"),
        ("conv", [0, 3], {}, "E305", "filters"),
        ("conv", [64, 3], {"stride": 0}, "E305", "stride"),
        ("conv", [64, 3], {"stride": (1, 0)}, "E305", "stride"),
        ("conv", [64, 3], {"pad": -1}, "E305", "pad"),
        ("maxpool", [3], {"stride": 0}, "E305", "stride"),
        ("dropout", [1.5], {}, "E305", "p"),
        ("dropout", [-0.1], {}, "E305", "p"),
        ("batchnorm", [], {"momentum": 2}, "E305", "momentum"),
        ("conv", [64, 3], {"kernel": 3}, "E302", "kernel"),
    ],
)
def test_binding_errors(name, positional, keyword, code, arg):
    err = error(name, None, *positional, **keyword)
    assert (err.code, err.arg) == (code, arg)


def test_missing_and_surplus_arguments():
    assert error("conv", None, 64).code == "E303"
    assert error("relu", None, 1).code == "E301"


def test_defaults_are_normalised():
    args = get_op("conv").bind([64, 3], {})
    assert args == {
        "filters": 64,
        "kernel": (3, 3),
        "stride": (1, 1),
        "pad": (0, 0),
        "dilation": (1, 1),
        "groups": 1,
        "bias": True,
        "table": None,
    }
    assert get_op("conv").bind([64, (3, 5)], {"pad": "same"})["pad"] == "same"
    assert get_op("dropout").bind([1], {})["p"] == 1.0


@pytest.mark.parametrize(
    "name, positional, keyword, arg",
    [
        ("conv", [64, 3], {"stride": 2, "pad": "same"}, "pad"),
        ("conv", [64, 3], {"groups": 5}, "groups"),
        ("conv", [2, 5], {"table": [[0]]}, "table"),
        ("conv", [2, 5], {"table": [[0], [1]], "groups": 2}, "groups"),
        ("maxpool", [3], {"pad": 2}, "pad"),
        ("avgpool", [(4, 2)], {"pad": (2, 2)}, "pad"),
    ],
)
def test_argument_combinations(name, positional, keyword, arg):
    err = error(name, None, *positional, **keyword)
    assert (err.code, err.arg) == ("E307", arg)


@pytest.mark.parametrize("table", [[[0], []], [[0], [1, 1]], [[0], [-1]], [[0], 3]])
def test_malformed_connection_table(table):
    err = error("conv", None, 2, 5, table=table)
    assert (err.code, err.arg) == ("E320", "table")


# --- shape rules ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name, shape, positional, keyword, out",
    [
        ("conv", (3, 224, 224), [64, 11], {"stride": 4, "pad": 2}, (64, 55, 55)),  # AlexNet
        ("conv", (3, 224, 224), [64, 7], {"stride": 2, "pad": 3}, (64, 112, 112)),  # ResNet
        ("conv", (8, 7, 9), [4, (4, 2)], {"pad": "same"}, (4, 7, 9)),  # even kernel
        ("conv", (8, 7, 9), [4, 3], {"pad": "same", "dilation": 2}, (4, 7, 9)),
        ("conv", (8, 15, 15), [4, 3], {"dilation": 3, "stride": 2}, (4, 5, 5)),
        ("conv", (8, 5, 6), [16, (1, 3)], {"groups": 4, "pad": (0, 1)}, (16, 5, 6)),
        ("maxpool", (64, 55, 55), [3], {"stride": 2}, (64, 27, 27)),
        ("maxpool", (64, 112, 112), [3], {"stride": 2, "ceil_mode": True}, (64, 56, 56)),
        ("maxpool", (64, 14, 14), [2], {}, (64, 7, 7)),
        ("maxpool", (1, 5, 5), [2], {"pad": 1, "ceil_mode": True}, (1, 3, 3)),
        ("maxpool", (1, 2, 2), [3], {"stride": 2, "ceil_mode": True}, (1, 1, 1)),
        ("avgpool", (1, 7, 7), [3], {"stride": 2, "pad": 1}, (1, 4, 4)),
        ("adaptive_avgpool", (256, 13, 13), [6], {}, (256, 6, 6)),
        ("global_avgpool", (2048, 7, 7), [], {}, (2048, 1, 1)),
        ("global_maxpool", (512, 3, 5), [], {}, (512, 1, 1)),
        ("subsample", (6, 28, 28), [], {}, (6, 14, 14)),
        ("subsample", (6, 7, 7), [3], {"stride": 2}, (6, 3, 3)),
        ("flatten", (256, 6, 6), [], {}, (9216,)),
        ("linear", (9216,), [4096], {}, (4096,)),
        ("batchnorm", (64, 8, 8), [], {}, (64, 8, 8)),
        ("batchnorm", (100,), [], {}, (100,)),
        ("lrn", (96, 55, 55), [], {}, (96, 55, 55)),
        ("softmax", (10,), [], {}, (10,)),
        ("leaky_relu", (3, 4, 4), [0.2], {}, (3, 4, 4)),
        ("dropout", (4096,), [], {}, (4096,)),
    ],
)
def test_shape(name, shape, positional, keyword, out):
    assert run(name, [shape], *positional, **keyword)[0] == out


def test_pool_size_matches_pytorch_rule():
    # The last ceil-mode window starts in the right padding, so it is dropped.
    assert pool_size(5, 2, 2, p=1, ceil=True) == 3
    assert pool_size(5, 2, 2, p=1, ceil=False) == 3
    assert pool_size(6, 3, 2, ceil=True) == 3
    assert pool_size(6, 3, 2, ceil=False) == 2
    assert pool_size(2, 3, 1) == 0


def test_merges():
    assert run("concat", [(64, 28, 28), (128, 28, 28), (32, 28, 28)])[0] == (224, 28, 28)
    assert run("concat", [(10,), (20,)])[0] == (30,)
    assert run("add", [(256, 56, 56)] * 2)[0] == (256, 56, 56)
    assert SPELLING["concat"].expr({}, ["a", "b"]) == "torch.cat([a, b], 1)"
    assert SPELLING["add"].expr({}, ["out", "identity"]) == "out + identity"


@pytest.mark.parametrize(
    "name, shapes, positional, keyword, message",
    [
        ("maxpool", [(1, 2, 2)], [3], {}, "maxpool window 3x3 is larger than its padded input 2x2"),
        ("avgpool", [(1, 4, 4)], [5], {"pad": 0}, "avgpool window 5x5 is larger than its padded"),
        (
            "conv",
            [(1, 3, 3)],
            [1, 5],
            {},
            "conv output would be 0x0: input 3x3 is smaller than the dilated kernel 5x5",
        ),
        (
            "conv",
            [(1, 3, 3)],
            [1, 3],
            {"dilation": 3, "pad": 1},
            "input 3x3 (padded 5x5) is smaller than the dilated kernel 7x7",
        ),
        ("conv", [(6, 8, 8)], [4, 3], {"groups": 4}, "groups=4 does not divide the 6 input"),
        ("conv", [(3, 8, 8)], [2, 3], {"table": [[0], [3]]}, "refers to input map 3"),
        ("conv", [(9216,)], [4, 3], {}, "conv expects a C×H×W image, got a 9216 vector (D)"),
        ("linear", [(256, 6, 6)], [10], {}, "linear needs a flat input (C), got 256x6x6"),
        ("subsample", [(6, 1, 1)], [], {}, "subsample window 2x2 is larger than its input 1x1"),
        ("lrn", [(10,)], [], {}, "lrn needs a CxHxW input, got 10"),
        ("concat", [(4, 8, 8)], [], {}, "concat needs at least two inputs"),
    ],
)
def test_shape_errors(name, shapes, positional, keyword, message):
    err = error(name, shapes, *positional, **keyword)
    assert isinstance(err, ShapeError) and err.code == "E401"
    assert message in err.message


def test_shape_errors_have_hints():
    assert "add flatten" in error("linear", [(256, 6, 6)], 10).hint
    assert error("maxpool", [(1, 2, 2)], 3).hint
    assert error("conv", [(1, 3, 3)], 1, 5).hint


def test_merge_errors_name_the_odd_input():
    err = error("concat", [(64, 28, 28), (128, 14, 14), (32, 28, 28)])
    assert "64x28x28, 128x14x14, 32x28x28" in err.message
    assert "input 1 (128x14x14) differs" in err.message
    err = error("concat", [(64, 28, 28), (10,)])
    assert "same rank" in err.message
    err = error("add", [(64, 56, 56), (256, 56, 56)])
    assert "64x56x56, 256x56x56" in err.message and err.hint


# --- costs: LeNet-5 by hand ------------------------------------------------------


def test_lenet5_costs():
    # C1: 6 maps of 28x28, each unit 5x5 weights + bias.
    assert run("conv", [(1, 32, 32)], 6, 5)[1] == Cost(
        params=6 * 26, macs=6 * 25 * 784, connections=26 * 6 * 784
    )
    assert run("conv", [(1, 32, 32)], 6, 5)[1].connections == 122_304
    # S2: one weight and one bias per map; each unit sees 4 inputs + bias.
    out, cost = run("subsample", [(6, 28, 28)])
    assert (out, cost.params, cost.connections, cost.macs) == ((6, 14, 14), 12, 5_880, 0)
    # C3: 60 table entries of 5x5 weights, 16 biases, 10x10 maps.
    out, cost = run("conv", [(6, 14, 14)], 16, 5, table=LENET_TABLE)
    assert out == (16, 10, 10)
    assert (cost.params, cost.connections) == (1_516, 151_600)
    assert cost.macs == 60 * 25 * 100
    # S4, C5, F6.
    assert run("subsample", [(16, 10, 10)])[1].params == 32
    assert run("subsample", [(16, 10, 10)])[1].connections == 2_000
    out, cost = run("conv", [(16, 5, 5)], 120, 5)
    assert (out, cost.params, cost.connections) == ((120, 1, 1), 48_120, 48_120)
    out, cost = run("linear", [(120,)], 84)
    assert (out, cost.params, cost.connections, cost.macs) == ((84,), 10_164, 10_164, 10_080)


def test_other_costs():
    cost = run("conv", [(64, 56, 56)], 64, 3, pad=1, bias=False, groups=2)[1]
    assert cost.params == 64 * 32 * 9 and cost.macs == 64 * 56 * 56 * 32 * 9
    assert run("batchnorm", [(64, 8, 8)])[1] == Cost(params=128, buffers=129)
    assert run("batchnorm", [(64,)], affine=False)[1] == Cost(buffers=129)
    assert run("maxpool", [(1, 4, 4)], 2)[1] == Cost(connections=4 * 4)
    assert run("global_avgpool", [(8, 7, 7)])[1] == Cost(connections=8 * 49)
    # 5 -> 3 adaptive windows: [0, 2), [1, 4), [3, 5); 7 inputs read per row.
    assert run("adaptive_avgpool", [(1, 5, 5)], 3)[1] == Cost(connections=7 * 7)
    assert run("relu", [(64, 8, 8)])[1] == Cost()


# --- receptive field -------------------------------------------------------------


def fold(rfs):
    """Receptive field (height) of a chain: size grows by (k - 1) * jump."""
    size, jump = 1, 1
    for rf in rfs:
        if rf is None:
            continue
        (k, s), _ = rf
        size, jump = size + (k - 1) * jump, jump * s
    return size


def rf(name, shape, *positional, **keyword):
    op = get_op(name)
    return op.rf(op.bind(list(positional), keyword), [shape])


def test_receptive_field():
    assert fold([rf("conv", (3, 32, 32), 8, 3, pad=1)] * 3) == 7
    assert fold([rf("conv", (3, 32, 32), 8, 3), rf("relu", (8, 30, 30))] * 2) == 5
    assert rf("conv", (3, 32, 32), 8, 3, dilation=2, stride=(1, 2)) == ((5, 1), (5, 2))
    assert fold([rf("conv", (3, 32, 32), 8, 3, stride=2), rf("maxpool", (8, 8, 8), 2)]) == 5
    assert rf("maxpool", (3, 9, 9), 3, stride=2) == ((3, 2), (3, 2))
    assert rf("linear", (10,), 4) == "global"
    assert rf("global_avgpool", (10, 4, 4)) == "global"
    assert rf("adaptive_avgpool", (10, 12, 12), 6) == ((2, 2), (2, 2))


# --- PyTorch spellings (no torch needed) ----------------------------------------


def spell(name, shape, *positional, **keyword):
    op = get_op(name)
    module = SPELLING[op.name].module(op.bind(list(positional), keyword), [shape])
    parts = [
        repr(a.value) if a.keyword is None else f"{a.keyword}={a.value!r}" for a in module.args
    ]
    return f"{module.cls}({', '.join(parts)})"


@pytest.mark.parametrize(
    "name, shape, positional, keyword, code",
    [
        (
            "conv",
            (3, 224, 224),
            [64, 11],
            {"stride": 4, "pad": 2},
            "nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2)",
        ),
        (
            "conv",
            (64, 56, 56),
            [64, 3],
            {"pad": 1, "bias": False},
            "nn.Conv2d(64, 64, kernel_size=3, padding=1, bias=False)",
        ),
        (
            "conv",
            (8, 9, 9),
            [8, (1, 7)],
            {"pad": "same", "groups": 8},
            "nn.Conv2d(8, 8, kernel_size=(1, 7), padding='same', groups=8)",
        ),
        ("linear", (9216,), [4096], {}, "nn.Linear(9216, 4096)"),
        (
            "maxpool",
            (64, 112, 112),
            [3, 2],
            {"ceil_mode": True},
            "nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)",
        ),
        (
            "maxpool",
            (64, 112, 112),
            [3],
            {"stride": 1, "pad": 1},
            "nn.MaxPool2d(kernel_size=3, stride=1, padding=1)",
        ),
        (
            "avgpool",
            (64, 8, 8),
            [2],
            {"count_include_pad": False},
            "nn.AvgPool2d(kernel_size=2, count_include_pad=False)",
        ),
        ("adaptive_avgpool", (256, 6, 6), [6], {}, "nn.AdaptiveAvgPool2d((6, 6))"),
        ("global_avgpool", (2048, 7, 7), [], {}, "nn.AdaptiveAvgPool2d((1, 1))"),
        ("global_maxpool", (2048, 7, 7), [], {}, "nn.AdaptiveMaxPool2d((1, 1))"),
        ("lrn", (96, 55, 55), [], {}, "nn.LocalResponseNorm(5, k=2.0)"),
        ("lrn", (96, 55, 55), [5], {"k": 1}, "nn.LocalResponseNorm(5)"),
        ("batchnorm", (64, 8, 8), [], {"eps": 0.001}, "nn.BatchNorm2d(64, eps=0.001)"),
        ("batchnorm", (64,), [], {}, "nn.BatchNorm1d(64)"),
        ("dropout", (10,), [], {}, "nn.Dropout(p=0.5)"),
        ("flatten", (2, 3, 3), [], {}, "nn.Flatten()"),
        ("relu", (10,), [], {}, "nn.ReLU(inplace=True)"),
        ("tanh", (10,), [], {}, "nn.Tanh()"),
        ("sigmoid", (10,), [], {}, "nn.Sigmoid()"),
        ("leaky_relu", (10,), [0.2], {}, "nn.LeakyReLU(negative_slope=0.2)"),
        ("leaky_relu", (10,), [], {}, "nn.LeakyReLU()"),
        ("softmax", (10,), [], {}, "nn.Softmax(dim=1)"),
        ("subsample", (6, 28, 28), [], {}, "Subsample2d(6)"),
        ("subsample", (6, 28, 28), [3, 1], {}, "Subsample2d(6, kernel_size=3, stride=1)"),
    ],
)
def test_torch_spelling(name, shape, positional, keyword, code):
    assert spell(name, shape, *positional, **keyword) == code


def test_torch_sources():
    op = get_op("conv")
    module = SPELLING[op.name].module(op.bind([16, 5], {"table": LENET_TABLE}), [(6, 14, 14)])
    assert module.cls == "ConnectionTableConv2d" and module.helpers == ("ConnectionTableConv2d",)
    sources = {a.keyword or i: a.source for i, a in enumerate(module.args)}
    assert sources == {
        0: "in:channels",
        1: "arg:filters",
        "kernel_size": "arg:kernel",
        "table": "arg:table",
    }
    assert SPELLING["subsample"].module(
        get_op("subsample").bind([], {}), [(6, 28, 28)]
    ).helpers == ("Subsample2d",)


SAMPLES = {
    "conv": ((6, 14, 14), [16, 5]),
    "linear": ((120,), [84]),
    "maxpool": ((3, 8, 8), [2]),
    "avgpool": ((3, 8, 8), [2]),
    "adaptive_avgpool": ((3, 8, 8), [2]),
    "subsample": ((3, 8, 8), []),
    "stochastic_depth": ((3, 8, 8), [0.2]),
}


def test_torch_keywords_cover_every_argument():
    # A backend that spells a block parameter symbolically needs the keyword of
    # an argument the registry left out because here it had PyTorch's default.
    for op in OPS.values():
        if SPELLING[op.name].module is None:
            continue
        shape, positional = SAMPLES.get(op.name, ((3, 8, 8), []))
        module = SPELLING[op.name].module(op.bind(positional, {}), [shape])
        spelled = {a.source[4:] for a in module.args if a.source and a.source.startswith("arg:")}
        for arg in op.args:
            spelling = SPELLING[op.name]
            if arg.name in spelling.unspelled:
                continue  # checked by netdsl, never passed to PyTorch (linear's in_features)
            assert arg.name in spelled or arg.name in spelling.keywords, (op.name, arg)


def test_aliasing_ops():
    aliasing = {name for name, op in OPS.items() if op.aliases_input}
    expected = {"relu", "relu6", "silu", "hardswish", "flatten", "dropout", "stochastic_depth"}
    assert aliasing == expected
