"""Source texts by file name, so diagnostics can quote the offending line."""

_SOURCES: dict[str, str] = {}


def register(file: str, text: str) -> None:
    _SOURCES[file] = text


def line(file: str, number: int) -> str | None:
    text = _SOURCES.get(file)
    if text is None:
        return None
    # Lines as the parser counts them: separated by '\n' only ('\r\n' ends one, too).
    lines = text.split("\n")
    return lines[number - 1].rstrip("\r") if 0 < number <= len(lines) else None
