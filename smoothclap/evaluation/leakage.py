"""Leakage-aware evaluation: what a model was trained and selected on, recorded at export, and
each evaluated split compared with it.

The trainer writes ``training_data.json`` into the exported folder: the corpus, config and
splits, and short hashes of every clip id and speaker id of the train and validation splits
(hashes, not the ids: a published model does not list its speakers). ``evaluate`` marks each
result ``"in-sample"`` (clips the model saw), ``"speaker-overlap"`` (other clips of speakers
it saw), ``"none"`` or ``"unknown"`` (a model without the record). A clip is identified by
corpus and clip id, so a copy of the same audio under other ids is not found.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

RECORD_FILE = "training_data.json"
LEVELS = ("in-sample", "speaker-overlap", "none", "unknown")


def _hash(corpus: str, kind: str, value) -> str:
    return hashlib.sha1(f"{corpus}\0{kind}\0{value}".encode()).hexdigest()[:16]


def split_hashes(corpus: str, split) -> tuple[set, set]:
    """(clip hashes, speaker hashes) of a datasets split (speakers: rows with a speaker id)."""
    columns = set(split.column_names)
    clips = {_hash(corpus, "clip", i) for i in split["id"]} if "id" in columns else set()
    speakers = {_hash(corpus, "speaker", s) for s in split["speaker"] if s not in (None, "")} \
        if "speaker" in columns else set()
    return clips, speakers


def training_record(meta: dict, dataset_name: str, splits: dict) -> dict:
    """The record of ``splits`` ({name: datasets split}: train and validation) of a corpus."""
    corpus = str(meta.get("corpus") or dataset_name)
    clips, speakers = set(), set()
    for split in splits.values():
        c, s = split_hashes(corpus, split)
        clips |= c
        speakers |= s
    return {"corpus": corpus, "config": meta.get("config"), "dataset": dataset_name, "splits": sorted(splits),
            "n_clips": len(clips), "n_speakers": len(speakers), "hash": "sha1(corpus NUL kind NUL id)[:16]",
            "clips": sorted(clips), "speakers": sorted(speakers)}


def write_record(folder, record: dict) -> None:
    Path(folder, RECORD_FILE).write_text(json.dumps(record), encoding="utf-8")


def read_record(model_source: str) -> dict | None:
    """The model's record: a local folder's file, or a Hub repo's (from the local cache only)."""
    path = Path(model_source).expanduser() / RECORD_FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    if Path(model_source).expanduser().exists():
        return None
    try:
        from huggingface_hub import hf_hub_download

        return json.loads(Path(hf_hub_download(model_source, RECORD_FILE)).read_text(encoding="utf-8"))
    except Exception:  # not there, offline, not cached: the model's training data is unknown
        return None


def leakage(record: dict | None, corpus: str, dataset) -> dict:
    """{"leakage": level, "clips_seen": n, "speakers_seen": n} for an evaluated dataset."""
    if record is None:
        return {"leakage": "unknown", "clips_seen": None, "speakers_seen": None}
    clips, speakers = split_hashes(corpus, dataset)
    seen_clips = len(clips & set(record.get("clips", ())))
    seen_speakers = len(speakers & set(record.get("speakers", ())))
    level = "in-sample" if seen_clips else "speaker-overlap" if seen_speakers else "none"
    return {"leakage": level, "clips_seen": seen_clips, "speakers_seen": seen_speakers}


def warning(key: str, found: dict) -> str | None:
    """One line for a leak (None when there is none or it is unknown)."""
    if found["leakage"] == "in-sample":
        return (f"warning: {key}: {found['clips_seen']} evaluated clip(s) were in the model's training or "
                "validation data (in-sample): this is not a held-out result")
    if found["leakage"] == "speaker-overlap":
        return (f"warning: {key}: {found['speakers_seen']} speaker(s) of the evaluated clips were in the model's "
                "training or validation data (speaker overlap): not a speaker-independent result")
    return None
