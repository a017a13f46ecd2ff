"""Source texts by displayed file name, so diagnostics can quote the offending line.

Each load (a root file and every file it imports) has its own `Sources`: a diagnostic
is rendered with the texts of the load that produced it, never with those of another
file that happens to be shown under the same name (two `<stdin>`s, two loads of one
path with different texts in one process). Errors carry their load's `Sources`
(`NetdslError.sources`), graphs too (`G.graph["sources"]`). The module keeps only the
latest load's as a fallback for callers that render without passing one, so a long
process (a language server) holds one load's texts, not every text it ever read.
"""

from __future__ import annotations


class Sources:
    """The texts of one load, by the file name its spans show."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def add(self, file: str, text: str) -> None:
        self._texts[file] = text

    def files(self) -> list[str]:
        return list(self._texts)

    def text(self, file: str) -> str | None:
        return self._texts.get(file)

    def line(self, file: str, number: int) -> str | None:
        text = self._texts.get(file)
        if text is None:
            return None
        # Lines as the parser counts them: separated by '\n' only ('\r\n' ends one, too).
        lines = text.split("\n")
        return lines[number - 1].rstrip("\r") if 0 < number <= len(lines) else None


_latest = Sources()


def begin() -> Sources:
    """A fresh registry for a new load; it replaces the previous fallback."""
    global _latest
    _latest = Sources()
    return _latest


def register(file: str, text: str) -> None:
    """Add a text to the latest load's registry (the fallback for rendering)."""
    _latest.add(file, text)


def line(file: str, number: int, sources: Sources | None = None) -> str | None:
    return (sources if sources is not None else _latest).line(file, number)
