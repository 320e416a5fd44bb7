"""Global-batch loss overhead: 2 processes vs 1 at equal global batch, training steps/s.

Two real gloo processes on CPU (one thread each) with batch b, against one process (two
threads) with batch 2b: the same rows per step and the same loss (tests check that), so
the difference is what the gathers (two B x d embedding gathers with gradient, the local
features and, with --text-target tags, the tag embeddings), DDP's gradient all-reduce and
the split of the work cost. The model is bench/train_cache_speed.py's (small wav2vec2,
MiniLM text encoder) on the cached path (a step = text tower + heads + loss). Report
only, no target.

    python bench/train_global_batch.py [--global-batch 32] [--steps 4]
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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))  # test helpers


def _steps_per_second(rank, world, port, flags, steps, out):
    from processes import join_cpu_group, reset_accelerate_state

    if world > 1:
        join_cpu_group(rank, world, port)
    else:
        reset_accelerate_state()
    torch.set_num_threads(max(1, 2 // world))
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.checkpoints import TrainerState
    from smoothclap.training.config import parse_args

    args = parse_args(flags)
    accelerator = train_accelerate.make_accelerator(args)
    run = train_accelerate.setup(args, accelerator, log=lambda *a, **k: None)
    state = TrainerState()
    run.model.train()
    batches = iter(run.loader)
    train_accelerate.train_step(run, next(batches), state)  # warm-up
    accelerator.wait_for_everyone()
    start = time.perf_counter()
    for _ in range(steps):
        train_accelerate.train_step(run, next(batches), state)
    accelerator.wait_for_everyone()
    if rank == 0:
        with open(out, "w") as fh:
            fh.write(str(steps / (time.perf_counter() - start)))
    if world > 1:
        torch.distributed.destroy_process_group()


def measure(world, flags, steps, work) -> float:
    from processes import free_port, run_ranks

    out = os.path.join(work, f"world{world}.txt")
    run_ranks(_steps_per_second, (world, free_port(), flags, steps, out), world, timeout=1800)
    return float(open(out).read())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--global-batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--beta", type=float, default=0.1)
    args = parser.parse_args(argv)
    from synthetic_data import write_synthetic_dataset
    from train_cache_speed import write_model

    work = tempfile.mkdtemp(prefix="smoothclap-bench-")
    try:
        rows = args.global_batch * (args.steps + 1)
        data = write_synthetic_dataset(os.path.join(work, "data"), {"train": rows, "validation": 8}, seconds=(0.5, 1.0))
        model = write_model(os.path.join(work, "model"))

        def flags(world, name):
            return ["--dataset", data, "--model", model, "--output-dir", os.path.join(work, name),
                    "--batch-size", str(args.global_batch // world), "--max-duration", "1", "--crops-per-clip", "1",
                    "--beta", str(args.beta), "--no-progress-bar", "--report-to", "none",
                    "--feature-cache-dir", os.path.join(work, "cache")]

        measure(1, flags(1, "warm"), 1, work)  # builds the feature cache once
        one = measure(1, flags(1, "one"), args.steps, work)
        two = measure(2, flags(2, "two"), args.steps, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"global batch {args.global_batch}, beta {args.beta}, cached path, {args.steps} steps each")
    print(f"1 process  x batch {args.global_batch:3d} (2 threads): {one:.3f} steps/s")
    print(f"2 processes x batch {args.global_batch // 2:3d} (1 thread each): {two:.3f} steps/s")
    print(f"ratio 2 processes / 1 process: {two / one:.2f}x (report only; on 2 shared cores the gathers and "
          "the all-reduce are the difference)")


if __name__ == "__main__":
    main()
