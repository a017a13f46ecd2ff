"""The training backend: the generated script is run, on the CPU, as a user would run it."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netdsl.api import load

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("tqdm")

from netdsl.backends.pytorch import generate as pytorch_generate  # noqa: E402
from netdsl.backends.train import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
# One thread: fast start-up on a shared CI machine, and the same kernels in every run.
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
FAST = ["--fake-data", "--device", "cpu", "--workers", "0", "--no-progress"]


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """name -> path of a generated training script (compiled once)."""
    folder = tmp_path_factory.mktemp("train_gen")
    made: dict[str, Path] = {}

    def make(net: str, **defines):
        key = net + repr(sorted(defines.items()))
        if key not in made:
            G = load(str(DATA / net if "/" not in net else ROOT / net), defines=defines)
            path = folder / f"train_{len(made)}.py"
            path.write_text(generate(G, {}, "py"))
            made[key] = path
        return made[key]

    return make


@pytest.fixture(scope="module")
def short_run(scripts, tmp_path_factory):
    """A 2-step run of train_tiny.net: (script, its --out folder). Copy before changing."""
    script = scripts("train_tiny.net")
    cwd = tmp_path_factory.mktemp("short_run")
    run(
        script, "--max-steps", "2", "--fake-size", "32", "--batch-size", "16", "--out", "o", cwd=cwd
    )
    return script, cwd / "o"


def run(script: Path, *args: str, cwd: Path, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(script), *FAST, *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def torchrun(script: Path, nproc: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc)]
    cmd += ["--master-port", str(29500 + os.getpid() % 1000), str(script), *FAST, *args]
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def import_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def records(out: Path, kind: str) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def final_model(out: Path) -> dict:
    last = sorted(out.glob("checkpoint-*.pt"))[-1]
    return torch.load(last, weights_only=False)["model"]


# ---------------------------------------------------------------- generation
def test_script_is_the_pytorch_module_plus_training_code(scripts):
    G = load(str(DATA / "train_tiny.net"))
    model = pytorch_generate(G, {})
    text = scripts("train_tiny.net").read_text()
    cls = model[model.index("class Tiny(") : model.index("INPUT_SHAPE")]
    assert cls in text  # the PyTorch backend's code, unchanged
    assert text.count("def main(") == 1  # its demo main() is replaced by the trainer's
    assert text.count('if __name__ == "__main__":') == 1
    compile(text, "train.py", "exec")


def test_recipe_from_the_file_reaches_the_script(scripts):
    module = import_script(scripts("train_tiny.net"))
    r = module.RECIPE
    assert r["optimizer"] == {
        "name": "sgd",
        "lr": 0.05,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "nesterov": False,
    }
    assert r["schedule"] == {"name": "step", "every": 2, "gamma": 0.5}
    assert r["epochs"] == 4 and r["batch"] == 32 and r["warm_start"] == ["conv1.*"]
    assert module.RECIPE_ORIGIN["optimizer"] == "file"
    assert module.RECIPE_ORIGIN["label_smoothing"] == "default"


def test_googlenet_aux_weights_and_paper_recipe(scripts):
    module = import_script(scripts("networks/googlenet.net"))
    assert module.OUTPUTS == {"logits": 1.0, "aux1": 0.3, "aux2": 0.3}
    assert module.RECIPE["schedule"] == {"name": "step", "every": 8, "gamma": 0.96}


def test_two_inputs_are_refused_with_a_clear_error(tmp_path):
    from netdsl.diagnostics import NetdslError

    net = tmp_path / "two.net"
    net.write_text(
        "network Two { input a: 3x8x8\n input b: 3x8x8\n x = a + b\n"
        " out logits = x -> flatten -> linear(2) }"
    )
    with pytest.raises(NetdslError) as exc:
        generate(load(str(net)), {}, "py")
    assert exc.value.diagnostics[0].code == "E906"


# ------------------------------------------------------------------- running
def test_overfits_a_fixed_batch_of_64(scripts, tmp_path):
    script = scripts("train_mlp.net")
    args = ["--fake-size", "64", "--batch-size", "64", "--no-augment", "--epochs", "25"]
    run(script, *args, "--schedule", "constant", "--out", "o", cwd=tmp_path)
    val = records(tmp_path / "o", "val")
    assert len(val) == 25
    assert val[-1]["train_top1"] == 100.0  # every one of the 64 images right
    assert val[0]["train_top1"] < 50.0


def test_prints_recipe_memory_and_writes_metrics(scripts, tmp_path):
    proc = run(
        scripts("train_tiny.net"),
        "--max-steps",
        "2",
        "--fake-size",
        "64",
        "--batch-size",
        "16",
        "--out",
        "o",
        cwd=tmp_path,
    )
    assert "sgd(lr=0.05, momentum=0.9, weight_decay=0.0001, nesterov=False)  [file]" in (
        proc.stdout
    )
    assert "memory per process (estimate): activations" in proc.stdout
    train = records(tmp_path / "o", "train")
    assert train and {"step", "loss", "lr", "images_per_s", "top1"} <= set(train[-1])
    assert (tmp_path / "o" / "checkpoint-00000002.pt").exists()


def test_kill_and_resume_is_bitwise_identical(scripts, tmp_path):
    script = scripts("train_tiny.net")
    args = [
        *FAST,
        "--fake-size",
        "256",
        "--batch-size",
        "16",
        "--max-steps",
        "8",
        "--save-every",
        "3",
        "--deterministic",
    ]
    run(script, *args[len(FAST) :], "--out", "a", cwd=tmp_path)
    proc = subprocess.Popen(
        [sys.executable, str(script), *args, "--out", "b"],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not list((tmp_path / "b").glob("checkpoint-*.pt")):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = sorted(p.name for p in (tmp_path / "b").glob("checkpoint-*.pt"))
    assert "checkpoint-00000008.pt" not in kept  # killed mid-run (16 steps per epoch)
    resumed = run(script, *args[len(FAST) :], "--out", "b", "--resume", cwd=tmp_path)
    assert "resumed from" in resumed.stdout
    a, b = final_model(tmp_path / "a"), final_model(tmp_path / "b")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    steps = [r["step"] for r in records(tmp_path / "b", "train")]
    assert steps == sorted(set(steps))  # the killed run's extra log lines were dropped


def test_torchrun_two_processes_ddp_and_fsdp(scripts, tmp_path):
    script = scripts("train_tiny.net", p=0)  # no dropout: both strategies see one stream
    args = ["--fake-size", "128", "--batch-size", "8", "--max-steps", "4", "--save-every", "2"]
    ddp = torchrun(script, 2, *args, "--out", "ddp", cwd=tmp_path)
    assert "8 per process x 2 x 1 accumulated = 16" in ddp.stdout
    names = sorted(p.name for p in (tmp_path / "ddp").glob("checkpoint-*.pt"))
    assert names == ["checkpoint-00000002.pt", "checkpoint-00000004.pt"]
    ck = torch.load(tmp_path / "ddp" / names[-1], weights_only=False)
    assert ck["world"] == 2 and len(ck["rng"]) == 2 and ck["step"] == 4
    torchrun(script, 2, *args, "--strategy", "fsdp", "--out", "fsdp", cwd=tmp_path)
    a, b = final_model(tmp_path / "ddp"), final_model(tmp_path / "fsdp")
    assert a.keys() == b.keys()
    start = import_script(script).create_model().state_dict()
    for key in a:  # the same training, sharded or replicated
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key
    assert not torch.equal(a["conv1.weight"], start["conv1.weight"])  # it did train


def test_warm_start_copies_exactly_the_requested_tensors(scripts, tmp_path):
    module = import_script(scripts("train_tiny.net"))
    torch.manual_seed(123)
    source = module.create_model().state_dict()
    torch.save({"model": source}, tmp_path / "src.pt")
    torch.manual_seed(0)
    model = module.create_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copied = module.warm_start(model, tmp_path / "src.pt", ["conv1.*", "fc.bias"], lambda m: 0)
    assert copied == ["conv1.weight", "conv1.bias", "fc.bias"]
    after = model.state_dict()
    for key in after:
        expected = source[key] if key in copied else before[key]
        assert torch.equal(after[key], expected), key
    assert not torch.equal(after["conv2.weight"], source["conv2.weight"])


def test_warm_start_shape_mismatch_names_both_shapes(scripts, tmp_path):
    small = import_script(scripts("train_tiny.net", width=4))
    torch.save({"model": small.create_model().state_dict()}, tmp_path / "small.pt")
    proc = run(
        scripts("train_tiny.net"),
        "--init-from",
        str(tmp_path / "small.pt"),
        "--init-patterns",
        "conv1.weight",
        "--max-steps",
        "1",
        "--out",
        "o",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 1
    assert "conv1.weight has shape (4, 3, 3, 3) there but (8, 3, 3, 3) in Tiny" in proc.stderr


def test_warm_start_from_the_command_line_prints_what_it_copied(short_run, tmp_path):
    script, out = short_run
    proc = run(
        script,
        "--init-from",
        str(out / "checkpoint-00000002.pt"),
        "--max-steps",
        "1",
        "--fake-size",
        "32",
        "--batch-size",
        "16",
        "--out",
        "b",
        cwd=tmp_path,
    )
    # the recipe's warm_start = ["conv1.*"]
    assert "copied 2 tensors: conv1.weight, conv1.bias" in proc.stdout


def test_vgg_recipe_warm_starts_vgg16_from_vgg11(scripts):
    """The paper's warm start: VGG-A's first four convolutions and three FC layers."""
    vgg16 = import_script(scripts("networks/vgg16.net"))
    vgg11 = import_script(scripts("networks/vgg11.net"))
    with torch.device("meta"):
        target = vgg16.create_model().state_dict()
        source = vgg11.create_model().state_dict()
    copied = vgg16.plan_warm_start(target, source, vgg16.RECIPE["warm_start"])
    convs = sorted({k.rsplit(".", 1)[0] for k in copied if k.startswith("features")})
    fcs = sorted({k.rsplit(".", 1)[0] for k in copied if k.startswith("classifier")})
    assert len(convs) == 4 and len(fcs) == 3 and len(copied) == 14


# -------------------------------------------------------------------- errors
def test_corrupt_checkpoint_is_an_error_not_a_fresh_start(short_run, tmp_path):
    script, out = short_run
    (tmp_path / "o").mkdir()
    ck = tmp_path / "o" / "checkpoint-00000002.pt"
    ck.write_bytes((out / ck.name).read_bytes()[:1000])  # truncated
    proc = run(
        script,
        "--max-steps",
        "4",
        "--fake-size",
        "32",
        "--batch-size",
        "16",
        "--out",
        "o",
        "--resume",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 1
    assert "truncated or corrupt" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in (tmp_path / "o").glob("checkpoint-*")) == [ck.name]


def test_existing_run_needs_resume(short_run):
    script, out = short_run
    proc = run(script, "--max-steps", "1", "--out", str(out), cwd=out.parent, check=False)
    assert proc.returncode == 1 and "pass --resume" in proc.stderr


def test_missing_data_folder(scripts, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(scripts("train_tiny.net")),
            "--data",
            str(tmp_path / "nope"),
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "o"),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert f"no train data: {tmp_path / 'nope' / 'train'} is not a folder" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_class_count_mismatch(scripts, tmp_path):
    from PIL import Image

    for part in ("train", "val"):
        for cls in ("cat", "dog", "emu"):
            folder = tmp_path / "data" / part / cls
            folder.mkdir(parents=True)
            Image.new("RGB", (20, 20)).save(folder / "0.png")
    proc = subprocess.run(
        [
            sys.executable,
            str(scripts("train_tiny.net")),
            "--data",
            str(tmp_path / "data"),
            "--device",
            "cpu",
            "--workers",
            "0",
            "--out",
            str(tmp_path / "o"),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "the network predicts 10 classes, the data has 3" in proc.stderr
    assert "-D classes=3" in proc.stderr
