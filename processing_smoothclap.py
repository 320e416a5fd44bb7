"""Processor for SmoothCLAP: audio (Wav2Vec2FeatureExtractor) + text (any tokenizer).

Decoding, downmixing and resampling live in ``audio_smoothclap.py`` (a fourth flat file,
shipped with the model and shared with the dataset builders, free of transformers).

Audio mask key: the processor returns the audio padding mask as ``audio_attention_mask``
so that it never collides with the text ``attention_mask`` when both are passed to the
model in one call.

Missing sampling rate: raw arrays and tensors carry no rate, so ``processor(audio=array)``
without ``sampling_rate=`` raises a ``ValueError`` (silently assuming 16 kHz gives
wrong embeddings for 44.1/48 kHz audio with no sign of it). Dicts
(``{"array", "sampling_rate"}``) and file paths carry their own rate.
"""

from __future__ import annotations

import os

import numpy as np

from transformers import ProcessorMixin
from transformers.feature_extraction_utils import BatchFeature

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

try:  # remote code (transformers copies the flat files, and this relative import, into one package)
    from .audio_smoothclap import load_audio, read_audio_file, resample, to_mono
except ImportError:  # plain module from the repository root (tests, scripts, pip install -e .)
    from audio_smoothclap import load_audio, read_audio_file, resample, to_mono

AUDIO_MASK_KEY = "audio_attention_mask"


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
