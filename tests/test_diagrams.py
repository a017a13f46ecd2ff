"""The graphviz and mermaid backends: golden files, structure, depth, escaping, rendering.

Golden files are compared byte for byte; regenerate them with
`pytest tests/test_diagrams.py --update-golden` and review the diff.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from netdsl.backends import graphviz, mermaid
from netdsl.backends.graphviz import model

from netdsl.api import load
from netdsl.diagnostics import NetdslError
from netdsl.stats import costs

ROOT = Path(__file__).resolve().parent.parent
NETS = ROOT / "networks"
DATA = Path(__file__).resolve().parent / "data" / "diagrams"
GOLDEN = Path(__file__).resolve().parent / "golden"

GOLDEN_NETS = ["lenet5", "googlenet", "resnet50"]

_cache: dict = {}


def net(name: str):
    """The IR of networks/NAME.net (or tests/data/diagrams/NAME.net), loaded once."""
    if name not in _cache:
        path = NETS / f"{name}.net"
        if not path.exists():
            path = DATA / f"{name}.net"
        _cache[name] = load(str(path))
    return _cache[name]


def check_golden(request, path: Path, text: str) -> None:
    data = text.encode("utf-8")
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    assert path.exists(), f"no golden file {path}; run pytest --update-golden"
    assert path.read_bytes() == data, (
        f"{path.name} differs from the golden file; if the change is intended, "
        "run pytest --update-golden and review the diff"
    )


# ---------------------------------------------------------------------------
# A small DOT reader: exactly the constructs the graphviz backend emits.

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<str>"(?:\\.|[^"\\])*")
  | (?P<arrow>->)
  | (?P<punct>[{}\[\];,=])
  | (?P<word>[A-Za-z0-9_.\-]+)
    """,
    re.VERBOSE,
)


def _tokens(text: str):
    i = 0
    while i < len(text):
        if text[i] == "<":  # an HTML string: balanced angle brackets
            depth, j = 0, i
            while True:
                if text[j] == "<":
                    depth += 1
                elif text[j] == ">":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            yield ("html", text[i + 1 : j])
            i = j + 1
            continue
        m = _TOKEN.match(text, i)
        assert m, f"unexpected DOT text at {i}: {text[i : i + 40]!r}"
        i = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r'\\(["\\])', r"\1", value[1:-1])
        yield (kind, value)


class Dot:
    def __init__(self, text: str):
        self.toks = list(_tokens(text))
        self.i = 0
        self.nodes: dict[str, dict] = {}
        self.edges: list[tuple[str, str, dict]] = []
        self.clusters: dict[str, dict] = {}  # id -> {"attrs", "parent", "nodes"}
        self.parent: dict[str, str | None] = {}  # node -> innermost cluster
        self.graph_attrs: dict = {}
        assert self.take() == ("word", "digraph")
        self.name = self.take()[1]
        self.expect("{")
        self.body(None)
        assert self.i == len(self.toks), "text after the closing brace"

    def take(self):
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def expect(self, value):
        tok = self.take()
        assert tok[1] == value, f"expected {value!r}, got {tok!r}"

    def attrs(self) -> dict:
        out = {}
        self.expect("[")
        while self.peek()[1] != "]":
            key = self.take()[1]
            self.expect("=")
            out[key] = self.take()[1]
            if self.peek()[1] == ",":
                self.take()
        self.expect("]")
        return out

    def body(self, cluster: str | None):
        while True:
            kind, value = self.take()
            if value == "}":
                return
            if kind == "word" and value in ("graph", "node", "edge"):
                attrs = self.attrs()
                if value == "graph" and cluster is None:
                    self.graph_attrs.update(attrs)
            elif kind == "word" and value == "subgraph":
                cid = self.take()[1]
                assert cid.startswith("cluster"), cid
                assert cid not in self.clusters, f"cluster {cid} twice"
                self.clusters[cid] = {"attrs": {}, "parent": cluster, "nodes": []}
                self.expect("{")
                self.body(cid)
            elif self.peek()[1] == "=":  # key=value inside a subgraph
                self.take()
                self.clusters[cluster]["attrs"][value] = self.take()[1]
            elif self.peek()[0] == "arrow":
                self.take()
                dst = self.take()[1]
                self.edges.append((value, dst, self.attrs() if self.peek()[1] == "[" else {}))
            else:
                assert value not in self.nodes, f"node {value} declared twice"
                self.nodes[value] = self.attrs()
                self.parent[value] = cluster
                if cluster is not None:
                    self.clusters[cluster]["nodes"].append(value)
            if self.peek()[1] == ";":
                self.take()


def html_ok(label: str) -> ET.Element:
    """An HTML-like label is well-formed XML (so every & < > from the .net file was escaped)."""
    return ET.fromstring(f"<label>{label}</label>")


def text_of(label: str) -> str:
    return "".join(html_ok(label).itertext())


# ---------------------------------------------------------------------------
# Graphviz


@pytest.mark.parametrize("name", GOLDEN_NETS)
def test_dot_golden(request, name):
    check_golden(
        request, GOLDEN / "graphviz" / f"{name}.dot", graphviz.generate(net(name), {}, "dot")
    )


@pytest.mark.parametrize("name", GOLDEN_NETS)
def test_mermaid_golden(request, name):
    check_golden(
        request, GOLDEN / "mermaid" / f"{name}.mmd", mermaid.generate(net(name), {}, "mmd")
    )


@pytest.mark.parametrize("name", GOLDEN_NETS + ["inception_reduced"])
def test_dot_has_one_node_per_layer_and_a_cluster_per_instance(name):
    G = net(name)
    dot = Dot(graphviz.generate(G, {}, "dot"))
    outputs = {"output:" + o["name"] for o in G.graph["outputs"]}
    assert set(dot.nodes) == set(G.nodes) | outputs
    # Every edge of the IR is drawn (between the same nodes), plus one per output.
    drawn = {(a, b) for a, b, _ in dot.edges}
    assert {(u, v) for u, v in G.edges} <= drawn
    assert len(dot.edges) == G.number_of_edges() + len(outputs)
    for a, b, attrs in dot.edges:
        assert a in dot.nodes and b in dot.nodes
        if b in G:
            assert attrs["label"].strip() == model.fmt_shape(G.nodes[a]["shape"])
    # A cluster for every block instance and group, nested as in the IR.
    containers = set(G.graph["instances"]) | set(G.graph["groups"])
    assert set(dot.clusters) == {"cluster:" + p for p in containers}
    for node, data in G.nodes(data=True):
        if data["scope"]:
            inner = dot.parent[node]
            assert inner is not None
            path = inner[len("cluster:") :]
            assert node.startswith(path + ".")
            assert path == data["scope"][-1].path or path in G.graph["groups"]
        # Labels are well-formed and say what the layer is.
        text = text_of(dot.nodes[node]["label"])
        assert model.fmt_shape(data["shape"]) in text
    for cid, c in dot.clusters.items():
        html_ok(c["attrs"]["label"])
        path = cid[len("cluster:") :]
        if path in G.graph["instances"]:
            assert G.graph["instances"][path].block in text_of(c["attrs"]["label"])


def test_dot_node_labels_show_op_arguments_shape_and_params():
    G = net("resnet50")
    dot = Dot(graphviz.generate(G, {}, "dot"))
    conv1 = text_of(dot.nodes["conv1"]["label"])
    assert "conv1" in conv1 and "conv 7×7/2, 64" in conv1
    assert "64×112×112" in conv1 and "9.41K params" in conv1 and "118M MACs" in conv1
    assert "maxpool 3×3/2" in text_of(dot.nodes["pool1"]["label"])
    assert "linear, 1000" in text_of(dot.nodes["fc"]["label"])
    # Cluster labels carry the instance's name, block type and subtotal.
    c = text_of(dot.clusters["cluster:conv3_x.0"]["attrs"]["label"])
    assert "conv3_x.0" in c and "Bottleneck" in c and "planes=128" in c
    assert "params" in c and "MACs" in c
    lenet = Dot(graphviz.generate(net("lenet5"), {}, "dot"))
    assert "conv 5×5, 16, table" in text_of(lenet.nodes["C3"]["label"])
    assert "subsample 2×2/2" in text_of(lenet.nodes["S2"]["label"])


def test_dot_inputs_outputs_and_aux_outputs_are_distinct():
    G = net("googlenet")
    dot = Dot(graphviz.generate(G, {}, "dot"))
    image = dot.nodes["image"]
    layer = dot.nodes["conv1"]
    logits = dot.nodes["output:logits"]
    assert image["fillcolor"] != layer["fillcolor"] != logits["fillcolor"]
    assert image["fillcolor"] != logits["fillcolor"]
    aux = dot.nodes["output:aux1"]
    assert "dashed" in aux["style"]
    assert "loss weight 0.3" in text_of(aux["label"])
    assert "dashed" not in logits["style"]
    # The auxiliary head itself is training-only: dashed too, and so is its edge.
    assert "dashed" in dot.nodes["loss1.fc"]["style"]
    assert "dashed" in dot.clusters["cluster:loss1"]["attrs"]["style"]
    into_aux = [a for a, b, attrs in dot.edges if b == "output:aux1"]
    assert into_aux == ["loss1.classifier"]
    assert all(attrs.get("style") == "dashed" for a, b, attrs in dot.edges if b == "output:aux1")


def test_depth_one_draws_top_level_blocks_as_single_boxes():
    G = net("googlenet")
    dot = Dot(graphviz.generate(G, {"depth": 1}, "dot"))
    assert not dot.clusters
    top = {n for n, d in G.nodes(data=True) if not d["scope"]}
    blocks = {"block:" + p for p, i in G.graph["instances"].items() if not i.scope}
    outputs = {"output:" + o["name"] for o in G.graph["outputs"]}
    assert set(dot.nodes) == top | blocks | outputs
    box = text_of(dot.nodes["block:inception_3a"]["label"])
    assert "Inception" in box and "256×28×28" in box and "params" in box and "MACs" in box
    # Edges into and out of a collapsed block are kept once, with their shapes.
    edges = {(a, b): attrs["label"].strip() for a, b, attrs in dot.edges}
    assert edges[("pool2", "block:inception_3a")] == "192×28×28"
    assert edges[("block:inception_3a", "block:inception_3b")] == "256×28×28"
    assert "dashed" in dot.nodes["block:loss1"]["style"]


def test_depth_counts_groups_like_stats_depth():
    G = net("resnet152")
    one = Dot(graphviz.generate(G, {"depth": 1}, "dot"))
    stages = {f"block:conv{k}_x" for k in range(2, 6)}
    assert stages <= set(one.nodes)
    assert len(one.nodes) < 15  # a readable page
    assert "36 × Bottleneck" in text_of(one.nodes["block:conv4_x"]["label"])
    two = Dot(graphviz.generate(G, {"depth": 2}, "dot"))
    assert set(two.clusters) == {f"cluster:conv{k}_x" for k in range(2, 6)}
    assert sum(n.startswith("block:") for n in two.nodes) == 3 + 8 + 36 + 3
    three = Dot(graphviz.generate(G, {"depth": 3}, "dot"))
    assert "block:conv3_x.0.downsample" in three.nodes
    full = Dot(graphviz.generate(G, {}, "dot"))
    assert len(full.nodes) == len(G) + 1
    # Subtotals add up to the network's totals.
    total = sum(c.params for c in costs(G).values())
    assert sum(b.params for b in model.build(G, 1).boxes()) == total


def test_subtotals_of_collapsed_blocks():
    G = net("inception_reduced")
    d = model.build(G, 1)
    (block,) = [b for b in d.boxes() if b.kind == "block"]
    assert block.params == sum(c.params for c in costs(G).values())
    assert block.macs == 271_351_808
    assert block.shape == "480×28×28"


def test_bad_depth_is_a_user_error():
    for bad in (0, -1, "2"):
        with pytest.raises(NetdslError) as e:
            graphviz.generate(net("lenet5"), {"depth": bad}, "dot")
        assert e.value.diagnostics[0].code == "E805"
    with pytest.raises(NetdslError):
        mermaid.generate(net("lenet5"), {"rankdir": "XY"}, "mmd")


def test_rankdir():
    dot = Dot(graphviz.generate(net("lenet5"), {"rankdir": "LR"}, "dot"))
    assert dot.graph_attrs["rankdir"] == "LR"
    assert Dot(graphviz.generate(net("lenet5"), {}, "dot")).graph_attrs["rankdir"] == "TB"
    assert "flowchart LR" in mermaid.generate(net("lenet5"), {"rankdir": "LR"}, "mmd")


def test_escaping_in_dot():
    G = net("escaping")
    text = graphviz.generate(G, {}, "dot")
    dot = Dot(text)
    title = text_of(dot.graph_attrs["label"])
    assert G.graph["params"]["label"] in title
    end = text_of(dot.clusters["cluster:end"]["attrs"]["label"])
    assert 'tag="x<br/>y"\\"' in end
    blk = text_of(dot.clusters["cluster:blk"]["attrs"]["label"])
    assert "tag=" not in blk  # the default value is not repeated
    if shutil.which("dot"):
        svg = graphviz.generate(G, {}, "svg")
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")
        assert "x<br/>y" in "".join(root.itertext())


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_googlenet_svg_is_well_formed():
    svg = graphviz.generate(net("googlenet"), {}, "svg")
    assert isinstance(svg, bytes)
    root = ET.fromstring(svg)
    assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg")
    texts = "".join(root.itertext())
    assert "inception_4e" in texts and "loss weight 0.3" in texts


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_png_and_pdf_are_rendered():
    G = net("lenet5")
    assert graphviz.generate(G, {}, "png").startswith(b"\x89PNG\r\n\x1a\n")
    assert graphviz.generate(G, {"dpi": 150}, "png").startswith(b"\x89PNG")
    assert graphviz.generate(G, {}, "pdf").startswith(b"%PDF")


def test_missing_dot_is_reported_with_a_hint(monkeypatch):
    monkeypatch.setattr(graphviz.shutil, "which", lambda name: None)
    with pytest.raises(NetdslError) as e:
        graphviz.generate(net("lenet5"), {}, "svg")
    diag = e.value.diagnostics[0]
    assert diag.code == "E804"
    assert "apt-get install graphviz" in diag.hint and "brew install graphviz" in diag.hint
    # .dot needs nothing else.
    assert graphviz.generate(net("lenet5"), {}, "dot").startswith("//")


@pytest.mark.filterwarnings("ignore")
def test_pydot_reads_the_dot():
    pydot = pytest.importorskip("pydot")
    G = net("inception_reduced")
    (graph,) = pydot.graph_from_dot_data(graphviz.generate(G, {}, "dot"))
    names = set()

    def walk(g):
        for n in g.get_nodes():
            names.add(n.get_name().strip('"'))
        for s in g.get_subgraphs():
            walk(s)

    walk(graph)
    assert set(G) <= names


# ---------------------------------------------------------------------------
# Mermaid

_ID = r"[A-Za-z][A-Za-z0-9_]*"
_NODE = re.compile(rf'^\s*({_ID})(\(\[|\[\[|\(|\[)"([^"]*)"(\]\)|\]\]|\)|\])$')
_EDGE = re.compile(rf'^\s*({_ID}) (-->|-\.->)\|"([^"]*)"\| ({_ID})$')
_SUB = re.compile(rf'^\s*subgraph ({_ID}) \["([^"]*)"\]$')
_KEYWORDS = {"end", "subgraph", "graph", "flowchart", "style", "class", "classDef", "click"}


class Mermaid:
    def __init__(self, text: str):
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("%%")]
        assert lines[0].startswith("flowchart ")
        self.direction = lines[0].split()[1]
        self.nodes: dict[str, str] = {}
        self.edges: list[tuple[str, str, str, str]] = []
        self.subgraphs: dict[str, str] = {}
        self.parent: dict[str, str | None] = {}
        self.classes: dict[str, set[str]] = {}
        stack: list[str] = []
        for line in lines[1:]:
            s = line.strip()
            if m := _SUB.match(line):
                assert m.group(1) not in self.subgraphs
                self.subgraphs[m.group(1)] = m.group(2)
                stack.append(m.group(1))
            elif s == "end":
                assert stack, "'end' without subgraph"
                stack.pop()
            elif m := _NODE.match(line):
                assert m.group(1) not in self.nodes, f"{m.group(1)} declared twice"
                opening, closing = m.group(2), m.group(4)
                assert {"([": "])", "[[": "]]", "(": ")", "[": "]"}[opening] == closing
                self.nodes[m.group(1)] = m.group(3)
                self.parent[m.group(1)] = stack[-1] if stack else None
            elif m := _EDGE.match(line):
                self.edges.append((m.group(1), m.group(4), m.group(3), m.group(2)))
            elif s.startswith("classDef "):
                pass
            elif s.startswith("class "):
                _, ids, name = s.split(" ")
                for i in ids.split(","):
                    self.classes.setdefault(i, set()).add(name)
            elif s.startswith("style "):
                assert s.split()[1] in self.subgraphs
            else:
                raise AssertionError(f"unexpected Mermaid line: {line!r}")
        assert not stack, "unbalanced subgraph/end"
        for ident in [*self.nodes, *self.subgraphs]:
            assert ident not in _KEYWORDS
        for a, b, _, _ in self.edges:
            assert a in self.nodes and b in self.nodes, (a, b)
        for ident in self.classes:
            assert ident in self.nodes


@pytest.mark.parametrize("name", GOLDEN_NETS + ["inception_reduced"])
def test_mermaid_structure(name):
    G = net(name)
    mm = Mermaid(mermaid.generate(G, {}, "mmd"))
    assert mm.direction == "TB"
    assert len(mm.nodes) == len(G) + len(G.graph["outputs"])
    assert len(mm.subgraphs) == len(G.graph["instances"]) + len(G.graph["groups"])
    assert len(mm.edges) == G.number_of_edges() + len(G.graph["outputs"])
    for label in mm.nodes.values():
        assert "<br/>" in label
    for label in [*mm.nodes.values(), *mm.subgraphs.values()]:
        # Only the template's own tags; everything else is entity-coded.
        assert not re.sub(r"</?(b|i)>|<br/>", "", label).count("<")
    # GitHub renders at most 50,000 characters.
    assert len(mermaid.generate(G, {}, "mmd")) < 50_000


def test_mermaid_depth_and_aux():
    G = net("googlenet")
    mm = Mermaid(mermaid.generate(G, {"depth": 1}, "mmd"))
    assert not mm.subgraphs
    assert "b_inception_3a" in mm.nodes and "Inception" in mm.nodes["b_inception_3a"]
    assert "aux" in mm.classes["o_aux1"] and "aux" in mm.classes["b_loss1"]
    assert "loss weight 0.3" in mm.nodes["o_aux1"]
    kinds = {(a, b): arrow for a, b, _, arrow in mm.edges}
    assert kinds[("b_loss1", "o_aux1")] == "-.->"
    assert kinds[("n_loss3_classifier", "o_logits")] == "-->"


def test_mermaid_escaping():
    G = net("escaping")
    text = mermaid.generate(G, {}, "mmd")
    mm = Mermaid(text)
    label = mm.subgraphs["s_end"]
    assert "#quot;" in label and "#60;br/#62;" in label
    assert "%%" not in text.split("flowchart", 1)[1]  # no directive can be smuggled in
    assert "s_end" in mm.subgraphs  # a layer or block called `end` gets a safe id
    md = mermaid.generate(G, {}, "md")
    assert "&lt;&amp;&gt;" in md.split("```")[0]


def test_markdown_wraps_the_flowchart():
    text = mermaid.generate(net("lenet5"), {}, "md")
    head, body, tail = text.split("```")
    assert "**LeNet5**" in head and "params" in head
    assert body.startswith("mermaid\n")
    Mermaid(body[len("mermaid\n") :])
    assert tail == "\n"
    assert mermaid.generate(net("lenet5"), {}, None).startswith("%%")


# ---------------------------------------------------------------------------
# Through the command line


def _cli(*args):
    from netdsl.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_picks_the_backend_from_the_extension(tmp_path):
    for ext, check in (
        ("dot", lambda t: Dot(t)),
        ("mmd", lambda t: Mermaid(t)),
        ("md", lambda t: t.startswith("**LeNet5**")),
    ):
        out = tmp_path / f"lenet.{ext}"
        r = _cli("compile", NETS / "lenet5.net", "-o", out)
        assert r.exit_code == 0, r.output
        assert check(out.read_text(encoding="utf-8"))


def test_cli_depth_and_rankdir(tmp_path):
    out = tmp_path / "r.dot"
    r = _cli("compile", NETS / "resnet50.net", "-o", out, "--depth", "1", "--rankdir", "LR")
    assert r.exit_code == 0, r.output
    dot = Dot(out.read_text(encoding="utf-8"))
    assert dot.graph_attrs["rankdir"] == "LR" and "block:conv2_x" in dot.nodes
    r = _cli("compile", NETS / "lenet5.net", "-b", "mermaid", "-o", "-", "-O", "rankdir=LR")
    assert r.exit_code == 0 and "flowchart LR" in r.output


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_cli_writes_svg(tmp_path):
    out = tmp_path / "g.svg"
    r = _cli("compile", NETS / "inception_reduced.net", "-o", out)
    assert r.exit_code == 0, r.output
    assert ET.parse(out).getroot().tag.endswith("svg")


def test_cli_without_graphviz_explains(tmp_path, monkeypatch):
    monkeypatch.setattr(graphviz.shutil, "which", lambda name: None)
    r = CliRunner().invoke(
        __import__("netdsl.cli", fromlist=["main"]).main,
        ["compile", str(NETS / "lenet5.net"), "-o", str(tmp_path / "x.png")],
    )
    assert r.exit_code == 1
    assert "E804" in r.output and "apt-get install graphviz" in r.output
    assert not (tmp_path / "x.png").exists()


def test_a_stage_on_its_own():
    """tests/data/diagrams/resnet50_layer2.net, drawn in docs/diagrams.md."""
    G = net("resnet50_layer2")
    dot = Dot(graphviz.generate(G, {"depth": 2}, "dot"))
    assert set(dot.clusters) == {"cluster:layer2"}
    blocks = [n for n in dot.nodes if n.startswith("block:")]
    assert blocks == [f"block:layer2.{i}" for i in range(4)]
    assert all(dot.parent[b] == "cluster:layer2" for b in blocks)
    first = text_of(dot.nodes["block:layer2.0"]["label"])
    assert "Bottleneck" in first and "stride=2" in first and "512×28×28" in first


def test_graphviz_refuses_formats_it_cannot_write():
    with pytest.raises(NetdslError) as e:
        graphviz.generate(net("lenet5"), {}, "jpg")
    assert e.value.diagnostics[0].code == "E805" and ".svg" in e.value.diagnostics[0].hint
    assert graphviz.generate(net("lenet5"), {}, "gv").startswith("//")
    assert graphviz.generate(net("lenet5"), {}, None).startswith("//")


def test_diagrams_never_import_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from netdsl.api import load\n"
        "from netdsl.backends import graphviz, json, mermaid\n"
        f"G = load({str(NETS / 'googlenet.net')!r})\n"
        "graphviz.generate(G, {}, 'dot'); mermaid.generate(G, {}, 'md'); json.generate(G)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
