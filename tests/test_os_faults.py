"""What the OS can do to a run — special files, full or closed streams, broken pipes,
signals, link loops, FIFOs, endless inputs — gives a diagnostic and the documented exit
status, never a traceback or an "internal error" (issue 15, items 1-4).

Every case runs `python -m netdsl` in a subprocess inside a temporary folder: FIFOs and
device nodes are made there, never touched under the real /dev (only `/dev/full` is
used, as a stdout target, which writing to cannot harm).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = "network N {\n  input x: 3x8x8\n  out y = x -> conv(4, 3) -> relu\n}\n"
OLD = "previous contents\n"
ROOT = Path(__file__).resolve().parent.parent
BIG = ROOT / "networks" / "resnet152.net"

posix = pytest.mark.skipif(os.name != "posix", reason="POSIX files and signals")


def netdsl(*args, cwd, stdin=None, stdout=subprocess.PIPE, pre: str = "", timeout=60):
    """Run netdsl in a subprocess; `pre` is Python run first (to simulate a fault)."""
    code = pre + "\nfrom netdsl.cli import main\nmain(prog_name='netdsl')\n"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd,
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )


def clean(r) -> None:
    """No traceback, no internal error, whatever the outcome."""
    out = (r.stdout or "") + r.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert "Exception ignored" not in out, out


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "good.net").write_text(GOOD)
    return tmp_path


# --- 1. output onto special files


@posix
def test_output_into_a_fifo_is_written_not_replaced(folder):
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    try:
        r = netdsl("compile", "good.net", "-b", "json", "-o", fifo, cwd=folder)
        got, _ = reader.communicate(timeout=30)
    finally:
        reader.kill()
    clean(r)
    assert r.returncode == 0, r.stderr
    assert '"layers"' in got or '"nodes"' in got
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO
    assert sorted(p.name for p in folder.iterdir()) == ["good.net", "pipe"]


@posix
def test_a_fifo_nobody_reads_is_an_error_not_a_hang(folder):
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    r = netdsl("compile", "good.net", "-b", "json", "-o", fifo, cwd=folder, timeout=30)
    clean(r)
    assert r.returncode == 1 and "error[E803]" in r.stderr and "FIFO" in r.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@posix
def test_a_character_device_is_written_into_never_replaced(folder):
    null = folder / "null"
    try:  # a /dev/null twin in the temporary folder (needs CAP_MKNOD)
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot make device nodes here")
    r = netdsl("compile", "good.net", "-b", "json", "-o", null, cwd=folder)
    clean(r)
    assert r.returncode == 0, r.stderr
    st = os.stat(null)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in folder.iterdir()) == ["good.net", "null"]
    full = folder / "full"
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    r = netdsl("stats", "good.net", "-o", full, cwd=folder)
    clean(r)
    assert r.returncode == 1 and "No space left on device" in r.stderr
    assert stat.S_ISCHR(os.stat(full).st_mode)


def test_output_naming_the_input_is_refused(folder):
    for args in (
        ["stats", "good.net", "-o", "good.net"],
        ["compile", "good.net", "-o", "./good.net", "-b", "json"],
    ):
        r = netdsl(*args, cwd=folder)
        clean(r)
        assert r.returncode == 1 and "error[E80" in r.stderr
        assert (folder / "good.net").read_text() == GOOD


def test_output_naming_an_imported_file_is_refused(folder):
    (folder / "lib.net").write_text("block B(c) { out in -> relu }\n")
    (folder / "main.net").write_text('import "lib.net"\n' + GOOD.replace("relu", "B(1)"))
    r = netdsl("stats", "main.net", "-o", "lib.net", cwd=folder)
    clean(r)
    assert r.returncode == 1 and "it is an input of this command" in r.stderr
    assert (folder / "lib.net").read_text() == "block B(c) { out in -> relu }\n"


@pytest.mark.parametrize(
    "backend, name",
    [("mermaid", "x.svg"), ("pytorch", "x.json"), ("json", "x.py"), ("graphviz", "x.txt")],
)
def test_a_backend_extension_mismatch_is_refused(folder, backend, name):
    r = netdsl("compile", "good.net", "-b", backend, "-o", name, cwd=folder)
    clean(r)
    assert r.returncode == 1 and "error[E805]" in r.stderr
    assert not (folder / name).exists()


@posix
def test_a_link_to_a_file_keeps_the_link(folder):
    (folder / "real.txt").write_text(OLD)
    (folder / "link.txt").symlink_to("real.txt")
    r = netdsl("stats", "good.net", "-o", "link.txt", cwd=folder)
    clean(r)
    assert r.returncode == 0
    assert (folder / "link.txt").is_symlink() and "Total params" in (
        folder / "real.txt"
    ).read_text()


# --- 2. output streams


@posix
def test_a_broken_pipe_on_a_long_output_exits_141_without_a_message(folder):
    text = "\n".join(f"    x{i + 1} = x{i} -> relu as r{i}" for i in range(300))
    (folder / "long.net").write_text(
        f"network L {{\n    input x0: 1x2x2\n{text}\n    out y = x300\n}}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "netdsl", "stats", "long.net"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=folder,
    )
    # The reader goes away before netdsl writes (it takes a moment to start): the
    # write meets a pipe without readers (EPIPE), as `| head -1` would make it.
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert err == "" and proc.returncode == 141


@posix
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_stdout_is_an_error(folder):
    with open("/dev/full", "w") as full:
        for args in (
            ["stats", "good.net"],
            ["check", "good.net"],
            ["compile", "good.net", "-b", "json"],
        ):
            r = netdsl(*args, cwd=folder, stdout=full)
            clean(r)
            assert r.returncode == 1 and "cannot write standard output: No space left" in r.stderr


@posix
def test_a_closed_stdout_is_an_error(folder):
    code = (
        "import os, subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-m', 'netdsl'] + sys.argv[1:], "
        "stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, "
        "preexec_fn=lambda: os.close(1))\n"
        "sys.stderr.write(r.stderr); sys.exit(r.returncode)\n"
    )
    for args in (["stats", "good.net"], ["check", "good.net"]):
        r = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=60,
        )
        clean(r)
        assert r.returncode == 1 and "standard output: it is closed" in r.stderr


@posix
def test_a_closed_stdin_is_an_error(folder):
    code = (
        "import os, subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-m', 'netdsl', 'check', '-'], "
        "stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(0))\n"
        "sys.stderr.write(r.stderr); sys.exit(r.returncode)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=60
    )
    clean(r)
    assert r.returncode == 1 and "cannot read standard input: it is closed" in r.stderr


# --- 3. signals: the old output untouched and no temporary file

_SIGNAL_DURING_WRITE = """
import os, signal
import netdsl.output as o
real = o.os.replace
def replace(src, dst):
    os.kill(os.getpid(), signal.{sig})   # arrives after the temporary file is written
    real(src, dst)
o.os.replace = replace
"""

_SIGNAL_DURING_MKSTEMP = """
import os, signal, tempfile
import netdsl.output as o
real = tempfile.mkstemp
def mkstemp(*a, **k):
    made = real(*a, **k)
    os.kill(os.getpid(), signal.{sig})   # arrives before the caller knows the name
    return made
o.tempfile.mkstemp = mkstemp
"""


@posix
@pytest.mark.parametrize("sig, status", [("SIGINT", 130), ("SIGTERM", 143)])
@pytest.mark.parametrize("when", [_SIGNAL_DURING_WRITE, _SIGNAL_DURING_MKSTEMP])
def test_a_signal_leaves_the_old_output_and_no_temporary_file(folder, sig, status, when):
    out = folder / "out"
    out.mkdir()
    (out / "model.json").write_text(OLD)
    r = netdsl(
        "compile", "good.net", "-o", out / "model.json", cwd=folder, pre=when.format(sig=sig)
    )
    clean(r)
    assert r.returncode == status, r.stderr
    assert (out / "model.json").read_text() == OLD
    assert sorted(p.name for p in out.iterdir()) == ["model.json"]


# --- 4. imports and reads


@posix
def test_a_symlink_loop_in_an_import_is_a_diagnostic_at_the_import(folder):
    (folder / "a.net").symlink_to("b.net")
    (folder / "b.net").symlink_to("a.net")
    (folder / "main.net").write_text('import "a.net"\n' + GOOD)
    r = netdsl("check", "main.net", cwd=folder)
    clean(r)
    assert r.returncode == 1
    assert r.stderr.startswith("main.net:1:1: error[E801]: ") and "link loop" in r.stderr
    r = netdsl("check", "a.net", cwd=folder)
    clean(r)
    assert r.returncode == 1 and "error[E801]" in r.stderr and "link loop" in r.stderr


@posix
@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_importing_a_fifo_a_directory_or_a_device_is_an_error_not_a_hang(folder, kind):
    target = folder / "lib.net"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    else:
        try:
            os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # a /dev/zero twin
        except (PermissionError, OSError):
            pytest.skip("cannot make device nodes here")
    (folder / "main.net").write_text('import "lib.net"\n' + GOOD)
    r = netdsl("check", "main.net", cwd=folder, timeout=30)
    clean(r)
    assert r.returncode == 1 and r.stderr.startswith("main.net:1:1: error[E801]: ")


@posix
def test_an_endless_input_is_bounded(folder):
    zero = folder / "zero"
    try:
        os.mknod(zero, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    except (PermissionError, OSError):
        # the same through a pipe: an endless writer on stdin
        yes = subprocess.Popen(["yes", "x = 1"], stdout=subprocess.PIPE)
        try:
            r = netdsl("check", "-", "--max-bytes", "100000", cwd=folder, stdin=yes.stdout)
        finally:
            yes.kill()
    else:
        r = netdsl("check", zero, "--max-bytes", "100000", cwd=folder)
    clean(r)
    assert r.returncode == 1 and "error[E709]" in r.stderr and "100,000 bytes" in r.stderr


def test_a_file_over_the_input_limit_is_refused_and_the_flag_raises_it(folder):
    r = netdsl("check", "good.net", "--max-bytes", "10", cwd=folder)
    clean(r)
    assert r.returncode == 1 and "error[E709]" in r.stderr
    r = netdsl("check", "good.net", "--max-bytes", "1000", cwd=folder)
    assert r.returncode == 0


def test_a_utf8_bom_is_accepted_and_columns_are_unchanged(folder):
    one_line = "network N { input x: 3x8x8  out y = x -> conv(4, 3, strid=1) }\n"
    (folder / "bom.net").write_bytes(b"\xef\xbb\xbf" + one_line.encode())
    r = netdsl("check", "bom.net", cwd=folder)
    clean(r)
    col = one_line.index("strid") + 1
    assert r.returncode == 1 and r.stderr.startswith(f"bom.net:1:{col}: error[E202]")
    quoted, carets = r.stderr.splitlines()[1:3]
    assert carets.index("^") - carets.index("|") == quoted.index("strid") - quoted.index("|")
    (folder / "ok.net").write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert netdsl("check", "ok.net", cwd=folder).returncode == 0


# --- 9. command-line conventions


@pytest.mark.parametrize(
    "args",
    [
        ["-D", "classes=abc"],
        ["-D", "classes="],
        ["-D", "classes=1e999"],
        ["-D", "classes=2+3"],
        ["--input", "x=3x"],
        ["-D", "s=1 } network X { input q: 1x1x1 out z = q"],
    ],
)
def test_a_malformed_command_line_value_is_a_usage_error(folder, args):
    r = netdsl("check", "good.net", *args, cwd=folder)
    clean(r)
    assert r.returncode == 2 and "error[E317]" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--rankdir", "XY"],
        ["--depth", "0"],
        ["--depth", "-1"],
        ["-O", "dpi=-5"],
        ["-O", "dpi=100000"],
        ["-O", "dpi=abc"],
    ],
)
def test_a_bad_diagram_option_is_a_usage_error(folder, args):
    r = netdsl("compile", "good.net", "-o", "x.dot", *args, cwd=folder)
    clean(r)
    assert r.returncode == 2
    assert not (folder / "x.dot").exists()


def test_rankdir_accepts_what_the_backend_declares(folder):
    for rankdir in ("TB", "LR", "BT", "RL", "lr"):
        r = netdsl("compile", "good.net", "-o", "x.dot", "--rankdir", rankdir, cwd=folder)
        assert r.returncode == 0, r.stderr
        assert f"rankdir={rankdir.upper()}" in (folder / "x.dot").read_text().replace('"', "")


def test_dash_h_is_help(folder):
    for args in (["-h"], ["check", "-h"], ["compile", "-h"]):
        r = netdsl(*args, cwd=folder)
        assert r.returncode == 0 and "Usage:" in r.stdout


BADNET = GOOD.replace("conv(4, 3)", "conv(4, 3, strid=1)")


@pytest.mark.parametrize(
    "env, colour",
    [({"NO_COLOR": "1"}, False), ({"FORCE_COLOR": "1"}, True), ({}, False)],
)
def test_no_color_and_force_color(folder, env, colour):
    (folder / "bad.net").write_text(BADNET)
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    r = subprocess.run(
        [sys.executable, "-m", "netdsl", "check", "bad.net"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
    )
    assert r.returncode == 1
    assert ("\033[" in r.stderr) == colour


def test_strict_turns_warnings_into_errors(folder):
    text = "network N {\n  input x: 3x8x8\n  z = x -> relu\n  out y = x -> conv(4, 3)\n}\n"
    (folder / "w.net").write_text(text)  # z reaches no output: W001
    plain = netdsl("check", "w.net", cwd=folder)
    strict = netdsl("check", "w.net", "--strict", cwd=folder)
    clean(plain)
    clean(strict)
    assert plain.returncode == 0 and "warning[W001]" in plain.stderr
    assert strict.returncode == 1 and "error[W001]" in strict.stderr
    assert strict.stdout == ""
