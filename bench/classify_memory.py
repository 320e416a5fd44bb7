"""Peak memory of a corpus run for N and 10N clips: flat in the corpus size?

    python bench/classify_memory.py                 # N = 150 clips of 0.5-1.5 s, then 1500
    python bench/classify_memory.py --clips 50      # a quick look

Each run is a real ``python -m smoothclap classify FOLDER --output out.parquet --embeddings
--num-workers 1 --batch-size 4 --no-progress`` subprocess (the tests' tiny model: hidden 32,
2 layers, random weights; generated WAV files). The peak RSS is the largest sum over the
process tree (the command and its DataLoader worker), sampled every 20 ms with psutil, and
Target: the 10N run's
peak within 1.2x of the N run's (what grows with N is only the list of names and the
merge's few integers per clip).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classify_throughput import ROOT  # noqa: E402,F401  (sets the paths and the offline environment)

TARGET = 1.2


def write_corpus(folder: str, n: int) -> None:
    import numpy as np
    import soundfile as sf

    from conftest import tone

    rng = np.random.default_rng(n)
    for i in range(n):
        path = os.path.join(folder, f"part{i // 500}", f"clip{i:05d}.wav")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sf.write(path, tone(rng.uniform(90, 320), rng.uniform(0.5, 1.5), seed=i), 16000)


def tree_rss(proc) -> int:
    import psutil

    try:
        root = psutil.Process(proc.pid)
        total = root.memory_info().rss
        for child in root.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total
    except psutil.NoSuchProcess:
        return 0


def measure(model: str, folder: str, out: str) -> dict:
    cmd = [sys.executable, "-m", "smoothclap", "classify", folder, "--labels", "angry,happy,sad,neutral", "--model",
           model, "--output", out, "--embeddings", "--num-workers", "1", "--batch-size", "4", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    start = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc))
        time.sleep(0.02)
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"the run failed ({proc.returncode}): {err[-2000:]}")
    return {"tree_mib": peak / 2**20, "seconds": time.time() - start,
            "summary": err.strip().splitlines()[-1]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=150, help="N; the second run has 10N")
    args = p.parse_args(argv)
    from classify_throughput import cpu_report

    print(cpu_report(), flush=True)
    print(f"command: python bench/classify_memory.py --clips {args.clips}", flush=True)
    from test_train_accelerate import write_tiny_model

    work = tempfile.mkdtemp(prefix="classify-memory-")
    model = write_tiny_model(os.path.join(work, "model"))
    results = {}
    for n in (args.clips, 10 * args.clips):
        folder = os.path.join(work, f"corpus{n}")
        write_corpus(folder, n)
        results[n] = measure(model, folder, os.path.join(work, f"out{n}.parquet"))
        r = results[n]
        print(f"{n} clips: peak RSS {r['tree_mib']:.0f} MiB (command + worker, sampled), {r['seconds']:.0f} s; "
              f"{r['summary']}", flush=True)
    small, large = results[args.clips]["tree_mib"], results[10 * args.clips]["tree_mib"]
    ratio = large / small
    print(f"10N/N peak RSS: {ratio:.3f}x, target <= {TARGET}x {'met' if ratio <= TARGET else 'NOT met'}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
