"""String literals: `"..."` with Python's escapes, decoded here rather than by
`ast.literal_eval`, so that a malformed escape or a character no file can hold is a
diagnostic at the string (E105), not an exception."""

from __future__ import annotations

import re
import unicodedata

from netdsl.diagnostics import Diagnostic, NetdslError, Span

_SIMPLE = {
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_SURROGATE = re.compile("[\ud800-\udfff]")
_HEX = {"x": 2, "u": 4, "U": 8}


def _fail(message: str, span: Span, hint: str) -> NetdslError:
    return NetdslError(Diagnostic("E105", message, span, hint=hint))


def decode_string(literal: str, span: Span, what: str = "a string") -> str:
    """The value of a string literal, quotes included in `literal`."""
    body = literal[1:-1]
    if "\\" not in body:
        out = body
    else:
        parts: list[str] = []
        i, n = 0, len(body)
        while i < n:
            j = body.find("\\", i)
            if j < 0:
                parts.append(body[i:])
                break
            parts.append(body[i:j])
            kind = body[j + 1 : j + 2]
            if kind in _SIMPLE:
                parts.append(_SIMPLE[kind])
                i = j + 2
            elif kind in _HEX:
                width = _HEX[kind]
                digits = body[j + 2 : j + 2 + width]
                if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise _fail(
                        f"malformed escape '\\{kind}{digits}' in {what}",
                        span,
                        f"'\\{kind}' takes exactly {width} hexadecimal digits",
                    )
                code = int(digits, 16)
                if code > 0x10FFFF:
                    raise _fail(
                        f"escape '\\{kind}{digits}' in {what} is beyond Unicode (U+10FFFF)",
                        span,
                        "write a character that exists",
                    )
                parts.append(chr(code))
                i = j + 2 + width
            elif kind == "N":
                close = body.find("}", j)
                if body[j + 2 : j + 3] != "{" or close < 0:
                    raise _fail(
                        f"malformed escape '\\N' in {what}",
                        span,
                        "write a named character as \\N{GREEK SMALL LETTER ALPHA}",
                    )
                name = body[j + 3 : close]
                try:
                    parts.append(unicodedata.lookup(name))
                except KeyError:
                    raise _fail(
                        f"unknown character name '\\N{{{name}}}' in {what}",
                        span,
                        "names are Unicode's, e.g. \\N{GREEK SMALL LETTER ALPHA}",
                    ) from None
                i = close + 1
            elif kind in "01234567" and kind:
                m = re.match(r"[0-7]{1,3}", body[j + 1 :])
                parts.append(chr(int(m.group(0), 8)))
                i = j + 1 + len(m.group(0))
            else:
                raise _fail(
                    f"unknown escape '\\{kind}' in {what}",
                    span,
                    'write a backslash as "\\\\"; escapes are \\n \\t \\" \\\\ \\xHH \\uHHHH',
                )
        out = "".join(parts)
    if "\x00" in out:
        raise _fail(f"{what} contains a NUL character", span, "remove the \\0 / \\x00")
    bad = _SURROGATE.search(out)
    if bad:
        raise _fail(
            f"{what} contains a lone surrogate (U+{ord(bad.group()):04X}), which no file can hold",
            span,
            "write the character itself, or its \\U escape",
        )
    return out
