"""Backends are plugins: a third-party one is found through its entry point and used by the
CLI; a broken one is reported, never silently dropped, and breaks nothing else.

No pip, no network: the test lays the plugin out as an installed distribution would be
(the module plus a `.dist-info` folder with `entry_points.txt`) in a temporary folder,
and puts that folder on sys.path (in process) or PYTHONPATH (for the CLI).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netdsl.plugins import Backend, discover

HERE = Path(__file__).resolve().parent
PKG = HERE / "data" / "plugin_pkg"
NETS = HERE.parent / "networks"

PLUGIN_MODULES = ("netdsl_hello", "netdsl_broken")


def _entry_points_of(pyproject: Path) -> str:
    """entry_points.txt for a pyproject's [project.entry-points] tables."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = None
    if tomllib is not None:
        tables = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["entry-points"]
    else:
        text = pyproject.read_text(encoding="utf-8")
        group = re.search(r'\[project\.entry-points\."([^"]+)"\]\n((?:\w+ = "[^"]+"\n)+)', text)
        pairs = re.findall(r'(\w+) = "([^"]+)"', group.group(2))
        tables = {group.group(1): dict(pairs)}
    out = []
    for group, eps in tables.items():
        out.append(f"[{group}]")
        out += [f"{name} = {value}" for name, value in eps.items()]
    return "\n".join(out) + "\n"


def _dist(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


@pytest.fixture
def site(tmp_path):
    """A folder laid out like site-packages with the example plugin and three broken ones."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "netdsl_hello.py").write_text(
        (PKG / "netdsl_hello.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    _dist(site, "netdsl-hello", _entry_points_of(PKG / "pyproject.toml"))
    (site / "netdsl_broken.py").write_text(
        'raise RuntimeError("this plugin is broken on purpose")\n', encoding="utf-8"
    )
    _dist(
        site,
        "netdsl-broken",
        "[netdsl.backends]\n"
        "broken = netdsl_broken:backend\n"
        "notabackend = netdsl_hello:generate\n"
        "missing = netdsl_not_there:backend\n",
    )
    yield site
    for name in PLUGIN_MODULES:
        sys.modules.pop(name, None)


def _netdsl(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env.pop("NETDSL_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "netdsl", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_the_example_package_declares_its_entry_point():
    text = _entry_points_of(PKG / "pyproject.toml")
    assert "[netdsl.backends]" in text and "hello = netdsl_hello:backend" in text


def test_discovery_in_process(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    found = discover()
    assert isinstance(found.backends["hello"], Backend)
    assert found.backends["hello"].extensions == ("hello",)
    for builtin in ("graphviz", "mermaid", "json"):
        assert builtin in found.backends
    assert "RuntimeError" in found.broken["broken"] and "on purpose" in found.broken["broken"]
    assert "not a netdsl Backend" in found.broken["notabackend"]
    assert "ModuleNotFoundError" in found.broken["missing"]
    assert not set(found.broken) & set(found.backends)


def test_cli_lists_the_plugin_and_reports_the_broken_ones(site):
    r = _netdsl(site, "backends")
    assert r.returncode == 0, r.stderr
    listed = {line.split()[0] for line in r.stdout.splitlines() if line and not line[0].isspace()}
    assert {"hello", "graphviz", "mermaid", "json"} <= listed
    assert "-O greeting=" in r.stdout
    for name in ("broken", "notabackend", "missing"):
        assert name not in listed
        assert re.search(rf"backend '{name}' .*broken", r.stderr), r.stderr
    assert "on purpose" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_uses_the_plugin(site):
    r = _netdsl(site, "compile", str(NETS / "lenet5.net"), "-b", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "hello, LeNet5: 14 layers"
    assert "conv 3" in r.stdout.splitlines()
    r = _netdsl(site, "compile", str(NETS / "lenet5.net"), "-b", "hello", "-O", "greeting=hi")
    assert r.returncode == 0 and r.stdout.startswith("hi, LeNet5")


def test_plugin_chosen_by_extension(site, tmp_path):
    out = tmp_path / "lenet.hello"
    r = _netdsl(site, "compile", str(NETS / "lenet5.net"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8").startswith("hello, LeNet5")


def test_broken_plugins_break_nothing_else(site, tmp_path):
    for ext in ("dot", "mmd", "json"):
        out = tmp_path / f"lenet.{ext}"
        r = _netdsl(site, "compile", str(NETS / "lenet5.net"), "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert out.stat().st_size > 0
    r = _netdsl(site, "compile", str(NETS / "lenet5.net"), "-b", "broken")
    assert r.returncode == 2
    assert "broken" in r.stderr and "on purpose" in r.stderr
    assert "Traceback" not in r.stderr
