"""Synthetic .net networks of any size, for the scaling benchmark (issue 6, target 3).

Two families, each in two forms:

  residual   a stack of residual units (conv-bn-relu-conv-bn, identity shortcut,
             add, relu): long chains, one merge per unit;
  inception  a stack of Inception-like units (four branches joined by concat):
             wide fan-out and fan-in;

  flat       written out: every unit spelled in full on its own lines, no blocks
             (stresses the parser, name allocation and the IR's size);
  repeat     blocks instantiated in a loop: `repeat K { Unit(c) }` for the
             residual stack, `for i in range(K) { x = x -> Unit(c) }` for the
             Inception stack (stresses block instantiation and scopes).

Every generator returns the .net text and the exact number of layers it
elaborates to (IR nodes that are not inputs; what `netdsl stats` calls
layers), so a test can check the generator and a benchmark can report time
per layer. Sizes are hit exactly: the remainder is padded with ReLUs.

    python benchmarks/synthetic.py residual 10000 --form flat -o /tmp/r10k.net
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

# Layers outside the repeated units: the stem conv and the head
# (global_avgpool -> flatten -> linear).
_STEM = 1
_HEAD = 3


@dataclass(frozen=True)
class Synthetic:
    family: str
    form: str
    text: str
    layers: int  # layers the network elaborates to (non-input IR nodes)
    units: int  # repeated units

    @property
    def lines(self) -> int:
        return self.text.count("\n")


# --------------------------------------------------------------- residual
_RES_UNIT = 7  # conv, batchnorm, relu, conv, batchnorm, add, relu

_RES_BLOCK = """\
block Res(c) {
    x = in -> conv(c, 3, pad=1, bias=false) -> batchnorm -> relu
           -> conv(c, 3, pad=1, bias=false) -> batchnorm
    out relu(x + in)
}
"""


def _split(layers: int, unit: int) -> tuple[int, int]:
    """(units, padding ReLUs) so that stem + head + units*unit + padding == layers."""
    body = layers - _STEM - _HEAD
    if body < 0:
        raise ValueError(f"at least {_STEM + _HEAD} layers")
    return body // unit, body % unit


def residual(layers: int, form: str = "flat", channels: int = 16, size: int = 8) -> Synthetic:
    units, pad = _split(layers, _RES_UNIT)
    c = channels
    out = [f"# synthetic residual stack: {layers} layers, {units} units, form {form}"]
    if form == "repeat":
        out.append(_RES_BLOCK)
    out.append(f"network Residual{layers}(classes=10) {{")
    out.append(f"    input image: {c}x{size}x{size}")
    out.append(f"    x = image -> conv({c}, 3, pad=1) as stem")
    if pad:
        out.append(f"    x = x -> repeat {pad} {{ relu }}")
    if form == "flat":
        for i in range(units):
            out.append(f"    s = x  # unit {i}")
            out.append(
                f"    x = x -> conv({c}, 3, pad=1, bias=false) as u{i}_conv1"
                f" -> batchnorm as u{i}_bn1 -> relu as u{i}_relu1"
            )
            out.append(
                f"          -> conv({c}, 3, pad=1, bias=false) as u{i}_conv2"
                f" -> batchnorm as u{i}_bn2"
            )
            out.append("    x = relu(x + s)")
    elif form == "repeat":
        if units:
            out.append(f"    x = x -> repeat {units} {{ Res({c}) }}")
    else:
        raise ValueError(f"unknown form {form!r}")
    out.append("    out logits = x -> global_avgpool -> flatten -> linear(classes) as fc")
    out.append("}")
    return Synthetic("residual", form, "\n".join(out) + "\n", layers, units)


# -------------------------------------------------------------- inception
# conv-relu | conv-relu-conv-relu | conv-relu-conv-relu | maxpool-conv-relu, concat
_INC_UNIT = 14

_INC_BLOCK = """\
block Inc(c) {
    b1 = in -> conv(c, 1) -> relu
    b2 = in -> conv(c, 1) -> relu -> conv(c, 3, pad=1) -> relu
    b3 = in -> conv(c, 1) -> relu -> conv(c, 5, pad=2) -> relu
    b4 = in -> maxpool(3, stride=1, pad=1) -> conv(c, 1) -> relu
    out concat(b1, b2, b3, b4)
}
"""


def inception(layers: int, form: str = "flat", channels: int = 8, size: int = 8) -> Synthetic:
    units, pad = _split(layers, _INC_UNIT)
    c = channels
    out = [f"# synthetic Inception-like stack: {layers} layers, {units} units, form {form}"]
    if form == "repeat":
        out.append(_INC_BLOCK)
    out.append(f"network Inception{layers}(classes=10) {{")
    out.append(f"    input image: 3x{size}x{size}")
    out.append(f"    x = image -> conv({4 * c}, 3, pad=1) as stem")
    if pad:
        out.append(f"    x = x -> repeat {pad} {{ relu }}")
    if form == "flat":
        for i in range(units):
            p = f"m{i}_"
            out.append(f"    b1 = x -> conv({c}, 1) as {p}b1 -> relu as {p}b1r  # unit {i}")
            out.append(
                f"    b2 = x -> conv({c}, 1) as {p}b2a -> relu as {p}b2ar"
                f" -> conv({c}, 3, pad=1) as {p}b2b -> relu as {p}b2br"
            )
            out.append(
                f"    b3 = x -> conv({c}, 1) as {p}b3a -> relu as {p}b3ar"
                f" -> conv({c}, 5, pad=2) as {p}b3b -> relu as {p}b3br"
            )
            out.append(
                f"    b4 = x -> maxpool(3, stride=1, pad=1) as {p}b4p"
                f" -> conv({c}, 1) as {p}b4 -> relu as {p}b4r"
            )
            out.append(f"    x = concat(b1, b2, b3, b4) as {p}cat")
    elif form == "repeat":
        if units:
            out.append(f"    for i in range({units}) {{")
            out.append(f"        x = x -> Inc({c})")
            out.append("    }")
    else:
        raise ValueError(f"unknown form {form!r}")
    out.append("    out logits = x -> global_avgpool -> flatten -> linear(classes) as fc")
    out.append("}")
    return Synthetic("inception", form, "\n".join(out) + "\n", layers, units)


FAMILIES = {"residual": residual, "inception": inception}
FORMS = ("flat", "repeat")


def generate(family: str, layers: int, form: str = "flat") -> Synthetic:
    try:
        fn = FAMILIES[family]
    except KeyError:
        raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}") from None
    return fn(layers, form)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("family", choices=sorted(FAMILIES))
    ap.add_argument("layers", type=int)
    ap.add_argument("--form", choices=FORMS, default="flat")
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args(argv)
    net = generate(a.family, a.layers, a.form)
    if a.output == "-":
        sys.stdout.write(net.text)
    else:
        with open(a.output, "w", encoding="utf-8") as f:
            f.write(net.text)
        print(f"{a.output}: {net.layers:,} layers, {net.units:,} units, {net.lines:,} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
