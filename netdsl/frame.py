"""Elaboration state shared by its parts: resource limits and the frame of one body."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netdsl import ast
from netdsl.diagnostics import Note, Span
from netdsl.ir import Scope
from netdsl.values import Tensor


@dataclass
class Limits:
    """Resource limits: a bad or hostile file fails fast with a clear error, never hangs.

    Loops are judged early: a loop whose first iterations show it is going to exceed a
    limit is refused then, not when the limit is finally reached (docs/errors.md, E7xx).
    """

    # Sized to what elaborates in a second or two (the largest torchvision model has a
    # few thousand layers; 100,000 cheap layers take ~3 s): a file past them fails at once.
    max_layers: int = 100_000  # layers after expansion (E701)
    max_block_depth: int = 50  # blocks instantiated inside blocks (E702)
    max_iterations: int = 200_000  # for/repeat iterations, all loops together (E707)
    warn_bytes: int = 10**9  # a tensor, or a layer's parameters, larger in fp32: W002/W003


# Block instantiation notes on one diagnostic, at most.
MAX_NOTES = 10
INT64_MAX = 2**63 - 1


@dataclass
class Frame:
    """One network body or block instance being elaborated."""

    prefix: str  # "" for the network, "layer1.0." inside that instance
    scope: tuple[Scope, ...]
    vars: dict[str, Any] = field(default_factory=dict)
    syms: dict[str, str | None] = field(default_factory=dict)
    in_tensor: Tensor | None = None
    block: ast.Block | None = None
    out: Any = None
    out_span: Span | None = None
    guards: list[tuple[str | None, bool]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def notes(self) -> list[Note]:
        notes = [
            Note(f"in block {s.block} '{s.path}' ({s.span})", s.span) for s in reversed(self.scope)
        ]
        if len(notes) > MAX_NOTES:  # the innermost and the outermost instances tell the story
            keep = MAX_NOTES // 2
            skipped = Note(f"... {len(notes) - 2 * keep} more enclosing blocks")
            notes = notes[:keep] + [skipped] + notes[-keep:]
        return notes
