"""Bounded resources: every limit fails fast with a clear error, never a hang or a
traceback (docs/errors.md, E7xx). Times are asserted loosely, as guards only."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from netdsl.api import load
from netdsl.cli import main
from netdsl.diagnostics import NetdslError
from netdsl.elaborate import Limits
from netdsl.loader import MAX_IMPORT_DEPTH
from netdsl.ops.pool import adaptive_total, adaptive_widest, adaptive_windows
from netdsl.parser import MAX_NESTING

HEAD = "network N {\n    input x: 3x8x8\n"


def errors(text: str, limits: Limits | None = None, path: str = "limits.net"):
    start = time.perf_counter()
    with pytest.raises(NetdslError) as info:
        load(path, text=text, limits=limits)
    assert time.perf_counter() - start < 5, "a limit must fail fast"
    return info.value.diagnostics


@pytest.mark.parametrize(
    "body, code, words",
    [
        # nested repeats: the lazy repeat knows its size up front
        ("out y = x -> repeat 1000 { repeat 1000 { repeat 1000 { relu } } }", "E701", "repeat"),
        # a repeat in a for: judged after the first iteration
        (
            "y = x\n for i in range(100000) { y = y -> repeat 10000 { relu } }\n out z = y",
            "E701",
            "for loop",
        ),
        # a for over range(10**9): the range itself is refused
        ("y = x\n for i in range(10 ** 9) { y = y -> relu }\n out z = y", "E707", "range"),
        # three nested loops of 1000: refused when the innermost starts
        (
            "y = x\n for i in range(1000) { for j in range(1000) { for k in range(1000) {"
            " y = y -> relu } } }\n out z = y",
            "E707",
            "for loop",
        ),
        # a repeat whose body assigns (not lazy), in a for
        (
            "y = x\n for i in range(100000) { repeat 1000 { y = y -> relu } }\n out z = y",
            "E707",
            "repeat loop",
        ),
        # layers built as values, not applied yet
        ("s = [for i in range(60000) { relu -> relu }]\n out z = x -> s", "E701", "for loop"),
        # a list that doubles
        ("xs = [relu]\n for i in range(64) { xs = xs + xs }\n out z = x -> xs", "E701", "list"),
        # list repetition
        ("out z = x -> [relu] * 10 ** 9", "E701", "list"),
    ],
)
def test_a_billion_layers_fail_fast_naming_the_construct(body, code, words):
    (d,) = errors(HEAD + "    " + body + "\n}")
    assert d.code == code and words in d.message, d.message
    assert d.span is not None


def test_the_layer_limit_is_exact_for_what_fits():
    text = HEAD + "    out y = x -> repeat 99 { relu }\n}"
    assert len(load("ok.net", text=text, limits=Limits(max_layers=100))) == 100  # with input
    (d,) = errors(text, Limits(max_layers=98))
    assert d.code == "E701"


def test_max_layers_on_the_command_line(tmp_path):
    f = tmp_path / "n.net"
    f.write_text(HEAD + "    out y = x -> repeat 50 { relu }\n}")
    r = CliRunner().invoke(main, ["check", "--max-layers", "10", str(f)])
    assert r.exit_code == 1 and "error[E701]" in r.output and "--max-layers" in r.output
    assert CliRunner().invoke(main, ["check", "--max-layers", "100", str(f)]).exit_code == 0


def test_iteration_limit():
    text = HEAD + "    v = 0\n    for i in range(1000) { v = v + 1 }\n    out y = x\n}"
    load("ok.net", text=text, limits=Limits(max_iterations=1000))
    (d,) = errors(text, Limits(max_iterations=999))
    assert d.code == "E707" and "1,000 iterations" in d.message


def test_block_nesting_limit():
    blocks = "".join(f"block B{i}(c=1) {{ out in -> B{i + 1} }}\n" for i in range(60))
    text = blocks + "block B60(c=1) { out in -> relu }\n" + HEAD + "    out y = x -> B0\n}"
    (d,) = errors(text)
    assert d.code == "E702" and "50" in d.message
    # a notes chain this long is cut in the middle
    assert any("more enclosing blocks" in n.message for n in d.notes) and len(d.notes) <= 11
    assert load("deep.net", text=text, limits=Limits(max_block_depth=100))


def test_import_depth_limit(tmp_path):
    n = MAX_IMPORT_DEPTH + 3
    for i in range(n):
        nxt = f'import "f{i + 1}.net"\n' if i + 1 < n else ""
        (tmp_path / f"f{i}.net").write_text(nxt + f"block B{i}(c) {{ out in }}\n")
    main_file = tmp_path / "main.net"
    main_file.write_text('import "f0.net"\n' + HEAD + "    out y = x -> B0(1)\n}")
    (d,) = errors(main_file.read_text(), path=str(main_file))
    assert d.code == "E706" and d.span is not None and d.span.line == 1
    # main.net and f0 ... f30 make 32 nested files: f30's import is the one refused
    assert d.span.file.endswith(f"f{MAX_IMPORT_DEPTH - 2}.net")


@pytest.mark.parametrize(
    "expr",
    [
        "[" * (MAX_NESTING + 20) + "1" + "]" * (MAX_NESTING + 20),
        "1" + " + 1" * 5000,
        "-" * 5000 + "1",
        "not " * 5000 + "true",
        "max(" * 3000 + "1" + ")" * 3000,
    ],
)
def test_deep_nesting_is_a_diagnostic_not_a_recursion_error(expr):
    (d,) = errors(HEAD + f"    n = {expr}\n    out y = x\n}}")
    assert d.code == "E704" and d.span is not None and d.span.line == 3


def test_long_chains_are_not_nesting():
    chain = " -> relu" * 5000
    G = load("chain.net", text=HEAD + f"    out y = x{chain}\n}}", limits=Limits())
    assert len(G) == 5001
    G = load("chain.net", text=HEAD + f"    s = relu{chain}\n    out y = x -> s\n}}")
    assert len(G) == 5002


def test_values_built_too_deep_at_run_time_are_a_diagnostic():
    text = HEAD + "    xs = [1]\n    for i in range(5000) { xs = [xs] }\n    out y = x -> xs\n}"
    (d,) = errors(text)
    assert d.code == "E704"


@pytest.mark.parametrize(
    "expr, code",
    [
        ("9" * 5000, "E703"),  # Python refuses to convert more than 4300 digits
        ("1e999", "E703"),
        ("2 ** 100000", "E703"),
        ("1e300 ** 2", "E703"),
        ("1.5 ** 5000", "E703"),
        ("0 ** -1", "E313"),
        ("(-8) ** 0.5", "E313"),
        ("7 // 0", "E313"),
    ],
)
def test_arithmetic_limits(expr, code):
    (d,) = errors(HEAD + f"    n = {expr}\n    out y = x\n}}")
    assert d.code == code


def test_beyond_int64_is_an_error():
    (d,) = errors(HEAD + "    out y = x -> conv(10 ** 30, 3)\n}")
    assert d.code == "E708" and "64-bit" in d.message
    (d,) = errors("network N {\n input x: 100000x100000x100000x100000x100000\n out y = x\n}")
    assert d.code == "E708" and d.span.line == 2
    # each layer fits, the network's parameters together do not
    text = HEAD + "    f = x -> flatten -> linear(3 * 10 ** 16)\n    out y = f -> linear(200)\n}"
    (d,) = errors(text)
    assert d.code == "E708" and "the network" in d.message


def test_huge_but_representable_sizes_are_warnings_in_gb():
    G = load("big.net", text="network N {\n input x: 3x100000x100000\n out y = x -> relu\n}")
    (w,) = G.graph["warnings"]
    assert w.code == "W002" and w.severity == "warning" and "120.0 GB" in w.message
    G = load("big.net", text=HEAD + "    out y = x -> flatten -> linear(10000000)\n}")
    (w,) = G.graph["warnings"]
    assert w.code == "W003" and "1,930,000,000 parameters: 7.7 GB" in w.message
    # a huge conv: fast (no per-filter lists), one warning per kind
    start = time.perf_counter()
    G = load("big.net", text=HEAD + "    out y = x -> conv(1000000000000, 8)\n}")
    assert time.perf_counter() - start < 5
    assert sorted(w.code for w in G.graph["warnings"]) == ["W002", "W003"]


def test_warnings_are_printed_and_do_not_fail(tmp_path):
    f = tmp_path / "big.net"
    f.write_text("network N {\n input x: 3x100000x100000\n out y = x -> relu\n}")
    r = CliRunner().invoke(main, ["check", str(f)])
    assert r.exit_code == 0 and "warning[W002]" in r.stderr and "120.0 GB" in r.stderr


def test_huge_adaptive_pooling_is_fast():
    start = time.perf_counter()
    G = load("big.net", text=HEAD + "    out y = x -> adaptive_avgpool((1000000000, 1))\n}")
    from netdsl.stats import analyse

    analyse(G)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("n", range(1, 40))
def test_adaptive_pooling_closed_forms(n):
    for m in range(1, 40):
        windows = adaptive_windows(n, m)
        assert adaptive_total(n, m) == sum(e - b for b, e in windows)
        assert adaptive_widest(n, m) == max(e - b for b, e in windows)
