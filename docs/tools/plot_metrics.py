"""Plot a training run's metrics.jsonl (docs/training.md). Needs matplotlib, which
netdsl itself does not depend on (`pip install "netdsl[docs]"`).

    python docs/tools/plot_metrics.py runs/LeNet5/metrics.jsonl -o metrics.png
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log")
    p.add_argument("-o", "--output", default="metrics.png")
    args = p.parse_args()
    rows = [json.loads(line) for line in open(args.log) if line.strip()]
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val"]
    fig, (loss, acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    loss.plot([r["step"] for r in train], [r["loss"] for r in train], label="training loss")
    loss.plot([r["step"] for r in val], [r["loss"] for r in val], "o-", label="validation loss")
    loss.set_xlabel("optimiser step")
    loss.set_yscale("log")
    loss.legend()
    acc.plot([r["step"] for r in val], [r["top1"] for r in val], "o-", label="validation top-1")
    acc.plot([r["step"] for r in val], [r["top5"] for r in val], "o-", label="validation top-5")
    acc.plot(
        [r["step"] for r in val],
        [r["train_top1"] for r in val],
        "s--",
        label="training top-1 (running)",
    )
    acc.set_xlabel("optimiser step")
    acc.set_ylabel("%")
    acc.set_ylim(0, 100)
    acc.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)


if __name__ == "__main__":
    main()
