"""The Python API: from a .net file to the analysed IR."""

from __future__ import annotations

import networkx as nx

from netdsl import ast
from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.elaborate import Limits, elaborate
from netdsl.loader import MAX_INPUT_BYTES, load_program
from netdsl.parser import parse_value
from netdsl.passes import run_passes


def load(
    path: str,
    defines: dict | None = None,
    inputs: dict | None = None,
    network: str | None = None,
    text: str | None = None,
    limits: Limits | None = None,
    max_bytes: int = MAX_INPUT_BYTES,
) -> nx.DiGraph:
    """Parse, elaborate and type-check a network, then run the passes (netdsl.passes);
    raises NetdslError on bad input.

    The error (`.sources`) and the graph (`G.graph["sources"]`) carry the texts of the
    files read, for quoting lines in diagnostics (netdsl.render)."""
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
