"""`netdsl fmt`: one canonical layout for .net files, comments kept, meaning kept.

format_source() formats text the parser accepts, then proves the result means the same:
it parses the output and compares the two syntax trees with their spans left out. A
layout bug therefore makes fmt refuse a file (FormatError), never change its meaning.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from netdsl.diagnostics import Span
from netdsl.format.layout import format_text
from netdsl.parser import parse

__all__ = ["FormatError", "format_source", "same_syntax"]


class FormatError(Exception):
    """The formatter would have changed what a file means: a bug in the formatter."""


def _shape(node):
    """A syntax tree as plain data, without spans (and without the module's file and text)."""
    if isinstance(node, list):
        return [_shape(n) for n in node]
    if isinstance(node, tuple):  # e.g. a recipe's (name, expr, span) items
        return tuple(_shape(n) for n in node if not isinstance(n, Span))
    if is_dataclass(node):
        skip = {"span", "file", "source"}
        return (
            type(node).__name__,
            tuple(_shape(getattr(node, f.name)) for f in fields(node) if f.name not in skip),
        )
    return (type(node).__name__, node)


def same_syntax(a, b) -> bool:
    return _shape(a) == _shape(b)


def format_source(text: str, file: str = "<input>") -> str:
    """The canonical layout of `text`. Raises NetdslError when it does not parse."""
    before = parse(text, file)
    result = format_text(text)
    try:
        after = parse(result, file)
    except Exception as exc:  # the formatter broke the syntax: a formatter bug
        raise FormatError(f"{file}: the formatted text does not parse ({exc})") from None
    if not same_syntax(before, after):
        raise FormatError(f"{file}: formatting would change the file's meaning")
    return result
