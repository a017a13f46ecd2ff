"""Lines of architecture code: netdsl's family files against torchvision's Python.

Counted the same way on both sides: non-blank lines that are not comments, with
Python docstrings left out and torchvision's `*_Weights` enums (download metadata, not
architecture) left out. Run: python benchmarks/line_counts.py [--markdown]
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ROOT / "networks"

# family: (torchvision module, our block files, our network file prefixes)
FAMILIES = {
    "AlexNet": ("alexnet", [], ["alexnet"]),
    "VGG": ("vgg", [], ["vgg"]),
    "GoogLeNet": ("googlenet", ["tv_googlenet"], ["googlenet"]),
    "ResNet, ResNeXt, Wide ResNet": ("resnet", ["resnet"], ["resnet", "resnext", "wide_resnet"]),
    "SqueezeNet": ("squeezenet", ["squeezenet"], ["squeezenet"]),
    "DenseNet": ("densenet", ["densenet"], ["densenet"]),
    "MobileNetV2": ("mobilenetv2", ["mobilenet"], ["mobilenet_v2"]),
    # torchvision's SqueezeExcitation lives in ops/misc.py; ours is counted here.
    "MobileNetV3": ("mobilenetv3", ["mobilenet_v3", "squeeze_excitation"], ["mobilenet_v3"]),
    # torchvision's efficientnet.py holds EfficientNetV2 too: its lines are all counted.
    "EfficientNet B0-B7": ("efficientnet", ["efficientnet"], ["efficientnet_b"]),
}


def net_lines(path: Path) -> int:
    return sum(
        1
        for line in path.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    )


def python_lines(path: Path) -> int:
    source = path.read_text()
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name.endswith("_Weights"):
            skip.update(range(node.lineno, node.end_lineno + 1))
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            skip.update(range(body[0].lineno, body[0].end_lineno + 1))
    code: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in (
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            code.update(range(tok.start[0], tok.end[0] + 1))
    return len(code - skip)


def rows() -> list[tuple[str, int, int, int]]:
    import torchvision.models as tvm

    out = []
    for family, (module, blocks, prefixes) in FAMILIES.items():
        tv = python_lines(Path(tvm.__file__).parent / f"{module}.py")
        files = [
            p
            for p in sorted((NETWORKS / "torchvision").glob("*.net"))
            if any(p.stem.startswith(x) for x in prefixes)
        ]
        ours = sum(net_lines(p) for p in files)
        ours += sum(net_lines(NETWORKS / "blocks" / f"{b}.net") for b in blocks)
        out.append((family, len(files), tv, ours))
    return out


def main() -> None:
    markdown = "--markdown" in sys.argv[1:]
    if markdown:
        print("| family | models | torchvision (lines) | netdsl (lines) | ratio |")
        print("|---|---:|---:|---:|---:|")
    for family, n, tv, ours in rows():
        if markdown:
            print(f"| {family} | {n} | {tv} | {ours} | {ours / tv:.2f} |")
        else:
            print(f"{family:32} {n:3} models  torchvision {tv:5}  netdsl {ours:4}  {ours / tv:.2f}")


if __name__ == "__main__":
    main()
