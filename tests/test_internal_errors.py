"""netdsl's own bugs say so plainly, and the suite notices every one of them.

tests/conftest.py points NETDSL_INTERNAL_ERROR_LOG at a file for the whole session and fails
the session if any CLI run wrote to it (issue 15: "a grep of the whole suite's output finds
no internal error" — here the suite itself is the grep, in-process and in subprocesses).
"""

from __future__ import annotations

from click.testing import CliRunner

import netdsl.cli
from netdsl.cli import main


def test_an_internal_error_is_plain_exit_3_and_logged(tmp_path, monkeypatch):
    log = tmp_path / "internal.log"
    monkeypatch.setenv("NETDSL_INTERNAL_ERROR_LOG", str(log))
    monkeypatch.delenv("NETDSL_DEBUG", raising=False)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a planted bug")

    monkeypatch.setattr(netdsl.cli, "_load", broken)
    source = tmp_path / "n.net"
    source.write_text("network N { input x: 3x8x8\n out y = x }\n")
    r = CliRunner().invoke(main, ["check", str(source)])
    assert r.exit_code == 3
    assert "internal error: ZeroDivisionError: a planted bug" in r.output
    assert "Traceback" not in r.output
    assert "ZeroDivisionError: a planted bug" in log.read_text(encoding="utf-8")


def test_the_suite_watches_for_internal_errors():
    import os

    # Set by tests/conftest.py before any test (and any xdist worker) starts.
    assert os.environ.get("NETDSL_INTERNAL_ERROR_LOG", "").endswith("errors.log")
