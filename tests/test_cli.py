"""The command line: check, stats (all formats), exit codes, no torch import."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
NETS = ROOT / "networks"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_check_summary_line():
    r = run("check", NETS / "vgg16.net")
    assert r.exit_code == 0
    assert "VGG16" in r.output and "138,357,544 params" in r.output


def test_stats_table_has_the_columns_and_torchinfo_totals():
    r = run("stats", NETS / "vgg16.net")
    assert r.exit_code == 0
    header = next(line for line in r.output.splitlines() if line.startswith("Layer"))
    for col in (
        "Op",
        "Input",
        "Output",
        "Kernel",
        "Stride",
        "Pad",
        "Params",
        "MACs",
        "Memory",
        "RF",
        "Connections",
    ):
        assert col in header
    for label in (
        "Total params:",
        "Trainable params:",
        "Non-trainable params:",
        "Total mult-adds (G):",
        "Input size (MB):",
        "Forward/backward pass size (MB):",
        "Params size (MB):",
        "Estimated Total Size (MB):",
    ):
        assert label in r.output
    # 3x224x224 fp32 input = 602,112 bytes
    assert "Input size (MB): 0.60" in r.output


def test_stats_json_keys_are_stable():
    r = run("stats", NETS / "vgg16.net", "--format", "json")
    data = json.loads(r.output)
    assert {"network", "inputs", "outputs", "totals", "layers"} <= set(data)
    assert {"params", "trainable_params", "macs", "flops", "activations"} <= set(data["totals"])
    assert {"name", "op", "output_shape", "params", "macs", "receptive_field"} <= set(
        data["layers"][0]
    )
    assert data["inputs"] == {"image": [3, 224, 224]}
    t = data["totals"]
    assert t["flops"] == 2 * t["macs"]


def test_depth_folds_blocks_into_subtotals():
    full = json.loads(run("stats", NETS / "resnet18.net", "--format", "json").output)
    r = run("stats", NETS / "resnet18.net", "--depth", "1", "--format", "csv")
    rows = r.output.strip().splitlines()[1:]
    names = [row.split(",")[0] for row in rows]
    assert len(set(names)) == len(names)
    assert all("." not in n for n in names)
    params = sum(int(row.split(",")[8]) for row in rows)
    assert params == full["totals"]["params"]


def test_markdown_format():
    r = run("stats", NETS / "lenet5.net", "--format", "markdown")
    assert r.output.count("|---") >= 1 and "| C3 | conv |" in r.output


def test_defines_and_input_override():
    r = run("stats", NETS / "lenet5.net", "-D", "classes=7", "--format", "json")
    assert json.loads(r.output)["outputs"] == {"logits": [7]}
    r = run("check", NETS / "resnet18.net", "--input", "image=3x64x64")
    assert r.exit_code == 0


def test_unknown_define_is_an_error_with_hint():
    r = run("check", NETS / "lenet5.net", "-D", "clases=7")
    assert r.exit_code == 1
    assert "did you mean 'classes'" in r.output


def test_bad_usage_exits_2():
    assert run("stats", NETS / "lenet5.net", "--format", "yaml").exit_code == 2
    assert run("check", NETS / "lenet5.net", "-D", "novalue").exit_code == 2


def test_bad_network_exits_1_without_traceback(tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_text("network N { input x: 3x8x8\n out y = x -> conv(4, 3, strid=2) }\n")
    r = run("check", bad)
    assert r.exit_code == 1
    assert "bad.net:2:26: error[E202]: conv() has no argument 'strid'" in r.output
    assert "^~~~~~~" in r.output and "hint: did you mean 'stride'?" in r.output
    assert "Traceback" not in r.output


def test_python_m_netdsl_and_no_torch_import():
    code = (
        "import sys, runpy; sys.argv = ['netdsl', 'stats', r'%s'];"
        "import netdsl.cli as c\n"
        "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'stats imported torch'\n"
        "print('NO_TORCH')" % (NETS / "resnet152.net")
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "NO_TORCH" in out.stdout, out.stderr
    r = subprocess.run(
        [sys.executable, "-m", "netdsl", "check", str(NETS / "lenet5.net")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "LeNet5" in r.stdout


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_every_shipped_network_reports(fmt):
    for path in sorted(NETS.rglob("*.net")):
        if "blocks" in path.parts:
            continue
        r = run("stats", path, "--format", fmt)
        assert r.exit_code == 0, (path, r.output)
