"""The Python API (docs/api.md): load a network into the IR, analyse it, compile it.

`import netdsl` gives these lazily (netdsl/__init__.py), so importing the package costs
nothing until one is used; nothing here imports a backend's dependencies (torch, onnx)
before a backend is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import networkx as nx

from netdsl import ast
from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.elaborate import Limits, elaborate
from netdsl.loader import MAX_INPUT_BYTES, load_program
from netdsl.parser import parse_value
from netdsl.passes import run_passes


def load(
    path: str | os.PathLike | None = None,
    defines: dict | None = None,
    inputs: dict | None = None,
    network: str | None = None,
    text: str | None = None,
    limits: Limits | None = None,
    max_bytes: int = MAX_INPUT_BYTES,
) -> nx.DiGraph:
    """Parse, elaborate and type-check a network, then run the passes (netdsl.passes);
    raises NetdslError on bad input.

    `path` names a .net file; with `text`, the source is that text and `path` only names
    it in diagnostics (and is where its imports are looked up from; default "<text>").
    `defines` and `inputs` are what -D and --input give: {"classes": 10}, {"image": (3, 32, 32)}.

    The error (`.sources`) and the graph (`G.graph["sources"]`) carry the texts of the
    files read, for quoting lines in diagnostics (netdsl.render)."""
    if path is None:
        if text is None:
            raise TypeError("load() needs a path or text=")
        path = "<text>"
    path = os.fspath(path)
    if text is None and path.lower().endswith(".json"):
        # The IR the JSON backend wrote, read back as it was (docs/ir.md).
        from netdsl.ir_json import read_ir

        given = [
            flag
            for flag, value in (("-D", defines), ("--input", inputs), ("--network", network))
            if value
        ]
        return read_ir(path, max_bytes, given)
    program = None
    try:
        program = load_program(path, text, max_bytes=max_bytes)
        G = elaborate(program, network, defines, inputs, limits)
    except NetdslError as exc:
        if exc.sources is None and program is not None:
            exc.sources = program.sources
        raise
    except RecursionError:
        # A backstop: the parser refuses deep nesting (E704 with a position) and long
        # chains are walked in loops, but values can still be built arbitrarily deep.
        raise NetdslError(
            Diagnostic(
                "E704",
                "the network is nested too deeply to process",
                None,
                hint="flatten deeply nested expressions or values",
            )
        ) from None
    except MemoryError:
        raise NetdslError(
            Diagnostic(
                "E705",
                "out of memory while processing the network",
                None,
                hint="lower --max-layers or the input size",
            )
        ) from None
    G.graph["sources"] = program.sources
    return run_passes(G)


def analyse(G: nx.DiGraph) -> dict:
    """The statistics of a loaded network as plain data: what `netdsl stats --format json`
    prints ("network", "inputs", "outputs", "totals", and one dict per layer in "layers")."""
    from netdsl.stats import analyse as _analyse

    return _analyse(G)


def compile(
    source: nx.DiGraph | str | os.PathLike,
    backend: str = "pytorch",
    options: Mapping | None = None,
    *,
    fmt: str | None = None,
    **load_options,
) -> str | bytes:
    """A backend's output for a network: the IR from load(), or a path (loaded with
    `load_options`, load()'s keywords). `options` are the backend's declared options
    (`netdsl backends` lists them; -O on the command line), `fmt` one of its formats
    ("svg"; None: its text form). Returns text, or bytes for binary formats.

    Raises NetdslError for a network the backend cannot write, ValueError for a backend,
    option or format that does not exist."""
    from netdsl.plugins import check_option, discover

    if isinstance(source, nx.DiGraph):
        if load_options:
            raise TypeError(f"load options {sorted(load_options)} given with a loaded IR")
        G = source
    else:
        G = load(source, **load_options)
    found = discover()
    chosen = found.backends.get(backend)
    if chosen is None:
        broken = found.broken.get(backend)
        broken = f" (installed but broken: {broken})" if broken else ""
        raise ValueError(
            f"unknown backend {backend!r}{broken}; installed: {', '.join(sorted(found.backends))}"
        )
    if fmt is not None and fmt.lower() not in chosen.extensions:
        raise ValueError(
            f"the {backend} backend writes {', '.join(chosen.extensions)}, not {fmt!r}"
        )
    declared = {o.name: o for o in chosen.options}
    values = {o.name: o.default for o in chosen.options}
    for key, value in (options or {}).items():
        if key not in declared:
            names = ", ".join(sorted(declared)) or "none"
            raise ValueError(f"the {backend} backend has no option {key!r}; its options: {names}")
        try:
            values[key] = check_option(declared[key], value)
        except ValueError as exc:
            raise ValueError(f"option {key} {exc}") from None
    try:
        chosen.check_ops(G)
        return chosen.generate(G, values, fmt.lower() if fmt else None)
    except NetdslError as exc:
        if exc.sources is None:
            exc.sources = G.graph.get("sources")
        raise


def format_error(exc: NetdslError, color: bool = False) -> str:
    """The error's diagnostics as the command line prints them: file:line:col, the
    source line with a caret, and the hint."""
    from netdsl.render import render_all

    return render_all(exc.diagnostics, color=color, sources=exc.sources)


def literal(text: str, what: str = "value"):
    """A netdsl literal given on the command line: 10, 0.5, true, "same", (1, 2), 3x32x32."""
    try:
        return _const(parse_value(text, f"<{what}>"))
    except (NetdslError, ValueError):
        raise NetdslError(
            Diagnostic(
                "E317",
                f"bad {what}: {text!r}",
                None,
                hint='use a netdsl literal: 10, 0.5, true, "same", (1, 2) or 3x32x32',
            )
        ) from None


def _const(e):
    if isinstance(e, ast.Const):
        return e.value
    if isinstance(e, ast.TupleE):
        return tuple(_const(i) for i in e.items)
    if isinstance(e, ast.ListE):
        return [_const(i) for i in e.items]
    if isinstance(e, ast.UnOp) and e.op == "-":
        v = _const(e.operand)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v
    raise ValueError
