"""Shared pytest options and fixtures."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    # netdsl.api.load and netdsl.stats.analyse lint the IR after their pass when this is set.
    os.environ["NETDSL_LINT"] = "1"
    # Every CLI run of the suite (in-process or a subprocess, on any xdist worker) appends
    # its internal errors here; the session fails if there are any (issue 15).
    if not hasattr(config, "workerinput"):
        log = Path(tempfile.mkdtemp(prefix="netdsl-internal-")) / "errors.log"
        os.environ["NETDSL_INTERNAL_ERROR_LOG"] = str(log)


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):
        return
    log = Path(os.environ.get("NETDSL_INTERNAL_ERROR_LOG", ""))
    if log.name and log.is_file() and log.read_text(encoding="utf-8").strip():
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("netdsl printed internal errors during the suite:", red=True)
            for line in log.read_text(encoding="utf-8").splitlines():
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files under tests/golden/ instead of comparing with them",
    )


@pytest.fixture(scope="session")
def pytorch_module(tmp_path_factory):
    """compile(path) -> (IR, source, imported module, file): a .net file through the
    PyTorch backend, generated and imported once per session."""
    from netdsl.backends.pytorch import generate

    from netdsl.api import load

    folder = tmp_path_factory.mktemp("pytorch_gen")
    cache: dict = {}

    def compile_(path: Path):
        key = str(path)
        if key not in cache:
            G = load(key)
            source = generate(G, {}, "py")
            try:
                rel = path.resolve().relative_to(ROOT / "networks")
            except ValueError:
                rel = Path(path.name)
            name = "netdsl_gen_" + str(rel.with_suffix("")).replace("/", "__")
            file = folder / f"{name}.py"
            file.write_text(source)
            spec = importlib.util.spec_from_file_location(name, file)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            cache[key] = (G, source, module, file)
        return cache[key]

    return compile_
