"""`netdsl lsp`: the language server (pygls, over stdio).

Analysis runs on one worker thread, so the server keeps reading messages while a
network elaborates. Edits are debounced: a change waits DEBOUNCE seconds for the next
one, and a change that arrives meanwhile cancels it; a change also stops an analysis of
the same document already under way (at its next layer: netdsl.lsp.analysis._limits),
and an analysis that finishes after its document moved on is dropped, never published.
Requests about a document wait for its analysis to catch up with the text they refer to.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace.position_codec import ServerTextPosition

from netdsl.diagnostics import NetdslError
from netdsl.lsp import features
from netdsl.lsp.analysis import Snapshot, analyse, imported_blocks, locate

DEBOUNCE = 0.05  # seconds a change waits for the next keystroke
MAX_WORKSPACE_FILES = 5000
log = logging.getLogger("netdsl.lsp")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("netdsl")
    except Exception:
        return "0"


class NetdslServer(LanguageServer):
    def __init__(self):
        super().__init__("netdsl", _version())
        self.snapshots: dict[str, Snapshot] = {}  # latest analysis per open document
        self.good: dict[str, Snapshot] = {}  # latest analysis that parsed, per document
        self.pending: dict[str, asyncio.Task] = {}
        self.cancels: dict[str, threading.Event] = {}  # per document, of the analysis running
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netdsl-analysis")
        self.inlay_hints = False
        self.roots: list[Path] = []
        self._parsed: dict[Path, tuple[tuple, object]] = {}  # workspace files: (stat, module)

    # ---------------------------------------------------------------- analysis
    def schedule(self, uri: str, delay: float) -> None:
        old = self.pending.pop(uri, None)
        if old is not None and not old.done():
            old.cancel()
        running = self.cancels.pop(uri, None)
        if running is not None:
            running.set()  # an elaboration under way stops at its next layer
        self.pending[uri] = asyncio.ensure_future(self._analyse(uri, delay))

    async def _analyse(self, uri: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        doc = self.workspace.get_text_document(uri)
        version, text = doc.version, doc.source
        loop = asyncio.get_running_loop()
        cancelled = self.cancels[uri] = threading.Event()
        snap = await loop.run_in_executor(
            self.worker, analyse, _path(uri), text, version, cancelled
        )
        if snap is None or self.workspace.get_text_document(uri).version != version:
            return  # stale: a newer analysis is on its way
        self.snapshots[uri] = snap
        if snap.module is not None:
            self.good[uri] = snap
        self.publish(uri, snap)

    async def current(self, uri: str) -> Snapshot | None:
        """The analysis of the document's present text (waiting for it, up to a limit)."""
        for _ in range(50):
            task = self.pending.get(uri)
            if task is None or task.done():
                break
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=5)
            except (asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.sleep(0.01)  # cancelled by a newer edit: wait for that one
            except Exception:
                break
        return self.snapshots.get(uri)

    def publish(self, uri: str, snap: Snapshot) -> None:
        doc = self.workspace.get_text_document(uri)
        out = []
        for loc in locate(snap):
            d = loc.diagnostic
            message = d.message
            related = []
            if loc.elsewhere is not None:
                where = loc.elsewhere
                message = f"in {where.file}:{where.line}:{where.col}: {message}"
                related.append(
                    lsp.DiagnosticRelatedInformation(
                        lsp.Location(features.uri_of(where.file), features.to_range(where)),
                        d.message,
                    )
                )
            for note in loc.notes:
                if note.span is not None:
                    related.append(
                        lsp.DiagnosticRelatedInformation(
                            lsp.Location(
                                features.uri_of(note.span.file), features.to_range(note.span)
                            ),
                            note.message,
                        )
                    )
                else:
                    message += f"\nnote: {note.message}"
            if d.hint:
                message += f"\nhint: {d.hint}"
            out.append(
                lsp.Diagnostic(
                    range=self._client_range(doc, features.to_range(loc.span)),
                    message=message,
                    severity=lsp.DiagnosticSeverity.Error
                    if d.severity == "error"
                    else lsp.DiagnosticSeverity.Warning,
                    code=d.code,
                    source="netdsl",
                    related_information=related or None,
                )
            )
        if snap.internal is not None:
            out.append(
                lsp.Diagnostic(
                    range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
                    message=f"netdsl: internal error: {snap.internal} (a bug in netdsl)",
                    severity=lsp.DiagnosticSeverity.Error,
                    code="internal",
                    source="netdsl",
                )
            )
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=out, version=snap.version)
        )

    # -------------------------------------------------------------- positions
    @staticmethod
    def _client_range(doc, r: lsp.Range) -> lsp.Range:
        try:
            return lsp.Range(
                doc.position_to_client_units(ServerTextPosition(r.start.line, r.start.character)),
                doc.position_to_client_units(ServerTextPosition(r.end.line, r.end.character)),
            )
        except Exception:
            return r

    def client_locations(self, locations: list[lsp.Location]) -> list[lsp.Location]:
        """Ranges into open documents, in the client's position units."""
        docs = self.workspace.text_documents
        for loc in locations:
            if loc.uri in docs:
                loc.range = self._client_range(docs[loc.uri], loc.range)
        return locations

    def client_symbols(self, uri: str, symbols: list[lsp.DocumentSymbol]):
        doc = self.workspace.get_text_document(uri)
        todo = list(symbols)
        while todo:
            s = todo.pop()
            s.range = self._client_range(doc, s.range)
            s.selection_range = self._client_range(doc, s.selection_range)
            todo.extend(s.children or [])
        return symbols

    def server_position(self, uri: str, pos: lsp.Position) -> tuple[int, int]:
        try:
            p = self.workspace.get_text_document(uri).position_from_client_units(pos)
            return p.line, p.character
        except Exception:
            return pos.line, pos.character

    # ---------------------------------------------------------------- workspace
    def workspace_modules(self) -> list:
        """Parsed .net files of the workspace folders (cached by size and mtime), with
        the open documents' own text in place of what is on disk."""
        from netdsl.loader import read_text
        from netdsl.parser import parse

        modules, seen = [], set()
        for snap in self.good.values():
            modules.append(snap.module)
            seen.add(Path(os.path.abspath(snap.path)))
        count = 0
        for root in self.roots:
            for path in sorted(root.rglob("*.net")):
                count += 1
                if count > MAX_WORKSPACE_FILES:
                    return modules
                path = path.resolve()
                if path in seen:
                    continue
                try:
                    st = path.stat()
                    key = (st.st_size, st.st_mtime_ns)
                    cached = self._parsed.get(path)
                    if cached is None or cached[0] != key:
                        cached = (key, parse(read_text(str(path)), str(path)))
                        self._parsed[path] = cached
                    modules.append(cached[1])
                except (OSError, NetdslError, RecursionError):
                    continue
        return modules


def _path(uri: str) -> str:
    return to_fs_path(uri) or uri


def _safe(default=None):
    """Any failure in a handler is logged and answered with `default`: the server stays up."""

    def wrap(f):
        @functools.wraps(f)
        async def inner(*args, **kwargs):
            try:
                return await f(*args, **kwargs)
            except Exception:
                log.exception("netdsl lsp: %s failed", f.__name__)
                return default

        return inner

    return wrap


def build() -> NetdslServer:
    server = NetdslServer()

    @server.feature(lsp.INITIALIZED)
    def initialized(ls: NetdslServer, params):
        folders = list(ls.workspace.folders.values()) if ls.workspace.folders else []
        roots = [_path(f.uri) for f in folders]
        if not roots and ls.workspace.root_path:
            roots = [ls.workspace.root_path]
        ls.roots = [Path(r) for r in roots if r and Path(r).is_dir()]

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: NetdslServer, params: lsp.InitializeParams):
        opts = params.initialization_options or {}
        if isinstance(opts, dict):
            ls.inlay_hints = bool(opts.get("inlayHints", False))

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NetdslServer, params: lsp.DidOpenTextDocumentParams):
        ls.schedule(params.text_document.uri, 0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NetdslServer, params: lsp.DidChangeTextDocumentParams):
        ls.schedule(params.text_document.uri, DEBOUNCE)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: NetdslServer, params: lsp.DidSaveTextDocumentParams):
        # Files that import the saved one may see new blocks or errors.
        for uri in list(ls.snapshots):
            ls.schedule(uri, DEBOUNCE)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NetdslServer, params: lsp.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        task = ls.pending.pop(uri, None)
        if task is not None:
            task.cancel()
        running = ls.cancels.pop(uri, None)
        if running is not None:
            running.set()
        ls.snapshots.pop(uri, None)
        ls.good.pop(uri, None)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    @_safe()
    async def hover(ls: NetdslServer, params: lsp.HoverParams):
        uri = params.text_document.uri
        snap = await ls.current(uri)
        if snap is None:
            return None
        line, char = ls.server_position(uri, params.position)
        others = [s for u, s in ls.snapshots.items() if u != uri]
        result = features.hover(snap, others, line, char)
        if result is not None and result.range is not None:
            doc = ls.workspace.get_text_document(uri)
            result.range = ls._client_range(doc, result.range)
        return result

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    @_safe([])
    async def definition(ls: NetdslServer, params: lsp.DefinitionParams):
        uri = params.text_document.uri
        snap = await ls.current(uri)
        snap = snap if snap is not None and snap.module is not None else ls.good.get(uri, snap)
        if snap is None:
            return []
        line, char = ls.server_position(uri, params.position)
        return ls.client_locations(features.definition(snap, line, char))

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    @_safe([])
    async def references(ls: NetdslServer, params: lsp.ReferenceParams):
        uri = params.text_document.uri
        snap = await ls.current(uri)
        snap = snap if snap is not None and snap.module is not None else ls.good.get(uri, snap)
        if snap is None:
            return []
        line, char = ls.server_position(uri, params.position)
        loop = asyncio.get_running_loop()
        modules = await loop.run_in_executor(ls.worker, ls.workspace_modules)
        if snap.program is not None:
            modules = [*snap.program.modules, *modules]
        found = features.references(snap, modules, line, char, params.context.include_declaration)
        return ls.client_locations(found)

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["(", ","])
    )
    @_safe()
    async def completion(ls: NetdslServer, params: lsp.CompletionParams):
        uri = params.text_document.uri
        doc = ls.workspace.get_text_document(uri)
        # Completion runs on text that is being typed: use the text as it is now, and
        # the blocks of the last version that parsed.
        good = ls.good.get(uri) or ls.snapshots.get(uri)
        loop = asyncio.get_running_loop()
        blocks = await loop.run_in_executor(ls.worker, imported_blocks, _path(uri), doc.source)
        if good is not None:
            blocks.update(good.blocks())
        snap = Snapshot(_path(uri), doc.source, doc.version)
        if good is not None:
            snap.program, snap.module = good.program, good.module
        line, char = ls.server_position(uri, params.position)
        return features.completion(snap, blocks, line, char)

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @_safe([])
    async def document_symbol(ls: NetdslServer, params: lsp.DocumentSymbolParams):
        uri = params.text_document.uri
        await ls.current(uri)
        snap = ls.good.get(uri)
        if snap is None:
            return []
        return ls.client_symbols(uri, features.document_symbols(snap, snap.module))

    @server.feature(lsp.WORKSPACE_SYMBOL)
    @_safe([])
    async def workspace_symbol(ls: NetdslServer, params: lsp.WorkspaceSymbolParams):
        loop = asyncio.get_running_loop()
        modules = await loop.run_in_executor(ls.worker, ls.workspace_modules)
        return features.workspace_symbols(modules, params.query)

    @server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT)
    @_safe([])
    async def inlay_hint(ls: NetdslServer, params: lsp.InlayHintParams):
        if not ls.inlay_hints:
            return []
        uri = params.text_document.uri
        snap = await ls.current(uri)
        if snap is None:
            return []
        hints = features.inlay_hints(snap, params.range.start.line, params.range.end.line)
        doc = ls.workspace.get_text_document(uri)
        for h in hints:
            p = h.position
            h.position = doc.position_to_client_units(ServerTextPosition(p.line, p.character))
        return hints

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: NetdslServer, params):
        settings = params.settings if isinstance(params.settings, dict) else {}
        section = settings.get("netdsl", settings)
        value = section.get("inlayHints") if isinstance(section, dict) else None
        if value is not None:
            ls.inlay_hints = bool(value)

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    @_safe()
    async def formatting(ls: NetdslServer, params: lsp.DocumentFormattingParams):
        from netdsl.format import FormatError, format_source

        uri = params.text_document.uri
        doc = ls.workspace.get_text_document(uri)
        text = doc.source
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(ls.worker, format_source, text, _path(uri))
        except (NetdslError, FormatError, RecursionError):
            return None  # does not parse (the diagnostics say why): nothing to format
        if result == text:
            return []
        end = doc.client_position_at_offset(len(text))
        return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), result)]

    return server


def serve() -> None:
    logging.basicConfig(level=logging.WARNING)
    build().start_io()
