"""The wheel holds exactly the source tree (issue 9, item 8): every module and data file
under the mounted folders, at the import path pyproject.toml's package-dir gives it, the
licence, py.typed, one version; nothing else at the top level."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import netdsl

ROOT = Path(__file__).resolve().parent.parent
# The folder each import name is mounted from: written out here, not read from
# pyproject.toml, so that a wrong mapping there fails this test.
MOUNTS = {"netdsl": "netdsl", "backends": "netdsl/backends", "grammars": "netdsl/grammars"}
MOUNTS["networks"] = "netdsl/networks"
# Files in the source folders that are tooling, not netdsl, and must not ship (none today;
# generated_ruff.toml is not one: the PyTorch backend reads it when it runs).
DEV_ONLY: set[str] = set()
SKIP_DIRS = {"__pycache__", ".ruff_cache", ".pytest_cache"}


def _source_files() -> dict[str, Path]:
    """Wheel path -> file, for every file under the mounted folders."""
    files = {}
    for folder, mount in MOUNTS.items():
        for path in sorted((ROOT / folder).rglob("*")):
            rel = path.relative_to(ROOT / folder)
            if path.is_dir() or SKIP_DIRS & set(rel.parts) or path.suffix == ".pyc":
                continue
            if path.name in DEV_ONLY:
                continue
            files[f"{mount}/{rel.as_posix()}"] = path
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    # Build from a copy: an in-tree build would leave build/ behind and race with
    # other workers; the copy has what a fresh clone has.
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns(*SKIP_DIRS, "*.pyc", "*.egg-info", "build")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for folder in MOUNTS:
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    (built,) = out.glob("netdsl-*.whl")
    return zipfile.ZipFile(built)


def _dist_info(wheel) -> str:
    return f"netdsl-{netdsl.__version__}.dist-info"


def test_every_source_file_ships_at_its_import_path(wheel):
    names = set(wheel.namelist())
    expected = _source_files()
    missing = sorted(set(expected) - names)
    assert not missing, f"in the source tree but not in the wheel: {missing}"
    shipped = {n for n in names if not n.startswith(_dist_info(wheel) + "/")}
    extra = sorted(shipped - set(expected))
    assert not extra, f"in the wheel but not in the source tree: {extra}"
    for name, path in expected.items():
        assert wheel.read(name) == path.read_bytes(), name
    # The kinds of file netdsl needs at run time are all there (not only .py).
    suffixes = {Path(n).suffix for n in expected}
    assert {".py", ".lark", ".net", ".j2"} <= suffixes
    assert "netdsl/py.typed" in names
    assert "netdsl/backends/pytorch/helpers/subsample2d.py" in names


def test_nothing_else_at_the_top_level(wheel):
    tops = {n.split("/", 1)[0] for n in wheel.namelist()}
    assert tops == {"netdsl", _dist_info(wheel)}


def test_one_version_and_the_licence(wheel):
    meta = email.message_from_bytes(wheel.read(f"{_dist_info(wheel)}/METADATA"))
    assert meta["Version"] == netdsl.__version__
    assert meta["License-Expression"] == "MIT"
    licence = wheel.read(f"{_dist_info(wheel)}/licenses/LICENSE").decode()
    assert licence.startswith("MIT License")
    assert licence == (ROOT / "LICENSE").read_text()
    # The entry points name modules that are in the wheel.
    eps = wheel.read(f"{_dist_info(wheel)}/entry_points.txt").decode()
    for line in eps.splitlines():
        if "=" in line:
            module = line.split("=", 1)[1].strip().split(":")[0]
            path = module.replace(".", "/")
            assert {f"{path}.py", f"{path}/__init__.py"} & set(wheel.namelist()), line


def test_version_flag_prints_the_version():
    run = subprocess.run(
        [sys.executable, "-m", "netdsl", "--version"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"netdsl, version {netdsl.__version__}"
    assert netdsl.__version__.count(".") == 2
