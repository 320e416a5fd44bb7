"""eGeMAPS features, distribution bins, ParaCLAP phrasings and captions.

One module does the whole "audio -> tags -> caption" path, so every corpus is tagged the
same way:

1. ``extract_features`` (or ``FeatureExtractorPool.map`` for many clips, in worker
   processes) decodes a clip with ``processing_smoothclap.load_audio`` (16 kHz float32
   mono), runs openSMILE eGeMAPSv02 functionals (88 values) and picks the interpretable
   subset in ``FEATURE_COLUMNS`` plus the duration in seconds.
2. ``fit_thresholds`` fits per-attribute ``[p30, p70]`` cut points on the training split;
   ``save_thresholds`` / ``load_thresholds`` store them as JSON so validation/test splits
   and other corpora reuse the training cut points.
3. ``bin_value`` turns a value into ``"low"`` / ``"mid"`` / ``"high"``; ``tag_sentences``
   turns a sample into one ParaCLAP phrasing per known attribute; ``make_caption``
   combines them into one caption (the paper's variants); ``compact_tags`` gives a short
   deterministic tag string.

Binning rule (as the ParaCLAP reference, which compares quantiles with ``<= 0.3`` and
``>= 0.7``): ``x <= p30`` is low, ``x >= p70`` is high, anything strictly between is mid.
On a continuous distribution that is the bottom 30 %, the middle 40 % and the top 30 % of
the training values; ties at a cut point go to the outer bin. When the two cut points are
equal (a degenerate distribution) a value equal to them is ``"mid"``.

Unvoiced clips: openSMILE reports the voiced-only ("nz") functionals as 0 when it finds no
voiced frame (silence, noise, whisper). 0 is not a pitch, so for such clips
``pitch_mean``, ``pitch_variation``, ``jitter`` and ``shimmer`` are ``None`` (no tag), while
``loudness``, ``duration`` and the raw 88-value ``egemaps`` vector are kept.

Phrasings follow ``shared/caption_templates.md`` (the cleaned supplementary table of the
ParaCLAP paper), including the meaningful direction for stable/unstable pitch: a *low*
pitch variation is "a very stable pitch" (the garbled paper table has it the other way
round; the reference code agrees with the direction used here).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import threading
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor

import numpy as np

__all__ = [
    "EGEMAPS_NAMES",
    "FEATURE_COLUMNS",
    "BINNED_ATTRIBUTES",
    "MIN_DURATION_S",
    "SAMPLING_RATE",
    "FeatureError",
    "extract_features",
    "FeatureExtractorPool",
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

# --------------------------------------------------------------------------- constants
SAMPLING_RATE = 16000  # openSMILE input rate (eGeMAPS is defined on 16 kHz audio here)

# openSMILE 2.6 eGeMAPSv02 functionals, in its column order (checked by the tests against
# ``opensmile.Smile(...).feature_names``); kept literal so importing this module does not
# need openSMILE.
EGEMAPS_NAMES: list[str] = [
    "F0semitoneFrom27.5Hz_sma3nz_amean",
    "F0semitoneFrom27.5Hz_sma3nz_stddevNorm",
    "F0semitoneFrom27.5Hz_sma3nz_percentile20.0",
    "F0semitoneFrom27.5Hz_sma3nz_percentile50.0",
    "F0semitoneFrom27.5Hz_sma3nz_percentile80.0",
    "F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2",
    "F0semitoneFrom27.5Hz_sma3nz_meanRisingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_stddevRisingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_meanFallingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_stddevFallingSlope",
    "loudness_sma3_amean",
    "loudness_sma3_stddevNorm",
    "loudness_sma3_percentile20.0",
    "loudness_sma3_percentile50.0",
    "loudness_sma3_percentile80.0",
    "loudness_sma3_pctlrange0-2",
    "loudness_sma3_meanRisingSlope",
    "loudness_sma3_stddevRisingSlope",
    "loudness_sma3_meanFallingSlope",
    "loudness_sma3_stddevFallingSlope",
    "spectralFlux_sma3_amean",
    "spectralFlux_sma3_stddevNorm",
    "mfcc1_sma3_amean",
    "mfcc1_sma3_stddevNorm",
    "mfcc2_sma3_amean",
    "mfcc2_sma3_stddevNorm",
    "mfcc3_sma3_amean",
    "mfcc3_sma3_stddevNorm",
    "mfcc4_sma3_amean",
    "mfcc4_sma3_stddevNorm",
    "jitterLocal_sma3nz_amean",
    "jitterLocal_sma3nz_stddevNorm",
    "shimmerLocaldB_sma3nz_amean",
    "shimmerLocaldB_sma3nz_stddevNorm",
    "HNRdBACF_sma3nz_amean",
    "HNRdBACF_sma3nz_stddevNorm",
    "logRelF0-H1-H2_sma3nz_amean",
    "logRelF0-H1-H2_sma3nz_stddevNorm",
    "logRelF0-H1-A3_sma3nz_amean",
    "logRelF0-H1-A3_sma3nz_stddevNorm",
    "F1frequency_sma3nz_amean",
    "F1frequency_sma3nz_stddevNorm",
    "F1bandwidth_sma3nz_amean",
    "F1bandwidth_sma3nz_stddevNorm",
    "F1amplitudeLogRelF0_sma3nz_amean",
    "F1amplitudeLogRelF0_sma3nz_stddevNorm",
    "F2frequency_sma3nz_amean",
    "F2frequency_sma3nz_stddevNorm",
    "F2bandwidth_sma3nz_amean",
    "F2bandwidth_sma3nz_stddevNorm",
    "F2amplitudeLogRelF0_sma3nz_amean",
    "F2amplitudeLogRelF0_sma3nz_stddevNorm",
    "F3frequency_sma3nz_amean",
    "F3frequency_sma3nz_stddevNorm",
    "F3bandwidth_sma3nz_amean",
    "F3bandwidth_sma3nz_stddevNorm",
    "F3amplitudeLogRelF0_sma3nz_amean",
    "F3amplitudeLogRelF0_sma3nz_stddevNorm",
    "alphaRatioV_sma3nz_amean",
    "alphaRatioV_sma3nz_stddevNorm",
    "hammarbergIndexV_sma3nz_amean",
    "hammarbergIndexV_sma3nz_stddevNorm",
    "slopeV0-500_sma3nz_amean",
    "slopeV0-500_sma3nz_stddevNorm",
    "slopeV500-1500_sma3nz_amean",
    "slopeV500-1500_sma3nz_stddevNorm",
    "spectralFluxV_sma3nz_amean",
    "spectralFluxV_sma3nz_stddevNorm",
    "mfcc1V_sma3nz_amean",
    "mfcc1V_sma3nz_stddevNorm",
    "mfcc2V_sma3nz_amean",
    "mfcc2V_sma3nz_stddevNorm",
    "mfcc3V_sma3nz_amean",
    "mfcc3V_sma3nz_stddevNorm",
    "mfcc4V_sma3nz_amean",
    "mfcc4V_sma3nz_stddevNorm",
    "alphaRatioUV_sma3nz_amean",
    "hammarbergIndexUV_sma3nz_amean",
    "slopeUV0-500_sma3nz_amean",
    "slopeUV500-1500_sma3nz_amean",
    "spectralFluxUV_sma3nz_amean",
    "loudnessPeaksPerSec",
    "VoicedSegmentsPerSec",
    "MeanVoicedSegmentLengthSec",
    "StddevVoicedSegmentLengthSec",
    "MeanUnvoicedSegmentLength",
    "StddevUnvoicedSegmentLength",
    "equivalentSoundLevel_dBp",
]

FEATURE_COLUMNS: dict[str, str] = {
    "pitch_mean": "F0semitoneFrom27.5Hz_sma3nz_amean",
    "pitch_variation": "F0semitoneFrom27.5Hz_sma3nz_stddevNorm",
    "loudness": "loudness_sma3_amean",
    "jitter": "jitterLocal_sma3nz_amean",
    "shimmer": "shimmerLocaldB_sma3nz_amean",
}
# Features that only exist on voiced frames: None when openSMILE finds no voiced frame.
_VOICED_FEATURES = ("pitch_mean", "pitch_variation", "jitter", "shimmer")
_COLUMN_INDEX = {key: EGEMAPS_NAMES.index(col) for key, col in FEATURE_COLUMNS.items()}

BINNED_ATTRIBUTES: list[str] = [
    "arousal", "valence", "dominance", "pitch_mean", "pitch_variation",
    "loudness", "jitter", "shimmer", "duration",
]
BINS = ("low", "mid", "high")

# Measured with openSMILE 2.6 eGeMAPSv02 on 16 kHz harmonic tones (80-300 Hz), noise and
# silence: below 960 samples (0.06 s, one 60 ms F0 analysis window) every functional is
# NaN; from 0.06 s on all 88 are finite. 0.1 s leaves a margin (about five 10 ms F0
# frames, so the pitch standard deviation is not computed from a single frame).
MIN_DURATION_S: float = 0.1

THRESHOLDS_VERSION = 1


class FeatureError(ValueError):
    """A clip cannot be tagged; the message is the human-readable skip reason."""


# --------------------------------------------------------------------------- extraction
_THREAD_LOCAL = threading.local()  # one default Smile per thread (Smile is not thread-safe)


def make_smile():
    """A new eGeMAPSv02 functionals extractor (not picklable, not thread-safe)."""
    import opensmile

    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )


def _default_smile():
    smile = getattr(_THREAD_LOCAL, "smile", None)
    if smile is None:
        smile = _THREAD_LOCAL.smile = make_smile()
    return smile


def _decode(audio, sampling_rate) -> np.ndarray:
    """load_audio with its data errors turned into FeatureError skip reasons.

    A missing sampling rate for a raw array is a caller bug, not bad data: it stays a
    plain ValueError."""
    from processing_smoothclap import load_audio  # lazy: pulls in transformers

    try:
        return load_audio(audio, sampling_rate=sampling_rate, target_rate=SAMPLING_RATE)
    except ValueError as err:
        msg = str(err)
        if msg.startswith("Missing sampling rate"):
            raise
        if msg.startswith("Empty audio"):
            raise FeatureError("empty audio") from None
        if "NaN or Inf" in msg:
            raise FeatureError("non-finite samples") from None
        raise FeatureError(f"unreadable audio: {msg}") from None


def extract_features(audio, sampling_rate: int | None = None, smile=None) -> dict:
    """eGeMAPS functionals and the interpretable subset of one clip.

    Args:
        audio: anything ``processing_smoothclap.load_audio`` accepts: a file path, encoded
            bytes, a dict (``{"array", "sampling_rate"}`` or ``{"bytes", "path"}``), or an
            array/tensor together with ``sampling_rate``. Integer PCM is scaled to
            [-1, 1]; everything is downmixed and resampled to 16 kHz float32.
        sampling_rate: rate of a raw array.
        smile: an ``opensmile.Smile`` (eGeMAPSv02 functionals, see ``make_smile``) to
            reuse; ``None`` uses a lazily created module-level one (one per thread, as a
            Smile must not be shared between threads).

    Returns:
        ``{"duration": s, "pitch_mean", "pitch_variation", "loudness", "jitter",
        "shimmer": float or None (None for the voiced-only ones when the clip has no
        voiced frame), "egemaps": float32 array (88,) in EGEMAPS_NAMES order}``.

    Raises:
        FeatureError: unreadable / empty / non-finite / too short audio (message = reason).
    """
    wave = _decode(audio, sampling_rate)
    duration = wave.shape[0] / SAMPLING_RATE
    if duration < MIN_DURATION_S:
        raise FeatureError(f"too short for eGeMAPS: {duration:.3f} s < {MIN_DURATION_S} s")
    if smile is None:
        smile = _default_smile()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Segment too short")
            frame = smile.process_signal(np.ascontiguousarray(wave, dtype=np.float32), SAMPLING_RATE)
    except Exception as err:  # one odd clip must not abort a corpus build; keep the reason
        raise FeatureError(f"openSMILE failed on a {duration:.3f} s clip: {type(err).__name__}: {err}") from None
    if list(frame.columns) != EGEMAPS_NAMES:
        raise RuntimeError(
            "openSMILE returned other columns than eGeMAPSv02 functionals "
            f"({len(frame.columns)} columns, first {list(frame.columns)[:2]}); pass an "
            "eGeMAPSv02 Functionals Smile (tagging.make_smile())."
        )
    values = frame.to_numpy(dtype=np.float64)[0]
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise FeatureError(f"eGeMAPS gave {bad} non-finite functionals for a {duration:.3f} s clip")
    out: dict = {"duration": float(duration)}
    voiced = values[_COLUMN_INDEX["pitch_mean"]] > 0.0
    for key, idx in _COLUMN_INDEX.items():
        out[key] = float(values[idx]) if (voiced or key not in _VOICED_FEATURES) else None
    out["egemaps"] = values.astype(np.float32)
    return out


# --------------------------------------------------------------------------- worker pool
_WORKER_SMILE = None
_WORKER_BARRIER = None


def _init_worker(barrier) -> None:
    global _WORKER_SMILE, _WORKER_BARRIER
    import processing_smoothclap  # noqa: F401  (import the decoder once, up front)

    _WORKER_SMILE = make_smile()
    _WORKER_BARRIER = barrier


def _worker_extract(source):
    try:
        return extract_features(source, smile=_WORKER_SMILE)
    except FeatureError as err:
        return err


def _worker_wait(timeout: float) -> int:
    _WORKER_BARRIER.wait(timeout)
    return os.getpid()


def _default_start_method() -> str:
    # forkserver: safe with torch/OpenMP threads in the parent (unlike fork), and with the
    # decoder and openSMILE preloaded into the server, each worker is a cheap fork instead
    # of a fresh interpreter that re-imports torch + transformers (spawn).
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


class FeatureExtractorPool:
    """Extract features of many clips, in worker processes when ``num_workers > 1``.

    Each worker process creates ONE ``opensmile.Smile`` in its initializer and decodes and
    resamples its own clips, so send paths or encoded bytes rather than decoded waves.
    ``map`` takes a finite list (feed chunks, e.g. 64 at a time, to bound memory) and can
    be called any number of times on the same pool; workers start on the first ``map`` (or
    ``warmup``) and live until ``close``/``__exit__``. With ``progress=True`` a single tqdm
    bar counts clips over all ``map`` calls (``total`` sets its length when known).

    A worker that dies (e.g. killed by the OOM killer) makes ``map`` raise
    ``concurrent.futures.process.BrokenProcessPool`` instead of hanging.
    """

    def __init__(
        self,
        num_workers: int = 1,
        progress: bool = False,
        desc: str = "eGeMAPS",
        *,
        total: int | None = None,
        start_method: str | None = None,
    ):
        self.num_workers = max(1, int(num_workers))
        self.progress = progress
        self.desc = desc
        self.total = total
        self.start_method = start_method or _default_start_method()
        self._bar = None
        self._executor = None
        self._smile = None
        if self.num_workers > 1:
            ctx = multiprocessing.get_context(self.start_method)
            if self.start_method == "forkserver":
                # Effective only if the forkserver is not running yet; harmless otherwise.
                ctx.set_forkserver_preload(["__main__", "processing_smoothclap", "opensmile", __name__])
            self._barrier = ctx.Barrier(self.num_workers)
            self._executor = ProcessPoolExecutor(
                max_workers=self.num_workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(self._barrier,),
            )

    # -- lifecycle
    def __enter__(self) -> "FeatureExtractorPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def warmup(self, timeout: float = 300.0) -> None:
        """Block until every worker process is started and initialised (no-op in-process).
        Call it before timing, or while nothing else is submitted."""
        if self._executor is None:
            if self.num_workers <= 1 and self._smile is None:
                self._smile = make_smile()
                from processing_smoothclap import load_audio  # noqa: F401
            return
        futures = [self._executor.submit(_worker_wait, timeout) for _ in range(self.num_workers)]
        pids = {f.result() for f in futures}
        if len(pids) != self.num_workers:  # pragma: no cover - the barrier prevents this
            raise RuntimeError(f"warmup reached {len(pids)} of {self.num_workers} workers")

    # -- work
    def _progress_bar(self):
        if self.progress and self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=self.desc, unit="clip")
        return self._bar

    def map(self, sources: list) -> list:
        """Features of each source, in order: a features dict, or the FeatureError
        (returned, not raised) that says why the clip was skipped."""
        if self._executor is None and self.num_workers > 1:
            raise RuntimeError("FeatureExtractorPool is closed")
        sources = list(sources)
        bar = self._progress_bar()
        results: list = []
        if self._executor is None:
            if self._smile is None:
                self._smile = make_smile()
            for src in sources:
                try:
                    results.append(extract_features(src, smile=self._smile))
                except FeatureError as err:
                    results.append(err)
                if bar is not None:
                    bar.update(1)
            return results
        for res in self._executor.map(_worker_extract, sources, chunksize=1):
            results.append(res)
            if bar is not None:
                bar.update(1)
        return results


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


def _no_tags_error(sample: Mapping, what: str) -> FeatureError:
    return FeatureError(
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
    No usable sentence at all: FeatureError (never an empty caption).
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
    ones left out. FeatureError when nothing is known."""
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
