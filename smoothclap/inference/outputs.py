"""Rows out of clip records: the terminal's ranked lists, and the final JSONL / CSV / Parquet
file merged from the part files (parts.py), in the run's input order, each clip once.

A clip record (one part-file line) is ``{"i": input index, "key": ..., "dur": seconds,
"w": [[start, end, [score per label], embedding base64 | null], ...]}`` or
``{"i", "key", "error": reason}``. One output row per window (one window = the whole clip).
Columns: ``path`` (or ``id`` and ``split`` for a dataset), ``duration``, with ``--window``
``start`` and ``end`` (seconds), ``label``/``score`` (the best), ``labels``/``scores`` (the
top k, best first; CSV: ``label_1``, ``score_1``, ...), and with ``--embeddings`` the audio
embedding (Parquet: an ``embedding`` list column; JSONL/CSV: ``embedding_row``, the row of
``<output stem>.embeddings.npy``).
"""

from __future__ import annotations

import base64
import csv
import json
import os
from pathlib import Path

import numpy as np

from smoothclap.inference.parts import complete_lines, embeddings_path, errors_path, part_files

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
PARQUET_ROW_GROUP = 1024


def output_format(output) -> str:
    ext = Path(output).suffix.lower()
    if ext not in FORMATS:
        from smoothclap.inference.inputs import InputError

        raise InputError(f"--output {str(output)!r}: unknown format {ext or '(no extension)'}; end the name in "
                         ".jsonl, .csv or .parquet.")
    return FORMATS[ext]


def encode_embedding(vector) -> str:
    return base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode("ascii")


def decode_embedding(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float32)


def identity(key: str, kind: str) -> dict:
    if kind == "dataset":
        split, row_id = key.split("/", 1)
        return {"id": row_id, "split": split}
    return {"path": key}


def top_k(scores, labels, k: int | None) -> list[tuple[str, float]]:
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")[: k or len(labels)]
    return [(labels[j], float(scores[j])) for j in order]


def record_rows(record: dict, kind: str, labels: list, top: int | None, windows: bool):
    """The output rows of one clip record (dicts, the embedding as a numpy array or None)."""
    for start, end, scores, emb in record["w"]:
        row = identity(record["key"], kind)
        row["duration"] = round(float(record["dur"]), 6)
        if windows:
            row["start"], row["end"] = round(float(start), 6), round(float(end), 6)
        ranked = top_k(scores, labels, top)
        row["label"], row["score"] = ranked[0]
        row["labels"], row["scores"] = [r[0] for r in ranked], [r[1] for r in ranked]
        row["embedding"] = None if emb is None else decode_embedding(emb)
        yield row


def terminal_results(records: list, kind: str, labels: list, windows: bool) -> tuple[dict, dict]:
    """({name: [{label, score}, ...] best first}, {name: error}) in input order; a window is
    named "path [start-end s]"."""
    results, errors = {}, {}
    for record in sorted(records, key=lambda r: r["i"]):
        name = record["key"]
        if "error" in record:
            errors[name] = record["error"]
            continue
        for row in record_rows(record, kind, labels, None, windows):
            shown = f"{name} [{row['start']:.2f}-{row['end']:.2f} s]" if windows else name
            results[shown] = [{"label": label, "score": score} for label, score in zip(row["labels"], row["scores"])]
    return results, errors


# --------------------------------------------------------------------------- writers
class _Jsonl:
    def __init__(self, path, columns, top):
        self.file = open(path, "w", encoding="utf-8")

    def write(self, row):
        self.file.write(json.dumps(row) + "\n")

    def close(self):
        self.file.close()


class _Csv:
    def __init__(self, path, columns, top):
        self.file = open(path, "w", encoding="utf-8", newline="")
        fixed = [c for c in columns if c not in ("label", "score", "labels", "scores", "embedding_row")]
        ranked = [f"{name}_{i}" for i in range(1, top + 1) for name in ("label", "score")]
        self.columns = fixed + ranked + (["embedding_row"] if "embedding_row" in columns else [])
        self.writer = csv.DictWriter(self.file, fieldnames=self.columns)
        self.writer.writeheader()

    def write(self, row):
        flat = {k: v for k, v in row.items() if k not in ("label", "score", "labels", "scores")}
        for i, (label, score) in enumerate(zip(row["labels"], row["scores"]), 1):
            flat[f"label_{i}"], flat[f"score_{i}"] = label, score
        self.writer.writerow(flat)

    def close(self):
        self.file.close()


class _Parquet:
    def __init__(self, path, columns, top):
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {"path": pa.string(), "id": pa.string(), "split": pa.string(), "duration": pa.float64(),
                 "start": pa.float64(), "end": pa.float64(), "label": pa.string(), "score": pa.float64(),
                 "labels": pa.list_(pa.string()), "scores": pa.list_(pa.float64()),
                 "embedding": pa.list_(pa.float32())}
        self.pa, self.schema = pa, pa.schema([(c, types[c]) for c in columns])
        self.writer = pq.ParquetWriter(str(path), self.schema)
        self.buffer = []

    def write(self, row):
        if row.get("embedding") is not None:
            row = dict(row, embedding=row["embedding"].tolist())
        self.buffer.append(row)
        if len(self.buffer) >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self):
        if self.buffer:
            self.writer.write_table(self.pa.Table.from_pylist(self.buffer, schema=self.schema))
            self.buffer = []

    def close(self):
        self._flush()
        self.writer.close()


WRITERS = {"jsonl": _Jsonl, "csv": _Csv, "parquet": _Parquet}


# --------------------------------------------------------------------------- merge
def _index_parts(output, n_items: int):
    """Pass 1: where each clip's record is ({input index: (file, offset, rows or -1 for an error)}),
    the first copy of each clip winning; memory is a few ints per clip."""
    where, dim = {}, None
    files = part_files(output)
    for f, path in enumerate(files):
        for offset, line in complete_lines(path):
            record = json.loads(line)
            i = int(record["i"])
            if i in where or i >= n_items:
                continue
            where[i] = (f, offset, -1 if "error" in record else len(record["w"]))
            if dim is None and "w" in record and record["w"] and record["w"][0][3] is not None:
                dim = len(decode_embedding(record["w"][0][3]))
    return files, where, dim


def merge_parts(output, items: list, kind: str, labels: list, top: int | None, windows: bool,
                embeddings: bool) -> dict:
    """Write the final output (and errors file, and .npy) from the part files, atomically;
    {"rows", "clips", "failed"}. Every input clip must be in exactly one place (output rows or
    errors); a clip in neither is a bug and raises instead of writing a short file."""
    output = Path(output)
    fmt = output_format(output)
    files, where, dim = _index_parts(output, len(items))
    missing = [i for i in range(len(items)) if i not in where]
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(items)} clips are in no part file (first: "
                           f"{items[missing[0]].key!r}); run the same command again to finish them.")
    n_rows = sum(v[2] for v in where.values() if v[2] > 0)
    top = min(top or len(labels), len(labels))
    columns = list(identity(items[0].key, kind)) + ["duration"] + (["start", "end"] if windows else []) + \
        ["label", "score", "labels", "scores"]
    npy = None
    if embeddings and fmt == "parquet":
        columns.append("embedding")
    elif embeddings:
        columns.append("embedding_row")
        npy = np.lib.format.open_memmap(_tmp(embeddings_path(output)), mode="w+", dtype=np.float32,
                                        shape=(n_rows, dim or 0))
    writer = WRITERS[fmt](_tmp(output), columns, top)
    handles = [open(p, "rb") for p in files]
    failed, row_no = [], 0
    try:
        for i in range(len(items)):
            f, offset, _ = where[i]
            handles[f].seek(offset)
            record = json.loads(handles[f].readline())
            if "error" in record:
                failed.append({**identity(record["key"], kind), "error": record["error"]})
                continue
            for row in record_rows(record, kind, labels, top, windows):
                emb = row.pop("embedding")
                if npy is not None:
                    npy[row_no] = emb
                    row["embedding_row"] = row_no
                elif embeddings:
                    row["embedding"] = emb
                writer.write(row)
                row_no += 1
    finally:
        for h in handles:
            h.close()
        writer.close()
    _finish(output, npy, failed)
    return {"rows": row_no, "clips": len(items), "failed": len(failed)}


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _finish(output: Path, npy, failed: list) -> None:
    """Rename everything into place: the errors file and the .npy first, the output last (its
    presence says the run is complete)."""
    errs = errors_path(output)
    if failed:
        with open(_tmp(errs), "w", encoding="utf-8") as f:
            for entry in failed:
                f.write(json.dumps(entry) + "\n")
        os.replace(_tmp(errs), errs)
    else:
        errs.unlink(missing_ok=True)
    if npy is not None:
        npy.flush()
        del npy
        os.replace(_tmp(embeddings_path(output)), embeddings_path(output))
    os.replace(_tmp(output), output)
