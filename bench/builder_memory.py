#!/usr/bin/env python
"""Peak memory of the dataset build: does it grow with the corpus size?

Generates two MSP-Podcast-layout fixtures (N and 10*N clips of harmonic tones, a couple of
seconds each, CSV labels with Train / Development / Test1 rows), builds each with
``smoothclap.data.build`` in a FRESH subprocess (default start method, so the
eGeMAPS workers run as in real use), and reports for each:

* main RSS: the build process' own peak (``getrusage(RUSAGE_SELF).ru_maxrss``),
* main anon: its peak anonymous RSS (RssAnon from /proc, sampled every 50 ms), i.e. heap
  without the file-backed pages of memory-mapped Arrow files (those are page cache the
  kernel can drop, but they count in RSS),
* tree RSS / PSS: peak of the summed RSS (shared pages counted in every process) and PSS
  (shared pages split between processes) of the build process and all its descendants
  (the forkserver and the worker processes), sampled every 50 ms with psutil,

and the 10N / N ratios (target < 1.3x).

    python bench/builder_memory.py                 # N=40, 2 s clips, 2 workers
    python bench/builder_memory.py --n 100 --seconds 3 --num-workers 2
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODES = "AHSNUFDCNX"  # X rows are dropped by the scanner, like the real corpus
SPLITS = ["Train"] * 8 + ["Development", "Test1"]


def make_fixture(root: Path, n: int, seconds: float, sr: int = 16000) -> Path:
    import numpy as np
    import soundfile as sf

    audios = root / "Audios"
    audios.mkdir(parents=True, exist_ok=True)
    (root / "Labels").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    rows = []
    for i in range(n):
        name = f"MSP-PODCAST_{i // 100:04d}_{i % 100:04d}.wav"
        f0 = 90 + 250 * rng.random()
        phase = 2 * np.pi * f0 * (t + 0.02 / (2 * np.pi * 4) * np.sin(2 * np.pi * 4 * t))
        wave = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.05 + 0.3 * rng.random())
        wave = wave + 0.003 * rng.standard_normal(t.size)
        sf.write(audios / name, wave.astype(np.float32), sr, subtype="PCM_16")
        rows.append(
            {
                "FileName": name,
                "EmoClass": CODES[i % len(CODES)],
                "EmoAct": round(1 + 6 * rng.random(), 1),
                "EmoVal": round(1 + 6 * rng.random(), 1),
                "EmoDom": round(1 + 6 * rng.random(), 1),
                "SpkrID": str(i % 37),
                "Gender": ("Male", "Female")[i % 2],
                "Split_Set": SPLITS[i % len(SPLITS)],
            }
        )
    with open(root / "Labels" / "labels_consensus.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def _rss_anon_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_child(args) -> None:
    """In the fresh subprocess: build, then print one JSON line."""
    import resource

    sys.path.insert(0, str(ROOT))
    from smoothclap.data import build

    start = time.time()
    dd = build(
        "msp_podcast", args.data_dir, args.output, num_workers=args.num_workers, features=not args.no_features
    )
    elapsed = time.time() - start
    print(
        json.dumps(
            {
                "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rows": sum(len(d) for d in dd.values()),
                "seconds": elapsed,
            }
        ),
        flush=True,
    )


def measure(data_dir: Path, output: Path, num_workers: int, workdir: Path, no_features: bool = False) -> dict:
    import psutil

    out_path = workdir / f"{output.name}.stdout"
    err_path = workdir / f"{output.name}.stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", "--data-dir", str(data_dir),
             "--output", str(output), "--num-workers", str(num_workers)] + (["--no-features"] if no_features else []),
            stdout=out,
            stderr=err,
            cwd=str(ROOT),
        )
        main = psutil.Process(proc.pid)
        peak_tree = peak_pss = peak_anon = 0
        max_procs = 1
        while proc.poll() is None:
            total = pss = 0
            try:
                procs = [main] + main.children(recursive=True)
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                    pss += p.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            max_procs = max(max_procs, len(procs))
            peak_tree = max(peak_tree, total)
            peak_pss = max(peak_pss, pss)
            peak_anon = max(peak_anon, _rss_anon_kb(proc.pid))
            time.sleep(0.05)
    if proc.returncode != 0:
        sys.stderr.write(err_path.read_text()[-4000:])
        raise SystemExit(f"build of {data_dir} failed with exit code {proc.returncode}")
    result = json.loads(out_path.read_text().strip().splitlines()[-1])
    result.update(
        tree_peak_mb=peak_tree / 2**20, tree_pss_peak_mb=peak_pss / 2**20, main_anon_peak_mb=peak_anon / 1024,
        processes=max_procs,
    )
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="clips in the small fixture (the large one has 10x)")
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length")
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--no-features", action="store_true", help="build without eGeMAPS (isolates the builder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args)
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="smoothclap-bench-"))
    try:
        results = {}
        for n in (args.n, 10 * args.n):
            data = make_fixture(workdir / f"msp_{n}", n, args.seconds)
            print(f"built fixture: {n} clips of {args.seconds:g} s", flush=True)
            results[n] = measure(data, workdir / f"out_{n}", args.num_workers, workdir, args.no_features)
            r = results[n]
            print(
                f"N={n:5d}: {r['rows']} rows in {r['seconds']:.1f} s | main RSS {r['ru_maxrss_mb']:.0f} MB, "
                f"main anon {r['main_anon_peak_mb']:.0f} MB, tree RSS {r['tree_peak_mb']:.0f} MB, "
                f"tree PSS {r['tree_pss_peak_mb']:.0f} MB "
                f"({r['processes']} processes)",
                flush=True,
            )
        small, large = results[args.n], results[10 * args.n]
        print(
            "ratio 10N/N: main RSS {:.2f}x, main anon {:.2f}x, tree RSS {:.2f}x, tree PSS {:.2f}x "
            "(target < 1.3x)".format(
                large["ru_maxrss_mb"] / small["ru_maxrss_mb"],
                large["main_anon_peak_mb"] / small["main_anon_peak_mb"],
                large["tree_peak_mb"] / small["tree_peak_mb"],
                large["tree_pss_peak_mb"] / small["tree_pss_peak_mb"],
            )
        )
        print(json.dumps({str(k): v for k, v in results.items()}))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
