"""Training recipes: the `train { ... }` section of a network, checked, with the papers'
defaults per family (docs/training.md).

A recipe is plain data in the IR, ``G.graph["train"]``: {setting: value}, where a
choice such as the optimiser is a *term* {"name": "sgd", "lr": 0.01, ...}. `resolve`
fills in what the file leaves out: generic defaults, then the network family's
paper values, then the file's settings.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from netdsl import ast

REQUIRED: Any = object()

# term name -> {argument: default}; a positional argument binds in this order.
OPTIMIZERS = {
    "sgd": {"lr": REQUIRED, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False},
    "adam": {"lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0.0},
    "adamw": {"lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0.01},
    "rmsprop": {"lr": REQUIRED, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0},
}
SCHEDULES = {
    "constant": {},
    # lr x gamma every `every` epochs
    "step": {"every": REQUIRED, "gamma": 0.1},
    "multistep": {"milestones": REQUIRED, "gamma": 0.1},
    # lr x factor when validation top-1 has not improved for `patience` epochs
    "plateau": {"factor": 0.1, "patience": 2},
    "cosine": {"warmup": 0},
}
AUGMENTATIONS = {
    # random crop of `size` from an image whose shorter side is scaled to `resize`
    "random_crop": {"size": REQUIRED, "resize": 256},
    # VGG/ResNet scale jittering: shorter side uniform in [min, max], then a crop
    "scale_jitter": {"size": REQUIRED, "min": 256, "max": 512},
    "random_resized_crop": {"size": REQUIRED, "scale": (0.08, 1.0), "ratio": (0.75, 4 / 3)},
    "flip": {},
    # AlexNet's PCA lighting noise (Section 4.1), standard deviation `std`
    "lighting": {"std": 0.1},
    "color_jitter": {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0},
}
TERMS = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "augment": AUGMENTATIONS}

# setting -> (kind, what it is); kind: a TERMS key, "int", "float", "patterns".
SETTINGS = {
    "optimizer": ("optimizer", "the optimiser, e.g. sgd(lr=0.01, momentum=0.9)"),
    "schedule": ("schedule", "the learning-rate schedule, e.g. plateau(factor=0.1)"),
    "augment": ("augment", "a list of training augmentations, e.g. [random_crop(224), flip]"),
    "epochs": ("int", "epochs to train"),
    "batch": ("int", "the batch size over all processes"),
    "label_smoothing": ("float", "label smoothing of the cross-entropy loss"),
    "grad_clip": ("float", "clip the gradient norm to this (0: off)"),
    "warm_start": ("patterns", "names of the tensors --init-from copies (glob patterns)"),
    "eval_resize": ("int", "validation: shorter side before the centre crop"),
}

GENERIC = {
    "optimizer": {
        "name": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "nesterov": False,
    },
    "schedule": {"name": "cosine", "warmup": 0},
    "augment": [
        {"name": "random_resized_crop", "size": None, "scale": (0.08, 1.0), "ratio": (0.75, 4 / 3)},
        {"name": "flip"},
    ],
    "epochs": 90,
    "batch": 256,
    "label_smoothing": 0.0,
    "grad_clip": 0.0,
    "warm_start": [],
    "eval_resize": None,
}

# The papers' recipes, for a network whose file has no train section (or leaves a
# setting out). Family: a regular expression on the network's name.
FAMILIES: list[tuple[str, str, dict]] = [
    (
        "alexnet",
        r"(?i)alexnet",
        {  # Krizhevsky et al. 2012, Section 5; lighting: Section 4.1
            "optimizer": {
                "name": "sgd",
                "lr": 0.01,
                "momentum": 0.9,
                "weight_decay": 5e-4,
                "nesterov": False,
            },
            "schedule": {"name": "plateau", "factor": 0.1, "patience": 2},
            "epochs": 90,
            "batch": 128,
            "augment": [
                {"name": "random_crop", "size": None, "resize": 256},
                {"name": "flip"},
                {"name": "lighting", "std": 0.1},
            ],
        },
    ),
    (
        "vgg",
        r"(?i)vgg",
        {  # Simonyan & Zisserman 2014, Section 3.1: 370K iterations of 256 = 74 epochs
            "optimizer": {
                "name": "sgd",
                "lr": 0.01,
                "momentum": 0.9,
                "weight_decay": 5e-4,
                "nesterov": False,
            },
            "schedule": {"name": "plateau", "factor": 0.1, "patience": 2},
            "epochs": 74,
            "batch": 256,
            "augment": [
                {"name": "scale_jitter", "size": None, "min": 256, "max": 512},
                {"name": "flip"},
                {"name": "lighting", "std": 0.1},
            ],
        },
    ),
    (
        "googlenet",
        r"(?i)googlenet|inception",
        {  # Szegedy et al. 2014, Section 6: momentum 0.9, lr x 0.96 every 8 epochs;
            # lr, weight decay and batch from the Caffe reference (bvlc_googlenet)
            "optimizer": {
                "name": "sgd",
                "lr": 0.01,
                "momentum": 0.9,
                "weight_decay": 2e-4,
                "nesterov": False,
            },
            "schedule": {"name": "step", "every": 8, "gamma": 0.96},
            "epochs": 60,
            "batch": 32,
            "augment": [
                {
                    "name": "random_resized_crop",
                    "size": None,
                    "scale": (0.08, 1.0),
                    "ratio": (0.75, 4 / 3),
                },
                {"name": "flip"},
                {
                    "name": "color_jitter",
                    "brightness": 0.4,
                    "contrast": 0.4,
                    "saturation": 0.4,
                    "hue": 0.0,
                },
            ],
        },
    ),
    (
        "resnet",
        r"(?i)resnet|resnext",
        {  # He et al. 2015, Section 3.4: 60e4 iterations of 256 = 120 epochs
            "optimizer": {
                "name": "sgd",
                "lr": 0.1,
                "momentum": 0.9,
                "weight_decay": 1e-4,
                "nesterov": False,
            },
            "schedule": {"name": "plateau", "factor": 0.1, "patience": 2},
            "epochs": 120,
            "batch": 256,
            "augment": [
                {"name": "scale_jitter", "size": None, "min": 256, "max": 480},
                {"name": "flip"},
                {"name": "lighting", "std": 0.1},
            ],
        },
    ),
]


class RecipeError(Exception):
    """A mistake in a train section; `span` is where, `hint` how to fix it."""

    def __init__(self, code: str, message: str, span, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.span, self.hint = code, message, span, hint


def family(name: str) -> str | None:
    for fam, pattern, _ in FAMILIES:
        if re.search(pattern, name):
            return fam
    return None


def resolve(G) -> tuple[dict, dict]:
    """The whole recipe for a network, and where each setting came from
    ("default", "paper: <family>", or "file")."""
    recipe, origin = dict(GENERIC), dict.fromkeys(GENERIC, "default")
    fam = family(G.graph.get("name", ""))
    for f, _, values in FAMILIES:
        if f == fam:
            recipe.update(values)
            origin.update(dict.fromkeys(values, f"paper: {f}"))
    given = G.graph.get("train") or {}
    recipe.update(given)
    origin.update(dict.fromkeys(given, "file"))
    return recipe, origin


# ----------------------------------------------------------------- reading .net
def read(stmt: ast.Train, ev, bound) -> dict:
    """A train section as data. ev(expr) evaluates an expression in the network;
    bound(name) says whether a name is a variable there (a variable wins over a term)."""
    out: dict = {}
    for key, expr, span in stmt.items:
        if key not in SETTINGS:
            close = difflib.get_close_matches(key, SETTINGS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "settings: " + ", ".join(SETTINGS)
            raise RecipeError("E901", f"unknown training setting '{key}'", span, hint)
        if key in out:
            raise RecipeError("E904", f"training setting '{key}' given twice", span)
        kind, what = SETTINGS[key]
        out[key] = _value(key, kind, expr, ev, bound)
    return out


def _value(key: str, kind: str, expr, ev, bound):
    if kind == "augment":
        items = expr.items if isinstance(expr, ast.ListE) else [expr]
        return [_term(key, TERMS[kind], e, ev, bound) for e in items]
    if kind in TERMS:
        return _term(key, TERMS[kind], expr, ev, bound)
    value = ev(expr)
    if kind == "patterns":
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RecipeError(
                "E902",
                f"'{key}' is a list of name patterns",
                expr.span,
                'e.g. warm_start = ["features.0.*", "classifier.fc8.*"]',
            )
        return value
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int" and not (isinstance(value, int) and number and value >= 1):
        raise RecipeError("E902", f"'{key}' must be a positive integer, not {value!r}", expr.span)
    if kind == "float" and not (number and value >= 0):
        raise RecipeError("E902", f"'{key}' must be a number >= 0, not {value!r}", expr.span)
    return float(value) if kind == "float" else value


def _term(key: str, table: dict, expr, ev, bound) -> dict:
    if isinstance(expr, ast.Name) and not bound(expr.id):
        name, args = expr.id, []
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        name, args = expr.func.id, expr.args
    else:
        raise RecipeError(
            "E902",
            f"'{key}' is one of: {', '.join(table)}",
            expr.span,
            f"e.g. {key} = {next(iter(table))}(...)",
        )
    if name not in table:
        close = difflib.get_close_matches(name, table, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(table)}"
        span = expr.span if isinstance(expr, ast.Name) else expr.func.span
        raise RecipeError("E902", f"unknown {key} '{name}'", span, hint)
    spec = table[name]
    term: dict = {"name": name}
    order = list(spec)
    for i, arg in enumerate(args):
        param = arg.name
        if param is None:
            if i >= len(order):
                raise RecipeError(
                    "E902", f"{name}() takes at most {len(order)} arguments", arg.span
                )
            param = order[i]
        if param not in spec:
            close = difflib.get_close_matches(param, spec, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"arguments: {', '.join(spec)}"
            raise RecipeError("E902", f"{name}() has no argument '{param}'", arg.span, hint)
        if param in term:
            raise RecipeError("E902", f"{name}(): '{param}' given twice", arg.span)
        value = ev(arg.value)
        if isinstance(value, list):
            value = tuple(value) if param != "milestones" else list(value)
        term[param] = _check_arg(name, param, value, spec[param], arg.span)
    for param, default in spec.items():
        if param not in term:
            if default is REQUIRED:
                raise RecipeError(
                    "E902", f"{name}() needs '{param}'", expr.span, f"e.g. {name}({param}=...)"
                )
            term[param] = default
    return term


def _check_arg(name, param, value, default, span):
    ok = True
    if default is REQUIRED:
        if param == "milestones":
            ok = isinstance(value, list) and all(isinstance(v, int) for v in value)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    elif isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)) and default is not REQUIRED:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    elif isinstance(default, tuple):
        ok = isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value)
    if not ok:
        raise RecipeError("E902", f"{name}(): bad value {value!r} for '{param}'", span)
    return value
