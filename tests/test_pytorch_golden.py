"""Golden files of the PyTorch backend: the generated code of every network under
networks/ (blocks/ excepted), compared byte for byte.

Regenerate them with `pytest tests/test_pytorch_golden.py --update-golden` and
review the diff. A network without a golden file fails, and so does a golden
file whose network is gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from netdsl.backends.pytorch import generate

from netdsl.api import load

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ROOT / "networks"
GOLDEN = Path(__file__).resolve().parent / "golden" / "pytorch"
NETWORK_FILES = sorted(
    p for p in NETWORKS.rglob("*.net") if "blocks" not in p.relative_to(NETWORKS).parts
)


def golden_name(path: Path) -> str:
    """networks/torchvision/resnet50.net -> torchvision__resnet50.py"""
    return "__".join(path.relative_to(NETWORKS).with_suffix("").parts) + ".py"


@pytest.mark.parametrize("path", NETWORK_FILES, ids=lambda p: str(p.relative_to(NETWORKS)))
def test_golden(path, request):
    text = generate(load(str(path)), {}, "py")
    golden = GOLDEN / golden_name(path)
    if request.config.getoption("--update-golden"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(text.encode("utf-8"))
        return
    assert golden.exists(), f"no golden file {golden.name}; run pytest --update-golden"
    assert golden.read_bytes() == text.encode("utf-8"), (
        f"generated code differs from {golden.name}; if the change is intended, "
        "run pytest --update-golden and review the diff"
    )


def test_no_stale_golden_files(request):
    expected = {golden_name(p) for p in NETWORK_FILES}
    present = {p.name for p in GOLDEN.glob("*.py")} if GOLDEN.exists() else set()
    stale = present - expected
    if request.config.getoption("--update-golden"):
        for name in stale:
            (GOLDEN / name).unlink()
        return
    assert not stale, f"golden files without a network: {sorted(stale)}"
