"""Distribution bins, ParaCLAP phrasings and captions: pure Python (numpy only).

A training collator can import this module to re-caption rows every epoch without
openSMILE, datasets, torch or worker processes:

1. ``fit_thresholds`` fits per-attribute cut points ``[low_max, high_min]`` on the training
   split (``fit_thresholds_from_columns`` takes dataset columns and derives the equivalent
   sound level from ``egemaps``); ``save_thresholds`` / ``load_thresholds`` store them as
   JSON (with optional metadata, ``read_thresholds_metadata``) so validation/test splits
   and other corpora reuse the training cut points.
2. ``bin_value`` turns a value into ``"low"`` / ``"mid"`` / ``"high"``; ``tag_sentences``
   turns a row into one ParaCLAP phrasing per known attribute; ``make_caption`` combines
   them into one caption (the paper's variants); ``compact_tags`` gives a short
   deterministic tag string.

Rules (paper = ParaCLAP, Interspeech 2024; reference = its code, KeiKinn/ParaCLAP;
where the paper is silent the reference is followed; model_card.md lists every choice):

* Bins: the reference's ``QuantileTransformer`` rule, computed exactly on all training
  values: a value's quantile is its mid-rank (ties get the middle of their run; the
  minimum maps to 0, the maximum to 1; values between two training values are
  interpolated); quantile ``<= 0.3`` low, ``>= 0.7`` high, else mid. On distinct values
  the cut points are numpy's linear 30th/70th percentiles; on tied ratings a tie run goes
  to the bin its middle falls in instead of wholesale to an outer bin. Stored as
  ``[low_max, high_min]``: ``x <= low_max`` low, ``x >= high_min`` high.
* Intensity (reference): high if loudness OR the equivalent sound level is high, else low
  if either is low, else mid (one of the two alone when the other is unknown).
* Jitter/shimmer "but ..." endings (reference): a high jitter/shimmer phrase may end in
  "but the pitch is stable" etc. whenever pitch variation is not also high; a low one in
  "but the pitch is unstable" etc. whenever pitch variation is not also low.
* Captions (reference's dynamic pick): k non-emotion sentences, k in 1..max_tags with
  probability proportional to max_tags + 1 - k (max_tags 4: .4/.3/.2/.1), in random
  order, then " and " + the emotion sentence LAST.
* Emotions that describe nothing (``NON_DESCRIPTIVE_EMOTIONS``: MSP-Podcast's "other",
  "no agreement", ...) are treated as unknown: no emotion sentence, no "speaker is very X".
* The ``no_emotion`` variant leaves out every phrasing that names the emotion.

Phrasings follow ``shared/caption_templates.md`` (the cleaned supplementary table of the
ParaCLAP paper), with the meaningful direction for stable/unstable pitch: a *low* pitch
variation is "a very stable pitch" (the garbled paper table has it the other way round;
the reference code agrees with the direction used here).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .egemaps import EGEMAPS_NAMES

__all__ = [
    "RATING_ATTRIBUTES",
    "ACOUSTIC_ATTRIBUTES",
    "BINNED_ATTRIBUTES",
    "THRESHOLD_ATTRIBUTES",
    "CAPTION_INPUT_COLUMNS",
    "NON_DESCRIPTIVE_EMOTIONS",
    "NoTagsError",
    "attribute_value",
    "caption_emotion",
    "fit_thresholds",
    "fit_thresholds_from_columns",
    "save_thresholds",
    "load_thresholds",
    "read_thresholds_metadata",
    "bin_value",
    "PHRASES",
    "CONTRAST_SUFFIXES",
    "tag_sentences",
    "make_caption",
    "CAPTION_VARIANTS",
    "DEFAULT_MAX_TAGS",
    "compact_tags",
]

# ------------------------------------------------------------------------- attributes
# Rated by annotators on a corpus-specific scale (MSP-Podcast 1-7, IEMOCAP 1-5): cut
# points must not travel between corpora rated on different scales.
RATING_ATTRIBUTES: tuple[str, ...] = ("arousal", "valence", "dominance")
# Measured on the audio (semitones, seconds, dB, ...): comparable across corpora.
ACOUSTIC_ATTRIBUTES: tuple[str, ...] = (
    "pitch_mean", "pitch_variation", "loudness", "sound_level", "jitter", "shimmer", "duration",
)
# Attributes stored as a column of their own in built datasets and binned.
BINNED_ATTRIBUTES: list[str] = [
    "arousal", "valence", "dominance", "pitch_mean", "pitch_variation",
    "loudness", "jitter", "shimmer", "duration",
]
# Attributes read from another column: attribute -> (column, index in that column).
_DERIVED = {"sound_level": ("egemaps", EGEMAPS_NAMES.index("equivalentSoundLevel_dBp"))}
# Every attribute a thresholds file may hold.
THRESHOLD_ATTRIBUTES: tuple[str, ...] = RATING_ATTRIBUTES + ACOUSTIC_ATTRIBUTES
# Row columns make_caption / tag_sentences / compact_tags read.
CAPTION_INPUT_COLUMNS: tuple[str, ...] = ("id", "emotion", "gender", *BINNED_ATTRIBUTES, "egemaps")

# Emotion values that name no emotion: treated as unknown in every text this module
# writes (never "speaker is other" or "speaker is very other").
NON_DESCRIPTIVE_EMOTIONS = frozenset({"other", "no agreement", "no_agreement", "unknown", "none"})

THRESHOLDS_VERSION = 2
_READABLE_VERSIONS = (1, 2)  # version 1: same cut-point meaning, no metadata, no sound_level


class NoTagsError(ValueError):
    """A row has nothing to say: no emotion, gender or binnable value."""


def _is_missing(x) -> bool:
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def attribute_value(row: Mapping, attr: str):
    """The value of ``attr`` in ``row``: its own key, or for a derived attribute
    (``sound_level``) that key when present, else its entry of the ``egemaps`` vector.
    None when the row has it as None. KeyError naming the column when the row lacks it."""
    if attr in row:
        return row[attr]
    if attr in _DERIVED:
        column, index = _DERIVED[attr]
        if column not in row:
            raise KeyError(
                f"row {row.get('id')!r} has neither {attr!r} nor {column!r}, and the thresholds have a "
                f"{attr!r} cut point; pass the columns captions.CAPTION_INPUT_COLUMNS"
            )
        vector = row[column]
        return None if vector is None else vector[index]
    raise KeyError(
        f"row {row.get('id')!r} has no {attr!r} and the thresholds have a cut point for it; pass the "
        f"columns captions.CAPTION_INPUT_COLUMNS (None for an unknown value)"
    )


# --------------------------------------------------------------------------- thresholds
def _cut_points(values: np.ndarray) -> tuple[float, float]:
    """[low_max, high_min] of the reference's quantile rule on ``values`` (see module doc).

    Works in sorted positions 0..n-1: a distinct value whose run spans positions first..last
    sits at (first + last) / 2 (the minimum at 0, the maximum at n - 1); a value strictly
    between two neighbours u < v sits at last(u) + (x - u) / (v - u). Low is position
    <= 0.3 (n - 1), high is >= 0.7 (n - 1)."""
    v = np.sort(values)
    uniq, first = np.unique(v, return_index=True)
    if uniq.size == 1:  # a constant says nothing: every value is "mid"
        return float(uniq[0]), float(uniq[0])
    n = v.size
    last = np.append(first[1:] - 1, n - 1)
    centre = (first + last) / 2.0
    centre[0], centre[-1] = 0.0, n - 1.0
    t_low, t_high = 0.3 * (n - 1), 0.7 * (n - 1)

    k = int(np.searchsorted(centre, t_low, side="right")) - 1  # last value at or below t_low
    frac = t_low - last[k]
    below_next = float(np.nextafter(uniq[k + 1], -np.inf))
    if frac < 0:  # the gap after uniq[k] is already above t_low
        low = float(uniq[k])
    elif frac < 1:  # t_low falls inside the gap: interpolate
        low = min(float(uniq[k] + frac * (uniq[k + 1] - uniq[k])), below_next)
    else:  # the whole gap is low, the next value (a tie run) is not
        low = below_next

    k = int(np.searchsorted(centre, t_high, side="left"))  # first value at or above t_high
    frac = t_high - last[k - 1]
    above_prev = float(np.nextafter(uniq[k - 1], np.inf))
    if frac > 1:  # the gap before uniq[k] is still below t_high
        high = float(uniq[k])
    elif frac > 0:
        high = max(float(uniq[k - 1] + frac * (uniq[k] - uniq[k - 1])), above_prev)
    else:  # the whole gap is high, the previous value (a tie run) is not
        high = above_prev
    return low, high


def fit_thresholds(values: Mapping[str, Iterable[float | None]]) -> dict[str, list[float]]:
    """Per attribute ``[low_max, high_min]`` (see the module doc; on distinct values these
    are numpy's linear 30th and 70th percentiles), ignoring None and NaN. Attributes
    without any value are left out. Fit on the training split only, then reuse the result
    for every other split."""
    out: dict[str, list[float]] = {}
    for name, vals in values.items():
        arr = np.asarray([float(v) for v in vals if not _is_missing(v)], dtype=np.float64)
        if arr.size:
            out[name] = list(_cut_points(arr))
    return out


def fit_thresholds_from_columns(columns: Mapping[str, Sequence]) -> dict[str, list[float]]:
    """``fit_thresholds`` over dataset columns (column name -> values of the training rows).
    Every attribute of THRESHOLD_ATTRIBUTES found is fitted; ``sound_level`` comes from its
    own column if given, else from the ``egemaps`` vectors (None vectors are skipped)."""
    values: dict[str, Sequence] = {}
    for attr in THRESHOLD_ATTRIBUTES:
        if attr in columns:
            values[attr] = columns[attr]
        elif attr in _DERIVED and _DERIVED[attr][0] in columns:
            column, index = _DERIVED[attr]
            values[attr] = [None if vec is None else vec[index] for vec in columns[column]]
    return fit_thresholds(values)


def _validate_thresholds(thresholds, where: str) -> dict[str, list[float]]:
    if not isinstance(thresholds, Mapping):
        raise ValueError(f"{where}: thresholds must be an object attribute -> [p30, p70], got {type(thresholds).__name__}")
    clean: dict[str, list[float]] = {}
    for name, pair in thresholds.items():
        if name not in THRESHOLD_ATTRIBUTES:
            raise ValueError(f"{where}: unknown attribute {name!r}; expected some of {list(THRESHOLD_ATTRIBUTES)}")
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


def save_thresholds(thresholds: Mapping[str, list[float]], path, metadata: Mapping | None = None) -> None:
    """Write ``{"version": 2, "rule": ..., "thresholds": {...}, "metadata": {...}}``.

    ``metadata``: any JSON object, e.g. the source corpus and the rating scale of
    arousal/valence/dominance, so a later build can tell whether the rating cut points
    apply to its corpus (``read_thresholds_metadata``)."""
    clean = _validate_thresholds(thresholds, "save_thresholds")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ValueError(f"save_thresholds: metadata must be a mapping (a JSON object), got {type(metadata).__name__}")
    doc = {
        "version": THRESHOLDS_VERSION,
        "rule": (
            "per attribute [low_max, high_min] of the training split: x <= low_max low, x >= high_min high, "
            "else mid (ParaCLAP's quantile <= 0.3 / >= 0.7 with mid-rank ties)"
        ),
        "thresholds": clean,
        "metadata": dict(metadata or {}),
    }
    try:
        text = json.dumps(doc, indent=2, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"save_thresholds: metadata is not JSON-serialisable ({err})") from None
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def _read_thresholds_doc(path) -> tuple[dict, str]:
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
    if doc["version"] not in _READABLE_VERSIONS:
        raise ValueError(f"{where} has version {doc['version']!r}; this code reads versions {list(_READABLE_VERSIONS)}")
    return doc, where


def load_thresholds(path) -> dict[str, list[float]]:
    """The thresholds of a file written by ``save_thresholds`` (version 1 or 2);
    ValueError naming the file and the problem for anything else."""
    doc, where = _read_thresholds_doc(path)
    return _validate_thresholds(doc["thresholds"], where)


def read_thresholds_metadata(path) -> dict:
    """The metadata object of a thresholds file ({} when it has none, e.g. version 1).
    The whole file is checked as by ``load_thresholds``."""
    doc, where = _read_thresholds_doc(path)
    _validate_thresholds(doc["thresholds"], where)
    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValueError(f"{where}: 'metadata' must be a JSON object, got {type(metadata).__name__}")
    return metadata


def bin_value(x, pair) -> str | None:
    """``"low"`` if ``x <= pair[0]``, ``"high"`` if ``x >= pair[1]``, ``"mid"`` in between;
    when ``pair[0] == pair[1] == x`` (a constant attribute) ``"mid"``. None for None/NaN."""
    if _is_missing(x):
        return None
    x = float(x)
    is_low, is_high = x <= float(pair[0]), x >= float(pair[1])
    if is_low and is_high:
        return "mid"
    return "low" if is_low else "high" if is_high else "mid"


# --------------------------------------------------------------------------- phrasings
# attribute -> bin -> phrasings. "{emotion}" / "{gender}" are filled from the row;
# emotion and gender have the single bin "label". Phrasings with {emotion} are used only
# when the row's emotion is descriptive (see NON_DESCRIPTIVE_EMOTIONS).
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
    "intensity": {
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

# Footnote (*) of the table, by JITTER/SHIMMER bin. As in the reference: a high
# jitter/shimmer phrase may take these endings whenever pitch variation is not high too,
# a low one whenever pitch variation is not low too; the suffixed forms are extra
# candidates next to the plain phrase (one candidate is drawn).
CONTRAST_SUFFIXES: dict[str, list[str]] = {
    "high": ["but a low pitch variance", "but not a high pitch variance", "but the pitch is stable"],
    "low": ["but a high pitch variance", "but not a low pitch variance", "but the pitch is unstable"],
}

# Phrased attributes in tag order; "intensity" combines the loudness and sound_level bins.
_TAG_ATTRIBUTES = ("arousal", "valence", "dominance", "pitch_mean", "pitch_variation", "intensity",
                   "jitter", "shimmer", "duration")
_TAG_ORDER = ("emotion", "gender") + _TAG_ATTRIBUTES
# compact_tags names; "loudness" for the combined intensity bin (the column users know).
_COMPACT_NAMES = {"pitch_mean": "pitch", "pitch_variation": "pitch variation", "intensity": "loudness"}

CAPTION_VARIANTS = ("emotion_only", "no_emotion", "emotion_plus")
# The reference's dynamic pick: 1..4 non-emotion sentences, then the emotion (at most 5
# prompts, the paper's "rand = 5").
DEFAULT_MAX_TAGS = 4


def _label(row: Mapping, key: str) -> str | None:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = str(value).strip()
    return value or None


def caption_emotion(row: Mapping) -> str | None:
    """The row's emotion as captions use it: None when missing or non-descriptive."""
    emotion = _label(row, "emotion")
    if emotion is None or emotion.lower() in NON_DESCRIPTIVE_EMOTIONS:
        return None
    return emotion


def _bins(row: Mapping, thresholds: Mapping | None) -> dict[str, str]:
    """Tag attribute -> bin, for the attributes with a value and a cut point."""
    thresholds = thresholds or {}
    raw = {}
    for attr in THRESHOLD_ATTRIBUTES:
        if attr in thresholds:
            b = bin_value(attribute_value(row, attr), thresholds[attr])
            if b is not None:
                raw[attr] = b
    intensity = [raw.pop(a) for a in ("loudness", "sound_level") if a in raw]
    if intensity:  # reference: loud if either is high, else quiet if either is low
        raw["intensity"] = "high" if "high" in intensity else "low" if "low" in intensity else "mid"
    return {attr: raw[attr] for attr in _TAG_ATTRIBUTES if attr in raw}


def _row_rng(row: Mapping, seed) -> random.Random:
    if "id" not in row:
        raise KeyError("row needs an 'id' (tags are drawn with random.Random(f'{seed}:{id}'))")
    return random.Random(f"{seed}:{row['id']}")


def _templates(attr: str, bin_: str, bins: Mapping[str, str], emotion: str | None) -> list[str]:
    """Candidate phrasings (unfilled) of one attribute in one bin."""
    templates = [p for p in PHRASES[attr][bin_] if emotion is not None or "{emotion}" not in p]
    pv = bins.get("pitch_variation")
    if attr in ("jitter", "shimmer") and bin_ in CONTRAST_SUFFIXES and pv is not None and pv != bin_:
        base = PHRASES[attr][bin_][0]
        templates = templates + [f"{base} {s}" for s in CONTRAST_SUFFIXES[bin_]]
    return templates


def _tag_items(row: Mapping, thresholds: Mapping | None, rng: random.Random) -> list[tuple[str, str, bool]]:
    """(attribute, sentence, names the emotion) per available attribute, in _TAG_ORDER. A
    sentence names the emotion when its template has {emotion} or it contains the emotion
    word (e.g. "speaker is calm" for a row labelled calm)."""
    emotion, gender = caption_emotion(row), _label(row, "gender")
    word = re.compile(rf"\b{re.escape(emotion)}\b", re.IGNORECASE) if emotion is not None else None
    bins = _bins(row, thresholds)
    labels = {"emotion": emotion, "gender": gender}
    items = []
    for attr in _TAG_ORDER:
        bin_ = ("label" if labels[attr] is not None else None) if attr in labels else bins.get(attr)
        if bin_ is None:
            continue
        template = rng.choice(_templates(attr, bin_, bins, emotion))
        text = template.format(emotion=emotion, gender=gender)
        items.append((attr, text, "{emotion}" in template or (word is not None and word.search(text) is not None)))
    return items


def tag_sentences(row: Mapping, thresholds: Mapping[str, list[float]] | None, seed=0) -> list[str]:
    """One ParaCLAP phrasing per available attribute, in the order emotion, gender,
    arousal, valence, dominance, pitch_mean, pitch_variation, intensity, jitter, shimmer,
    duration (an attribute is available when its value is not None/NaN and ``thresholds``
    has its cut point; ``thresholds=None`` or ``{}`` gives the labels only).
    Deterministic per row: drawn with ``random.Random(f"{seed}:{row['id']}")``, so order
    and worker never matter."""
    return [s for _, s, _ in _tag_items(row, thresholds, _row_rng(row, seed))]


def _no_tags_error(row: Mapping, what: str) -> NoTagsError:
    return NoTagsError(
        f"no {what} for row {row.get('id')!r}: it has no (descriptive) emotion, no gender and no "
        "attribute with both a value and a threshold"
    )


def _draw_count(rng: random.Random, max_tags: int, available: int) -> int:
    """k in 1..min(max_tags, available) with weight max_tags + 1 - k (the reference's
    np.linspace(1, 0, max_tags + 1) weights; max_tags 4 gives .4/.3/.2/.1)."""
    top = min(max_tags, available)
    return rng.choices(range(1, top + 1), weights=[max_tags + 1 - k for k in range(1, top + 1)])[0]


def make_caption(
    row: Mapping,
    thresholds: Mapping[str, list[float]] | None,
    seed=0,
    variant: str = "emotion_plus",
    max_tags: int = DEFAULT_MAX_TAGS,
) -> str:
    """One training caption, sentences joined with " and ".

    - ``emotion_plus`` (default; the reference's dynamic pick): k non-emotion sentences in
      random order, k in 1..max_tags with weight max_tags + 1 - k, then the emotion
      sentence last. max_tags 4 (default) is the reference (the paper's "rand = 5": at most
      5 prompts), max_tags 1 the paper's "rand = 1".
    - ``no_emotion`` (the paper's "no emo, rand = 5" with max_tags 5): k sentences drawn the
      same way, none of which names the emotion ("speaker is very angry" is left out).
    - ``emotion_only`` (the paper's "only emo"): the emotion sentence alone.

    k is capped by the number of sentences available. Rows without a descriptive emotion
    (None, or NON_DESCRIPTIVE_EMOTIONS such as MSP-Podcast's "other"): ``emotion_plus``
    behaves like ``no_emotion``, ``emotion_only`` falls back to ONE other sentence. No
    usable sentence at all: NoTagsError (never an empty caption).

    Deterministic in (seed, row["id"]) and pure Python, so a training collator can draw a
    new caption every epoch with e.g. ``seed=f"{run_seed}:{epoch}"``. The sentences are
    always among ``tag_sentences(row, thresholds, seed)``. ``row`` needs the columns
    CAPTION_INPUT_COLUMNS that ``thresholds`` uses (``egemaps`` for ``sound_level``).
    """
    if variant not in CAPTION_VARIANTS:
        raise ValueError(f"unknown caption variant {variant!r}; choose one of {CAPTION_VARIANTS}")
    if isinstance(max_tags, bool) or not isinstance(max_tags, int) or max_tags < 1:
        raise ValueError(f"max_tags must be an integer >= 1, got {max_tags!r}")
    rng = _row_rng(row, seed)
    items = _tag_items(row, thresholds, rng)
    emotion = [s for a, s, _ in items if a == "emotion"]
    pool = [s for a, s, named in items if a != "emotion" and not (variant == "no_emotion" and named)]
    if variant == "no_emotion":
        emotion = []
    if variant == "emotion_only":
        if emotion:
            return emotion[0]
        max_tags = 1
    if not pool:
        if emotion:
            return emotion[0]
        raise _no_tags_error(row, "non-emotion caption" if variant == "no_emotion" else "caption")
    chosen = rng.sample(pool, _draw_count(rng, max_tags, len(pool)))
    return " and ".join(chosen + emotion)


def compact_tags(row: Mapping, thresholds: Mapping[str, list[float]] | None) -> str:
    """Short deterministic tag string (no randomness), e.g. ``"emotion: angry, gender:
    male, arousal: high, pitch: high, loudness: mid, duration: low"``: the descriptive
    emotion and the gender as given, binned attributes as low/mid/high in the
    tag_sentences order (``loudness`` is the intensity bin), missing ones left out.
    NoTagsError when nothing is known."""
    parts = [f"{key}: {value}" for key, value in (("emotion", caption_emotion(row)),
                                                  ("gender", _label(row, "gender"))) if value is not None]
    parts += [f"{_COMPACT_NAMES.get(name, name)}: {b}" for name, b in _bins(row, thresholds).items()]
    if not parts:
        raise _no_tags_error(row, "tags")
    return ", ".join(parts)
