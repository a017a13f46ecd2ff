"""The corpus of wrong programs under tests/bad/: each one fails `netdsl check` with exit
code 1, exactly the diagnostics its first line announces, and no traceback.

Annotations, in the first lines of each file:

    # expect: E202 3:26                     one error: its code, line and column
    # expect: E101 4:29, E102 6:24          several errors, in the order reported
    # expect: E502 lib/cycle_b.net:2:1      an error in another file (path suffix)
    # expect: E608                          an error without a position
    # args: -D clases=10                    extra command-line arguments

Files under tests/bad/lib/ are helpers (imported by the cases), not cases.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdsl.cli import main

BAD = Path(__file__).resolve().parent / "bad"
CASES = sorted(BAD.glob("*.net"))
_EXPECT = re.compile(r"(E\d{3})(?:\s+(?:(\S+):)?(\d+):(\d+))?")


def annotations(path: Path) -> tuple[list[tuple[str, str | None, int | None, int | None]], list]:
    expected, args = None, []
    for raw in path.read_bytes().decode("utf-8", errors="replace").splitlines()[:5]:
        if raw.startswith("# expect:"):
            expected = []
            for item in raw[len("# expect:") :].split(","):
                m = _EXPECT.fullmatch(item.strip())
                assert m, f"{path.name}: bad annotation {item!r}"
                code, file, line, col = m.groups()
                expected.append(
                    (code, file, int(line) if line else None, int(col) if col else None)
                )
        elif raw.startswith("# args:"):
            args = shlex.split(raw[len("# args:") :])
    assert expected, f"{path.name}: no '# expect:' line"
    return expected, args


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_the_corpus_is_large_and_covers_every_category():
    assert len(CASES) >= 40
    codes = {code for case in CASES for code, *_ in annotations(case)[0]}
    for family in ("E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8"):
        assert any(c.startswith(family) for c in codes), family


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_program(case):
    expected, args = annotations(case)
    r = run("check", "--format", "json", *args, case)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    diagnostics = json.loads(r.stdout)["diagnostics"]
    got = []
    for d in diagnostics:
        span = d["span"]
        got.append((d["code"], span and span["file"], span and span["line"], span and span["col"]))
    want = []
    for (code, file, line, col), (_, got_file, *_) in zip(expected, got + [(None,) * 4] * 9):
        if line is None:
            want.append((code, got_file, None, None) if got_file is None else (code,))
            continue
        suffix = file or case.name
        # The file is displayed relative to the working directory when it can be.
        shown = got_file if got_file and got_file.endswith(suffix) else suffix
        want.append((code, shown, line, col))
    assert [g[: len(w)] for g, w in zip(got, want)] == want and len(got) == len(want), (
        f"\nexpected {expected}\ngot      {got}"
    )
    for d in diagnostics:
        assert d["message"] and d["severity"] == "error"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_program_text_output(case):
    expected, args = annotations(case)
    r = run("check", *args, case)
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    code, file, line, col = expected[0]
    first = r.stderr.splitlines()[0]
    if line is None:
        assert f"error[{code}]: " in first
    else:
        assert re.match(rf".*{re.escape(file or case.name)}:{line}:{col}: error\[{code}\]: ", first)
        # the quoted line and a caret under the column
        lines = r.stderr.splitlines()
        assert lines[1].lstrip().startswith(f"{line} | ")
        assert "^" in lines[2]


# One case per family through a real `python -m netdsl` process, as a user runs it.
SAMPLES = [
    "syntax_several_errors.net",
    "name_unknown_argument.net",
    "type_zero_size.net",
    "shape_concat_spatial.net",
    "import_cycle.net",
    "output_unused_input.net",
    "limit_nested_repeat.net",
    "io_not_utf8.net",
]


@pytest.mark.parametrize("name", SAMPLES)
def test_bad_program_in_a_subprocess(name):
    case = BAD / name
    expected, args = annotations(case)
    r = subprocess.run(
        [sys.executable, "-m", "netdsl", "check", *args, str(case)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr + r.stdout
    reported = re.findall(r"^\S+:(\d+):(\d+): error\[(E\d+)\]", r.stderr, re.M)
    assert [(c, int(a), int(b)) for a, b, c in reported] == [
        (c, line, col) for c, _, line, col in expected
    ]


def test_typo_deep_in_nested_blocks_names_every_instance():
    r = run("check", "--format", "json", BAD / "multi_block_chain.net")
    (d,) = json.loads(r.stdout)["diagnostics"]
    assert d["code"] == "E202" and d["hint"] == "did you mean 'stride'?"
    assert [n["message"].split(" (")[0] for n in d["notes"]] == [
        "in block Conv 'stage1.conv'",
        "in block Stage 'stage1'",
    ]
    inner, outer = (n["span"] for n in d["notes"])
    assert (inner["line"], inner["col"]) == (7, 15)
    assert (outer["line"], outer["col"]) == (11, 22)
    text = run("check", BAD / "multi_block_chain.net").stderr
    assert "note: in block Conv 'stage1.conv' (" in text and "multi_block_chain.net:7:15)" in text


def test_json_diagnostics_are_complete():
    r = run("check", "--format", "json", BAD / "name_unknown_argument.net")
    assert r.exit_code == 1
    (d,) = json.loads(r.stdout)["diagnostics"]
    assert set(d) == {"severity", "code", "message", "span", "hint", "notes"}
    assert d["span"]["file"].endswith("name_unknown_argument.net")
    assert (d["span"]["line"], d["span"]["col"], d["span"]["end_col"]) == (4, 33, 40)
    assert d["hint"] == "did you mean 'stride'?"
