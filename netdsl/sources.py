"""Source texts by file name, so diagnostics can quote the offending line."""

_SOURCES: dict[str, str] = {}


def register(file: str, text: str) -> None:
    _SOURCES[file] = text


def line(file: str, number: int) -> str | None:
    text = _SOURCES.get(file)
    if text is None:
        return None
    lines = text.splitlines()
    return lines[number - 1] if 0 < number <= len(lines) else None
