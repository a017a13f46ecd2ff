"""The JSON IR drives every backend (issue 9, item 5): `netdsl compile model.json` writes,
byte for byte, what compiling the .net file writes; and a file that is not such an IR is a
clear error (E510), never a traceback or a class of someone else's choosing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdsl.api import compile, load
from netdsl.cli import main
from netdsl.diagnostics import NetdslError
from netdsl.ir_json import SCHEMA_VERSION, decode_graph, encode_graph

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = sorted(
    p
    for p in (ROOT / "networks").rglob("*.net")
    if any(line.startswith("network ") for line in p.read_text().splitlines())
)
BACKENDS = [("pytorch", None), ("graphviz", "dot"), ("mermaid", None), ("train", None)]


def test_every_shipped_network_is_covered():
    assert len(NETWORKS) >= 30
    assert any(p.parent.name == "torchvision" for p in NETWORKS)


@pytest.mark.parametrize("path", NETWORKS, ids=lambda p: str(p.relative_to(ROOT / "networks")))
def test_compiling_the_json_ir_writes_what_compiling_the_source_writes(path, tmp_path):
    G = load(path)
    ir_file = tmp_path / f"{path.stem}.json"
    ir_file.write_text(compile(G, "json"))
    H = load(ir_file)
    for backend, fmt in BACKENDS:
        assert _output(H, backend, fmt) == _output(G, backend, fmt), backend
    # and the JSON of the JSON is the JSON: nothing is lost or added on the way
    assert compile(H, "json") == ir_file.read_text()


def _output(G, backend: str, fmt: str | None) -> str:
    """What the backend writes, or the error it gives (the same for both, too)."""
    try:
        return compile(G, backend, fmt=fmt)
    except NetdslError as exc:
        return f"error: {exc}"


def test_the_cli_compiles_a_json_ir(tmp_path):
    ir_file = tmp_path / "lenet5.json"
    r = CliRunner().invoke(main, ["compile", str(ROOT / "networks/lenet5.net"), "-o", str(ir_file)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "lenet5.py"
    r = CliRunner().invoke(main, ["compile", str(ir_file), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text() == compile(load(ROOT / "networks/lenet5.net"), "pytorch")
    r = CliRunner().invoke(main, ["stats", str(ir_file)])
    source = CliRunner().invoke(main, ["stats", str(ROOT / "networks/lenet5.net")])
    assert r.exit_code == 0 and r.output == source.output


def _ir(tmp_path) -> tuple[Path, dict]:
    ir_file = tmp_path / "n.json"
    ir_file.write_text(compile(load(ROOT / "networks/lenet5.net"), "json"))
    return ir_file, json.loads(ir_file.read_text())


def _fails(path: Path, *words: str, args=()) -> None:
    out = path.with_suffix(".py")
    r = CliRunner().invoke(main, ["compile", str(path), "-o", str(out), *args])
    assert r.exit_code == 1, r.output
    assert "E510" in r.output and "Traceback" not in r.output, r.output
    for w in words:
        assert w in r.output, r.output
    assert not out.exists()


def test_not_json_is_an_error_at_its_position(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "graph": [1,\n}')
    _fails(bad, "bad.json:3:1", "not valid JSON")


def test_json_that_is_not_an_ir(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    _fails(bad, "not a netdsl IR file", "netdsl compile model.net -o model.json")


def test_an_unknown_schema_version_is_named(tmp_path):
    ir_file, data = _ir(tmp_path)
    data["graph"]["version"] = SCHEMA_VERSION + 1
    ir_file.write_text(json.dumps(data))
    _fails(ir_file, f"version {SCHEMA_VERSION + 1}", f"version {SCHEMA_VERSION} this netdsl reads")


def test_a_record_can_name_only_netdsl_types(tmp_path):
    ir_file, data = _ir(tmp_path)
    marker = tmp_path / "PWNED"
    data["ir"]["graph"] = {
        "$r": "subprocess.Popen",
        "f": {"args": ["touch", str(marker)]},
    }
    ir_file.write_text(json.dumps(data))
    _fails(ir_file, "unknown record type 'subprocess.Popen'")
    assert not marker.exists()


def test_a_hand_edited_shape_is_caught_by_lint(tmp_path):
    ir_file, data = _ir(tmp_path)
    nodes = data["ir"]["nodes"]
    name, attrs = next(n for n in nodes if n[1]["$d"][0][1] == "conv")
    for key_value in attrs["$d"]:
        if key_value[0] == "shape":
            key_value[1]["$type"][0][0] += 1  # one channel too many
    ir_file.write_text(json.dumps(data))
    _fails(ir_file, "inconsistent IR")


def test_defines_do_not_apply_to_an_elaborated_ir(tmp_path):
    ir_file, _ = _ir(tmp_path)
    _fails(ir_file, "-D cannot change an IR", args=["-D", "classes=3"])


@pytest.mark.parametrize(
    "value",
    [
        {"$t": 3},
        {"$d": [[1]]},
        {"$f": "1e999"},
        {"$type": [[3], ["C", "H"]]},
        {"$r": "netdsl.ir.Scope", "f": {"block": "B"}},
        {"$r": "netdsl.ir.lint", "f": {}},
        {"$what": 1},
        {"$op": "teleport"},
        {"$op": 3},
    ],
)
def test_malformed_values_are_decode_errors(value, tmp_path):
    ir_file, data = _ir(tmp_path)
    data["ir"]["graph"]["$d"].append(["extra", value])
    ir_file.write_text(json.dumps(data))
    _fails(ir_file, "malformed IR")


def test_encode_and_decode_are_inverse_on_the_graph():
    G = load(ROOT / "networks/googlenet.net")
    H = decode_graph(json.loads(json.dumps(encode_graph(G))))
    assert list(H.nodes(data=True)) == list(G.nodes(data=True))
    assert list(H.edges(data=True)) == list(G.edges(data=True))
    assert {k: v for k, v in H.graph.items() if k != "sources"} == {
        k: v for k, v in G.graph.items() if k != "sources"
    }
    assert H.graph["sources"].files() == G.graph["sources"].files()


def test_an_ir_that_is_not_plain_data_cannot_be_written():
    G = load(ROOT / "networks/lenet5.net")
    G.graph["stray"] = object()
    with pytest.raises(TypeError, match="no JSON form"):
        encode_graph(G)


def test_api_load_of_json_raises_netdsl_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("[]")
    with pytest.raises(NetdslError) as info:
        load(bad)
    assert info.value.diagnostics[0].code == "E510"
