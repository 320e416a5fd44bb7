"""The soft-target loss's share of one cached training step, next to plain InfoNCE's.

A cached step is: text tower forward + backward, both heads, the loss, the Adam update
(bench/train_cache_speed.py's model: MiniLM text encoder, a small wav2vec2 whose pooled
features come from the cache). For batch 32 and 256 it times, interleaved and median of
``--repeats``: the whole step with the SmoothCLAP loss (beta 0.1, gamma 0.5) and with
InfoNCE (beta 0), and each loss alone (forward + backward on the step's embeddings).
Report only: the loss itself costs about 2x InfoNCE at B = 256; the question is whether
that is visible in a step.

    python bench/train_loss_share.py [--batches 32,256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))  # test helpers


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(batch_size, data, model, work, repeats):
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.checkpoints import TrainerState
    from smoothclap.training.config import parse_args

    args = parse_args(["--dataset", data, "--model", model, "--output-dir", os.path.join(work, f"b{batch_size}"),
                       "--batch-size", str(batch_size), "--max-duration", "1", "--crops-per-clip", "1",
                       "--no-progress-bar", "--report-to", "none", "--feature-cache-dir", os.path.join(work, "cache")])
    run = train_accelerate.setup(args, train_accelerate.make_accelerator(args), log=lambda *a, **k: None)
    run.model.train()
    batch = next(iter(run.loader))
    state = TrainerState()
    config = run.core.config
    with torch.no_grad():
        out = run.model(**{k: v for k, v in batch.items() if k in train_accelerate.MODEL_INPUTS})
    a = out.audio_embeds.clone().requires_grad_(True)
    t = out.text_embeds.clone().requires_grad_(True)
    local = batch["pooled_audio_features"]

    def step(beta):
        config.beta = beta
        return lambda: train_accelerate.train_step(run, batch, state)

    def loss_only(beta):
        def fn():
            config.beta = beta
            run.core.loss(a, t, local_audio_features=local).backward()
        return fn

    fns = {"step soft": step(0.1), "step infonce": step(0.0), "loss soft": loss_only(0.1), "loss infonce": loss_only(0.0)}
    for fn in fns.values():  # warm-up
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn))
    from processes import reset_accelerate_state

    reset_accelerate_state()
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="32,256")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from synthetic_data import write_synthetic_dataset
    from train_cache_speed import write_model

    sizes = [int(b) for b in args.batches.split(",")]
    work = tempfile.mkdtemp(prefix="smoothclap-bench-")
    try:
        data = write_synthetic_dataset(os.path.join(work, "data"), {"train": max(sizes), "validation": 8},
                                       seconds=(0.5, 1.0))
        model = write_model(os.path.join(work, "model"))
        results = {b: measure(b, data, model, work, args.repeats) for b in sizes}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"threads={torch.get_num_threads()} median of {args.repeats} interleaved rounds; cached step = text tower "
          "fwd+bwd, heads, loss, Adam")
    for b, r in results.items():
        soft_share, info_share = r["loss soft"] / r["step soft"], r["loss infonce"] / r["step infonce"]
        print(f"B={b:4d}: step {r['step soft'] * 1e3:9.1f} ms (SmoothCLAP) vs {r['step infonce'] * 1e3:9.1f} ms "
              f"(InfoNCE) = {r['step soft'] / r['step infonce']:.3f}x; loss alone {r['loss soft'] * 1e3:7.2f} ms vs "
              f"{r['loss infonce'] * 1e3:7.2f} ms; share of the step {100 * soft_share:.2f}% vs {100 * info_share:.2f}%")


if __name__ == "__main__":
    main()
