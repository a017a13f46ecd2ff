"""Writing results: atomically to a file (never a partial file), or to stdout."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from netdsl.diagnostics import Diagnostic, NetdslError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_output(path: str, data: str | bytes) -> None:
    if path == "-":
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(data)
            sys.stdout.flush()
        return
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise NetdslError(Diagnostic("E803", f"cannot write {path}: no folder {folder}", None))
    payload = data.encode("utf-8") if isinstance(data, str) else data
    # Same folder, so the final rename is atomic and never crosses file systems.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise NetdslError(
            Diagnostic("E803", f"cannot write {path}: {exc.strerror}", None)
        ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        # mkstemp creates 0600; give the file the mode a plain open() would have.
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise NetdslError(
                Diagnostic("E803", f"cannot write {path}: {exc.strerror}", None)
            ) from None
        raise
