"""Share of a cached training step spent waiting for the DataLoader (target < 5 %).

With the frozen-feature cache a step runs only the text tower, the heads and the loss, so
the data side (caption drawing, tokenising, cache look-up; decoding and cropping when the
cache is off) is what can starve it. Trains bench/train_cache_speed.py's model (small
wav2vec2, pretrained MiniLM text encoder, batch 32) on a synthetic corpus with the
trainer's default workers and with explicit counts, one after another in one run, and
reads the trainer's own timing (`training_results.json` -> timing.dataloader_wait_share).

    python bench/dataloader_wait.py [--steps 20] [--workers default,0,1,2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))  # test helpers

TARGET = 0.05


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", default="default,0,1,2", help="comma-separated: 'default' or a count")
    args = p.parse_args(argv)
    import torch

    import smoothclap.training.trainer as train_accelerate
    from processes import reset_accelerate_state
    from synthetic_data import write_synthetic_dataset
    from train_cache_speed import write_model

    work = tempfile.mkdtemp(prefix="dl-wait-")
    try:
        data = write_synthetic_dataset(os.path.join(work, "data"),
                                       splits={"train": args.batch_size * (args.steps + 1), "validation": 8},
                                       seconds=(2.0, 6.0))
        model = write_model(os.path.join(work, "model"))
        base = ["--dataset", data, "--model", model, "--batch-size", str(args.batch_size), "--max-steps",
                str(args.steps), "--validation-split", "none", "--no-progress-bar", "--report-to", "none",
                "--feature-cache-dir", os.path.join(work, "cache")]
        rows = []
        for i, w in enumerate(["warm-up"] + args.workers.split(",")):  # the first run builds the cache
            extra = [] if w in ("default", "warm-up") else ["--num-workers", w]
            reset_accelerate_state()
            res = train_accelerate.main(base + extra + ["--output-dir", os.path.join(work, f"run{i}")])
            if w != "warm-up":
                rows.append((w, res["timing"]))
        print(f"cached step, batch {args.batch_size}, {torch.get_num_threads()} threads, {args.steps} steps")
        print(f"{'workers':>8} | {'data wait share':>15} | samples/s")
        for w, t in rows:
            print(f"{w:>8} | {t['dataloader_wait_share']:>15.1%} | {t['samples_per_second']:.1f}")
        default = dict(rows).get("default")
        if default is not None:
            share = default["dataloader_wait_share"]
            print(f"target < {TARGET:.0%} with the defaults: {'met' if share < TARGET else 'NOT met'} ({share:.1%})")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
