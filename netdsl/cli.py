"""The `netdsl` command line."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import click

from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.output import write_output

_SHARED = [
    click.argument("file", type=click.Path(dir_okay=False, allow_dash=True)),
    click.option(
        "-D",
        "--define",
        "defines",
        multiple=True,
        metavar="NAME=VALUE",
        help="Override a network parameter, e.g. -D classes=10.",
    ),
    click.option(
        "--input",
        "inputs",
        multiple=True,
        metavar="NAME=SHAPE",
        help="Override an input's shape, e.g. --input image=3x32x32.",
    ),
    click.option("--network", default=None, help="Network to use when the file defines several."),
    click.option(
        "--max-layers",
        type=click.IntRange(min=1),
        default=2_000_000,  # netdsl.elaborate.Limits.max_layers
        show_default=True,
        help="Refuse networks that expand to more layers than this.",
    ),
]


def shared(f):
    for decorator in reversed(_SHARED):
        f = decorator(f)
    return f


def _pairs(items, what):
    from netdsl.api import literal

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=what)
        out[name.strip()] = literal(value.strip(), what=f"{what} {name.strip()}")
    return out


def _load(file, defines, inputs, network, max_layers):
    from netdsl.api import load
    from netdsl.elaborate import Limits

    return load(
        file,
        defines=_pairs(defines, "-D"),
        inputs=_pairs(inputs, "--input"),
        network=network,
        limits=Limits(max_layers=max_layers),
    )


def _fail(exc: NetdslError, fmt: str = "text") -> None:
    from netdsl.render import render_all, to_json

    if fmt == "json":
        click.echo(to_json(exc.diagnostics))
    else:
        click.echo(render_all(exc.diagnostics, color=sys.stderr.isatty()), err=True)
    sys.exit(1)


def _warn(G) -> None:
    from netdsl.render import render_all

    warnings = G.graph.get("warnings", [])
    if warnings:
        click.echo(render_all(warnings, color=sys.stderr.isatty()), err=True)


GC_THRESHOLD = (200_000, 30, 30)  # see _Group.invoke


class _Group(click.Group):
    """Bad input never shows a traceback; internal errors say so plainly."""

    def invoke(self, ctx):
        # The AST and the IR live until the command ends and hold no cycles, yet every
        # 700 allocations CPython's collector rescans the young ones, and ever more often
        # the whole heap: ~25% of the time on a 100,000-layer network. Collect rarely
        # while a command runs (mypy does the same); restored for in-process callers.
        threshold = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLD)
        try:
            return self._invoke(ctx)
        finally:
            gc.set_threshold(*threshold)

    def _invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NetdslError as exc:
            _fail(exc, ctx.meta.get("netdsl.format", "text"))
        except RecursionError:
            _fail(
                NetdslError(
                    Diagnostic(
                        "E704",
                        "the network is nested too deeply to process",
                        None,
                        hint="flatten deeply nested expressions",
                    )
                )
            )
        except MemoryError:
            _fail(
                NetdslError(
                    Diagnostic(
                        "E705",
                        "out of memory while processing the network",
                        None,
                        hint="lower --max-layers or the input size",
                    )
                )
            )
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("NETDSL_DEBUG"):
                raise
            click.echo(
                f"netdsl: internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in netdsl; set NETDSL_DEBUG=1 for a traceback.",
                err=True,
            )
            sys.exit(3)


@click.group(cls=_Group)
@click.version_option(package_name="netdsl")
def main():
    """netdsl: describe a neural network once; get its shapes, costs, code and diagrams."""


@main.command()
@shared
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="json prints the diagnostics (or the summary) as JSON, for editors and CI.",
)
@click.pass_context
def check(ctx, file, defines, inputs, network, max_layers, fmt):
    """Validate a network and print a one-line summary."""
    import json

    ctx.meta["netdsl.format"] = fmt
    from netdsl.stats import analyse

    G = _load(file, defines, inputs, network, max_layers)
    report = analyse(G)
    t = report["totals"]
    if fmt == "json":
        from netdsl.render import to_json

        diags = json.loads(to_json(G.graph.get("warnings", [])))["diagnostics"]
        click.echo(
            json.dumps(
                {
                    "ok": True,
                    "network": report["network"],
                    "layers": t["layers"],
                    "params": t["params"],
                    "macs": t["macs"],
                    "outputs": report["outputs"],
                    "diagnostics": diags,
                },
                indent=2,
            )
        )
        return
    _warn(G)
    outs = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in report["outputs"].items())
    click.echo(
        f"{Path(file).name}: ok: {report['network']}: {t['layers']:,} layers, "
        f"{t['params']:,} params, {t['macs']:,} MACs -> {outs}"
    )


@main.command()
@shared
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=None,
    help="Fold layers nested deeper than N levels into subtotal rows.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    default="-",
    type=click.Path(allow_dash=True),
    help="Write to this file instead of stdout.",
)
def stats(file, defines, inputs, network, max_layers, depth, fmt, output):
    """Per-layer table of shapes, parameters, MACs, memory and receptive fields, with totals."""
    from netdsl.report import FORMATS, as_json, fold
    from netdsl.stats import analyse

    G = _load(file, defines, inputs, network, max_layers)
    _warn(G)
    report = analyse(G)
    if fmt == "json":
        text = as_json(report)
    else:
        text = FORMATS[fmt](report, fold(report, depth, G.graph["instances"]))
    write_output(output, text)


@main.command()
@shared
@click.option(
    "-b",
    "--backend",
    "backend_name",
    default=None,
    help="Backend to use (see `netdsl backends`); default: from OUTPUT's extension, else pytorch.",
)
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(allow_dash=True),
    help="Output file ('-' for stdout).",
)
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=None,
    help="Diagrams: collapse blocks nested deeper than N.",
)
@click.option(
    "--rankdir", type=click.Choice(["TB", "LR"]), default=None, help="Diagrams: layout direction."
)
@click.option(
    "--fold-bn",
    is_flag=True,
    default=False,
    help="PyTorch: fold batch norm into the preceding convolution (inference).",
)
@click.option("--opset", type=click.IntRange(min=1), default=None, help="ONNX: opset to write.")
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    default=None,
    help="ONNX: tensors from this .safetensors state_dict of the PyTorch module.",
)
@click.option("--seed", type=int, default=None, help="ONNX: seed for drawn weights (default 0).")
@click.option(
    "-O", "--option", "extra", multiple=True, metavar="KEY=VALUE", help="A backend-specific option."
)
def compile(
    file,
    defines,
    inputs,
    network,
    max_layers,
    backend_name,
    output,
    depth,
    rankdir,
    fold_bn,
    opset,
    weights,
    seed,
    extra,
):
    """Generate code or a diagram from a network."""
    from netdsl.plugins import resolve_backend, resolve_options

    backend, fmt = resolve_backend(backend_name, output)
    given = {"depth": depth, "rankdir": rankdir, "fold_bn": fold_bn or None}
    given |= {"opset": opset, "weights": weights, "seed": seed}
    options = resolve_options(backend, {k: v for k, v in given.items() if v is not None}, extra)
    G = _load(file, defines, inputs, network, max_layers)
    _warn(G)
    result = backend.generate(G, options, fmt)
    write_output(output if output is not None else "-", result)


_COMPILE_FLAGS = ("depth", "rankdir", "fold_bn", "opset", "weights", "seed")


@main.command()
def backends():
    """List the installed backends (and any that failed to load)."""
    from netdsl.plugins import discover

    found = discover()
    for name in sorted(found.backends):
        b = found.backends[name]
        exts = ", ".join("." + e for e in b.extensions)
        click.echo(f"{name:<10} {b.description}  [{exts}]")
        for opt in b.options:
            default = "" if opt.default is None else f" (default {opt.default})"
            flag = (
                f"--{opt.name.replace('_', '-')}"
                if opt.name in _COMPILE_FLAGS
                else f"-O {opt.name}=..."
            )
            click.echo(f"{'':<12}{flag}: {opt.help}{default}")
    for name, why in sorted(found.broken.items()):
        click.echo(f"netdsl: warning: backend '{name}' is installed but broken: {why}", err=True)
