"""Tensor types: sizes with named dimensions, of any rank (the batch stays implicit).

A TensorType is the sequence of a value's sizes, so arithmetic over shapes reads as
it always did (`t[0]`, `len(t)`, `numel(t)`), and it names what each dimension is:
`C×H×W` for a channels-first image, `H×W×C` channels-last, `L×D` a token sequence,
`D` a vector. Ops say which layouts they accept and what they produce; a mismatch is
reported with the names ("expected a C×H×W image, got a 197×768 sequence (L×D)").
"""

from __future__ import annotations

from collections.abc import Iterable

# Layouts with a name of their own, for messages: the dims spelled as one string.
KINDS = {
    "CHW": "image",
    "HWC": "channels-last image",
    "LD": "sequence",
    "D": "vector",
}

# The layout a declared input of each rank gets unless it says otherwise.
DEFAULT_LAYOUTS = {1: ("D",), 2: ("L", "D"), 3: ("C", "H", "W")}

CHW = ("C", "H", "W")
HWC = ("H", "W", "C")
LD = ("L", "D")
VECTOR = ("D",)


class TensorType(tuple):
    """The sizes of a tensor (without batch), each dimension named in `dims`."""

    dims: tuple[str, ...]

    def __new__(cls, sizes: Iterable[int], dims: Iterable[str] | None = None) -> TensorType:
        self = super().__new__(cls, sizes)
        names = tuple(dims) if dims is not None else default_dims(len(self))
        if len(names) != len(self):
            raise ValueError(f"{len(self)} sizes but {len(names)} dimension names")
        self.dims = names
        return self

    def __reduce__(self):
        return (TensorType, (tuple(self), self.dims))

    def __eq__(self, other) -> bool:
        if isinstance(other, TensorType):
            return tuple.__eq__(self, other) and self.dims == other.dims
        return tuple.__eq__(self, other)

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    @property
    def layout(self) -> str:
        """The dims as one string when every name is one letter ("CHW"), else joined by x."""
        return "".join(self.dims) if all(len(d) == 1 for d in self.dims) else "x".join(self.dims)

    def size(self, dim: str) -> int:
        return self[self.dims.index(dim)]

    def has(self, *dims: str) -> bool:
        return all(d in self.dims for d in dims)

    def with_dims(self, dims: Iterable[str]) -> TensorType:
        return TensorType(tuple(self), dims)

    def replace(self, **sizes: int) -> TensorType:
        """The same type with some named dims resized: t.replace(C=64)."""
        out = list(self)
        for name, n in sizes.items():
            out[self.dims.index(name)] = n
        return TensorType(out, self.dims)

    def sizes_text(self) -> str:
        return "×".join(str(d) for d in self) if self else "scalar"

    def dims_text(self) -> str:
        return "×".join(self.dims) if self.dims else "scalar"

    def describe(self) -> str:
        """For messages: "a 197×768 sequence (L×D)", "a 3×224×224 image (C×H×W)"."""
        kind = KINDS.get(self.layout, "tensor")
        return f"{article(kind)} {self.sizes_text()} {kind} ({self.dims_text()})"

    def __repr__(self) -> str:
        return f"TensorType({tuple(self)!r}, {self.dims!r})"


def default_dims(rank: int) -> tuple[str, ...]:
    return DEFAULT_LAYOUTS.get(rank, tuple(f"d{i}" for i in range(rank)))


def as_type(value: Iterable[int]) -> TensorType:
    """A type from sizes alone: the default layout of its rank; a type stays as it is."""
    if isinstance(value, TensorType):
        return value
    return TensorType(value)


def describe_layout(dims: tuple[str, ...]) -> str:
    """For messages: "a C×H×W image", "an L×D sequence"."""
    layout = "".join(dims) if all(len(d) == 1 for d in dims) else "x".join(dims)
    kind = KINDS.get(layout, "tensor")
    text = "×".join(dims)
    return f"{article(text)} {text} {kind}"


def article(word: str) -> str:
    # "an L×D", "an 8×8", "an image", "a C×H×W": by how the word is read aloud.
    first = word[:1]
    if first in "aeiouAEIOU" or first in "FHLMNRSX" or word.startswith(("8", "11", "18")):
        return "an"
    return "a"
