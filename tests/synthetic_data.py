"""A synthetic dataset folder in the layout `python -m smoothclap.data build` writes.

For tests and benchmarks only (tests/, not the library): generated harmonic tones (pitch and loudness vary with a
made-up emotion), drawn prosody values instead of an openSMILE run, and tags/captions from
the real `smoothclap.data.captions`. Same columns, `smoothclap.json` and `thresholds.json`
as a built corpus, in seconds instead of minutes. Nothing here is speech.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

LABELS = ["neutral", "happy", "angry", "sad"]
_PITCH = {"neutral": 140.0, "happy": 260.0, "angry": 330.0, "sad": 110.0}
_LOUD = {"neutral": 0.5, "happy": 0.8, "angry": 1.0, "sad": 0.3}
_AROUSAL = {"neutral": 4.0, "happy": 5.5, "angry": 6.0, "sad": 2.5}


def harmonic_tone(freq: float, seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 5))
    return (0.3 * wave + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


def _wav(wave, sr=16000) -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, wave, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _rows(split, n, seed, seconds):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        emotion = LABELS[i % 4]
        duration = float(rng.uniform(*seconds))
        wave = _LOUD[emotion] * harmonic_tone(_PITCH[emotion] * rng.uniform(0.9, 1.1), duration, seed=seed * 100_003 + i)
        rows.append({
            "id": f"{split}_{i:04d}_{emotion}", "audio": {"bytes": _wav(wave), "path": None}, "split": split,
            "speaker": f"{split}{i % 3}", "gender": ["male", "female"][i % 2], "label": LABELS.index(emotion),
            "emotion": emotion, "arousal": _AROUSAL[emotion] + float(rng.normal(0, 0.3)),
            "valence": float(rng.uniform(1, 7)), "dominance": float(rng.uniform(1, 7)), "duration": duration,
            "pitch_mean": float(np.log2(_PITCH[emotion]) * 12 + rng.normal()),
            "pitch_variation": float(rng.uniform(0.02, 0.2)), "loudness": _LOUD[emotion] + float(rng.normal(0, 0.05)),
            "jitter": float(rng.uniform(0.005, 0.02)), "shimmer": float(rng.uniform(1.0, 1.6)),
            "egemaps": [float(v) for v in rng.normal(size=88) + LABELS.index(emotion)],
        })
    return rows


def write_synthetic_dataset(path, splits=None, seconds=(0.4, 1.4)) -> str:
    """Write the folder; ``splits`` maps split name -> rows (default train 16, validation 8, test 8)."""
    import datasets

    from smoothclap.data import captions

    splits = splits or {"train": 16, "validation": 8, "test": 8}
    all_rows = {name: _rows(name, n, seed, seconds) for seed, (name, n) in enumerate(splits.items())}
    train = all_rows["train"]
    thresholds = captions.fit_thresholds_from_columns({c: [r[c] for r in train] for c in train[0]})
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
    meta = {"corpus": "synthetic", "labels": LABELS,
            "query_texts": [f"this person is feeling {x}." for x in LABELS],
            "build": {"caption_variant": "emotion_plus", "max_tags": 5},
            "description": "SYNTHETIC tones for tests and benchmarks (not speech)."}
    with open(os.path.join(path, "smoothclap.json"), "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=2)
    return str(path)
