"""Audio helpers of SmoothCLAP: decode, downmix, resample, validate and crop one clip.

A flat file shipped with the model (``processing_smoothclap.py`` imports it relatively, so
``save_pretrained`` copies it next to the other remote-code files) and used by the dataset
builders' eGeMAPS workers. It imports only numpy at module level (soundfile, scipy and torch
lazily, when a clip needs them) and never transformers: a worker process that decodes audio
starts in a fraction of a second instead of importing transformers.

Training crops (the ParaCLAP recipe: a random 5 s crop, zero-padded to 5 s) are two
primitives, ``random_crop_offset`` and ``crop_or_pad``, shared by the processor and any
feature cache, so both cut exactly the same samples for the same offsets.
"""

from __future__ import annotations

import io
import os
from fractions import Fraction

import numpy as np

# The most channels a 2-D clip's shape is trusted to show: a smaller axis longer than this
# is not channels (pass channel_axis), and a "batch" of rows this short is (time, channels).
MAX_CHANNELS = 8


def _torch():
    """torch if it is already imported (a tensor can only come from an imported torch)."""
    import sys

    return sys.modules.get("torch")


def to_mono(wave: np.ndarray, channel_axis: int | None = None) -> np.ndarray:
    """Downmix ONE clip to mono (mean over channels).

    2-D input is one multi-channel clip. ``channel_axis`` says which axis holds the
    channels (0: (channels, time), 1 or -1: (time, channels)); without it the smaller axis
    is taken (audio has far more samples than channels), at most ``MAX_CHANNELS``.
    """
    wave = np.asarray(wave)
    if wave.ndim == 1:
        return wave
    if wave.ndim != 2:
        raise ValueError(
            f"Audio has {wave.ndim} dimensions (shape {tuple(wave.shape)}); expected 1-D mono "
            "or one 2-D (channels, time) / (time, channels) clip. Pass one clip per list entry."
        )
    if channel_axis is not None:
        if channel_axis not in (0, 1, -1, -2):
            raise ValueError(f"channel_axis must be 0 or 1 (or -1) for a 2-D clip, got {channel_axis}.")
        return wave.mean(axis=channel_axis)
    channel_axis = 0 if wave.shape[0] <= wave.shape[1] else 1
    if wave.shape[channel_axis] > MAX_CHANNELS:
        raise ValueError(
            f"Cannot tell the channel axis of a 2-D clip of shape {tuple(wave.shape)}: it would "
            f"have {wave.shape[channel_axis]} channels (at most {MAX_CHANNELS} are guessed). Pass "
            "channel_axis=0 for (channels, time) or channel_axis=1 for (time, channels)."
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
    try:
        arr = np.asarray(clip)
    except ValueError:  # numpy 2 refuses nested lists of different lengths
        raise ValueError(
            "Audio is a nested list of different lengths, not one clip. Pass one clip per list "
            "entry (a list of 1-D arrays is a batch)."
        ) from None
    if arr.dtype == object:
        raise ValueError(
            "Audio is a numpy array of dtype object (a ragged batch: clips of different "
            "lengths). Pass a plain list of 1-D arrays instead, e.g. audio=list(clips); the "
            "processor pads them."
        )
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"Audio must be numeric samples, got dtype {arr.dtype}.")
    if arr.dtype.kind in "iu":  # integer PCM -> [-1, 1), scaled as libsndfile scales a file's samples:
        # signed by 2 ** (bits - 1); unsigned (8-bit WAV) centred on 2 ** (bits - 1) first
        half = float(2 ** (8 * arr.dtype.itemsize - 1))
        arr = (arr.astype(np.float64) - (half if arr.dtype.kind == "u" else 0.0)) / half
    return arr.astype(np.float32, copy=False)


def load_audio(clip, sampling_rate: int | None = None, target_rate: int = 16000,
               channel_axis: int | None = None) -> np.ndarray:
    """Turn ONE clip into validated float32 mono at ``target_rate``.

    ``clip``: a 1-D numpy array, torch tensor or list of numbers (needs ``sampling_rate``), a
    dict with ``array`` and ``sampling_rate`` (a datasets Audio row) or with
    ``bytes``/``path`` (Audio's Arrow layout), a file path, or raw encoded bytes. Being one
    clip, a 2-D array here is multi-channel and downmixed (see `to_mono` for
    ``channel_axis``); files are downmixed too. (The processor, which also takes batches,
    reads a bare 2-D array as a batch of mono clips instead.)
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
    wave = to_mono(wave, channel_axis)
    if wave.size == 0:
        raise ValueError("Empty audio clip (0 samples); drop it or check the decoder.")
    if not np.all(np.isfinite(wave)):
        raise ValueError("Audio contains NaN or Inf samples; clean or drop the clip.")
    return resample(wave, sr, target_rate).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- crops
def random_crop_offset(num_samples: int, length: int, rng: np.random.Generator) -> int:
    """Start of a random ``length``-sample crop of a ``num_samples``-sample clip.

    Uniform over every start that keeps the crop inside the clip (0 ..
    ``num_samples - length``, both included, as ParaCLAP's audtorch ``RandomCrop``), drawn
    with ``rng.integers`` from a numpy ``Generator`` (``np.random.default_rng(seed)``).
    A clip no longer than ``length`` gives 0 and draws nothing from ``rng``.
    """
    num_samples, length = int(num_samples), int(length)
    if length <= 0:
        raise ValueError(f"Crop length must be positive, got {length} samples.")
    if num_samples <= length:
        return 0
    return int(rng.integers(0, num_samples - length + 1))


def crop_or_pad(wave: np.ndarray, length: int, offset: int = 0) -> tuple[np.ndarray, int]:
    """``length`` samples of ``wave`` from ``offset``, zero-padded at the end if the clip is
    shorter. Returns ``(wave of exactly length samples, n_valid)``: the first ``n_valid``
    samples are audio, the rest padding (mask them).

    ``offset`` must keep the crop inside the clip (0 .. ``len(wave) - length``; only 0 for a
    clip shorter than ``length``); anything else means the offsets were drawn for other
    clips (or another sampling rate), so it raises instead of returning less audio.
    """
    wave = np.asarray(wave)
    try:  # ints, numpy ints, integer tensors; a float offset is a unit mix-up (seconds?)
        offset = offset.__index__()
    except (AttributeError, TypeError):
        raise ValueError(f"Crop offset must be an integer sample index, got {offset!r}.") from None
    length = int(length)
    if wave.ndim != 1:
        raise ValueError(f"crop_or_pad takes one mono clip (1-D), got shape {tuple(wave.shape)}.")
    if length <= 0:
        raise ValueError(f"Crop length must be positive, got {length} samples.")
    last = max(0, len(wave) - length)
    if not 0 <= offset <= last:
        raise ValueError(
            f"Crop offset {offset} is outside 0..{last} for a clip of {len(wave)} samples and a "
            f"{length}-sample crop; offsets are sample indices of the clip at the target rate."
        )
    crop = wave[offset:offset + length]
    n_valid = len(crop)
    if n_valid < length:
        crop = np.concatenate([crop, np.zeros(length - n_valid, dtype=wave.dtype)])
    return crop, n_valid


__all__ = ["MAX_CHANNELS", "crop_or_pad", "load_audio", "random_crop_offset", "read_audio_file",
           "resample", "to_mono"]
