"""The public Python API (docs/api.md): its examples run, `import netdsl` stays cheap,
and errors carry their diagnostics."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import netdsl

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"


def _examples() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", DOC.read_text(), flags=re.S | re.M)


def test_the_examples_in_docs_api_md_run(monkeypatch):
    pytest.importorskip("torch")  # one example runs the generated PyTorch module
    examples = _examples()
    assert len(examples) >= 5
    monkeypatch.chdir(ROOT)  # the examples name shipped networks by relative path
    namespace: dict = {}
    for i, code in enumerate(examples):
        exec(compile(code, f"docs/api.md example {i + 1}", "exec"), namespace)


def test_every_public_name_is_documented():
    text = DOC.read_text()
    for name in netdsl.__all__:
        assert f"netdsl.{name}" in text, name
        assert getattr(netdsl, name) is not None
    assert set(dir(netdsl)) >= set(netdsl.__all__)
    with pytest.raises(AttributeError):
        netdsl.no_such_thing  # noqa: B018


def _modules_after(code: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    run = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return {m.split(".")[0] for m in run.stdout.split()}


def test_importing_netdsl_imports_none_of_its_dependencies():
    # As before the API existed: the package's __init__ imported nothing. The CLI's
    # start-up (benchmarks/run.py, section startup) depends on it.
    loaded = _modules_after("import netdsl; netdsl.__version__")
    assert not loaded & {"networkx", "lark", "jinja2", "click", "torch", "numpy", "onnx"}
    assert "netdsl" in loaded


def test_load_analyse_and_diagrams_do_not_import_torch():
    loaded = _modules_after(
        "import netdsl\n"
        "ir = netdsl.load('networks/resnet18.net')\n"
        "netdsl.analyse(ir)\n"
        "netdsl.compile(ir, 'mermaid'); netdsl.compile(ir, 'graphviz'); netdsl.compile(ir, 'json')"
    )
    assert "networkx" in loaded and "lark" in loaded
    assert not loaded & {"torch", "numpy", "onnx", "onnxruntime"}


def test_load_takes_a_path_object_and_text():
    from_path = netdsl.load(ROOT / "networks" / "lenet5.net")
    text = (ROOT / "networks" / "lenet5.net").read_text()
    from_text = netdsl.load(text=text)
    assert list(from_path.nodes) == list(from_text.nodes)
    with pytest.raises(TypeError):
        netdsl.load()


def test_compile_a_path_with_load_options_and_formats():
    # -D classes=3: the last linear layer has 84 * 3 weights + 3 biases (LeNet-5's F6 is 84 wide)
    out = netdsl.compile(ROOT / "networks" / "lenet5.net", "json", defines={"classes": 3})
    assert '"classes": 3' in out
    ir = netdsl.load(ROOT / "networks" / "lenet5.net", defines={"classes": 3})
    assert netdsl.analyse(ir)["layers"][-1]["params"] == 84 * 3 + 3
    with pytest.raises(TypeError):
        netdsl.compile(ir, "json", defines={"classes": 4})  # already loaded


@pytest.mark.parametrize(
    "backend, options, fmt, message",
    [
        ("nosuch", None, None, "unknown backend 'nosuch'; installed: "),
        ("graphviz", {"colour": 1}, None, "has no option 'colour'; its options: "),
        ("graphviz", {"depth": 0}, None, "option depth must be at least 1, not 0"),
        ("graphviz", None, "py", "the graphviz backend writes "),
        ("mermaid", None, "svg", "the mermaid backend writes mmd"),
    ],
)
def test_compile_refuses_what_does_not_exist(backend, options, fmt, message):
    ir = netdsl.load(ROOT / "networks" / "lenet5.net")
    with pytest.raises(ValueError, match=re.escape(message)):
        netdsl.compile(ir, backend, options, fmt=fmt)


def test_an_option_choice_is_matched_without_regard_to_case():
    ir = netdsl.load(ROOT / "networks" / "lenet5.net")
    assert "rankdir=LR" in netdsl.compile(ir, "graphviz", {"rankdir": "lr"})


def test_errors_carry_diagnostics_and_their_sources(tmp_path):
    net = tmp_path / "two.net"
    net.write_text("network N {\n    input x: 3x8x8\n    out y = x -> nosuchop(3)\n}\n")
    with pytest.raises(netdsl.NetdslError) as info:
        netdsl.load(net)
    (d,) = info.value.diagnostics
    assert isinstance(d, netdsl.Diagnostic) and isinstance(d.span, netdsl.Span)
    assert (d.span.file, d.span.line, d.span.col) == (str(net), 3, 18)
    shown = netdsl.format_error(info.value)
    assert shown.startswith(f"{net}:3:18: error[{d.code}]")
    assert "nosuchop(3)" in shown and "^" in shown


def test_the_design_picture_names_files_that_exist():
    # docs/design.md's pipeline picture and tables point readers at modules: keep them real.
    text = (ROOT / "docs" / "design.md").read_text()
    named = set(re.findall(r"\b((?:netdsl|backends|grammars|tests)/[\w/]+\.(?:py|lark))\b", text))
    assert len(named) >= 15
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/design.md names files that do not exist: {missing}"
    bare = set(re.findall(r"\b(\w+\.py)\b", text.split("## Pipeline", 1)[1].split("##", 1)[0]))
    everywhere = {p.name for p in ROOT.glob("netdsl/**/*.py")}
    everywhere |= {p.name for p in ROOT.glob("backends/**/*.py")}
    everywhere |= {p.name for p in ROOT.glob("tests/*.py")} | {"x.py"}  # x.py: an -o example
    assert bare <= everywhere, bare - everywhere
