"""Graphviz backend: the network as a DOT diagram, rendered to SVG/PNG/PDF by `dot`.

The DOT text comes from templates/network.dot.j2 over the diagram model of
netdsl.backends.graphviz.model (shared with the mermaid backend). Labels are
HTML-like; every piece of text from the .net file goes through Jinja's HTML
autoescaping, and node identifiers through `dot_id`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from netdsl.backends.graphviz.labels import LABELS, UNSUPPORTED, fmt_value
from netdsl.backends.graphviz.model import (
    DIAGRAM_OPTIONS,
    build,
    check_rankdir,
    fmt_count,
)

from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.plugins import Backend, Option
from netdsl.text import visible

# `dot` at dpi=100000 ran 40 s and took 2.3 GB; a negative dpi ran for ever.
MIN_DPI, MAX_DPI = 1, 1200
DOT_TIMEOUT = 120  # seconds: `dot` is killed after this (E806)
TEXT = ("dot", "gv")
RENDERED = ("svg", "png", "pdf")

FONT = "Helvetica,Arial,sans-serif"

# fill, border, text colour of each family (see model.FAMILY_OF_*).
PALETTE = {
    "conv": ("#dbeafe", "#60a5fa", "#0f172a"),
    "dense": ("#ede9fe", "#a78bfa", "#0f172a"),
    "pool": ("#d1fae5", "#34d399", "#0f172a"),
    "norm": ("#fef3c7", "#f59e0b", "#0f172a"),
    "act": ("#f1f5f9", "#cbd5e1", "#0f172a"),
    "tensor": ("#f5f5f4", "#d6d3d1", "#0f172a"),
    "merge": ("#ffedd5", "#fb923c", "#0f172a"),
    "block": ("#e0e7ff", "#6366f1", "#1e1b4b"),
    "group": ("#f1f5f9", "#64748b", "#0f172a"),
    "input": ("#1e293b", "#0f172a", "#ffffff"),
    "output": ("#047857", "#065f46", "#ffffff"),
}
AUX_OUTPUT = ("#ffffff", "#047857", "#065f46")


def dot_id(text: str) -> Markup:
    """A double-quoted DOT identifier: control characters made visible, then backslash
    and quote escaped (injective on the printable text the IR's names are)."""
    return Markup('"' + visible(text).replace("\\", "\\\\").replace('"', '\\"') + '"')


def _visible(value):
    """Template finalizer: every printed value is made visible before autoescaping
    (Graphviz rejects control characters even in HTML-like labels); `id` output is
    already safe Markup."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return visible(value)


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=True,  # HTML-like labels: & < > " ' from the .net file are escaped
        finalize=_visible,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["id"] = dot_id
    env.filters["count"] = fmt_count
    env.filters["value"] = fmt_value
    return env


def to_dot(G, depth: int | None = None, rankdir: str = "TB") -> str:
    check_rankdir(rankdir)
    diagram = build(G, depth)
    template = _env().get_template("network.dot.j2")
    return template.render(
        d=diagram, rankdir=rankdir, font=FONT, palette=PALETTE, aux_output=AUX_OUTPUT
    )


def _check_dpi(dpi) -> None:
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not MIN_DPI <= dpi <= MAX_DPI:
        raise NetdslError(
            Diagnostic(
                "E805",
                f"bad dpi {dpi!r}",
                None,
                hint=f"dpi is an integer from {MIN_DPI} to {MAX_DPI}",
            )
        )


def render(dot_text: str, fmt: str, dpi: int | None = None) -> bytes:
    """Run Graphviz's `dot -T<fmt>` on the text; its output as bytes."""
    exe = shutil.which("dot")
    if exe is None:
        raise NetdslError(
            Diagnostic(
                "E804",
                f"cannot write .{fmt}: Graphviz's `dot` program is not installed",
                None,
                hint="install Graphviz: apt-get install graphviz (Debian/Ubuntu), "
                "brew install graphviz (macOS); or write .dot",
            )
        )
    cmd = [exe, f"-T{fmt}"]
    if dpi is not None:
        _check_dpi(dpi)
        cmd.append(f"-Gdpi={int(dpi)}")
    try:
        done = subprocess.run(
            cmd,
            input=dot_text.encode("utf-8"),
            capture_output=True,
            check=False,
            timeout=DOT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise NetdslError(
            Diagnostic(
                "E806",
                f"Graphviz's `dot` did not finish rendering .{fmt} in {DOT_TIMEOUT} s",
                None,
                hint="write .dot, or draw fewer boxes with --depth",
            )
        ) from None
    except OSError as exc:
        raise NetdslError(
            Diagnostic("E804", f"cannot run Graphviz's `dot`: {exc.strerror or exc}", None)
        ) from None
    if done.returncode != 0 or not done.stdout:
        why = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise NetdslError(
            Diagnostic(
                "E806",
                f"Graphviz's `dot` failed to render .{fmt}: {why}",
                None,
                hint="write .dot and run `dot` yourself to see more",
            )
        )
    return done.stdout


def generate(G, options: dict | None = None, fmt: str | None = None) -> str | bytes:
    options = options or {}
    depth = options.get("depth")
    rankdir = options.get("rankdir") or "TB"
    fmt = fmt.lower() if fmt else None
    if fmt not in (None, *TEXT, *RENDERED):
        raise NetdslError(
            Diagnostic(
                "E805",
                f"the graphviz backend cannot write .{fmt} files",
                None,
                hint="write " + ", ".join("." + e for e in (*TEXT, *RENDERED)),
            )
        )
    text = to_dot(G, depth, str(rankdir).upper())
    if fmt in RENDERED:
        return render(text, fmt, options.get("dpi"))
    return text


backend = Backend(
    name="graphviz",
    description="Graphviz diagram (.dot text; .svg/.png/.pdf rendered with `dot`)",
    extensions=(*TEXT, *RENDERED),
    generate=generate,
    ops=LABELS,
    unsupported=UNSUPPORTED,
    options=(
        *DIAGRAM_OPTIONS,
        Option(
            "dpi",
            "resolution of .png output (Graphviz default: 96)",
            default=None,
            type=int,
            minimum=MIN_DPI,
            maximum=MAX_DPI,
        ),
    ),
)
