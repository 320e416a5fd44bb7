"""Checkpoints and best/ hold what training changes, not the frozen encoder (issue item 6).

A checkpoint keeps the trainable weights, optimizer, scheduler, RNG states and data position
plus a fingerprint of the frozen weights; resuming reloads the frozen weights from --model,
refuses another frozen encoder, and stays bit-for-bit equal to an uninterrupted run (also
under --lora text and --train-audio-encoder; the default recipe is covered by the kill-and-
resume test of test_train_accelerate.py); also with two DDP processes.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from test_train_accelerate import flags, fresh_accelerate_state, load_weights  # noqa: F401


def dir_bytes(folder) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs)


def full_model_file_bytes(model, path) -> int:
    """Size of the safetensors file the checkpoint held before: the whole state dict, as accelerate saves it."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata={"format": "pt"})
    return os.path.getsize(path)


def test_checkpoint_and_best_hold_no_frozen_audio_tensor_and_shrink_by_its_size(tiny_data, tiny_smoothclap,
                                                                                  feature_cache_dir, tmp_path):
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.models.modeling_smoothclap import SmoothClapModel

    out = tmp_path / "run"
    results = train_accelerate.main(flags(tiny_data, tiny_smoothclap, out, "--epochs", "1", "--checkpoint-every", "2",
                                          cache_dir=feature_cache_dir))
    assert results["global_step"] == 4
    model = SmoothClapModel.from_pretrained(tiny_smoothclap)
    audio = {k: v for k, v in model.state_dict().items() if k.startswith("audio_model.")}
    audio_bytes = sum(v.numel() * v.element_size() for v in audio.values())
    old_file = full_model_file_bytes(model, tmp_path / "full.safetensors")
    trainable = {k for k in model.state_dict() if not k.startswith("audio_model.")}

    checkpoint = out / "checkpoints" / "step_00000004"
    saved = load_weights(checkpoint)
    assert set(saved) == trainable  # text tower, heads, logit scale; no audio-encoder tensor
    frozen = json.loads((checkpoint / "frozen.json").read_text())
    assert (frozen["tensors"], frozen["bytes"]) == (len(audio), audio_bytes) and len(frozen["sha1"]) == 40
    # the same checkpoint as before would have been: every file as is, but the complete model
    before = dir_bytes(checkpoint) - os.path.getsize(checkpoint / "model.safetensors") \
        - os.path.getsize(checkpoint / "frozen.json") + old_file
    assert dir_bytes(checkpoint) <= before - audio_bytes, (dir_bytes(checkpoint), before, audio_bytes)

    best = out / "best"
    assert set(load_weights(best)) == trainable
    info = json.loads((best / "best.json").read_text())
    assert info["frozen"]["sha1"] == frozen["sha1"] and info["epoch"] == 0
    del info["frozen"]
    before = old_file + len(json.dumps(info, indent=2))
    assert dir_bytes(best) <= before - audio_bytes, (dir_bytes(best), before, audio_bytes)

    exported = load_weights(out / "model")  # the export is still the whole model, trained heads included
    assert set(exported) == set(model.state_dict())
    for key in audio:
        assert torch.equal(exported[key], audio[key]), key
    assert torch.equal(exported["text_projection.linear1.weight"], saved["text_projection.linear1.weight"])


def test_resume_with_another_frozen_encoder_or_trainable_set_is_refused(tiny_data, tiny_smoothclap,
                                                                        feature_cache_dir, tmp_path, capsys):
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.models.modeling_smoothclap import SmoothClapModel
    from smoothclap.models.processing_smoothclap import SmoothClapProcessor

    out = tmp_path / "run"
    train_accelerate.main(flags(tiny_data, tiny_smoothclap, out, "--max-steps", "2", cache_dir=feature_cache_dir))

    # the same architecture; one frozen audio-encoder weight differs a little
    other = tmp_path / "other-encoder"
    model = SmoothClapModel.from_pretrained(tiny_smoothclap)
    with torch.no_grad():
        model.audio_model.encoder.layers[0].attention.q_proj.weight[0, 0] += 1e-3
    model.save_pretrained(str(other))
    SmoothClapProcessor.from_pretrained(tiny_smoothclap).save_pretrained(str(other))
    resume = ("--max-steps", "6", "--resume-from-checkpoint", "latest")
    capsys.readouterr()
    assert train_accelerate.cli(flags(tiny_data, other, out, *resume, "--no-feature-cache")) == 2
    err = capsys.readouterr().err
    saved = json.loads((out / "checkpoints" / "step_00000002" / "frozen.json").read_text())
    assert "was trained on other frozen weights" in err and saved["sha1"] in err, err
    from smoothclap.training.checkpoints import frozen_fingerprint

    model.freeze_encoder("audio")
    assert frozen_fingerprint(model)["sha1"] in err  # this run's fingerprint, named too
    assert f"its run started from {tiny_smoothclap}" in err and f"(from {other})" in err
    assert "Resume with the model the run started from, or start a new run in another --output-dir" in err

    # other trainable weights (LoRA now): named as such
    assert train_accelerate.cli(flags(tiny_data, tiny_smoothclap, out, *resume, "--lora", "text",
                                      cache_dir=feature_cache_dir)) == 2
    err = capsys.readouterr().err
    assert "holds other trainable weights than this run trains" in err and "--lora" in err, err
    assert sorted(os.listdir(out / "checkpoints")) == ["step_00000002"]  # nothing trained or written

    # the model the run started from: resumes
    results = train_accelerate.main(flags(tiny_data, tiny_smoothclap, out, *resume, cache_dir=feature_cache_dir))
    assert results["global_step"] == 6


@pytest.mark.parametrize("option", [("--lora", "text"), ("--train-audio-encoder",)], ids=["lora-text", "train-audio"])
def test_resume_from_a_trainable_only_checkpoint_equals_an_uninterrupted_run(option, tiny_data, tiny_smoothclap,
                                                                             feature_cache_dir, tmp_path):
    import smoothclap.training.trainer as train_accelerate

    common = ("--epochs", "1", "--batch-size", "2", "--checkpoint-every", "3", "--keep-checkpoints", "5", *option)
    reference = train_accelerate.main(flags(tiny_data, tiny_smoothclap, tmp_path / "ref", *common,
                                            cache_dir=feature_cache_dir))
    assert reference["global_step"] == 8
    step3 = tmp_path / "ref" / "checkpoints" / "step_00000003"
    saved = load_weights(step3)
    if option[0] == "--lora":  # adapters and the heads' trained copies only
        assert saved and all("lora_" in k or "modules_to_save" in k for k in saved), sorted(saved)
        assert any("lora_A" in k for k in saved)
        assert json.loads((step3 / "frozen.json").read_text())["tensors"] > 0
    else:  # the audio tower is trained: it is saved, and nothing is frozen
        assert any(k.startswith("audio_model.") for k in saved)
        assert json.loads((step3 / "frozen.json").read_text())["tensors"] == 0

    # the run stopped after step 3 (as if killed there): resume from its step-3 checkpoint
    os.makedirs(tmp_path / "resumed" / "checkpoints")
    shutil.copytree(step3, tmp_path / "resumed" / "checkpoints" / "step_00000003")
    resumed = train_accelerate.main(flags(tiny_data, tiny_smoothclap, tmp_path / "resumed", *common,
                                          "--resume-from-checkpoint", "latest", cache_dir=feature_cache_dir))
    assert resumed["global_step"] == 8 and resumed["history"] == reference["history"]
    for folder in ("checkpoints/step_00000008", "best", "model"):
        want, got = load_weights(tmp_path / "ref" / folder), load_weights(tmp_path / "resumed" / folder)
        assert want.keys() == got.keys()
        for key in want:
            assert torch.equal(want[key], got[key]), (folder, key)


def _ddp_save_and_load(rank, port, folder):
    """One rank of two gloo processes: save a checkpoint of a DDP-wrapped model with a frozen audio
    tower, spoil a trained weight, load the checkpoint back."""
    from processes import join_cpu_group

    join_cpu_group(rank, 2, port)
    from accelerate import Accelerator

    from conftest import tiny_model
    from smoothclap.training import checkpoints as ckpt

    accelerator = Accelerator()
    model = tiny_model().freeze_encoder("audio")
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad])
    model, optimizer = accelerator.prepare(model, optimizer)
    assert type(model).__name__ == "DistributedDataParallel"
    ckpt.install(accelerator, model)
    accelerator.save_state(folder)
    accelerator.wait_for_everyone()  # rank 0 writes the files
    core = accelerator.unwrap_model(model)
    want = core.text_projection.linear1.weight.detach().clone()
    with torch.no_grad():
        core.text_projection.linear1.weight.zero_()
    accelerator.load_state(folder)
    assert torch.equal(core.text_projection.linear1.weight, want)
    accelerator.wait_for_everyone()
    torch.distributed.destroy_process_group()


def test_two_processes_save_only_the_trainable_tensors_and_load_them(tmp_path):
    from processes import free_port, run_ranks

    run_ranks(_ddp_save_and_load, (free_port(), str(tmp_path / "ckpt")))
    saved = load_weights(tmp_path / "ckpt")
    assert saved and not [k for k in saved if k.startswith(("audio_model.", "module."))], sorted(saved)[:5]
    assert "text_projection.linear1.weight" in saved
