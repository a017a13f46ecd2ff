"""netdsl's benchmarks (issue 6): start-up, torchinfo, scaling, compilation, generated code.

    python benchmarks/run.py                  # everything (a few minutes)
    python benchmarks/run.py --quick          # fewer repeats and sizes (about a minute)
    python benchmarks/run.py --only startup,scaling
    python benchmarks/run.py --markdown out.md    # also write the results as markdown
    python benchmarks/run.py --update-docs        # ... into docs/benchmarks.md

Every figure is printed with the machine it ran on. Sections whose optional
packages (torch, torchvision, torchinfo) or backend (pytorch) are missing say
so and are skipped. Timings of whole processes are interleaved (A B A B ...)
so that a machine that slows down mid-run slows both sides, and medians are
reported. netdsl must be installed (`pip install -e .`), as its users have it.

Sections and their targets (docs/benchmarks.md explains each):

  startup    `netdsl stats networks/resnet152.net` <= 1.5 x `python -c "import
             lark, networkx, jinja2, click"`; check/stats/diagram backends never
             import torch; grammar loading: no cache vs cache file vs standalone.
  torchinfo  same params and memory figures as torchinfo on torchvision's
             ResNet-152, VGG-16, GoogLeNet; `netdsl stats` >= 10 x faster than
             a torchinfo script.
  scaling    synthetic networks of 1,000 / 10,000 / 100,000 layers: per-layer
             time at 100k <= 1.3 x that at 1k; 100k in < 10 s and < 1 GB.
  compile    `netdsl compile networks/resnet152.net -o x.py` < 0.5 s; each
             Jinja2 template compiled once per run.
  runtime    generated ResNet-50 / VGG-16 / GoogLeNet eager forward time <=
             1.02 x torchvision's, same weights and threads; with --fold-bn,
             ResNet-50 at batch 8 >= 1.1 x faster than torchvision, outputs equal.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = ("startup", "torchinfo", "scaling", "compile", "runtime")
PY = sys.executable
BASELINE = [PY, "-c", "import lark, networkx, jinja2, click"]
# Backends that write models and may load heavy modules (onnx loads numpy).
CODE_BACKENDS = ("pytorch", "onnx")
# Modules `check`, `stats` and the diagram backends must not load.
HEAVY = (
    "torch",
    "torchvision",
    "torchinfo",
    "numpy",
    "onnx",
    "onnxruntime",
    "scipy",
    "pandas",
    "matplotlib",
    "PIL",
    "sympy",
    "IPython",
)


# ------------------------------------------------------------------ output
@dataclass
class Target:
    section: str
    what: str
    figure: str
    limit: str
    met: bool | None  # None: not measured


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)  # markdown
    targets: list[Target] = field(default_factory=list)

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    def md(self, text: str = "") -> None:
        self.lines.append(text)

    def both(self, text: str = "") -> None:
        self.say(text)
        self.md(text)

    def table(self, heads: list[str], rows: list[list], right: set[int] | None = None) -> None:
        right = right if right is not None else set(range(1, len(heads)))
        cells = [[str(c) for c in r] for r in rows]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(heads)]

        def line(vals):
            return "  ".join(
                v.rjust(w) if i in right else v.ljust(w)
                for i, (v, w) in enumerate(zip(vals, widths))
            ).rstrip()

        self.say("  " + line(heads))
        for r in cells:
            self.say("  " + line(r))
        self.md("| " + " | ".join(h.replace("|", "\\|") for h in heads) + " |")
        self.md("|" + "|".join("---:" if i in right else "---" for i in range(len(heads))) + "|")
        for r in cells:
            self.md("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        self.md()

    def target(self, section, what, figure, limit, met) -> None:
        self.targets.append(Target(section, what, figure, limit, met))
        mark = {True: "met", False: "NOT MET", None: "not measured"}[met]
        self.say(f"  -> target: {what}: {figure} (limit {limit}): {mark}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:,.2f} s"


# ------------------------------------------------------------------ machine
def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _mem_total() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (OSError, AttributeError):
        return "n/a"


def machine(report: Report, args) -> None:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    threads = None
    if _has("torch"):
        threads = _torch_threads()
    pkgs = [
        f"{d} {v}"
        for d in (
            "netdsl",
            "lark",
            "networkx",
            "jinja2",
            "click",
            "torch",
            "torchvision",
            "torchinfo",
        )
        if (v := _version(d))
    ]
    report.both("## Machine")
    report.both()
    report.both(f"- CPU: {_cpu_model()}, {os.cpu_count()} logical cores ({usable} usable)")
    report.both(f"- memory: {_mem_total()}; OS: {platform.platform()}")
    report.both(f"- Python {platform.python_version()} ({platform.python_implementation()})")
    report.both(f"- packages: {', '.join(pkgs)}")
    if threads:
        report.both(f"- torch default threads: {threads}")
    report.both(f"- load average at start: {_load()}")
    report.both(
        f"- run: `python benchmarks/run.py{' --quick' if args.quick else ''}"
        f"{' --only ' + ','.join(args.only) if args.only != list(SECTIONS) else ''}`, "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}"
    )
    report.both()


def _torch_threads() -> int | None:
    out = subprocess.run(
        [PY, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True,
        text=True,
    )
    return int(out.stdout) if out.returncode == 0 else None


def _has(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


# ------------------------------------------------------- process timing
class Runner:
    """Runs commands as a user would: own process, compiled bytecode cached.

    PYTHONDONTWRITEBYTECODE (set on some machines) would make every run
    recompile netdsl from source; a private PYTHONPYCACHEPREFIX keeps the
    bytecode of every side (baseline included) in a temporary folder instead.
    """

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.env = dict(os.environ)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        self.env["NETDSL_CACHE_DIR"] = str(tmp / "netdsl-cache")
        self.env.pop("NETDSL_NO_CACHE", None)

    def once(self, argv, env=None, check=True, keep=False):
        """(wall seconds, CPU seconds of the child or None, exit code, stdout if keep)."""
        with (
            open(self.tmp / "stderr.txt", "wb") as err,
            open(self.tmp / "stdout.txt", "wb") if keep else contextlib.nullcontext() as out,
        ):
            t0 = time.perf_counter()
            p = subprocess.Popen(
                argv,
                stdout=out if keep else subprocess.DEVNULL,
                stderr=err,
                cwd=ROOT,
                env=env or self.env,
            )
            if hasattr(os, "wait4"):
                _, status, ru = os.wait4(p.pid, 0)
                wall = time.perf_counter() - t0
                rc = os.waitstatus_to_exitcode(status)
                p.returncode = rc
                cpu = ru.ru_utime + ru.ru_stime
            else:
                rc = p.wait()
                wall, cpu = time.perf_counter() - t0, None
        if check and rc != 0:
            msg = (self.tmp / "stderr.txt").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(map(str, argv))} exited {rc}:\n{msg}")
        stdout = (self.tmp / "stdout.txt").read_text(errors="replace") if keep else None
        return wall, cpu, rc, stdout

    def interleaved(self, cmds: dict, repeats: int, warmup: int = 2, keep=False) -> dict:
        """{name: {"wall": [...], "cpu": [...], "out": [...]}}; commands alternate, the
        order rotating each round; with keep, "out" has each run's stdout."""
        names = list(cmds)
        for _ in range(warmup):
            for n in names:
                self.once(*_argv_env(cmds[n]))
        res = {n: {"wall": [], "cpu": [], "out": []} for n in names}
        for i in range(repeats):
            order = names[i % len(names) :] + names[: i % len(names)]
            for n in order:
                wall, cpu, _, out = self.once(*_argv_env(cmds[n]), keep=keep)
                res[n]["wall"].append(wall)
                res[n]["out"].append(out)
                if cpu is not None:
                    res[n]["cpu"].append(cpu)
        return res

    def capture(self, argv, env=None) -> str:
        out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env or self.env)
        if out.returncode != 0:
            raise RuntimeError(
                f"{' '.join(map(str, argv))} exited {out.returncode}:\n{out.stderr[-2000:]}"
            )
        return out.stdout


def _argv_env(cmd):
    if isinstance(cmd, tuple):
        return cmd
    return (cmd, None)


def med(xs) -> float:
    return statistics.median(xs) if xs else float("nan")


def netdsl(*args) -> list[str]:
    return [PY, "-m", "netdsl", *map(str, args)]


# ------------------------------------------------------------------ startup
_PROBE = r"""
import contextlib, io, json, sys
from netdsl.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main.main(json.loads(sys.argv[1]), standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _diagram_backends() -> dict[str, str]:
    """{backend name: file extension} for every backend that writes no model code."""
    try:
        from netdsl.plugins import discover
    except ImportError:
        return {}
    found = discover()
    return {
        name: b.extensions[0]
        for name, b in sorted(found.backends.items())
        if name not in CODE_BACKENDS and b.extensions
    }


def _standalone(tmp: Path) -> dict[str, Path]:
    """Lark's standalone parser for our grammar, plain and compressed (-c)."""
    out = {}
    grammar = ROOT / "grammars" / "netdsl.lark"
    for name, extra in (("standalone", []), ("standalone_c", ["-c"])):
        target = tmp / "sa" / f"netdsl_{name}.py"
        target.parent.mkdir(exist_ok=True)
        r = subprocess.run(
            [
                PY,
                "-m",
                "lark.tools.standalone",
                *extra,
                "--propagate_positions",
                "--maybe_placeholders",
                str(grammar),
                "-o",
                str(target),
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode == 0:
            out[name] = target
    return out


def _importtime(runner: Runner, argv) -> tuple[float, list[tuple[str, float]]]:
    """(total import ms of netdsl.* modules (self), top-level imports by cumulative ms)."""
    r = subprocess.run(
        [PY, "-X", "importtime", *argv[1:]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=runner.env,
    )
    own, top = 0.0, []
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        self_us, cum_us, indent, name = int(m[1]), int(m[2]), len(m[3]), m[4]
        if name.startswith("netdsl"):
            own += self_us / 1000
        if indent == 1:
            top.append((name, cum_us / 1000))
    top.sort(key=lambda t: -t[1])
    return own, top[:6]


def section_startup(report: Report, runner: Runner, args) -> None:
    report.both("## 1. Start-up floor")
    report.both()
    n = args.repeats or (10 if args.quick else 15)
    tmp = runner.tmp
    net = "networks/resnet152.net"
    cmds = {
        "baseline: python -c 'import lark, networkx, jinja2, click'": BASELINE,
        f"netdsl stats {net}": netdsl("stats", net),
        f"netdsl check {net}": netdsl("check", net),
    }
    backends = _diagram_backends()
    for name, ext in backends.items():
        cmds[f"netdsl compile {net} -b {name}"] = netdsl(
            "compile", net, "-b", name, "-o", tmp / f"out.{ext}"
        )
    report.say(f"  {len(cmds)} commands, interleaved, {n} runs each after 2 warm-up runs ...")
    res = runner.interleaved(cmds, n)
    base = med(res[next(iter(cmds))]["wall"])
    rows = []
    for name, r in res.items():
        rows.append(
            [
                name,
                ms(med(r["wall"])),
                ms(min(r["wall"])),
                ms(med(r["cpu"])) if r["cpu"] else "",
                f"{med(r['wall']) / base:.2f}",
            ]
        )
    report.table(
        ["command (whole process)", "median wall", "min wall", "median CPU", "x baseline"],
        rows,
        right={1, 2, 3, 4},
    )
    stats_ratio = med(res[f"netdsl stats {net}"]["wall"]) / base
    report.target(
        "startup",
        "`netdsl stats resnet152.net` / import baseline (median wall)",
        f"{stats_ratio:.2f}x",
        "1.5x",
        stats_ratio <= 1.5,
    )

    # What each command loads.
    probes = {"check": ["check", net], "stats": ["stats", net]}
    for name, ext in backends.items():
        probes[f"compile -b {name}"] = ["compile", net, "-b", name, "-o", str(tmp / f"p.{ext}")]
    rows, clean = [], True
    for label, argv in probes.items():
        mods = json.loads(runner.capture([PY, "-c", _PROBE, json.dumps(argv)]))
        heavy = [m for m in HEAVY if m in mods]
        clean &= "torch" not in mods
        rows.append(
            [f"netdsl {label}", ", ".join(heavy) or "none", "yes" if "jinja2" in mods else "no"]
        )
    report.md("Heavy modules loaded (in `sys.modules` after the command ran in-process):")
    report.md()
    report.table(["command", "heavy modules loaded", "jinja2 loaded"], rows, right=set())
    report.target(
        "startup",
        "torch not imported by check, stats, diagram backends",
        "none" if clean else "torch imported",
        "none",
        clean,
    )

    # Import profile.
    own, top = _importtime(runner, netdsl("stats", net))
    report.both(
        f"`python -X importtime -m netdsl stats`: netdsl's own modules {own:.0f} ms (self time); "
        "largest top-level imports: " + ", ".join(f"{name} {t:.0f} ms" for name, t in top)
    )
    report.both()

    # Grammar loading: no cache, cache file, Lark's standalone parser.
    sa = _standalone(tmp)
    no_cache = dict(runner.env, NETDSL_NO_CACHE="1")
    load = "from netdsl.parser import _lark; _lark()"
    gcmds = {
        "python -c 'import netdsl.parser' (reference)": [PY, "-c", "import netdsl.parser"],
        "+ build LALR tables (no cache)": ([PY, "-c", load], no_cache),
        "+ load tables from the cache file": [PY, "-c", load],
    }
    for name, path in sa.items():
        code = (
            f"import sys; sys.path.insert(0, {str(path.parent)!r}); import netdsl.parser; "
            f"import {path.stem} as m; m.Lark_StandAlone()"
        )
        label = "compressed (-c)" if name.endswith("_c") else "plain"
        gcmds[f"+ import Lark standalone parser, {label}"] = [PY, "-c", code]
    gcmds["python -c 'import lark'"] = [PY, "-c", "import lark"]
    gcmds["python -c 'pass'"] = [PY, "-c", "pass"]
    gn = max(5, n // 2) if args.quick else min(n, 10)
    report.say(f"  grammar loading: {len(gcmds)} commands, {gn} runs each ...")
    gres = runner.interleaved(gcmds, gn)
    ref = med(gres[next(iter(gcmds))]["wall"])
    rows = []
    for name, r in gres.items():
        m = med(r["wall"])
        rows.append(
            [
                name,
                ms(m),
                ms(med(r["cpu"])) if r["cpu"] else "",
                "" if name.startswith("python") else f"{(m - ref) * 1000:+,.0f} ms",
            ]
        )
    report.table(
        ["grammar loading (whole process)", "median wall", "median CPU", "vs reference"],
        rows,
        right={1, 2, 3},
    )
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KiB" for p in sa.values())
    cache_files = list((tmp / "netdsl-cache").glob("*.lark-cache"))
    if cache_files:
        sizes += f"; cache file {cache_files[0].stat().st_size / 1024:.0f} KiB"
    if sizes:
        report.both(f"Sizes: {sizes}.")
        report.both()


# ---------------------------------------------------------------- torchinfo
_TORCHINFO = r"""
import json, sys
import torch, torchvision, torchinfo
name = sys.argv[1]
kw = {"aux_logits": True, "init_weights": False} if name == "googlenet" else {}
model = getattr(torchvision.models, name)(weights=None, **kw)
# GoogLeNet's auxiliary heads run in train mode only; netdsl's GoogLeNet counts them.
mode = "train" if name == "googlenet" else "eval"
s = torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0, mode=mode)
mb = lambda b: round(b / 1e6, 2)
print(json.dumps({
    "params": s.total_params, "trainable": s.trainable_params, "mult_adds": s.total_mult_adds,
    "input_mb": mb(s.total_input), "fwd_bwd_mb": mb(s.total_output_bytes),
    "params_mb": mb(s.total_param_bytes),
    "total_mb": mb(s.total_input + s.total_output_bytes + s.total_param_bytes),
    "input_bytes": s.total_input,
}))
"""

TORCHVISION_NETS = {"resnet152": "ResNet-152", "vgg16": "VGG-16", "googlenet": "GoogLeNet"}


def torchinfo_convention(report_json: dict) -> int:
    """Mult-adds as torchinfo 1.8 counts them, from netdsl's per-layer figures.

    torchinfo: conv: (weights + bias) x output positions; any other layer with
    parameters (linear, batchnorm): its parameter count (x batch 1).
    """
    total = 0
    for layer in report_json["layers"]:
        if layer["params"] == 0:
            continue
        if layer["op"] == "conv":
            positions = 1
            for d in layer["output_shape"][1:]:
                positions *= d
            total += layer["params"] * positions
        else:
            total += layer["params"]
    return total


def section_torchinfo(report: Report, runner: Runner, args) -> None:
    report.both("## 2. Against torchinfo")
    report.both()
    if not _has("torch", "torchvision", "torchinfo"):
        report.both("Skipped: needs torch, torchvision and torchinfo (`pip install torchinfo`).")
        report.both()
        report.target("torchinfo", "figures equal torchinfo's; >= 10x faster", "skipped", "", None)
        return
    script = runner.tmp / "torchinfo_summary.py"
    script.write_text(_TORCHINFO)
    n = args.repeats_slow or (1 if args.quick else 2)
    report.say(f"  torchinfo: {n} interleaved run(s) of each side per network ...")
    rows, timing_rows, all_equal, speedups = [], [], True, []
    for tv, label in TORCHVISION_NETS.items():
        path = f"networks/torchvision/{tv}.net"
        if not (ROOT / path).is_file():
            report.both(f"{label}: {path} missing; skipped.")
            continue
        ours = json.loads(runner.capture(netdsl("stats", path, "--format", "json")))
        res = runner.interleaved(
            {"netdsl": netdsl("stats", path), "torchinfo": [PY, str(script), tv]},
            n,
            warmup=0,
            keep=True,
        )
        theirs = json.loads(res["torchinfo"]["out"][0])
        t = ours["totals"]
        ti_conv = torchinfo_convention(ours)
        pairs = [
            ("Total params", t["params"], theirs["params"]),
            ("Trainable params", t["trainable_params"], theirs["trainable"]),
            ("Input size (MB)", t["input_size_mb"], theirs["input_mb"]),
            (
                "Forward/backward pass size (MB)",
                t["forward_backward_pass_size_mb"],
                theirs["fwd_bwd_mb"],
            ),
            ("Params size (MB)", t["params_size_mb"], theirs["params_mb"]),
            ("Estimated Total Size (MB)", t["estimated_total_size_mb"], theirs["total_mb"]),
        ]
        for what, a, b in pairs:
            same = a == b
            all_equal &= same
            fmt = "{:,.2f}" if "MB" in what else "{:,}"
            rows.append(
                [label, what, fmt.format(a), fmt.format(b), "equal" if same else "DIFFERENT"]
            )
        rows.append(
            [
                label,
                # torchinfo runs GoogLeNet in train mode: the training forward is compared
                "mult-adds: netdsl MACs (conv+linear, no bias)",
                f"{t['train_macs']:,}",
                f"{theirs['mult_adds']:,}",
                f"{theirs['mult_adds'] - t['train_macs']:+,}",
            ]
        )
        rows.append(
            [
                label,
                "mult-adds, torchinfo's convention from netdsl's layers",
                f"{ti_conv:,}",
                f"{theirs['mult_adds']:,}",
                "equal" if ti_conv == theirs["mult_adds"] else "DIFFERENT",
            ]
        )
        all_equal &= ti_conv == theirs["mult_adds"]
        a, b = med(res["netdsl"]["wall"]), med(res["torchinfo"]["wall"])
        speedups.append(b / a)
        timing_rows.append([label, ms(a), ms(b), f"{b / a:.1f}x"])
    report.table(["network", "figure", "netdsl", "torchinfo", ""], rows, right={2, 3})
    report.md(
        "torchinfo runs on `torchvision.models.X(weights=None)` with `input_size=(1, 3, 224, "
        "224)`; GoogLeNet in train mode so that its auxiliary heads run (netdsl counts them)."
    )
    report.md()
    report.table(
        [
            "network",
            "netdsl stats (whole process)",
            "torch + torchvision + torchinfo.summary",
            "speed-up",
        ],
        timing_rows,
    )
    report.target(
        "torchinfo",
        "params and memory figures equal torchinfo's",
        "all equal" if all_equal else "some differ",
        "equal",
        all_equal,
    )
    if speedups:
        report.target(
            "torchinfo",
            "netdsl stats vs torchinfo script (slowest network)",
            f"{min(speedups):.1f}x faster",
            ">= 10x",
            min(speedups) >= 10,
        )


# ------------------------------------------------------------------ scaling
def section_scaling(report: Report, runner: Runner, args) -> None:
    report.both("## 3. Linear scaling")
    report.both()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    repeats = {1_000: 7, 10_000: 3, 100_000: 1}
    rows, per_layer, per_layer_cpu, big = [], {}, {}, {}
    for family in ("residual", "inception"):
        for form in ("flat", "repeat"):
            for n in sizes:
                argv = [
                    PY,
                    str(HERE / "scaling.py"),
                    family,
                    str(n),
                    form,
                    "--repeats",
                    str(repeats[n]),
                ]
                r = json.loads(runner.capture(argv))
                w = r["wall"]
                work = w["parse"] + w["elaborate"] + w["stats"]
                per_layer[(family, form, n)] = work / r["layers"]
                c = r["cpu"]
                per_layer_cpu[(family, form, n)] = (c["parse"] + c["elaborate"] + c["stats"]) / r[
                    "layers"
                ]
                if n == max(sizes):
                    big[(family, form)] = (work, r["maxrss_mb"])
                rows.append(
                    [
                        family,
                        form,
                        f"{r['layers']:,}",
                        f"{r['lines']:,}",
                        secs(w["parse"]),
                        secs(w["elaborate"]),
                        secs(w["stats"]),
                        secs(work),
                        f"{work / r['layers'] * 1e6:.0f} µs",
                        f"{r['maxrss_mb']:.0f} MB" if r["maxrss_mb"] else "",
                        secs(w["render"]),
                    ]
                )
                report.say(
                    f"  {family:9} {form:6} {n:>7,}: {secs(work)} "
                    f"({work / r['layers'] * 1e6:.0f} µs/layer)"
                )
    report.table(
        [
            "family",
            "form",
            "layers",
            "lines",
            "parse",
            "elaborate + shapes",
            "stats",
            "total",
            "per layer",
            "peak RSS",
            "(table text)",
        ],
        rows,
        right=set(range(2, 11)),
    )
    report.md(
        "Wall times, medians of 7 / 3 / 1 runs at 1k / 10k / 100k layers, in a fresh process "
        "per size with the CLI's garbage-collector setting; peak RSS is the process's "
        "`getrusage` maxrss (Python, netdsl and the generated text included). "
        "`(table text)` is rendering `netdsl stats`'s table, not part of the target."
    )
    report.md()
    top = max(sizes)
    worst = 0.0
    for family in ("residual", "inception"):
        for form in ("flat", "repeat"):
            ratio = per_layer[(family, form, top)] / per_layer[(family, form, 1_000)]
            cpu_ratio = per_layer_cpu[(family, form, top)] / per_layer_cpu[(family, form, 1_000)]
            worst = max(worst, ratio)
            work, rss = big[(family, form)]
            report.target(
                "scaling",
                f"{family}/{form}: per-layer time {top:,} / 1,000",
                f"{ratio:.2f}x (CPU time {cpu_ratio:.2f}x)",
                "1.3x",
                ratio <= 1.3,
            )
            if top == 100_000:
                report.target(
                    "scaling",
                    f"{family}/{form}: 100,000 layers time",
                    secs(work),
                    "10 s",
                    work < 10,
                )
                report.target(
                    "scaling",
                    f"{family}/{form}: 100,000 layers peak memory",
                    f"{rss:.0f} MB",
                    "1 GB",
                    rss is not None and rss < 1024,
                )


# ------------------------------------------------------------------ compile
_JINJA_COUNT = r"""
import collections, contextlib, io, json, sys
import jinja2
counts = collections.Counter()
orig = jinja2.Environment.compile
def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
    counts[name or "<string>"] += 1
    return orig(self, source, name, filename, raw, defer_init)
jinja2.Environment.compile = counting
from netdsl.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main.main(json.loads(sys.argv[1]), standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps(counts))
"""


def _pytorch_backend():
    try:
        from netdsl.plugins import discover
    except ImportError:
        return None
    return discover().backends.get("pytorch")


def section_compile(report: Report, runner: Runner, args) -> None:
    report.both("## 4. Compilation")
    report.both()
    backend = _pytorch_backend()
    if backend is None:
        report.both("Skipped: no pytorch backend installed.")
        report.both()
        report.target("compile", "compile resnet152 -> .py", "skipped", "0.5 s", None)
        return
    n = args.repeats or (10 if args.quick else 15)
    net = "networks/resnet152.net"
    out = runner.tmp / "resnet152_gen.py"
    cmds = {
        "baseline: python -c 'import lark, networkx, jinja2, click'": BASELINE,
        f"netdsl compile {net} -o x.py": netdsl("compile", net, "-o", out),
        f"netdsl stats {net}": netdsl("stats", net),
    }
    if any(o.name == "fold_bn" for o in backend.options):
        cmds[f"netdsl compile {net} --fold-bn -o x.py"] = netdsl(
            "compile", net, "--fold-bn", "-o", out
        )
    res = runner.interleaved(cmds, n)
    base = med(res[next(iter(cmds))]["wall"])
    rows = [
        [
            name,
            ms(med(r["wall"])),
            ms(min(r["wall"])),
            ms(med(r["cpu"])) if r["cpu"] else "",
            f"{med(r['wall']) / base:.2f}",
        ]
        for name, r in res.items()
    ]
    report.table(
        ["command (whole process)", "median wall", "min wall", "median CPU", "x baseline"],
        rows,
        right={1, 2, 3, 4},
    )
    t = med(res[f"netdsl compile {net} -o x.py"]["wall"])
    report.target(
        "compile", "`netdsl compile resnet152.net -o x.py` (median wall)", ms(t), "500 ms", t < 0.5
    )
    counts = json.loads(
        runner.capture([PY, "-c", _JINJA_COUNT, json.dumps(["compile", net, "-o", str(out)])])
    )
    once = all(v == 1 for v in counts.values())
    listing = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "none"
    report.both(f"Jinja2 template compilations in one `netdsl compile` run: {listing}.")
    report.both()
    report.target("compile", "each Jinja2 template compiled once per run", listing, "x1 each", once)


# ------------------------------------------------------------------ runtime
_RUNTIME = r"""
import importlib.util, json, sys, time
import torch, torchvision

spec = json.loads(sys.argv[1])
torch.manual_seed(0)
torch.set_num_threads(spec["threads"])
tv = getattr(torchvision.models, spec["tv"])(weights=None, **spec["tv_kwargs"]).eval()


def load_generated(path, name):
    s = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(s)
    sys.modules[name] = m
    s.loader.exec_module(m)
    return m


def build(m, network):
    if hasattr(m, "create_model"):
        return m.create_model()
    return getattr(m, network)()


def logits(y):
    return y[0] if isinstance(y, tuple) else getattr(y, "logits", y)


if spec.get("randomize_bn"):
    # Non-trivial batch norms, so that folding them is really tested: random affine
    # parameters, then running statistics measured on random batches (as training would
    # leave them), so that activations and logits keep a sensible scale.
    g = torch.Generator().manual_seed(1)
    bns = [m for m in tv.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        c = m.num_features
        m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
        m.bias.data.copy_(torch.rand(c, generator=g) * 0.2 - 0.1)
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    tv.train()
    with torch.no_grad():
        for _ in range(2):
            tv(torch.randn(8, 3, 224, 224, generator=g))
    tv.eval()
gen = build(load_generated(spec["path"], "gen_" + spec["tv"]), spec["network"]).eval()
gen.load_state_dict(tv.state_dict(), strict=True)
models = {"tv": tv, "gen": gen}
if spec.get("folded"):
    fm = load_generated(spec["folded"], "folded_" + spec["tv"])
    folded = build(fm, spec["network"]).eval()
    state = tv.state_dict()
    if hasattr(fm, "fold_batchnorm"):
        state = fm.fold_batchnorm(folded, state)
    folded.load_state_dict(state, strict=True)
    models["folded"] = folded
x = torch.randn(spec["batch"], 3, 224, 224)
out = {"threads": torch.get_num_threads(), "diff": {}, "rel": {}, "close": {},
       "times": {k: [] for k in models}}
with torch.inference_mode():
    ref = logits(tv(x))
    scale = ref.abs().max().item()
    for k, m in models.items():
        y = logits(m(x))
        out["diff"][k] = (y - ref).abs().max().item()
        out["rel"][k] = out["diff"][k] / scale if scale else 0.0
        out["close"][k] = bool(torch.allclose(y, ref, rtol=1e-4, atol=1e-4))
    for _ in range(spec["warmup"]):
        for m in models.values():
            m(x)
    names = list(models)
    for i in range(spec["repeats"]):
        order = names[i % len(names):] + names[:i % len(names)]
        for k in order:
            t0 = time.perf_counter()
            models[k](x)
            out["times"][k].append(time.perf_counter() - t0)
print(json.dumps(out))
"""


def _fold_loader(path: Path) -> str | None:
    """Name of a function in a folded module that loads unfolded (torchvision) weights."""
    text = path.read_text(encoding="utf-8")
    for name in (
        "load_unfolded_state_dict",
        "load_state_dict_folding_bn",
        "load_folded",
        "fold_state_dict_into",
        "load_bn_folded",
    ):
        if re.search(rf"^def {name}\(", text, re.M):
            return name
    return None


def paired(a: list[float], b: list[float]) -> float:
    """Median of per-round ratios a[i] / b[i] (the two ran back to back)."""
    return statistics.median(x / y for x, y in zip(a, b))


def spread(a: list[float], b: list[float]) -> str:
    """Interquartile range of the per-round ratios a[i] / b[i]."""
    r = [x / y for x, y in zip(a, b)]
    if len(r) < 4:
        return ""
    q1, _, q3 = statistics.quantiles(r, n=4)
    return f"{q1:.2f}-{q3:.2f}"


def section_runtime(report: Report, runner: Runner, args) -> None:
    report.both("## 5. Generated code at run time")
    report.both()
    backend = _pytorch_backend()
    if not _has("torch", "torchvision") or backend is None:
        report.both("Skipped: needs torch, torchvision and the pytorch backend.")
        report.both()
        report.target("runtime", "generated / torchvision eager forward", "skipped", "1.02x", None)
        return
    nets = {
        "resnet50": ("ResNet-50", {}),
        "vgg16": ("VGG-16", {}),
        "googlenet": ("GoogLeNet", {"aux_logits": True, "init_weights": False}),
    }
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    # Half the cores: on a shared machine, fewer threads are disturbed less.
    threads = args.threads or max(1, min(4, usable // 2))
    repeats = args.repeats_slow or (6 if args.quick else 15)
    script = runner.tmp / "runtime.py"
    script.write_text(_RUNTIME)

    def measure(tv, kwargs, batch, folded=False):
        path = ROOT / f"networks/torchvision/{tv}.net"
        gen = runner.tmp / f"gen_{tv}.py"
        runner.capture(netdsl("compile", path, "-o", gen))
        network = json.loads(runner.capture(netdsl("stats", path, "--format", "json")))
        spec = {
            "tv": tv,
            "tv_kwargs": kwargs,
            "path": str(gen),
            "network": network["network"],
            "threads": threads,
            "batch": batch,
            "warmup": 2,
            "repeats": repeats,
        }
        if folded:
            out = runner.tmp / f"gen_{tv}_folded.py"
            runner.capture(netdsl("compile", path, "--fold-bn", "-o", out))
            spec["folded"] = str(out)
            spec["randomize_bn"] = True
        return json.loads(runner.capture([PY, str(script), json.dumps(spec)]))

    rows, ratios = [], []
    for tv, (label, kwargs) in nets.items():
        if not (ROOT / f"networks/torchvision/{tv}.net").is_file():
            report.both(f"{label}: networks/torchvision/{tv}.net missing; skipped.")
            continue
        try:
            r = measure(tv, kwargs, 1)
        except RuntimeError as exc:
            last = str(exc).strip().splitlines()[-1][:300]
            report.both(
                f"{label}: the generated model could not be run against torchvision: {last}"
            )
            report.both()
            ratios.append(float("inf"))
            continue
        t = r["times"]
        ratio = paired(t["gen"], t["tv"])
        ratios.append(ratio)
        rows.append(
            [
                label,
                ms(med(t["tv"])),
                ms(med(t["gen"])),
                f"{ratio:.3f}",
                spread(t["gen"], t["tv"]),
                f"{min(t['gen']) / min(t['tv']):.3f}",
                f"{r['diff']['gen']:.1e}",
            ]
        )
        report.say(f"  {label}: generated / torchvision {ratio:.3f}")
    if rows:
        report.table(
            [
                "network (batch 1, eval)",
                "torchvision",
                "generated",
                "ratio (paired median)",
                "ratio IQR",
                "ratio (minima)",
                "max abs diff",
            ],
            rows,
        )
        report.md(
            f"{threads} torch thread(s) (`torch.set_num_threads`), {repeats} forward "
            "passes per model in rotating order after 2 warm-up passes, one process per "
            "network, same weights (`load_state_dict(torchvision_model.state_dict())`, "
            "strict), `torch.inference_mode()`. The ratio is the median over rounds of "
            "generated / torchvision, the two timed back to back."
        )
        report.md()
    if ratios:
        worst = max(ratios)
        report.target(
            "runtime",
            "generated / torchvision eager forward (worst network)",
            f"{worst:.3f}",
            "1.02",
            worst <= 1.02,
        )

    if not any(o.name == "fold_bn" for o in backend.options):
        report.both("The pytorch backend has no `fold_bn` option: folded ResNet-50 not measured.")
        report.both()
        report.target(
            "runtime",
            "folded ResNet-50 vs torchvision eager (batch 8)",
            "no fold_bn option",
            ">= 1.1x",
            None,
        )
        return
    try:
        r = measure("resnet50", {}, 8, folded=True)
    except RuntimeError as exc:
        last = str(exc).strip().splitlines()[-1][:300]
        report.both(f"Folded ResNet-50 could not be run against torchvision: {last}")
        report.both()
        report.target(
            "runtime", "folded ResNet-50 vs torchvision eager (batch 8)", "failed", ">= 1.1x", False
        )
        return
    t = r["times"]
    speedup = paired(t["tv"], t["folded"])
    report.table(
        [
            "ResNet-50, batch 8, eval",
            "torchvision",
            "generated",
            "generated --fold-bn",
            "speed-up (folded, paired)",
            "speed-up IQR",
            "max abs diff (folded)",
            "relative to max |logit|",
        ],
        [
            [
                "median",
                ms(med(t["tv"])),
                ms(med(t["gen"])),
                ms(med(t["folded"])),
                f"{speedup:.2f}x",
                spread(t["tv"], t["folded"]),
                f"{r['diff']['folded']:.1e}",
                f"{r['rel']['folded']:.1e}",
            ]
        ],
    )
    report.md(
        "torchvision's batch norms get random affine parameters and running statistics "
        "measured on two random batches first, so that folding really changes the weights; "
        "the folded model loads torchvision's weights through the generated "
        "`fold_batchnorm()`. Outputs compared with `torch.allclose(rtol=1e-4, atol=1e-4)`."
    )
    report.md()
    report.target(
        "runtime",
        "folded ResNet-50 vs torchvision eager (batch 8)",
        f"{speedup:.2f}x",
        ">= 1.1x",
        speedup >= 1.1,
    )
    report.target(
        "runtime",
        "folded ResNet-50 outputs equal torchvision's (allclose 1e-4)",
        f"max abs diff {r['diff']['folded']:.1e}",
        "1e-4",
        r["close"]["folded"],
    )


# --------------------------------------------------------------------- main
def summary(report: Report) -> None:
    report.both("## Targets")
    report.both()
    rows = [
        [
            t.section,
            t.what,
            t.figure,
            t.limit,
            {True: "met", False: "**not met**", None: "not measured"}[t.met],
        ]
        for t in report.targets
    ]
    report.table(["section", "target", "measured", "limit", ""], rows, right=set())


def update_docs(text: str, path: Path) -> None:
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    doc = path.read_text(encoding="utf-8") if path.exists() else f"{start}\n{end}\n"
    if start not in doc or end not in doc:
        doc += f"\n{start}\n{end}\n"
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    ap.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections: {', '.join(SECTIONS)}",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs per command for the start-up and compile timings",
    )
    ap.add_argument(
        "--repeats-slow",
        type=int,
        default=None,
        help="runs for the torchinfo and run-time comparisons",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch threads (run time)")
    ap.add_argument("--markdown", default=None, help="write the results as markdown here")
    ap.add_argument(
        "--update-docs",
        action="store_true",
        help="put the results into docs/benchmarks.md (between its markers)",
    )
    args = ap.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    for s in args.only:
        if s not in SECTIONS:
            ap.error(f"unknown section {s!r}; one of {', '.join(SECTIONS)}")
    if importlib.util.find_spec("netdsl") is None:
        ap.error("netdsl is not installed: pip install -e .")

    report = Report()
    t0 = time.perf_counter()
    machine(report, args)
    tmp = Path(tempfile.mkdtemp(prefix="netdsl-bench-"))
    runner = Runner(tmp)
    try:
        for name in SECTIONS:
            if name in args.only:
                globals()[f"section_{name}"](report, runner, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.both(f"Load average at end: {_load()}; whole run {time.perf_counter() - t0:.0f} s.")
    report.both()
    summary(report)
    text = "\n".join(report.lines).rstrip() + "\n"
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    if args.update_docs:
        update_docs(text, ROOT / "docs" / "benchmarks.md")
    return 0 if all(t.met is not False for t in report.targets) else 1


if __name__ == "__main__":
    raise SystemExit(main())
