"""Writing results: atomically to a regular file (never a partial file), into a FIFO or
a character device as `cat >` would (never replacing one), or to stdout.

Faults are diagnostics (E803), never tracebacks: a full disk, a closed stdout, a FIFO
nobody reads, an output that would overwrite an input. A broken pipe on stdout is not
an error of ours: `StdoutClosed` lets the CLI exit quietly, as POSIX tools do.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from netdsl.diagnostics import Diagnostic, NetdslError

# Signals that must not leave a temporary file behind (the CLI turns both into exits).
_SIGNALS = {signal.SIGINT, signal.SIGTERM} if hasattr(signal, "SIGTERM") else {signal.SIGINT}


class BrokenStdout(Exception):
    """The reader of our stdout went away (`netdsl stats x.net | head -1`)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fail(path: str, why: str, hint: str | None = None) -> NetdslError:
    return NetdslError(Diagnostic("E803", f"cannot write {path}: {why}", None, hint=hint))


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def write_stdout(data: str | bytes) -> None:
    stream = sys.stdout
    if stream is None:
        raise _fail("standard output", "it is closed")
    try:
        if isinstance(data, bytes):
            buffer = getattr(stream, "buffer", None)
            if buffer is None:
                stream.write(data.decode("utf-8", "replace"))
            else:
                stream.flush()
                buffer.write(data)
                buffer.flush()
        else:
            stream.write(data)
        stream.flush()
    except BrokenPipeError:
        raise BrokenStdout() from None
    except UnicodeEncodeError as exc:
        raise _fail(
            "standard output", f"its encoding ({exc.encoding}) cannot hold the text"
        ) from None
    except (OSError, ValueError) as exc:  # ENOSPC (> /dev/full), EBADF, a closed file
        why = _why(exc) if isinstance(exc, OSError) else "it is closed"
        raise _fail("standard output", why) from None


def write_output(path: str, data: str | bytes, protect: Iterable[str] = ()) -> None:
    """Write `data` to `path` ('-' for stdout). `protect`: files (the inputs) that must
    not be overwritten."""
    if path == "-":
        write_stdout(data)
        return
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _fail(path, "a symbolic link loop") from None
        if exc.errno == errno.ENOTDIR:
            raise _fail(path, "a part of the path is not a folder") from None
        raise _fail(path, _why(exc)) from None
    except ValueError:
        raise _fail(path, "the name contains a NUL character") from None
    if st is not None:
        for other in protect:
            try:
                same = os.path.samefile(path, other)
            except (OSError, ValueError):
                continue
            if same:
                raise _fail(
                    path,
                    "it is an input of this command",
                    hint="choose another output file; netdsl never overwrites its sources",
                )
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            _write_into(path, payload, fifo=stat.S_ISFIFO(st.st_mode))
            return
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise _fail(path, f"it is {kind}")
    # A link to a file: replace the file it points to, and keep the link.
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    _replace_atomically(path, target, payload, st)


def _write_into(path: str, payload: bytes, fifo: bool) -> None:
    """Write into a character device or a FIFO: no temporary file, no rename."""
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    if fifo:
        flags |= os.O_NONBLOCK  # a FIFO nobody reads: ENXIO at once, not a hang
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise _fail(path, "no process is reading the FIFO") from None
        raise _fail(path, _why(exc)) from None
    try:
        if fifo:
            os.set_blocking(fd, True)
        view = memoryview(payload)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except BrokenPipeError:
        raise _fail(path, "the FIFO's reader went away") from None
    except OSError as exc:
        raise _fail(path, _why(exc)) from None
    finally:
        os.close(fd)


def _block_signals():
    if hasattr(signal, "pthread_sigmask"):
        return signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    return None


def _unblock_signals(old) -> None:
    if old is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _replace_atomically(shown: str, target: Path, payload: bytes, st) -> None:
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise _fail(shown, f"no folder {folder}")
    tmp = None
    try:
        # SIGINT/SIGTERM wait until the temporary file's name is known, so that the
        # clean-up below always removes it (their handlers raise, in the CLI).
        old = _block_signals()
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        finally:
            _unblock_signals(old)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        # mkstemp creates 0600; give the file the mode a plain open() would have.
        mode = st.st_mode & 0o777 if st is not None else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise _fail(shown, _why(exc)) from None
        raise
