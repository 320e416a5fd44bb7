"""Audio helpers of SmoothCLAP: decode, downmix, resample and validate one clip.

A flat file shipped with the model (``processing_smoothclap.py`` imports it relatively, so
``save_pretrained`` copies it next to the other remote-code files) and used by the dataset
builders' eGeMAPS workers. It imports only numpy at module level (soundfile, scipy and torch
lazily, when a clip needs them) and never transformers: a worker process that decodes audio
starts in a fraction of a second instead of importing transformers.
"""

from __future__ import annotations

import io
import os
from fractions import Fraction

import numpy as np

MAX_CHANNELS = 8  # a 2-D array with more "channels" than this is most likely a batch


def _torch():
    """torch if it is already imported (a tensor can only come from an imported torch)."""
    import sys

    return sys.modules.get("torch")


def to_mono(wave: np.ndarray) -> np.ndarray:
    """Downmix to mono. 2-D input is one clip, (channels, time) or (time, channels): the
    smaller axis is taken as channels (audio has far more samples than channels)."""
    wave = np.asarray(wave)
    if wave.ndim == 1:
        return wave
    if wave.ndim != 2:
        raise ValueError(
            f"Audio has {wave.ndim} dimensions (shape {tuple(wave.shape)}); expected 1-D mono "
            "or 2-D (channels, time) / (time, channels). Pass one clip per list entry."
        )
    channel_axis = 0 if wave.shape[0] <= wave.shape[1] else 1
    if wave.shape[channel_axis] > MAX_CHANNELS:
        raise ValueError(
            f"A 2-D array is one multi-channel clip, but shape {tuple(wave.shape)} would mean "
            f"{wave.shape[channel_axis]} channels (at most {MAX_CHANNELS}). For a batch of clips "
            "pass a list of 1-D arrays."
        )
    return wave.mean(axis=channel_axis)


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly, Kaiser-windowed anti-aliasing)."""
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"Sampling rates must be positive, got {orig_sr} -> {target_sr}.")
    if orig_sr == target_sr:
        return wave
    try:
        from scipy.signal import resample_poly
    except ImportError:  # pragma: no cover - scipy is a declared dependency
        raise ImportError("Resampling needs scipy: pip install scipy") from None
    ratio = Fraction(target_sr, orig_sr).limit_denominator(1000)
    out = resample_poly(wave.astype(np.float64), ratio.numerator, ratio.denominator)
    return out.astype(np.float32)


def read_audio_file(source) -> tuple[np.ndarray, int]:
    """Read a path, file object or bytes with soundfile; return (float32 wave, rate).
    Raises ValueError naming the file when it cannot be decoded."""
    try:
        import soundfile
    except ImportError:  # pragma: no cover - soundfile is a declared dependency
        raise ImportError("Reading audio files needs soundfile: pip install soundfile") from None

    name = source if isinstance(source, (str, os.PathLike)) else "<bytes>"
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    if isinstance(source, (str, os.PathLike)) and not os.path.isfile(source):
        raise ValueError(f"Audio file not found: {os.fspath(source)!r}.")
    try:
        wave, sr = soundfile.read(source, dtype="float32", always_2d=False)
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, ...
        raise ValueError(
            f"Could not read audio {name!r} ({err}). Use a WAV/FLAC/OGG file soundfile can decode."
        ) from None
    if wave.ndim == 2:  # soundfile gives (time, channels)
        wave = wave.mean(axis=1)
    return wave, int(sr)


def _as_array(clip) -> np.ndarray:
    torch = _torch()
    if torch is not None and isinstance(clip, torch.Tensor):
        clip = clip.detach().cpu().float().numpy()
    arr = np.asarray(clip)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"Audio must be numeric samples, got dtype {arr.dtype}.")
    if arr.dtype.kind in "iu":  # integer PCM -> [-1, 1]
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    return arr.astype(np.float32, copy=False)


def load_audio(clip, sampling_rate: int | None = None, target_rate: int = 16000) -> np.ndarray:
    """Turn one clip into validated float32 mono at ``target_rate``.

    ``clip``: 1-D/2-D numpy array or torch tensor (needs ``sampling_rate``), a dict with
    ``array`` and ``sampling_rate`` (a datasets Audio row) or with ``bytes``/``path``
    (Audio's Arrow layout), a file path, or raw encoded bytes.
    """
    if isinstance(clip, dict):
        if clip.get("array") is not None:
            sr = clip.get("sampling_rate", sampling_rate)
            wave = _as_array(clip["array"])
        elif clip.get("bytes") is not None or clip.get("path"):
            wave, sr = read_audio_file(clip["bytes"] if clip.get("bytes") is not None else clip["path"])
        else:
            raise ValueError(
                "Audio dict needs 'array' + 'sampling_rate', or 'bytes'/'path'; got keys "
                f"{sorted(clip)}."
            )
    elif isinstance(clip, (str, os.PathLike, bytes, bytearray)):
        wave, sr = read_audio_file(clip)
    else:
        wave, sr = _as_array(clip), sampling_rate
    if sr is None:
        raise ValueError(
            "Missing sampling rate for a raw audio array: pass sampling_rate=... (e.g. "
            "processor(audio=clip, sampling_rate=44100)); the processor resamples to "
            f"{target_rate} Hz itself."
        )
    wave = to_mono(wave)
    if wave.size == 0:
        raise ValueError("Empty audio clip (0 samples); drop it or check the decoder.")
    if not np.all(np.isfinite(wave)):
        raise ValueError("Audio contains NaN or Inf samples; clean or drop the clip.")
    return resample(wave, sr, target_rate).astype(np.float32, copy=False)


__all__ = ["MAX_CHANNELS", "load_audio", "read_audio_file", "resample", "to_mono"]
