"""What to run first on a real GPU node, before the MSP-Podcast run.

Short training runs of the paper's architecture (wav2vec2-large-robust-12 + BERT-base
shapes, random weights, so nothing is downloaded) on a synthetic corpus, through the real
launcher (`accelerate launch --mixed_precision bf16`), on 1 GPU and on all GPUs of the
node. Per run it prints: processes x batch, samples/s, peak GPU memory, the share of step
time spent waiting for the DataLoader (target < 5 %), and the size of one checkpoint.
Then use the same launcher line for the real run.

    python bench/gpu_smoke.py                          # 1 GPU and all GPUs, 40 steps each
    python bench/gpu_smoke.py --steps 100 --global-batch-size 32 --precision bf16
    python bench/gpu_smoke.py --cpu-rehearsal          # the same path on CPU, tiny shapes (a test runs this)

Without a GPU it says so in one line and exits 0 (nothing measured).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # test helpers: processes, synthetic_data

WAIT_TARGET = 0.05


def write_model(path, real_shapes: bool) -> str:
    """A SmoothCLAP folder: the paper's shapes (random weights) or tiny ones."""
    import torch
    from transformers import AutoTokenizer, BertConfig, Wav2Vec2Config, Wav2Vec2FeatureExtractor

    from smoothclap.models.configuration_smoothclap import SmoothClapConfig
    from smoothclap.models.modeling_smoothclap import SmoothClapModel
    from smoothclap.models.processing_smoothclap import SmoothClapProcessor
    from smoothclap.assets import minilm_dir

    torch.manual_seed(0)
    if real_shapes:  # audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim + bert-base-uncased
        audio = Wav2Vec2Config(hidden_size=1024, num_hidden_layers=12, num_attention_heads=16, intermediate_size=4096,
                               feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)
        text, dim = BertConfig(), 768
    else:
        audio = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                               conv_dim=(16,) * 7, feat_extract_norm="layer", do_stable_layer_norm=True,
                               conv_bias=True, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
        text, dim = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37), 16
    SmoothClapModel(SmoothClapConfig.from_audio_text_configs(audio, text, projection_dim=dim)).save_pretrained(path)
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                  return_attention_mask=True)
    SmoothClapProcessor(feature_extractor=fe, tokenizer=AutoTokenizer.from_pretrained(minilm_dir())).save_pretrained(path)
    return path


def folder_bytes(path) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def run(work, name, launch, flags, env) -> dict:
    """One training run through `accelerate launch`; its timing, processes and checkpoint size."""
    out = os.path.join(work, name)
    script = os.path.join(os.path.dirname(sys.executable), "accelerate")
    cmd = [script if os.path.isfile(script) else "accelerate", "launch", *launch,
           os.path.join(ROOT, "train_accelerate.py"), *flags, "--output-dir", out]
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print((proc.stdout + proc.stderr)[-3000:])
        raise SystemExit(f"error: the {name} run failed (exit {proc.returncode}); its log is above.")
    results = json.load(open(os.path.join(out, "model", "training_results.json")))
    checkpoints = sorted(os.listdir(os.path.join(out, "checkpoints")))
    results["checkpoint_bytes"] = folder_bytes(os.path.join(out, "checkpoints", checkpoints[-1]))
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40, help="optimizer steps per run (default 40)")
    p.add_argument("--global-batch-size", type=int, default=32, help="the paper's 32 (split over the GPUs)")
    p.add_argument("--precision", default="bf16", choices=("bf16", "fp16", "no"))
    p.add_argument("--clips", type=int, default=None, help="synthetic clips (default: enough for the steps)")
    p.add_argument("--cpu-rehearsal", action="store_true",
                   help="run the same path on CPU with tiny shapes and 1 and 2 gloo processes (for tests)")
    p.add_argument("--keep", default=None, help="keep the work folder here")
    args = p.parse_args(argv)

    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not gpus and not args.cpu_rehearsal:
        print("gpu_smoke: no CUDA GPU on this machine: nothing measured. Run this on a GPU node first "
              "(or --cpu-rehearsal to walk the same path on CPU).")
        return 0
    from synthetic_data import write_synthetic_dataset

    work = args.keep or tempfile.mkdtemp(prefix="gpu-smoke-")
    os.makedirs(work, exist_ok=True)
    try:
        counts = [1, 2] if args.cpu_rehearsal else sorted({1, gpus})
        batch = args.global_batch_size
        clips = args.clips or batch * (args.steps + 1)
        seconds = (0.5, 1.5) if args.cpu_rehearsal else (3.0, 8.0)
        data = write_synthetic_dataset(os.path.join(work, "data"), splits={"train": clips, "validation": 8},
                                       seconds=seconds)
        model = write_model(os.path.join(work, "model"), real_shapes=not args.cpu_rehearsal)
        env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=ROOT,
                   HF_HOME=os.path.join(work, "hf"))
        if args.cpu_rehearsal:
            env["ACCELERATE_USE_CPU"] = "true"
        flags = ["--dataset", data, "--model", model, "--global-batch-size", str(batch), "--max-steps", str(args.steps),
                 "--epochs", "1000", "--checkpoint-every", str(args.steps), "--validation-split", "none",
                 "--no-progress-bar", "--report-to", "none"]
        rows = []
        for n in counts:
            launch = ["--mixed_precision", args.precision, "--num_processes", str(n)]
            launch = (["--multi_gpu"] if n > 1 else []) + launch
            results = run(work, f"{n}proc", launch, flags, env)
            timing = results["timing"]
            rows.append((n, results, timing))
        print()
        print(f"{'processes':>9} | {'batch':>13} | {'samples/s':>9} | {'peak memory':>11} | {'data wait':>9} | "
              f"{'checkpoint':>10} | precision")
        for n, results, timing in rows:
            memory = timing.get("peak_memory_bytes", timing.get("peak_rss_bytes", 0))
            kind = "GPU" if "peak_memory_bytes" in timing else "RSS"
            print(f"{results['num_processes']:>9} | {results['num_processes']} x {results['global_batch_size'] // results['num_processes']:<3} = "
                  f"{results['global_batch_size']:<3} | {timing['samples_per_second']:>9.1f} | "
                  f"{memory / 2**30:>6.2f} GiB {kind} | {timing['dataloader_wait_share']:>8.1%} | "
                  f"{results['checkpoint_bytes'] / 2**20:>7.1f} MB | {results['mixed_precision']}")
        worst = max(t["dataloader_wait_share"] for _, _, t in rows)
        print(f"data wait target < {WAIT_TARGET:.0%}: {'met' if worst < WAIT_TARGET else 'NOT met'} "
              f"(worst {worst:.1%}); if not, raise --num-workers")
        for n, results, _ in rows:
            if results["num_processes"] != n:
                print(f"WARNING: asked for {n} processes, the run had {results['num_processes']}")
                return 1
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
