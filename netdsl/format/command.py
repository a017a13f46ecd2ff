"""`netdsl fmt FILE... [--check] [--diff]`: the command behind netdsl.cli's `fmt`."""

from __future__ import annotations

import difflib
from pathlib import Path

from netdsl.diagnostics import NetdslError


def expand(paths: list[str]) -> list[str]:
    """Files to format: the paths given, folders replaced by the .net files under them."""
    out: list[str] = []
    for p in paths:
        if p != "-" and Path(p).is_dir():
            out.extend(str(f) for f in sorted(Path(p).rglob("*.net")) if f.is_file())
        else:
            out.append(p)
    return out


def run(paths: list[str], check: bool, diff: bool, echo, color: bool = False) -> int:
    """Format each file; the exit status: 0 done (or nothing to change), 1 a file would
    change under --check or does not parse, 3 the formatter failed its own check."""
    from netdsl.format import FormatError, format_source
    from netdsl.loader import read_text
    from netdsl.output import write_output
    from netdsl.render import render_all
    from netdsl.sources import register

    status = 0
    changed = 0
    for path in expand(paths):
        name = "<stdin>" if path == "-" else path
        try:
            text = read_text(path)
            register(name, text)
            result = format_source(text, name)
        except NetdslError as exc:
            echo(render_all(exc.diagnostics, color=color), err=True)
            status = max(status, 1)
            continue
        except FormatError as exc:
            echo(f"netdsl: internal error: {exc}; the file is left as it was", err=True)
            status = 3
            continue
        if path == "-" and not (check or diff):
            write_output("-", result)
            continue
        if result == text:
            continue
        changed += 1
        if diff:
            lines = difflib.unified_diff(
                text.splitlines(keepends=True),
                result.splitlines(keepends=True),
                f"{name} (original)",
                f"{name} (formatted)",
            )
            echo("".join(lines), nl=False)
        if check:
            echo(f"would reformat {name}", err=diff)
            status = max(status, 1)
        elif not diff:
            write_output(path, result)
            echo(f"reformatted {name}", err=True)
    if check and changed:
        echo(f"{changed} file{'s' if changed != 1 else ''} would be reformatted", err=True)
    return status
