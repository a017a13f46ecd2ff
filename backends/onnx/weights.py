"""The model's tensors: read from a .safetensors state_dict, or drawn from a seed.

Names and shapes are those of the generated PyTorch module's state_dict (one
list, `expected`, from the spelling table), so a file saved with
`safetensors.torch.save_file(model.state_dict(), path)` loads by name. Drawn
tensors follow the network's `init` rules, else PyTorch's default
initialisation, with the same distributions (not the same numbers) as torch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from netdsl.backends.onnx.graph import Layer, Network, state_key
from netdsl.backends.onnx.spelling import SPELLINGS, Param

from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.ops.base import fmt_shape

MAX_REPORTED = 20  # problems listed for one weights file


@dataclass(frozen=True)
class Slot:
    key: str  # state_dict key
    layer: Layer
    param: Param


def expected(net: Network) -> dict[str, Slot]:
    """Every state_dict tensor of the network, in the module's order."""
    out: dict[str, Slot] = {}
    for layer in net.layers.values():
        spelling = SPELLINGS.get(layer.op)
        if spelling is None:
            continue
        for p in spelling.params(layer):
            key = state_key(layer.name, p.tensor)
            out[key] = Slot(key, layer, p)
    return out


# ------------------------------------------------------------------ drawing
def draw(net: Network, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for key, slot in expected(net).items():
        p = slot.param
        rule = net.init.get(slot.layer.op, {}).get(p.part) if p.part else None
        if rule is None:
            out[key] = _default(rng, p)
        else:
            out[key] = _by_rule(rng, rule, p, slot)
    return out


def _default(rng, p: Param) -> np.ndarray:
    kind, value = p.default
    if kind == "constant":
        return np.full(p.shape, value, dtype=p.dtype)
    if isinstance(value, tuple):  # one bound per row
        bounds = np.asarray(value, dtype=np.float32).reshape((-1,) + (1,) * (len(p.shape) - 1))
        x = _uniform(rng, p.shape, -1.0, 1.0)
        x *= bounds
        return x
    return _uniform(rng, p.shape, -value, value)


# In place and in float32: VGG's 100-million-element weights leave no room for copies.
def _uniform(rng, shape, a: float, b: float) -> np.ndarray:
    x = rng.random(shape, dtype=np.float32)
    x *= np.float32(b - a)
    x += np.float32(a)
    return x


def _normal(rng, shape, mean: float, std: float) -> np.ndarray:
    x = rng.standard_normal(shape, dtype=np.float32)
    x *= np.float32(std)
    x += np.float32(mean)
    return x


def _trunc_normal(rng, shape, mean, std, a, b) -> np.ndarray:
    """N(mean, std) restricted to [a, b], by redrawing what falls outside."""
    x = _normal(rng, shape, mean, std)
    for _ in range(1000):
        bad = (x < a) | (x > b)
        n = int(bad.sum())
        if n == 0:
            break
        x[bad] = _normal(rng, (n,), mean, std)
    return np.clip(x, a, b)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """torch.nn.init's fan-in and fan-out of a weight of this shape."""
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _gain(nonlinearity: str, a: float) -> float:
    """torch.nn.init.calculate_gain."""
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1 + a**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    return 1.0  # linear, conv*, sigmoid


def _by_rule(rng, rule: dict, p: Param, slot: Slot) -> np.ndarray:
    fn, a = rule["fn"], rule["args"]
    shape = p.shape
    if fn == "constant":
        return np.full(shape, a["value"], dtype=np.float32)
    if fn == "normal":
        return _normal(rng, shape, a["mean"], a["std"])
    if fn == "trunc_normal":
        return _trunc_normal(rng, shape, a["mean"], a["std"], a["a"], a["b"])
    if fn == "uniform":
        return _uniform(rng, shape, a["a"], a["b"])
    if len(shape) < 2:
        layer = slot.layer
        raise NetdslError(
            Diagnostic(
                "E823",
                f"init {layer.op}({p.part}={fn}(...)) needs a weight of two or more "
                f"dimensions to compute fans, but '{slot.key}' is {fmt_shape(shape)}",
                layer.span,
                hint="use constant, normal, trunc_normal or uniform for this tensor",
            )
        )
    fan_in, fan_out = _fans(shape)
    if fn in ("kaiming_normal", "kaiming_uniform"):
        fan = fan_in if a.get("mode", "fan_in") == "fan_in" else fan_out
        std = _gain(a.get("nonlinearity", "leaky_relu"), a.get("a", 0.0)) / math.sqrt(fan)
    elif fn in ("xavier_normal", "xavier_uniform"):
        std = a.get("gain", 1.0) * math.sqrt(2.0 / (fan_in + fan_out))
    else:
        raise NetdslError(Diagnostic("E823", f"unknown initialiser {fn!r}", slot.layer.span))
    if fn.endswith("_normal"):
        return _normal(rng, shape, 0.0, std)
    bound = math.sqrt(3.0) * std
    return _uniform(rng, shape, -bound, bound)


# ------------------------------------------------------------------ loading
def load(path: str, net: Network) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file, checked against the network: every
    problem (missing, extra, mis-shaped, wrong dtype) is reported by name."""
    from safetensors import SafetensorError, safe_open

    name = os.path.basename(path)
    if not os.path.isfile(path):
        why = "it is a directory" if os.path.isdir(path) else "no such file"
        raise NetdslError(Diagnostic("E801", f"cannot read weights {path}: {why}", None))
    want = expected(net)
    try:
        with safe_open(path, framework="numpy") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
            problems = _problems(name, net, want, shapes, dtypes)
            if problems:
                raise NetdslError(problems)
            out = {}
            for key, slot in want.items():
                if slot.param.exported:
                    out[key] = np.ascontiguousarray(f.get_tensor(key), dtype=slot.param.dtype)
            return out
    except OSError as exc:
        raise NetdslError(
            Diagnostic("E801", f"cannot read weights {path}: {exc.strerror or exc}", None)
        ) from None
    except (SafetensorError, ValueError, TypeError) as exc:
        raise NetdslError(
            Diagnostic(
                "E820",
                f"{name} is not a readable safetensors file: {exc}",
                None,
                hint="save it with safetensors.torch.save_file(model.state_dict(), path)",
            )
        ) from None


_FLOATS = {"F16", "F32", "F64"}  # numpy has no bfloat16
_INTS = {"I64", "I32", "I16", "I8", "U8"}


def _problems(name, net, want: dict[str, Slot], shapes, dtypes) -> list[Diagnostic]:
    out = []
    for key, slot in want.items():
        layer, p = slot.layer, slot.param
        what = f"layer '{layer.name}' ({layer.op})"
        if key not in shapes:
            out.append(
                Diagnostic(
                    "E821",
                    f"{name} has no tensor '{key}' ({fmt_shape(p.shape)}) for {what}",
                    layer.span,
                    hint="was it saved from the PyTorch module of this network "
                    "with the same parameters?",
                )
            )
        elif shapes[key] != p.shape:
            out.append(
                Diagnostic(
                    "E821",
                    f"'{key}' in {name} is {fmt_shape(shapes[key])}, "
                    f"but {what} needs {fmt_shape(p.shape)}",
                    layer.span,
                    hint="the file was saved from a network with other sizes (check -D)",
                )
            )
        elif dtypes[key] not in (_FLOATS if p.dtype == "float32" else _INTS):
            out.append(
                Diagnostic(
                    "E821",
                    f"'{key}' in {name} holds {dtypes[key]}, not a "
                    f"{'float16/32/64' if p.dtype == 'float32' else 'integer'} tensor",
                    layer.span,
                    hint="convert before saving, e.g. {k: v.float() for k, v in sd.items()}",
                )
            )
    for key in shapes:
        if key not in want:
            close = [k for k in want if k.endswith("." + key.rsplit(".", 1)[-1])][:1]
            out.append(
                Diagnostic(
                    "E821",
                    f"{name} has a tensor '{key}' that no layer of {net.name} owns",
                    None,
                    hint="state_dict keys are the layer names of the .net file"
                    + (f", e.g. '{close[0]}'" if close else ""),
                )
            )
    if len(out) > MAX_REPORTED:
        more = len(out) - MAX_REPORTED
        out = out[:MAX_REPORTED]
        out.append(Diagnostic("E821", f"... and {more} more problems with {name}", None))
    return out
