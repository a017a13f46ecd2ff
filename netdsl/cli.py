"""The `netdsl` command line."""

from __future__ import annotations

import functools
import gc
import os
import sys
from pathlib import Path

import click

from netdsl import __version__
from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.output import BrokenStdout, write_output

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
        default=100_000,  # netdsl.elaborate.Limits.max_layers
        show_default=True,
        help="Refuse networks that expand to more layers than this.",
    ),
    click.option(
        "--max-bytes",
        type=click.IntRange(min=1),
        default=16 * 1024 * 1024,  # netdsl.loader.MAX_INPUT_BYTES
        show_default=True,
        help="Refuse source files larger than this many bytes.",
    ),
    click.option("--strict", is_flag=True, default=False, help="Treat warnings as errors."),
]


def shared(f):
    for decorator in reversed(_SHARED):
        f = decorator(f)
    return f


class _BadUsage(NetdslError):
    """A malformed command-line value (E317): reported as a diagnostic, exit 2."""


def _pairs(items, what):
    from netdsl.api import literal

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=what)
        try:
            out[name.strip()] = literal(value.strip(), what=f"{what} {name.strip()}")
        except NetdslError as exc:
            raise _BadUsage(exc.diagnostics) from None
    return out


def _load(file, defines, inputs, network, max_layers, max_bytes=None, strict=False):
    from netdsl.api import load
    from netdsl.elaborate import Limits
    from netdsl.loader import MAX_INPUT_BYTES

    G = load(
        file,
        defines=_pairs(defines, "-D"),
        inputs=_pairs(inputs, "--input"),
        network=network,
        limits=Limits(max_layers=max_layers),
        max_bytes=max_bytes or MAX_INPUT_BYTES,
    )
    if strict and G.graph.get("warnings"):
        from dataclasses import replace

        errors = [replace(w, severity="error") for w in G.graph["warnings"]]
        exc = NetdslError(errors)
        exc.sources = G.graph.get("sources")
        raise exc
    return G


def _color(stream) -> bool:
    """NO_COLOR (any value) turns colour off, FORCE_COLOR on; else: is it a terminal?"""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):
        return False


def _echo_err(text: str) -> None:
    try:
        # color=True: click would strip the codes when stderr is no terminal (FORCE_COLOR)
        click.echo(text, err=True, color=True)
    except (OSError, ValueError):  # stderr closed or full: the exit status still tells
        pass


def _fail(exc: NetdslError, fmt: str = "text", code: int = 1) -> None:
    from netdsl.render import render_all, to_json

    if fmt == "json" and code == 1:
        try:
            write_output("-", to_json(exc.diagnostics) + "\n")
        except (NetdslError, BrokenStdout):
            pass
    else:
        sources = getattr(exc, "sources", None)
        _echo_err(render_all(exc.diagnostics, color=_color(sys.stderr), sources=sources))
    sys.exit(code)


def _warn(G) -> None:
    from netdsl.render import render_all

    warnings = G.graph.get("warnings", [])
    if warnings:
        text = render_all(warnings, color=_color(sys.stderr), sources=G.graph.get("sources"))
        _echo_err(text)


def _inputs_of(G) -> list[str]:
    """The source files of a load: an output must never overwrite one of them."""
    sources = G.graph.get("sources")
    return [] if sources is None else [f for f in sources.files() if not f.startswith("<")]


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that clean-up (temporary files) runs."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _quiet_stdout() -> None:
    """After a broken pipe or a failed write, point stdout at /dev/null: the
    interpreter's own flush at exit would fail again and print a traceback."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


GC_THRESHOLD = (200_000, 30, 30)  # see _Group.invoke


def _record_internal_error(message: str) -> None:
    """Append an internal error to the file NETDSL_INTERNAL_ERROR_LOG names, if any.

    The test suite sets it so that an internal error in any CLI run, in-process or in a
    subprocess, fails the session even where the test only looked at the exit code."""
    log = os.environ.get("NETDSL_INTERNAL_ERROR_LOG")
    if not log:
        return
    try:
        with open(log, "a", encoding="utf-8", errors="backslashreplace") as f:
            f.write(f"{' '.join(sys.argv)!r}: {message}\n")
    except OSError:
        pass


class _Group(click.Group):
    """Bad input never shows a traceback; internal errors say so plainly."""

    def invoke(self, ctx):
        # The AST and the IR live until the command ends and hold no cycles, yet every
        # 700 allocations CPython's collector rescans the young ones, and ever more often
        # the whole heap: ~25% of the time on a 100,000-layer network. Collect rarely
        # while a command runs (mypy does the same); restored for in-process callers.
        threshold = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLD)
        previous = None
        try:
            import signal

            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, AttributeError, OSError):  # not the main thread; no SIGTERM
            pass
        try:
            return self._invoke(ctx)
        finally:
            gc.set_threshold(*threshold)
            if previous is not None:
                import signal

                signal.signal(signal.SIGTERM, previous)

    def _invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _BadUsage as exc:
            _fail(exc, code=2)
        except NetdslError as exc:
            _fail(exc, ctx.meta.get("netdsl.format", "text"))
        except (BrokenStdout, BrokenPipeError):
            _quiet_stdout()
            sys.exit(141)  # as a POSIX tool killed by SIGPIPE: 128 + 13, and no message
        except KeyboardInterrupt:
            _echo_err("netdsl: interrupted")
            sys.exit(130)
        except _Terminated:
            _echo_err("netdsl: terminated")
            sys.exit(143)
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
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("NETDSL_DEBUG"):
                raise
            message = f"netdsl: internal error: {type(exc).__name__}: {exc}"
            _record_internal_error(message)
            click.echo(
                f"{message}\nThis is a bug in netdsl; set NETDSL_DEBUG=1 for a traceback.",
                err=True,
            )
            sys.exit(3)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netdsl")  # the one version source
@click.option(
    "--debug",
    is_flag=True,
    help="check the IR after every pass (lint) and show tracebacks of netdsl's own bugs.",
)
def main(debug: bool):
    """netdsl: describe a neural network once; get its shapes, costs, code and diagrams."""
    if debug:
        os.environ["NETDSL_LINT"] = "1"
        os.environ["NETDSL_DEBUG"] = "1"


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
def check(ctx, file, defines, inputs, network, max_layers, max_bytes, strict, fmt):
    """Validate a network and print a one-line summary."""
    import json

    ctx.meta["netdsl.format"] = fmt
    from netdsl.stats import analyse

    G = _load(file, defines, inputs, network, max_layers, max_bytes, strict)
    report = analyse(G)
    t = report["totals"]
    if fmt == "json":
        from netdsl.render import to_json

        diags = json.loads(to_json(G.graph.get("warnings", [])))["diagnostics"]
        summary = {
            "ok": True,
            "network": report["network"],
            "layers": t["layers"],
            "params": t["params"],
            "macs": t["macs"],
            "outputs": report["outputs"],
            "diagnostics": diags,
        }
        write_output("-", json.dumps(summary, indent=2) + "\n")
        return
    _warn(G)
    outs = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in report["outputs"].items())
    write_output(
        "-",
        f"{Path(file).name}: ok: {report['network']}: {t['layers']:,} layers, "
        f"{t['params']:,} params, {t['macs']:,} MACs -> {outs}\n",
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
@click.option(
    "--train",
    "train_memory",
    is_flag=True,
    help="Add the training-memory estimate (activations saved for backward, parameters, "
    "gradients, optimiser state, peak).",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --train: batch size.",
)
@click.option(
    "--dtype",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    show_default=True,
    help="With --train: activation precision (bf16: autocast).",
)
@click.option(
    "--optimizer",
    type=click.Choice(["sgd", "adam"]),
    default="sgd",
    show_default=True,
    help="With --train: optimiser (sgd with momentum).",
)
def stats(
    file,
    defines,
    inputs,
    network,
    max_layers,
    max_bytes,
    strict,
    depth,
    fmt,
    output,
    train_memory,
    batch,
    dtype,
    optimizer,
):
    """Per-layer table of shapes, parameters, MACs, memory and receptive fields, with totals."""
    from netdsl.report import FORMATS, as_json, fold
    from netdsl.stats import analyse

    G = _load(file, defines, inputs, network, max_layers, max_bytes, strict)
    _warn(G)
    report = analyse(G)
    est = None
    if train_memory:
        from netdsl.train_memory import attach, estimate

        est = estimate(G, batch=batch, dtype=dtype, optimizer=optimizer)
        attach(report, est)
    if fmt == "json":
        text = as_json(report)
    else:
        text = FORMATS[fmt](report, fold(report, depth, G.graph["instances"]))
        if est is not None:
            from netdsl.train_memory import as_text

            text += "\n" + as_text(est)
    write_output(output, text, protect=_inputs_of(G))


class _CompileCommand(click.Command):
    """`compile`, whose flags for backend options (--depth, --rankdir, --opset, ...) are
    made from what the installed backends declare (netdsl.plugins.Option): a backend's
    option is a flag without an edit here, and `--depth 3` means what `-O depth=3` does.
    They are made when this command parses or shows help, so that no other command
    loads a backend."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        taken = frozenset(n for p in params for n in (p.name, *p.opts))
        flags = list(backend_flags(taken).values())
        help_option = self.get_help_option(ctx)
        if params and params[-1] is help_option:  # keep -h, --help last in the help text
            return [*params[:-1], *flags, help_option]
        return [*params, *flags]


@functools.cache
def backend_flags(taken: frozenset = frozenset()) -> dict[str, click.Option]:
    """{option name: its compile flag}, for every option an installed backend declares
    whose name no other compile option has (that one stays reachable as -O NAME=...).
    A name declared by several backends (depth, rankdir) is one flag."""
    from netdsl.plugins import discover

    uses: dict[str, list] = {}
    for backend in sorted(discover().backends.values(), key=lambda b: b.name):
        for opt in backend.options:
            uses.setdefault(opt.name, []).append((backend.name, opt))
    flags = {}
    for name, declared in uses.items():
        flag = "--" + name.replace("_", "-")
        if name in taken or flag in taken or not name.isidentifier():
            continue
        first = declared[0][1]
        help_text = f"{', '.join(b for b, _ in declared)}: {first.help}"
        if first.default is not None and not isinstance(first.default, bool):
            help_text += f" (default {first.default})"
        if all(isinstance(o.default, bool) for _, o in declared):
            flags[name] = click.Option([flag, name], is_flag=True, default=False, help=help_text)
            continue
        if first.choices:
            metavar = "[" + "|".join(map(str, first.choices)) + "]"
        else:
            metavar = {int: "N", float: "X"}.get(first.type, "VALUE")
        # The text as given: the chosen backend converts it, as it does -O's.
        flags[name] = click.Option([flag, name], default=None, metavar=metavar, help=help_text)
    return flags


@main.command(cls=_CompileCommand)
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
    "-O", "--option", "extra", multiple=True, metavar="KEY=VALUE", help="A backend-specific option."
)
def compile(
    file,
    defines,
    inputs,
    network,
    max_layers,
    max_bytes,
    strict,
    backend_name,
    output,
    extra,
    **flags,
):
    """Generate code or a diagram from a network. Backend options are flags (listed
    below, with the backends that take them) or -O KEY=VALUE."""
    from netdsl.plugins import resolve_backend, resolve_options

    backend, fmt = resolve_backend(backend_name, output)
    _check_extension(backend, fmt, output)
    given = _given(backend, {k: v for k, v in flags.items() if v is not None and v is not False})
    options = resolve_options(backend, given, extra)
    _check_options(backend, options, given)
    G = _load(file, defines, inputs, network, max_layers, max_bytes, strict)
    _warn(G)
    backend.check_ops(G)
    result = backend.generate(G, options, fmt)
    write_output(output if output is not None else "-", result, protect=_inputs_of(G))


def _given(backend, flags: dict) -> dict:
    """The flags' texts converted by the chosen backend's declared types (booleans are
    flags already); a flag the backend does not declare is left to resolve_options."""
    declared = {o.name: o for o in backend.options}
    out = {}
    for name, value in flags.items():
        opt = declared.get(name)
        if opt is not None and isinstance(value, str):
            try:
                value = opt.type(value)
            except (TypeError, ValueError):
                flag = "--" + name.replace("_", "-")
                raise click.UsageError(f"bad value for {flag}: {value!r}") from None
        out[name] = value
    return out


def _check_extension(backend, fmt, output) -> None:
    """`-b mermaid -o x.svg` would write Mermaid text into a .svg: refused (E805)."""
    if fmt is not None and fmt not in backend.extensions:
        raise NetdslError(
            Diagnostic(
                "E805",
                f"the {backend.name} backend cannot write .{fmt} files ({output})",
                None,
                hint="write "
                + ", ".join("." + e for e in backend.extensions)
                + ", or choose the backend for ."
                + fmt
                + " with -b",
            )
        )


def _check_options(backend, options, given) -> None:
    """Flags and -O values against what the backend declares: a usage error (exit 2)."""
    from netdsl.plugins import check_option

    for opt in backend.options:
        flag = f"--{opt.name.replace('_', '-')}" if opt.name in given else f"-O {opt.name}"
        try:
            options[opt.name] = check_option(opt, options.get(opt.name))
        except ValueError as exc:
            raise click.UsageError(f"{flag} {exc}") from None


@main.command()
def backends():
    """List the installed backends (and any that failed to load)."""
    from netdsl.plugins import discover

    found = discover()
    flags = backend_flags(frozenset(n for p in compile.params for n in (p.name, *p.opts)))
    for name in sorted(found.backends):
        b = found.backends[name]
        exts = ", ".join("." + e for e in b.extensions)
        click.echo(f"{name:<10} {b.description}  [{exts}]")
        for opt in b.options:
            default = "" if opt.default is None else f" (default {opt.default})"
            flag = f"-O {opt.name}=..."
            if opt.name in flags:
                flag = f"{flags[opt.name].opts[0]}, {flag}"
            click.echo(f"{'':<12}{flag}: {opt.help}{default}")
    for name, why in sorted(found.broken.items()):
        click.echo(f"netdsl: warning: backend '{name}' is installed but broken: {why}", err=True)


@main.command("fmt")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option(
    "--check", is_flag=True, help="Change nothing; exit 1 and list the files that would change."
)
@click.option("--diff", is_flag=True, help="Change nothing; print what would change as a diff.")
def fmt_command(files, check, diff):
    """Rewrite .net files (or the .net files under folders) in the canonical layout."""
    from netdsl.format.command import run

    sys.exit(run(list(files), check, diff, click.echo, color=sys.stderr.isatty()))


@main.command()
def lsp():
    """Run the language server over stdio (for editors; needs the `lsp` extra)."""
    from netdsl.lsp import serve

    serve()
