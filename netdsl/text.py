"""Text from a .net file made visible: the one place that neutralises control characters.

Names, string arguments, file names, comments and `-D` values travel from the source
into generated files. Each backend escapes them for its own syntax (a Python docstring,
a DOT string, a Mermaid label); before that, `visible` turns what no syntax can carry
safely (control characters, which Graphviz rejects and which end Python comments, and
lone surrogates, which UTF-8 cannot encode) into the backslash escapes Python prints.
"""

from __future__ import annotations


def _escape(ch: str) -> str:
    n = ord(ch)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def visible(text: str) -> str:
    """`text` with every character str.isprintable() refuses (C0/C1 controls, line and
    paragraph separators, format characters, unassigned code points, surrogates), but the
    plain space, as a backslash escape."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch == " " or ch.isprintable() else _escape(ch) for ch in text)
