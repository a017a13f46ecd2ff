"""Diagnostics for humans: `file:line:col: error[E201]: message`, the line, carets, notes, hint."""

from __future__ import annotations

import json

from netdsl.diagnostics import Diagnostic
from netdsl.sources import Sources
from netdsl.sources import line as source_line

# Quoted source lines longer than this are cut to a window around the caret.
MAX_WIDTH = 100


def _excerpt(text: str, col: int, end_col: int | None) -> tuple[str, str]:
    """The quoted line (tabs expanded, long lines cut around the span) and its caret line."""
    # Control characters would garble the terminal: shown as '?' (one column each).
    text = "".join(c if c.isprintable() or c == "\t" else "?" for c in text)
    line = text.expandtabs(4)
    start = len(text[: col - 1].expandtabs(4))  # 0-based, in the expanded line
    stop = len(text[: end_col - 1].expandtabs(4)) if end_col and end_col > col else start + 1
    stop = min(max(stop, start + 1), max(len(line), start + 1))
    left = ""
    if len(line) > MAX_WIDTH:
        first = max(0, min(start - MAX_WIDTH // 3, len(line) - MAX_WIDTH))
        cut = line[first : first + MAX_WIDTH]
        left = "..." if first > 0 else ""
        right = "..." if first + MAX_WIDTH < len(line) else ""
        line = left + cut + right
        start, stop = start - first + len(left), min(stop - first, MAX_WIDTH) + len(left)
    width = max(1, stop - start)
    return line, " " * start + "^" + "~" * (width - 1)


def render(d: Diagnostic, color: bool = False, sources: Sources | None = None) -> str:
    def paint(s: str, code: str) -> str:
        return f"\033[{code}m{s}\033[0m" if color else s

    where = f"{d.span}: " if d.span else "netdsl: "
    sev = paint(f"{d.severity}[{d.code}]", "1;31" if d.severity == "error" else "1;35")
    out = [f"{paint(where, '1')}{sev}: {d.message}"]
    if d.span is not None:
        text = source_line(d.span.file, d.span.line, sources)
        if text is not None:
            end = d.span.end_col if d.span.end_line == d.span.line else None
            quoted, carets = _excerpt(text, d.span.col, end)
            out.append(f"  {d.span.line:>4} | {quoted}")
            out.append(f"       | {paint(carets, '1;32')}")
    for note in d.notes:
        out.append(f"  {paint('note', '1;36')}: {note.message}")
    if d.hint:
        out.append(f"  {paint('hint', '1;33')}: {d.hint}")
    return "\n".join(out)


def render_all(
    diagnostics: list[Diagnostic], color: bool = False, sources: Sources | None = None
) -> str:
    return "\n".join(render(d, color, sources) for d in diagnostics)


def to_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps({"diagnostics": [d.to_dict() for d in diagnostics]}, indent=2)
