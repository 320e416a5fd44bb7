"""train_accelerate.py: end to end, global batch, resume after SIGKILL, cache, LoRA, faults.

Data: a tiny dataset in the layout `python -m dataset_scripts build` writes (same columns,
`smoothclap.json`, `thresholds.json`; tags and captions from `dataset_scripts.captions`),
made of generated tones, once per session. Model: a tiny SmoothCLAP (hidden 32, 2 layers)
saved as a folder, without dropout in the text tower so that runs can be compared exactly.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import ROOT, tiny_audio_config, tiny_processor, tiny_text_config, tone

LABELS = ["neutral", "happy", "angry", "sad"]
PITCH = {"neutral": 140.0, "happy": 260.0, "angry": 330.0, "sad": 110.0}
LOUD = {"neutral": 0.5, "happy": 0.8, "angry": 1.0, "sad": 0.3}
SPLITS = {"train": 16, "validation": 8, "test": 8}


def _wav(wave, sr=16000) -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, wave, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _rows(split, n, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        emotion = LABELS[i % 4]
        seconds = float(rng.uniform(0.4, 1.4))
        wave = LOUD[emotion] * tone(PITCH[emotion] * rng.uniform(0.9, 1.1), seconds, seed=seed * 100 + i)
        a = {"neutral": 4.0, "happy": 5.5, "angry": 6.0, "sad": 2.5}[emotion] + rng.normal(0, 0.3)
        rows.append({
            "id": f"{split}_{i:03d}_{emotion}", "audio": {"bytes": _wav(wave), "path": None}, "split": split,
            "speaker": f"{split}{i % 3}", "gender": ["male", "female"][i % 2], "label": LABELS.index(emotion),
            "emotion": emotion, "arousal": a, "valence": float(rng.uniform(1, 7)), "dominance": float(rng.uniform(1, 7)),
            "duration": seconds, "pitch_mean": float(np.log2(PITCH[emotion]) * 12 + rng.normal()),
            "pitch_variation": float(rng.uniform(0.02, 0.2)), "loudness": LOUD[emotion] + float(rng.normal(0, 0.05)),
            "jitter": float(rng.uniform(0.005, 0.02)), "shimmer": float(rng.uniform(1.0, 1.6)),
            "egemaps": [float(v) for v in rng.normal(size=88) + LABELS.index(emotion)],
        })
    return rows


def write_tiny_dataset(path, splits=SPLITS):
    """A dataset folder with the builder's columns and side files (no eGeMAPS run: values are drawn)."""
    import datasets

    from dataset_scripts import captions

    all_rows = {name: _rows(name, n, seed) for seed, (name, n) in enumerate(splits.items())}
    thresholds = captions.fit_thresholds({a: [r[a] for r in all_rows["train"]] for a in captions.BINNED_ATTRIBUTES})
    features = datasets.Features({
        "id": datasets.Value("string"), "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
        "split": datasets.Value("string"), "speaker": datasets.Value("string"), "gender": datasets.Value("string"),
        "label": datasets.ClassLabel(names=LABELS), "emotion": datasets.Value("string"),
        **{a: datasets.Value("float32") for a in captions.BINNED_ATTRIBUTES},
        "egemaps": datasets.List(datasets.Value("float32"), length=88),
        "tag_sentences": datasets.List(datasets.Value("string")), "caption": datasets.Value("string"),
        "tags": datasets.Value("string")})
    dd = {}
    for name, rows in all_rows.items():
        for r in rows:
            r["tag_sentences"] = captions.tag_sentences(r, thresholds, seed=0)
            r["caption"] = captions.make_caption(r, thresholds, seed=0)
            r["tags"] = captions.compact_tags(r, thresholds)
        dd[name] = datasets.Dataset.from_list(rows, features=features)
    datasets.DatasetDict(dd).save_to_disk(str(path))
    captions.save_thresholds(thresholds, os.path.join(path, "thresholds.json"))
    meta = {"corpus": "tiny", "labels": LABELS, "query_texts": [f"this person is feeling {x}." for x in LABELS],
            "build": {"caption_variant": "emotion_plus", "max_tags": 5}}
    with open(os.path.join(path, "smoothclap.json"), "w") as fh:
        json.dump(meta, fh)
    return str(path)


def write_tiny_model(path, seed=0, **config_kwargs):
    """A tiny SmoothCLAP + processor folder (text tower without dropout: exact comparisons)."""
    from configuration_smoothclap import SmoothClapConfig
    from modeling_smoothclap import SmoothClapModel

    torch.manual_seed(seed)
    config = SmoothClapConfig.from_audio_text_configs(
        tiny_audio_config(), tiny_text_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
        projection_dim=16, projection_dropout=0.0, **config_kwargs)
    SmoothClapModel(config).save_pretrained(str(path))
    tiny_processor().save_pretrained(str(path))
    return str(path)
