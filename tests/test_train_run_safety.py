"""What the first real run depends on: accumulation counts, the launcher's precision and
process count, dropout-free text targets, the global batch size, the row table."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from conftest import ROOT, tiny_audio_config, tiny_text_config
from launching import accelerate_cmd, launcher_env
from test_train_accelerate import flags


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    from processes import reset_accelerate_state

    yield
    reset_accelerate_state()


def test_gradient_accumulation_steps_on_the_last_short_window_and_trains_every_epoch(tiny_data, tiny_smoothclap,
                                                                                      feature_cache_dir, tmp_path):
    import smoothclap.training.trainer as train_accelerate

    # 16 rows / batch 4 = 4 batches an epoch; accumulation 3 -> windows of 3 and 1 -> 2 steps an epoch
    results = train_accelerate.main(flags(tiny_data, tiny_smoothclap, tmp_path / "run", "--gradient-accumulation-steps",
                                          "3", "--epochs", "2", cache_dir=feature_cache_dir))
    assert results["global_step"] == 4 and results["epochs_trained"] == 2, results
    assert [h["step"] for h in results["history"]] == [2, 4]
    saved = json.loads((tmp_path / "run" / "model" / "training_results.json").read_text())
    assert (saved["global_step"], saved["epochs_trained"]) == (4, 2)


def test_accumulation_help_says_it_does_not_enlarge_the_contrastive_batch():
    from smoothclap.training.config import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "does NOT enlarge the contrastive batch" in text and "ceil(batches / N)" in text


def test_launcher_precision_and_a_one_process_multi_cpu_config_are_reported(tiny_data, tiny_smoothclap, tmp_path):
    """`accelerate launch --mixed_precision bf16` reaches the trainer (no script default
    overrides it), and a MULTI_CPU config that asks for 2 processes but starts one says so."""
    import subprocess

    config = tmp_path / "multi_cpu.yaml"
    config.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_CPU\nnum_machines: 1\n"
                      "num_processes: 2\nmixed_precision: 'no'\nuse_cpu: true\n")
    out = tmp_path / "run"
    cmd = accelerate_cmd("--config_file", config, "--mixed_precision", "bf16", os.path.join(ROOT, "train_accelerate.py"),
                         *flags(tiny_data, tiny_smoothclap, out, "--max-steps", "2", "--epochs", "1",
                                "--validation-split", "none", "--feature-cache-dir", tmp_path / "cache"))
    proc = subprocess.run(cmd, cwd=ROOT, env=launcher_env(), capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "1 process(es) x batch 4 = global 4" in log, log[-3000:]
    assert "mixed precision: bf16" in log
    assert "WARNING: the launcher prepared a multi-process run" in log and "started ONE process" in log
    results = json.loads((out / "model" / "training_results.json").read_text())
    assert results["mixed_precision"] == "bf16" and results["num_processes"] == 1
    assert json.loads((out / "model" / "training_args.json").read_text())["mixed_precision"] == "bf16"


def test_mixed_precision_defaults_to_none_so_accelerate_decides():
    from smoothclap.training.config import parse_args

    assert parse_args(["--dataset", "d", "--output-dir", "o"]).mixed_precision is None


# --------------------------------------------------------------------------- text targets
def _dropout_model(**kwargs):
    from smoothclap.models.configuration_smoothclap import SmoothClapConfig
    from smoothclap.models.modeling_smoothclap import SmoothClapModel

    torch.manual_seed(0)
    config = SmoothClapConfig.from_audio_text_configs(
        tiny_audio_config(), tiny_text_config(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3),
        projection_dim=16, projection_dropout=0.5, beta=0.5, gamma=0.5, **kwargs)
    model = SmoothClapModel(config)
    model.freeze_encoder("audio")
    return model.train()


def test_text_to_text_targets_carry_no_dropout_and_no_gradient(processor):
    model = _dropout_model()
    texts = processor(text=["speaker is calm", "a man is speaking and pitch is high", "speaker is angry"],
                      return_tensors="pt")
    targets = [model.target_text_features(model.get_text_features(**texts).pooler_output, **texts) for _ in range(2)]
    assert torch.equal(targets[0], targets[1])  # two train-mode passes: identical targets
    assert not targets[0].requires_grad
    assert model.text_model.training and model.text_projection.training  # train mode restored
    with torch.no_grad():
        clean = model.eval().get_text_features(**texts).pooler_output
    torch.testing.assert_close(targets[0], clean)
    model.train()
    noisy = [model.get_text_features(**texts).pooler_output for _ in range(2)]
    assert not torch.equal(noisy[0], noisy[1])  # the control: training-mode embeddings do differ


def test_forward_loss_uses_the_clean_text_targets(processor):
    from smoothclap.models.modeling_smoothclap import soft_target_loss

    model = _dropout_model()
    texts = processor(text=["speaker is calm", "pitch is high", "speaker is angry"], return_tensors="pt")
    waves = [np.sin(np.arange(8000) * f).astype(np.float32) for f in (0.05, 0.09, 0.13)]
    audio = processor(audio=waves, sampling_rate=16000, return_tensors="pt")
    torch.manual_seed(5)
    out = model(**texts, input_values=audio["input_values"], audio_attention_mask=audio["audio_attention_mask"],
                return_loss=True)
    clean = model.clean_text_embeds(**texts)
    cfg = model.config
    want = soft_target_loss(out.audio_embeds, out.text_embeds, model.scale(), out.audio_pooled_output.detach(), clean,
                            beta=cfg.beta, gamma=cfg.gamma, tau_a2a=cfg.tau_a2a, tau_t2t=cfg.tau_t2t,
                            tau_pred=cfg.tau_pred)
    torch.testing.assert_close(out.loss, want)


# --------------------------------------------------------------------------- batch size, rows
def test_global_batch_size_splits_over_processes_or_says_why_not():
    from smoothclap.training.config import TrainingConfigError, parse_args, resolve_batch_size, validate_args

    args = parse_args(["--dataset", ROOT, "--output-dir", "o", "--model", "m", "--global-batch-size", "32"])
    assert resolve_batch_size(args, 4) == 8 and args.global_batch_size == 32
    args = parse_args(["--dataset", ROOT, "--output-dir", "o", "--model", "m", "--global-batch-size", "32"])
    with pytest.raises(TrainingConfigError, match="does not divide over 3 processes"):
        resolve_batch_size(args, 3)
    args = parse_args(["--dataset", ROOT, "--output-dir", "o", "--model", "m"])
    assert resolve_batch_size(args, 2) == 32 and args.global_batch_size == 64  # --batch-size is per process
    both = parse_args(["--dataset", ROOT, "--output-dir", "o", "--model", "m", "--batch-size", "4",
                       "--global-batch-size", "8"])
    with pytest.raises(TrainingConfigError, match="not both"):
        validate_args(both)
    # a config file's global batch gives way to --batch-size on the command line (flags win)
    paper = parse_args(["--config", os.path.join(ROOT, "configs", "msp_podcast.yaml"), "--batch-size", "8"])
    assert (paper.batch_size, paper.global_batch_size) == (8, None)


def test_row_table_keeps_columns_in_arrow_and_numpy_and_gives_the_same_captions(tiny_data):
    import datasets

    from smoothclap.data.captions import load_thresholds, make_caption
    from smoothclap.training.config import parse_args
    from smoothclap.training.data import RowTable, caption_seed

    split = datasets.load_from_disk(tiny_data)["train"]
    args = parse_args(["--dataset", tiny_data, "--output-dir", "o", "--seed", "3"])
    args.caption_variant, args.max_tags = "emotion_plus", 5
    thresholds = load_thresholds(os.path.join(tiny_data, "thresholds.json"))
    table = RowTable(split, args, thresholds, egemaps_stats=(torch.zeros(88, dtype=torch.float64),
                                                             torch.ones(88, dtype=torch.float64)))
    assert not hasattr(table, "rows")  # no list of Python row dicts
    assert isinstance(table.egemaps_values, np.ndarray) and table.egemaps_values.shape == (len(split), 88)
    rows = split.select_columns([c for c in split.column_names if c != "audio"]).to_list()  # the old way
    for i in range(len(split)):
        assert table.caption(i, 1) == make_caption(rows[i], thresholds, seed=caption_seed(3, 1),
                                                   variant="emotion_plus", max_tags=5)
    torch.testing.assert_close(table.egemaps([3, 1]), torch.tensor([rows[3]["egemaps"], rows[1]["egemaps"]]))


def test_workers_ignore_stop_signals_so_the_main_process_decides():
    import subprocess
    import sys

    code = ("import os, signal, time, torch\n"
            "from smoothclap.processes import ignore_stop_signals\n"
            "class D(torch.utils.data.Dataset):\n"
            "    def __len__(self): return 4\n"
            "    def __getitem__(self, i):\n"
            "        os.kill(os.getpid(), signal.SIGTERM); os.kill(os.getpid(), signal.SIGINT); return i\n"
            "init = ignore_stop_signals if os.environ['IGNORE'] == '1' else None\n"
            "print(list(torch.utils.data.DataLoader(D(), num_workers=1, worker_init_fn=init)))\n")
    results = {}
    for ignore in ("1", "0"):
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, IGNORE=ignore, PYTHONPATH=ROOT))
        results[ignore] = proc
    assert results["1"].returncode == 0 and "[tensor([0]), tensor([1])" in results["1"].stdout, results["1"].stderr
    assert results["0"].returncode != 0 and "killed by signal" in results["0"].stderr  # the control


def test_gpu_smoke_without_a_gpu_says_so_in_one_line_and_exits_0():
    import subprocess
    import sys

    if torch.cuda.is_available():
        pytest.fail("this test covers the no-GPU path; on a GPU node run bench/gpu_smoke.py itself")
    run = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gpu_smoke.py")], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU" in lines[0] and "--cpu-rehearsal" in lines[0], run.stdout
