"""Expansion bombs and huge inputs fail fast with E701/E707/E709, and what fits stays
linear (issue 15, item 7). Figures: docs/benchmarks.md ("Bombs and huge inputs")."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from netdsl.api import load
from netdsl.diagnostics import NetdslError
from netdsl.elaborate import Limits
from netdsl.expansion import Estimator
from netdsl.loader import load_program
from netdsl.ops import OPS

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = sorted(p for p in (ROOT / "networks").rglob("*.net") if "blocks" not in p.parts)


def doubling_blocks(n: int) -> str:
    lines = [f"block B{i}(c) {{ out in -> B{i + 1}(c) -> B{i + 1}(c) }}" for i in range(n)]
    lines.append(f"block B{n}(c) {{ out in -> relu }}")
    lines.append("network N {\n    input x: 3x8x8\n    out y = x -> B0(1)\n}")
    return "\n".join(lines) + "\n"


# Not a speed target (those are measured by benchmarks/ and reported in
# docs/benchmarks.md: well under a second here): a bound generous enough for a loaded
# CI machine that still catches an exponential expansion, which runs for minutes.
BUDGET = 20.0


def fails_fast(text: str, limits: Limits | None = None, budget: float = BUDGET):
    start = time.perf_counter()
    with pytest.raises(NetdslError) as info:
        load("bomb.net", text=text, limits=limits)
    took = time.perf_counter() - start
    assert took < budget, f"took {took:.2f} s"
    return info.value.diagnostics


def test_blocks_applying_blocks_twice_fail_at_once():
    (d,) = fails_fast(doubling_blocks(40))
    assert d.code == "E701" and "B0" in d.message and f"{2**40:,}" in d.message
    assert (d.span.line, d.span.col) == (44, 18)


def test_a_doubling_that_fits_is_elaborated_exactly():
    G = load("ok.net", text=doubling_blocks(10))
    assert sum(1 for _, a in G.nodes(data=True) if a["op"] == "relu") == 2**10
    with pytest.raises(NetdslError) as info:
        load("ok.net", text=doubling_blocks(10), limits=Limits(max_layers=1000))
    assert info.value.diagnostics[0].code == "E701"


@pytest.mark.parametrize(
    "body",
    [
        "out y = x -> repeat 1000000 { relu }",
        "y = x\n    for i in range(1000) { y = y -> repeat 1000 { relu } }\n    out z = y",
        "v = 0\n    for i in range(1000) { for j in range(1000) { v = v + 1 } }\n    out z = x",
        "y = x\n    for i in range(100000) { repeat 1000 { y = y -> relu } }\n    out z = y",
    ],
)
def test_past_the_default_limits_fails_in_under_a_second(body):
    (d,) = fails_fast(f"network N {{\n    input x: 3x8x8\n    {body}\n}}\n")
    assert d.code in ("E701", "E707") and d.span is not None


def test_an_iteration_limit_message_counts_the_iterations_before():
    text = (
        "network N {\n    input x: 3x8x8\n    v = 0\n"
        "    for i in range(150000) { v = v + 1 }\n"
        "    for j in range(60000) { v = v + 1 }\n    out z = x\n}\n"
    )
    (d,) = fails_fast(text)
    assert d.code == "E707" and (d.span.line, d.span.col) == (5, 5)
    assert "60,000 iterations" in d.message and "150,000 iterations run before it" in d.message
    assert "210,000 in all" in d.message and "limit of 200,000" in d.message


@pytest.mark.parametrize("path", NETWORKS, ids=[p.stem for p in NETWORKS])
def test_the_estimate_is_a_lower_bound_on_every_shipped_network(path):
    program = load_program(str(path))
    G = load(str(path))
    est = Estimator(program.blocks, OPS, cap=10**18)
    for name in program.blocks:
        est.block(name)
    net = program.root.networks[0]
    at_least = est.body(net.body, {p.name for p in net.params})
    assert at_least <= len(G)
    # and every instance of every block was elaborated to at least its estimate
    for path_, inst in G.graph["instances"].items():
        inside = sum(1 for n in G if n.startswith(path_ + "."))
        assert est.block(inst.block) <= inside, (path_, inst.block)


def test_a_100000_layer_network_fits_the_default_limit():
    body = "\n".join(f"    x{i + 1} = x{i} -> relu" for i in range(2000))
    tail = "    out y = x2000 -> repeat 97999 { relu }\n}\n"
    text = f"network N {{\n    input x0: 1x2x2\n{body}\n" + tail
    G = load("big.net", text=text)
    assert len(G) == 100_000
