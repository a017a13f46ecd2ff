"""Shared pytest options and fixtures."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    # netdsl.api.load and netdsl.stats.analyse lint the IR after their pass when this is set.
    os.environ["NETDSL_LINT"] = "1"


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
