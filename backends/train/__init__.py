"""The training backend: a standalone training script per network (docs/training.md).

The script is the PyTorch backend's module (obtained through its entry function,
`netdsl.backends.pytorch.generate`, with its `main()` demo removed) followed by the
training code of templates/train.py.j2: DistributedDataParallel or FSDP under
`torchrun`, one process under `python`, the recipe from the .net file (netdsl.recipe)
and the training-memory estimate (netdsl.train_memory) as constants.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.plugins import Backend
from netdsl.recipe import resolve
from netdsl.train_memory import OPTIMIZER_STATES, estimate

_TEMPLATES = Path(__file__).parent / "templates"


def _unsupported(msg: str, hint: str) -> NetdslError:
    return NetdslError(Diagnostic("E906", msg, None, hint=hint))


def _network_io(G: nx.DiGraph) -> tuple[tuple, int, dict]:
    inputs = list(G.graph["inputs"].values())
    if len(inputs) != 1 or len(G.nodes[inputs[0]]["shape"]) != 3:
        raise _unsupported(
            f"the train backend needs one image input (C x H x W); {G.graph['name']} has "
            + ", ".join("x".join(map(str, G.nodes[n]["shape"])) for n in inputs),
            "train image classifiers: one input such as `input image: 3x224x224`",
        )
    outs = G.graph["outputs"]
    main = [o for o in outs if not o.get("aux")]
    if len(main) != 1 or any(len(G.nodes[o["node"]]["shape"]) != 1 for o in outs):
        raise _unsupported(
            "the train backend needs one class-score output (a vector), plus optional aux outputs",
            "end the network with e.g. `out logits = x -> linear(classes)`",
        )
    outputs = {main[0]["name"]: 1.0}
    outputs.update({o["name"]: float(o["weight"]) for o in outs if o.get("aux")})
    classes = G.nodes[main[0]["node"]]["shape"][0]
    return tuple(G.nodes[inputs[0]]["shape"]), classes, outputs


def _strip_demo(source: str) -> str:
    """The model module without its `main()` demo and `if __name__ == "__main__":`."""
    tree = ast.parse(source)
    drop = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            drop.append(node)
        elif isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
            drop.append(node)
    lines = source.splitlines()
    for node in sorted(drop, key=lambda n: n.lineno, reverse=True):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        del lines[start - 1 : node.end_lineno]
    return "\n".join(lines).rstrip() + "\n"


def _sized(recipe: dict, shape: tuple) -> dict:
    """Crop sizes left open (None) are the network's input size."""
    h = shape[1]
    recipe = dict(recipe)
    recipe["augment"] = [
        dict(t, size=h) if "size" in t and t["size"] is None else dict(t) for t in recipe["augment"]
    ]
    if recipe.get("eval_resize") is None:
        recipe["eval_resize"] = round(h / 0.875)  # 224 -> 256, as torchvision's references
    return recipe


def _memory(G: nx.DiGraph) -> dict:
    """Activation bytes = fixed + per_sample x batch, per dtype; parameter bytes."""
    out = {}
    for dtype in ("fp32", "bf16"):
        one = estimate(G, batch=1, dtype=dtype)["totals"]
        two = estimate(G, batch=2, dtype=dtype)["totals"]
        per = two["activations"] - one["activations"]
        out[dtype] = {"fixed": one["activations"] - per, "per_sample": per}
    t = estimate(G)["totals"]
    out.update(params=t["params"], grads=t["grads"], states=dict(OPTIMIZER_STATES))
    return out


def generate(G: nx.DiGraph, options: dict | None = None, fmt: str | None = None) -> str:
    from netdsl.backends.pytorch import generate as pytorch_generate

    shape, classes, outputs = _network_io(G)
    recipe, origin = resolve(G)
    model = _strip_demo(pytorch_generate(G, {}))
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    # repr() of plain data (str, numbers, tuples, lists, dicts) is a Python literal:
    # nothing from the .net file can become code.
    text = env.get_template("train.py.j2").render(
        model=model,
        name=repr(G.graph["name"]),
        shape=repr(shape),
        classes=classes,
        outputs=repr(outputs),
        recipe=repr(_sized(recipe, shape)),
        origin=repr(origin),
        memory=repr(_memory(G)),
    )
    clash = _defined(model) & _defined(text)
    if clash:  # a block type named like a part of the training code
        raise _unsupported(
            f"the training script defines {', '.join(sorted(clash))}, as does the network",
            "rename that block in the .net file",
        )
    header = (
        f"# {G.graph['name']}: a training script generated by `netdsl compile -b train`.\n"
        "# The model is the PyTorch backend's module; the training code follows it.\n"
    )
    return header + model + text


def _defined(source: str) -> set[str]:
    """Top-level classes, functions and assigned names of a module."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


backend = Backend(
    name="train",
    description="training script: DDP/FSDP under torchrun, the recipe from the .net file",
    extensions=(),
    generate=generate,
)
