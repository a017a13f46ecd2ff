"""Diagnostics as data: every user-facing error is a Diagnostic with a source span."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A region of source text. Lines and columns are 1-based; end is exclusive."""

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Note:
    message: str
    span: Span | None = None


@dataclass
class Diagnostic:
    code: str
    message: str
    span: Span | None
    hint: str | None = None
    notes: list[Note] = field(default_factory=list)
    severity: str = "error"

    def to_dict(self) -> dict:
        def span_dict(s: Span | None):
            if s is None:
                return None
            return {
                "file": s.file,
                "line": s.line,
                "col": s.col,
                "end_line": s.end_line,
                "end_col": s.end_col,
            }

        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "span": span_dict(self.span),
            "hint": self.hint,
            "notes": [{"message": n.message, "span": span_dict(n.span)} for n in self.notes],
        }


class NetdslError(Exception):
    """Raised for bad input. Carries one or more diagnostics; never shown as a traceback."""

    def __init__(self, diagnostics: Diagnostic | list[Diagnostic]):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = diagnostics
        self.sources = None  # the texts of the load it came from (netdsl.sources.Sources)
        super().__init__(diagnostics[0].message if diagnostics else "error")


def error(code: str, message: str, span: Span | None, hint: str | None = None) -> NetdslError:
    return NetdslError(Diagnostic(code, message, span, hint))
