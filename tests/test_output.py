"""Atomic output: `-o FILE` is written to a temporary file in the same folder and renamed
only when complete; on any error an existing file is untouched and nothing is left
behind. `-o -` is stdout; `-` as the input file is stdin; non-UTF-8 input is E802."""

from __future__ import annotations

import os
import stat

import pytest
from click.testing import CliRunner

from netdsl import output
from netdsl.cli import main
from netdsl.diagnostics import NetdslError
from netdsl.output import write_output

GOOD = "network N {\n  input x: 3x8x8\n  out y = x -> conv(4, 3) -> relu\n}\n"
BAD = "network N {\n  input x: 3x8x8\n  out y = x -> conv(4, 3, strid=2)\n}\n"
OLD = "previous contents\n"


def run(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kw)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "good.net").write_text(GOOD)
    (tmp_path / "bad.net").write_text(BAD)
    out = tmp_path / "out"
    out.mkdir()
    return tmp_path


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    "command, name",
    [
        (["stats", "-o"], "result.txt"),
        (["stats", "--format", "json", "-o"], "result.txt"),
        (["compile", "-b", "json", "-o"], "result.json"),
        (["compile", "-b", "mermaid", "-o"], "result.mmd"),
    ],
)
def test_a_bad_network_leaves_an_existing_output_untouched(files, command, name):
    target = files / "out" / name
    target.write_text(OLD)
    r = run(*command, target, files / "bad.net")
    assert r.exit_code == 1 and "error[E202]" in r.output
    assert target.read_text() == OLD
    assert listing(files / "out") == [name]


@pytest.mark.parametrize(
    "command, name", [(["stats", "-o"], "result.txt"), (["compile", "-b", "json", "-o"], "r.json")]
)
def test_a_good_network_replaces_it(files, command, name):
    target = files / "out" / name
    target.write_text(OLD)
    r = run(*command, target, files / "good.net")
    assert r.exit_code == 0, r.output
    assert target.read_text() != OLD and target.read_text()
    assert listing(files / "out") == [name]


def test_a_failed_rename_leaves_no_temporary_file(files, monkeypatch):
    target = files / "out" / "result.txt"
    target.write_text(OLD)

    def broken(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(output.os, "replace", broken)
    with pytest.raises(NetdslError) as info:
        write_output(str(target), "new contents")
    assert info.value.diagnostics[0].code == "E803"
    assert target.read_text() == OLD
    assert listing(files / "out") == ["result.txt"]


def test_an_interrupted_write_leaves_no_temporary_file(files, monkeypatch):
    target = files / "out" / "result.txt"
    target.write_text(OLD)
    real_fdopen = os.fdopen

    class Interrupting:
        def __init__(self, fd, mode):
            self.f = real_fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])  # half written, then Ctrl-C
            raise KeyboardInterrupt

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(output.os, "fdopen", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        write_output(str(target), "x" * 10_000)
    assert target.read_text() == OLD
    assert listing(files / "out") == ["result.txt"]


def test_a_missing_folder_is_a_clean_error(files):
    r = run("stats", "-o", files / "nowhere" / "result.txt", files / "good.net")
    assert r.exit_code == 1 and "error[E803]" in r.output and "Traceback" not in r.output


def test_an_unwritable_folder_is_a_clean_error(files):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    folder = files / "out"
    folder.chmod(0o500)
    try:
        r = run("stats", "-o", folder / "result.txt", files / "good.net")
        assert r.exit_code == 1 and "error[E803]" in r.output
    finally:
        folder.chmod(0o700)


def test_output_over_a_folder_is_a_clean_error(files):
    r = run("stats", "-o", files / "out", files / "good.net")
    assert r.exit_code == 1 and "error[E803]" in r.output
    assert listing(files / "out") == []


def test_new_files_get_the_usual_mode_and_replaced_files_keep_theirs(files):
    target = files / "out" / "new.txt"
    write_output(str(target), "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    write_output(str(target), "y")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() == "y"


def test_dash_writes_stdout(files):
    r = run("stats", "--format", "csv", "-o", "-", files / "good.net")
    assert r.exit_code == 0 and "," in r.stdout.splitlines()[0]
    r = run("compile", "-b", "json", "-o", "-", files / "good.net")
    assert r.exit_code == 0 and r.stdout.lstrip().startswith("{")
    assert listing(files / "out") == []


def test_dash_reads_stdin():
    r = run("check", "-", input=GOOD)
    assert r.exit_code == 0 and "ok" in r.stdout
    r = run("check", "-", input=BAD)
    assert r.exit_code == 1 and r.stderr.startswith("<stdin>:3:27: error[E202]")
    assert "  3 |   out y = x -> conv(4, 3, strid=2)" in r.stderr


def test_non_utf8_input_is_a_clear_error(files):
    f = files / "latin1.net"
    f.write_bytes(GOOD.replace("relu", "relu # d\xe9j\xe0 vu").encode("latin-1"))
    r = run("check", f)
    assert r.exit_code == 1 and "Traceback" not in r.output
    first = r.stderr.splitlines()[0]
    assert first.endswith("3:38: error[E802]: file is not UTF-8 text (byte 0xe9)")
    r = run("check", "-", input=b"network N {\xff}")
    assert r.exit_code == 1 and r.stderr.startswith("<stdin>:1:12: error[E802]")


def test_non_utf8_imported_file(files):
    (files / "lib.net").write_bytes(b"block B(c) { out in } # \xff\n")
    (files / "main.net").write_text('import "lib.net"\n' + GOOD)
    r = run("check", files / "main.net")
    assert r.exit_code == 1 and "lib.net:1:25: error[E802]" in r.stderr
