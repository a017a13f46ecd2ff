"""The op registry: every operation netdsl knows, defined once.

OPS maps an op's name to its OpDef (see netdsl.ops.base for what one says).
Adding an op: define it in one of the modules below and list it in its OPS.
"""

from __future__ import annotations

import difflib

from netdsl.ops import activation, conv, linear, merge, norm, pool, tensor
from netdsl.ops.base import OpDef, OpError

OPS: dict[str, OpDef] = {
    op.name: op
    for module in (conv, linear, pool, norm, activation, tensor, merge)
    for op in module.OPS
}


def get_op(name: str) -> OpDef:
    """The op called `name`, or an OpError suggesting the closest known name."""
    try:
        return OPS[name]
    except KeyError:
        close = difflib.get_close_matches(name, OPS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known ops: {', '.join(sorted(OPS))}"
        raise OpError("E201", f"unknown op '{name}'", hint=hint) from None


__all__ = ["OPS", "OpDef", "OpError", "get_op"]
