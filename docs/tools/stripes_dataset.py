"""A small learnable image-classification set for the docs' example run (docs/training.md).

Class k is a grating of k + 1 stripes at a random phase and angle, with noise, as
32x32 greyscale PNGs in an ImageFolder tree: OUT/train/<class>/*.png, OUT/val/<class>/*.png.

    python docs/tools/stripes_dataset.py /tmp/stripes
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

from PIL import Image


def image(k: int, rng: random.Random) -> Image.Image:
    phase, angle = rng.uniform(0, 2 * math.pi), rng.uniform(-0.4, 0.4)
    c, s = math.cos(angle), math.sin(angle)
    pixels = []
    for y in range(32):
        for x in range(32):
            u = (x * c + y * s) / 32
            v = 0.5 + 0.4 * math.sin(2 * math.pi * (k + 1) * u + phase) + rng.gauss(0, 0.25)
            pixels.append(max(0, min(255, int(255 * v))))
    img = Image.new("L", (32, 32))
    img.putdata(pixels)
    return img


def main(out: str, train: int = 200, val: int = 50) -> None:
    rng = random.Random(0)
    for part, n in (("train", train), ("val", val)):
        for k in range(10):
            folder = Path(out) / part / f"class{k}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                image(k, rng).save(folder / f"{i}.png")


if __name__ == "__main__":
    main(sys.argv[1])
