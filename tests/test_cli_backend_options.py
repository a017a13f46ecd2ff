"""compile's backend flags come from what the backends declare (issue 15, item 9), and a
source file whose name holds a backslash escape compiles cleanly (issue 15, item 4)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import netdsl.plugins
from netdsl.cli import backend_flags, main
from netdsl.plugins import Backend, Option, discover

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "networks" / "lenet5.net"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_every_declared_option_of_every_backend_is_a_compile_flag():
    help_text = run("compile", "-h").output
    found = discover().backends
    declared = {o.name for b in found.values() for o in b.options}
    assert {"depth", "rankdir", "dpi", "opset", "weights", "seed", "fold_bn"} <= declared
    for name in declared:
        assert "--" + name.replace("_", "-") in help_text, name
    # The flag's help names the backends that take it, and shows the declared choices.
    assert "graphviz, mermaid: layout direction" in " ".join(help_text.split())
    assert "--rankdir [TB|LR|BT|RL]" in help_text
    assert help_text.rstrip().endswith("Show this message and exit.")


def test_a_new_backends_options_become_flags(monkeypatch):
    toy = Backend(
        "toy",
        "a toy",
        ("toy",),
        lambda G, options, fmt: "",
        options=(
            Option("width", "box width", default=3, type=int, minimum=1),
            Option("style", "box style", default="a", choices=("a", "b")),
            Option("shout", "upper case", default=False),
            Option("network", "clashes with compile's own --network"),
        ),
    )
    monkeypatch.setattr(
        netdsl.plugins, "discover", lambda: netdsl.plugins.Discovery({"toy": toy}, {})
    )
    flags = backend_flags.__wrapped__(frozenset({"network", "--network"}))
    assert sorted(flags) == ["shout", "style", "width"]  # network: only as -O network=...
    assert flags["width"].opts == ["--width"] and flags["width"].metavar == "N"
    assert flags["style"].metavar == "[a|b]"
    assert flags["shout"].is_flag
    assert "toy: box width (default 3)" == flags["width"].help


def test_a_flag_means_what_the_same_dash_o_means():
    by_flag = run("compile", LENET, "-b", "mermaid", "-o", "-", "--depth", "1", "--rankdir", "LR")
    by_o = run("compile", LENET, "-b", "mermaid", "-o", "-", "-O", "depth=1", "-O", "rankdir=LR")
    plain = run("compile", LENET, "-b", "mermaid", "-o", "-")
    assert by_flag.exit_code == by_o.exit_code == plain.exit_code == 0
    assert by_flag.output == by_o.output != plain.output
    assert "flowchart LR" in by_flag.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["-b", "graphviz", "--fold-bn"], "backend 'graphviz' has no option --fold-bn"),
        (["-b", "pytorch", "--rankdir", "LR"], "backend 'pytorch' has no option --rankdir"),
        (["-b", "graphviz", "--depth", "two"], "bad value for --depth: 'two'"),
        (["-b", "graphviz", "--depth", "0"], "--depth must be at least 1, not 0"),
        (["-b", "mermaid", "--rankdir", "up"], "--rankdir must be one of TB, LR, BT, RL"),
        (["-b", "graphviz", "--dpi", "5000"], "--dpi must be between 1 and 1200, not 5000"),
    ],
)
def test_a_flag_the_backend_does_not_take_is_a_usage_error(args, message):
    r = run("compile", LENET, "-o", "-", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_backends_lists_each_option_with_its_flag():
    out = run("backends").output
    assert "--fold-bn, -O fold_bn=...: fold each batch norm" in out
    assert "--opset, -O opset=...: ONNX opset to write" in out


def _netdsl(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "netdsl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize("name", ["bad\\N.net", "e\\N{BOGUS}\\x01\\u12.net"])
def test_a_file_name_with_backslash_escapes_compiles_cleanly(tmp_path, name):
    (tmp_path / name).write_text(LENET.read_text())
    r = _netdsl("check", name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{name}: ok: LeNet5")
    for ext in ("py", "dot", "mmd", "json"):
        r = _netdsl("compile", name, "-o", f"out.{ext}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "internal error" not in r.stderr
    ir = json.loads((tmp_path / "out.json").read_text())
    spans = {n["span"]["file"] for n in ir["nodes"] if n.get("span")}
    assert spans == {name}
    # The name reaches the generated module's comments/docstrings inert: it imports.
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("out", tmp_path / "out.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.create_model()
    # LeNet-5's layers as the paper counts them (C1 156, S2 12, C3 1516, S4 32, C5 48120,
    # F6 10164), and 84 * 10 + 10 for the output layer written as linear.
    expected = 156 + 12 + 1516 + 32 + 48120 + 10164 + 84 * 10 + 10
    assert sum(p.numel() for p in model.parameters()) == expected
    assert name in (tmp_path / "out.py").read_text()


def test_a_bad_file_with_such_a_name_is_a_diagnostic(tmp_path):
    name = "bad\\N.net"
    (tmp_path / name).write_text("network N {\n    input x: 3x\n}\n")
    r = _netdsl("check", name, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith(f"{name}:2:14: error[E104]")
