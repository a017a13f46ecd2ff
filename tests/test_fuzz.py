"""Fuzzing: mutated networks end in success or a NetdslError, never in another exception
and never in a hang.

Seeds are the shipped networks (networks/**/*.net) and a few small programs below that
touch every construct. Each case applies a handful of mutations: deleting, duplicating,
swapping or replacing tokens, inserting random text, huge numbers, deep nesting. The
case is then loaded (parse + elaborate + shape inference), and on success analysed
(statistics) and linted (IR invariants); on failure its diagnostics are rendered (text
and JSON). Each case must finish within TIME_LIMIT seconds.

CI runs a few hundred cases, derandomized. A long run (docs/fuzzing.md):

    NETDSL_FUZZ_EXAMPLES=100000 pytest tests/test_fuzz.py -p no:cacheprovider
    NETDSL_FUZZ_EXAMPLES=100000 NETDSL_FUZZ_SEED=7 pytest tests/test_fuzz.py   # another stream
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from netdsl.api import load
from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.elaborate import Limits
from netdsl.ir import lint
from netdsl.render import render_all, to_json
from netdsl.stats import analyse

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("NETDSL_FUZZ_EXAMPLES", "300"))
SEED = os.environ.get("NETDSL_FUZZ_SEED")
TIME_LIMIT = float(os.environ.get("NETDSL_FUZZ_TIME_LIMIT", "5"))
# Small limits keep every case quick; what is tested is that limits, not luck, bound the
# work (a mutation turning `repeat 3` into `repeat 99999999` must fail fast, not run).
LIMITS = Limits(max_layers=5_000, max_iterations=20_000)

OWN_SEEDS = {
    "tests/fuzz_seed_blocks.net": """
block Res(planes, stride=1) {
    x = in -> conv(planes, 3, stride=stride, pad=1, bias=false) as c1 -> batchnorm -> relu
           -> conv(planes, 3, pad=1) as c2
    skip = in
    if stride != 1 or in.channels != planes {
        skip = in -> [conv(planes, 1, stride=stride), batchnorm] as down
    }
    out relu(x + skip)
}
block Branches(a, b=a * 2) {
    l = in -> conv(a, 1) -> relu
    r = in -> maxpool(3, stride=1, pad=1) -> conv(b, 1)
    out concat(l, r)
}
network Net(classes=10, widths=[8, 16]) {
    input image: 3x32x32
    x = image -> conv(widths[0], 3, pad=1) as stem -> relu
    for w, n in [(widths[0], 2), (widths[1], 1)] {
        x = x -> repeat n { Res(w) } -> Res(w * 2, stride=2)
    }
    y = x -> Branches(4) as br -> global_avgpool -> flatten
    aux(0.3) side = x -> flatten -> linear(classes) as side_fc
    out logits = y -> dropout(0.5) -> linear(classes) as fc
    init conv(weight=kaiming_normal(mode="fan_out", nonlinearity="relu"), bias=0)
}
""",
    "tests/fuzz_seed_values.net": """
network Values(k=3, tag="t", scale=0.5) {
    input a: 1x28x28
    input b: (1, 28, 28)
    cfg = [8, "M", 16, "M"]
    n = len(cfg) + max(1, 2) * 2 ** 2 - 7 // 2 % 3
    feats = [for v in cfg { if v == "M" { maxpool(2) } else { conv(v, k, pad=1) -> relu } }]
    x = a -> feats as features
    y = b -> [conv(4, 5, pad="same"), relu, avgpool(2, stride=2)] as "side_{tag}"
    s = x -> conv(y.channels, 1) -> adaptive_avgpool((14, 14))
    z = concat(s, y) -> flatten -> linear(int(n * scale) + 1) -> tanh
    out out1 = z
    out out2 = s -> global_maxpool -> flatten
}
""",
    "tests/fuzz_seed_lenet.net": """
network Tiny {
    input image: 1x32x32
    x = image -> conv(6, 5) as C1 -> tanh -> subsample(2) as S2 -> tanh
              -> conv(16, 5, table=[[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 0],
                                    [0], [1], [2], [3], [4], [5], [0, 5], [1, 4], [2, 3],
                                    [0, 1, 2, 3, 4, 5]]) as C3
              -> lrn(5, alpha=1e-4, beta=0.75, k=1) -> flatten -> linear(84) -> tanh
    out logits = x -> linear(10)
}
""",
}


def _seeds() -> list[tuple[str, str]]:
    seeds = [
        (str(p), p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob("networks/**/*.net"))
    ]
    seeds += [(str(ROOT / name), text) for name, text in OWN_SEEDS.items()]
    return seeds


SEEDS = _seeds()
TOKEN = re.compile(
    r"""\s+|\#[^\n]*|"(?:[^"\\\n]|\\.)*"|\d+(?:x\d+)+|\d+\.\d*(?:[eE][+-]?\d+)?"""
    r"""|\d+|[A-Za-z_]\w*|->|\*\*|//|==|!=|<=|>=|."""
)
VOCAB = (
    "network block import input out aux init if else for in repeat as and or not true false "
    "none ( ) [ ] { } , = : ; -> . + - * / // % ** == < x y in conv relu linear flatten "
    "concat maxpool batchnorm Res range len 0 1 -1 3 1.5 3x0x0 1x1x1 "
    '99999999999999999999999999999999 10**100 2**62 1e999 1e-999 .5 "same" "" # \n'
).split(" ") + ["\n", "  ", '"networks/lenet5.net"', "\t", "\u00d7", "'"]

_index = st.integers(min_value=0, max_value=10**6)
MUTATION = st.one_of(
    st.tuples(st.just("delete"), _index, st.integers(1, 3)),
    st.tuples(st.just("duplicate"), _index, st.integers(1, 3)),
    st.tuples(st.just("swap"), _index, _index),
    st.tuples(st.just("reuse"), _index, _index),
    st.tuples(st.just("reuse"), _index, _index),
    st.tuples(st.just("replace"), _index, st.sampled_from(VOCAB)),
    st.tuples(st.just("insert"), _index, st.sampled_from(VOCAB)),
    st.tuples(st.just("text"), _index, st.text(max_size=8)),
    st.tuples(st.just("number"), _index, st.integers(-(10**40), 10**40).map(str)),
    st.tuples(
        st.just("nest"),
        _index,
        st.tuples(st.sampled_from(["()", "[]", "-", "not ", "->"]), st.integers(1, 3000)),
    ),
)


def mutate(text: str, mutations) -> str:
    tokens = TOKEN.findall(text)
    for kind, i, arg in mutations:
        if not tokens:
            tokens = [""]
        i %= len(tokens)
        if kind == "delete":
            del tokens[i : i + arg]
        elif kind == "duplicate":
            tokens[i:i] = tokens[i : i + arg]
        elif kind == "swap":
            j = arg % len(tokens)
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind == "reuse":  # another word or number of the same file: often still parses
            words = [t for t in tokens if t[:1].isalnum() or t[:1] == "_"]
            if words and (tokens[i][:1].isalnum() or tokens[i][:1] == "_"):
                tokens[i] = words[arg % len(words)]
        elif kind == "replace":
            tokens[i] = arg
        elif kind == "insert":
            tokens.insert(i, " " + arg + " ")
        elif kind == "text":
            tokens.insert(i, arg)
        elif kind == "number":
            numbers = [k for k, t in enumerate(tokens) if t[:1].isdigit()]
            tokens[numbers[i % len(numbers)] if numbers else i] = arg
        elif kind == "nest":
            how, depth = arg
            if how == "->":
                tokens.insert(i + 1, " -> relu" * depth)
            elif len(how) == 2:
                tokens[i] = how[0] * depth + tokens[i] + how[1] * depth
            else:
                tokens[i] = how * depth + tokens[i]
    return "".join(tokens)


class Hang(BaseException):
    """Raised by the alarm: a case ran past TIME_LIMIT (a BaseException, so no handler
    in netdsl can swallow it)."""


@contextmanager
def time_limit(seconds: float):
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# Outcomes of this run, by first diagnostic code ("ok" for success), for the long run's
# report: NETDSL_FUZZ_REPORT=FILE writes them as JSON at the end of the module.
OUTCOMES: Counter = Counter()
SLOWEST = [0.0]  # seconds of the slowest case


@pytest.fixture(scope="module", autouse=True)
def _report():
    start = time.perf_counter()
    yield
    target = os.environ.get("NETDSL_FUZZ_REPORT")
    if target:
        report = {
            "cases": sum(OUTCOMES.values()),
            "seconds": round(time.perf_counter() - start, 1),
            "slowest_case_seconds": round(SLOWEST[0], 3),
            "outcomes": dict(OUTCOMES.most_common()),
        }
        Path(target).write_text(json.dumps(report, indent=2) + "\n")


def check_case(path: str, text: str) -> str:
    """Load one program; "ok" or "error". Anything else is a bug and raises."""
    try:
        return _check_case(path, text)
    except Hang as exc:  # an ordinary failure, so that Hypothesis shrinks and reports it
        raise AssertionError(f"hang: {exc}") from None


def _check_case(path: str, text: str) -> str:
    start = time.perf_counter()
    with time_limit(TIME_LIMIT):
        try:
            G = load(path, text=text, limits=LIMITS)
        except NetdslError as exc:
            assert exc.diagnostics, "a NetdslError without diagnostics"
            lines = text.count("\n") + 1
            for d in exc.diagnostics:
                assert isinstance(d, Diagnostic) and d.severity == "error"
                assert re.fullmatch(r"E[1-9]\d\d", d.code), d.code
                if d.span is not None and d.span.file == path:
                    assert 1 <= d.span.line <= lines and d.span.col >= 1, d.span
            render_all(exc.diagnostics)
            to_json(exc.diagnostics)
            result = "error"
            OUTCOMES[exc.diagnostics[0].code] += 1
        else:
            assert isinstance(G, nx.DiGraph)
            lint(G)
            analyse(G)
            render_all(G.graph.get("warnings", []))
            result = "ok"
            OUTCOMES["ok"] += 1
    elapsed = time.perf_counter() - start
    SLOWEST[0] = max(SLOWEST[0], elapsed)
    assert elapsed < TIME_LIMIT
    return result


def _settings(examples: int):
    options = dict(
        max_examples=examples,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    return settings(**options)


def _seeded(f):
    return seed(int(SEED))(f) if SEED is not None else f


@pytest.mark.skipif(not SEEDS, reason="no seed programs")
@_seeded
@_settings(EXAMPLES)
@given(
    which=st.integers(min_value=0, max_value=len(SEEDS) - 1),
    mutations=st.lists(MUTATION, min_size=1, max_size=4),
)
def test_mutated_programs_fail_cleanly(which, mutations):
    path, text = SEEDS[which]
    check_case(path, mutate(text, mutations))


@_seeded
@_settings(max(20, EXAMPLES // 10))
@given(data=st.binary(max_size=300), which=st.integers(0, len(SEEDS) - 1), at=_index)
def test_random_bytes_in_a_file(tmp_path_factory, data, which, at):
    """Bytes, not text: invalid UTF-8 must give E802, read through a real file."""
    path, text = SEEDS[which]
    raw = text.encode("utf-8")
    at %= len(raw) + 1
    folder = tmp_path_factory.mktemp("fuzz", numbered=True)
    file = folder / "case.net"
    file.write_bytes(raw[:at] + data + raw[at:])
    start = time.perf_counter()
    with time_limit(TIME_LIMIT):
        try:
            load(str(file), limits=LIMITS)
        except NetdslError as exc:
            render_all(exc.diagnostics)
    assert time.perf_counter() - start < TIME_LIMIT


@pytest.mark.parametrize("path, text", SEEDS, ids=[Path(p).name for p, _ in SEEDS])
def test_seeds_themselves_load(path, text):
    # Shipped networks are being written concurrently; a seed may fail to load, but it must
    # fail cleanly, like any mutant. The own seeds must load.
    result = check_case(path, text)
    if "fuzz_seed" in path:
        assert result == "ok"


# Regressions found by fuzzing: each once crashed, hung or gave no diagnostic.
REGRESSIONS = [
    "network N { input x: 3x8x8\n y = 1" + "+1" * 3000 + "\n out z = x }",
    "network N { input x: 3x8x8\n y = " + "[" * 3000 + "]" * 3000 + "\n out z = x }",
    "network N { input x: 3x8x8\n out z = x" + " -> relu" * 3000 + " }",
    "network N { input x: 3x8x8\n s = relu" + " -> relu" * 3000 + "\n out z = x -> s }",
    "network N { input x: 3x8x8\n n = " + "9" * 5000 + "\n out z = x }",
    "network N { input x: 3x8x8\n n = 1e999\n out z = x }",
    "network N { input x: 3x8x8\n n = 1e300 ** 2\n out z = x }",
    "network N { input x: 3x8x8\n n = 1.5 ** 5000\n out z = x }",
    "network N { input x: 3x8x8\n n = 0 ** -1\n out z = x }",
    "network N { input x: 3x8x8\n n = (-8) ** 0.5\n out z = x }",
    "network N { input x: 3x8x8\n out z = x -> conv(1000000000000, 8) }",
    "network N { input x: 3x8x8\n xs = [1]\n for i in range(40) { xs = xs + xs }\n out z = x }",
    "network N { input x: 3x8x8\n v = 0\n for i in range(1000000) { v = v + 1 }\n out z = x }",
    "network N { input x: 3x8x8\n xs = [1]\n for i in range(5000) { xs = [xs] }\n"
    " out z = x -> xs }",
    # found by the fuzzer: a tensor fed twice into one layer broke the IR's port numbering
    "network N { input x: 3x8x8\n a = x -> relu\n out y = concat(a, a, x) }",
    "network N { input x: 3x8x8\n out y = x + x }",
    # found by the fuzzer: '\r' and other separators made str.splitlines() count more
    # lines than the parser: an end-of-file error pointed past the last line
    "network N {\r input x: 3x8x8\x0c\n out y = x -> relu\r\x08\r\n\r",
    # found by the fuzzer: adaptive pooling to a huge size built a list per output row
    "network N { input x: 3x8x8\n out y = x -> adaptive_avgpool((1000000000, 1)) }",
    "network N { input x: 3x8x8\n y = x\n for i in range(1000) { for j in range(1000) {"
    " for k in range(1000) { y = y -> relu } } }\n out z = y }",
]


@pytest.mark.parametrize("text", REGRESSIONS, ids=range(len(REGRESSIONS)))
def test_regressions(text):
    check_case(str(ROOT / "tests" / "regression.net"), text)
