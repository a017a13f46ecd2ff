"""No text from a .net file can run or break anything in what netdsl writes.

Every route by which source text reaches an output (a string network parameter, the
same through -D, a string block parameter, the source file's name, an imported file's
name) is tried with payloads that would run a command if spliced into Python
unescaped; importing the generated module must define the model and do nothing else.
Control characters must leave every backend's output valid.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MARKER = "PWNED"

# Payloads, as they must appear inside a netdsl string literal (so quotes escaped).
# Each would create MARKER if it escaped its docstring, string or comment.
PAYLOADS = {
    "triple double quotes": r"a\"\"\";__import__(\"os\").system(\"touch PWNED\");\"\"\"b",
    "triple single quotes": r"a''';__import__(\"os\").system(\"touch PWNED\");'''b",
    "trailing quote": r"x\"",
    "trailing backslash": r"x\\",
    "newline then code": r"x\n__import__(\"os\").system(\"touch PWNED\")\n#",
}
# File names that would do the same through the header comment and the docstrings.
FILE_NAMES = {
    "triple quotes": 'x""";__import__("os").system("touch PWNED");"""y',
    "newline": 'x\n__import__("os").system("touch PWNED")\n#y',
    "backslash": "x\\",
}
# (A lone surrogate such as "\ud800" never gets this far: it is E105 at the string.)
HOSTILE_TEXT = r"a\x01\x0b\x1b\x7f\u2028\u200bb"


def netdsl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "netdsl", *args], cwd=cwd, capture_output=True, text=True
    )


def import_generated(folder: Path, file: str = "model.py") -> None:
    """Import the generated module in a fresh interpreter, build the model, and check
    that nothing else happened (no marker file)."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('m', {file!r})\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(m)\n"
        "m.create_model()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (folder / MARKER).exists(), "importing the generated module ran a command"


def compiled(folder: Path, source: str, name: str = "net.net", *extra: str) -> None:
    (folder / name).write_text(source)
    done = netdsl("compile", name, "-o", "model.py", *extra, cwd=folder)
    assert done.returncode == 0, done.stderr
    assert not (folder / MARKER).exists()


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_string_network_parameter(tmp_path, payload):
    compiled(
        tmp_path,
        f'network N(s="{payload}", w=4) {{\n'
        "    input image: 3x8x8\n"
        "    out y = image -> conv(w, 3) -> relu\n"
        "}\n",
    )
    import_generated(tmp_path)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_string_through_define(tmp_path, payload):
    compiled(
        tmp_path,
        'network N(s="plain") {\n    input image: 3x8x8\n    out y = image -> conv(4, 3)\n}\n',
        "net.net",
        "-D",
        f's="{payload}"',
    )
    import_generated(tmp_path)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_string_block_parameter(tmp_path, payload):
    compiled(
        tmp_path,
        f'block B(c, s="{payload}") {{\n'
        "    out in -> conv(c, 3, pad=1) -> relu\n"
        "}\n"
        "network N {\n"
        "    input image: 3x8x8\n"
        "    out y = image -> B(4) -> B(4)\n"
        "}\n",
    )
    import_generated(tmp_path)


@pytest.mark.parametrize("stem", FILE_NAMES.values(), ids=FILE_NAMES.keys())
def test_source_file_name(tmp_path, stem):
    compiled(
        tmp_path,
        "network N {\n    input image: 3x8x8\n    out y = image -> conv(4, 3)\n}\n",
        stem + ".net",
    )
    import_generated(tmp_path)


@pytest.mark.parametrize("stem", FILE_NAMES.values(), ids=FILE_NAMES.keys())
def test_imported_file_name(tmp_path, stem):
    (tmp_path / (stem + ".net")).write_text("block B(c) {\n    out in -> conv(c, 3) -> relu\n}\n")
    imported = json.dumps(stem + ".net")  # a netdsl string literal for the name
    compiled(
        tmp_path,
        f"import {imported}\nnetwork N {{\n    input image: 3x8x8\n    out y = image -> B(4)\n}}\n",
    )
    import_generated(tmp_path)


HOSTILE_NET = (
    f'block B(c, s="{HOSTILE_TEXT}") {{\n'
    "    out in -> conv(c, 3, pad=1) -> relu\n"
    "}\n"
    f'network N(s="{HOSTILE_TEXT}") {{\n'
    "    input image: 3x8x8\n"
    "    out y = image -> B(4) -> B(4)\n"
    "}\n"
)


def test_control_characters_python(tmp_path):
    compiled(tmp_path, HOSTILE_NET)
    text = (tmp_path / "model.py").read_text(encoding="utf-8")
    assert text.isascii() or all(ch.isprintable() or ch in "\n" for ch in text)
    import_generated(tmp_path)


@pytest.mark.parametrize("ext", ["dot", "mmd", "md", "json"])
def test_control_characters_text_backends(tmp_path, ext):
    (tmp_path / "net.net").write_text(HOSTILE_NET)
    done = netdsl("compile", "net.net", "-o", f"out.{ext}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    raw = (tmp_path / f"out.{ext}").read_bytes()
    text = raw.decode("utf-8")
    assert all(ch.isprintable() or ch == "\n" for ch in text), "a control character got through"
    if ext == "json":
        data = json.loads(text)
        assert data["graph"]["params"]["s"] == "a\x01\x0b\x1b\x7f\u2028\u200bb"  # exact


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_control_characters_graphviz_renders(tmp_path):
    (tmp_path / "net.net").write_text(HOSTILE_NET)
    done = netdsl("compile", "net.net", "-o", "out.svg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.svg").read_text().lstrip().startswith("<?xml")
