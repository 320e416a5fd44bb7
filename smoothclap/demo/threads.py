"""Torch's thread count on a shared machine, timed rather than assumed (the demo's steps).

    choose_threads() -> int      # for the next step whose loop the demo does not own
    ThreadTrial(cores)           # per step of a loop the demo owns, from its own step times
"""

from __future__ import annotations

import statistics
import time

import torch

from smoothclap.processes import core_count


def choose_threads(threshold: float = 0.85) -> int:
    """Set and return torch's thread count for the next step: all cores only where that is
    clearly faster NOW than one thread (median time under ``threshold`` x), timed on a
    transformer layer of MiniLM's shape (384 wide, 12 heads, 1536 feed-forward; 16 x 24
    tokens; forward + backward, interleaved, a first untimed round, then 5: under a second
    quiet, about 1.5 s under load). On 2 quiet Zen 3 cores it times 0.59-0.71x (the CLAP step
    itself: 0.62 s on 2 threads against 0.94 s on 1, 0.66x), with one core busy 2.2-2.5x.
    The first round is not timed because it starts torch's thread pool (0.35 s against 0.045 s
    for the next 2-thread rounds): the earlier trial (3 timed rounds, a smaller layer, 0.7x)
    chose 1 thread on a quiet machine (docs/demo.md, Timing). On a shared machine torch's
    threads wait for each other at every parallel region, and a core taken by another process stalls them all: here, at load ~6 on 2 cores,
    an encoder step took 5.3 s on 2 threads and 0.9-1.4 s on 1 (0.15 s on 2 quiet cores), so a
    wrong "all cores" costs far more than a wrong "one". demo.py calls this before each torch
    step whose loop it does not own (the trainer, the evaluation)."""
    cores = core_count()
    if cores <= 1:
        torch.set_num_threads(1)
        return 1
    generator = torch.Generator().manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(384, 12, 1536, dropout=0.0, batch_first=True)
    x = torch.randn(16, 24, 384, generator=generator)
    times: dict[int, list] = {1: [], cores: []}
    for round_ in range(6):
        for threads in times:
            torch.set_num_threads(threads)
            start = time.perf_counter()
            layer(x).sum().backward()
            if round_:  # the first round starts torch's thread pool: not timed
                times[threads].append(time.perf_counter() - start)
    chosen = cores if statistics.median(times[cores]) < threshold * statistics.median(times[1]) else 1
    torch.set_num_threads(chosen)
    return chosen


class ThreadTrial:
    """Torch threads per step of a loop, from the steps' own times: every ``every`` steps, two
    steps on one thread and two on all cores, then the faster for the rest of the window (the
    load of a shared machine changes; see choose_threads for why one thread can win)."""

    def __init__(self, cores: int, every: int = 40):
        self.cores, self.every, self.times, self.best = cores, every, {}, cores

    def threads(self, step: int) -> int:
        phase = step % self.every
        if self.cores <= 1 or phase >= 4:
            return 1 if self.cores <= 1 else self.best
        return 1 if phase < 2 else self.cores

    def record(self, step: int, threads: int, seconds: float) -> None:
        phase = step % self.every
        if phase == 0:
            self.times = {}
        if phase < 4:
            self.times.setdefault(threads, []).append(seconds)
        if phase == 3 and len(self.times) == 2:
            self.best = min(self.times, key=lambda t: sum(self.times[t]))
