"""Output equality of every torchvision mirror against torchvision (the suite checks one
or two per family; this checks them all).

    python benchmarks/zoo_outputs.py [NAME ...] [--size 224] [--atol 1e-5]

Each mirror under networks/torchvision/ is compiled with the PyTorch backend, loads the
state_dict of torchvision's model (random weights and random batch-norm statistics),
and both run in eval mode on the same random batch. Prints the largest absolute
difference per model; exits 1 if any exceeds the tolerance.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import torch  # noqa: E402
import zoo  # noqa: E402  (tests/zoo.py)
from netdsl.backends.pytorch import generate  # noqa: E402

from netdsl.api import load  # noqa: E402

NETWORKS = ROOT / "networks" / "torchvision"


def generated_module(name: str, folder: Path):
    file = folder / f"gen_{name}.py"
    file.write_text(generate(load(str(NETWORKS / f"{name}.net")), {}, "py"))
    spec = importlib.util.spec_from_file_location(f"gen_{name}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def difference(name: str, folder: Path, size: int | None) -> float:
    module = generated_module(name, folder)
    reference = zoo.build(name, device="cpu")
    with torch.device("meta"):
        ours = module.create_model()
    ours = ours.to_empty(device="cpu").eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    size = size or zoo.crop_size(name)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return (ours(x) - reference(x)).abs().max().item()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mirrors to check (default: all)")
    parser.add_argument("--size", type=int, help="input size (default: the weights' crop size)")
    parser.add_argument("--atol", type=float, default=1e-5)
    args = parser.parse_args()
    names = args.names or sorted(p.stem for p in NETWORKS.glob("*.net"))
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            start = time.perf_counter()
            diff = difference(name, Path(folder), args.size)
            ok = diff <= args.atol
            failed += not ok
            print(
                f"{name:24} max |diff| {diff:.2e}  {'ok' if ok else 'FAIL'}"
                f"  ({time.perf_counter() - start:.1f} s)",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
