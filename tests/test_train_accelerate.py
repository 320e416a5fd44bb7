"""train_accelerate.py: end to end, global batch, resume after SIGKILL, cache, LoRA, faults.

Data: a tiny dataset in the layout `python -m smoothclap.data build` writes (same columns,
`smoothclap.json`, `thresholds.json`; tags and captions from `smoothclap.data.captions`),
made of generated tones once per session (`tests/synthetic_data.py`). Model: a tiny SmoothCLAP (hidden 32, 2 layers)
saved as a folder, without dropout in the text tower so that runs can be compared exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import ROOT, tiny_audio_config, tiny_processor, tiny_text_config, tone

def write_tiny_model(path, seed=0, **config_kwargs):
    """A tiny SmoothCLAP + processor folder (text tower without dropout: exact comparisons)."""
    from smoothclap.models.configuration_smoothclap import SmoothClapConfig
    from smoothclap.models.modeling_smoothclap import SmoothClapModel

    torch.manual_seed(seed)
    config = SmoothClapConfig.from_audio_text_configs(
        tiny_audio_config(), tiny_text_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
        projection_dim=16, projection_dropout=0.0, **config_kwargs)
    SmoothClapModel(config).save_pretrained(str(path))
    tiny_processor().save_pretrained(str(path))
    return str(path)


# --------------------------------------------------------------------------- fixtures
# tiny_data, tiny_smoothclap, feature_cache_dir: tests/conftest.py


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Each main() call builds its own Accelerator (as a fresh `accelerate launch` would)."""
    from processes import reset_accelerate_state

    yield
    reset_accelerate_state()


def flags(data, model, out, *extra, cache_dir=None):
    base = ["--dataset", str(data), "--model", str(model), "--output-dir", str(out), "--batch-size", "4",
            "--epochs", "2", "--max-duration", "1.0", "--no-progress-bar", "--report-to", "none", "--seed", "3",
            "--crops-per-clip", "2"]  # the same crops everywhere: one feature cache per session
    if cache_dir is not None:
        base += ["--feature-cache-dir", str(cache_dir)]
    return base + [str(x) for x in extra]


def load_weights(folder):
    from safetensors.torch import load_file

    return load_file(os.path.join(folder, "model.safetensors"))




FRESH_PROCESS = r"""
import json, sys
import numpy as np
from transformers import AutoModel, pipeline
folder = sys.argv[1]
model = AutoModel.from_pretrained(folder, trust_remote_code=True)
assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
clf = pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True)
t = np.arange(16000) / 16000
out = clf((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), candidate_labels=["angry", "sad", "happy"],
          hypothesis_template="this person is feeling {}.")
print(json.dumps(out))
"""


def run_fresh(code, *args, env_extra=None, timeout=180):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **(env_extra or {}))
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(args[0]) if args else None)


# --------------------------------------------------------------------------- end to end
def test_end_to_end_trains_checkpoints_exports_and_loads_in_a_fresh_process(tiny_data, tiny_smoothclap,
                                                                              feature_cache_dir, tmp_path):
    import smoothclap.training.trainer as train_accelerate

    out = tmp_path / "run"
    results = train_accelerate.main(flags(tiny_data, tiny_smoothclap, out, "--epochs", "4", "--head-lr", "3e-3",
                                          "--checkpoint-every", "3", "--report-to", "tensorboard",
                                          cache_dir=feature_cache_dir))
    losses = [h["train_loss"] for h in results["history"]]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    assert all(h["validation_uar"] is not None for h in results["history"])
    assert results["validation_uar"] == max(h["validation_uar"] for h in results["history"])
    assert 1 <= len(os.listdir(out / "checkpoints")) <= 2  # --keep-checkpoints 2 (default)
    assert os.path.isfile(out / "best" / "model.safetensors")
    events = [os.path.join(r, f) for r, _, fs in os.walk(out / "logs") for f in fs if f.startswith("events.out")]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set(EventAccumulator(events[0]).Reload().Tags()["scalars"])
    assert {"train/loss", "train/lr_text", "train/lr_heads", "train/logit_scale", "train/samples_per_second",
            "validation/uar"} <= tags, tags
    folder = out / "model"
    config = json.loads((folder / "config.json").read_text())
    assert {"AutoConfig", "AutoModel"} <= set(config["auto_map"])
    # the template the validation queries were made with travels with the model (issue 22.4)
    assert config["query_template"] == "this person is feeling {}." == results["query_template"]
    for name in ("model.safetensors", "modeling_smoothclap.py", "configuration_smoothclap.py",
                 "processing_smoothclap.py", "audio_smoothclap.py", "processor_config.json", "README.md"):
        assert (folder / name).is_file(), name
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "pipeline_tag: zero-shot-audio-classification" in card
    assert f"{results['validation_uar']:.4f}" in card and "`head_lr` | `0.003`" in card
    # the exported weights are the best epoch's
    best = load_weights(out / "best")
    exported = load_weights(folder)
    assert torch.equal(best["text_projection.linear1.weight"], exported["text_projection.linear1.weight"])

    proc = run_fresh(FRESH_PROCESS, folder, env_extra={"HF_MODULES_CACHE": str(tmp_path / "modules")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(s["label"] for s in scores) == ["angry", "happy", "sad"]
    assert abs(sum(s["score"] for s in scores) - 1) < 1e-4


# --------------------------------------------------------------------------- global batch
BETAS = (0.0, 0.5)


def _one_step(rank, world, port, data, model_dir, out_dir, batch_size):
    """Loss and gradients of the first step, for each beta, on this process (rank)."""
    if world > 1:
        from processes import join_cpu_group

        join_cpu_group(rank, world, port)
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.config import parse_args

    args = parse_args(flags(data, model_dir, os.path.join(out_dir, f"run{world}"), "--batch-size", batch_size,
                            "--no-feature-cache"))
    accelerator = train_accelerate.make_accelerator(args)
    assert accelerator.num_processes == world
    run = train_accelerate.setup(args, accelerator, log=lambda *a, **k: None)
    run.collator.epoch = 0
    run.loader.set_epoch(0)
    batch = next(iter(run.loader))
    run.model.train()
    result = {"ids": batch["ids"]}
    for beta in BETAS:
        run.core.config.beta = beta
        run.optimizer.zero_grad()
        loss = train_accelerate.compute_loss(accelerator, run.model, batch, run.extractor)
        accelerator.backward(loss)
        result[beta] = {"loss": loss.detach().clone(),
                        "grads": {n: p.grad.clone() for n, p in run.core.named_parameters() if p.grad is not None}}
    torch.save(result, os.path.join(out_dir, f"world{world}-rank{rank}.pt"))
    if world > 1:
        torch.distributed.destroy_process_group()


def test_two_processes_of_batch_b_equal_one_process_of_batch_2b(tiny_data, tiny_smoothclap, tmp_path):
    from processes import free_port, run_ranks

    run_ranks(_one_step, (2, free_port(), tiny_data, tiny_smoothclap, str(tmp_path), 4),  # meanwhile: one process, batch 8
              meanwhile=lambda: _one_step(0, 1, None, tiny_data, tiny_smoothclap, str(tmp_path), 8))
    one = torch.load(tmp_path / "world1-rank0.pt")
    ranks = [torch.load(tmp_path / f"world2-rank{r}.pt") for r in range(2)]
    assert ranks[0]["ids"] + ranks[1]["ids"] == one["ids"]  # the global batch is the same rows in the same order
    for beta in BETAS:
        for rank in ranks:
            torch.testing.assert_close(rank[beta]["loss"], one[beta]["loss"], rtol=1e-5, atol=1e-5)
            assert rank[beta]["grads"].keys() == one[beta]["grads"].keys()
            for name, grad in one[beta]["grads"].items():  # gradients are O(1): 1e-5 absolute
                torch.testing.assert_close(rank[beta]["grads"][name], grad, rtol=1e-5, atol=1e-5,
                                           msg=lambda m: f"beta={beta} {name}: {m}")
        assert any(g.abs().sum() > 0 for g in one[beta]["grads"].values())
    assert not torch.allclose(one[0.0]["loss"], one[0.5]["loss"])  # beta > 0 is not InfoNCE
    text_grads = [n for n in one[0.5]["grads"] if n.startswith("text_model.")]
    assert text_grads and not [n for n in one[0.5]["grads"] if n.startswith("audio_model.")]


# --------------------------------------------------------------------------- kill, Ctrl-C, resume
def test_sigkill_or_ctrl_c_inside_an_epoch_then_resume_equals_an_uninterrupted_run(
        tiny_data, tiny_smoothclap, feature_cache_dir, tmp_path):
    import smoothclap.training.trainer as train_accelerate

    common = ("--batch-size", "2", "--checkpoint-every", "3", "--keep-checkpoints", "2")
    reference = train_accelerate.main(flags(tiny_data, tiny_smoothclap, tmp_path / "ref", *common,
                                            cache_dir=feature_cache_dir))
    assert reference["global_step"] == 16  # 2 epochs of 8 steps
    procs = {}
    for name in ("killed", "interrupted"):
        cmd = [sys.executable, os.path.join(ROOT, "train_accelerate.py"),
               *flags(tiny_data, tiny_smoothclap, tmp_path / name, *common, cache_dir=feature_cache_dir)]
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sent, deadline = set(), time.time() + 240
    while len(sent) < 2 and time.time() < deadline:  # signal each run once its step-3 checkpoint exists
        for name, proc in procs.items():
            if name not in sent and (tmp_path / name / "checkpoints" / "step_00000003").is_dir():
                proc.send_signal(signal.SIGKILL if name == "killed" else signal.SIGINT)
                sent.add(name)
        time.sleep(0.01)
    outputs = {}
    for name, proc in procs.items():
        try:
            outputs[name] = proc.communicate(timeout=max(10, deadline - time.time()))[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{name} run did not stop")
    assert procs["killed"].returncode == -signal.SIGKILL, outputs["killed"][-2000:]
    assert procs["interrupted"].returncode == 130, outputs["interrupted"][-2000:]
    assert "interrupted (SIGINT, step " in outputs["interrupted"] and "checkpoint saved" in outputs["interrupted"]
    for name in procs:
        steps = sorted(os.listdir(tmp_path / name / "checkpoints"))
        last = int(steps[-1].split("_")[1])
        assert 3 <= last < 16 and last % 8 != 0, steps  # stopped inside an epoch, before the end
        assert not (tmp_path / name / "model").exists()
        resumed = train_accelerate.main(flags(tiny_data, tiny_smoothclap, tmp_path / name, *common,
                                              "--resume-from-checkpoint", "latest", cache_dir=feature_cache_dir))
        assert resumed["global_step"] == 16 and resumed["history"] == reference["history"], name
        for folder in ("checkpoints/step_00000016", "model"):
            want, got = load_weights(tmp_path / "ref" / folder), load_weights(tmp_path / name / folder)
            assert want.keys() == got.keys()
            for key in want:
                assert torch.equal(want[key], got[key]), (name, folder, key)


# --------------------------------------------------------------------------- cache
@pytest.fixture(scope="session")
def tiny_extractor(tmp_path_factory):
    """A separate small wav2vec2 as local feature extractor (the paper's Table 2 ablation)."""
    from transformers import Wav2Vec2Model

    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("extractor") / "w2v"
    Wav2Vec2Model(tiny_audio_config(hidden_size=24, num_attention_heads=2)).save_pretrained(str(path))
    return str(path)


def first_losses(data, model, out, cache_dir, *extra, epochs=(0, 1)):
    """Loss of the first batch of each epoch in ``epochs`` (no training)."""
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.config import parse_args

    args = parse_args(flags(data, model, out, "--beta", "0.5", *extra, cache_dir=cache_dir))
    run = train_accelerate.setup(args, train_accelerate.make_accelerator(args), log=lambda *a, **k: None)
    run.model.train()
    losses = []
    for epoch in epochs:
        run.collator.epoch = epoch
        run.loader.set_epoch(epoch)
        batch = next(iter(run.loader))
        with torch.no_grad():
            losses.append(train_accelerate.compute_loss(run.accelerator, run.model, batch, run.extractor))
    return torch.stack(losses), batch


@pytest.mark.parametrize("targets", ["encoder", "extractor+tags"])
def test_cache_on_and_off_give_the_same_loss_with_the_same_crops(targets, tiny_data, tiny_smoothclap, tiny_extractor,
                                                                   feature_cache_dir, tmp_path):
    extra = () if targets == "encoder" else ("--local-features", tiny_extractor, "--text-target", "tags")
    cached, batch = first_losses(tiny_data, tiny_smoothclap, tmp_path / "a", feature_cache_dir, *extra)
    assert "pooled_audio_features" in batch and "input_values" not in batch
    uncached, batch = first_losses(tiny_data, tiny_smoothclap, tmp_path / "b", None, "--no-feature-cache", *extra)
    assert "input_values" in batch and batch["input_values"].shape[1] == 16000  # 1 s windows, padded
    torch.testing.assert_close(cached, uncached, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(cached[0], cached[1])  # another epoch: other crops and captions
    if targets != "encoder":
        assert "tags_input_ids" in batch
        # the cache file is keyed by the extractor too and holds its features
        from safetensors import safe_open

        files = [os.path.join(r, f) for r, _, fs in os.walk(feature_cache_dir) for f in fs if f == "train.safetensors"]
        assert any("local" in safe_open(f, "pt").keys() for f in files)


# --------------------------------------------------------------------------- LoRA
def test_lora_text_changes_only_adapters_heads_and_logit_scale_and_merged_export_matches(
        tiny_data, tiny_smoothclap, feature_cache_dir, tmp_path):
    import smoothclap.training.trainer as train_accelerate
    from peft import PeftModel

    from smoothclap.models.modeling_smoothclap import SmoothClapModel

    out = tmp_path / "lora"
    results = train_accelerate.main(flags(tiny_data, tiny_smoothclap, out, "--lora", "text", "--export-adapters",
                                          "--epochs", "1", "--lora-lr", "1e-2", cache_dir=feature_cache_dir))
    before, merged = load_weights(tiny_smoothclap), load_weights(out / "model")
    assert before.keys() == merged.keys()
    changed = {k for k in before if not torch.equal(before[k], merged[k])}
    allowed = ("audio_projection.", "text_projection.", "logit_scale.")
    lora_targets = {k for k in changed if k.startswith("text_model.") and (".query." in k or ".value." in k)}
    assert lora_targets and changed - lora_targets  # adapters merged into query/value; heads trained
    assert all(k.startswith(allowed) for k in changed - lora_targets), sorted(changed - lora_targets)
    # a checkpoint holds what trains: adapters and the heads' trained copies (the frozen base weights,
    # untouched as the export shows above, only as a fingerprint: tests/test_checkpoints.py)
    step_dir = sorted(os.listdir(out / "checkpoints"))[-1]
    trained = load_weights(out / "checkpoints" / step_dir)
    assert any("lora_A" in k for k in trained) and results["global_step"] == 4
    assert all("lora_" in k or "modules_to_save" in k for k in trained), sorted(trained)

    base = SmoothClapModel.from_pretrained(tiny_smoothclap).eval()
    with_adapters = PeftModel.from_pretrained(base, str(out / "adapter")).eval()
    exported = SmoothClapModel.from_pretrained(str(out / "model")).eval()
    from smoothclap.models.processing_smoothclap import SmoothClapProcessor

    processor = SmoothClapProcessor.from_pretrained(str(out / "model"), trust_remote_code=True)
    inputs = processor(text=["speaker is angry", "a male is speaking and is loud"],
                       audio=[tone(200.0, 0.7), tone(310.0, 1.1, seed=1)], sampling_rate=16000)
    with torch.no_grad():
        a, b = with_adapters(**inputs), exported(**inputs)
    torch.testing.assert_close(a.logits_per_audio, b.logits_per_audio, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.text_embeds, b.text_embeds, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- bad input and faults
def _variant(tiny_data, tmp_path, edit):
    """A copy of the tiny dataset changed by ``edit(DatasetDict) -> DatasetDict``."""
    import shutil

    import datasets

    path = tmp_path / "variant"
    dd = edit(datasets.load_from_disk(tiny_data))
    dd.save_to_disk(str(path))
    for name in ("smoothclap.json", "thresholds.json"):
        shutil.copy(os.path.join(tiny_data, name), path / name)
    for split, ds in dd.items():
        if len(ds) == 0:  # datasets writes no Arrow file for 0 rows; the builder writes an empty one
            _write_empty_arrow(path / split, ds.features.arrow_schema)
    return path


def _write_empty_arrow(split_dir, schema):
    import pyarrow as pa

    with pa.OSFile(str(split_dir / "data-00000-of-00001.arrow"), "wb") as sink:
        pa.ipc.new_stream(sink, schema).close()
    state = json.loads((split_dir / "state.json").read_text())
    state["_data_files"] = [{"filename": "data-00000-of-00001.arrow"}]
    (split_dir / "state.json").write_text(json.dumps(state))


@pytest.mark.parametrize("edit,extra,message", [
    (lambda d: d.remove_columns(["audio"]), (), "lacks the column(s) training needs: audio"),
    (lambda d: d.remove_columns(["tag_sentences", "caption"]), (), "tag_sentences or caption"),
    (lambda d: d.remove_columns(["egemaps"]), ("--local-features", "egemaps"), "egemaps"),
    (lambda d: d.remove_columns(["tags"]), ("--text-target", "tags"), "tags (--text-target tags)"),
    (lambda d: type(d)({**d, "train": d["train"].select([])}), (), "is empty"),
    (None, ("--batch-size", "17"), "larger than the train split (16 rows)"),
    (None, ("--beta", "1.5"), "--beta must be in [0, 1]"),
    (None, ("--gamma", "-0.1"), "--gamma must be in [0, 1]"),
    (None, ("--tau-a2a", "0"), "--tau-a2a must be a positive temperature"),
    (None, ("--tau-pred", "-1"), "--tau-pred must be a positive temperature"),
    (None, ("--lora", "audio", "--feature-cache"), "--lora audio trains the audio encoder"),
    (None, ("--validation-split", "test"), "selection on a test split is not allowed"),
    (None, ("--mixed-precision", "fp16"), "fp16 (from --mixed-precision) needs a GPU"),
])
def test_bad_input_is_a_clear_error_before_training(edit, extra, message, tiny_data, tmp_path, capsys):
    import smoothclap.training.trainer as train_accelerate

    data = _variant(tiny_data, tmp_path, edit) if edit else tiny_data
    (tmp_path / "no-model-here").mkdir()  # passes validate_args' path check, but cannot load:
    (tmp_path / "no-model-here" / "config.json").write_text("{}")  # so nothing was loaded
    argv = flags(data, tmp_path / "no-model-here", tmp_path / "out", *extra)
    capsys.readouterr()
    assert train_accelerate.cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_config_file_sets_options_and_flags_win(tmp_path):
    from smoothclap.training.config import TrainingConfigError, build_parser, parse_args

    help_text = build_parser().format_help()
    for flag in ("--dataset", "--model", "--audio-encoder", "--text-encoder", "--output-dir", "--batch-size",
                 "--epochs", "--max-steps", "--seed", "--beta", "--gamma", "--checkpoint-every",
                 "--resume-from-checkpoint", "--no-feature-cache", "--lora", "--mixed-precision", "--push-to-hub",
                 "--config"):  # the fixed names
        assert f" {flag} " in help_text or f" {flag}\n" in help_text, flag

    (tmp_path / "run.yaml").write_text("batch_size: 8\nepochs: 3\nbeta: 0.2\nlora: text\nno-feature-cache: true\n")
    args = parse_args(["--config", str(tmp_path / "run.yaml"), "--epochs", "5"])
    assert (args.batch_size, args.epochs, args.beta, args.lora, args.no_feature_cache) == (8, 5, 0.2, "text", True)
    (tmp_path / "run.json").write_text(json.dumps({"batch-size": 2, "head_lr": 0.01}))
    args = parse_args(["--config", str(tmp_path / "run.json")])
    assert (args.batch_size, args.head_lr) == (2, 0.01)
    (tmp_path / "bad.yaml").write_text("batch_sise: 8\n")
    with pytest.raises(TrainingConfigError, match="unknown option 'batch_sise'"):
        parse_args(["--config", str(tmp_path / "bad.yaml")])


def test_reusing_an_output_dir_needs_resume(tiny_data, tiny_smoothclap, tmp_path):
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.config import TrainingConfigError

    (tmp_path / "out" / "checkpoints" / "step_00000004").mkdir(parents=True)
    (tmp_path / "out" / "checkpoints" / "step_00000004" / "trainer_state.json").write_text("{}")
    with pytest.raises(TrainingConfigError, match="already holds checkpoints: pass --resume-from-checkpoint latest"):
        train_accelerate.main(flags(tiny_data, tiny_smoothclap, tmp_path / "out"))


def test_nan_loss_stops_with_step_and_row_ids_and_keeps_the_last_good_checkpoint(
        tiny_data, tiny_smoothclap, feature_cache_dir, tmp_path):
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.data import EpochSampler

    out = tmp_path / "nan"
    # Adam's first step moves each head weight by ~lr: 1e30 leaves them finite, and the
    # second forward overflows (inf -> LayerNorm -> NaN). A real divergence, not an injected one.
    with pytest.raises(train_accelerate.NonFiniteLossError) as info:
        train_accelerate.main(flags(tiny_data, tiny_smoothclap, out, "--head-lr", "1e30", "--checkpoint-every", "1",
                                    cache_dir=feature_cache_dir))
    message = str(info.value)
    assert "loss is nan at step 2 (epoch 0, batch 1 of the epoch)" in message
    import datasets

    ids = datasets.load_from_disk(tiny_data)["train"]["id"]
    sampler = EpochSampler(len(ids), 3)
    expected = [ids[i] for i in list(sampler)[4:8]]  # the second batch of 4 of epoch 0 (seed 3)
    assert ", ".join(expected) in message
    assert sorted(os.listdir(out / "checkpoints")) == ["step_00000001"]
    assert f"last good checkpoint, untouched: {out / 'checkpoints' / 'step_00000001'}" in message
    state = json.loads((out / "checkpoints" / "step_00000001" / "trainer_state.json").read_text())
    assert state["global_step"] == 1
    assert all(torch.isfinite(t).all() for t in load_weights(out / "checkpoints" / "step_00000001").values())
    assert not (out / "model").exists()


def test_without_a_validation_split_the_last_epoch_is_exported_never_test(tiny_data, tiny_smoothclap,
                                                                          feature_cache_dir, tmp_path, capsys):
    import smoothclap.training.trainer as train_accelerate

    data = _variant(tiny_data, tmp_path, lambda d: type(d)({k: v for k, v in d.items() if k != "validation"}))
    out = tmp_path / "noval"
    results = train_accelerate.main(flags(data, tiny_smoothclap, out, "--epochs", "1", "--no-feature-cache"))
    assert "no 'validation' split" in capsys.readouterr().out
    assert results["validation_uar"] is None and not (out / "best").exists()
    last = load_weights(out / "checkpoints" / sorted(os.listdir(out / "checkpoints"))[-1])
    exported = load_weights(out / "model")
    assert torch.equal(last["text_projection.linear1.weight"], exported["text_projection.linear1.weight"])
    assert "No validation split: this is the model of the last epoch" in (out / "model" / "README.md").read_text()


def test_example_configs_load(tmp_path):
    import glob

    from accelerate.commands.config.config_args import load_config_from_file

    from smoothclap.training.config import parse_args

    kinds = {os.path.basename(f): load_config_from_file(f) for f in glob.glob(os.path.join(ROOT, "configs", "accelerate_*.yaml"))}
    assert {c.distributed_type.value for c in kinds.values()} >= {"NO", "MULTI_GPU"}
    # MULTI_CPU without an MPI hostfile starts ONE process under `accelerate launch`: no such config
    assert "MULTI_CPU" not in {c.distributed_type.value for c in kinds.values()}
    assert kinds["accelerate_multi_node.yaml"].num_machines == 2
    paper = parse_args(["--config", os.path.join(ROOT, "configs", "msp_podcast.yaml")])
    assert (paper.audio_encoder, paper.text_encoder) == ("audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim",
                                                         "bert-base-uncased")
    assert (paper.global_batch_size, paper.epochs, paper.text_lr, paper.head_lr, paper.max_duration) == (32, 10, 1e-5, 1e-3, 5.0)
    assert paper.mixed_precision is None  # the launcher decides
    assert (paper.beta, paper.gamma) == (0.5, 0.1)
    assert parse_args(["--config", os.path.join(ROOT, "configs", "paraclap_baseline.yaml")]).beta == 0.0


def test_from_two_encoders_with_bf16_accumulation_clipping_checkpointing_and_an_offline_push(
        tiny_data, tmp_path, capsys):
    """A new model from two encoder folders (names or paths), with the less common options."""
    import smoothclap.training.trainer as train_accelerate
    from transformers import AutoTokenizer, BertModel, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from conftest import minilm_dir

    torch.manual_seed(0)
    Wav2Vec2Model(tiny_audio_config()).save_pretrained(str(tmp_path / "audio"))
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(str(tmp_path / "audio"))
    BertModel(tiny_text_config()).save_pretrained(str(tmp_path / "text"))
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(str(tmp_path / "text"))
    out = tmp_path / "run"
    argv = flags(tiny_data, "unused", out, "--audio-encoder", tmp_path / "audio", "--text-encoder", tmp_path / "text",
                 "--projection-dim", "8", "--text-pooling", "mean", "--mixed-precision", "bf16",
                 "--gradient-accumulation-steps", "2", "--max-grad-norm", "0.5", "--warmup-steps", "2",
                 "--gradient-checkpointing", "--no-feature-cache", "--epochs", "1", "--push-to-hub", "nobody/offline")
    argv = [a for a in argv if a not in ("--model", "unused")]
    capsys.readouterr()
    assert train_accelerate.cli(argv) == 1  # trained and exported; only the upload failed (offline)
    err = capsys.readouterr().err.strip().splitlines()[-1]  # the last line; progress bars come before it
    assert err.startswith("error: --push-to-hub 'nobody/offline' failed") and f"complete in {out / 'model'}" in err
    config = json.loads((out / "model" / "config.json").read_text())
    assert (config["projection_dim"], config["text_pooling"]) == (8, "mean")
    results = json.loads((out / "model" / "training_results.json").read_text())
    assert results["global_step"] == 2  # 4 batches of 4, 2 per optimizer step
    assert all(np.isfinite(h["train_loss"]) for h in results["history"])


def test_logit_scale_is_clamped_as_the_model_clamps_it_also_under_peft():
    import math

    from peft import LoraConfig, get_peft_model

    import smoothclap.training.trainer as train_accelerate
    from conftest import tiny_model

    model = tiny_model()
    with torch.no_grad():
        model.logit_scale.log_scale.fill_(10.0)
    train_accelerate.clamp_logit_scale(model)
    assert model.logit_scale.log_scale.item() == pytest.approx(math.log(100.0))
    peft_model = get_peft_model(tiny_model(), LoraConfig(target_modules=["query"], modules_to_save=["logit_scale"]))
    trained = peft_model.base_model.model.logit_scale.modules_to_save["default"]
    with torch.no_grad():
        trained.log_scale.fill_(7.0)
    train_accelerate.clamp_logit_scale(peft_model)
    assert trained.log_scale.item() == pytest.approx(math.log(100.0))


def test_train_audio_encoder_turns_the_cache_off_and_the_audio_tower_learns(tiny_data, tiny_smoothclap, tmp_path,
                                                                             capsys):
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.config import parse_args

    args = parse_args(flags(tiny_data, tiny_smoothclap, tmp_path / "run", "--train-audio-encoder", "--beta", "0.5"))
    run = train_accelerate.setup(args, train_accelerate.make_accelerator(args))
    assert "feature cache: off, the audio encoder is trained (--train-audio-encoder)" in capsys.readouterr().out
    run.model.train()
    batch = next(iter(run.loader))
    assert "input_values" in batch
    train_accelerate.compute_loss(run.accelerator, run.model, batch, run.extractor).backward()
    grads = [p.grad for n, p in run.core.named_parameters() if n.startswith("audio_model.") and p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert {g["name"] for g in run.optimizer.param_groups} == {"heads", "text", "audio"}
