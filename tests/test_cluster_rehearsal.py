"""Rehearse a cluster run on one machine, with real processes (the README's section of that name).

Two "nodes": two `accelerate launch --num_machines 2 --machine_rank 0|1` commands, each in a
session of its own with its own node-local cache folder (--feature-cache-dir) and one process of batch
b, DataLoader workers running. Mid-epoch the whole job gets SIGTERM, every process group of
it, as SLURM/`scancel` send it. The relaunch resumes from `latest`; the final weights and
history equal one process with global batch 2b, uninterrupted. Every wait is bounded.
"""

from __future__ import annotations

import glob
import json
import os

import pytest
import torch

from launching import launcher_env, machine_cmd, signal_job, start, wait_all, wait_for
from processes import free_port

STEPS_PER_EPOCH = 24  # 48 rows, global batch 2


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    from processes import reset_accelerate_state

    yield
    reset_accelerate_state()


@pytest.fixture(scope="module")
def rehearsal_data(tmp_path_factory):
    from synthetic_data import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("rehearsal") / "data", splits={"train": 48, "validation": 8})


def common_flags(data, model, out):
    return ["--dataset", data, "--model", model, "--output-dir", out, "--global-batch-size", "2", "--epochs", "2",
            "--max-duration", "1.0", "--crops-per-clip", "2", "--seed", "3", "--checkpoint-every", "3",
            "--num-workers", "1", "--no-progress-bar", "--report-to", "none"]


def launch_job(flags, tmp_path, tag):
    """Both machine ranks of the job; returns (processes, log paths)."""
    port = free_port()
    procs, logs = [], []
    for rank in (0, 1):
        env = launcher_env(HF_HOME=tmp_path / f"node{rank}" / "hf", ACCELERATE_USE_CPU="true")  # gloo CPU ranks
        log = tmp_path / f"{tag}-node{rank}.log"
        local = ["--feature-cache-dir", tmp_path / f"node{rank}" / "feature_cache"]  # node-local scratch
        procs.append(start(machine_cmd(rank, 2, port, list(flags) + local), env, log))
        logs.append(log)
    return procs, logs


def read(paths):
    return "\n".join(p.read_text(errors="replace") for p in paths)


def tails(paths, chars=3000):
    """The end of each node's log, so a failure shows what every node saw."""
    return "\n".join(f"----- {p.name}\n" + p.read_text(errors="replace")[-chars:] for p in paths)


def test_two_nodes_sigterm_mid_epoch_resume_equals_one_process_uninterrupted(rehearsal_data, tiny_smoothclap, tmp_path):
    import smoothclap.training.trainer as train_accelerate
    from safetensors.torch import load_file

    out = tmp_path / "run"
    flags = common_flags(rehearsal_data, tiny_smoothclap, out)
    procs, logs = launch_job(flags, tmp_path, "first")
    checkpoint = out / "checkpoints" / "step_00000003"
    reached = wait_for(lambda: checkpoint.is_dir() or any(p.poll() is not None for p in procs), timeout=400)
    assert reached and checkpoint.is_dir(), tails(logs)
    groups = signal_job(procs)  # SIGTERM to every process group of the job, workers included
    assert len(groups) >= 3, groups  # two launchers' sessions and the ranks' own (torchrun's setsid)
    codes = wait_all(procs, timeout=180)
    log = read(logs)
    assert None not in codes, "the job did not stop within 180 s of SIGTERM:\n" + tails(logs)
    assert "2 process(es) x batch 1 = global 2" in log, tails(logs)
    assert "interrupted (SIGTERM, step" in log and "killed by signal" not in log, tails(logs)
    steps = sorted(int(os.path.basename(p).split("_")[1]) for p in glob.glob(str(out / "checkpoints" / "step_*")))
    assert steps and 3 < steps[-1] < 2 * STEPS_PER_EPOCH and steps[-1] % STEPS_PER_EPOCH, steps  # mid-epoch
    assert not glob.glob(str(out / "checkpoints" / ".tmp*")), "a half-written checkpoint was left"
    assert not (out / "model").exists()

    procs, logs = launch_job(flags + ["--resume-from-checkpoint", "latest"], tmp_path, "resumed")
    codes = wait_all(procs, timeout=400)
    log = read(logs)
    assert codes == [0, 0], tails(logs)
    assert f"resumed from {out / 'checkpoints' / f'step_{steps[-1]:08d}'}" in log
    for rank in (0, 1):  # each node built (or read) its own cache, in its own folder
        cached = glob.glob(str(tmp_path / f"node{rank}" / "feature_cache" / "*" / "*.safetensors"))
        assert cached, f"node {rank} has no feature cache of its own"

    reference = train_accelerate.main([str(x) for x in (  # flags given twice: the last wins
        common_flags(rehearsal_data, tiny_smoothclap, tmp_path / "one")
        + ["--num-workers", "0", "--feature-cache-dir", tmp_path / "one-cache"])])
    assert reference["num_processes"] == 1 and reference["global_batch_size"] == 2
    results = json.loads((out / "model" / "training_results.json").read_text())
    assert results["num_processes"] == 2 and results["global_step"] == reference["global_step"] == 2 * STEPS_PER_EPOCH
    assert len(results["history"]) == len(reference["history"]) == 2
    for got, want in zip(results["history"], reference["history"]):
        assert (got["epoch"], got["step"], got["validation_uar"]) == (want["epoch"], want["step"], want["validation_uar"])
        assert got["train_loss"] == pytest.approx(want["train_loss"], abs=1e-4)
    two, one = load_file(out / "model" / "model.safetensors"), load_file(tmp_path / "one" / "model" / "model.safetensors")
    assert two.keys() == one.keys()
    for key in one:  # all-reduce sums in another order than one process: equal to float32 rounding
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-4, msg=lambda m: f"{key}: {m}")
    changed = [k for k in one if not torch.equal(one[k], load_file(os.path.join(tiny_smoothclap, "model.safetensors"))[k])]
    assert any(k.startswith("text_model.") for k in changed) and any("projection" in k for k in changed)
