"""SmoothClapProcessor: accepted audio kinds, batch/channel conventions, resampling,
downmixing, training crops, loading, and clear errors."""

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import tone

from smoothclap.models.audio_smoothclap import crop_or_pad, random_crop_offset
from smoothclap.models.processing_smoothclap import AUDIO_MASK_KEY, SmoothClapProcessor, load_audio, resample


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
    left, right = tone(200, 1.0, sr=44100), tone(300, 1.0, sr=44100, seed=1)
    stereo = np.stack([left, right])  # (channels, time)
    mono = processor(audio=(left + right) / 2, sampling_rate=44100)["input_values"]
    assert mono.shape == (1, 16000)
    # one multi-channel clip: a dict (either layout, axis guessed) or an explicit channel_axis
    for kwargs in (dict(audio={"array": stereo, "sampling_rate": 44100}),
                   dict(audio={"array": stereo.T.copy(), "sampling_rate": 44100}),
                   dict(audio=stereo, sampling_rate=44100, channel_axis=0),
                   dict(audio=torch.from_numpy(stereo.T.copy()), sampling_rate=44100, channel_axis=1),
                   dict(audio=[stereo.T.copy()], sampling_rate=44100, channel_axis=-1)):
        np.testing.assert_allclose(processor(**kwargs)["input_values"].numpy(), mono.numpy(), atol=1e-5)
    # a resampled 440 Hz tone keeps its frequency
    x = resample(np.sin(2 * np.pi * 440 * np.arange(48000) / 48000).astype(np.float32), 48000, 16000)
    assert len(x) == 16000
    assert abs(np.argmax(np.abs(np.fft.rfft(x))) - 440) <= 1


@pytest.mark.parametrize("as_tensor", [False, True])
def test_2d_array_is_a_batch_of_mono_clips(processor, as_tensor):
    """The HF convention: rows are clips, never channels (each row as if passed alone)."""
    rows = np.stack([tone(150 + 50 * i, 1.0, seed=i) for i in range(4)])
    batch = torch.from_numpy(rows) if as_tensor else rows
    out = processor(audio=batch, sampling_rate=16000)
    assert out["input_values"].shape == (4, 16000)
    assert out[AUDIO_MASK_KEY].sum(-1).tolist() == [16000] * 4
    for i, row in enumerate(rows):
        alone = processor(audio=row, sampling_rate=16000)["input_values"][0]
        np.testing.assert_allclose(out["input_values"][i].numpy(), alone.numpy(), atol=1e-6)
    # resampled row by row, like a list of the same clips
    listed = processor(audio=list(rows), sampling_rate=22050)["input_values"]
    np.testing.assert_allclose(processor(audio=batch, sampling_rate=22050)["input_values"].numpy(),
                               listed.numpy(), atol=1e-6)


def test_ragged_list_is_a_padded_batch(processor):
    clips = [tone(200, 0.5).tolist(), tone(200, 0.25).tolist()]  # lists of numbers, two lengths
    out = processor(audio=clips, sampling_rate=16000)
    assert out["input_values"].shape == (2, 8000)
    assert out[AUDIO_MASK_KEY].sum(-1).tolist() == [8000, 4000]


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
    first_second = processor(audio=tone(200, 2.0)[:16000], sampling_rate=16000)["input_values"][0]
    np.testing.assert_allclose(out["input_values"][0].numpy(), first_second.numpy(), atol=1e-6)  # start crop


def test_crop_primitives():
    wave = np.arange(10, dtype=np.float32) + 1
    crop, n = crop_or_pad(wave, 4, offset=6)
    assert crop.tolist() == [7, 8, 9, 10] and n == 4
    crop, n = crop_or_pad(wave[:3], 5)
    assert crop.tolist() == [1, 2, 3, 0, 0] and n == 3 and crop.dtype == np.float32
    assert crop_or_pad(wave, 4, offset=np.int64(2))[0].tolist() == [3, 4, 5, 6]
    for offset in (7, -1, 1.5):
        with pytest.raises(ValueError, match="offset"):
            crop_or_pad(wave, 4, offset=offset)
    with pytest.raises(ValueError, match="outside 0..0"):
        crop_or_pad(wave[:3], 5, offset=1)  # a short clip is kept whole
    # uniform over every start that keeps the crop inside the clip, ends included
    rng = np.random.default_rng(0)
    draws = [random_crop_offset(10, 7, rng) for _ in range(400)]
    assert set(draws) == {0, 1, 2, 3}
    # a clip no longer than the crop: offset 0, and the generator is left untouched
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert random_crop_offset(7, 7, a) == 0 and random_crop_offset(3, 7, a) == 0
    assert a.integers(0, 1 << 30) == b.integers(0, 1 << 30)
    with pytest.raises(ValueError, match="positive"):
        random_crop_offset(10, 0, rng)


def test_random_crop_is_seeded_and_reproducible_from_offsets(processor):
    clips = [tone(200, 3.0, seed=1), tone(250, 0.5, seed=2), tone(300, 2.2, seed=3)]
    train = dict(sampling_rate=16000, max_duration=1.0, crop="random", pad_to_max_duration=True)
    out = processor(audio=clips, seed=7, **train)
    assert out["input_values"].shape == (3, 16000)
    assert out[AUDIO_MASK_KEY].sum(-1).tolist() == [16000, 8000, 16000]  # padding masked
    np.testing.assert_array_equal(processor(audio=clips, seed=7, **train)["input_values"].numpy(),
                                  out["input_values"].numpy())
    other = processor(audio=clips, seed=8, **train)["input_values"]
    assert not np.allclose(other[0].numpy(), out["input_values"][0].numpy())
    # the documented RNG: default_rng(seed), one random_crop_offset per clip in batch order
    rng = np.random.default_rng(7)
    offsets = [random_crop_offset(len(c), 16000, rng) for c in clips]
    assert offsets[1] == 0 and offsets[0] > 0
    del train["crop"]
    explicit = processor(audio=clips, crop_offsets=offsets, **train)
    np.testing.assert_array_equal(explicit["input_values"].numpy(), out["input_values"].numpy())
    np.testing.assert_array_equal(explicit[AUDIO_MASK_KEY].numpy(), out[AUDIO_MASK_KEY].numpy())
    # ... and each row is exactly that window of the clip, processed alone
    for i, (clip, offset) in enumerate(zip(clips, offsets)):
        window = processor(audio=clip[offset:offset + 16000], sampling_rate=16000)["input_values"][0]
        np.testing.assert_allclose(out["input_values"][i, :len(window)].numpy(), window.numpy(), atol=1e-6)
    # a numpy Generator may be passed as the seed (one stream across batches)
    gen = processor(audio=clips, seed=np.random.default_rng(7), crop="random", **train)
    np.testing.assert_array_equal(gen["input_values"].numpy(), out["input_values"].numpy())


def test_padded_training_crop_gives_the_unpadded_embedding(model, processor):
    clip = tone(220, 0.6)
    with torch.no_grad():
        plain = model.get_audio_features(**processor(audio=clip, sampling_rate=16000)).pooler_output
        padded_inputs = processor(audio=clip, sampling_rate=16000, max_duration=1.5, crop="random",
                                  pad_to_max_duration=True, seed=0)
        assert padded_inputs["input_values"].shape == (1, 24000)
        assert padded_inputs["input_values"][0, 9600:].abs().max() == 0
        padded = model.get_audio_features(**padded_inputs).pooler_output
    np.testing.assert_allclose(padded.numpy(), plain.numpy(), atol=1e-4)


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
    # batches and channels
    (dict(audio=np.array([tone(200, 0.2), tone(200, 0.3)], dtype=object), sampling_rate=16000),
     r"dtype object \(a ragged batch.*list\(clips\)"),
    (dict(audio=np.zeros((16000, 2), dtype=np.float32), sampling_rate=16000), "channel_axis=1"),
    (dict(audio=torch.zeros(16000, 2), sampling_rate=16000), "16000 clips of 2 samples"),
    (dict(audio=[np.zeros((2, 1600), dtype=np.float32)], sampling_rate=16000), r"audio\[0\] is a 2-D array"),
    (dict(audio=np.array(0.5), sampling_rate=16000), "0 dimensions"),
    (dict(audio=np.float32(0.5), sampling_rate=16000), "Unsupported audio of type float32"),
    (dict(audio={"array": np.zeros((100, 100)), "sampling_rate": 16000}), "channel_axis=0"),
    (dict(audio=np.zeros((2, 1600)), sampling_rate=16000, channel_axis=2), "channel_axis must be"),
    (dict(audio=[[0.1, 0.2], [[0.1], [0.2, 0.3]]], sampling_rate=16000), "different lengths"),
    # crops
    (dict(audio=tone(200, 0.2), sampling_rate=16000, crop="random"), "need max_duration"),
    (dict(audio=tone(200, 0.2), sampling_rate=16000, pad_to_max_duration=True), "need max_duration"),
    (dict(audio=tone(200, 0.2), sampling_rate=16000, max_duration=0), "positive"),
    (dict(audio=tone(200, 0.2), sampling_rate=16000, max_duration=1, crop="middle"), "crop must be"),
    (dict(audio=tone(200, 0.2), sampling_rate=16000, max_duration=1, seed=3), "only seeds crop='random'"),
    (dict(audio=tone(200, 0.2), sampling_rate=16000, max_duration=1, crop="random", crop_offsets=[0]),
     "not both"),
    (dict(audio=[tone(200, 0.2)] * 2, sampling_rate=16000, max_duration=0.1, crop_offsets=[0]),
     "1 entries for 2 clips"),
    (dict(audio=[tone(200, 0.2)] * 2, sampling_rate=16000, max_duration=0.1, crop_offsets=[0, 1601]),
     r"audio\[1\]: Crop offset 1601 is outside 0..1600"),
])
def test_bad_input_errors(processor, kwargs, match):
    with pytest.raises(ValueError, match=match):
        processor(**kwargs)


def test_unknown_keyword_is_an_error(processor):
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['pad_to_max_durations'\]"):
        processor(audio=tone(200, 0.2), sampling_rate=16000, max_duration=1, pad_to_max_durations=True)


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


def test_from_audio_text_pretrained_matches_the_encoders(pretrained_encoders, tmp_path):
    from transformers import AutoTokenizer

    audio_dir, text_dir = pretrained_encoders
    proc = SmoothClapProcessor.from_audio_text_pretrained(audio_dir, text_dir, local_files_only=True)
    assert proc.sampling_rate == 16000 and proc.feature_extractor.do_normalize
    assert proc.feature_extractor.return_attention_mask is False  # saved so for the stock pipeline
    ids = proc(text=["speaker is calm"])["input_ids"][0].tolist()
    assert ids == AutoTokenizer.from_pretrained(text_dir)("speaker is calm")["input_ids"]
    proc.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").exists() and (tmp_path / "processor_config.json").exists()


def test_loading_a_saved_processor_does_not_warn(processor, tmp_path):
    """transformers 5 deprecates `feature_extractor_class` and warns on every load."""
    import warnings

    from transformers.testing_utils import CaptureLogger
    from transformers.utils import logging

    class LegacyProcessor(SmoothClapProcessor):  # the old form, to show the check can fail
        feature_extractor_class = "Wav2Vec2FeatureExtractor"

    processor.save_pretrained(tmp_path)
    logs = {}
    for cls in (SmoothClapProcessor, LegacyProcessor):
        logging.warning_once.cache_clear()  # it warns once per process otherwise
        with CaptureLogger(logging.get_logger("transformers")) as cap, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loaded = cls.from_pretrained(tmp_path)
        logs[cls] = cap.out + "".join(str(w.message) for w in caught)
        assert loaded.feature_extractor.sampling_rate == 16000
    assert "deprecated" in logs[LegacyProcessor]
    assert "deprecated" not in logs[SmoothClapProcessor], logs[SmoothClapProcessor]


def test_load_audio_method_gives_the_pipeline_input(processor, tmp_path):
    path = tmp_path / "stereo44k.wav"
    left, right = tone(200, 0.5, sr=44100), tone(300, 0.5, sr=44100, seed=1)
    sf.write(path, np.stack([left, right], axis=1), 44100)
    wave = processor.load_audio(str(path))
    assert wave.dtype == np.float32 and wave.shape == (8000,)
    np.testing.assert_allclose(wave, resample((left + right) / 2, 44100, 16000), atol=1e-4)


@pytest.mark.parametrize("dtype, subtype", [(np.int8, "PCM_S8"), (np.uint8, "PCM_U8"), (np.int16, "PCM_16"),
                                            (np.int32, "PCM_32")])
def test_integer_arrays_are_scaled_as_the_file_reader_scales_them(dtype, subtype, tmp_path):
    """An integer array is the same signal as the same samples in a file (an 8-bit WAV is
    unsigned, centred on 128): uint8 arrays used to come out in [0, 1], mean 0.5."""
    info = np.iinfo(dtype)
    centre = (int(info.max) + 1) // 2 if info.min == 0 else 0
    peak = (int(info.max) - centre) * 0.6
    shape = tone(200, 0.5) / np.abs(tone(200, 0.5)).max()
    samples = (centre + np.round(peak * shape)).astype(dtype)
    path = tmp_path / "clip.raw"  # headerless PCM: the file's samples are exactly the array's bytes
    path.write_bytes(samples.astype(samples.dtype.newbyteorder("<")).tobytes())
    from_file = sf.read(path, dtype="float64", samplerate=16000, channels=1, format="RAW", subtype=subtype,
                        endian="LITTLE")[0]
    from_array = load_audio(samples, 16000)
    assert abs(float(from_array.mean())) < 0.01  # centred, not shifted to [0, 1]
    np.testing.assert_allclose(from_array, from_file, atol=1e-6)
