"""A lossless token pass over .net text, for the formatter.

The parser drops comments and whitespace; the formatter needs both, so it scans the
text itself. The patterns mirror grammars/netdsl.lark's terminals, tried in the order
of their priorities there (SHAPE, then FLOAT, then INT). The formatter only runs on
text the parser accepted, and checks its output against the parser, so a divergence
here can make `fmt` refuse a file but never change what a file means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset(
    "import block network input out aux init as or and not in true false none "
    "if else for repeat".split()
)

_PATTERNS = [
    ("NL", r"\n"),
    ("WS", r"[ \t\f\r]+"),
    ("COMMENT", r"#[^\n]*"),
    ("SHAPE", r"\d+(?:x\d+)+(?![A-Za-z0-9_])"),
    ("FLOAT", r"\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+"),
    ("INT", r"\d+"),
    ("NAME", r"[A-Za-z_][A-Za-z0-9_]*"),
    ("STRING", r'"(?:[^"\\\n]|\\.)*"'),
    ("OP", r"->|\*\*|//|==|!=|<=|>=|[-+*/%<>=()\[\]{},;.:]"),
]
_SCANNER = re.compile("|".join(f"(?P<{k}>{p})" for k, p in _PATTERNS))


@dataclass(frozen=True)
class Tok:
    kind: str  # NAME, KW, INT, FLOAT, SHAPE, STRING, OP, COMMENT, NL
    text: str
    line: int  # 1-based source line


class LexError(ValueError):
    pass


def tokenize(text: str) -> list[Tok]:
    """Every token of `text` but whitespace: comments and newlines included."""
    out: list[Tok] = []
    pos, line, n = 0, 1, len(text)
    while pos < n:
        m = _SCANNER.match(text, pos)
        if m is None:
            raise LexError(f"line {line}: unexpected {text[pos]!r}")
        kind, value = m.lastgroup, m.group()
        if kind == "NAME" and value in KEYWORDS:
            kind = "KW"
        if kind != "WS":
            out.append(Tok(kind, value, line))
        if kind == "NL":
            line += 1
        pos = m.end()
    return out
