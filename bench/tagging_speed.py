"""Benchmark: eGeMAPS extraction with FeatureExtractorPool, N workers vs 1, same clips.

    python bench/tagging_speed.py [--clips 48] [--seconds 3] [--workers 2] [--repeats 3]

Synthesises the clips (harmonic voices, WAV files in a temp dir), then, in one run:
- cold start: pool creation + worker start-up (forkserver that imports the decoder and
  openSMILE once) until every worker is initialised (``warmup``), reported separately;
- warm throughput: ``map`` over all clips on an already warm pool, for 1 worker and for N
  workers, interleaved over ``--repeats`` rounds (so background load hits both alike);
  the ratio is of the best round of each (and of the medians). Each round also prints
  how many CPUs the whole machine kept busy (from /proc/stat): about 1 for one worker
  and N for N workers on an otherwise idle machine; more means other processes competed
  and the ratio understates the speed-up.
Also checks that both give identical features and that no worker imported transformers,
torch or datasets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smoothclap.data.egemaps import FeatureExtractorPool  # noqa: E402


# Never needed to decode audio and run openSMILE; each costs seconds and hundreds of MB per worker.
HEAVY_MODULES = ("transformers", "torch", "datasets")


def voice(seconds: float, f0: float, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    freq = f0 * (1.0 + 0.1 * np.sin(2 * np.pi * 2.0 * t))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.5 * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.2 * (x + 0.01 * rng.standard_normal(t.size))).astype(np.float32)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat (0, 0 elsewhere)."""
    try:
        with open("/proc/stat") as fh:
            vals = [int(v) for v in fh.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


def timed_map(pool: FeatureExtractorPool, files: list[str]) -> tuple[float, list, float]:
    """Wall time, results, and how many CPUs the whole machine kept busy meanwhile (ours:
    1 for one worker, N for N workers; more means other processes competed)."""
    busy0, total0 = cpu_ticks()
    start = time.perf_counter()
    out = pool.map(files)
    wall = time.perf_counter() - start
    busy1, total1 = cpu_ticks()
    busy_cpus = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1) if total1 > total0 else float("nan")
    return wall, out, busy_cpus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rate", type=int, default=16000, help="sampling rate of the WAV files")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.clips):
            path = os.path.join(tmp, f"clip{i:03d}.wav")
            sf.write(path, voice(args.seconds, 100.0 + 4.0 * i, args.rate, i), args.rate)
            files.append(path)
        print(f"{args.clips} clips x {args.seconds:g} s at {args.rate} Hz; {os.cpu_count()} CPUs; "
              f"load average before: {os.getloadavg()[0]:.2f}")

        serial = FeatureExtractorPool(num_workers=1)
        serial.warmup()
        t0 = time.perf_counter()
        parallel = FeatureExtractorPool(num_workers=args.workers)
        parallel.warmup()
        startup = time.perf_counter() - t0
        print(f"cold start of {args.workers} workers (pool + forkserver + imports + Smile): {startup:.2f} s")
        heavy = {pid: mods for pid, mods in parallel.worker_modules(HEAVY_MODULES).items() if mods}
        print(f"workers importing any of {', '.join(HEAVY_MODULES)}: {heavy or 'none'}")

        t_serial, t_parallel = [], []
        with serial, parallel:
            for r in range(args.repeats):
                ts, ref, bs = timed_map(serial, files)
                tp, got, bp = timed_map(parallel, files)
                t_serial.append(ts)
                t_parallel.append(tp)
                print(f"round {r + 1}: 1 worker {ts:.2f} s (machine busy {bs:.1f} CPUs), "
                      f"{args.workers} workers {tp:.2f} s (busy {bp:.1f} CPUs), ratio {ts / tp:.2f}x")
        same = all(np.array_equal(a["egemaps"], b["egemaps"]) for a, b in zip(ref, got))
        best_s, best_p = min(t_serial), min(t_parallel)
        med_s, med_p = statistics.median(t_serial), statistics.median(t_parallel)
        print(f"identical features: {same}")
        print(f"warm, best of {args.repeats}: 1 worker {best_s:.2f} s ({1000 * best_s / args.clips:.0f} ms/clip), "
              f"{args.workers} workers {best_p:.2f} s -> speed-up {best_s / best_p:.2f}x")
        print(f"warm, median: speed-up {med_s / med_p:.2f}x")
        saved_per_clip = (best_s - best_p) / args.clips
        payoff = (f"start-up pays off after about {startup / saved_per_clip:.0f} clips" if saved_per_clip > 0
                  else "no warm speed-up, so the start-up never pays off")
        print(f"including the cold start once: speed-up {best_s / (best_p + startup):.2f}x ({payoff})")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        if not same:
            sys.exit("parallel and serial features differ")
        if heavy:
            sys.exit(f"workers imported heavy modules: {heavy}")


if __name__ == "__main__":
    main()
