"""Modules PyTorch lacks, as real Python files pasted into generated code.

Each file here defines one class after the imports every generated file has (`torch`,
`torch.nn as nn`, `torch.nn.functional as F`). HELPERS maps the class name to its
source from the `class` line on, which is what a generated file needs.
"""

from __future__ import annotations

from importlib import resources


def _load() -> dict[str, str]:
    helpers: dict[str, str] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".py") or entry.name.startswith("_"):
            continue
        text = entry.read_text(encoding="utf-8")
        start = text.index("\nclass ") + 1
        name = text[start + len("class ") :].split("(", 1)[0]
        helpers[name] = text[start:]
    return helpers


HELPERS: dict[str, str] = _load()
