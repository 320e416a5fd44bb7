"""Memory of the trainer's row table (the non-audio columns) at MSP-Podcast size: before/after.

Before, ``RowTable`` turned every non-audio column into Python rows
(``split.select_columns(...).to_list()``: 88 eGeMAPS floats a row as Python objects), in
every process and, as copy-on-write breaks on reference counts, in every DataLoader
worker. Now it keeps the columns in Arrow (memory-mapped from the dataset folder, shared by
all processes) and eGeMAPS as one float32 numpy array.

A synthetic split with MSP-Podcast's train size (45k rows by default) and the columns the
builder writes (id, speaker, gender, emotion, label, the six binned attributes, 88 eGeMAPS,
tag sentences, caption, tags; a tiny placeholder audio column) is saved with
``save_to_disk``; then each variant runs in a fresh process: load_from_disk, build the
table, touch every row once as an epoch of captions does, and report the growth of its
private memory (USS: what a worker cannot share) and of RSS.

    python bench/row_table_memory.py [--rows 45000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def write_split(path: str, rows: int) -> None:
    import datasets
    import numpy as np

    from smoothclap.data import captions

    rng = np.random.default_rng(0)
    emotions = ["angry", "happy", "sad", "neutral", "surprise", "fear", "disgust", "contempt"]
    columns = {
        "id": [f"MSP-PODCAST_{i:04d}_{i:04d}" for i in range(rows)],
        "audio": [{"bytes": b"RIFF", "path": f"{i}.wav"} for i in range(rows)],
        "speaker": [str(i % 1500) for i in range(rows)],
        "gender": ["female" if i % 2 else "male" for i in range(rows)],
        "emotion": [emotions[i % len(emotions)] for i in range(rows)],
        **{a: rng.normal(size=rows).astype("float32") for a in captions.BINNED_ATTRIBUTES},
        "egemaps": rng.normal(size=(rows, 88)).astype("float32"),
        "tag_sentences": [["the speaker is angry.", "a male is speaking.", "the voice is loud."]] * rows,
        "caption": ["a male is speaking in a loud and high-pitched voice and is angry."] * rows,
        "tags": ["angry, male, loud, high pitch"] * rows,
    }
    features = datasets.Features({
        "id": datasets.Value("string"),
        "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
        "speaker": datasets.Value("string"), "gender": datasets.Value("string"),
        "emotion": datasets.Value("string"),
        **{a: datasets.Value("float32") for a in captions.BINNED_ATTRIBUTES},
        "egemaps": datasets.List(datasets.Value("float32"), length=88),
        "tag_sentences": datasets.List(datasets.Value("string")), "caption": datasets.Value("string"),
        "tags": datasets.Value("string")})
    datasets.Dataset.from_dict(columns, features=features).save_to_disk(path)


def measure(path: str, variant: str) -> dict:
    """In this (fresh) process: memory growth of building the table and touching every row."""
    import gc
    from types import SimpleNamespace

    import datasets
    import psutil

    from smoothclap.training.data import RowTable  # imports torch: before the first reading, in both variants

    split = datasets.load_from_disk(path)
    proc = psutil.Process()
    gc.collect()
    before = proc.memory_full_info()
    if variant == "before":  # the previous RowTable: Python rows
        table = split.select_columns([c for c in split.column_names if c != "audio"]).to_list()
        touched = sum(len(table[i]["egemaps"]) + len(table[i]["caption"]) for i in range(len(table)))
    else:
        args = SimpleNamespace(caption_variant=None, max_tags=None, seed=0)
        table = RowTable(split, args, thresholds=None)
        touched = sum(len(table.egemaps_values[i]) + len(table.value(i, "caption")) for i in range(len(table)))
    gc.collect()
    after = proc.memory_full_info()
    assert touched > 0
    return {"variant": variant, "rows": len(split), "uss_mb": (after.uss - before.uss) / 2**20,
            "rss_mb": (after.rss - before.rss) / 2**20}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=45_000)
    p.add_argument("--measure", nargs=2, metavar=("PATH", "VARIANT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train")
        write_split(path, args.rows)
        results = {}
        for variant in ("before", "after"):
            out = subprocess.run([sys.executable, __file__, "--measure", path, variant], check=True,
                                 capture_output=True, text=True).stdout
            results[variant] = json.loads(out.strip().splitlines()[-1])
    print(f"row table, {args.rows} rows, growth of one process (every DataLoader worker pays the private part too)")
    for variant, r in results.items():
        label = "before (Python rows)" if variant == "before" else "after (Arrow + numpy)"
        print(f"  {label:24s} private (USS) {r['uss_mb']:8.1f} MB   RSS {r['rss_mb']:8.1f} MB")
    ratio = results["before"]["uss_mb"] / max(results["after"]["uss_mb"], 0.1)
    print(f"  private memory: {ratio:.0f}x less after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
