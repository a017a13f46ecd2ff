"""One scaling measurement, run by benchmarks/run.py in a fresh process (issue 6, target 3).

    python benchmarks/scaling.py FAMILY LAYERS FORM [--repeats N] [--profile FILE]

Generates the synthetic network (benchmarks/synthetic.py; not timed), loads
netdsl and its grammar and elaborates a 1,000-layer version once (not timed:
that is start-up, measured separately), then times, REPEATS times, each stage
of what `netdsl stats` does:

  parse      text -> AST (Lark LALR + the AST transformer)
  elaborate  AST -> IR, shape inference included (shapes are inferred as layers
             are applied)
  stats      netdsl.stats.analyse: costs, receptive fields, memory, totals
  render     the text table of `netdsl stats` (reported, not part of the target)

It runs them under the garbage-collector setting the CLI uses
(netdsl.cli.GC_THRESHOLD) and prints one JSON object: per-stage medians
(wall and CPU seconds), the layer count (checked against the generator's),
and the peak resident memory of the process (getrusage maxrss) before and
after the work. With --profile, one more (untimed) pass runs under cProfile
and the stats are written to FILE.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from synthetic import generate  # noqa: E402


def _maxrss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("family")
    ap.add_argument("layers", type=int)
    ap.add_argument("form")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--profile", default=None)
    a = ap.parse_args(argv)

    net = generate(a.family, a.layers, a.form)
    text = net.text
    del net  # keep only the text

    from netdsl.elaborate import Limits, elaborate
    from netdsl.loader import load_program
    from netdsl.parser import _lark
    from netdsl.report import as_table, fold
    from netdsl.stats import analyse

    try:
        from netdsl.cli import GC_THRESHOLD
    except ImportError:
        GC_THRESHOLD = None
    if GC_THRESHOLD is not None:
        gc.set_threshold(*GC_THRESHOLD)
    _lark()
    # First-use costs (Lark builds its lexer's scanners on the first parse, caches warm
    # up) belong to start-up, measured elsewhere: one untimed pass on a small network.
    warm = generate(a.family, min(a.layers, 1_000), a.form).text
    elaborate(load_program("warm-up.net", warm), limits=Limits())
    del warm
    rss_before = _maxrss_mb()
    limits = Limits(max_layers=max(5_000_000, 2 * a.layers))
    file = f"synthetic-{a.family}-{a.layers}-{a.form}.net"

    def once(timed: bool):
        marks = [(time.perf_counter(), time.process_time())]

        def mark():
            if timed:
                marks.append((time.perf_counter(), time.process_time()))

        program = load_program(file, text)
        mark()
        G = elaborate(program, limits=limits)
        mark()
        report = analyse(G)
        mark()
        as_table(report, fold(report, None, G.graph["instances"]))
        mark()
        return report, marks

    stages = ("parse", "elaborate", "stats", "render")
    wall = {s: [] for s in stages}
    cpu = {s: [] for s in stages}
    layers = None
    for _ in range(a.repeats):
        report, marks = once(True)
        layers = report["totals"]["layers"]
        del report
        for i, s in enumerate(stages):
            wall[s].append(marks[i + 1][0] - marks[i][0])
            cpu[s].append(marks[i + 1][1] - marks[i][1])
        gc.collect()
    if a.profile:
        import cProfile

        cProfile.runctx("once(False)", globals(), {"once": once}, a.profile)
    out = {
        "family": a.family,
        "form": a.form,
        "requested": a.layers,
        "layers": layers,
        "lines": text.count("\n"),
        "bytes": len(text),
        "repeats": a.repeats,
        "wall": {s: statistics.median(v) for s, v in wall.items()},
        "cpu": {s: statistics.median(v) for s, v in cpu.items()},
        "maxrss_mb_before": rss_before,
        "maxrss_mb": _maxrss_mb(),
        "gc_threshold": list(gc.get_threshold()),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
