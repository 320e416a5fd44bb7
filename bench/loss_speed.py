"""soft_target_loss vs clap_loss, forward + backward, B=256, d=768, CPU, same run.

Prints both median times and the ratio (target: soft / clap <= 1.5x). The local audio
features have the same size as the embeddings (d=768); the text targets are the caption
embeddings themselves (the model's default).

    python bench/loss_speed.py [--batch 256] [--dim 768] [--repeats 50]
"""

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from smoothclap.models.modeling_smoothclap import clap_loss, soft_target_loss  # noqa: E402


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(args.batch, args.dim, generator=g, requires_grad=True)
    t = torch.randn(args.batch, args.dim, generator=g, requires_grad=True)
    local = torch.randn(args.batch, args.dim, generator=g)
    log_scale = torch.tensor(2.659, requires_grad=True)

    def run_clap():
        clap_loss(a, t, log_scale.exp()).backward()

    def run_soft():
        soft_target_loss(a, t, log_scale.exp(), local, t.detach(), beta=0.1, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1).backward()

    for fn in (run_clap, run_soft):  # warm-up
        for _ in range(5):
            fn()
    # interleave the two so that machine load drifts hit both alike
    clap_times, soft_times = [], []
    for _ in range(args.repeats):
        clap_times.append(timed(run_clap, 1))
        soft_times.append(timed(run_soft, 1))
    clap_s, soft_s = statistics.median(clap_times), statistics.median(soft_times)
    print(f"threads={torch.get_num_threads()} B={args.batch} d={args.dim}")
    print(f"clap_loss        fwd+bwd: {clap_s * 1e3:8.3f} ms")
    print(f"soft_target_loss fwd+bwd: {soft_s * 1e3:8.3f} ms")
    print(f"ratio soft/clap: {soft_s / clap_s:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
