"""dataset_scripts.egemaps and .captions: eGeMAPS extraction, worker pool, thresholds, phrasings, captions.

Offline: every clip is synthesised here (harmonic "voices" with a pitch contour, amplitude
modulation and a little noise) and written with soundfile; openSMILE runs for real.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dataset_scripts.captions import (  # noqa: E402
    BINNED_ATTRIBUTES,
    CAPTION_VARIANTS,
    PHRASES,
    PITCH_VARIATION_SUFFIXES,
    NoTagsError,
    bin_value,
    compact_tags,
    fit_thresholds,
    load_thresholds,
    make_caption,
    save_thresholds,
    tag_sentences,
)
from dataset_scripts.egemaps import (  # noqa: E402
    EGEMAPS_NAMES,
    FEATURE_COLUMNS,
    MIN_DURATION_S,
    FeatureError,
    FeatureExtractorPool,
    extract_features,
)


def voice(seconds: float, f0: float = 150.0, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Harmonic tone with a +-10 % pitch contour, 3 Hz amplitude modulation and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    freq = f0 * (1.0 + 0.1 * np.sin(2 * np.pi * 2.0 * t))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    x = x * 0.5 * (1.0 + 0.5 * np.sin(2 * np.pi * 3.0 * t))
    x = x + 0.01 * rng.standard_normal(t.size)
    return (0.2 * x).astype(np.float32)


def write_wav(path: Path, wave: np.ndarray, sr: int = 16000, subtype: str = "FLOAT") -> str:
    sf.write(str(path), wave, sr, subtype=subtype)
    return str(path)


# --------------------------------------------------------------------------- extraction
def test_egemaps_names_are_opensmiles_columns():
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )
    assert list(smile.feature_names) == EGEMAPS_NAMES
    assert len(EGEMAPS_NAMES) == 88
    assert set(FEATURE_COLUMNS.values()) <= set(EGEMAPS_NAMES)


def test_extract_features_from_wav(tmp_path):
    # 22.05 kHz stereo file: decoded, downmixed and resampled to 16 kHz inside.
    mono = voice(1.5, 150.0, sr=22050)
    path = write_wav(tmp_path / "v.wav", np.stack([mono, mono], axis=1), sr=22050)
    feats = extract_features(path)
    assert feats["egemaps"].dtype == np.float32 and feats["egemaps"].shape == (88,)
    assert np.isfinite(feats["egemaps"]).all()
    assert feats["duration"] == pytest.approx(1.5, abs=1e-3)
    for key, column in FEATURE_COLUMNS.items():
        assert isinstance(feats[key], float)
        assert feats[key] == pytest.approx(float(feats["egemaps"][EGEMAPS_NAMES.index(column)]), rel=1e-6)
    # 150 Hz is 28.9 semitones above 27.5 Hz
    assert feats["pitch_mean"] == pytest.approx(12 * math.log2(150 / 27.5), abs=1.0)
    assert feats["jitter"] > 0 and feats["shimmer"] > 0 and feats["loudness"] > 0


def test_higher_voice_has_higher_pitch_mean():
    low = extract_features(voice(1.0, 110.0), sampling_rate=16000)
    high = extract_features(voice(1.0, 220.0), sampling_rate=16000)
    # one octave = 12 semitones
    assert 10.0 < high["pitch_mean"] - low["pitch_mean"] < 14.0


def test_int16_and_float_inputs_agree(tmp_path):
    wave = voice(1.0, 180.0)
    as_float = extract_features(wave, sampling_rate=16000)
    pcm = np.round(wave * 32767).astype(np.int16)
    as_int16 = extract_features(pcm, sampling_rate=16000)  # int16 straight into openSMILE gives F0 = 0
    assert as_int16["pitch_mean"] > 20
    assert as_int16["pitch_mean"] == pytest.approx(as_float["pitch_mean"], abs=0.05)
    int16_file = extract_features(write_wav(tmp_path / "pcm16.wav", wave, subtype="PCM_16"))
    assert int16_file["pitch_mean"] == pytest.approx(as_float["pitch_mean"], abs=0.05)
    # the other accepted kinds give the same numbers
    path = write_wav(tmp_path / "f.wav", wave)
    ref = extract_features(path)["egemaps"]
    np.testing.assert_allclose(extract_features(Path(path).read_bytes())["egemaps"], ref, rtol=1e-6)
    np.testing.assert_allclose(
        extract_features({"array": wave, "sampling_rate": 16000})["egemaps"], ref, rtol=1e-5, atol=1e-5
    )


def test_min_duration_boundary():
    ok = extract_features(voice(MIN_DURATION_S, 150.0), sampling_rate=16000)
    assert np.isfinite(ok["egemaps"]).all() and ok["pitch_mean"] > 0
    with pytest.raises(FeatureError, match=r"too short for eGeMAPS: 0\.050 s < 0\.1"):
        extract_features(voice(0.05, 150.0), sampling_rate=16000)


def test_bad_audio_raises_feature_error_with_reason(tmp_path):
    empty = write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32))
    with pytest.raises(FeatureError, match="^empty audio$"):
        extract_features(empty)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really a wave file" * 3)
    with pytest.raises(FeatureError, match="^unreadable audio: "):
        extract_features(str(corrupt))
    with pytest.raises(FeatureError, match="^unreadable audio: .*not found"):
        extract_features(str(tmp_path / "missing.wav"))
    bad = voice(0.5)
    bad[100] = np.nan
    with pytest.raises(FeatureError, match="^non-finite samples$"):
        extract_features(bad, sampling_rate=16000)
    # a caller bug is not a skip reason
    with pytest.raises(ValueError, match="sampling rate") as info:
        extract_features(voice(0.5))
    assert not isinstance(info.value, FeatureError)


def test_unvoiced_clip_has_no_pitch_tags():
    noise = (0.05 * np.random.default_rng(1).standard_normal(16000)).astype(np.float32)
    feats = extract_features(noise, sampling_rate=16000)
    assert feats["pitch_mean"] is None and feats["pitch_variation"] is None
    assert feats["jitter"] is None and feats["shimmer"] is None
    assert feats["loudness"] > 0 and feats["duration"] == pytest.approx(1.0)


def test_pool_with_two_workers_matches_in_process(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"garbage" * 50)
    sources = [
        write_wav(tmp_path / "a.wav", voice(0.8, 120.0, seed=1)),
        Path(write_wav(tmp_path / "b.wav", voice(0.6, 200.0, sr=8000, seed=2), sr=8000)).read_bytes(),
        str(corrupt),
        write_wav(tmp_path / "short.wav", voice(0.03)),
        {"array": voice(0.7, 260.0, seed=3), "sampling_rate": 16000},
        write_wav(tmp_path / "c.wav", voice(0.9, 90.0, seed=4)),
    ]
    with FeatureExtractorPool(num_workers=1) as serial:
        expected = serial.map(sources)
    with FeatureExtractorPool(num_workers=2) as pool:
        pool.warmup()  # raises unless both workers start and initialise
        got = pool.map(sources)
        again = pool.map(sources[::-1])  # the pool is reusable, order follows the input
    for exp, res in zip(expected, got):
        assert type(exp) is type(res)
    assert [type(r).__name__ for r in got] == ["dict", "dict", "FeatureError", "FeatureError", "dict", "dict"]
    assert str(got[2]).startswith("unreadable audio: ") and str(got[3]).startswith("too short")
    for exp, res in zip(expected, got):
        if isinstance(exp, FeatureError):
            assert str(exp) == str(res)
        else:
            np.testing.assert_array_equal(exp["egemaps"], res["egemaps"])
            assert exp["duration"] == res["duration"]
    pitches = [r["pitch_mean"] for r in got if isinstance(r, dict)]
    assert pitches[2] > pitches[1] > pitches[0] > pitches[3]
    assert [type(r).__name__ for r in again] == ["dict", "dict", "FeatureError", "FeatureError", "dict", "dict"][::-1]
    np.testing.assert_array_equal(again[0]["egemaps"], got[-1]["egemaps"])


# --------------------------------------------------------------------------- thresholds
def test_fit_thresholds_matches_numpy_and_ignores_missing():
    vals = [3.0, None, 1.0, float("nan"), 10.0, 7.0, 2.0, np.float32(5.0)]
    clean = [3.0, 1.0, 10.0, 7.0, 2.0, 5.0]
    th = fit_thresholds({"pitch_mean": vals, "jitter": [None, float("nan")], "duration": iter([4.0])})
    assert set(th) == {"pitch_mean", "duration"}
    assert th["pitch_mean"] == pytest.approx(list(np.percentile(clean, [30, 70])))
    # hand-computed linear percentiles of sorted [1,2,3,5,7,10]: 30 % -> 2.5, 70 % -> 6.0
    assert th["pitch_mean"] == pytest.approx([2.5, 6.0])
    assert th["duration"] == [4.0, 4.0]


def test_bin_boundaries():
    pair = [2.0, 5.0]
    assert bin_value(2.0, pair) == "low" and bin_value(1.0, pair) == "low"
    assert bin_value(2.0001, pair) == "mid" and bin_value(4.9999, pair) == "mid"
    assert bin_value(5.0, pair) == "high" and bin_value(9.0, pair) == "high"
    assert bin_value(None, pair) is None and bin_value(float("nan"), pair) is None
    assert bin_value(3.0, [3.0, 3.0]) == "mid"  # degenerate distribution
    th = fit_thresholds({"duration": range(100)})["duration"]
    counts = {b: sum(bin_value(x, th) == b for x in range(100)) for b in ("low", "mid", "high")}
    assert counts == {"low": 30, "mid": 40, "high": 30}


def test_thresholds_json_round_trip_and_bad_files(tmp_path):
    th = {"arousal": [2.5, 4.25], "duration": [1.0, 3.0]}
    path = tmp_path / "th.json"
    save_thresholds(th, path)
    assert json.loads(path.read_text())["version"] == 1
    assert load_thresholds(path) == th
    cases = {
        "notjson.json": "{not json",
        "noversion.json": json.dumps({"thresholds": th}),
        "version.json": json.dumps({"version": 99, "thresholds": th}),
        "order.json": json.dumps({"version": 1, "thresholds": {"arousal": [5.0, 1.0]}}),
        "unknown.json": json.dumps({"version": 1, "thresholds": {"pitchh": [1.0, 2.0]}}),
        "short.json": json.dumps({"version": 1, "thresholds": {"arousal": [1.0]}}),
    }
    messages = {
        "notjson.json": "not valid JSON", "noversion.json": "'version' and 'thresholds'",
        "version.json": "version 99", "order.json": "p30 <= p70",
        "unknown.json": "unknown attribute 'pitchh'", "short.json": "must be \\[p30, p70\\]",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=messages[name]):
            load_thresholds(tmp_path / name)
    with pytest.raises(ValueError, match="does not exist"):
        load_thresholds(tmp_path / "nope.json")
    with pytest.raises(ValueError):
        save_thresholds({"arousal": [float("nan"), 1.0]}, tmp_path / "x.json")


# --------------------------------------------------------------------------- phrasings
TH = {name: [0.3, 0.7] for name in BINNED_ATTRIBUTES}
LEVEL = {"low": 0.1, "mid": 0.5, "high": 0.9}


def make_sample(i=0, emotion="angry", gender="male", rest="mid", pv="mid", js="mid", **over):
    sample = {"id": f"utt{i}", "emotion": emotion, "gender": gender}
    for name in BINNED_ATTRIBUTES:
        sample[name] = LEVEL[rest]
    sample["pitch_variation"] = LEVEL[pv]
    sample["jitter"] = sample["shimmer"] = LEVEL[js]
    sample.update(over)
    return sample


def expected_phrases(emotions=("angry",), genders=("male", "female")) -> set[str]:
    out = set()
    for attr, bins in PHRASES.items():
        for phrases in bins.values():
            for p in phrases:
                for e, g in itertools.product(emotions, genders):
                    out.add(p.format(emotion=e, gender=g))
    for attr in ("jitter", "shimmer"):
        for bin_, pv in (("low", "high"), ("high", "low")):
            for suffix in PITCH_VARIATION_SUFFIXES[pv]:
                out.add(f"has a {bin_} {attr} {suffix}")
    return out


def test_every_phrasing_is_reachable_and_nothing_else():
    seen: set[str] = set()
    i = 0
    for rest, pv, js, emotion, gender in itertools.product(
        LEVEL, LEVEL, LEVEL, ("angry", None), ("male", "female", None)
    ):
        for seed in range(12):
            i += 1
            sents = tag_sentences(make_sample(i, emotion, gender, rest, pv, js), TH, seed=seed)
            assert len(sents) == len(BINNED_ATTRIBUTES) + (emotion is not None) + (gender is not None)
            if emotion is None:
                assert not any("angry" in s or "None" in s for s in sents)
            suffixed = [s for s in sents if " but " in s]
            if not ((js == "low" and pv == "high") or (js == "high" and pv == "low")):
                assert suffixed == []
            seen.update(sents)
    expected = expected_phrases()
    assert expected - seen == set()
    assert seen - expected == set()
    assert "has a high jitter but the pitch is stable" in seen
    assert "speaker is not very angry" in seen and "speaker is very angry" in seen
    assert "has a very stable pitch" in PHRASES["pitch_variation"]["low"]  # footnote ‡


def test_tag_sentences_skip_missing_values_and_thresholds():
    sample = make_sample(emotion=None, gender=None, arousal=None, jitter=float("nan"))
    th = {k: v for k, v in TH.items() if k != "duration"}
    sents = tag_sentences(sample, th)
    assert len(sents) == len(BINNED_ATTRIBUTES) - 3  # no arousal, jitter, duration
    assert not any("arousal" in s or "jitter" in s or "duration" in s for s in sents)
    # no pitch variation: jitter/shimmer of any bin get no suffix (and no error)
    for js in LEVEL:
        sents = tag_sentences(make_sample(js=js, pitch_variation=None), TH)
        assert len(sents) == 2 + len(BINNED_ATTRIBUTES) - 1 and not any(" but " in s for s in sents)
    assert tag_sentences(make_sample(), None) == tag_sentences(make_sample(), {})
    assert tag_sentences(make_sample(), {})[0] in {p.format(emotion="angry") for p in PHRASES["emotion"]["label"]}


def test_captions_deterministic_order_independent_and_seeded():
    samples = [make_sample(i, rest=r, pv=p) for i, (r, p) in enumerate(itertools.product(LEVEL, LEVEL))]
    forward = [make_caption(s, TH, seed=3) for s in samples]
    backward = [make_caption(s, TH, seed=3) for s in reversed(samples)][::-1]
    assert forward == backward
    assert forward == [make_caption(dict(s), TH, seed=3) for s in samples]
    other = [make_caption(s, TH, seed=4) for s in samples]
    assert sum(a != b for a, b in zip(forward, other)) >= len(samples) // 2
    assert tag_sentences(samples[0], TH, seed=3) == tag_sentences(samples[0], TH, seed=3)


def test_caption_variants_follow_their_rules():
    emotion_forms = {p.format(emotion="happy") for p in PHRASES["emotion"]["label"]}
    sizes = {"emotion_plus5": set(), "emotion_plus1": set(), "no_emotion": set()}
    for i, seed in itertools.product(range(30), range(4)):
        s = make_sample(i, emotion="happy", rest=["low", "mid", "high"][i % 3])
        sents = tag_sentences(s, TH, seed=seed)
        only = make_caption(s, TH, seed=seed, variant="emotion_only")
        assert only in emotion_forms and only == sents[0]
        no = make_caption(s, TH, seed=seed, variant="no_emotion", max_tags=5).split(" and ")
        assert not set(no) & emotion_forms and 1 <= len(no) <= 5 and set(no) <= set(sents)
        assert len(set(no)) == len(no)
        sizes["no_emotion"].add(len(no))
        for m in (1, 5):
            plus = make_caption(s, TH, seed=seed, variant="emotion_plus", max_tags=m).split(" and ")
            assert plus[0] in emotion_forms and not set(plus[1:]) & emotion_forms
            assert len(plus) <= m + 1 and set(plus) <= set(sents)
            sizes[f"emotion_plus{m}"].add(len(plus))
    assert sizes["no_emotion"] == {1, 2, 3, 4, 5}
    assert sizes["emotion_plus5"] == {1, 2, 3, 4, 5, 6}
    assert sizes["emotion_plus1"] == {1, 2}
    assert make_caption(make_sample(), TH, max_tags=3).count(" and ") <= 3
    with pytest.raises(ValueError, match="unknown caption variant"):
        make_caption(make_sample(), TH, variant="everything")


def test_captions_without_emotion_or_tags():
    s = make_sample(7, emotion=None)
    only = make_caption(s, TH, seed=1, variant="emotion_only")
    assert " and " not in only and only in tag_sentences(s, TH, seed=1)
    plus = make_caption(s, TH, seed=1, variant="emotion_plus", max_tags=2).split(" and ")
    assert 1 <= len(plus) <= 2 and set(plus) <= set(tag_sentences(s, TH, seed=1))
    nothing = {"id": "x", "emotion": None, "gender": None, "pitch_mean": 0.5}
    for variant in CAPTION_VARIANTS:
        with pytest.raises(NoTagsError, match="no .*'x'"):
            make_caption(nothing, {}, variant=variant)
    with pytest.raises(NoTagsError):
        compact_tags(nothing, {})
    only_emotion = {"id": "y", "emotion": "sad"}
    assert make_caption(only_emotion, {}, variant="emotion_plus") == make_caption(
        only_emotion, {}, variant="emotion_only")
    with pytest.raises(NoTagsError):
        make_caption(only_emotion, {}, variant="no_emotion")


def test_compact_tags():
    s = make_sample(rest="high", pv="low", js="mid", emotion="angry", gender="female", duration=0.1, valence=None)
    assert compact_tags(s, TH) == (
        "emotion: angry, gender: female, arousal: high, dominance: high, pitch: high, "
        "pitch variation: low, loudness: high, jitter: mid, shimmer: mid, duration: low"
    )
    assert compact_tags(s, TH) == compact_tags(dict(reversed(list(s.items()))), TH)
