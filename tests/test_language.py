"""The language: each construct elaborates to the graph a reader expects.

Expected shapes and counts are hand arithmetic in each test.
"""

import pytest

from netdsl.api import literal, load
from netdsl.diagnostics import NetdslError
from netdsl.ir import inputs_of, lint
from netdsl.stats import analyse


def build(text, **kw):
    G = load("t.net", text=text, **kw)
    lint(G)
    return G


def error_of(text, **kw):
    with pytest.raises(NetdslError) as exc:
        load("t.net", text=text, **kw)
    return exc.value.diagnostics[0]


def test_chain_names_and_shapes():
    G = build("""
    network N {
        input image: 3x32x32          # comment
        x = image -> conv(8, 3, pad=1) as c1 -> relu -> maxpool(2)
        out y = x -> flatten -> linear(10) as fc
    }""")
    assert list(G) == ["image", "c1", "relu", "maxpool", "flatten", "fc"]
    assert G.nodes["c1"]["shape"] == (8, 32, 32)
    assert G.nodes["maxpool"]["shape"] == (8, 16, 16)
    assert G.nodes["flatten"]["shape"] == (8 * 16 * 16,)
    assert G.nodes["fc"]["shape"] == (10,)
    assert G.graph["outputs"][0]["name"] == "y"
    span = G.nodes["c1"]["span"]
    assert (span.line, span.col) == (4, 22)


def test_auto_names_are_deduplicated():
    G = build("""
    network N { input x: 4x8x8
        out y = x -> relu -> relu -> conv(4, 1) -> relu }""")
    assert [n for n in G if n != "x"] == ["relu", "relu_1", "conv", "relu_2"]


def test_group_numbering_like_sequential():
    G = build("""
    network N { input x: 3x16x16
        out y = x -> [conv(4, 3, pad=1), relu, conv(4, 3) -> relu, maxpool(2)] as features }""")
    # compositions flatten into the group
    assert [n for n in G if n != "x"] == [f"features.{i}" for i in range(5)]
    assert G.graph["groups"]["features"].members == [f"features.{i}" for i in range(5)]
    assert G.nodes["features.4"]["shape"] == (4, 7, 7)  # 16 -> 16 -> (16-2)=14 -> pool 7


def test_a_list_inside_a_list_is_a_numbered_member():
    G = build("""
    network N { input x: 3x16x16
        blocks = for c in [4, 8] { [conv(c, 3, pad=1, bias=false), batchnorm, relu] }
        out y = x -> [[conv(4, 1), relu], blocks, [[conv(8, 1)], maxpool(2)]] as features }""")
    # Brackets make an nn.Sequential, inside another one too (features.0.0.weight); what
    # a `for` makes is spliced in, and the bracketed lists in it are members again.
    assert [n for n in G if n != "x"] == [
        "features.0.0", "features.0.1",
        "features.1.0", "features.1.1", "features.1.2",
        "features.2.0", "features.2.1", "features.2.2",
        "features.3.0.0", "features.3.1",
    ]  # fmt: skip
    assert G.graph["groups"]["features"].members == [f"features.{i}" for i in range(4)]
    assert G.graph["groups"]["features.3"].members == ["features.3.0", "features.3.1"]
    assert G.nodes["features.3.1"]["shape"] == (8, 8, 8)


def test_an_if_not_taken_adds_nothing_to_a_list():
    text = """
    network N(expand=1) { input x: 3x8x8
        out y = x -> [if expand != 1 { [conv(6, 1), relu] }, [conv(4, 3, pad=1), relu], conv(2, 1)]
            as conv }"""
    assert [n for n in build(text) if n != "x"] == ["conv.0.0", "conv.0.1", "conv.1"]
    G = build(text, defines={"expand": "2"})
    assert [n for n in G if n != "x"] == [
        "conv.0.0", "conv.0.1", "conv.1.0", "conv.1.1", "conv.2"
    ]  # fmt: skip


def test_repeat_and_for_in_groups():
    G = build("""
    network N { input x: 3x32x32
        cfg = [8, "M", 16, 16, "M"]
        y = x -> [for v in cfg { if v == "M" { maxpool(2) } else { conv(v, 3, pad=1) -> relu } }]
            as features
        out z = y -> [repeat 2 { conv(16, 1) }] as tail }""")
    names = [n for n in G if n.startswith("features.")]
    # 8: conv relu; M: pool; 16: conv relu; 16: conv relu; M: pool -> 8 members
    assert len(names) == 8
    assert G.nodes["features.7"]["op"] == "maxpool"
    assert G.nodes["features.7"]["shape"] == (16, 8, 8)
    assert [n for n in G if n.startswith("tail.")] == ["tail.0", "tail.1"]


def test_block_with_defaults_scope_and_in_shape():
    G = build("""
    block Res(planes, stride=1) {
        x = in -> conv(planes, 3, stride=stride, pad=1) as conv1 -> relu
        skip = in
        if stride != 1 or in.channels != planes {
            skip = in -> conv(planes, 1, stride=stride) as proj
        }
        out relu(x + skip)
    }
    network N { input x: 4x8x8
        out y = x -> Res(4) as a -> Res(8, stride=2) as b }""")
    assert "a.proj" not in G and "b.proj" in G
    assert G.nodes["b.conv1"]["shape"] == (8, 4, 4)
    assert [s.path for s in G.nodes["b.conv1"]["scope"]] == ["b"]
    inst = G.graph["instances"]["b"]
    assert inst.block == "Res" and inst.args == {"planes": 8, "stride": 2}
    assert inputs_of(G, "b.add") == ["b.conv1" if False else "b.relu", "b.proj"]
    # symbolic forms for code generation
    assert G.nodes["b.conv1"]["sym"]["filters"] == "planes"
    assert G.nodes["b.proj"]["guard"][0][0] == "(stride != 1) or (in_channels != planes)"


def test_concat_order_is_exact_and_channels_sum():
    G = build("""
    network N { input x: 8x10x10
        a = x -> conv(3, 1) as a
        b = x -> conv(5, 3, pad=1) as b
        c = x -> maxpool(3, stride=1, pad=1) as c
        out y = concat(c, a, b) as cat }""")
    assert G.nodes["cat"]["shape"] == (8 + 3 + 5, 10, 10)
    assert inputs_of(G, "cat") == ["c", "a", "b"]


def test_layer_composition_values_and_name_templates():
    G = build("""
    network N { input x: 3x8x8
        stem = conv(4, 3, pad=1) -> relu
        y = x
        for i in [1, 2] { y = y -> [stem] as "stage{i}" }
        out z = y }""")
    assert {"stage1.0", "stage1.1", "stage2.0", "stage2.1"} <= set(G)


def test_arithmetic_and_parameters_from_cli():
    G = build(
        """
    network N(classes=10, width=2) { input x: 3x4x4
        out y = x -> flatten -> linear(classes * width // 2 + 2 ** 2 - 10 % 3) as fc }""",
        defines={"classes": 20},
    )
    assert G.nodes["fc"]["shape"] == (20 * 2 // 2 + 4 - 1,)
    assert G.graph["params"] == {"classes": 20, "width": 2}


def test_input_override():
    G = build("network N { input x: 3x32x32\n out y = x -> conv(2, 5) }", inputs={"x": (3, 10, 10)})
    assert G.nodes["conv"]["shape"] == (2, 6, 6)


def test_aux_outputs_carry_weight():
    G = build("""
    network N { input x: 3x8x8
        f = x -> conv(4, 3) as c
        aux(0.3) side = f -> flatten -> linear(2) as head
        out main = f -> global_avgpool -> flatten -> linear(2) as fc }""")
    outs = {o["name"]: o for o in G.graph["outputs"]}
    assert outs["side"]["aux"] and outs["side"]["weight"] == 0.3
    assert not outs["main"]["aux"]


def test_import_blocks_from_another_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.net").write_text(
        "block Twice(c) { out in -> conv(c, 1) -> conv(c, 1) }"
    )
    main = tmp_path / "main.net"
    main.write_text(
        'import "lib/blocks.net"\nnetwork N { input x: 2x4x4\n out y = x -> Twice(3) as t }'
    )
    G = load(str(main))
    assert G.nodes["t.conv_1"]["shape"] == (3, 4, 4)


def test_unused_layers_are_pruned_with_a_warning():
    G = build("""network N { input x: 3x4x4
        dead = x -> conv(2, 1) as dead
        out y = x -> relu }""")
    assert "dead" not in G
    assert any("dead" in w.message for w in G.graph["warnings"])


def test_init_rules_recorded():
    G = build("""network N { input x: 3x4x4
        init conv(weight=kaiming_normal(mode="fan_out", nonlinearity="relu"), bias=0)
        out y = x -> conv(2, 1) }""")
    rule = G.graph["init"][0]
    assert rule["op"] == "conv"
    assert rule["weight"] == {
        "fn": "kaiming_normal",
        "args": {"a": 0.0, "mode": "fan_out", "nonlinearity": "relu"},
    }
    assert rule["bias"] == {"fn": "constant", "args": {"value": 0.0}}


def test_three_stacked_3x3_convs_see_7x7():
    G = build("network N { input x: 1x32x32\n out y = x -> repeat 3 { conv(1, 3) } }")
    layers = analyse(G)["layers"]
    assert [row["receptive_field"] for row in layers] == [[3, 3], [5, 5], [7, 7]]


def test_receptive_field_through_branches_is_the_largest():
    G = build("""network N { input x: 1x32x32
        a = x -> conv(1, 3, pad=1) -> conv(1, 3, pad=1)
        b = x -> conv(1, 1)
        out y = a + b as sum }""")
    rows = {r["name"]: r for r in analyse(G)["layers"]}
    assert rows["sum"]["receptive_field"] == [5, 5]


def test_lazy_repeat_of_a_billion_layers_fails_fast():
    import time

    start = time.perf_counter()
    d = error_of(
        "network N { input x: 1x8x8\n out y = x -> repeat 100000 { repeat 10000 { relu } } }"
    )
    assert d.code == "E701"
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    "text, code, line, col",
    [
        ("network N { input x: 3x8x8\n out y = x -> conv(4, 3, strid=2) }", "E202", 2, 26),
        ("network N { input x: 3x8x8\n out y = x -> cnv(4, 3) }", "E201", 2, 15),
        ("network N { input x: 3x8x8\n out y = x -> conv(4, 3, stride=0) }", "E305", 2, 26),
        ("network N { input x: 3x8x8\n out y = x -> flatten -> conv(4, 3) }", "E401", 2, 26),
        ("network N { input x: 3x8x8\n out y = x -> conv(4, 3 }", "E101", 2, 25),
        (
            "network N { input x: 3x8x8\n a = x -> conv(4, 1)\n b = x -> conv(5, 1)\n"
            " out y = a + b }",
            "E401",
            4,
            10,
        ),
    ],
)
def test_errors_point_at_the_culprit(text, code, line, col):
    d = error_of(text)
    assert (d.code, d.span.line, d.span.col) == (code, line, col)
    assert d.hint or d.code in ("E401", "E305")


def test_did_you_mean_for_misspelt_names():
    d = error_of("network N { input x: 3x8x8\n out y = x -> conv(4, 3) -> rleu }")
    assert d.hint == "did you mean 'relu'?"


def test_shape_error_inside_block_names_the_instantiation_chain():
    d = error_of("""
    block Inner(c) { out in -> conv(c, 9) }
    block Outer(c) { out in -> Inner(c) as inner }
    network N { input x: 3x8x8
        out y = x -> Outer(4) as outer }""")
    assert d.code == "E401"
    notes = [n.message for n in d.notes]
    blocks = [n for n in notes if n.startswith("in block")]
    assert blocks[0].startswith("in block Inner 'outer.inner'")
    assert blocks[1].startswith("in block Outer 'outer'")
    assert any("3x8x8" in n for n in notes)


def test_recursion_is_an_error():
    d = error_of("block A(c) { out in -> A(c) }\nnetwork N { input x: 1x4x4\n out y = x -> A(1) }")
    assert d.code == "E505"


def test_duplicate_names():
    d = error_of("network N { input x: 1x4x4\n out y = x -> relu as a -> relu as a }")
    assert d.code == "E203"


@pytest.mark.parametrize(
    "text, value",
    [
        ("10", 10),
        ("0.5", 0.5),
        ("true", True),
        ('"same"', "same"),
        ("(1, 2)", (1, 2)),
        ("3x32x32", (3, 32, 32)),
        ("-4", -4),
    ],
)
def test_cli_literals(text, value):
    assert literal(text) == value


def test_bad_cli_literal():
    with pytest.raises(NetdslError):
        literal("conv(")


def test_repeat_with_assignments_inside_if_runs_every_time():
    G = build("""network N { input i: 3x8x8
        x = i
        repeat 3 { if true { x = x -> relu } }
        out y = x }""")
    assert [n for n in G if n != "i"] == ["relu", "relu_1", "relu_2"]


def test_the_suite_lints_every_ir():
    import os

    from netdsl.ir import IRError

    assert os.environ.get("NETDSL_LINT") == "1"
    G = build("network N { input x: 1x4x4\n out y = x -> relu }")
    G.nodes["relu"]["shape"] = (0,)
    G.graph["passes"].clear()  # as if a pass had just rewritten the graph
    with pytest.raises(IRError):
        analyse(G)


def test_lint_reinfers_types():
    from netdsl.ir import IRError, lint
    from netdsl.types import TensorType

    G = build("network N { input x: 3x8x8\n out y = x -> conv(4, 3) -> relu }")
    lint(G)
    # Right sizes, wrong dimension names: the op infers C×H×W, so lint refuses it.
    G.nodes["relu"]["shape"] = TensorType((4, 6, 6), ("H", "W", "C"))
    with pytest.raises(IRError, match="infers"):
        lint(G)
    G.nodes["relu"]["shape"] = TensorType((4, 6, 6), ("C", "H", "W"))
    G.graph["groups"]["g"] = type("G", (), {"members": ["missing"]})()
    with pytest.raises(IRError, match="unknown member"):
        lint(G)


def _make_divisible(v, divisor, min_value=None):
    # torchvision.models._utils._make_divisible, copied: the reference
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


@pytest.mark.parametrize("v", [3, 16, 24.5, 32 * 0.75, 1280 * 1.1, 96 * 0.35, 20, 1.0, 7 * 0.5])
@pytest.mark.parametrize("divisor", [1, 4, 8])
def test_make_divisible_is_torchvisions(v, divisor):
    G = build(f"""
    network N {{ input x: 3x4x4
        out y = x -> conv(make_divisible({v}, {divisor}), 1) }}""")
    assert G.nodes["conv"]["shape"][0] == _make_divisible(v, divisor)


def test_round_is_pythons():
    G = build("""
    network N { input x: 3x4x4
        out y = x -> conv(round(2.5) + round(3.5) * 10 + round(4.4) * 100, 1) }""")
    assert G.nodes["conv"]["shape"][0] == 2 + 40 + 400


def test_tensor_products_broadcast_a_gate():
    # Squeeze-and-excitation: a 16x1x1 gate times 16x8x8 maps is 16x8x8; the product
    # and a broadcast sum are merge nodes with both tensors as inputs.
    G = build("""
    network N {
        input image: 3x8x8
        x = image -> conv(16, 3, pad=1) as c
        g = x -> adaptive_avgpool(1) -> conv(16, 1) as fc -> sigmoid
        y = x * g as gated
        out z = (y + g) -> flatten
    }""")
    assert G.nodes["gated"]["op"] == "mul"
    assert G.nodes["gated"]["shape"] == (16, 8, 8)
    assert set(inputs_of(G, "gated")) == {"c", "sigmoid"}
    assert G.nodes["flatten"]["shape"] == (16 * 8 * 8,)


def test_tensor_products_need_agreeing_sizes():
    d = error_of("""
    network N {
        input image: 3x8x8
        a = image -> conv(16, 1)
        b = image -> conv(8, 1) -> adaptive_avgpool(1)
        out y = a * b
    }""")
    assert d.code == "E401"
    assert "mul needs inputs of one shape, got 16x8x8, 8x1x1 (sizes of 1 broadcast)" in d.message
    assert "gate" in d.hint
    d = error_of("""
    network N {
        input image: 3x8x8
        out y = image * 2
    }""")
    assert "multiplied by tensors" in d.hint


def test_a_bracket_opening_a_line_starts_an_expression():
    # Newlines do not end statements, but `(` or `[` at the start of a line begins a
    # new expression where one may begin: the last line is the body's value, a tuple
    # (not a call of `i + 1`), and the list is the value (not an index of sum(...)).
    G = build("""
    network N {
        input image: 3x8x8
        pairs = for i in range(3) {
            j = i + 1
            (i, j)
        }
        depths = [1, 2]
        x = image -> [
            for i in range(2) {
                first = sum(for k in range(i) { depths[k] })
                [for j in range(depths[i]) { conv(8 + first + j, 1) }]
            },
        ] as f
        out y = x -> conv(pairs[2][1], 1)
    }""")
    assert [G.nodes[n]["shape"][0] for n in ("f.0.0", "f.1.0", "f.1.1", "conv")] == [8, 9, 10, 3]


def test_a_call_or_an_index_continues_its_line():
    G = build("""
    network N(ws = [4, 6]) {
        input image: 3x8x8
        out y = image -> conv(ws[
            1], 3, pad=1) -> conv(max(
            2, 5), 1)
    }""")
    assert G.nodes["conv"]["shape"] == (6, 8, 8)
    assert G.nodes["conv_1"]["shape"] == (5, 8, 8)


def test_stage_table_helpers():
    # EfficientNet's depth scaling: ceil(n * depth); sum of nothing is 0, as Python's.
    G = build("""
    network N {
        input image: 3x8x8
        out y = image -> conv(ceil(2 * 1.1) + floor(2.9) + sum([]) + sum(for i in [] { i }), 1)
    }""")
    assert G.nodes["conv"]["shape"] == (3 + 2, 8, 8)
