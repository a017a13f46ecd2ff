"""Smoke tests of benchmarks/ (issue 6): the synthetic generators make networks that
elaborate to exactly the layer counts they promise, the scaling probe runs, and the
commands that must stay light never import torch. No timing is asserted here: that is
benchmarks/run.py's job (docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from netdsl.api import load
from netdsl.stats import analyse

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    sys.path.insert(0, str(BENCH))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


synthetic = _module("synthetic")


@pytest.mark.parametrize("family", sorted(synthetic.FAMILIES))
@pytest.mark.parametrize("form", synthetic.FORMS)
@pytest.mark.parametrize("layers", [4, 11, 100, 400])
def test_synthetic_layer_counts(family, form, layers):
    net = synthetic.generate(family, layers, form)
    assert net.layers == layers
    G = load(f"{family}-{layers}-{form}.net", text=net.text)
    report = analyse(G)
    assert report["totals"]["layers"] == layers
    assert len(G) == layers + 1  # plus the input
    assert list(report["outputs"].values()) == [[10]]
    assert not G.graph.get("warnings")


@pytest.mark.parametrize("family", sorted(synthetic.FAMILIES))
def test_synthetic_forms_are_the_same_network(family):
    flat = analyse(load("flat.net", text=synthetic.generate(family, 300, "flat").text))
    rep = analyse(load("rep.net", text=synthetic.generate(family, 300, "repeat").text))
    for key in ("layers", "params", "macs", "activations"):
        assert flat["totals"][key] == rep["totals"][key], key
    # The written-out form is long; the repeat form stays a few lines.
    assert synthetic.generate(family, 300, "flat").lines > 50
    assert synthetic.generate(family, 300, "repeat").lines < 30


def test_synthetic_units():
    net = synthetic.generate("residual", 4 + 7 * 5 + 3, "repeat")
    assert (net.units, net.layers) == (5, 42)
    net = synthetic.generate("inception", 4 + 14 * 2, "flat")
    assert (net.units, net.layers) == (2, 32)
    with pytest.raises(ValueError):
        synthetic.generate("residual", 3)
    with pytest.raises(ValueError):
        synthetic.generate("nope", 100)


def test_synthetic_cli(tmp_path):
    out = tmp_path / "r.net"
    r = subprocess.run(
        [
            sys.executable,
            str(BENCH / "synthetic.py"),
            "inception",
            "200",
            "--form",
            "repeat",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "200 layers" in r.stdout
    assert analyse(load(str(out)))["totals"]["layers"] == 200


def test_scaling_probe():
    r = subprocess.run(
        [sys.executable, str(BENCH / "scaling.py"), "residual", "120", "flat", "--repeats", "2"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["layers"] == 120
    assert set(out["wall"]) == {"parse", "elaborate", "stats", "render"}
    assert all(t >= 0 for t in out["wall"].values())


_NO_TORCH = r"""
import contextlib, io, sys
import netdsl.api, netdsl.cli, netdsl.stats
G = netdsl.api.load("networks/resnet50.net")
netdsl.stats.analyse(G)
for argv in (["check", "networks/resnet50.net"], ["stats", "networks/googlenet.net"],
             ["stats", "networks/vgg16.net", "--format", "json"]):
    with contextlib.redirect_stdout(io.StringIO()):
        netdsl.cli.main.main(argv, standalone_mode=False)
heavy = sorted(m for m in ("torch", "torchvision", "numpy") if m in sys.modules)
assert not heavy, heavy
print("ok")
"""


def test_check_and_stats_never_import_torch():
    # A fresh interpreter: this test process may well have imported torch already.
    r = subprocess.run([sys.executable, "-c", _NO_TORCH], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_torchinfo_convention():
    run = _module("run")
    report = {
        "layers": [
            {"op": "conv", "params": 10, "output_shape": [4, 3, 3]},  # 10 x 9
            {"op": "batchnorm", "params": 8, "output_shape": [4, 3, 3]},
            {"op": "relu", "params": 0, "output_shape": [4, 3, 3]},
            {"op": "linear", "params": 5, "output_shape": [1]},
        ]
    }
    assert run.torchinfo_convention(report) == 90 + 8 + 5
