"""Distribution bins, ParaCLAP phrasings and captions: pure Python (numpy only).

A training collator can import this module to re-caption rows every epoch without
openSMILE or worker processes:

1. ``fit_thresholds`` fits per-attribute ``[p30, p70]`` cut points on the training split;
   ``save_thresholds`` / ``load_thresholds`` store them as JSON so validation/test splits
   and other corpora reuse the training cut points.
2. ``bin_value`` turns a value into ``"low"`` / ``"mid"`` / ``"high"``; ``tag_sentences``
   turns a sample into one ParaCLAP phrasing per known attribute; ``make_caption``
   combines them into one caption (the paper's variants); ``compact_tags`` gives a short
   deterministic tag string.

Binning rule (as the ParaCLAP reference, which compares quantiles with ``<= 0.3`` and
``>= 0.7``): ``x <= p30`` is low, ``x >= p70`` is high, anything strictly between is mid.
On a continuous distribution that is the bottom 30 %, the middle 40 % and the top 30 % of
the training values; ties at a cut point go to the outer bin. When the two cut points are
equal (a degenerate distribution) a value equal to them is ``"mid"``.

Phrasings follow ``shared/caption_templates.md`` (the cleaned supplementary table of the
ParaCLAP paper), including the meaningful direction for stable/unstable pitch: a *low*
pitch variation is "a very stable pitch" (the garbled paper table has it the other way
round; the reference code agrees with the direction used here).
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Iterable, Mapping

import numpy as np

__all__ = [
    "BINNED_ATTRIBUTES",
    "NoTagsError",
    "fit_thresholds",
    "save_thresholds",
    "load_thresholds",
    "bin_value",
    "PHRASES",
    "PITCH_VARIATION_SUFFIXES",
    "tag_sentences",
    "make_caption",
    "CAPTION_VARIANTS",
    "compact_tags",
]

BINNED_ATTRIBUTES: list[str] = [
    "arousal", "valence", "dominance", "pitch_mean", "pitch_variation",
    "loudness", "jitter", "shimmer", "duration",
]
BINS = ("low", "mid", "high")

THRESHOLDS_VERSION = 1


class NoTagsError(ValueError):
    """A sample has nothing to say: no emotion, gender or binnable value."""


# --------------------------------------------------------------------------- thresholds
def _is_missing(x) -> bool:
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def fit_thresholds(values: Mapping[str, Iterable[float | None]]) -> dict[str, list[float]]:
    """Per attribute ``[p30, p70]`` of the given values (numpy percentile, linear
    interpolation), ignoring None and NaN. Attributes without any value are left out.
    Fit on the training split only, then reuse the result for every other split."""
    out: dict[str, list[float]] = {}
    for name, vals in values.items():
        arr = np.asarray([float(v) for v in vals if not _is_missing(v)], dtype=np.float64)
        if arr.size == 0:
            continue
        p30, p70 = np.percentile(arr, [30.0, 70.0], method="linear")
        out[name] = [float(p30), float(p70)]
    return out


def _validate_thresholds(thresholds, where: str) -> dict[str, list[float]]:
    if not isinstance(thresholds, Mapping):
        raise ValueError(f"{where}: thresholds must be an object attribute -> [p30, p70], got {type(thresholds).__name__}")
    clean: dict[str, list[float]] = {}
    for name, pair in thresholds.items():
        if name not in BINNED_ATTRIBUTES:
            raise ValueError(f"{where}: unknown attribute {name!r}; expected some of {BINNED_ATTRIBUTES}")
        if (
            not isinstance(pair, (list, tuple))
            or len(pair) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
            or not all(math.isfinite(v) for v in pair)
            or pair[0] > pair[1]
        ):
            raise ValueError(f"{where}: {name!r} must be [p30, p70], two finite numbers with p30 <= p70; got {pair!r}")
        clean[name] = [float(pair[0]), float(pair[1])]
    return clean


def save_thresholds(thresholds: Mapping[str, list[float]], path) -> None:
    """Write thresholds as JSON ``{"version": 1, "rule": ..., "thresholds": {...}}``."""
    clean = _validate_thresholds(thresholds, "save_thresholds")
    doc = {
        "version": THRESHOLDS_VERSION,
        "rule": "per attribute [p30, p70] of the training split; x <= p30 low, x >= p70 high, else mid",
        "thresholds": clean,
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")


def load_thresholds(path) -> dict[str, list[float]]:
    """Read a file written by ``save_thresholds``; ValueError naming the file and the
    problem for anything else."""
    where = f"thresholds file {os.fspath(path)!r}"
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise ValueError(f"{where} does not exist") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{where} is not valid JSON ({err})") from None
    if not isinstance(doc, dict) or "thresholds" not in doc or "version" not in doc:
        raise ValueError(f"{where} needs the keys 'version' and 'thresholds' (write it with save_thresholds)")
    if doc["version"] != THRESHOLDS_VERSION:
        raise ValueError(f"{where} has version {doc['version']!r}; this code reads version {THRESHOLDS_VERSION}")
    return _validate_thresholds(doc["thresholds"], where)


def bin_value(x, pair) -> str | None:
    """``"low"`` if ``x <= p30``, ``"high"`` if ``x >= p70``, ``"mid"`` in between (bottom
    30 % / middle 40 % / top 30 % of the fitting distribution; ties at a cut point go to
    the outer bin; when ``p30 == p70 == x`` the value is ``"mid"``). None for None/NaN."""
    if _is_missing(x):
        return None
    x = float(x)
    low, high = float(pair[0]), float(pair[1])
    is_low, is_high = x <= low, x >= high
    if is_low and is_high:
        return "mid"
    if is_low:
        return "low"
    if is_high:
        return "high"
    return "mid"


# --------------------------------------------------------------------------- phrasings
# attribute -> bin -> phrasings. "{emotion}" / "{gender}" are filled from the sample;
# emotion and gender have the single bin "label". Phrasings with {emotion} under arousal
# are used only when the sample's emotion is known.
PHRASES: dict[str, dict[str, list[str]]] = {
    "emotion": {"label": ["emotion is {emotion}", "this is a {emotion} instance", "speaker is {emotion}"]},
    "gender": {"label": ["a {gender} is speaking", "the speaker is {gender}"]},
    "arousal": {
        "low": ["has low arousal", "speaker is calm", "speaker is not very {emotion}"],
        "mid": ["arousal is at an average level"],
        "high": ["has high arousal", "speaker is aroused", "speaker is very {emotion}"],
    },
    "valence": {
        "low": ["has low valence", "speaker appears to be in a bad mood"],
        "mid": ["valence is at an average level"],
        "high": ["has high valence", "speaker appears to be in a good mood"],
    },
    "dominance": {
        "low": ["has low dominance"],
        "mid": ["dominance is at an average level"],
        "high": ["has high dominance", "speaker appears to be dominant"],
    },
    "pitch_mean": {
        "low": ["has a low pitch"],
        "mid": ["has an average pitch", "has a normal pitch"],
        "high": ["has a high pitch"],
    },
    "pitch_variation": {
        "low": ["has a low pitch variation", "has a low pitch variance", "has a very stable pitch",
                "has a very stable phonation"],
        "mid": ["has a normal pitch variation"],
        "high": ["has a high pitch variation", "has a high pitch variance", "has a very unstable pitch",
                 "has a very unstable phonation"],
    },
    "loudness": {
        "low": ["has a low equivalent sound level", "is quiet", "is almost silent"],
        "mid": ["has a normal equivalent sound level", "has an average equivalent sound level",
                "loudness is just about right"],
        "high": ["has a high equivalent sound level", "sound pressure is elevated", "sound level is elevated",
                 "is loud"],
    },
    "duration": {
        "low": ["has a short duration", "has a small duration", "is a short sentence", "lasts a little time",
                "is short"],
        "mid": ["is of average duration", "is of average length", "duration is medium",
                "is neither long nor short"],
        "high": ["has a long duration", "has a big duration", "is a long sentence", "lasts a long time",
                 "is long"],
    },
    "jitter": {"low": ["has a low jitter"], "mid": ["has a normal jitter"], "high": ["has a high jitter"]},
    "shimmer": {"low": ["has a low shimmer"], "mid": ["has a normal shimmer"], "high": ["has a high shimmer"]},
}

# Footnote (*) of the table: pitch-variation bin -> suffixes. A LOW jitter/shimmer phrase may
# take a "high" suffix when pitch variation is high; a HIGH one a "low" suffix when pitch
# variation is low. As in the reference code, the suffixed forms are extra candidates next
# to the plain phrase (one candidate is drawn), not a forced suffix.
PITCH_VARIATION_SUFFIXES: dict[str, list[str]] = {
    "high": ["but a high pitch variance", "but not a low pitch variance", "but the pitch is unstable"],
    "low": ["but a low pitch variance", "but not a high pitch variance", "but the pitch is stable"],
}
_SUFFIX_RULE = {"low": "high", "high": "low"}  # jitter/shimmer bin -> pitch-variation bin that adds suffixes

_TAG_ORDER = ["emotion", "gender"] + BINNED_ATTRIBUTES
_COMPACT_NAMES = {"pitch_mean": "pitch", "pitch_variation": "pitch variation"}

CAPTION_VARIANTS = ("emotion_only", "no_emotion", "emotion_plus")


def _label(sample: Mapping, key: str) -> str | None:
    value = sample.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = str(value).strip()
    return value or None


def _bins(sample: Mapping, thresholds: Mapping | None) -> dict[str, str]:
    out = {}
    thresholds = thresholds or {}
    for name in BINNED_ATTRIBUTES:
        if name in thresholds:
            b = bin_value(sample.get(name), thresholds[name])
            if b is not None:
                out[name] = b
    return out


def _sample_rng(sample: Mapping, seed: int) -> random.Random:
    if "id" not in sample:
        raise KeyError("sample needs an 'id' (tags are drawn with random.Random(f'{seed}:{id}'))")
    return random.Random(f"{seed}:{sample['id']}")


def _candidates(attr: str, bin_: str, bins: Mapping[str, str], emotion: str | None, gender: str | None) -> list[str]:
    cands = [p for p in PHRASES[attr][bin_] if emotion is not None or "{emotion}" not in p]
    if attr in ("jitter", "shimmer") and bin_ in _SUFFIX_RULE and bins.get("pitch_variation") == _SUFFIX_RULE[bin_]:
        base = PHRASES[attr][bin_][0]
        cands = cands + [f"{base} {s}" for s in PITCH_VARIATION_SUFFIXES[bins["pitch_variation"]]]
    return [p.format(emotion=emotion, gender=gender) for p in cands]


def _tag_items(sample: Mapping, thresholds: Mapping, rng: random.Random) -> list[tuple[str, str]]:
    emotion, gender = _label(sample, "emotion"), _label(sample, "gender")
    bins = _bins(sample, thresholds)
    items = []
    for attr in _TAG_ORDER:
        if attr == "emotion":
            bin_ = "label" if emotion is not None else None
        elif attr == "gender":
            bin_ = "label" if gender is not None else None
        else:
            bin_ = bins.get(attr)
        if bin_ is None:
            continue
        items.append((attr, rng.choice(_candidates(attr, bin_, bins, emotion, gender))))
    return items


def tag_sentences(sample: Mapping, thresholds: Mapping[str, list[float]], seed: int = 0) -> list[str]:
    """One ParaCLAP phrasing per available attribute, in the order emotion, gender,
    arousal, valence, dominance, pitch_mean, pitch_variation, loudness, jitter, shimmer,
    duration (an attribute is available when its value is not None/NaN and, for binned
    ones, ``thresholds`` has it; ``thresholds=None`` or ``{}`` gives the labels only). Deterministic per sample: the phrasings are drawn with
    ``random.Random(f"{seed}:{sample['id']}")``, so order and worker never matter."""
    return [s for _, s in _tag_items(sample, thresholds, _sample_rng(sample, seed))]


def _no_tags_error(sample: Mapping, what: str) -> NoTagsError:
    return NoTagsError(
        f"no {what} for sample {sample.get('id')!r}: it has no emotion/gender and no attribute "
        "with both a value and a threshold"
    )


def make_caption(
    sample: Mapping,
    thresholds: Mapping[str, list[float]],
    seed: int = 0,
    variant: str = "emotion_plus",
    max_tags: int = 5,
) -> str:
    """One training caption, sentences joined with " and " (the ParaCLAP variants).

    - ``emotion_only``: the emotion sentence alone.
    - ``no_emotion``: k other sentences, k uniform in 1..min(max_tags, available).
    - ``emotion_plus``: the emotion sentence first, then k other sentences, k uniform in
      0..min(max_tags, available) (the paper used max_tags 1 and 5).

    Other sentences are a random subset in random order. Draws use the same per-sample
    generator as ``tag_sentences`` (same ``seed`` -> the caption's sentences are among
    ``tag_sentences(sample, thresholds, seed)``).

    No emotion (None, e.g. annotators did not agree): ``emotion_plus`` behaves like
    ``no_emotion``; ``emotion_only`` falls back to ONE random other sentence.
    No usable sentence at all: NoTagsError (never an empty caption).
    """
    if variant not in CAPTION_VARIANTS:
        raise ValueError(f"unknown caption variant {variant!r}; choose one of {CAPTION_VARIANTS}")
    if int(max_tags) < 1:
        raise ValueError(f"max_tags must be >= 1, got {max_tags}")
    rng = _sample_rng(sample, seed)
    items = _tag_items(sample, thresholds, rng)
    emotion = [s for a, s in items if a == "emotion"]
    others = [s for a, s in items if a != "emotion"]
    if variant != "no_emotion" and emotion:
        if variant == "emotion_only":
            return emotion[0]
        k = rng.randint(0, min(int(max_tags), len(others)))
        return " and ".join(emotion + rng.sample(others, k))
    if not others:
        raise _no_tags_error(sample, "caption" if variant != "no_emotion" else "non-emotion caption")
    limit = 1 if variant == "emotion_only" else min(int(max_tags), len(others))
    k = rng.randint(1, limit)
    return " and ".join(rng.sample(others, k))


def compact_tags(sample: Mapping, thresholds: Mapping[str, list[float]]) -> str:
    """Short deterministic tag string (no randomness), e.g. ``"emotion: angry, gender:
    male, arousal: high, pitch: high, loudness: mid, duration: low"``: emotion and gender
    as given, binned attributes as low/mid/high, in the tag_sentences order, missing
    ones left out. NoTagsError when nothing is known."""
    parts = []
    for key in ("emotion", "gender"):
        value = _label(sample, key)
        if value is not None:
            parts.append(f"{key}: {value}")
    for name, b in _bins(sample, thresholds).items():
        parts.append(f"{_COMPACT_NAMES.get(name, name)}: {b}")
    if not parts:
        raise _no_tags_error(sample, "tags")
    return ", ".join(parts)
