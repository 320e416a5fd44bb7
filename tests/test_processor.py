"""SmoothClapProcessor: accepted audio kinds, resampling, downmixing and clear errors."""

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import tone

from processing_smoothclap import AUDIO_MASK_KEY, load_audio, resample


def test_accepts_every_audio_kind(processor, tmp_path):
    clip = tone(200, 0.5)
    path = tmp_path / "a.wav"
    sf.write(path, clip, 16000)
    kinds = [clip, torch.from_numpy(clip), clip.tolist(), {"array": clip, "sampling_rate": 16000}, str(path),
             path, path.read_bytes(), {"bytes": path.read_bytes(), "path": "a.wav"}]
    outs = []
    for kind in kinds:
        sr = 16000 if not isinstance(kind, (dict, str, bytes)) and not hasattr(kind, "suffix") else None
        outs.append(processor(audio=kind, sampling_rate=sr)["input_values"])
    for out in outs[1:]:
        assert out.shape == (1, 8000)
        np.testing.assert_allclose(out.numpy(), outs[0].numpy(), atol=1e-4)


def test_batch_padding_and_mask_key(processor):
    out = processor(text=["a", "b c d"], audio=[tone(200, 0.5), tone(200, 0.25)], sampling_rate=16000)
    assert AUDIO_MASK_KEY in out and "attention_mask" in out
    assert out["input_values"].shape == (2, 8000)
    assert out[AUDIO_MASK_KEY].sum(-1).tolist() == [8000, 4000]
    assert out["attention_mask"].shape == out["input_ids"].shape  # the text mask, untouched


def test_resamples_and_downmixes(processor):
    stereo = np.stack([tone(200, 1.0, sr=44100), tone(200, 1.0, sr=44100)])  # (channels, time)
    out = processor(audio=stereo, sampling_rate=44100)
    assert out["input_values"].shape == (1, 16000)
    out_t = processor(audio=stereo.T.copy(), sampling_rate=44100)  # (time, channels)
    np.testing.assert_allclose(out["input_values"].numpy(), out_t["input_values"].numpy(), atol=1e-5)
    # a resampled 440 Hz tone keeps its frequency
    x = resample(np.sin(2 * np.pi * 440 * np.arange(48000) / 48000).astype(np.float32), 48000, 16000)
    assert len(x) == 16000
    assert abs(np.argmax(np.abs(np.fft.rfft(x))) - 440) <= 1


def test_stereo_file_and_int_pcm(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([tone(200, 0.5, sr=22050)] * 2, axis=1), 22050, subtype="PCM_16")
    wave = load_audio(str(path))
    assert wave.ndim == 1 and len(wave) == 8000 and wave.dtype == np.float32
    pcm = (tone(200, 0.5) * 32767).astype(np.int16)
    np.testing.assert_allclose(load_audio(pcm, 16000), tone(200, 0.5), atol=1e-3)


def test_max_duration_crops(processor):
    out = processor(audio=[tone(200, 2.0), tone(200, 0.5)], sampling_rate=16000, max_duration=1.0)
    assert out["input_values"].shape == (2, 16000)
    assert out[AUDIO_MASK_KEY].sum(-1).tolist() == [16000, 8000]


@pytest.mark.parametrize("kwargs,match", [
    (dict(), "Nothing to process"),
    (dict(text=[]), "Empty label"),
    (dict(text=["ok", ""]), "non-empty strings"),
    (dict(audio=np.zeros(0, dtype=np.float32), sampling_rate=16000), "Empty audio clip"),
    (dict(audio=[], sampling_rate=16000), "Empty audio list"),
    (dict(audio=np.array([0.1, np.nan, 0.2], dtype=np.float32), sampling_rate=16000), "NaN or Inf"),
    (dict(audio=np.array([0.1, np.inf], dtype=np.float32), sampling_rate=16000), "NaN or Inf"),
    (dict(audio=np.zeros((2, 2, 100), dtype=np.float32), sampling_rate=16000), "3 dimensions"),
    (dict(audio=tone(200, 0.2)), "Missing sampling rate"),
    (dict(audio="/no/such/file.wav"), "not found"),
    (dict(audio=[tone(200, 0.2), np.zeros(0, dtype=np.float32)], sampling_rate=16000), r"audio\[1\]"),
    (dict(audio={"foo": 1}), "Audio dict needs"),
    (dict(audio=np.array(["a", "b"]), sampling_rate=16000), "numeric"),
])
def test_bad_input_errors(processor, kwargs, match):
    with pytest.raises(ValueError, match=match):
        processor(**kwargs)


def test_unreadable_file(processor, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wav file")
    with pytest.raises(ValueError, match="Could not read audio"):
        processor(audio=str(bad))


def test_saved_extractor_has_no_attention_mask(processor, tmp_path):
    """The stock pipeline calls the saved extractor directly; an attention_mask key would
    collide with the tokenizer's."""
    from transformers import AutoFeatureExtractor

    processor.save_pretrained(tmp_path)
    fe = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert "attention_mask" not in fe(tone(200, 0.3), sampling_rate=16000)


def test_2d_batch_like_array_is_refused(processor):
    with pytest.raises(ValueError, match="list of 1-D arrays"):
        processor(audio=np.zeros((16, 4000), dtype=np.float32), sampling_rate=16000)
