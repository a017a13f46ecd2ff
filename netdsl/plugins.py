"""Backends are plugins, found through the entry-point group `netdsl.backends`.

A backend package exposes a `Backend` object; netdsl's own backends are
registered in pyproject.toml exactly as a third party's would be.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from netdsl.diagnostics import Diagnostic, NetdslError

GROUP = "netdsl.backends"


@dataclass(frozen=True)
class Option:
    name: str  # e.g. "depth"; given on the command line as --depth or -O depth=...
    help: str
    default: Any = None
    type: Callable[[str], Any] = str
    choices: tuple | None = None
    minimum: int | None = None  # for numbers: the CLI refuses values outside (exit 2)
    maximum: int | None = None


@dataclass(frozen=True)
class Backend:
    """What a backend declares.

    generate(G, options, fmt) turns the analysed IR into the output: text (str)
    or bytes. `fmt` is the requested format, normally the output file's
    extension without the dot ("svg"), or None when writing to stdout.
    Raise netdsl.diagnostics.NetdslError for problems the user can fix.

    `ops` is the backend's op table (the op names it can write; None: any op, for a
    backend that writes the IR itself), `unsupported` the ops it declares it cannot
    write, with the reason. netdsl refuses a network that uses one of those before
    calling generate, naming the op, the backend and the layer.
    """

    name: str
    description: str
    extensions: tuple[str, ...]
    generate: Callable[..., str | bytes]
    options: tuple[Option, ...] = field(default_factory=tuple)
    ops: Collection[str] | None = None
    unsupported: Mapping[str, str] = field(default_factory=dict)

    def check_ops(self, G) -> None:
        """A NetdslError at the first layer whose op this backend cannot write."""
        for node, data in G.nodes(data=True):
            op = data["op"]
            if op == "input":
                continue
            if op in self.unsupported or (self.ops is not None and op not in self.ops):
                why = self.unsupported.get(op)
                raise NetdslError(
                    Diagnostic(
                        "E822",
                        f"the {self.name} backend cannot write op '{op}' (layer '{node}')"
                        + (f": {why}" if why else ""),
                        data.get("span"),
                        hint="choose another backend, or write the layer with ops it supports",
                    )
                )


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


def resolve_backend(name: str | None, output: str | None) -> tuple[Backend, str | None]:
    """The backend to use and the output format, from -b and/or the output's extension."""
    import click

    found = discover()
    ext = None
    if output not in (None, "-"):
        suffix = output.rsplit(".", 1)[-1] if "." in output.rsplit("/", 1)[-1] else None
        ext = suffix.lower() if suffix else None
    if name is not None:
        backend = found.backends.get(name)
        if backend is None:
            why = (
                f" (it is installed but broken: {found.broken[name]})"
                if name in found.broken
                else ""
            )
            raise click.UsageError(
                f"unknown backend '{name}'{why}; installed: {', '.join(sorted(found.backends))}"
            )
        return backend, ext if ext in backend.extensions else (ext or None)
    if ext is not None:
        backend = for_extension(found.backends, ext)
        if backend is None:
            known = sorted({e for b in found.backends.values() for e in b.extensions})
            raise click.UsageError(
                f"no backend writes .{ext} files; choose one with -b, or use one of: "
                + ", ".join("." + e for e in known)
            )
        return backend, ext
    if "pytorch" not in found.backends:
        raise click.UsageError("no backend given and the pytorch backend is not installed")
    return found.backends["pytorch"], None


def check_option(opt: Option, value):
    """The value as the backend takes it (a choice in its declared spelling, matched
    without regard to case); ValueError saying what it must be otherwise."""
    if value is None:
        return None
    if opt.choices is not None:
        folded = value.upper() if isinstance(value, str) else value
        choices = {c.upper() if isinstance(c, str) else c: c for c in opt.choices}
        if folded not in choices:
            raise ValueError(f"must be one of {', '.join(map(str, opt.choices))}, not {value!r}")
        value = choices[folded]
    low, high = opt.minimum, opt.maximum
    if isinstance(value, int) and not isinstance(value, bool):
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise ValueError(f"must be {bounds}, not {value}")
    return value


def resolve_options(backend: Backend, given: dict, extra: tuple[str, ...]) -> dict:
    """Backend options: declared defaults, then the CLI's flags, then -O KEY=VALUE."""
    import click

    declared = {o.name: o for o in backend.options}
    options = {o.name: o.default for o in backend.options}
    for key, value in given.items():
        if key not in declared:
            raise click.UsageError(
                f"backend '{backend.name}' has no option --{key.replace('_', '-')}"
            )
        options[key] = value
    for item in extra:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in declared:
            names = ", ".join(sorted(declared)) or "none"
            raise click.UsageError(f"bad -O {item!r}: options of '{backend.name}': {names}")
        opt = declared[key]
        try:
            value = opt.type(raw)
        except (TypeError, ValueError):
            raise click.UsageError(f"bad value for -O {key}: {raw!r}") from None
        if opt.choices is not None and value not in opt.choices:
            raise click.UsageError(f"-O {key} must be one of {', '.join(map(str, opt.choices))}")
        options[key] = value
    return options
