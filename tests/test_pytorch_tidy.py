"""The PyTorch backend's ruff post-step (backends/pytorch/tidy.py): the settings it
uses are the project's, imports come from what the code uses, and a missing or
failing ruff is a documented error, not a traceback."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from netdsl.backends.pytorch import generate, tidy

from netdsl.api import load
from netdsl.diagnostics import NetdslError

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
NET = """network Tiny(classes=10) {
    input image: 1x28x28
    out logits = image -> conv(4, 3) -> relu -> flatten -> linear(classes)
}
"""


def _imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {a.asname or a.name for a in node.names}
    return found


def test_config_is_the_projects():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    shipped = tomllib.loads(Path(tidy.CONFIG).read_text())
    assert shipped["line-length"] == project["line-length"] == tidy.LINE_LENGTH
    assert shipped["lint"]["select"] == project["lint"]["select"]
    assert shipped["lint"]["ignore"] == project["lint"]["ignore"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert shipped["target-version"] == "py" + requires.lstrip(">=").replace(".", "")


def test_ruff_is_a_dependency_of_the_torch_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("ruff") for d in extras["optional-dependencies"]["torch"])


def test_a_docstring_mentioning_F_imports_nothing(tmp_path):
    # The file name reaches the header comment and the network's docstring.
    path = tmp_path / "F.relu uses OrderedDict( and NamedTuple.net"
    path.write_text(NET)
    source = generate(load(str(path)), {}, "py")
    assert "F.relu" in source and "OrderedDict(" in source  # in the text...
    imported = _imports(source)
    assert "F" not in imported and "OrderedDict" not in imported  # ...but not imported
    assert "NamedTuple" not in imported
    assert {"torch", "nn", "argparse", "time"} <= imported


def test_helpers_using_F_import_it():
    source = generate(load(str(ROOT / "networks" / "lenet5.net")), {}, "py")
    assert "F" in _imports(source)


def test_unused_imports_are_removed_and_sorted():
    text = "import torch\nimport os\nimport argparse\n\nx = torch.zeros(1,\n   2)\nargparse\n"
    want = "import argparse\n\nimport torch\n\nx = torch.zeros(1, 2)\nargparse\n"
    assert tidy.tidy(text) == want


def test_output_is_a_fixed_point_of_ruff():
    source = generate(load(str(ROOT / "networks" / "googlenet.net")), {}, "py")
    assert tidy.tidy(source) == source


def test_ruff_missing_is_E807(monkeypatch):
    import netdsl.backends.pytorch.tidy as T

    monkeypatch.setattr(T.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "ruff.__main__", None)  # the wheel is not importable
    T.ruff_binary.cache_clear()
    try:
        with pytest.raises(NetdslError) as info:
            T.tidy("x = 1\n")
    finally:
        T.ruff_binary.cache_clear()
    diag = info.value.diagnostics[0]
    assert diag.code == "E807" and "ruff" in diag.message and "pip install" in diag.hint


def test_ruff_failing_is_E808(monkeypatch):
    import netdsl.backends.pytorch.tidy as T

    with pytest.raises(NetdslError) as info:
        T.tidy("def broken(:\n")  # ruff format refuses to format invalid Python
    diag = info.value.diagnostics[0]
    assert diag.code == "E808" and "ruff" in diag.message

    def crash(*args, **kwargs):
        return subprocess.CompletedProcess(args, 2, b"", b"error: something broke")

    monkeypatch.setattr(T.subprocess, "run", crash)
    with pytest.raises(NetdslError) as info:
        T.tidy("x = 1\n")
    assert info.value.diagnostics[0].code == "E808"
    assert "something broke" in info.value.diagnostics[0].message


def test_compile_without_ruff_is_a_clean_error(tmp_path):
    net = tmp_path / "tiny.net"
    net.write_text(NET)
    script = (
        "import sys, shutil; sys.modules['ruff.__main__'] = None;"
        "shutil.which = lambda name: None;"
        "from netdsl.cli import main; main()"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, "compile", str(net), "-o", str(tmp_path / "m.py")],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "E807" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "m.py").exists()
