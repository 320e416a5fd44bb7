"""Checkpoint size before and after checkpoints left the frozen weights out (issue item 6).

Before, a checkpoint (and best/) held the whole model; now it holds the tensors training
changes (`smoothclap.training.checkpoints.split_state_keys`) plus a fingerprint of the frozen
ones. Adam's two moments exist for the trainable parameters only, before and after.

1. The paper's configuration, wav2vec2-large-robust-12 + BERT-base, projection 768, built on
   the meta device (nothing allocated): parameter counts, and checkpoint bytes computed from
   them (fp32 weights: 4 bytes each; Adam: 8 bytes per trainable parameter) for the default
   recipe (audio encoder frozen), --lora text and --train-audio-encoder.
2. The demo's configuration (its small wav2vec2, MiniLM text encoder, projection 768,
   random weights): the same computation, and a real `accelerator.save_state` before
   (accelerate's plain save) and after (`checkpoints.install`), plus best/, measured on disk.
Also times the frozen-weights fingerprint on the paper's model (paid once per run).

    python bench/checkpoint_size.py
"""

from __future__ import annotations

import os
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from smoothclap.training import checkpoints as ckpt  # noqa: E402
from smoothclap.assets import minilm_dir  # noqa: E402

RECIPES = {"default (audio frozen)": [], "--lora text": ["--lora", "text"],
           "--train-audio-encoder": ["--train-audio-encoder"]}


def build(audio_config, text_config, recipe_flags, meta: bool):
    """A SmoothCLAP of these encoder configs, frozen / LoRA-wrapped as train_accelerate does it."""
    from smoothclap.models.configuration_smoothclap import SmoothClapConfig
    from smoothclap.models.modeling_smoothclap import SmoothClapModel

    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.config import parse_args

    args = parse_args(["--dataset", "unused", "--output-dir", "unused", *recipe_flags])
    config = SmoothClapConfig.from_audio_text_configs(audio_config, text_config, projection_dim=768)
    if meta:
        with torch.device("meta"):
            model = SmoothClapModel(config)
            model = train_accelerate.prepare_towers(model, args, log=lambda *a: None)
    else:
        torch.manual_seed(0)
        model = train_accelerate.prepare_towers(SmoothClapModel(config), args, log=lambda *a: None)
    return model, args


def counts(model) -> dict:
    """Parameter counts (state-dict entries, tied ones once per name) by part and by trainable/frozen."""
    state = model.state_dict()
    trainable, frozen = ckpt.split_state_keys(model)
    n = {k: v.numel() for k, v in state.items()}
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {"audio encoder": sum(p.numel() for p in core.audio_model.parameters()),
            "text encoder": sum(p.numel() for p in core.text_model.parameters()),
            "trainable": sum(n[k] for k in trainable), "frozen": sum(n[k] for k in frozen),
            "state dict": sum(n.values()),
            "adam": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def computed_bytes(c: dict) -> tuple[int, int]:
    """(before, after): fp32 weights saved + Adam's two fp32 moments of the trainable parameters."""
    adam = 8 * c["adam"]
    return 4 * c["state dict"] + adam, 4 * c["trainable"] + adam


def mb(n: int) -> str:
    return f"{n / 1e6:9.1f} MB"


def report(title, audio_config, text_config):
    print(f"\n== {title}")
    for name, recipe in RECIPES.items():
        model, _ = build(audio_config, text_config, recipe, meta=True)
        c = counts(model)
        before, after = computed_bytes(c)
        if name.startswith("default"):
            print(f"parameters: audio encoder {c['audio encoder']:,}, text encoder {c['text encoder']:,}, "
                  f"whole model {c['state dict']:,}")
        print(f"{name:24s} trainable {c['trainable']:>11,}  frozen {c['frozen']:>11,}  checkpoint before "
              f"{mb(before)}  after {mb(after)}  ({after / before:.0%});  best/ before {mb(4 * c['state dict'])}"
              f"  after {mb(4 * c['trainable'])}")


def time_fingerprint(audio_config, text_config) -> None:
    """Seconds `frozen_fingerprint` takes on the paper's model (the memory filled with zeros:
    hashing time does not depend on the values), paid once per run in setup."""
    import time

    model, _ = build(audio_config, text_config, [], meta=True)
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for t in model.state_dict().values():
            t.zero_()
    started = time.perf_counter()
    fp = ckpt.frozen_fingerprint(model)
    print(f"fingerprint of the frozen weights ({fp['bytes'] / 1e6:.0f} MB, {fp['tensors']} tensors): "
          f"{time.perf_counter() - started:.2f} s, once per run")


def dir_bytes(folder) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs)


def measure_demo(audio_config, text_config):
    """A real save_state of the demo's model (default recipe) with accelerate's plain save and with install()."""
    from accelerate import Accelerator

    import smoothclap.training.trainer as train_accelerate

    model, args = build(audio_config, text_config, [], meta=False)
    accelerator = Accelerator(cpu=True)
    optimizer = torch.optim.Adam(train_accelerate.parameter_groups(model, args))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    for p in model.parameters():  # one optimizer step: Adam's moments exist, as in any real checkpoint
        if p.requires_grad:
            p.grad = torch.full_like(p, 1e-3)
    optimizer.step()
    scheduler.step()
    with tempfile.TemporaryDirectory() as tmp:
        before_dir, after_dir = os.path.join(tmp, "before"), os.path.join(tmp, "after")
        accelerator.save_state(before_dir)  # accelerate as is: the whole model
        full_best = os.path.join(tmp, "full-best.safetensors")
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in accelerator.get_state_dict(model).items()}, full_best)
        fingerprint = ckpt.install(accelerator, model)
        accelerator.save_state(after_dir)
        ckpt.save_best(accelerator, model, tmp, {"epoch": 0}, fingerprint)
        files = lambda d: ", ".join(f"{f} {os.path.getsize(os.path.join(d, f)) / 1e6:.2f}" for f in sorted(os.listdir(d)))  # noqa: E731
        print("measured, demo model, default recipe (one real accelerator.save_state each; MB per file):")
        print(f"  checkpoint before {mb(dir_bytes(before_dir))}   [{files(before_dir)}]")
        print(f"  checkpoint after  {mb(dir_bytes(after_dir))}   [{files(after_dir)}]")
        print(f"  best/ before      {mb(os.path.getsize(full_best))}   after {mb(dir_bytes(ckpt.best_dir(tmp)))}")


def main():
    from transformers import AutoConfig, BertConfig, Wav2Vec2Config

    from smoothclap.demo import FULL, encoder_config

    paper_audio = Wav2Vec2Config(hidden_size=1024, num_hidden_layers=12, num_attention_heads=16,
                                 intermediate_size=4096, do_stable_layer_norm=True, feat_extract_norm="layer",
                                 conv_bias=True)
    report("paper: wav2vec2-large-robust-12 + BERT-base, projection 768 (computed from counts)",
           paper_audio, BertConfig())
    time_fingerprint(paper_audio, BertConfig())
    demo_audio, minilm = Wav2Vec2Config(**encoder_config(FULL)), AutoConfig.from_pretrained(minilm_dir())
    report("demo: small wav2vec2 (hidden 128, 2 layers) + MiniLM-L6, projection 768 (computed from counts)",
           demo_audio, minilm)
    measure_demo(demo_audio, minilm)


if __name__ == "__main__":
    main()
