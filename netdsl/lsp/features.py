"""Hover, definitions, references, completion, symbols and inlay hints over Snapshots.

Positions here are 0-based (line, character) in code points, as lsprotocol's
Position; netdsl spans are 1-based with an exclusive end (netdsl.diagnostics.Span).
"""

from __future__ import annotations

import re
from pathlib import Path

from lsprotocol import types as lsp

from netdsl import ast
from netdsl.diagnostics import Span
from netdsl.lsp.analysis import (
    Snapshot,
    comment_above,
    contains,
    import_target,
    resolve,
    same_file,
    size,
    source_of,
    walk,
)
from netdsl.lsp.ir_view import in_types, layer, shape_text

KEYWORDS = (
    "import block network input out aux init if else for in repeat as and or not true false none"
).split()
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def to_range(span: Span | None) -> lsp.Range:
    if span is None:
        return lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    end_line = span.end_line if span.end_line is not None else span.line
    end_col = span.end_col if span.end_col is not None else span.col + 1
    return lsp.Range(
        lsp.Position(span.line - 1, span.col - 1), lsp.Position(end_line - 1, end_col - 1)
    )


def uri_of(file: str) -> str:
    return resolve(file).as_uri()


def word_at(snap: Snapshot, line: int, char: int) -> tuple[str, Span] | None:
    if not 0 <= line < len(snap.lines):
        return None
    text = snap.lines[line]
    for m in _WORD.finditer(text):
        if m.start() <= char <= m.end():
            return m.group(), Span(snap.path, line + 1, m.start() + 1, line + 1, m.end() + 1)
    return None


def _fmt_int(n: int) -> str:
    return f"{n:,}"


# ------------------------------------------------------------------------------ hover


def _nodes_here(snaps: list[Snapshot], path: str, line: int, col: int):
    """Layers (graph, index, node) written at this position, the innermost span first."""
    best, found = None, []
    for snap in snaps:
        for gi, G in enumerate(snap.graphs):
            for node in G:
                L = layer(G, node)
                span = L.span
                if span is None or not contains(span, line, col) or not same_file(span.file, path):
                    continue
                key = size(span)
                if best is None or key < best:
                    best, found = key, [(snap, gi, node)]
                elif key == best:
                    found.append((snap, gi, node))
    return best, found


def _instances_here(snaps: list[Snapshot], path: str, line: int, col: int):
    best, found = None, []
    for snap in snaps:
        for gi, G in enumerate(snap.graphs):
            for inst in G.graph.get("instances", {}).values():
                span = inst.span
                if not contains(span, line, col) or not same_file(span.file, path):
                    continue
                key = size(span)
                if best is None or key < best:
                    best, found = key, [(snap, gi, inst)]
                elif key == best:
                    found.append((snap, gi, inst))
    return best, found


def _layer_hover(found) -> str:
    snap, gi, node = found[0]
    G = snap.graphs[gi]
    L = layer(G, node)
    cost = snap.costs[gi].get(node)
    args = ", ".join(f"{k}={_value(v)}" for k, v in L.args.items())
    outs = sorted({shape_text(layer(s.graphs[g], n).shape) for s, g, n in found})
    lines = [f"**{node}**: `{L.op}({args})`", ""]
    ins = " + ".join(shape_text(s) for s in in_types(G, node)) or "none"
    lines.append(f"in: `{ins}` → out: `{outs[0] if len(outs) == 1 else ', '.join(outs)}`")
    if cost is not None:
        lines.append("")
        lines.append(f"params {_fmt_int(cost.params)} · MACs {_fmt_int(cost.macs)}")
    if len(found) > 1:
        names = ", ".join(n for _, _, n in found[:4]) + (", ..." if len(found) > 4 else "")
        lines += ["", f"{len(found)} layers come from this line: {names}"]
    return "\n".join(lines)


def _instance_hover(found, blocks) -> str:
    snap, gi, inst = found[0]
    G = snap.graphs[gi]
    members = [n for n in G if any(s.path == inst.path for s in layer(G, n).scope)]
    costs = snap.costs[gi]
    params = sum(costs[n].params for n in members if n in costs)
    macs = sum(costs[n].macs for n in members if n in costs)
    ins = " + ".join(shape_text(layer(G, n).shape) for n in inst.inputs) or "none"
    out = shape_text(layer(G, inst.output).shape) if inst.output in G else "?"
    args = ", ".join(f"{k}={_value(v)}" for k, v in inst.args.items())
    lines = [f"**{inst.path}**: block `{inst.block}({args})`", ""]
    lines.append(f"in: `{ins}` → out: `{out}`")
    lines += ["", f"{len(members)} layers · params {_fmt_int(params)} · MACs {_fmt_int(macs)}"]
    if len(found) > 1:
        lines += ["", f"{len(found)} instances come from this call"]
    return "\n".join(lines)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def signature(snap: Snapshot, item) -> str:
    """`block Name(a, b=1)` as written, defaults in their source form."""
    module = snap.module_of(item.span.file)
    text = module.source if module is not None else snap.text
    params = [
        p.name + (f"={source_of(text, p.default.span)}" if p.default is not None else "")
        for p in item.params
    ]
    kind = "block" if isinstance(item, ast.Block) else "network"
    return f"{kind} {item.name}({', '.join(params)})"


def _definition_hover(snap: Snapshot, item) -> str:
    module = snap.module_of(item.span.file)
    text = module.source if module is not None else snap.text
    doc = comment_above(text, item.span.line)
    out = f"```netdsl\n{signature(snap, item)}\n```"
    if doc:
        out += "\n\n" + doc
    if not same_file(item.span.file, snap.path):
        out += f"\n\n*{Path(item.span.file).name}:{item.span.line}*"
    return out


def _op_hover(name: str) -> str | None:
    from netdsl.ops import OPS

    op = OPS.get(name)
    if op is None:
        return None
    parts = []
    for a in op.args:
        default = "" if repr(a.default) == "REQUIRED" else f"={_value(a.default)}"
        parts.append(f"{a.name}{default}")
    out = f"```netdsl\n{name}({', '.join(parts)})\n```"
    if op.doc:
        out += "\n\n" + op.doc
    docs = [f"- `{a.name}` ({a.type}): {a.doc}" for a in op.args if a.doc]
    if docs:
        out += "\n\n" + "\n".join(docs)
    return out


def hover(snap: Snapshot, others: list[Snapshot], line: int, char: int) -> lsp.Hover | None:
    L, C = line + 1, char + 1
    w = word_at(snap, line, char)
    snaps = [snap, *others]
    # A definition's name: its signature and comment.
    if snap.module is not None and w is not None:
        for item in [*snap.module.blocks, *snap.module.networks]:
            if item.name == w[0] and item.span.line == L:
                return _md(_definition_hover(snap, item), w[1])
    layer_size, layers = _nodes_here(snaps, snap.path, L, C)
    inst_size, insts = _instances_here(snaps, snap.path, L, C)
    if insts and (not layers or inst_size <= layer_size):
        blocks = snap.blocks()
        text = _instance_hover(insts, blocks)
        block = blocks.get(insts[0][2].block)
        if w is not None and block is not None and w[0] == block.name:
            text += "\n\n---\n\n" + _definition_hover(snap, block)
        return _md(text, insts[0][2].span)
    if layers:
        text = _layer_hover(layers)
        op = layer(layers[0][0].graphs[layers[0][1]], layers[0][2]).op
        if w is not None and w[0] == op and (doc := _op_hover(op)):
            text += "\n\n---\n\n" + doc
        return _md(text, layer(layers[0][0].graphs[layers[0][1]], layers[0][2]).span)
    if w is None:
        return None
    name = w[0]
    block = snap.blocks().get(name)
    if block is not None:
        return _md(_definition_hover(snap, block), w[1])
    doc = _op_hover(name)
    if doc is not None:
        return _md(doc, w[1])
    var = _variable_hover(snap, name, L)
    return _md(var, w[1]) if var else None


def _variable_hover(snap: Snapshot, name: str, line: int) -> str | None:
    d = _definition_of_variable(snap, name, line, 1)
    if d is None:
        return None
    text = source_of(snap.text, d).split("\n")[0]
    out = f"```netdsl\n{text.strip()}\n```"
    for G in snap.graphs:
        for node in G:
            var = layer(G, node).var
            if var and var.get("") == name:
                out += f"\n\n`{name}`: `{shape_text(layer(G, node).shape)}` (layer {node})"
                return out
    return out


def _md(text: str, span: Span | None) -> lsp.Hover:
    return lsp.Hover(
        contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
        range=to_range(span) if span is not None else None,
    )


# ------------------------------------------------------------------- definitions


def _enclosing_items(snap: Snapshot, line: int, col: int):
    if snap.module is None:
        return None
    for item in [*snap.module.blocks, *snap.module.networks]:
        if contains(item.span, line, col):
            return item
    return None


def _definition_of_variable(snap: Snapshot, name: str, line: int, col: int) -> Span | None:
    """Where a variable is bound: the last binding before the position in its block or
    network (an assignment, an input, a loop variable, a parameter)."""
    item = _enclosing_items(snap, line, col)
    if item is None:
        return None
    for p in item.params:
        if p.name == name:
            best = p.span
            break
    else:
        best = None
    for node in walk(item.body):
        span = getattr(node, "span", None)
        if span is None or (span.line, span.col) > (line, col):
            continue
        if (
            (isinstance(node, ast.Assign) and name in node.targets)
            or (isinstance(node, ast.Input) and node.name == name)
            or (isinstance(node, ast.For) and name in node.names)
        ):
            if best is None or (span.line, span.col) >= (best.line, best.col):
                best = span
    return best


def definition(snap: Snapshot, line: int, char: int) -> list[lsp.Location]:
    L, C = line + 1, char + 1
    if snap.module is not None:
        for imp in snap.module.imports:
            if contains(imp.span, L, C):
                target = import_target(snap.path, imp)
                if target is not None:
                    return [lsp.Location(target.as_uri(), to_range(Span("", 1, 1, 1, 1)))]
    w = word_at(snap, line, char)
    if w is None:
        return []
    name = w[0]
    block = snap.blocks().get(name)
    if block is not None:
        return [lsp.Location(uri_of(block.span.file), to_range(_name_span(snap, block)))]
    span = _definition_of_variable(snap, name, L, C)
    if span is not None:
        return [lsp.Location(uri_of(snap.path), to_range(span))]
    return []


def _name_span(snap: Snapshot, item) -> Span:
    """The span of a block's or network's name on its first line."""
    module = snap.module_of(item.span.file)
    text = module.source if module is not None else snap.text
    first = text.split("\n")[item.span.line - 1]
    m = re.search(rf"\b{re.escape(item.name)}\b", first[item.span.col - 1 :])
    if m is None:
        return item.span
    col = item.span.col + m.start()
    return Span(item.span.file, item.span.line, col, item.span.line, col + len(item.name))


def block_uses(module: ast.Module, name: str) -> list[Span]:
    """Where a module calls or chains the block `name`."""
    return [
        n.span
        for n in walk([module.blocks, module.networks])
        if isinstance(n, ast.Name) and n.id == name
    ]


def references(
    snap: Snapshot, modules: list[ast.Module], line: int, char: int, declaration: bool
) -> list[lsp.Location]:
    w = word_at(snap, line, char)
    if w is None:
        return []
    block = snap.blocks().get(w[0])
    if block is None:
        return []
    out, seen = [], set()
    if declaration:
        out.append(lsp.Location(uri_of(block.span.file), to_range(_name_span(snap, block))))
    for m in modules:
        key = resolve(m.file)
        if key in seen:
            continue
        seen.add(key)
        out.extend(lsp.Location(key.as_uri(), to_range(s)) for s in block_uses(m, w[0]))
    return out


# --------------------------------------------------------------------- completion


def _call_context(text_before: str) -> tuple[str, list[str]] | None:
    """The callee of the innermost open '(' before the cursor, and the keyword
    arguments already given to it."""
    depth, i = 0, len(text_before) - 1
    while i >= 0:
        ch = text_before[i]
        if ch in ")]}":
            depth += 1
        elif ch in "([{":
            if depth == 0:
                if ch != "(":
                    return None
                m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", text_before[:i])
                if m is None:
                    return None
                inside = text_before[i + 1 :]
                return m.group(1), re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", inside)
            depth -= 1
        elif ch == "\n" and depth == 0 and text_before[:i].rstrip().endswith("{"):
            return None
        i -= 1
    return None


def _offset(text: str, line: int, char: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[:line]) + min(
        char, len(lines[line]) if line < len(lines) else 0
    )


def completion(snap: Snapshot, blocks: dict, line: int, char: int) -> lsp.CompletionList:
    from netdsl.ops import OPS

    before = snap.text[: _offset(snap.text, line, char)]
    before_nocomment = re.sub(r"#[^\n]*", "", before)
    items: list[lsp.CompletionItem] = []
    ctx = _call_context(before_nocomment)
    if ctx is not None:
        callee, given = ctx
        if callee in OPS:
            for k, a in enumerate(OPS[callee].args):
                if a.name in given:
                    continue
                default = "" if repr(a.default) == "REQUIRED" else f" = {_value(a.default)}"
                items.append(
                    lsp.CompletionItem(
                        label=a.name,
                        kind=lsp.CompletionItemKind.Property,
                        detail=f"{a.type}{default}",
                        documentation=a.doc or None,
                        insert_text=f"{a.name}=",
                        sort_text=f"0{k:03}",
                    )
                )
        elif callee in blocks:
            b = blocks[callee]
            for k, p in enumerate(b.params):
                if p.name in given:
                    continue
                mod = snap.module_of(b.span.file)
                text = mod.source if mod is not None else snap.text
                default = f" = {source_of(text, p.default.span)}" if p.default else ""
                items.append(
                    lsp.CompletionItem(
                        label=p.name,
                        kind=lsp.CompletionItemKind.Property,
                        detail=f"parameter of {callee}{default}",
                        insert_text=f"{p.name}=",
                        sort_text=f"0{k:03}",
                    )
                )
    for name, op in sorted(OPS.items()):
        items.append(
            lsp.CompletionItem(
                label=name,
                kind=lsp.CompletionItemKind.Function,
                detail=f"op ({op.category})",
                documentation=op.doc or None,
                sort_text=f"1{name}",
            )
        )
    for name, b in sorted(blocks.items()):
        items.append(
            lsp.CompletionItem(
                label=name,
                kind=lsp.CompletionItemKind.Class,
                detail=signature(snap, b) if snap.module_of(b.span.file) else f"block {name}",
                sort_text=f"1{name}",
            )
        )
    for kw in KEYWORDS:
        items.append(
            lsp.CompletionItem(label=kw, kind=lsp.CompletionItemKind.Keyword, sort_text=f"2{kw}")
        )
    return lsp.CompletionList(is_incomplete=False, items=items)


# ------------------------------------------------------------------------ symbols


def document_symbols(snap: Snapshot, module: ast.Module) -> list[lsp.DocumentSymbol]:
    out = []
    for item in [*module.networks, *module.blocks]:
        kind = lsp.SymbolKind.Module if isinstance(item, ast.Network) else lsp.SymbolKind.Class
        children = []
        for n in walk(item.body):
            if isinstance(n, ast.As):
                children.append(
                    lsp.DocumentSymbol(
                        name=n.name,
                        kind=lsp.SymbolKind.Field,
                        range=to_range(n.span),
                        selection_range=to_range(n.span),
                    )
                )
            elif isinstance(n, ast.Input):
                children.append(
                    lsp.DocumentSymbol(
                        name=n.name,
                        kind=lsp.SymbolKind.Variable,
                        detail="input",
                        range=to_range(n.span),
                        selection_range=to_range(n.span),
                    )
                )
        name_span = _name_span(snap, item)
        out.append(
            lsp.DocumentSymbol(
                name=item.name,
                kind=kind,
                detail=signature(snap, item),
                range=to_range(item.span),
                selection_range=to_range(name_span),
                children=children,
            )
        )
    return out


def workspace_symbols(modules: list[ast.Module], query: str) -> list[lsp.WorkspaceSymbol]:
    q = query.lower()
    out = []
    for m in modules:
        for item in [*m.networks, *m.blocks]:
            if q in item.name.lower():
                kind = (
                    lsp.SymbolKind.Module if isinstance(item, ast.Network) else lsp.SymbolKind.Class
                )
                out.append(
                    lsp.WorkspaceSymbol(
                        name=item.name,
                        kind=kind,
                        location=lsp.Location(uri_of(m.file), to_range(item.span)),
                        container_name=Path(m.file).name,
                    )
                )
    return out


# -------------------------------------------------------------------- inlay hints


def inlay_hints(snap: Snapshot, first: int, last: int) -> list[lsp.InlayHint]:
    """The output type after the last chain step of each line (0-based lines)."""
    ends: dict[int, tuple[int, set]] = {}

    def steps(G):
        for node in G:
            L = layer(G, node)
            if L.op != "input":
                yield L.span, L.shape
        for inst in G.graph.get("instances", {}).values():  # block calls
            if inst.output in G:
                yield inst.span, layer(G, inst.output).shape

    for G in snap.graphs:
        for s, shape in steps(G):
            if s is None or s.end_line is None or not same_file(s.file, snap.path):
                continue
            line = s.end_line - 1
            if not first <= line <= last:
                continue
            col, shapes = ends.get(line, (-1, set()))
            if s.end_col > col:
                ends[line] = (s.end_col, {shape_text(shape)})
            elif s.end_col == col:
                shapes.add(shape_text(shape))
    return [
        lsp.InlayHint(
            position=lsp.Position(line, col - 1),
            label=f": {' | '.join(sorted(shapes))}",
            kind=lsp.InlayHintKind.Type,
            padding_left=True,
        )
        for line, (col, shapes) in sorted(ends.items())
    ]
