"""Every built-in backend knows every op: a row in its table, or declared unsupported.

Adding an op to the registry without teaching each backend fails here, naming the
backend and the op. A backend that writes the IR itself (json) declares no table.
"""

from __future__ import annotations

import pytest

from netdsl.api import load
from netdsl.diagnostics import NetdslError
from netdsl.ops import OPS
from netdsl.plugins import Backend, discover

BUILT_IN = ("pytorch", "graphviz", "mermaid", "json")
GENERIC = {"json"}  # writes the IR: any op


def backends() -> dict[str, Backend]:
    found = discover().backends
    missing = [b for b in BUILT_IN if b not in found]
    assert not missing, f"built-in backends not installed: {missing}"
    return {name: found[name] for name in BUILT_IN}


@pytest.mark.parametrize("name", BUILT_IN)
def test_backend_knows_every_op(name):
    backend = backends()[name]
    if name in GENERIC:
        assert backend.ops is None
        return
    assert backend.ops is not None, f"{name} declares no op table"
    unknown = [op for op in OPS if op not in backend.ops and op not in backend.unsupported]
    assert not unknown, f"the {name} backend has no entry for {unknown}"
    stale = [op for op in [*backend.ops, *backend.unsupported] if op not in OPS]
    assert not stale, f"the {name} backend has rows for ops that do not exist: {stale}"


def test_unsupported_op_is_a_clear_error(tmp_path):
    path = tmp_path / "n.net"
    path.write_text("network N {\n    input x: 3x8x8\n    out y = x -> conv(4, 3) -> relu\n}\n")
    G = load(str(path))
    backend = Backend(
        name="toy",
        description="",
        extensions=(),
        generate=lambda *a: "",
        ops={"conv"},
        unsupported={},
    )
    with pytest.raises(NetdslError) as err:
        backend.check_ops(G)
    d = err.value.diagnostics[0]
    assert d.code == "E822"
    assert "toy backend cannot write op 'relu'" in d.message and "layer 'relu'" in d.message
    assert (d.span.line, d.span.col) == (3, 32)  # the relu of line 3
