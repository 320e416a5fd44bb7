"""Processor for SmoothCLAP: audio (Wav2Vec2FeatureExtractor) + text (any tokenizer).

Also hosts the small audio helpers the dataset builders reuse (`load_audio`, `to_mono`,
`resample`), so there is one place that decodes, downmixes and resamples audio.

Audio mask key: the processor returns the audio padding mask as ``audio_attention_mask``
so that it never collides with the text ``attention_mask`` when both are passed to the
model in one call.

Missing sampling rate: raw arrays and tensors carry no rate, so ``processor(audio=array)``
without ``sampling_rate=`` raises a ``ValueError`` (silently assuming 16 kHz gives
wrong embeddings for 44.1/48 kHz audio with no sign of it). Dicts
(``{"array", "sampling_rate"}``) and file paths carry their own rate.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction

import numpy as np

from transformers import ProcessorMixin
from transformers.feature_extraction_utils import BatchFeature

try:  # optional at import time: only needed for file paths / bytes
    import soundfile
except ImportError:  # pragma: no cover - soundfile is a declared dependency
    soundfile = None

try:  # optional at import time: only needed when the rate differs
    from scipy.signal import resample_poly
except ImportError:  # pragma: no cover - scipy is a declared dependency
    resample_poly = None

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


AUDIO_MASK_KEY = "audio_attention_mask"
MAX_CHANNELS = 8  # a 2-D array with more "channels" than this is most likely a batch


# --------------------------------------------------------------------------- audio io
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
    if resample_poly is None:
        raise ImportError("Resampling needs scipy: pip install scipy")
    ratio = Fraction(target_sr, orig_sr).limit_denominator(1000)
    out = resample_poly(wave.astype(np.float64), ratio.numerator, ratio.denominator)
    return out.astype(np.float32)


def read_audio_file(source) -> tuple[np.ndarray, int]:
    """Read a path, file object or bytes with soundfile; return (float32 wave, rate).
    Raises ValueError naming the file when it cannot be decoded."""
    if soundfile is None:
        raise ImportError("Reading audio files needs soundfile: pip install soundfile")
    import io

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


def _is_single_clip(audio) -> bool:
    if isinstance(audio, (dict, str, os.PathLike, bytes, bytearray)):
        return True
    # a 1-D array is a mono clip, a 2-D array ONE multi-channel clip (batches are lists)
    if torch is not None and isinstance(audio, torch.Tensor):
        return audio.ndim != 0
    if isinstance(audio, np.ndarray):
        return audio.ndim != 0
    # a plain list of numbers is one clip; a list of clips is a batch
    return isinstance(audio, (list, tuple)) and len(audio) > 0 and isinstance(audio[0], (int, float))


# --------------------------------------------------------------------------- processor
class SmoothClapProcessor(ProcessorMixin):
    r"""Wraps a `Wav2Vec2FeatureExtractor` and a tokenizer into one processor.

    Args:
        feature_extractor (`Wav2Vec2FeatureExtractor`): audio front end (16 kHz for the
            paper's encoder). Saved with ``return_attention_mask=False`` so the stock
            zero-shot audio pipeline (which feeds one clip at a time) gets no
            ``attention_mask`` key that would collide with the text one.
        tokenizer (`PreTrainedTokenizerBase`): text tokenizer (BERT for the paper).
    """

    feature_extractor_class = "Wav2Vec2FeatureExtractor"
    tokenizer_class = "AutoTokenizer"

    def __init__(self, feature_extractor, tokenizer):
        feature_extractor.return_attention_mask = False  # see class docstring
        super().__init__(feature_extractor, tokenizer)

    @property
    def sampling_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    def _text_max_length(self) -> int:
        limit = getattr(self.tokenizer, "model_max_length", None)
        return int(limit) if limit and limit < 100_000 else 512

    def __call__(
        self,
        text=None,
        audio=None,
        sampling_rate: int | None = None,
        max_duration: float | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """Prepare text and/or audio for `SmoothClapModel`.

        Args:
            text: a string or list of strings (captions or candidate labels).
            audio: one clip or a list of clips (see `load_audio` for accepted kinds).
            sampling_rate: rate of raw arrays/tensors; required for them.
            max_duration: crop each clip to at most this many seconds (training).
            return_tensors: "pt" (default) or "np".
        Returns:
            `BatchFeature` with ``input_ids``, ``attention_mask`` (+ ``token_type_ids``)
            for text and ``input_values``, ``audio_attention_mask`` for audio.
        """
        audios = kwargs.pop("audios", None)  # the older plural keyword
        audio = audio if audio is not None else audios
        if text is None and audio is None:
            raise ValueError("Nothing to process: pass text=..., audio=..., or both.")
        data = {}
        if text is not None:
            data.update(self._encode_text(text, return_tensors))
        if audio is not None:
            data.update(self._encode_audio(audio, sampling_rate, max_duration, return_tensors))
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _encode_text(self, text, return_tensors):
        if isinstance(text, str):
            text = [text]
        text = list(text)
        if not text:
            raise ValueError("Empty label/text list: pass at least one string.")
        bad = [t for t in text if not isinstance(t, str) or not t.strip()]
        if bad:
            raise ValueError(f"Texts must be non-empty strings; got {bad[:3]!r}.")
        enc = self.tokenizer(
            text, padding=True, truncation=True, max_length=self._text_max_length(),
            return_tensors=return_tensors,
        )
        return dict(enc)

    def _encode_audio(self, audio, sampling_rate, max_duration, return_tensors):
        clips = [audio] if _is_single_clip(audio) else list(audio)
        if not clips:
            raise ValueError("Empty audio list: pass at least one clip.")
        waves = []
        for i, clip in enumerate(clips):
            try:
                wave = load_audio(clip, sampling_rate, self.sampling_rate)
            except ValueError as err:
                prefix = f"audio[{i}]: " if len(clips) > 1 else ""
                raise ValueError(prefix + str(err)) from None
            if max_duration is not None:
                wave = wave[: max(1, int(round(max_duration * self.sampling_rate)))]
            waves.append(wave)
        feats = self.feature_extractor(
            waves, sampling_rate=self.sampling_rate, padding=True,
            return_attention_mask=True,  # also makes normalisation ignore padding
            return_tensors=return_tensors,
        )
        return {"input_values": feats["input_values"], AUDIO_MASK_KEY: feats["attention_mask"]}

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        return self.tokenizer.decode(*args, **kwargs)

    @property
    def model_input_names(self):
        return list(self.tokenizer.model_input_names) + ["input_values", AUDIO_MASK_KEY]


__all__ = ["SmoothClapProcessor", "load_audio", "resample", "to_mono", "read_audio_file"]

SmoothClapProcessor.register_for_auto_class("AutoProcessor")
