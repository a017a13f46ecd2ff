"""`netdsl fmt`: idempotent, meaning-preserving, comments kept; on every shipped network
and every valid example in the docs. Meaning is checked twice: the syntax trees without
spans, and the elaborated IR as the JSON backend writes it, with spans removed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdsl.api import load
from netdsl.cli import main
from netdsl.diagnostics import NetdslError
from netdsl.format import format_source, same_syntax
from netdsl.format.layout import format_text
from netdsl.format.tokens import tokenize
from netdsl.parser import parse

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = sorted((ROOT / "networks").rglob("*.net"))
ENTRY = [p for p in NETWORKS if "network " in p.read_text(encoding="utf-8")]


def _ir(path: Path, text: str | None = None):
    """The IR as JSON data, without spans (formatting moves text, so spans move)."""
    from netdsl.plugins import discover

    G = load(str(path), text=text)
    data = json.loads(discover().backends["json"].generate(G, {}, "json"))

    def strip(x):
        # The lossless part ("ir", docs/ir.md) also holds spans as records and the source
        # texts themselves, which formatting changes by design.
        if isinstance(x, dict):
            if x.get("$r") == "netdsl.diagnostics.Span" or "$sources" in x:
                return None
            return {k: strip(v) for k, v in x.items() if k != "span"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(data)


def _comments(text: str) -> list[str]:
    return [t.text.rstrip() for t in tokenize(text) if t.kind == "COMMENT"]


@pytest.fixture(scope="module")
def formatted_tree(tmp_path_factory):
    """A copy of networks/ with every file formatted."""
    dest = tmp_path_factory.mktemp("fmt") / "networks"
    shutil.copytree(ROOT / "networks", dest)
    for path in dest.rglob("*.net"):
        path.write_text(format_source(path.read_text(encoding="utf-8"), str(path)))
    return dest


@pytest.mark.parametrize("path", NETWORKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_network_idempotent_and_same_syntax(path):
    text = path.read_text(encoding="utf-8")
    once = format_source(text, str(path))
    assert format_text(once) == once
    assert same_syntax(parse(text, "a"), parse(once, "b"))
    assert _comments(once) == _comments(text)


@pytest.mark.parametrize("path", ENTRY, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_network_same_ir(path, formatted_tree):
    """Every file formatted, the blocks it imports included: the same IR."""
    twin = formatted_tree / path.relative_to(ROOT / "networks")
    assert _ir(twin) == _ir(path)


def _doc_examples():
    for md in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        text = md.read_text(encoding="utf-8")
        for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            if m.group(1) in ("", "net", "netdsl"):
                line = text.count("\n", 0, m.start()) + 1
                try:
                    parse(m.group(2), "doc")
                except NetdslError:
                    continue  # a fragment (`...`), or an example of an error
                yield pytest.param(md, m.group(2), id=f"{md.name}:{line}")


DOC_EXAMPLES = list(_doc_examples())


def test_docs_have_examples():
    assert len(DOC_EXAMPLES) >= 5


@pytest.mark.parametrize("md,example", DOC_EXAMPLES)
def test_doc_example(md, example):
    once = format_source(example, "doc")
    assert format_text(once) == once
    assert same_syntax(parse(example, "a"), parse(once, "b"))
    assert _comments(once) == _comments(example)
    try:
        before = _ir(md.with_suffix(".net"), example)
    except NetdslError:
        return  # blocks only, or needs -D: the syntax trees above are the check
    assert _ir(md.with_suffix(".net"), once) == before


MESSY = """\


# header
import   "blocks/resnet.net"
block  B( a , b=-1 ){
  # inside
    x=in->conv(a,3,pad = 1)as c1->relu   # trailing
      ->conv( a*2 ,1 )
    if a!=b and not (a>2) { y = x } else { y = in }


    out  y+x
}
network N( classes = 10 ) {
input image : 3x32x32
  t = [ (1,2,3),
    (10,20,30) ]
  z = image -> B(4) -> [ repeat 2 { conv(4, 3, pad=1) } ,relu ] as "g{i}" -> flatten->linear(10)
  aux(0.3) a2 = z -> linear( -classes+2 * 3 ** 2 )
  out logits = z ; out q = z
  # end comment
}
"""

MESSY_FORMATTED = """\
# header
import "blocks/resnet.net"

block B(a, b=-1) {
    # inside
    x = in -> conv(a, 3, pad=1) as c1 -> relu  # trailing
           -> conv(a * 2, 1)
    if a != b and not (a > 2) { y = x } else { y = in }

    out y + x
}

network N(classes=10) {
    input image: 3x32x32
    t = [(1, 2, 3),
         (10, 20, 30)]
    z = image -> B(4) -> [repeat 2 { conv(4, 3, pad=1) }, relu] as "g{i}" -> flatten -> linear(10)
    aux(0.3) a2 = z -> linear(-classes + 2 * 3 ** 2)
    out logits = z; out q = z
    # end comment
}
"""


def test_layout_rules():
    assert format_source(MESSY) == MESSY_FORMATTED


def test_tables_and_hanging_brackets():
    text = (
        "network N {\n  input x: 3x8x8\n"
        "  s = [\n (2, 64, 3, 1),\n (3, 128, 4, 2),\n(4,256,16,2),\n]\n"
        "  y = x -> [\n conv(8, 3), relu,\n ] as f\n -> flatten\n  out y\n}\n"
    )
    assert format_source(text) == (
        "network N {\n    input x: 3x8x8\n"
        "    s = [\n        (2,  64,  3, 1),\n        (3, 128,  4, 2),\n"
        "        (4, 256, 16, 2),\n    ]\n"
        "    y = x -> [\n            conv(8, 3), relu,\n        ] as f\n"
        "        -> flatten\n    out y\n}\n"
    )


def test_unary_minus_and_attribute_of_integer_keep_their_meaning():
    text = "network N { input x: 3x8x8\n a = 3 -  -2 ; b = (-a) ** -1\n out x }\n"
    once = format_source(text)
    assert "a = 3 - -2; b = (-a) ** -1" in once
    assert same_syntax(parse(text), parse(once))


def test_cli_check_lists_files_and_exits_1(tmp_path):
    good = tmp_path / "good.net"
    bad = tmp_path / "ugly.net"
    good.write_text(format_source(MESSY))
    bad.write_text(MESSY)
    r = CliRunner().invoke(main, ["fmt", "--check", str(tmp_path)])
    assert r.exit_code == 1
    assert f"would reformat {bad}" in r.output
    assert str(good) not in r.output
    assert bad.read_text() == MESSY  # --check changes nothing


def test_cli_diff_then_rewrite(tmp_path):
    f = tmp_path / "ugly.net"
    f.write_text(MESSY)
    r = CliRunner().invoke(main, ["fmt", "--diff", str(f)])
    assert r.exit_code == 0
    assert "\n-    out  y+x\n" in r.output and "\n+    out y + x\n" in r.output
    assert f.read_text() == MESSY
    r = CliRunner().invoke(main, ["fmt", str(f)])
    assert r.exit_code == 0 and f.read_text() == MESSY_FORMATTED
    r = CliRunner().invoke(main, ["fmt", "--check", str(f)])
    assert r.exit_code == 0


def test_cli_syntax_error_is_a_diagnostic_and_file_untouched(tmp_path):
    f = tmp_path / "bad.net"
    f.write_text("network N { x = = }\n")
    r = CliRunner().invoke(main, ["fmt", str(f)])
    assert r.exit_code == 1
    assert "bad.net:1:17: error[E101]" in r.output
    assert f.read_text() == "network N { x = = }\n"


def test_shipped_networks_are_formatted():
    """CI's `netdsl fmt --check networks/`."""
    r = CliRunner().invoke(main, ["fmt", "--check", str(ROOT / "networks")])
    assert r.exit_code == 0, r.output


def test_any_spacing_and_line_breaks_format_to_the_same_meaning():
    """Shipped networks with random spaces, tabs and line breaks between their tokens:
    fmt is idempotent on each and keeps its syntax tree and comments (whitespace is
    insignificant, so every variant that parses means what the original means)."""
    import random

    rng = random.Random(13)
    tried = 0
    for trial in range(120):
        text = NETWORKS[trial % len(NETWORKS)].read_text(encoding="utf-8")
        out, prev = [], None
        for tok in tokenize(text):
            if tok.kind == "NL":
                out.append("\n")
                continue
            # Glue only next to punctuation: two words glued would be one word.
            r = rng.random() if "OP" in (tok.kind, prev) else rng.choice([0, 0.75, 0.9, 0.96])
            prev = tok.kind
            sep = (
                " "
                if r < 0.5
                else ""
                if r < 0.7
                else "  "
                if r < 0.85
                else "\n"
                if r < 0.95
                else "\t"
            )
            out.append((" " if tok.kind == "COMMENT" else sep) + tok.text)
        variant = "".join(out)
        try:
            tree = parse(variant, "v")
        except NetdslError:
            continue  # two tokens glued into another (`as` `x` -> `asx`)
        tried += 1
        once = format_source(variant, "v")
        assert format_text(once) == once
        assert same_syntax(tree, parse(once, "v"))
        assert _comments(once) == _comments(variant)
    assert tried > 60
