"""docs/ops.md is tested against the registry: every op is documented, and every
signature the page shows is the op's real one (names, order, defaults)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netdsl.api import literal
from netdsl.ops import OPS
from netdsl.ops.base import REQUIRED

PAGE = (Path(__file__).resolve().parent.parent / "docs" / "ops.md").read_text(encoding="utf-8")
HEADINGS = re.findall(r"^## (.+)$", PAGE, flags=re.M)
# `name(arg, arg=default, ...)` as the page writes a signature, in backticks.
SIGNATURE = re.compile(r"`([a-z_0-9]+)\(([^`]*)\)`")


def documented_names() -> set[str]:
    names = set()
    for heading in HEADINGS:
        names |= {part.strip() for part in heading.split(",")}
    return names


def test_every_op_has_a_section():
    missing = sorted(set(OPS) - documented_names())
    assert not missing, f"docs/ops.md has no section for {missing}"


def signatures() -> dict[str, str]:
    """The first signature of each op inside the op's own section."""
    found: dict[str, str] = {}
    for section in re.split(r"^## ", PAGE, flags=re.M)[1:]:
        heading, _, body = section.partition("\n")
        names = {part.strip() for part in heading.split(",")}
        for name, params in SIGNATURE.findall(body):
            if name in names:
                found.setdefault(name, params)
    return found


@pytest.mark.parametrize("name", sorted(n for n in OPS if OPS[n].args))
def test_signature_matches_the_registry(name):
    shown = signatures().get(name)
    assert shown is not None, f"docs/ops.md shows no signature `{name}(...)`"
    parts = [p.strip() for p in shown.split(",") if p.strip()]
    op = OPS[name]
    assert [p.split("=")[0].strip() for p in parts] == [a.name for a in op.args], shown
    for part, arg in zip(parts, op.args, strict=True):
        if "=" not in part:
            assert arg.default is REQUIRED, f"{name}: '{arg.name}' has a default"
            continue
        value = literal(part.split("=", 1)[1].strip())
        assert arg.default is not REQUIRED, f"{name}: '{arg.name}' is required"
        assert value == arg.default, f"{name}: {arg.name} documented {value!r}, is {arg.default!r}"
