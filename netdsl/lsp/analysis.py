"""What the language server knows about one document: a Snapshot.

Built only from netdsl's public pieces: netdsl.parser.parse for the syntax tree,
netdsl.loader.load_program for imports and blocks, netdsl.api.load for the IR (and
every diagnostic, the same objects the CLI renders), netdsl.stats.costs for the
figures. No pygls here: the benchmark and the unit tests use it directly.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from netdsl import ast
from netdsl.diagnostics import Diagnostic, NetdslError, Note, Span


@dataclass
class Snapshot:
    path: str  # the document's file-system path (need not exist)
    text: str
    version: int | None = None
    module: ast.Module | None = None  # None when the text does not parse
    program: object | None = None  # netdsl.loader.Program, when its imports load
    graphs: list = field(default_factory=list)  # one IR per network that elaborates
    diagnostics: list[Diagnostic] = field(default_factory=list)
    internal: str | None = None  # a netdsl bug met while analysing (kept, not raised)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @cached_property
    def costs(self) -> dict:
        """{graph index: {node: Cost}}, computed on first use (hover)."""
        from netdsl.stats import costs

        return {i: costs(G) for i, G in enumerate(self.graphs)}

    def blocks(self) -> dict[str, ast.Block]:
        """Blocks visible here: this file's and every imported one's."""
        if self.program is not None:
            return dict(self.program.blocks)
        return {b.name: b for b in self.module.blocks} if self.module else {}

    def module_of(self, file: str) -> ast.Module | None:
        mods = self.program.modules if self.program is not None else [self.module]
        for m in mods:
            if m is not None and m.file == file:
                return m
        return None


def resolve(file: str) -> Path:
    """A span's file name (as netdsl prints it: relative to the working folder, or
    absolute) as an absolute path."""
    return Path(os.path.abspath(file))


def same_file(a: str, b: str) -> bool:
    return resolve(a) == resolve(b)


class Cancelled(BaseException):
    """The text being analysed has changed: stop (a BaseException, so that no
    `except Exception` on the way catches it)."""


def _limits(cancelled):
    """netdsl's default limits, whose layer limit, read as each layer is added, also
    stops the elaboration once `cancelled` (a threading.Event) is set."""
    from netdsl.frame import Limits

    class _Limits(Limits):
        @property
        def max_layers(self):
            if cancelled.is_set():
                raise Cancelled
            return self._max_layers

        @max_layers.setter
        def max_layers(self, value):
            self._max_layers = value

    return _Limits()


def analyse(path: str, text: str, version: int | None = None, cancelled=None) -> Snapshot | None:
    """Parse, load the imports and elaborate every network of `text` (the file at
    `path`, as the editor has it); never raises. None when `cancelled` (a
    threading.Event) was set before the analysis finished."""
    snap = Snapshot(path, text, version)
    try:
        _analyse(snap, _limits(cancelled) if cancelled is not None else None)
    except Cancelled:
        return None
    except NetdslError as exc:
        snap.diagnostics.extend(exc.diagnostics)
    except RecursionError:
        snap.diagnostics.append(
            Diagnostic("E704", "the network is nested too deeply to process", None)
        )
    except Exception as exc:  # a bug in netdsl: report it, keep the server alive
        snap.internal = f"{type(exc).__name__}: {exc}"
    return snap


def _analyse(snap: Snapshot, limits) -> None:
    from netdsl.loader import load_program
    from netdsl.parser import parse
    from netdsl.sources import register

    register(snap.path, snap.text)
    try:
        snap.program = load_program(snap.path, snap.text)
    except NetdslError as exc:
        snap.diagnostics.extend(exc.diagnostics)
        try:  # the file itself may parse (an import failed): keep its syntax tree
            snap.module = parse(snap.text, snap.path)
        except NetdslError:
            pass
        return
    snap.module = snap.program.root
    for net in snap.module.networks:
        try:
            G = _elaborate(snap, net.name, limits)
        except NetdslError as exc:
            snap.diagnostics.extend(exc.diagnostics)
            continue
        snap.graphs.append(G)
        snap.diagnostics.extend(G.graph.get("warnings", []))


def _elaborate(snap: Snapshot, network: str, limits):
    """netdsl.api.load's elaboration, on the program already loaded: parsing the file
    and its imports again for each network would be half of the time of an analysis
    (benchmarks/lsp_latency.py)."""
    from netdsl.elaborate import elaborate

    try:
        return elaborate(snap.program, network, limits=limits)
    except MemoryError:
        raise NetdslError(
            Diagnostic("E705", "out of memory while processing the network", None)
        ) from None


# --------------------------------------------------------------------------- spans


def source_of(text: str, span: Span) -> str:
    """The text a span covers (spans are 1-based, end exclusive)."""
    lines = text.split("\n")
    if span.end_line is None:
        return lines[span.line - 1][span.col - 1 :]
    if span.line == span.end_line:
        return lines[span.line - 1][span.col - 1 : span.end_col - 1]
    parts = [lines[span.line - 1][span.col - 1 :]]
    parts += lines[span.line : span.end_line - 1]
    parts.append(lines[span.end_line - 1][: span.end_col - 1])
    return "\n".join(parts)


def contains(span: Span | None, line: int, col: int, inclusive_end: bool = True) -> bool:
    """Whether the 1-based (line, col) is inside the span."""
    if span is None or span.end_line is None:
        return False
    if (line, col) < (span.line, span.col):
        return False
    end = (span.end_line, span.end_col)
    return (line, col) <= end if inclusive_end else (line, col) < end


def size(span: Span) -> tuple[int, int]:
    return (span.end_line - span.line, (span.end_col or 0) - span.col)


def walk(node):
    """Every AST node under `node` (dataclass instances, lists), parents first."""
    from dataclasses import fields, is_dataclass

    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, list):
            todo.extend(reversed(n))
        elif is_dataclass(n) and not isinstance(n, Span):
            yield n
            todo.extend(
                getattr(n, f.name)
                for f in reversed(fields(n))
                if f.name not in ("span", "file", "source")
            )


def comment_above(text: str, line: int) -> str:
    """The comment lines right above 1-based `line`, without their '#'."""
    lines = text.split("\n")
    out = []
    k = line - 2
    while k >= 0 and lines[k].lstrip().startswith("#"):
        out.append(lines[k].lstrip()[1:].removeprefix(" "))
        k -= 1
    return "\n".join(reversed(out))


# --------------------------------------------------------------- diagnostics -> editor


@dataclass
class Located:
    """A diagnostic placed in this document, with where it really is when elsewhere."""

    diagnostic: Diagnostic
    span: Span | None  # where to show it in this document (None: line 1)
    elsewhere: Span | None = None  # the imported file's location
    notes: list[Note] = field(default_factory=list)


def locate(snap: Snapshot) -> list[Located]:
    """Each diagnostic where it belongs in this document: errors in an imported file
    go on the import line that brings that file in."""
    out = []
    for d in snap.diagnostics:
        if d.span is None or same_file(d.span.file, snap.path):
            out.append(Located(d, d.span, notes=d.notes))
            continue
        imp = _import_leading_to(snap, d.span.file)
        out.append(Located(d, imp.span if imp else None, d.span, d.notes))
    return out


def import_target(base: str, imp: ast.Import) -> Path | None:
    """The file an import names, looked up as netdsl.loader does (next to the importing
    file, then in the shipped library)."""
    from netdsl.loader import library_dir

    for folder in (resolve(base).parent, library_dir()):
        candidate = (folder / imp.path).resolve()
        if candidate.is_file():
            return candidate
    return None


def _import_leading_to(snap: Snapshot, file: str) -> ast.Import | None:
    if snap.module is None:
        return None
    want = resolve(file)
    for imp in snap.module.imports:
        if import_target(snap.path, imp) == want:
            return imp
    for imp in snap.module.imports:  # an indirect import: follow each one's imports
        target = import_target(snap.path, imp)
        if target is not None and want in _closure(target):
            return imp
    return snap.module.imports[0] if snap.module.imports else None


def _closure(path: Path, seen: set | None = None) -> set[Path]:
    from netdsl.loader import read_text
    from netdsl.parser import parse

    seen = set() if seen is None else seen
    if path in seen or len(seen) > 64:
        return seen
    seen.add(path)
    try:
        module = parse(read_text(str(path)), str(path))
    except NetdslError:
        return seen
    for imp in module.imports:
        target = import_target(str(path), imp)
        if target is not None:
            _closure(target, seen)
    return seen


_IMPORT_LINE = re.compile(r'^\s*import\s+"([^"\\\n]+)"', re.M)


def imported_blocks(path: str, text: str) -> dict:
    """Blocks the `import` lines of `text` bring in, found even when the text does not
    parse (as while typing)."""
    from netdsl.loader import load_program

    out: dict = {}
    for m in _IMPORT_LINE.finditer(text):
        target = import_target(path, ast.Import(m.group(1), Span(path, 1, 1)))
        if target is None:
            continue
        try:
            out.update(load_program(str(target)).blocks)
        except (NetdslError, RecursionError):
            continue
    return out
