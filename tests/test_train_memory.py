"""The training-memory estimate (netdsl.train_memory, `stats --train`) against
PyTorch's own accounting: the storages autograd saves during one training forward."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdsl.api import load
from netdsl.cli import main
from netdsl.train_memory import estimate, missing_rules

ROOT = Path(__file__).resolve().parent.parent
torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parent))
from saved_tensors import saved_bytes  # noqa: E402

NETWORKS = ["lenet5", "alexnet", "vgg16", "googlenet", "resnet50"]


def test_every_op_has_a_rule():
    assert missing_rules() == []


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_activations_equal_saved_tensors(pytorch_module, name, dtype):
    G, _, module, _ = pytorch_module(ROOT / "networks" / f"{name}.net")
    torch.manual_seed(0)
    model = module.create_model()
    batch = 2
    (shape,) = [G.nodes[n]["shape"] for n in G.graph["inputs"].values()]
    x = torch.randn(batch, *shape)
    measured = saved_bytes(model, x, autocast=dtype == "bf16")
    est = estimate(G, batch=batch, dtype=dtype)["totals"]
    assert est["activations"] == measured
    # parameters, buffers and gradients: from the torch module, not from netdsl
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    assert est["grads"] == 4 * params
    assert est["optimizer"] == 4 * params  # SGD's momentum buffer
    assert est["params"] == 4 * params + buffers


def test_activations_grow_linearly_with_the_batch():
    G = load(str(ROOT / "networks" / "resnet50.net"))
    a1, a2, a3 = (estimate(G, batch=b)["totals"]["activations"] for b in (1, 2, 3))
    assert a3 - a2 == a2 - a1 > 0


def test_stats_train_json():
    result = CliRunner().invoke(
        main,
        [
            "stats",
            str(ROOT / "networks/lenet5.net"),
            "--train",
            "--batch",
            "32",
            "--optimizer",
            "adam",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    mem = data["totals"]["train_memory"]
    assert set(mem) >= {"activations", "params", "grads", "optimizer", "peak"}
    # LeNet-5 (LeCun et al. 1998, Section II.B): C1 156, S2 12, C3 1,516, S4 32,
    # C5 48,120, F6 10,164; the output layer as linear: 84 x 10 + 10
    params = 156 + 12 + 1516 + 32 + 48120 + 10164 + 850
    assert mem["grads"] == 4 * params and mem["optimizer"] == 8 * params
    assert mem["peak"] == mem["activations"] + mem["params"] + mem["grads"] + mem["optimizer"]
    per_layer = sum(layer["train_memory"]["activations"] for layer in data["layers"])
    assert per_layer == mem["activations"]


def test_stats_train_table():
    result = CliRunner().invoke(
        main, ["stats", str(ROOT / "networks/alexnet.net"), "--train", "--batch", "128"]
    )
    assert result.exit_code == 0, result.output
    assert "training memory: batch 128, fp32, sgd" in result.output
    assert "estimated peak:" in result.output


def test_stats_train_bad_dtype_is_a_usage_error():
    result = CliRunner().invoke(
        main, ["stats", str(ROOT / "networks/lenet5.net"), "--train", "--dtype", "fp8"]
    )
    assert result.exit_code == 2


ACTIVATIONS = """
network Acts {
    input image: 3x12x12
    x = image -> conv(8, 3, pad=1) -> relu6 -> conv(8, 3, pad=1) -> silu
              -> conv(8, 3, pad=1) -> hardswish -> conv(8, 3, pad=1) -> hardsigmoid
              -> conv(8, 3, pad=1) -> gelu -> conv(8, 3, pad=1) -> gelu("tanh")
    gate = x -> adaptive_avgpool(1) -> conv(8, 1) -> sigmoid
    r = x * gate -> stochastic_depth(0.5) -> conv(8, 3, pad=1) -> stochastic_depth(0.3, "batch")
    out y = (x + r) -> global_avgpool -> flatten -> linear(4)
}
"""


def test_activation_rules_equal_saved_tensors(pytorch_module, tmp_path):
    path = tmp_path / "acts.net"
    path.write_text(ACTIVATIONS)
    G, _, module, _ = pytorch_module(path)
    model = module.create_model()
    x = torch.randn(2, 3, 12, 12)
    assert estimate(G, batch=2)["totals"]["activations"] == saved_bytes(model, x)
