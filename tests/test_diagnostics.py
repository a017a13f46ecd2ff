"""Diagnostics as data and as text; several errors per file, without cascades."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdsl.api import load
from netdsl.cli import main
from netdsl.diagnostics import Diagnostic, NetdslError, Note, Span
from netdsl.elaborate import MAX_ERRORS
from netdsl.parser import MAX_SYNTAX_ERRORS, parse
from netdsl.render import MAX_WIDTH, render, to_json
from netdsl.sources import register


def diagnostics(text: str, path: str = "diag.net") -> list[Diagnostic]:
    with pytest.raises(NetdslError) as info:
        load(path, text=text)
    return info.value.diagnostics


def where(ds) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.col) for d in ds]


# ------------------------------------------------------------------ rendering


def test_render_has_position_code_line_carets_notes_and_hint():
    register("r.net", "network N {\n    x = image -> conv(8, 3, strid=2)\n}\n")
    d = Diagnostic(
        "E202",
        "conv() has no argument 'strid'",
        Span("r.net", 2, 29, 2, 36),
        hint="did you mean 'stride'?",
        notes=[Note("in block Inception 'inception4a' (googlenet.net:57:9)")],
    )
    assert render(d).splitlines() == [
        "r.net:2:29: error[E202]: conv() has no argument 'strid'",
        "     2 |     x = image -> conv(8, 3, strid=2)",
        "       |                             ^~~~~~~",
        "  note: in block Inception 'inception4a' (googlenet.net:57:9)",
        "  hint: did you mean 'stride'?",
    ]


def test_render_warning_and_spanless():
    d = Diagnostic("W001", "layer 'x' does not reach any output", None, severity="warning")
    assert render(d) == "netdsl: warning[W001]: layer 'x' does not reach any output"


def test_carets_follow_tabs():
    register("t.net", "\tx = y -> rleu\n")
    lines = render(Diagnostic("E201", "unknown name 'rleu'", Span("t.net", 1, 11, 1, 15)))
    quoted, carets = lines.splitlines()[1:3]
    start = quoted.index("rleu")
    assert carets.index("^") == start and carets.count("~") == 3


def test_long_lines_are_cut_around_the_caret():
    text = "x = " + "a + " * 200 + "bad + " + "b + " * 200 + "c"
    register("long.net", text)
    col = text.index("bad") + 1
    out = render(Diagnostic("E201", "unknown name 'bad'", Span("long.net", 1, col, 1, col + 3)))
    quoted, carets = out.splitlines()[1:3]
    body = quoted.split("| ", 1)[1]
    assert len(body) <= MAX_WIDTH + 6 and body.startswith("...") and body.endswith("...")
    caret = carets.split("| ", 1)[1]
    assert body[caret.index("^") :].startswith("bad") and caret.strip() == "^~~"


def test_json_format():
    d = Diagnostic("E101", "m", Span("f.net", 1, 2, 1, 3), "h", [Note("n", Span("g", 4, 5))])
    data = json.loads(to_json([d]))
    assert data == {
        "diagnostics": [
            {
                "severity": "error",
                "code": "E101",
                "message": "m",
                "span": {"file": "f.net", "line": 1, "col": 2, "end_line": 1, "end_col": 3},
                "hint": "h",
                "notes": [
                    {
                        "message": "n",
                        "span": {
                            "file": "g",
                            "line": 4,
                            "col": 5,
                            "end_line": None,
                            "end_col": None,
                        },
                    }
                ],
            }
        ]
    }


# --------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    "text, expected",
    [
        # one error per broken statement, each where the parser noticed it
        (
            "network N {\n  input x: 3x8x8\n  a = x -> conv(8, 3 3)\n  b = x -> relu)\n"
            "  c = x -> conv(8, @)\n  out y = x\n}",
            [("E101", 3, 22), ("E101", 4, 16), ("E102", 5, 20)],
        ),
        # an unclosed '(' is noticed on the next line; that line still parses
        (
            "network N {\n  input x: 3x8x8\n  a = x -> conv(8, 3 -> relu\n  b = x -> rleu(\n"
            "  out y = x\n}",
            [("E101", 4, 3), ("E101", 5, 3)],
        ),
        # an error in a block header skips the block's body, not the next block
        (
            "block A(c d) {\n  out in -> conv(c, d)\n}\n"
            "block B(c) {\n  out in -> conv(c, 3 3)\n}\n",
            [("E101", 1, 11), ("E101", 5, 23)],
        ),
        # an error in a for header skips its body: its '}' does not close the network
        (
            "network N {\n  input x: 3x8x8\n  for w in [1 2] {\n    x = x -> conv(w, 3)\n  }\n"
            "  out y = x -> \n}",
            [("E101", 3, 15), ("E101", 7, 1)],
        ),
        # numbers glued to letters are reported with the parse errors
        (
            "network N {\n  input x: 3x8x\n  y = 12abc\n  z = conv(8 8)\n  out y = x\n}",
            [("E104", 2, 12), ("E104", 3, 7), ("E101", 4, 14)],
        ),
    ],
)
def test_all_syntax_errors_are_reported_without_cascades(text, expected):
    assert where(diagnostics(text)) == expected


def test_syntax_errors_stop_at_the_limit():
    body = "".join(f"  a{i} = x -> conv(8, 3 3)\n" for i in range(MAX_SYNTAX_ERRORS + 10))
    ds = diagnostics("network N {\n  input x: 3x8x8\n" + body + "  out y = x\n}")
    assert len(ds) == MAX_SYNTAX_ERRORS
    assert [d.span.line for d in ds] == list(range(3, 3 + MAX_SYNTAX_ERRORS))


@pytest.mark.parametrize(
    "text, words",
    [
        ("network N { input x: 3x8x8\n out y = x -> conv(8, 3 }", "expected ')' or ','"),
        ("network N { input x: 3x8x8\n out y = x -> -> relu }", "unexpected '->'; expected an"),
        ("network N { input x: 3x8x8\n out y = [1, 2 }", "expected ',' or ']'"),
        ("network N(a b) { }", "expected ')', ',' or '='"),
        ("netwrk N { }", "did you mean 'network' instead of 'netwrk'?"),
        ("network N { inpt x: 3x8x8\n out y = x }", "did you mean 'input' instead of 'inpt'?"),
        ("network N { input x: 3x8x8\n out y = x -> reapeat 2 { relu } }", "'repeat'"),
        ("network N { input x: 3x8x8\n if x.channels = 3 { } }", "compare with '=='"),
    ],
)
def test_syntax_errors_in_words(text, words):
    (d,) = diagnostics(text)
    rendered = render(d)
    assert words in rendered
    # no grammar-internal terminal names
    assert not re.search(r"\b(RPAR|LPAR|RSQB|RBRACE|NAME|INT|COMMA)\b|__ANON|\$END", rendered)


def test_unclosed_bracket_at_end_of_file_points_at_the_bracket():
    (d,) = diagnostics("network N {\n  input x: 3x8x8\n  out y = x -> conv(8,\n")
    assert (d.code, d.span.line, d.span.col) == ("E103", 3, 20)
    assert "'(' is never closed" in d.message and d.notes[0].message.startswith("the file ends")


def test_parse_reports_into_one_error():
    with pytest.raises(NetdslError) as info:
        parse("network N { x = ( }\nnetwork M { y = ] }", "p.net")
    assert [d.span.line for d in info.value.diagnostics] == [1, 2]


# ---------------------------------------------------------- elaboration errors


def test_independent_statements_are_all_reported():
    text = """network N(classes=10) {
    input image: 3x32x32
    a = image -> rleu
    b = image -> conv(8, 3, strid=2)
    c = image -> flatten -> conv(8, 3)
    out logits = image -> flatten -> linear(classes)
}"""
    assert where(diagnostics(text)) == [("E201", 3, 18), ("E202", 4, 29), ("E401", 5, 29)]


def test_a_failed_name_is_poisoned_not_reported_again():
    text = """network N {
    input image: 3x32x32
    x = image -> conv(8, 3, strid=2) -> relu
    y = x -> maxpool(2)
    p, q = (y, y)
    for i in [1, 2] { y = y -> relu }
    z = [y, x]
    out logits = z[0] -> flatten -> linear(10)
    out other = image -> linear(10)
}"""
    ds = diagnostics(text)
    # x fails; y, p, q, z and the first output are skipped; the second output is wrong
    assert where(ds) == [("E202", 3, 29), ("E401", 9, 26)]


def test_a_failed_loop_poisons_everything_it_assigns():
    text = """network N {
    input image: 3x32x32
    x = image
    for w in [8, "sixteen"] { x = x -> conv(w, 3) }
    out y = x
}"""
    assert where(diagnostics(text)) == [("E304", 4, 45)]


def test_follow_on_checks_are_skipped_after_errors():
    # the input is used only by a failed statement: no 'input never used', no 'no output'
    text = "network N {\n  input image: 3x8x8\n  out y = image -> rleu\n}"
    assert where(diagnostics(text)) == [("E201", 3, 20)]


def test_one_mistake_in_a_block_used_twice_is_reported_once():
    text = """block B(c) {
    out in -> conv(c, 3, strid=2)
}
network N {
    input image: 3x32x32
    a = image -> B(4)
    b = image -> B(8)
    out y = concat(a, b)
}"""
    (d,) = diagnostics(text)
    assert (d.code, d.span.line) == ("E202", 2)
    assert d.notes[0].message.startswith("in block B 'b' (")


def test_a_limit_error_stops_elaboration():
    text = """network N {
    input image: 3x32x32
    a = image -> repeat 10 ** 9 { relu }
    b = image -> rleu
    out y = a
}"""
    assert [d.code for d in diagnostics(text)] == ["E701"]


def test_elaboration_stops_after_max_errors():
    body = "".join(f"    a{i} = image -> rleu\n" for i in range(MAX_ERRORS + 5))
    ds = diagnostics("network N {\n    input image: 3x8x8\n" + body + "    out y = image\n}")
    assert len(ds) == MAX_ERRORS
    assert ds[-1].notes[-1].message == f"stopping after {MAX_ERRORS} errors"


def test_the_api_raises_all_of_them_and_the_cli_prints_all_of_them(tmp_path):
    f = tmp_path / "two.net"
    f.write_text("network N {\n  input x: 3x8x8\n  a = x -> rleu\n  b = x -> tahn\n  out y = x\n}")
    r = CliRunner().invoke(main, ["check", str(f)])
    assert r.exit_code == 1
    assert re.findall(r"error\[(E\d+)\]", r.stderr) == ["E201", "E201"]
    assert "did you mean 'relu'?" in r.stderr and "did you mean 'tanh'?" in r.stderr
    r = CliRunner().invoke(main, ["check", "--format", "json", str(f)])
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert [(d["code"], d["span"]["line"]) for d in data["diagnostics"]] == [
        ("E201", 3),
        ("E201", 4),
    ]


def test_check_json_on_success_lists_warnings(tmp_path):
    f = tmp_path / "ok.net"
    f.write_text("network N {\n  input x: 3x8x8\n  z = x -> relu\n  out y = x -> tanh\n}")
    r = CliRunner().invoke(main, ["check", "--format", "json", str(f)])
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["ok"] is True and [d["code"] for d in data["diagnostics"]] == ["W001"]


@pytest.mark.parametrize(
    "text, line, col, hint",
    [
        # after an `if { ... }` member the comma is easy to forget (issue 15, item 8)
        (
            "network N(f=true) {\n input x: 3x8x8\n out y = x -> [\n  if f { relu }\n"
            "  conv(4, 3)\n ]\n}",
            5,
            3,
            "is a ',' missing at the end of line 4?",
        ),
        (
            "network N {\n input x: 3x8x8\n out y = x -> [conv(4, 3) relu]\n}",
            3,
            27,
            "is a ',' or '->' missing before 'relu'?",
        ),
    ],
)
def test_a_missing_comma_in_a_list_is_suggested(text, line, col, hint):
    (d,) = diagnostics(text)
    assert (d.code, d.span.line, d.span.col, d.hint) == ("E101", line, col, hint)


def test_a_missing_arrow_is_not_silently_accepted():
    (d,) = diagnostics("network N {\n  input x: 3x8x8\n  out y = x -> conv(8, 3) relu\n}")
    assert (d.code, d.span.col, d.hint) == ("E321", 27, "is a '->' missing before it?")
    # values of if/for/repeat bodies are fine: they are the bodies' values
    load("ok.net", text="network N { input x: 3x8x8\n for i in [1] { relu }\n out y = x }")


# ----------------------------------------------------------------- the catalogue


def test_every_code_is_documented_in_docs_errors_md():
    root = Path(__file__).resolve().parent.parent
    used: set[str] = set()
    for folder in ("netdsl", "backends"):
        for f in (root / folder).rglob("*.py"):
            used |= set(re.findall(r"[\"']([EW]\d{3})[\"']", f.read_text(encoding="utf-8")))
    doc = (root / "docs" / "errors.md").read_text(encoding="utf-8")
    documented = re.findall(r"^### ([EW]\d{3}) ", doc, re.M)
    assert len(documented) == len(set(documented)), "a code documented twice"
    assert sorted(used - set(documented)) == [], "codes missing from docs/errors.md"
    assert sorted(set(documented) - used) == [], "docs/errors.md lists codes nothing uses"
    assert len(used) > 50
