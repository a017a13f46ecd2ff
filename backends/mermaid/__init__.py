"""Mermaid backend: the network as a `flowchart`, for GitHub, GitLab and docs sites.

The same picture as the graphviz backend (netdsl.backends.graphviz.model): a
node per layer with its op, arguments, output shape and parameters, shapes on
the edges, a subgraph per block instance or group, `depth` to collapse them.
`.md` output wraps the flowchart in a fenced ```mermaid block under a one-line
summary. Every value printed by the template is escaped for Mermaid (its `#NN;`
entity codes), so text from the .net file can never break the syntax.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from netdsl.backends.graphviz.labels import LABELS, UNSUPPORTED, fmt_value
from netdsl.backends.graphviz.model import (
    DIAGRAM_OPTIONS,
    Cluster,
    build,
    check_rankdir,
    fmt_count,
)

from netdsl.plugins import Backend
from netdsl.text import visible

# Characters Mermaid's label syntax reserves or mangles, as its entity codes.
_ESCAPES = {
    '"': "#quot;",
    "#": "#35;",
    "&": "#38;",
    "<": "#60;",
    ">": "#62;",
    "`": "#96;",
    "|": "#124;",
    "%": "#37;",  # "%%{" would start a directive
}
_BLANKS = str.maketrans("\n\r\t", "   ")  # a label is one line: breaks become spaces
_SPECIAL = re.compile("[" + re.escape("".join(_ESCAPES)) + "]")

# fill, stroke, text colour of each family; the same palette as the graphviz backend.
STYLES = {
    "conv": "fill:#dbeafe,stroke:#60a5fa,color:#0f172a",
    "dense": "fill:#ede9fe,stroke:#a78bfa,color:#0f172a",
    "pool": "fill:#d1fae5,stroke:#34d399,color:#0f172a",
    "norm": "fill:#fef3c7,stroke:#f59e0b,color:#0f172a",
    "act": "fill:#f1f5f9,stroke:#cbd5e1,color:#0f172a",
    "tensor": "fill:#f5f5f4,stroke:#d6d3d1,color:#0f172a",
    "merge": "fill:#ffedd5,stroke:#fb923c,color:#0f172a",
    "block": "fill:#e0e7ff,stroke:#6366f1,stroke-width:2px,color:#1e1b4b",
    "group": "fill:#f1f5f9,stroke:#64748b,stroke-width:2px,color:#0f172a",
    "input": "fill:#1e293b,stroke:#0f172a,color:#ffffff",
    "output": "fill:#047857,stroke:#065f46,color:#ffffff",
    "auxout": "fill:#ffffff,stroke:#047857,color:#065f46",
    "aux": "stroke-dasharray:5 4",
}
CLUSTER_STYLE = {
    "block": "fill:#f8fafc,stroke:#94a3b8,color:#0f172a",
    "group": "fill:#ffffff,stroke:#94a3b8,stroke-dasharray:5 4,color:#0f172a",
}


class Raw(str):
    """Template output that is Mermaid syntax already (styles): not escaped."""


def escape(value) -> str:
    """Text safe inside a quoted Mermaid label."""
    if isinstance(value, Raw):
        return value
    text = visible(str(value).translate(_BLANKS))
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group(0)], text)


def markdown(value) -> Raw:
    """Text safe in Markdown prose (the .md summary line above the diagram)."""
    text = html.escape(visible(value), quote=False)
    return Raw(re.sub(r"([\\`*_\[\]{}()#+!|~])", r"\\\1", text).replace("\n", " "))


class Ids:
    """Mermaid node ids: letters, digits and underscores, unique, never a keyword."""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}
        self.used: set[str] = set()

    def __call__(self, key: str) -> str:
        if key not in self.known:
            kind, _, path = key.rpartition(":")
            prefix = {"": "n", "block": "b", "output": "o", "cluster": "s"}.get(kind, "x")
            base = prefix + "_" + re.sub(r"[^A-Za-z0-9_]", "_", path)
            mid, i = base, 1
            while mid in self.used:
                i += 1
                mid = f"{base}_{i}"
            self.used.add(mid)
            self.known[key] = mid
        return self.known[key]


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=False,
        finalize=escape,  # every {{ value }} is escaped; the template's own markup is not
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["count"] = fmt_count
    env.filters["value"] = fmt_value
    env.filters["raw"] = Raw
    env.filters["md"] = markdown
    env.tests["cluster"] = lambda item: isinstance(item, Cluster)
    return env


def to_mermaid(G, depth: int | None = None, rankdir: str = "TB", markdown: bool = False) -> str:
    check_rankdir(rankdir)
    diagram = build(G, depth)
    ids = Ids()
    classes: dict[str, list[str]] = {}
    for box in diagram.boxes():
        family = "auxout" if box.kind == "output" and box.aux else box.family
        classes.setdefault(family, []).append(ids(box.id))
        if box.aux:
            classes.setdefault("aux", []).append(ids(box.id))
    template = _env().get_template("flowchart.mmd.j2")
    return template.render(
        d=diagram,
        rankdir=rankdir,
        id=ids,
        classes={k: classes[k] for k in STYLES if k in classes},
        styles={k: Raw(v) for k, v in STYLES.items()},
        cluster_style={k: Raw(v) for k, v in CLUSTER_STYLE.items()},
        markdown=markdown,
    )


def generate(G, options: dict | None = None, fmt: str | None = None) -> str:
    options = options or {}
    rankdir = str(options.get("rankdir") or "TB").upper()
    markdown = fmt is not None and fmt.lower() in ("md", "markdown")
    return to_mermaid(G, options.get("depth"), rankdir, markdown)


backend = Backend(
    name="mermaid",
    description="Mermaid flowchart (.mmd; .md wraps it in a ```mermaid block)",
    extensions=("mmd", "mermaid", "md"),
    generate=generate,
    ops=LABELS,
    unsupported=UNSUPPORTED,
    options=(*DIAGRAM_OPTIONS,),
)
