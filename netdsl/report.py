"""The `netdsl stats` report: rows (optionally folded by depth) in table, markdown, csv or json."""

from __future__ import annotations

import csv
import io
import json

from netdsl.ops.base import fmt_shape

COLUMNS = [
    ("name", "Layer"),
    ("op", "Op"),
    ("input", "Input"),
    ("output", "Output"),
    ("kernel", "Kernel"),
    ("stride", "Stride"),
    ("pad", "Pad"),
    ("filters", "Filters"),
    ("params", "Params"),
    ("macs", "MACs"),
    ("memory", "Memory"),
    ("rf", "RF"),
    ("connections", "Connections"),
]
_NUMERIC = {"params", "macs", "connections", "memory"}


def _pair(v) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"


def _rf(layer) -> str:
    rf = layer["receptive_field"]
    if rf is None:
        return "global"
    return _pair(rf)


def _mem(nbytes: int) -> str:
    if nbytes >= 1e6:
        return f"{nbytes / 1e6:.2f} MB"
    return f"{nbytes / 1e3:.1f} kB"


def _row(layer) -> dict:
    return {
        "name": layer["name"],
        "op": layer["op"],
        "input": ", ".join(fmt_shape(s) for s in layer["input_shapes"]),
        "output": fmt_shape(layer["output_shape"]),
        "kernel": _pair(layer["kernel"]),
        "stride": _pair(layer["stride"]),
        "pad": _pair(layer["pad"]),
        "filters": "" if layer["filters"] is None else str(layer["filters"]),
        "params": layer["params"],
        "macs": layer["macs"],
        "memory": layer["memory_bytes"],
        "rf": _rf(layer),
        "connections": layer["connections"],
    }


def fold(report: dict, depth: int | None, instances: dict) -> list[dict]:
    """Rows; with depth N, layers nested deeper than N levels become one subtotal row each."""
    rows: list[dict] = []
    by_prefix: dict[str, dict] = {}
    for layer in report["layers"]:
        parts = layer["name"].split(".")
        if depth is None or len(parts) <= depth:
            rows.append(_row(layer))
            continue
        prefix = ".".join(parts[:depth])
        row = by_prefix.get(prefix)
        if row is None:
            inst = instances.get(prefix)
            row = _row(layer)
            row.update(
                name=prefix,
                op=inst.block if inst else "group",
                kernel="",
                stride="",
                pad="",
                filters="",
                params=0,
                macs=0,
                connections=0,
            )
            by_prefix[prefix] = row
            rows.append(row)
        row["params"] += layer["params"]
        row["macs"] += layer["macs"]
        row["connections"] += layer["connections"]
        row["output"] = fmt_shape(layer["output_shape"])
        row["memory"] = layer["memory_bytes"]
        row["rf"] = _rf(layer)
    return rows


def _fmt_cell(key, value) -> str:
    if key == "memory":
        return _mem(value)
    if key in _NUMERIC:
        return f"{value:,}"
    return str(value)


def _mult_adds(macs: int) -> str:
    # torchinfo's unit choice, so figures can be compared at a glance
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if macs >= scale:
            return f"Total mult-adds ({unit}): {macs / scale:.2f}"
    return f"Total mult-adds (M): {macs / 1e6:.2f}"


def totals_lines(report: dict) -> list[str]:
    t = report["totals"]
    train = t.get("train_macs", t["macs"])
    return [
        f"Total params: {t['params']:,}",
        f"Trainable params: {t['trainable_params']:,}",
        f"Non-trainable params: {t['non_trainable_params']:,}",
        f"Buffers (e.g. batchnorm running stats): {t['buffers']:,}",
        _mult_adds(t["macs"]),
        f"MACs: {t['macs']:,}" + (" (eval forward)" if train != t["macs"] else ""),
        *(
            [f"MACs, training forward (with the aux heads): {train:,}"]
            if train != t["macs"]
            else []
        ),
        f"FLOPs (2 x MACs): {t['flops']:,}",
        f"Activations (elements, incl. inputs): {t['activations']:,}",
        None,
        f"Input size (MB): {t['input_size_mb']:.2f}",
        f"Forward/backward pass size (MB): {t['forward_backward_pass_size_mb']:.2f}",
        f"Params size (MB): {t['params_size_mb']:.2f}",
        f"Estimated Total Size (MB): {t['estimated_total_size_mb']:.2f}",
    ]


def _header(report: dict) -> str:
    ins = ", ".join(f"{k}: {fmt_shape(v)}" for k, v in report["inputs"].items())
    outs = ", ".join(f"{k}: {fmt_shape(v)}" for k, v in report["outputs"].items())
    return f"{report['network']}  (inputs {ins}; outputs {outs})"


def as_table(report: dict, rows: list[dict]) -> str:
    cells = [[_fmt_cell(k, r[k]) for k, _ in COLUMNS] for r in rows]
    heads = [h for _, h in COLUMNS]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]
    right = [k in _NUMERIC for k, _ in COLUMNS]

    def line(values):
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)
        ).rstrip()

    rule_len = sum(widths) + 2 * (len(widths) - 1)
    out = [_header(report), "=" * rule_len, line(heads), "-" * rule_len]
    out += [line(c) for c in cells]
    out.append("=" * rule_len)
    for t in totals_lines(report):
        out.append("-" * rule_len if t is None else t)
    out.append("=" * rule_len)
    return "\n".join(out) + "\n"


def as_markdown(report: dict, rows: list[dict]) -> str:
    heads = [h for _, h in COLUMNS]
    out = [f"### {_header(report)}", "", "| " + " | ".join(heads) + " |"]
    out.append("|" + "|".join("---:" if k in _NUMERIC else "---" for k, _ in COLUMNS) + "|")
    for r in rows:
        out.append(
            "| " + " | ".join(_fmt_cell(k, r[k]).replace("|", "\\|") for k, _ in COLUMNS) + " |"
        )
    out.append("")
    out += [f"- {t}" for t in totals_lines(report) if t is not None]
    return "\n".join(out) + "\n"


def as_csv(report: dict, rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([k for k, _ in COLUMNS])
    for r in rows:
        w.writerow([r[k] for k, _ in COLUMNS])
    return buf.getvalue()


def as_json(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


FORMATS = {"table": as_table, "markdown": as_markdown, "csv": as_csv}
