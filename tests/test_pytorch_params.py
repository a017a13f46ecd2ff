"""Every constructor parameter of a generated network class is honoured (issue 11, item 2):
building the class with another value gives what `netdsl compile -D name=value` gives
(same state_dict keys and shapes, same output shape); a parameter the code cannot
recompute is not offered and the docstring lists it as fixed at compile time."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest
from netdsl.backends.pytorch import generate

from netdsl.api import load

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
NETWORK_FILES = sorted(p for p in (ROOT / "networks").rglob("*.net") if "blocks" not in p.parts)


def module_of(text: str, name: str):
    spec = importlib.util.spec_from_loader(name, loader=None)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    exec(compile(text, name, "exec"), mod.__dict__)
    return mod


def other(value):
    """A different value, chosen here (not by the backend's probe)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 3
    if isinstance(value, float):
        return value / 3
    raise AssertionError(f"no other value for {value!r}")


def summary(model, shapes):
    with torch.no_grad():
        out = model(*[torch.empty(1, *s, device="meta") for s in shapes.values()])
    out = out if isinstance(out, torch.Tensor) else out[0]
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}, tuple(out.shape)


def check(path, text=None, tag="net"):
    G = load(path, text=text)
    mod = module_of(generate(G), f"_params_{tag}")

    with torch.device("meta"):
        model = mod.create_model()
    cls = type(model)
    offered = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for name in G.graph["params"]:
        if name not in offered:
            assert f"{name}=" in cls.__doc__ and "Fixed at compile time" in cls.__doc__
    for name in offered:
        value = other(G.graph["params"][name])
        G2 = load(path, text=text, defines={name: value})
        mod2 = module_of(generate(G2), f"_params_{tag}_{name}")
        with torch.device("meta"):
            mine = cls(**{name: value})
            theirs = mod2.create_model()
        assert summary(mine, mod2.INPUT_SHAPES) == summary(theirs, mod2.INPUT_SHAPES), name
    return offered


@pytest.mark.parametrize("path", NETWORK_FILES, ids=lambda p: p.name)
def test_shipped_network_parameters_are_honoured(path):
    check(str(path), tag=path.stem)


def test_flattened_size_follows_the_width():
    text = """network W(width=8, classes=10) {
  input x: 3x32x32
  out y = x -> conv(width, 3, pad=1) -> relu -> flatten -> linear(classes)
}"""
    assert check("w.net", text, "w") == ["width", "classes"]


def test_a_parameter_that_shapes_the_spatial_dims_is_fixed():
    text = """network S(width=8, s=1) {
  input x: 3x32x32
  out y = x -> conv(width, 3, stride=s, pad=1) -> relu -> flatten -> linear(10)
}"""
    assert check("s.net", text, "s") == ["width"]
