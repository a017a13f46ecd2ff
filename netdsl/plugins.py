"""Backends are plugins, found through the entry-point group `netdsl.backends`.

A backend package exposes a `Backend` object; netdsl's own backends are
registered in pyproject.toml exactly as a third party's would be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

GROUP = "netdsl.backends"


@dataclass(frozen=True)
class Option:
    name: str  # e.g. "depth"; given on the command line as --depth or -O depth=...
    help: str
    default: Any = None
    type: Callable[[str], Any] = str
    choices: tuple | None = None


@dataclass(frozen=True)
class Backend:
    """What a backend declares.

    generate(G, options, fmt) turns the analysed IR into the output: text (str)
    or bytes. `fmt` is the requested format, normally the output file's
    extension without the dot ("svg"), or None when writing to stdout.
    Raise netdsl.diagnostics.NetdslError for problems the user can fix.
    """

    name: str
    description: str
    extensions: tuple[str, ...]
    generate: Callable[..., str | bytes]
    options: tuple[Option, ...] = field(default_factory=tuple)


@dataclass
class Discovery:
    backends: dict[str, Backend]
    broken: dict[str, str]  # entry-point name -> why it could not be loaded


def discover() -> Discovery:
    found: dict[str, Backend] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found:
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must be reported, not crash netdsl
            broken[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        if not isinstance(obj, Backend):
            broken[ep.name] = f"{ep.value} is a {type(obj).__name__}, not a netdsl Backend"
            continue
        found[ep.name] = obj
    return Discovery(found, broken)


def for_extension(backends: dict[str, Backend], ext: str) -> Backend | None:
    ext = ext.lower().lstrip(".")
    for backend in backends.values():
        if ext in backend.extensions:
            return backend
    return None
