"""editors/vscode: the TextMate grammar, checked by a real TextMate engine
(vscode-tmgrammar-test: vscode-textmate + oniguruma, what VS Code runs) against
netdsl's own lexer on every shipped network; the extension's files are well-formed.

Each network is turned into a syntax test: after every source line, one assertion per
keyword, number, shape, string, comment and `->`, with the scope its netdsl token kind
must get. .ci/run installs the engine from npm; without it (and node) these skip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from netdsl.format.layout import _T, _annotate
from netdsl.format.tokens import tokenize

ROOT = Path(__file__).resolve().parent.parent
VSCODE = ROOT / "editors" / "vscode"
NETWORKS = sorted((ROOT / "networks").rglob("*.net"))

_KEYWORD_SCOPES = {
    **dict.fromkeys(("if", "else", "for", "repeat"), "keyword.control.netdsl"),
    **dict.fromkeys(("import", "input", "out", "aux", "init", "as"), "keyword.other.netdsl"),
    "block": "storage.type.block.netdsl",
    "network": "storage.type.network.netdsl",
    **dict.fromkeys(("and", "or", "not"), "keyword.operator.logical.netdsl"),
    **dict.fromkeys(("true", "false", "none"), "constant.language.netdsl"),
}
_KIND_SCOPES = {
    "INT": "constant.numeric.integer.netdsl",
    "FLOAT": "constant.numeric.float.netdsl",
    "SHAPE": "constant.numeric.shape.netdsl",
    "STRING": "string.quoted.double.netdsl",
    "COMMENT": "comment.line.number-sign.netdsl",
}


def expected_scope(t: _T) -> str | None:
    kind, text = t.tok.kind, t.text
    if kind == "KW":
        if text == "in":
            return (
                "keyword.control.netdsl" if t.role == "forin" else "variable.language.input.netdsl"
            )
        return _KEYWORD_SCOPES[text]
    if kind == "OP":
        return "keyword.operator.chain.netdsl" if text == "->" else None
    return _KIND_SCOPES.get(kind)


def syntax_test(text: str, name: str) -> tuple[str, int]:
    """The network with an assertion line after each source line; and how many."""
    tokens = [_T(t) for t in tokenize(text)]
    _annotate([t for t in tokens if t.tok.kind not in ("COMMENT", "NL")])
    by_line: dict[int, list[_T]] = {}
    for t in tokens:
        if t.tok.kind != "NL":
            by_line.setdefault(t.tok.line, []).append(t)
    out = [f'# SYNTAX TEST "source.netdsl" "{name}"']
    count = 0
    for number, line in enumerate(text.split("\n"), start=1):
        out.append(line)
        col = 0
        for t in by_line.get(number, []):
            col = line.index(t.text, col)
            scope = expected_scope(t)
            width = len(t.text)
            if scope is not None:
                if col < 2:  # under the assertion's own '#': count from the line start
                    out.append("# <" + "~" * col + "-" * width + " " + scope)
                else:
                    out.append("#" + " " * (col - 1) + "^" * width + " " + scope)
                count += 1
            col += width
    return "\n".join(out) + "\n", count


def _engine() -> str | None:
    found = os.environ.get("NETDSL_TMGRAMMAR_TEST") or shutil.which("vscode-tmgrammar-test")
    return found if found and shutil.which("node") else None


def test_extension_manifest_is_consistent():
    pkg = json.loads((VSCODE / "package.json").read_text())
    (lang,) = pkg["contributes"]["languages"]
    (grammar,) = pkg["contributes"]["grammars"]
    assert lang["extensions"] == [".net"] and grammar["language"] == lang["id"]
    tm = json.loads((VSCODE / grammar["path"]).read_text())
    assert tm["scopeName"] == grammar["scopeName"] == "source.netdsl"
    conf = json.loads((VSCODE / lang["configuration"]).read_text())
    assert conf["comments"]["lineComment"] == "#"
    assert ["{", "}"] in conf["brackets"] and ["(", ")"] in conf["brackets"]
    assert pkg["contributes"]["configuration"]["properties"]["netdsl.server.command"][
        "default"
    ] == ["netdsl", "lsp"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_extension_client_is_valid_javascript():
    r = subprocess.run(["node", "--check", str(VSCODE / "extension.js")], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()


def test_syntax_tests_cover_every_kind():
    text = (ROOT / "networks" / "blocks" / "resnet.net").read_text()
    test, count = syntax_test(text, "resnet")
    assert count > 50
    for scope in (
        "keyword.control",
        "storage.type.block",
        "constant.numeric.integer",
        "comment.line",
        "keyword.operator.chain",
        "variable.language.input",
    ):
        assert scope in test


@pytest.mark.skipif(_engine() is None, reason="vscode-tmgrammar-test (npm) is not installed")
def test_textmate_grammar_scopes_every_token_of_the_shipped_networks(tmp_path):
    total = 0
    for path in NETWORKS:
        test, count = syntax_test(path.read_text(encoding="utf-8"), path.name)
        total += count
        name = str(path.relative_to(ROOT / "networks")).replace("/", "__")
        (tmp_path / f"{name}.test.net").write_text(test, encoding="utf-8")
    # A few cases the networks lack: floats, strings with escapes and templates, `in`.
    extra = (
        'network T(p=0.5, eps=1e-5, s="a\\"b") {\n'
        "    input x: 3x8x8\n"
        '    y = x -> [for k in [1, 2] { conv(k, 1) as "c{k}" }] -> dropout(.5)\n'
        "    out y\n}\n"
    )
    test, count = syntax_test(extra, "extra")
    (tmp_path / "extra.test.net").write_text(test, encoding="utf-8")
    total += count
    r = subprocess.run(
        [
            _engine(),
            "-c",
            "-g",
            str(VSCODE / "syntaxes" / "netdsl.tmLanguage.json"),
            "--config",
            str(VSCODE / "package.json"),
            str(tmp_path / "*.test.net"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert total > 1500
