"""Reading .net files and resolving their imports."""

from __future__ import annotations

import errno
import os
import stat
from importlib import resources
from pathlib import Path

from netdsl import ast
from netdsl.diagnostics import Diagnostic, NetdslError, Span, error
from netdsl.parser import parse
from netdsl.sources import Sources, begin

MAX_IMPORT_DEPTH = 32
# Bytes read from one file, at most (--max-bytes): the largest shipped network is a few
# KB, a written-out 100,000-layer network 3.4 MB; `check /dev/zero` must not read for ever.
MAX_INPUT_BYTES = 16 * 1024 * 1024


def library_dir() -> Path:
    """The shipped networks/ folder (importable as the last resort)."""
    return Path(str(resources.files("netdsl.networks")))


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _too_large(name: str, limit: int, span: Span | None) -> NetdslError:
    return error(
        "E709",
        f"{name} is larger than the input limit of {limit:,} bytes",
        span,
        hint="raise the limit with --max-bytes if the file really is this large",
    )


def read_text(
    path: str,
    span: Span | None = None,
    sources: Sources | None = None,
    *,
    regular_only: bool = False,
    max_bytes: int = MAX_INPUT_BYTES,
    shown: str | None = None,
) -> str:
    """A file's text. `regular_only` (imports) refuses FIFOs, devices and directories
    before opening them, so that an import never blocks; the root file may be a pipe
    (`netdsl check <(gen)`, `-` for stdin), read up to `max_bytes`."""
    name = "<stdin>" if path == "-" else path
    if path == "-":
        import sys

        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise error("E801", "cannot read standard input: it is closed", span)
        try:
            data = stream.read(max_bytes + 1)
        except OSError as exc:
            raise error("E801", f"cannot read standard input: {exc.strerror}", span) from None
    else:
        try:
            st = os.stat(path)
            kind = _kind(st.st_mode)
            if kind == "a directory":
                raise error("E801", f"{shown or path} is a directory, not a .net file", span)
            if kind is not None and regular_only:
                raise error(
                    "E801",
                    f"cannot import {shown or path}: it is {kind}, not a .net file",
                    span,
                    hint="imports name regular .net files",
                )
            # O_NONBLOCK: opening a FIFO nobody writes to returns at once (then reads EOF)
            flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(path, flags)
            try:
                if kind is not None and hasattr(os, "set_blocking"):
                    os.set_blocking(fd, True)  # a pipe with a writer: wait for its data
                with os.fdopen(fd, "rb", closefd=False) as f:
                    data = f.read(max_bytes + 1)
            finally:
                os.close(fd)
        except NetdslError:
            raise
        except FileNotFoundError:
            raise error("E801", f"no such file: {path}", span) from None
        except IsADirectoryError:
            raise error("E801", f"{path} is a directory, not a .net file", span) from None
        except OSError as exc:
            why = "a symbolic link loop" if exc.errno == errno.ELOOP else exc.strerror
            raise error("E801", f"cannot read {path}: {why}", span) from None
        except (RuntimeError, ValueError) as exc:  # symlink loops (Python < 3.13), NUL in name
            raise error("E801", f"cannot read {path}: {exc}", span) from None
    if len(data) > max_bytes:
        raise _too_large(name, max_bytes, span)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark, accepted as Python accepts it
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        if sources is not None:  # to quote the line
            sources.add(name, data.decode("utf-8", errors="replace"))
        err = error(
            "E802",
            f"file is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            Span(name, line, col, line, col + 1),
            hint="save the file as UTF-8",
        )
        err.sources = sources
        raise err from None


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


class Program:
    """A root module and every module it imports, with all their blocks."""

    def __init__(self, root: ast.Module, modules: list[ast.Module], sources: Sources | None = None):
        self.root = root
        self.modules = modules
        self.sources = sources if sources is not None else Sources()
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


def load_program(path: str, text: str | None = None, max_bytes: int = MAX_INPUT_BYTES) -> Program:
    sources = begin()
    try:
        return _load_program(path, text, sources, max_bytes)
    except NetdslError as exc:
        if exc.sources is None:
            exc.sources = sources
        raise


def _load_program(path: str, text: str | None, sources: Sources, max_bytes: int) -> Program:
    if text is None:
        text = read_text(path, sources=sources, max_bytes=max_bytes)
    text = text.removeprefix("\ufeff")
    display = "<stdin>" if path == "-" else path
    sources.add(display, text)
    root = parse(text, display)
    base = Path.cwd() if path == "-" else _real(Path(path), None).parent
    modules = [root]
    seen: dict[Path, ast.Module] = {}
    stack = []
    if path != "-":
        me = _real(Path(path), None)
        seen[me] = root
        stack.append(me)
    _load_imports(root, base, modules, seen, stack, sources, max_bytes)
    return Program(root, modules, sources)


def _real(path: Path, span: Span | None) -> Path:
    """The file a path names, links followed; a link loop is a diagnostic."""
    try:
        return Path(os.path.realpath(path, strict=False))
    except (OSError, RuntimeError, ValueError) as exc:
        raise error("E801", f"cannot resolve {path}: {exc}", span) from None


def _resolve(imp: ast.Import, base: Path) -> Path:
    for folder in (base, library_dir()):
        candidate = folder / imp.path
        try:
            os.stat(candidate)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise error(
                    "E801",
                    f"cannot import '{imp.path}': a symbolic link loop",
                    imp.span,
                    hint="one of the links in the path points back at itself",
                ) from None
            if exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG):
                continue
            raise error("E801", f"cannot import '{imp.path}': {exc.strerror}", imp.span) from None
        except ValueError:  # a NUL in the path (refused by the parser, kept for the API)
            break
        return _real(candidate, imp.span)
    raise error(
        "E503",
        f"cannot find imported file '{imp.path}'",
        imp.span,
        hint=f"looked in {_display(base)} and in the shipped library {library_dir()}",
    )


def _load_imports(module, base, modules, seen, stack, sources, max_bytes):
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
        shown = _display(target)
        text = read_text(
            str(target), imp.span, sources, regular_only=True, max_bytes=max_bytes, shown=shown
        )
        text = text.removeprefix("\ufeff")
        sources.add(shown, text)
        child = parse(text, shown)
        seen[target] = child
        modules.append(child)
        _load_imports(child, target.parent, modules, seen, stack + [target], sources, max_bytes)
