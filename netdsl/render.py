"""Diagnostics for humans: `file:line:col: error[E201]: message`, the line, carets, notes, hint."""

from __future__ import annotations

import json

from netdsl.diagnostics import Diagnostic
from netdsl.sources import line as source_line


def _caret_line(text: str, col: int, end_col: int | None) -> str:
    # Expand tabs the same way for the quoted line and the caret offset.
    prefix = text[: col - 1].expandtabs(4)
    width = max(1, (end_col or col + 1) - col)
    width = min(width, max(1, len(text.expandtabs(4)) - len(prefix)))
    return " " * len(prefix) + "^" + "~" * (width - 1)


def render(d: Diagnostic, color: bool = False) -> str:
    def paint(s: str, code: str) -> str:
        return f"\033[{code}m{s}\033[0m" if color else s

    where = f"{d.span}: " if d.span else "netdsl: "
    sev = paint(f"{d.severity}[{d.code}]", "1;31" if d.severity == "error" else "1;35")
    out = [f"{paint(where, '1')}{sev}: {d.message}"]
    if d.span is not None:
        text = source_line(d.span.file, d.span.line)
        if text is not None:
            end = d.span.end_col if d.span.end_line == d.span.line else None
            out.append(f"  {d.span.line:>4} | {text.expandtabs(4)}")
            out.append(f"       | {paint(_caret_line(text, d.span.col, end), '1;32')}")
    for note in d.notes:
        out.append(f"  {paint('note', '1;36')}: {note.message}")
    if d.hint:
        out.append(f"  {paint('hint', '1;33')}: {d.hint}")
    return "\n".join(out)


def render_all(diagnostics: list[Diagnostic], color: bool = False) -> str:
    return "\n".join(render(d, color) for d in diagnostics)


def to_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps({"diagnostics": [d.to_dict() for d in diagnostics]}, indent=2)
