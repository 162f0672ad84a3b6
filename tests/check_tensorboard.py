"""TensorBoard's own reader on seqenc's events files: a two-run sweep with train.tensorboard on, then a run killed
with SIGKILL mid-way and resumed. For every run, the scalars TensorBoard reads equal its metrics.jsonl, each step
once, and the sweep's runs carry their hyperparameters.

Usage: check_tensorboard.py SEQENC_BINARY SOURCE_DIR WORK_DIR. Runs under the project's .venv (where
scripts/setup-tensorboard installs the tensorboard package); says it is skipped when that is absent.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

SKIPPED_FIELDS = {"step", "epoch", "split", "elapsed_s", "examples", "labels"}
TINY = ["--set", "data.train_size=200", "--set", "data.valid_size=50", "--set", "data.test_size=50",
        "--set", "train.threads=1"]


def reexec_in_venv(source_dir):
    python = os.path.join(source_dir, ".venv", "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(source_dir, ".venv")):
        return
    ok = os.path.exists(python) and subprocess.run(
        [python, "-c", "import tensorboard"], capture_output=True).returncode == 0
    if not ok:
        print("SEQENC-SKIPPED: no tensorboard in " + os.path.join(source_dir, ".venv") +
              " (./scripts/setup-tensorboard installs it)")
        sys.exit(0)
    os.execv(python, [python] + sys.argv)


def run_seqenc(command):
    """Runs seqenc quietly; its output is shown only when it fails."""
    r = subprocess.run(command, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {r.returncode}:\n{r.stdout}{r.stderr}")


def metrics_by_tag(run):
    """metrics.jsonl as {(tag, step): value}, with TensorBoard's tags (train/loss, valid/accuracy_by_distance/3)."""
    out = {}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            j = json.loads(line)
            for key, value in j.items():
                if key in SKIPPED_FIELDS:
                    continue
                if isinstance(value, dict):
                    for group, v in value.items():
                        out[(f"{j['split']}/{key}/{group}", j["step"])] = v
                else:
                    out[(f"{j['split']}/{key}", j["step"])] = value
    return out


def check_run(run, hparams=None):
    import numpy as np
    from tensorboard.backend.event_processing import event_accumulator, event_file_loader
    from tensorboard.plugins.hparams import plugin_data_pb2

    tb = os.path.join(run, "tb")
    acc = event_accumulator.EventAccumulator(tb, size_guidance={"scalars": 0})
    acc.Reload()
    seen = {}
    for tag in acc.Tags()["scalars"]:
        for e in acc.Scalars(tag):
            seen[(tag, e.step)] = e.value
    expected = metrics_by_tag(run)
    assert set(seen) == set(expected), (run, sorted(set(seen) ^ set(expected))[:10])
    for key, value in expected.items():
        assert seen[key] == np.float32(value), (run, key, seen[key], value)
    # Each step once in the files themselves, not only after TensorBoard's purge of a resumed run's steps.
    raw = []
    for name in sorted(os.listdir(tb)):
        for event in event_file_loader.EventFileLoader(os.path.join(tb, name)).Load():
            raw += [(v.tag, event.step) for v in event.summary.value if v.HasField("simple_value")]
    assert len(raw) == len(set(raw)), (run, "a step written twice")
    if hparams is not None:
        content = acc.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        got = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
               for k, v in start.session_start_info.hparams.items()}
        assert got == hparams, (run, got, hparams)
        end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"])
        assert end.session_end_info.status == 1, (run, end)
    return len(seen)


def main():
    binary, source, work = sys.argv[1:4]
    reexec_in_venv(source)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    config = os.path.join(source, "configs", "lag.yaml")
    sweep = os.path.join(work, "sweep")
    run_seqenc([binary, "sweep", "--config", config, "--run-dir", sweep, "--grid", "model.num_layers=1,2",
                "--set", "train.steps=40", "--set", "train.eval_every=20", "--set", "train.log_every=5"] + TINY)
    for layers in (1, 2):
        n = check_run(os.path.join(sweep, f"model.num_layers={layers}", "seed-1"),
                      {"model.num_layers": float(layers), "train.seed": 1.0})
        print(f"sweep run model.num_layers={layers}: {n} scalars read by TensorBoard equal metrics.jsonl")

    run = os.path.join(work, "killed")
    command = [binary, "train", "--config", config, "--run-dir", run, "--set", "train.tensorboard=true",
               "--set", "train.steps=300", "--set", "train.eval_every=50", "--set", "train.log_every=5"] + TINY
    p = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = os.path.join(run, "metrics.jsonl")
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None:  # past the first checkpoint (step 50), then kill -9
        if os.path.exists(metrics) and any(json.loads(l)["step"] > 60 for l in open(metrics) if l.endswith("\n")):
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert os.path.exists(os.path.join(run, "checkpoint_last.pt"))
    from tensorboard.backend.event_processing import event_file_loader
    for name in os.listdir(os.path.join(run, "tb")):  # what the kill left reads
        list(event_file_loader.EventFileLoader(os.path.join(run, "tb", name)).Load())
    run_seqenc(command + ["--resume"])
    n = check_run(run)
    print(f"run killed at a step past 60 and resumed: {n} scalars read by TensorBoard equal metrics.jsonl, each once")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
