"""eGeMAPS features of a clip, one at a time or in worker processes.

``extract_features`` decodes a clip with ``audio_smoothclap.load_audio`` (16 kHz float32
mono), runs openSMILE eGeMAPSv02 functionals (88 values) and picks the interpretable
subset in ``FEATURE_COLUMNS`` plus the duration in seconds. ``FeatureExtractorPool`` runs
it over many clips in worker processes (one openSMILE object per process). Neither imports
transformers: the audio helpers live in the flat file ``audio_smoothclap.py``.

Unvoiced clips: openSMILE reports the voiced-only ("nz") functionals as 0 when it finds no
voiced frame (silence, noise, whisper). 0 is not a pitch, so for such clips
``pitch_mean``, ``pitch_variation``, ``jitter`` and ``shimmer`` are ``None`` (no tag), while
``loudness``, ``duration`` and the raw 88-value ``egemaps`` vector are kept.

Binning, phrasings and captions are in ``captions.py`` (pure Python, no openSMILE).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from smoothclap.processes import exit_when_gone

__all__ = [
    "EGEMAPS_NAMES",
    "FEATURE_COLUMNS",
    "MIN_DURATION_S",
    "SAMPLING_RATE",
    "FeatureError",
    "extract_features",
    "make_smile",
    "FeatureExtractorPool",
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


# Measured with openSMILE 2.6 eGeMAPSv02 on 16 kHz harmonic tones (80-300 Hz), noise and
# silence: below 960 samples (0.06 s, one 60 ms F0 analysis window) every functional is
# NaN; from 0.06 s on all 88 are finite. 0.1 s leaves a margin (about five 10 ms F0
# frames, so the pitch standard deviation is not computed from a single frame).
MIN_DURATION_S: float = 0.1


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
    from smoothclap.models.audio_smoothclap import load_audio  # the model's audio helpers (no transformers)

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
        audio: anything ``audio_smoothclap.load_audio`` accepts: a file path, encoded
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
            "eGeMAPSv02 Functionals Smile (egemaps.make_smile())."
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


def _init_worker(barrier, build_pid: int) -> None:
    global _WORKER_SMILE, _WORKER_BARRIER
    import smoothclap.models.audio_smoothclap as audio_smoothclap  # noqa: F401  (import the decoder once, up front)

    _WORKER_SMILE = make_smile()
    _WORKER_BARRIER = barrier
    # a forkserver's worker is the forkserver's child, not the build's: after a kill -9 of the build
    # its workers, the forkserver and the resource tracker were left running
    exit_when_gone(build_pid)


def _worker_extract(source):
    try:
        return extract_features(source, smile=_WORKER_SMILE)
    except FeatureError as err:
        return err


def _worker_wait(timeout: float) -> int:
    _WORKER_BARRIER.wait(timeout)
    return os.getpid()


def _loaded(names) -> list[str]:
    return sorted(name for name in names if name in sys.modules)


def _worker_loaded(names, timeout: float) -> tuple[int, list[str]]:
    _WORKER_BARRIER.wait(timeout)  # one answer per worker process
    return os.getpid(), _loaded(names)


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
                ctx.set_forkserver_preload(["__main__", "smoothclap.models.audio_smoothclap", "opensmile", __name__])
            self._barrier = ctx.Barrier(self.num_workers)
            self._executor = ProcessPoolExecutor(
                max_workers=self.num_workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(self._barrier, os.getpid()),
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
                from smoothclap.models.audio_smoothclap import load_audio  # noqa: F401
            return
        futures = [self._executor.submit(_worker_wait, timeout) for _ in range(self.num_workers)]
        pids = {f.result() for f in futures}
        if len(pids) != self.num_workers:  # pragma: no cover - the barrier prevents this
            raise RuntimeError(f"warmup reached {len(pids)} of {self.num_workers} workers")

    def worker_modules(self, names, timeout: float = 300.0) -> dict[int, list[str]]:
        """Which of the module ``names`` each worker process has imported, by pid (this
        process for an in-process pool). A check that workers stay light: they must not
        import ``transformers`` or ``torch`` (8.5 s and about 420 MB per cold worker)."""
        names = list(names)
        if self._executor is None:
            return {os.getpid(): _loaded(names)}
        futures = [self._executor.submit(_worker_loaded, names, timeout) for _ in range(self.num_workers)]
        return dict(f.result() for f in futures)

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
