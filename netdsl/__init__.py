"""netdsl: a compiler for a small declarative language describing neural networks.

The public API (docs/api.md): load, analyse, compile, format_error, NetdslError,
Diagnostic. They are imported on first use (PEP 562), so `import netdsl` — and every
`netdsl` command, which imports this package first — pays for none of them.
"""

from __future__ import annotations

__version__ = "0.1.0"  # the one version source: pyproject.toml reads it, --version prints it

_LAZY = {
    "load": "netdsl.api",
    "analyse": "netdsl.api",
    "compile": "netdsl.api",
    "format_error": "netdsl.api",
    "NetdslError": "netdsl.diagnostics",
    "Diagnostic": "netdsl.diagnostics",
    "Span": "netdsl.diagnostics",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netdsl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
