"""Processor for SmoothCLAP: audio (Wav2Vec2FeatureExtractor) + text (any tokenizer).

Decoding, downmixing, resampling and the crop primitives live in ``audio_smoothclap.py``
(a fourth flat file, shipped with the model and shared with the dataset builders and the
trainer's feature cache, free of transformers).

One clip or a batch (the Hugging Face feature-extractor convention):
- one clip: a 1-D array/tensor (or list of numbers), a ``{"array", "sampling_rate"}`` dict
  (its array may be 1-D, or 2-D (channels, time) / (time, channels): downmixed), a
  ``{"bytes", "path"}`` dict, a file path or encoded bytes (multi-channel files are downmixed);
- a batch: a list of such clips (any lengths: padded), or a 2-D array/tensor, read as a batch
  of mono clips (rows), never as channels;
- ``channel_axis=`` (0 or 1) makes a bare 2-D array ONE multi-channel clip (and lets a list
  hold 2-D multi-channel clips); without it a 2-D entry inside a list is refused as ambiguous.

Audio mask key: the processor returns the audio padding mask as ``audio_attention_mask``
so that it never collides with the text ``attention_mask`` when both are passed to the
model in one call.

Missing sampling rate: raw arrays and tensors carry no rate, so ``processor(audio=array)``
without ``sampling_rate=`` raises a ``ValueError`` (silently assuming 16 kHz gives
wrong embeddings for 44.1/48 kHz audio with no sign of it). Dicts
(``{"array", "sampling_rate"}``) and file paths carry their own rate.

Crops: ``max_duration=`` seconds; ``crop="start"`` (evaluation, the default) or
``crop="random"`` (training, seeded by ``seed=``), or explicit ``crop_offsets=``;
``pad_to_max_duration=True`` pads every clip to exactly ``max_duration`` (training), with
the padding masked out in ``audio_attention_mask``.
"""

from __future__ import annotations

import os

import numpy as np

try:  # first: fails with a clear message on transformers 4.x (see MIN_TRANSFORMERS_VERSION)
    from .configuration_smoothclap import MIN_TRANSFORMERS_VERSION  # noqa: F401
except ImportError as err:
    if "SmoothCLAP needs transformers" in str(err):
        raise
    from configuration_smoothclap import MIN_TRANSFORMERS_VERSION  # noqa: F401

from transformers import AutoFeatureExtractor, AutoTokenizer, ProcessorMixin  # noqa: E402
from transformers.feature_extraction_utils import BatchFeature

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

try:  # remote code (transformers copies the flat files, and this relative import, into one package)
    from .audio_smoothclap import (MAX_CHANNELS, crop_or_pad, load_audio, random_crop_offset,
                                   read_audio_file, resample, to_mono)
except ImportError:  # plain module from the repository root (tests, scripts, pip install -e .)
    from audio_smoothclap import (MAX_CHANNELS, crop_or_pad, load_audio, random_crop_offset,
                                  read_audio_file, resample, to_mono)

AUDIO_MASK_KEY = "audio_attention_mask"
CROP_MODES = ("start", "random")
_ONE_CLIP = (dict, str, os.PathLike, bytes, bytearray)  # kinds that are always one clip


def _is_array(audio) -> bool:
    return isinstance(audio, np.ndarray) or (torch is not None and isinstance(audio, torch.Tensor))


def _split_array(audio, channel_axis) -> list:
    """The clips of a numpy array or torch tensor: 1-D one clip, 2-D a batch of rows.
    (A ragged object array is 1-D here; load_audio refuses it with the fix.)"""
    if audio.ndim == 0:
        raise ValueError("audio is a scalar (0 dimensions); pass a 1-D array of samples.")
    if audio.ndim == 1 or (audio.ndim == 2 and channel_axis is not None):
        return [audio]
    if audio.ndim > 2:
        raise ValueError(
            f"Audio has {audio.ndim} dimensions (shape {tuple(audio.shape)}); a 2-D array is a batch "
            "of mono clips (rows). For multi-channel clips pass a list of 2-D clips with "
            "channel_axis=0 or 1, or {'array', 'sampling_rate'} dicts (downmixed)."
        )
    rows, cols = audio.shape
    if cols <= MAX_CHANNELS < rows:  # soundfile/librosa's (time, channels) layout, not a batch
        raise ValueError(
            f"audio has shape {(rows, cols)}: a 2-D array is a batch of mono clips (rows), so this "
            f"would be {rows} clips of {cols} samples. For one (time, channels) clip pass "
            "channel_axis=1 (or {'array': x, 'sampling_rate': sr}); for a batch, one clip per row."
        )
    return list(audio)


def _raw_ndim(clip) -> int | None:
    """Dimensions of a raw array-like clip (None for files, dicts and ragged lists)."""
    if isinstance(clip, _ONE_CLIP):
        return None
    try:
        return clip.ndim if hasattr(clip, "ndim") else np.ndim(clip)
    except ValueError:  # a ragged nested list: load_audio names the problem
        return None


def split_clips(audio, channel_axis: int | None = None) -> list:
    """The clips of ``audio`` (one clip or a batch; see the module docstring), unloaded."""
    if isinstance(audio, _ONE_CLIP):
        return [audio]
    if _is_array(audio):
        return _split_array(audio, channel_axis)
    if isinstance(audio, (list, tuple)) and audio and isinstance(audio[0], (int, float, np.number)):
        return [audio]  # a plain list of samples is one clip
    try:
        clips = list(audio)
    except TypeError:
        raise ValueError(
            f"Unsupported audio of type {type(audio).__name__}: pass a 1-D array, a dict, a file "
            "path, bytes, or a list of those."
        ) from None
    if not clips:
        raise ValueError("Empty audio list: pass at least one clip.")
    for i, clip in enumerate(clips):
        if channel_axis is None and _raw_ndim(clip) == 2:
            raise ValueError(
                f"audio[{i}] is a 2-D array inside a batch list: one multi-channel clip or a batch "
                "of its own? Pass channel_axis=0 (channels, time) or 1 (time, channels) for "
                "multi-channel clips, or split it into 1-D clips."
            )
    return clips


def _check_crop_args(max_duration, crop, pad_to_max_duration, seed, crop_offsets) -> None:
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}.")
    if max_duration is None:
        needs = [name for name, used in (("crop='random'", crop == "random"),
                                         ("pad_to_max_duration=True", pad_to_max_duration),
                                         ("crop_offsets", crop_offsets is not None)) if used]
        if needs:
            raise ValueError(f"{' and '.join(needs)} need max_duration=... (the crop length in seconds).")
    elif not max_duration > 0:
        raise ValueError(f"max_duration must be a positive number of seconds, got {max_duration!r}.")
    if seed is not None and crop != "random":
        raise ValueError("seed= only seeds crop='random'; add crop='random' (training) or drop the seed.")
    if crop_offsets is not None and crop == "random":
        raise ValueError("Pass either crop='random' (offsets drawn from seed) or explicit crop_offsets, not both.")


# --------------------------------------------------------------------------- processor
class SmoothClapProcessor(ProcessorMixin):
    r"""Wraps a `Wav2Vec2FeatureExtractor` and a tokenizer into one processor.

    Build it from the two encoders a new model is built from with
    `from_audio_text_pretrained`, or load a saved one with `from_pretrained`.

    Args:
        feature_extractor (`Wav2Vec2FeatureExtractor`): audio front end (16 kHz for the
            paper's encoder). Saved with ``return_attention_mask=False`` so the stock
            zero-shot audio pipeline (which feeds one clip at a time) gets no
            ``attention_mask`` key that would collide with the text one.
        tokenizer (`PreTrainedTokenizerBase`): text tokenizer (BERT for the paper).
    """

    # No ``feature_extractor_class`` / ``tokenizer_class``: transformers 5 takes the parts from
    # the ``__init__`` parameter names and loads them with AutoFeatureExtractor/AutoTokenizer
    # (the class attributes are deprecated and warn on every from_pretrained).

    def __init__(self, feature_extractor, tokenizer):
        feature_extractor.return_attention_mask = False  # see class docstring
        super().__init__(feature_extractor, tokenizer)

    @classmethod
    def from_audio_text_pretrained(cls, audio_name_or_path: str, text_name_or_path: str, *,
                                   audio_kwargs: dict | None = None, text_kwargs: dict | None = None,
                                   **kwargs) -> "SmoothClapProcessor":
        """The processor matching ``SmoothClapModel.from_audio_text_pretrained(audio, text)``:
        the feature extractor of the audio model and the tokenizer of the text model.

        ``kwargs`` (``cache_dir``, ``token``, ``local_files_only``, ...) go to both loaders,
        ``audio_kwargs`` / ``text_kwargs`` to one. Example (needs the Hub; local folders work
        the same way): ``SmoothClapProcessor.from_audio_text_pretrained(
        "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", "bert-base-uncased")``.
        """
        feature_extractor = AutoFeatureExtractor.from_pretrained(
            audio_name_or_path, **{**kwargs, **(audio_kwargs or {})})
        tokenizer = AutoTokenizer.from_pretrained(text_name_or_path, **{**kwargs, **(text_kwargs or {})})
        return cls(feature_extractor=feature_extractor, tokenizer=tokenizer)

    @property
    def sampling_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    def load_audio(self, clip, sampling_rate: int | None = None, channel_axis: int | None = None) -> np.ndarray:
        """ONE clip (file path, bytes, dict, array) as float32 mono at this processor's rate
        (16 kHz): what the stock zero-shot pipeline expects (it reads any array as such)."""
        return load_audio(clip, sampling_rate, self.sampling_rate, channel_axis)  # the module function

    def _text_max_length(self) -> int:
        limit = getattr(self.tokenizer, "model_max_length", None)
        return int(limit) if limit and limit < 100_000 else 512

    def __call__(
        self,
        text=None,
        audio=None,
        sampling_rate: int | None = None,
        max_duration: float | None = None,
        crop: str = "start",
        pad_to_max_duration: bool = False,
        seed: int | np.random.Generator | None = None,
        crop_offsets=None,
        channel_axis: int | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """Prepare text and/or audio for `SmoothClapModel`.

        Args:
            text: a string or list of strings (captions or candidate labels).
            audio: one clip or a batch (module docstring): a list of clips, or a 2-D
                array/tensor whose rows are mono clips.
            sampling_rate: rate of raw arrays/tensors; required for them.
            max_duration: crop each clip to at most this many seconds.
            crop: ``"start"`` (default; evaluation) keeps the first ``max_duration``
                seconds; ``"random"`` (training) a uniformly drawn window of that length.
            pad_to_max_duration: pad every clip to exactly ``max_duration`` (training batches
                of one shape); the padding is masked in ``audio_attention_mask``.
            seed: seeds ``crop="random"``: an int (or a numpy ``Generator``, used as is) for
                ``np.random.default_rng``; offsets are drawn clip by clip in batch order with
                ``audio_smoothclap.random_crop_offset``, so the same seed and clips give the
                same crops. ``None`` draws fresh, unreproducible crops.
            crop_offsets: one start per clip, in samples at the processor's rate (16 kHz),
                instead of ``crop``: reproduces crops drawn elsewhere (e.g. by a feature cache
                with ``random_crop_offset``) exactly.
            channel_axis: 0 or 1: a bare 2-D array is ONE multi-channel clip with channels on
                that axis (and 2-D clips may appear in a list); downmixed.
            return_tensors: "pt" (default) or "np".
        Returns:
            `BatchFeature` with ``input_ids``, ``attention_mask`` (+ ``token_type_ids``)
            for text and ``input_values``, ``audio_attention_mask`` for audio.
        """
        audios = kwargs.pop("audios", None)  # the older plural keyword
        if kwargs:
            raise TypeError(
                f"SmoothClapProcessor got unexpected keyword argument(s) {sorted(kwargs)}; it takes "
                "text, audio, sampling_rate, max_duration, crop, pad_to_max_duration, seed, "
                "crop_offsets, channel_axis, return_tensors (text is always padded to the longest)."
            )
        audio = audio if audio is not None else audios
        if text is None and audio is None:
            raise ValueError("Nothing to process: pass text=..., audio=..., or both.")
        _check_crop_args(max_duration, crop, pad_to_max_duration, seed, crop_offsets)
        data = {}
        if text is not None:
            data.update(self._encode_text(text, return_tensors))
        if audio is not None:
            waves = self._load_clips(audio, sampling_rate, channel_axis)
            pad_length = None
            if max_duration is not None:
                length = max(1, int(round(max_duration * self.sampling_rate)))
                waves = self._crop(waves, length, crop, seed, crop_offsets)
                pad_length = length if pad_to_max_duration else None
            data.update(self._encode_waves(waves, pad_length, return_tensors))
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

    @staticmethod
    def _per_clip(clips, fn):
        """``fn(i, clip)`` for every clip, its ValueErrors prefixed with ``audio[i]`` in a batch."""
        out = []
        for i, clip in enumerate(clips):
            try:
                out.append(fn(i, clip))
            except ValueError as err:
                prefix = f"audio[{i}]: " if len(clips) > 1 else ""
                raise ValueError(prefix + str(err)) from None
        return out

    def _load_clips(self, audio, sampling_rate, channel_axis) -> list[np.ndarray]:
        clips = split_clips(audio, channel_axis)
        return self._per_clip(clips, lambda i, clip: load_audio(clip, sampling_rate, self.sampling_rate,
                                                                  channel_axis))

    def _crop(self, waves, length, crop, seed, crop_offsets) -> list[np.ndarray]:
        if crop_offsets is not None:
            offsets = list(crop_offsets)
            if len(offsets) != len(waves):
                raise ValueError(f"crop_offsets has {len(offsets)} entries for {len(waves)} clips; "
                                 "give one start (in samples at the processor's rate) per clip.")
        elif crop == "random":
            rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
            offsets = [random_crop_offset(len(wave), length, rng) for wave in waves]
        else:
            offsets = [0] * len(waves)

        def cut(i, wave):
            window, n_valid = crop_or_pad(wave, length, offsets[i])
            # the extractor pads again, and so normalises over the valid samples only
            return window[:n_valid]

        return self._per_clip(waves, cut)

    def _encode_waves(self, waves, pad_length, return_tensors):
        feats = self.feature_extractor(
            waves, sampling_rate=self.sampling_rate,
            padding="max_length" if pad_length else True, max_length=pad_length,
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


__all__ = ["SmoothClapProcessor", "crop_or_pad", "load_audio", "random_crop_offset", "read_audio_file",
           "resample", "split_clips", "to_mono"]

SmoothClapProcessor.register_for_auto_class("AutoProcessor")
