"""`netdsl lsp` driven as a real LSP client would, over stdio (pytest-lsp)."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "lsp"
BAD = ROOT / "tests" / "bad"

ASYNC = pytest.mark.asyncio(loop_scope="module")  # one server for the module


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "netdsl", "lsp"]),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        lsp.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=DATA.as_uri(),
            workspace_folders=[lsp.WorkspaceFolder(DATA.as_uri(), "lsp")],
            initialization_options={"inlayHints": True},
        )
    )
    yield
    await lsp_client.shutdown_session()


_versions: dict[str, int] = {}


async def _diagnostics(client: LanguageClient, uri: str, version: int, timeout: float = 20):
    """The diagnostics the server published for this version of the document."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        got = client.diagnostics.get(uri)
        if got is not None and _published.get(uri) == version:
            return list(got)
        await asyncio.sleep(0.01)
    raise AssertionError(f"no diagnostics for {uri} version {version}")


_published: dict[str, int | None] = {}


def _track(client: LanguageClient) -> None:
    """Remember the version of each publishDiagnostics, beside pytest-lsp's own record."""
    if getattr(client, "_netdsl_tracked", False):
        return
    client._netdsl_tracked = True

    def published(params: lsp.PublishDiagnosticsParams):
        client.diagnostics[params.uri] = params.diagnostics
        _published[params.uri] = params.version

    # pytest-lsp's own handler keeps only the diagnostics; this one keeps the version too.
    client.protocol.fm.features[lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = published


async def _open(client: LanguageClient, path: Path, text: str | None = None):
    _track(client)
    uri = path.as_uri()
    text = path.read_text(encoding="utf-8") if text is None else text
    _versions[uri] = 1
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "netdsl", 1, text))
    )
    return uri, await _diagnostics(client, uri, 1)


async def _change(client: LanguageClient, uri: str, text: str, wait: bool = True):
    _versions[uri] += 1
    version = _versions[uri]
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [lsp.TextDocumentContentChangeWholeDocument(text)],
        )
    )
    return await _diagnostics(client, uri, version) if wait else None


def _close(client: LanguageClient, uri: str) -> None:
    client.text_document_did_close(lsp.DidCloseTextDocumentParams(lsp.TextDocumentIdentifier(uri)))


def _cli_diagnostics(path: Path) -> list[dict]:
    import subprocess

    r = subprocess.run(
        [sys.executable, "-m", "netdsl", "check", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 1
    return json.loads(r.stdout)["diagnostics"]


@ASYNC
async def test_shape_error_is_exactly_the_cli_diagnostic_then_disappears(client):
    path = DATA / "shape_error.net"
    uri, diags = await _open(client, path)
    (cli,) = _cli_diagnostics(path)
    assert len(diags) == 1
    d = diags[0]
    assert d.code == cli["code"] == "E401"
    assert d.message == f"{cli['message']}\nnote: {cli['notes'][0]['message']}\nhint: {cli['hint']}"
    s = cli["span"]
    assert d.range == lsp.Range(
        lsp.Position(s["line"] - 1, s["col"] - 1), lsp.Position(s["end_line"] - 1, s["end_col"] - 1)
    )
    assert d.severity == lsp.DiagnosticSeverity.Error
    fixed = path.read_text().replace("x -> linear", "x -> flatten -> linear")
    assert await _change(client, uri, fixed) == []
    _close(client, uri)


@ASYNC
async def test_error_inside_imported_file_is_reported_on_the_import_line(client):
    uri, diags = await _open(client, DATA / "broken_import.net")
    assert [d.code for d in diags] == ["E201"]
    d = diags[0]
    assert d.range.start.line == 0  # import "lib/bad.net"
    assert "unknown name 'Nope'" in d.message
    rel = d.related_information[0].location
    assert rel.uri == (DATA / "lib" / "bad.net").as_uri()
    assert rel.range.start == lsp.Position(1, 28)
    _close(client, uri)


@ASYNC
async def test_several_syntax_errors_at_once(client):
    uri, diags = await _open(client, BAD / "syntax_several_errors.net")
    cli = _cli_diagnostics(BAD / "syntax_several_errors.net")
    assert len(diags) == len(cli) >= 2
    for d, c in zip(diags, cli):
        assert (d.code, d.range.start) == (
            c["code"],
            lsp.Position(c["span"]["line"] - 1, c["span"]["col"] - 1),
        )
    _close(client, uri)


@ASYNC
async def test_hover_on_a_layer_shows_its_output_type(client):
    path = DATA / "classifier.net"
    uri, diags = await _open(client, path)
    assert diags == []
    # `linear(classes) as fc` on line 6 (0-based 5)
    line = path.read_text().split("\n")[5]
    h = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(5, line.index("linear") + 2))
    )
    text = h.contents.value
    assert "**fc**" in text and "out: `10`" in text and "in: `32`" in text
    assert "params 330" in text  # 32 * 10 weights + 10 biases
    # On a block call: the instance's types and totals, and the block's comment.
    line4 = path.read_text().split("\n")[4]
    h = await client.text_document_hover_async(
        lsp.HoverParams(
            lsp.TextDocumentIdentifier(uri), lsp.Position(4, line4.index("ConvBN(32") + 1)
        )
    )
    text = h.contents.value
    assert "out: `32x16x16`" in text  # stride 2 on 32x32
    assert "params 4,672" in text  # 16*32*3*3 conv (no bias) + 2*32 batch norm
    assert "block ConvBN(filters, kernel=3, stride=1)" in text
    assert "the unit every stage is built from" in text
    # On a variable: its binding and type; on the network's name: its signature.
    line5 = path.read_text().split("\n")[5]
    h = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(5, line5.index("x ->")))
    )
    assert "x = image -> ConvBN(16)" in h.contents.value and "`32x16x16`" in h.contents.value
    h = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(2, 10))
    )
    assert "network Tiny(classes=10)" in h.contents.value
    _close(client, uri)


@ASYNC
async def test_definition_of_an_imported_block(client):
    path = DATA / "classifier.net"
    uri, _ = await _open(client, path)
    line4 = path.read_text().split("\n")[4]
    (loc,) = await client.text_document_definition_async(
        lsp.DefinitionParams(
            lsp.TextDocumentIdentifier(uri), lsp.Position(4, line4.index("ConvBN") + 2)
        )
    )
    assert loc.uri == (DATA / "lib" / "stem.net").as_uri()
    assert loc.range.start == lsp.Position(1, 6)  # `block ConvBN(` on line 2
    # The import string goes to the file; a variable to where it is bound.
    (imp,) = await client.text_document_definition_async(
        lsp.DefinitionParams(lsp.TextDocumentIdentifier(uri), lsp.Position(0, 10))
    )
    assert imp.uri == (DATA / "lib" / "stem.net").as_uri()
    line5 = path.read_text().split("\n")[5]
    (var,) = await client.text_document_definition_async(
        lsp.DefinitionParams(lsp.TextDocumentIdentifier(uri), lsp.Position(5, line5.index("x ->")))
    )
    assert var.uri == uri and var.range.start == lsp.Position(4, 4)
    _close(client, uri)


@ASYNC
async def test_references_of_a_block_across_files(client):
    uri, _ = await _open(client, DATA / "lib" / "stem.net")
    refs = await client.text_document_references_async(
        lsp.ReferenceParams(
            text_document=lsp.TextDocumentIdentifier(uri),
            position=lsp.Position(1, 8),
            context=lsp.ReferenceContext(include_declaration=True),
        )
    )
    where = sorted((Path(r.uri[len("file://") :]).name, r.range.start.line) for r in refs)
    assert ("classifier.net", 4) in where and ("shape_error.net", 4) in where
    assert ("stem.net", 1) in where  # the declaration
    _close(client, uri)


@ASYNC
async def test_completion_after_conv_paren_lists_its_arguments(client):
    path = DATA / "classifier.net"
    text = path.read_text().replace("-> ConvBN(32, stride=2) as down", "-> conv(")
    uri, _ = await _open(client, path, text)
    line = text.split("\n")[4]
    result = await client.text_document_completion_async(
        lsp.CompletionParams(lsp.TextDocumentIdentifier(uri), lsp.Position(4, len(line)))
    )
    args = [i for i in result.items if i.kind == lsp.CompletionItemKind.Property]
    names = [i.label for i in args]
    assert names[:4] == ["filters", "kernel", "stride", "pad"]
    assert {"dilation", "groups", "bias"} <= set(names)
    assert next(i for i in args if i.label == "stride").detail == "pair = 1"
    labels = {i.label for i in result.items}
    assert {"ConvBN", "relu", "repeat", "batchnorm"} <= labels  # imported block, ops, keywords
    _close(client, uri)


@ASYNC
async def test_symbols_inlay_hints_and_formatting(client):
    path = DATA / "classifier.net"
    uri, _ = await _open(client, path)
    symbols = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(lsp.TextDocumentIdentifier(uri))
    )
    (net,) = symbols
    assert net.name == "Tiny" and {c.name for c in net.children} >= {"image", "stem", "down", "fc"}
    found = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="convb"))
    assert any(s.name == "ConvBN" and s.location.uri.endswith("lib/stem.net") for s in found)
    hints = await client.text_document_inlay_hint_async(
        lsp.InlayHintParams(
            lsp.TextDocumentIdentifier(uri), lsp.Range(lsp.Position(0, 0), lsp.Position(10, 0))
        )
    )
    by_line = {h.position.line: h.label for h in hints}
    assert by_line[4] == ": 32x16x16" and by_line[5] == ": 10"
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            lsp.TextDocumentIdentifier(uri), lsp.FormattingOptions(4, True)
        )
    )
    assert list(edits) == []  # already formatted
    ugly = path.read_text().replace("    input image", "  input   image")
    await _change(client, uri, ugly)
    (edit,) = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            lsp.TextDocumentIdentifier(uri), lsp.FormattingOptions(4, True)
        )
    )
    assert edit.new_text == path.read_text()
    _close(client, uri)


@ASYNC
async def test_never_crashes_on_the_bad_corpus(client):
    for path in sorted(BAD.glob("*.net")):
        text = path.read_bytes().decode("utf-8", errors="replace")  # as an editor would
        uri, diags = await _open(client, path, text)
        expected = text.split("\n")[0].split()[2]  # "# expect: E202 ..."
        # The editor decoded the file (no I/O error left); -D/--input are the CLI's only;
        # which network to check (E608 none, E609 several) is the CLI's question: the
        # server checks every network a file has, and a file of blocks is a library.
        cli_only = path.name.startswith("io_") or "# args:" in text or expected in ("E608", "E609")
        if not cli_only:
            assert expected in [d.code for d in diags], (path.name, diags)
        assert all(d.code != "internal" for d in diags), (path.name, diags)
        h = await client.text_document_hover_async(
            lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(2, 8))
        )
        assert h is None or h.contents.value
        _close(client, uri)


@ASYNC
async def test_never_crashes_on_random_edits_and_keeps_up(client):
    """Random deletions, insertions and swaps of a real network, sent faster than they
    can be analysed: every request is answered, and the last text's diagnostics win."""
    path = ROOT / "networks" / "resnet50.net"
    original = path.read_text()
    uri, _ = await _open(client, path)
    rng = random.Random(13)
    text = original
    pieces = ["(", ")", "{", "}", "->", ",", "=", "x", "3x", "1e", '"', "#", "\n", "as", "-"]
    for _ in range(150):
        k = rng.randrange(len(text) + 1)
        op = rng.random()
        if op < 0.4:
            text = text[:k] + text[k + rng.randint(1, 8) :]
        elif op < 0.8:
            text = text[:k] + rng.choice(pieces) + text[k:]
        else:
            text = original
        await _change(client, uri, text, wait=False)
        if rng.random() < 0.2:
            line = rng.randrange(len(text.split("\n")))
            pos = lsp.Position(line, rng.randrange(40))
            await client.text_document_hover_async(
                lsp.HoverParams(lsp.TextDocumentIdentifier(uri), pos)
            )
            await client.text_document_completion_async(
                lsp.CompletionParams(lsp.TextDocumentIdentifier(uri), pos)
            )
    diags = await _change(client, uri, original)
    assert diags == []
    _close(client, uri)


@ASYNC
async def test_an_edit_stops_the_analysis_under_way(client):
    """A network of 400,000 layers takes tens of seconds to elaborate; an edit made
    while it runs stops it, and the new text's diagnostics come at once."""
    _track(client)
    uri = (DATA / "huge.net").as_uri()
    huge = "network N {\n    input x: 8\n    out y = x -> repeat 400000 { relu }\n}\n"
    _versions[uri] = 1
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "netdsl", 1, huge))
    )
    await asyncio.sleep(0.5)  # the elaboration is under way
    loop = asyncio.get_running_loop()
    start = loop.time()
    small = huge.replace("400000", "2").replace("input x: 8", "input x: 3x8x8")
    diags = await _change(client, uri, small.replace("relu }", "relu } -> linear(4)"))
    assert [d.code for d in diags] == ["E401"]  # linear on 3x8x8
    assert loop.time() - start < 10
    assert _published.get(uri) == 2  # the huge text's analysis was never published
    _close(client, uri)


def test_latency_benchmark_runs_and_stale_work_is_dropped():
    """benchmarks/lsp_latency.py end to end (a short run; the timing target is the
    benchmark's to judge, docs/editors.md): a burst of 20 quick edits is analysed and
    published far fewer than 20 times."""
    import subprocess

    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "lsp_latency.py"),
            "--edits",
            "3",
            "--bursts",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode in (0, 1), r.stderr  # 1: slower than the target on this machine
    result = json.loads(r.stdout)
    assert result["edit_latency_s"]["n"] == 3
    (published,) = result["burst_analyses_published_per_20_edits"]
    assert 1 <= published < 10


@ASYNC
async def test_ranges_are_in_utf16_units_after_non_ascii_text(client):
    """LSP columns count UTF-16 code units by default; netdsl's count characters."""
    text = 'network N {\n    input image: 3x32x32\n    out y = image -> conv(8, 3, pad="😀😀")\n}\n'
    uri, diags = await _open(client, DATA / "unicode.net", text)
    (d,) = diags
    assert d.code == "E304"
    line = text.split("\n")[2]
    start = line.index("pad=")  # the argument, as the CLI marks it
    assert d.range.start == lsp.Position(2, start)
    # pad="😀😀": 8 characters, 10 UTF-16 units (each emoji is a surrogate pair)
    assert d.range.end == lsp.Position(2, start + len('pad="😀😀"') + 2)
    _close(client, uri)
