"""Reading .net files and resolving their imports."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from netdsl import ast
from netdsl.diagnostics import Diagnostic, NetdslError, Span, error
from netdsl.parser import parse
from netdsl.sources import register

MAX_IMPORT_DEPTH = 32


def library_dir() -> Path:
    """The shipped networks/ folder (importable as the last resort)."""
    return Path(str(resources.files("netdsl.networks")))


def read_text(path: str, span: Span | None = None) -> str:
    if path == "-":
        import sys

        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise error("E801", f"no such file: {path}", span) from None
        except IsADirectoryError:
            raise error("E801", f"{path} is a directory, not a .net file", span) from None
        except OSError as exc:
            raise error("E801", f"cannot read {path}: {exc.strerror}", span) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        name = "<stdin>" if path == "-" else path
        line = data[: exc.start].count(b"\n") + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        register(name, data.decode("utf-8", errors="replace"))  # to quote the line
        raise error(
            "E802",
            f"file is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            Span(name, line, col, line, col + 1),
            hint="save the file as UTF-8",
        ) from None


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


class Program:
    """A root module and every module it imports, with all their blocks."""

    def __init__(self, root: ast.Module, modules: list[ast.Module]):
        self.root = root
        self.modules = modules
        self.blocks: dict[str, ast.Block] = {}
        for m in modules:
            for b in m.blocks:
                other = self.blocks.get(b.name)
                if other is not None and other is not b:
                    raise NetdslError(
                        Diagnostic(
                            "E204",
                            f"block '{b.name}' is defined twice",
                            b.span,
                            hint=f"the other definition is at {other.span}",
                        )
                    )
                self.blocks[b.name] = b


def load_program(path: str, text: str | None = None) -> Program:
    if text is None:
        text = read_text(path)
    display = "<stdin>" if path == "-" else path
    register(display, text)
    root = parse(text, display)
    base = Path.cwd() if path == "-" else Path(path).resolve().parent
    modules = [root]
    seen: dict[Path, ast.Module] = {}
    if path != "-":
        seen[Path(path).resolve()] = root
    _load_imports(root, base, modules, seen, stack=[Path(path).resolve()])
    return Program(root, modules)


def _resolve(imp: ast.Import, base: Path) -> Path:
    for folder in (base, library_dir()):
        candidate = (folder / imp.path).resolve()
        if candidate.is_file():
            return candidate
    raise error(
        "E503",
        f"cannot find imported file '{imp.path}'",
        imp.span,
        hint=f"looked in {_display(base)} and in the shipped library {library_dir()}",
    )


def _load_imports(module, base, modules, seen, stack):
    for imp in module.imports:
        target = _resolve(imp, base)
        if target in stack:
            cycle = " -> ".join(_display(p) for p in stack[stack.index(target) :] + [target])
            raise error(
                "E502",
                f"import cycle: {cycle}",
                imp.span,
                hint="blocks cannot import themselves, even indirectly",
            )
        if target in seen:
            continue
        if len(stack) >= MAX_IMPORT_DEPTH:
            raise error(
                "E706",
                f"imports nested deeper than {MAX_IMPORT_DEPTH} files",
                imp.span,
                hint="a file imports a file that imports a file ... flatten the chain",
            )
        text = read_text(str(target), imp.span)
        register(_display(target), text)
        child = parse(text, _display(target))
        seen[target] = child
        modules.append(child)
        _load_imports(child, target.parent, modules, seen, stack + [target])
