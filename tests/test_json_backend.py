"""The json backend: the IR in node-link form, JSON-safe, deterministic, loadable by networkx."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
from click.testing import CliRunner
from netdsl.backends import json as json_backend

from netdsl.api import load
from netdsl.stats import analyse

ROOT = Path(__file__).resolve().parent.parent
NETS = ROOT / "networks"


@pytest.fixture(scope="module", params=["lenet5", "googlenet", "resnet50"])
def pair(request):
    G = load(str(NETS / f"{request.param}.net"))
    return G, json_backend.generate(G, {}, "json")


def test_round_trips_through_networkx(pair):
    G, text = pair
    H = nx.node_link_graph(json.loads(text), edges="edges")
    assert H.is_directed()
    assert list(H) == list(G)  # same nodes, in the IR's order
    for node, data in G.nodes(data=True):
        assert tuple(H.nodes[node]["shape"]) == data["shape"]
        assert H.nodes[node]["op"] == data["op"]
    assert set(H.edges) == set(G.edges)
    for u, v, data in G.edges(data=True):
        assert H.edges[u, v]["port"] == data["port"]


def test_nodes_carry_costs_rf_span_and_scope(pair):
    G, text = pair
    data = json.loads(text)
    report = {layer["name"]: layer for layer in analyse(G)["layers"]}
    for node in data["nodes"]:
        for key in ("op", "args", "shape", "params", "macs", "receptive_field", "span", "scope"):
            assert key in node, key
        span = node["span"]
        assert set(span) >= {"file", "line", "col"} and span["line"] >= 1
        if node["op"] == "input":
            assert node["params"] == 0 and node["receptive_field"] == [1, 1]
            continue
        layer = report[node["id"]]
        assert node["params"] == layer["params"]
        assert node["macs"] == layer["macs"]
        assert node["receptive_field"] == layer["receptive_field"]
        assert node["scope"] == layer["scope"]
        assert len(node["scope_blocks"]) == len(node["scope"])


def test_graph_attributes(pair):
    G, text = pair
    graph = json.loads(text)["graph"]
    assert graph["name"] == G.graph["name"]
    assert graph["params"] == dict(G.graph["params"])
    assert graph["inputs"] == dict(G.graph["inputs"])
    assert [o["name"] for o in graph["outputs"]] == [o["name"] for o in G.graph["outputs"]]
    totals = analyse(G)["totals"]
    assert graph["totals"]["params"] == totals["params"]
    assert graph["totals"]["macs"] == totals["macs"]
    assert set(graph["instances"]) == set(G.graph["instances"])


def test_deterministic_and_json_safe(pair):
    G, text = pair
    assert json_backend.generate(G, {}, "json") == text
    assert json_backend.generate(G, {}, None) == text
    data = json.loads(text)
    assert json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n" == text


def test_known_values():
    G = load(str(NETS / "lenet5.net"))
    nodes = {n["id"]: n for n in json.loads(json_backend.generate(G))["nodes"]}
    c1 = nodes["C1"]
    assert c1["args"]["kernel"] == [5, 5] and c1["args"]["filters"] == 6
    assert c1["params"] == 156 and c1["receptive_field"] == [5, 5]
    assert c1["span"]["file"].endswith("lenet5.net")
    googlenet = json.loads(json_backend.generate(load(str(NETS / "googlenet.net"))))
    aux = {o["name"]: o for o in googlenet["graph"]["outputs"]}
    assert aux["aux1"]["aux"] is True and aux["aux1"]["weight"] == 0.3
    node = next(n for n in googlenet["nodes"] if n["id"] == "inception_3a.conv1x1")
    assert node["scope"] == ["inception_3a"] and node["scope_blocks"] == ["Inception"]


def test_cli_writes_json(tmp_path):
    from netdsl.cli import main

    out = tmp_path / "lenet.json"
    r = CliRunner().invoke(main, ["compile", str(NETS / "lenet5.net"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    H = nx.node_link_graph(json.loads(out.read_text(encoding="utf-8")), edges="edges")
    assert len(H) == len(load(str(NETS / "lenet5.net")))
