"""Corpus classification throughput: `smoothclap.inference.classify_corpus` (files in, JSONL out)
vs the audio encoder's own floor, on the same clips and batch sizes, in one run.

    python bench/classify_throughput.py                       # 96 clips of 2-4 s, batch 1 and 8, 3 rounds
    python bench/classify_throughput.py --clips 32 --rounds 1   # a quick look

Model: a small wav2vec2 (hidden 256, 4 layers, 4 heads, the paper's encoder's architecture
shrunk, random weights) with a tiny BERT text tower and the real MiniLM tokenizer (the
labels are embedded once either way), saved as a SmoothCLAP folder; generated WAV files at
22.05 kHz (so the runner resamples, as on real corpora).

- floor: ``model.get_audio_features(**inputs)`` on clips decoded, resampled, length-sorted,
  batched and run through the feature extractor BEFORE the clock starts (nothing else);
- runner: the whole ``classify_corpus(folder, labels, model_dir, output=...jsonl)`` call:
  listing, model load, label embedding, decoding + resampling in DataLoader workers,
  batching, scoring, fsynced part files and the final merge.
The two alternate within each round (order swapped every round) so load drift hits both.
Target: runner time <= 1.15x the floor, per batch size (best of the rounds).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGET = 1.15
LABELS = ["angry", "happy", "sad", "neutral", "calm", "fearful", "disgusted", "surprised"]


def cpu_report() -> str:
    """The CPU model and its SIMD flags (the export's own summary), threads and load."""
    from smoothclap.inference.onnx_export import cpu_summary

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"CPU: {cpu_summary()}; {os.cpu_count()} cores; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; load average {load}")


def build_folder(path: str) -> str:
    from conftest import tiny_processor, tiny_text_config
    from transformers import Wav2Vec2Config

    from smoothclap.models.configuration_smoothclap import SmoothClapConfig
    from smoothclap.models.modeling_smoothclap import SmoothClapModel

    torch.manual_seed(0)
    audio = Wav2Vec2Config(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                           feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)
    config = SmoothClapConfig.from_audio_text_configs(audio, tiny_text_config(), projection_dim=128)
    SmoothClapModel(config).eval().save_pretrained(path)
    tiny_processor().save_pretrained(path)
    return path


def write_clips(folder: str, n: int, rate: int = 22050) -> list[str]:
    import soundfile as sf

    from conftest import tone

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = os.path.join(folder, f"spk{i % 8}", f"clip{i:04d}.wav")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sf.write(path, tone(rng.uniform(90, 320), rng.uniform(2.0, 4.0), sr=rate, seed=i), rate)
        paths.append(path)
    return sorted(paths)


def floor_inputs(model_dir, paths, batch_size):
    """The runner's batches (length-sorted within its chunks), prepared before timing."""
    from smoothclap.models.audio_smoothclap import load_audio
    from smoothclap.evaluation.predict import load_model

    model, processor = load_model(model_dir)
    waves = [load_audio(p, None, 16000) for p in paths]
    chunk = max(64, 16 * batch_size)  # the runner's default look-ahead (runner._run)
    batches = []
    for c in range(0, len(waves), chunk):
        part = sorted(waves[c:c + chunk], key=len, reverse=True)
        for b in range(0, len(part), batch_size):
            batches.append(processor(audio=part[b:b + batch_size], sampling_rate=16000, return_tensors="pt"))
    return model, batches


def time_floor(model, batches) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for enc in batches:
            model.get_audio_features(**enc)
    return time.perf_counter() - start


def time_runner(model_dir, corpus, out, batch_size, workers) -> float:
    from smoothclap.inference import classify_corpus

    start = time.perf_counter()
    summary = classify_corpus([corpus], LABELS, model_dir, out, batch_size=batch_size, num_workers=workers,
                              progress=False, overwrite=True)
    seconds = time.perf_counter() - start
    assert summary["failed"] == 0 and summary["rows"] == summary["clips"], summary
    return seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=96)
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", type=int, default=1, help="the runner's --num-workers")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: the decoding worker gets the other core of a 2-core "
                        "machine, and on a shared machine 2 threads per process ran up to 30x slower than 1)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(cpu_report(), flush=True)
    print(f"command: python bench/classify_throughput.py --clips {args.clips} --batch-sizes {args.batch_sizes} "
          f"--rounds {args.rounds} --workers {args.workers} --threads {args.threads}", flush=True)
    work = tempfile.mkdtemp(prefix="classify-bench-")
    model_dir = build_folder(os.path.join(work, "model"))
    corpus = os.path.join(work, "corpus")
    paths = write_clips(corpus, args.clips)
    met = True
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        model, batches = floor_inputs(model_dir, paths, batch_size)
        times = {"floor": [], "runner": []}
        for r in range(args.rounds):
            order = ["floor", "runner"] if r % 2 == 0 else ["runner", "floor"]
            for name in order:
                if name == "floor":
                    times[name].append(time_floor(model, batches))
                else:
                    times[name].append(time_runner(model_dir, corpus, os.path.join(work, "out.jsonl"), batch_size,
                                                   args.workers))
        best = {k: min(v) for k, v in times.items()}
        ratio = best["runner"] / best["floor"]
        met &= ratio <= TARGET
        print(f"batch {batch_size}: floor {args.clips / best['floor']:.2f} clips/s, runner "
              f"{args.clips / best['runner']:.2f} clips/s (best of {args.rounds}; all rounds floor "
              f"{[round(t, 2) for t in times['floor']]} s, runner {[round(t, 2) for t in times['runner']]} s); "
              f"runner/floor {ratio:.3f}x, target <= {TARGET}x {'met' if ratio <= TARGET else 'NOT met'}",
              flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"target (runner <= {TARGET}x floor at every batch size): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
