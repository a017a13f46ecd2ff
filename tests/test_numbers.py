"""The library's figures, each checked against a source independent of netdsl.

Sources, named in each test:
  paper       the figure or the architecture table of the original paper
  torchvision the documented `num_params` / GFLOPS of torchvision.models, or
              sum(p.numel() for p in model.parameters()) of the torchvision model
  hand        the arithmetic written out in the test itself (from the paper's
              or torchvision's layer list), never from netdsl's op registry

MACs are multiply-accumulates of conv and linear layers, bias excluded
(docs/statistics.md); activations count the input and every layer output
except layers that alias their input (in-place ReLU, dropout, flatten).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from netdsl.api import load
from netdsl.stats import analyse

NETWORKS = Path(__file__).resolve().parent.parent / "networks"


@cache
def _stats(rel: str, defines: tuple = ()) -> dict:
    return analyse(load(str(NETWORKS / rel), defines=dict(defines) or None))


def stats(rel: str, **defines) -> dict:
    return _stats(rel, tuple(sorted(defines.items())))


def totals(rel: str, **defines) -> dict:
    return stats(rel, **defines)["totals"]


def layer(rel: str, name: str, **defines) -> dict:
    for row in stats(rel, **defines)["layers"]:
        if row["name"] == name:
            return row
    raise KeyError(name)


# ------------------------------------------------------------ hand arithmetic
def conv(cin: int, cout: int, k: int, out_hw: int, groups: int = 1, bias: bool = True):
    """(params, MACs) of a k x k convolution with a square out_hw x out_hw output."""
    weights = cout * (cin // groups) * k * k
    return weights + (cout if bias else 0), weights * out_hw * out_hw


def fc(fin: int, fout: int, bias: bool = True):
    return fin * fout + (fout if bias else 0), fin * fout


def bn(c: int):
    return 2 * c, 0


def total(layers) -> tuple[int, int]:
    return sum(p for p, _ in layers), sum(m for _, m in layers)


# --------------------------------------------------------------------- LeNet-5
# paper: LeCun et al. 1998, Section II.B gives each layer's trainable
# parameters and connections.
@pytest.mark.parametrize(
    "name, params, connections",
    [
        ("C1", 156, 122_304),
        ("S2", 12, 5_880),
        ("C3", 1_516, 151_600),
        ("S4", 32, 2_000),
        ("C5", 48_120, 48_120),
        ("F6", 10_164, 10_164),
    ],
)
def test_lenet5_layers(name, params, connections):
    row = layer("lenet5.net", name)
    assert row["params"] == params
    assert row["connections"] == connections


def test_lenet5_shapes_and_c3_table():
    # paper: 6@28x28, 6@14x14, 16@10x10, 16@5x5, 120, 84 (Figure 2).
    shapes = {n: layer("lenet5.net", n)["output_shape"] for n in ("C1", "S2", "C3", "S4", "F6")}
    assert shapes == {
        "C1": [6, 28, 28],
        "S2": [6, 14, 14],
        "C3": [16, 10, 10],
        "S4": [16, 5, 5],
        "F6": [84],
    }
    # hand: Table I has 6 maps with 3 inputs, 9 with 4 and one with 6:
    # 60 input maps of 5x5 kernels, plus 16 biases.
    assert 25 * (6 * 3 + 9 * 4 + 6) + 16 == 1_516
    # The output layer (RBF, approximated as linear): 84 x 10 + 10.
    assert layer("lenet5.net", "output")["params"] == 850
    assert stats("lenet5.net")["outputs"] == {"logits": [10]}


# --------------------------------------------------------------------- AlexNet
def alexnet_paper(towers: int):
    # hand, from the paper's Section 3.5 / Figure 2: 227 -> 55 -> 27 -> 13 -> 6.
    # With two towers, conv2, conv4 and conv5 only see their own GPU's maps.
    return total(
        [
            conv(3, 96, 11, 55),
            conv(96, 256, 5, 27, groups=towers),
            conv(256, 384, 3, 13),
            conv(384, 384, 3, 13, groups=towers),
            conv(384, 256, 3, 13, groups=towers),
            fc(256 * 6 * 6, 4096),
            fc(4096, 4096),
            fc(4096, 1000),
        ]
    )


def test_alexnet_one_tower():
    t = totals("alexnet.net")
    assert (t["params"], t["macs"]) == alexnet_paper(1) == (62_378_344, 1_135_256_096)


def test_alexnet_two_towers():
    t = totals("alexnet.net", towers=2)
    assert (t["params"], t["macs"]) == alexnet_paper(2) == (60_965_224, 724_406_816)


def test_alexnet_shapes():
    assert layer("alexnet.net", "conv1")["output_shape"] == [96, 55, 55]
    assert layer("alexnet.net", "pool5")["output_shape"] == [256, 6, 6]


def test_torchvision_alexnet():
    # torchvision docs: 61,100,840 params, 0.71 GFLOPS; hand: the OWT layer list
    # (64/192/384/256/256, 224 -> 55 -> 27 -> 13 -> 6).
    hand = total(
        [
            conv(3, 64, 11, 55),
            conv(64, 192, 5, 27),
            conv(192, 384, 3, 13),
            conv(384, 256, 3, 13),
            conv(256, 256, 3, 13),
            fc(256 * 6 * 6, 4096),
            fc(4096, 4096),
            fc(4096, 1000),
        ]
    )
    t = totals("torchvision/alexnet.net")
    assert (t["params"], t["macs"]) == hand == (61_100_840, 714_188_480)


# ------------------------------------------------------------------------- VGG
# paper Table 1: 3x3 convolutions per stage (widths 64, 128, 256, 512, 512),
# each stage ending in a 2x2 max-pool ("M"), as torchvision's cfgs A, B, D, E.
VGG_STAGES = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
VGG_CFG = {
    depth: [v for width, n in zip((64, 128, 256, 512, 512), counts) for v in [width] * n + ["M"]]
    for depth, counts in VGG_STAGES.items()
}


def vgg_hand(depth: int, batchnorm: bool = False) -> tuple[int, int, int]:
    """hand: (params, MACs, activations) from the paper's Table 1 configuration.

    Activations: the input, every conv, pool and fc output (ReLU and dropout are
    in place, flatten is a view).
    """
    c, hw = 3, 224
    layers, acts = [], 3 * 224 * 224
    for v in VGG_CFG[depth]:
        if v == "M":
            hw //= 2
            acts += c * hw * hw
        else:
            layers.append(conv(c, v, 3, hw))
            acts += v * hw * hw
            if batchnorm:
                layers.append(bn(v))
                acts += v * hw * hw
            c = v
    for fin, fout in [(512 * 7 * 7, 4096), (4096, 4096), (4096, 1000)]:
        layers.append(fc(fin, fout))
        acts += fout
    params, macs = total(layers)
    return params, macs, acts


def test_vgg16_paper_figures():
    # paper: Table 2 gives 138M parameters for configuration D; the exact
    # figures are the hand sums (and torchvision's documented 138,357,544).
    params, macs, acts = vgg_hand(16)
    assert (params, macs, acts) == (138_357_544, 15_470_264_320, 15_237_608)
    t = totals("vgg16.net")
    assert t["params"] == params
    assert t["macs"] == macs
    # Not "24M" as the seed article has it: 15.2M elements, input included.
    assert t["activations"] == acts


# torchvision docs (num_params): vgg11 132,863,336; vgg13 133,047,848;
# vgg16 138,357,544; vgg19 143,667,240; *_bn 132,868,840, 133,053,736,
# 138,365,992, 143,678,248. GFLOPS: 7.61, 11.31, 15.47, 19.63.
TV_VGG = {
    (11, False): 132_863_336,
    (13, False): 133_047_848,
    (16, False): 138_357_544,
    (19, False): 143_667_240,
    (11, True): 132_868_840,
    (13, True): 133_053_736,
    (16, True): 138_365_992,
    (19, True): 143_678_248,
}


@pytest.mark.parametrize("depth, batchnorm", sorted(TV_VGG))
@pytest.mark.parametrize("folder", ["", "torchvision/"])
def test_vgg_family(folder, depth, batchnorm):
    name = f"{folder}vgg{depth}{'_bn' if batchnorm else ''}.net"
    params, macs, _ = vgg_hand(depth, batchnorm)
    assert params == TV_VGG[depth, batchnorm]
    t = totals(name)
    assert (t["params"], t["macs"]) == (params, macs)


def test_vgg16_bn_params():
    # torchvision: 138,365,992 = VGG-16 + a scale and a shift per conv channel.
    channels = sum(v for v in VGG_CFG[16] if v != "M")
    assert totals("torchvision/vgg16_bn.net")["params"] == 138_357_544 + 2 * channels
    assert 138_357_544 + 2 * channels == 138_365_992


# ------------------------------------------------------------------- Inception
def test_inception_naive():
    # hand (paper Figure 2(a), 4a-like widths on 256x28x28):
    # 1x1 128, 3x3 192, 5x5 96, and the 256 pooled channels -> 672.
    macs = 28 * 28 * 256 * (128 * 1 + 192 * 9 + 96 * 25)
    assert macs == 854_196_224
    s = stats("inception_naive.net")
    assert s["outputs"] == {"y": [672, 28, 28]}
    assert s["totals"]["macs"] == macs


def test_inception_reduced():
    # hand (paper Figure 2(b)): 1x1 128; 1x1 64 -> 3x3 192; 1x1 64 -> 5x5 96;
    # pool -> 1x1 64; 480 channels. 271M MACs, not the seed article's 358M.
    macs = 28 * 28 * (256 * 128 + 256 * 64 + 64 * 9 * 192 + 256 * 64 + 64 * 25 * 96 + 256 * 64)
    assert macs == 271_351_808
    s = stats("inception_reduced.net")
    assert s["outputs"] == {"y": [480, 28, 28]}
    assert s["totals"]["macs"] == macs


# (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj): paper Table 1,
# identical in torchvision.
GOOGLENET_INCEPTIONS = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}
SIZE = {"3": 28, "4": 14, "5": 7}


def googlenet_torchvision_hand(classes: int = 1000) -> tuple[int, int, int]:
    """hand: (params, MACs) of torchvision's GoogLeNet without aux heads, and
    the params of both aux heads. BasicConv2d = conv without bias + BN."""

    def basic(cin, cout, k, hw):
        return total([conv(cin, cout, k, hw, bias=False), bn(cout)])

    layers = [basic(3, 64, 7, 112), basic(64, 64, 1, 56), basic(64, 192, 3, 56)]
    for name, (cin, c1, c3r, c3, c5r, c5, proj) in GOOGLENET_INCEPTIONS.items():
        hw = SIZE[name[0]]
        layers += [
            basic(cin, c1, 1, hw),
            basic(cin, c3r, 1, hw),
            basic(c3r, c3, 3, hw),
            basic(cin, c5r, 1, hw),
            basic(c5r, c5, 3, hw),  # torchvision's "5x5" is 3x3
            basic(cin, proj, 1, hw),
        ]
    layers.append(fc(1024, classes))
    params, macs = total(layers)
    aux = 0
    for cin in (512, 528):  # aux1 on 4a, aux2 on 4d
        aux += total([basic(cin, 128, 1, 4), fc(128 * 4 * 4, 1024), fc(1024, classes)])[0]
    return params, macs, aux


def _without_aux(rel: str, heads: tuple[str, ...]) -> tuple[int, int]:
    s = stats(rel)
    rows = [r for r in s["layers"] if r["name"].split(".")[0] in heads]
    assert rows, f"no layers under {heads}"
    return (
        s["totals"]["params"] - sum(r["params"] for r in rows),
        s["totals"]["train_macs"] - sum(r["macs"] for r in rows),
    )


def test_torchvision_googlenet():
    # torchvision docs: 6,624,904 params (the released model drops the aux
    # heads), 1.50 GFLOPS; with aux_logits=True, 13,004,888 parameters
    # (sum of numel over GoogLeNet(aux_logits=True).parameters()).
    params, macs, aux = googlenet_torchvision_hand()
    assert (params, macs, params + aux) == (6_624_904, 1_498_376_192, 13_004_888)
    s = stats("torchvision/googlenet.net")
    assert s["totals"]["params"] == 13_004_888  # aux heads included
    assert _without_aux("torchvision/googlenet.net", ("aux1", "aux2")) == (params, macs)
    assert set(s["outputs"]) == {"logits", "aux1", "aux2"}
    assert s["aux_outputs"] == {"aux1": 0.3, "aux2": 0.3}


def test_googlenet_paper():
    # hand, from the paper's Table 1 (with biases, no BN, real 5x5 convs):
    layers = [conv(3, 64, 7, 112), conv(64, 64, 1, 56), conv(64, 192, 3, 56)]
    for name, (cin, c1, c3r, c3, c5r, c5, proj) in GOOGLENET_INCEPTIONS.items():
        hw = SIZE[name[0]]
        layers += [
            conv(cin, c1, 1, hw),
            conv(cin, c3r, 1, hw),
            conv(c3r, c3, 3, hw),
            conv(cin, c5r, 1, hw),
            conv(c5r, c5, 5, hw),
            conv(cin, proj, 1, hw),
        ]
    layers.append(fc(1024, 1000))
    params, macs = total(layers)
    # paper Table 1: about 6.8M parameters and 1.5G operations (rounded, and
    # its rows leave out some biases); the exact sums:
    assert (params, macs) == (6_998_552, 1_582_671_872)
    assert _without_aux("googlenet.net", ("loss1", "loss2")) == (params, macs)
    # Each aux head (paper Section 5): 5x5/3 avg pool -> 4x4, 1x1 conv 128,
    # fc 1024, fc classes.
    aux = sum(
        total([conv(cin, 128, 1, 4), fc(128 * 16, 1024), fc(1024, 1000)])[0] for cin in (512, 528)
    )
    s = stats("googlenet.net")
    assert s["totals"]["params"] == params + aux
    assert s["aux_outputs"] == {"aux1": 0.3, "aux2": 0.3}
    assert layer("googlenet.net", "pool5")["output_shape"] == [1024, 1, 1]


# ---------------------------------------------------------------------- ResNet
RESNET = {  # depth: (bottleneck, blocks per stage) -- paper Table 1
    18: (False, [2, 2, 2, 2]),
    34: (False, [3, 4, 6, 3]),
    50: (True, [3, 4, 6, 3]),
    101: (True, [3, 4, 23, 3]),
    152: (True, [3, 8, 36, 3]),
}


def resnet_hand(depth: int, v1_5: bool) -> tuple[int, int]:
    """hand: (params, MACs) of a ResNet from the paper's Table 1; option B
    shortcuts (1x1 conv + BN where the shape changes); v1_5 puts a bottleneck's
    stride on its 3x3 convolution instead of the first 1x1."""
    bottleneck, counts = RESNET[depth]
    expansion = 4 if bottleneck else 1
    layers = [conv(3, 64, 7, 112, bias=False), bn(64)]
    cin, hw = 64, 56  # after the 3x3/2 max-pool
    for planes, n, first_stride in zip([64, 128, 256, 512], counts, [1, 2, 2, 2]):
        for i in range(n):
            stride = first_stride if i == 0 else 1
            out_hw = hw // stride
            cout = planes * expansion
            if bottleneck:
                hw1 = out_hw if not v1_5 else hw  # resolution after conv1
                layers += [
                    conv(cin, planes, 1, hw1, bias=False),
                    bn(planes),
                    conv(planes, planes, 3, out_hw, bias=False),
                    bn(planes),
                    conv(planes, cout, 1, out_hw, bias=False),
                    bn(cout),
                ]
            else:
                layers += [
                    conv(cin, planes, 3, out_hw, bias=False),
                    bn(planes),
                    conv(planes, planes, 3, out_hw, bias=False),
                    bn(planes),
                ]
            if stride != 1 or cin != cout:
                layers += [conv(cin, cout, 1, out_hw, bias=False), bn(cout)]
            cin, hw = cout, out_hw
    layers.append(fc(cin, 1000))
    return total(layers)


# torchvision docs: num_params and GFLOPS (1.81, 3.66, 4.09, 7.80, 11.51).
TV_RESNET = {
    18: (11_689_512, 1_814_073_344),
    34: (21_797_672, 3_663_761_408),
    50: (25_557_032, 4_089_184_256),
    101: (44_549_160, 7_801_405_440),
    152: (60_192_808, 11_513_626_624),
}


@pytest.mark.parametrize("depth", sorted(TV_RESNET))
def test_torchvision_resnet(depth):
    assert resnet_hand(depth, v1_5=True) == TV_RESNET[depth]
    t = totals(f"torchvision/resnet{depth}.net")
    assert (t["params"], t["macs"]) == TV_RESNET[depth]


# paper Table 1 "FLOPs" (multiply-adds): 1.8, 3.6, 3.8, 7.6, 11.3 x 10^9.
PAPER_RESNET_GMACS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}


@pytest.mark.parametrize("depth", sorted(TV_RESNET))
def test_resnet_paper(depth):
    params, macs = resnet_hand(depth, v1_5=False)
    t = totals(f"resnet{depth}.net")
    assert (t["params"], t["macs"]) == (params, macs)
    # Same parameters as torchvision's v1.5; fewer MACs for bottleneck nets.
    assert params == TV_RESNET[depth][0]
    # The paper's figures are truncated to one decimal (3.66 is given as 3.6).
    assert (
        0 <= macs / 1e9 - PAPER_RESNET_GMACS[depth] < 0.1
        or round(macs / 1e9, 1) == PAPER_RESNET_GMACS[depth]
    )


# ------------------------------------------------------------ receptive field
def test_three_stacked_3x3_convs_see_7x7(tmp_path):
    # hand (VGG paper, Section 2.3): three stacked 3x3 convolutions (stride 1)
    # have a 7x7 effective receptive field: 1 + 3 * (3 - 1).
    path = tmp_path / "stack.net"
    path.write_text(
        "network Stack {\n"
        "    input x: 3x32x32\n"
        "    out y = x -> conv(8, 3, pad=1) -> relu -> conv(8, 3, pad=1) -> relu\n"
        "              -> conv(8, 3, pad=1) as last\n"
        "}\n"
    )
    rows = {r["name"]: r for r in analyse(load(str(path)))["layers"]}
    assert rows["last"]["receptive_field"] == [7, 7]


def test_vgg16_receptive_field():
    # hand: a 3x3 conv widens the field by 2 input steps ("jump"), a 2x2/2
    # pool by 1 step and doubles the jump. Known values: conv5_3 196, pool5 212.
    size, jump, fields = 1, 1, []
    for v in VGG_CFG[16]:
        if v == "M":
            size, jump = size + jump, jump * 2
        else:
            size += 2 * jump
        fields.append(size)
    assert (fields[-2], fields[-1]) == (196, 212)
    rows = {r["name"]: r for r in stats("torchvision/vgg16.net")["layers"]}
    assert rows["features.28"]["receptive_field"] == [196, 196]  # last conv
    assert rows["features.30"]["receptive_field"] == [212, 212]  # last pool
