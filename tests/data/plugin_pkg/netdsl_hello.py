"""An example third-party netdsl backend: counts a network's layers, per op."""

from collections import Counter

from netdsl.plugins import Backend, Option


def generate(G, options, fmt):
    greeting = options.get("greeting") or "hello"
    ops = Counter(data["op"] for _, data in G.nodes(data=True) if data["op"] != "input")
    lines = [f"{greeting}, {G.graph['name']}: {sum(ops.values())} layers"]
    lines += [f"{op} {n}" for op, n in sorted(ops.items())]
    return "\n".join(lines) + "\n"


backend = Backend(
    name="hello",
    description="count the layers (an example plugin)",
    extensions=("hello",),
    generate=generate,
    options=(Option("greeting", "the first word", default="hello"),),
)
