"""The post-step of the PyTorch backend: `ruff check --fix`, then `ruff format`.

The writer emits one statement per line and leaves line breaking, import sorting
and the removal of anything unused to ruff, run as a subprocess on standard input
with the settings in generated_ruff.toml beside this file (the project's settings). The
ruff binary comes from the `ruff` wheel (a dependency of the `torch` extra), else
from PATH. Ruff missing is E807; ruff failing (a crash, an unparsable file) is
E808. Findings ruff cannot fix (a very long name from the source, say) are left
in place: the file is still valid and runnable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

from netdsl.diagnostics import Diagnostic, NetdslError

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated_ruff.toml")
LINE_LENGTH = 100  # its line-length: comments and docstrings are wrapped to it
TIMEOUT = 60  # seconds per ruff call
# The name ruff is told the text has: it decides nothing but the file kind.
STDIN_NAME = "model.py"


@lru_cache(maxsize=1)
def ruff_binary() -> str:
    try:
        from ruff.__main__ import find_ruff_bin  # the wheel's own locator
    except ImportError:
        find_ruff_bin = None
    if find_ruff_bin is not None:
        try:
            return os.fsdecode(find_ruff_bin())
        except FileNotFoundError:
            pass
    exe = shutil.which("ruff")
    if exe is None:
        raise NetdslError(
            Diagnostic(
                "E807",
                "cannot write PyTorch code: ruff, which formats it, is not installed",
                None,
                hint="pip install 'netdsl[torch]' (or pip install ruff)",
            )
        )
    return exe


def _run(args: list[str], text: str) -> str:
    exe = ruff_binary()
    cmd = [exe, *args, "--config", CONFIG, "--stdin-filename", STDIN_NAME, "-"]
    try:
        done = subprocess.run(
            cmd,
            input=text.encode("utf-8"),
            capture_output=True,
            check=False,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise NetdslError(
            Diagnostic("E808", f"ruff {args[0]} did not finish in {TIMEOUT} s", None)
        ) from None
    except OSError as exc:
        raise NetdslError(
            Diagnostic("E807", f"cannot run ruff ({exe}): {exc.strerror or exc}", None)
        ) from None
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise NetdslError(
            Diagnostic(
                "E808",
                f"ruff {args[0]} failed on the generated PyTorch code: {why}",
                None,
                hint="this is a netdsl bug; please report it with the .net file",
            )
        )
    return done.stdout.decode("utf-8")


def tidy(text: str) -> str:
    """The generated module, lint-fixed (imports sorted, unused ones removed) and formatted."""
    fixed = _run(["check", "--fix", "--exit-zero", "--quiet", "--no-cache"], text)
    return _run(["format", "--quiet", "--no-cache"], fixed)
