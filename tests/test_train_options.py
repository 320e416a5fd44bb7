"""train_accelerate.py options: every LoRA combination works as its help says or is refused
up front; a bad model path or name is one `error:` line before anything loads; the export
names no local path; the global-batch gather is torch's current (not deprecated) collective.

Runs are tiny (the tiny model and dataset of test_train_accelerate, 2 optimizer steps).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, tone
from test_train_accelerate import flags, fresh_accelerate_state, load_weights  # noqa: F401

# --------------------------------------------------------------------------- LoRA combinations
LORAS = (None, "text", "audio", "text,audio")
COMBINATIONS = [(lora, train_audio, export) for lora in LORAS for train_audio in (False, True)
                for export in (False, True)]


def refusal(lora, train_audio, export):
    """The validate_args message for a combination that cannot work as asked, else None."""
    if lora and "audio" in lora and train_audio:
        return "--lora audio and --train-audio-encoder both train the audio encoder"
    if export and not lora:
        return "--export-adapters needs --lora"
    return None


def expected_modes(lora, train_audio):
    towers = (lora or "").split(",")
    return {"text": "LoRA" if "text" in towers else "full",
            "audio": "LoRA" if "audio" in towers else ("full" if train_audio else "frozen")}


def _embeddings(model, processor):
    inputs = processor(text=["speaker is angry", "a male is speaking and is loud"],
                       audio=[tone(200.0, 0.7), tone(310.0, 1.1, seed=1)], sampling_rate=16000)
    with torch.no_grad():
        out = model(**inputs)
    return out.text_embeds, out.audio_embeds


@pytest.mark.parametrize("lora,train_audio,export", COMBINATIONS,
                         ids=[f"lora={l or 'none'}-train_audio={t}-export={e}" for l, t, e in COMBINATIONS])
def test_lora_combination_works_as_its_help_says_or_is_refused(lora, train_audio, export, tiny_data, tiny_smoothclap,
                                                               feature_cache_dir, tmp_path, capsys):
    import smoothclap.training.trainer as train_accelerate

    out = tmp_path / "run"
    extra = ["--epochs", "1", "--max-steps", "2", "--lora-lr", "1e-2", "--text-lr", "1e-3", "--audio-lr", "1e-3"]
    extra += (["--lora", lora] if lora else []) + (["--train-audio-encoder"] if train_audio else [])
    extra += ["--export-adapters"] if export else []
    argv = flags(tiny_data, tiny_smoothclap, out, *extra, cache_dir=feature_cache_dir)
    message = refusal(lora, train_audio, export)
    capsys.readouterr()
    if message:
        assert train_accelerate.cli(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, err
        assert not out.exists()  # refused before the output folder, let alone a model
        return

    results = train_accelerate.main(argv)
    assert results["global_step"] == 2
    modes = expected_modes(lora, train_audio)
    log = capsys.readouterr().out
    line = next(x for x in log.splitlines() if x.startswith("trainable parameters"))
    for tower, mode in modes.items():  # the log says how each tower trains ...
        count, said = re.search(rf"{tower} encoder ([\d,]+) \((\w+)\)", line).groups()
        assert said == mode and (count == "0") == (mode == "frozen"), line
    # ... and that is what trained: a tower's exported weights moved iff it is not frozen
    before, merged = load_weights(tiny_smoothclap), load_weights(out / "model")
    assert before.keys() == merged.keys()
    for tower, mode in modes.items():
        keys = [k for k in before if k.startswith(f"{tower}_model.")]
        moved = [k for k in keys if not torch.equal(before[k], merged[k])]
        if mode == "frozen":
            assert not moved, moved[:5]
        elif mode == "LoRA":  # adapters merged into the targets only
            assert moved and all(any(f".{t}." in k for t in ("query", "value", "q_proj", "v_proj")) for k in moved), moved
        else:
            assert len(moved) > len(keys) // 2, (len(moved), len(keys))

    if not export:
        assert not (out / "adapter").exists()
        return
    # the adapter on the base model gives the merged export's embeddings (both towers)
    from peft import PeftModel

    from smoothclap.models.modeling_smoothclap import SmoothClapModel
    from smoothclap.models.processing_smoothclap import SmoothClapProcessor

    processor = SmoothClapProcessor.from_pretrained(str(out / "model"))
    base = SmoothClapModel.from_pretrained(tiny_smoothclap).eval()
    with_adapter = PeftModel.from_pretrained(base, str(out / "adapter")).eval()
    exported = SmoothClapModel.from_pretrained(str(out / "model")).eval()
    (text_a, audio_a), (text_b, audio_b) = _embeddings(with_adapter, processor), _embeddings(exported, processor)
    torch.testing.assert_close(text_a, text_b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(audio_a, audio_b, rtol=1e-5, atol=1e-5)
    untrained = _embeddings(SmoothClapModel.from_pretrained(tiny_smoothclap).eval(), processor)
    assert not torch.allclose(untrained[0], text_b, atol=1e-4)  # training did move the embeddings


def test_help_says_adapters_are_written_also():
    from smoothclap.training.config import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "instead of merged" not in text
    assert "ALSO write the unmerged peft adapter" in text and "merged model is always written" in text


# --------------------------------------------------------------------------- bad model sources: one line, at once
SOURCE_FLAGS = ("--model", "--audio-encoder", "--text-encoder", "--local-features")
BAD_SOURCES = {  # kind -> (value, where the tests run from, what the error says)
    "relative typo": ("./runs/demo/modle", "no such folder"),
    "absolute typo": ("{tmp}/runs/demo/modle", "no such folder"),
    "typo in an existing folder": ("runs/modle", "no such folder"),  # also a valid repo id: never asked
    "not a repo id": ("bert base uncased!", "neither a local folder nor a valid Hub repo id"),
    "offline, not cached": ("nobody/not-cached-anywhere", "the Hub is offline (HF_HUB_OFFLINE=1)"),
    "folder without config.json": ("runs", "folder without config.json"),
}


def _source_argv(flag, value, tiny_data, tiny_smoothclap, pretrained_encoders, out):
    audio, text = pretrained_encoders
    common = ["--dataset", str(tiny_data), "--output-dir", str(out), "--report-to", "none"]
    if flag == "--model":
        return common + ["--model", value]
    if flag == "--local-features":
        return common + ["--model", str(tiny_smoothclap), "--local-features", value]
    sources = {"--audio-encoder": audio, "--text-encoder": text, flag: value}
    return common + [x for pair in sources.items() for x in pair]


@pytest.mark.parametrize("kind", list(BAD_SOURCES))
@pytest.mark.parametrize("flag", SOURCE_FLAGS)
def test_a_missing_or_bad_model_source_is_one_error_line_before_anything_loads(
        flag, kind, tiny_data, tiny_smoothclap, pretrained_encoders, tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants

    import smoothclap.training.trainer as train_accelerate

    (tmp_path / "runs" / "demo").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    value, message = BAD_SOURCES[kind]
    value = value.format(tmp=tmp_path)
    out = tmp_path / "out"
    capsys.readouterr()
    started = time.time()
    assert train_accelerate.cli(_source_argv(flag, value, tiny_data, tiny_smoothclap, pretrained_encoders, out)) == 2
    err = capsys.readouterr().err
    assert time.time() - started < 5
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {flag} {value!r}") and message in err, err
    assert not out.exists()


def test_a_cached_repo_id_passes_offline(tiny_data, tmp_path, monkeypatch):
    import huggingface_hub.constants

    from smoothclap.training.config import parse_args, validate_args

    snapshot = tmp_path / "hub" / "models--nobody--cached-text" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "hub" / "models--nobody--cached-text" / "refs").mkdir()
    (tmp_path / "hub" / "models--nobody--cached-text" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = parse_args(["--dataset", str(tiny_data), "--output-dir", str(tmp_path / "o"),
                       "--audio-encoder", "nobody/cached-text", "--text-encoder", "nobody/cached-text"])
    validate_args(args)  # no error: both load from the cache


def test_a_typo_in_a_local_folder_name_is_one_line_at_once_also_online(tiny_data, tmp_path):
    """Without HF_HUB_OFFLINE a typo'd `runs/demo/modle` or `runs/modle` used to go to the Hub
    (retries) or end in a traceback; now the CLI names it at once, with no network call
    (HF_ENDPOINT points at a closed local port: a Hub request would show in the error)."""
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(PYTHONPATH=ROOT, HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf-home"))
    for value in ("runs/modle", "runs/demo/modle"):
        started = time.time()
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "train_accelerate.py"), "--dataset", str(tiny_data),
                               "--model", value, "--output-dir", "out", "--batch-size", "4", "--report-to", "none"],
                              cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        lines = [x for x in proc.stderr.splitlines() if x.strip() and "Warning" not in x and "warn" not in x]
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        assert lines == [f"error: --model {value!r}: no such folder ({str(tmp_path / value)!r} does not exist)."], lines
        assert time.time() - started < 30
        assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the upload hint
@pytest.mark.parametrize("private", [False, True])
def test_push_error_names_the_installed_hf_upload_command(private, tmp_path, monkeypatch):
    import shutil

    from smoothclap.training.export import PushError, push_to_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(PushError) as info:
        push_to_hub(str(folder), "nobody/offline", private, log=lambda *a: None)
    command = f"hf upload nobody/offline {folder}" + (" --private" if private else "")
    assert f"`{command}`" in str(info.value) and "huggingface-cli" not in str(info.value)
    hf = shutil.which("hf")  # the command exists in the installed huggingface_hub and takes these arguments
    assert hf, "the `hf` command of huggingface_hub is not installed"
    proc = subprocess.run([hf, "upload", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "REPO_ID [LOCAL_PATH]" in proc.stdout and "--private" in proc.stdout


# --------------------------------------------------------------------------- no local paths in the export
TEXT_FILES = (".json", ".md", ".txt", ".py")


@pytest.mark.parametrize("route", ["model-lora-adapters", "two-encoders-local-features"])
def test_the_export_names_no_local_path(route, tiny_data, tiny_smoothclap, pretrained_encoders, feature_cache_dir,
                                        tmp_path, tmp_path_factory):
    import smoothclap.training.trainer as train_accelerate

    out = tmp_path / "run"
    if route == "model-lora-adapters":
        argv = flags(tiny_data, tiny_smoothclap, out, "--lora", "text", "--export-adapters",
                     cache_dir=feature_cache_dir)
    else:
        audio, text = pretrained_encoders
        argv = [a for a in flags(tiny_data, "-", out, cache_dir=feature_cache_dir) if a not in ("--model", "-")]
        argv += ["--audio-encoder", audio, "--text-encoder", text, "--local-features", audio, "--beta", "0.5"]
    assert all(os.path.isabs(a) for a in (str(tiny_data), str(out), str(feature_cache_dir)))
    train_accelerate.main(argv + ["--epochs", "1", "--max-steps", "2"])
    forbidden = [str(tmp_path_factory.getbasetemp()), "/tmp/", ROOT, os.path.realpath(ROOT), "/work/", "/root",
                 "/home", os.path.expanduser("~")]
    folders = [out / "model"] + ([out / "adapter"] if route == "model-lora-adapters" else [])
    checked = 0
    for folder in folders:
        for name in os.listdir(folder):
            if name.endswith(TEXT_FILES):
                text = (folder / name).read_text(encoding="utf-8")
                checked += 1
                for bad in forbidden:
                    assert bad not in text, f"{folder.name}/{name} contains {bad!r}"
    assert checked >= 8
    args = json.loads((out / "model" / "training_args.json").read_text())
    assert args["dataset"] == "tiny" and args["output_dir"] == "run"
    config = json.loads((out / "model" / "config.json").read_text())
    if route == "model-lora-adapters":
        assert args["model"] == "smoothclap"
        adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
        assert adapter["base_model_name_or_path"] == "smoothclap"
    else:
        assert (args["audio_encoder"], args["text_encoder"], args["local_features"]) == (
            "audio-encoder", "text-encoder", "audio-encoder")
        assert (config["audio_config"]["_name_or_path"], config["text_config"]["_name_or_path"]) == (
            "audio-encoder", "text-encoder")
        assert "from `audio-encoder + text-encoder`" in (out / "model" / "README.md").read_text()


def test_public_name_keeps_repo_ids_and_keywords():
    from smoothclap.training.export import public_name

    assert public_name("bert-base-uncased") == "bert-base-uncased"
    assert public_name("audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim") == \
        "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
    assert public_name("encoder") == "encoder" and public_name(None) is None
    assert public_name("/data/corpora/msp_podcast/") == "msp_podcast"
    assert public_name("./runs/demo/model") == "model" and public_name("~/models/smoothclap") == "smoothclap"
    assert public_name("/x/audio + bert-base-uncased") == "audio + bert-base-uncased"


# --------------------------------------------------------------------------- global-batch gather
def _gather_worker(rank, port, out_dir):
    from processes import join_cpu_group

    join_cpu_group(rank, 2, port)
    import warnings

    from accelerate import Accelerator

    import smoothclap.training.trainer as train_accelerate

    accelerator = Accelerator(cpu=True)
    assert accelerator.num_processes == 2
    x = torch.full((2, 3), float(rank + 1), requires_grad=True)
    weights = torch.arange(12.0).reshape(4, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gathered = train_accelerate.gather_with_grad(accelerator, x)
        (gathered * weights).sum().backward()  # the same loss on both ranks, as compute_loss does
    torch.save({"gathered": gathered.detach().clone(), "grad": x.grad.clone(),
                "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]},
               os.path.join(out_dir, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def test_gather_with_grad_passes_gradients_and_warns_no_deprecation(tmp_path):
    from processes import free_port, run_ranks

    run_ranks(_gather_worker, (free_port(), str(tmp_path)), timeout=120)
    weights = torch.arange(12.0).reshape(4, 3)
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        assert torch.equal(result["gathered"], torch.cat([torch.full((2, 3), 1.0), torch.full((2, 3), 2.0)]))
        # backward sums both ranks' gradients of this rank's slice (DDP then averages)
        assert torch.equal(result["grad"], 2 * weights[2 * rank:2 * rank + 2])
        deprecations = [w for w in result["warnings"] if w.startswith(("FutureWarning", "DeprecationWarning"))]
        assert not deprecations, deprecations


# --------------------------------------------------------------------------- learning-rate groups
def test_every_tower_parameter_gets_its_towers_learning_rate():
    """wav2vec2's own ``audio_model.feature_projection`` is audio encoder, not a SmoothCLAP
    head: with --train-audio-encoder it trains at --audio-lr (it once went to --head-lr)."""
    from types import SimpleNamespace

    import smoothclap.training.trainer as train_accelerate
    from conftest import tiny_model

    model = tiny_model()
    model.requires_grad_(True)
    args = SimpleNamespace(head_lr=1.0, lora_lr=2.0, text_lr=3.0, audio_lr=4.0)
    lr_of = {id(p): group["lr"] for group in train_accelerate.parameter_groups(model, args) for p in group["params"]}
    for name, param in model.named_parameters():
        want = 3.0 if name.startswith("text_model.") else 4.0 if name.startswith("audio_model.") else 1.0
        assert lr_of[id(param)] == want, name
