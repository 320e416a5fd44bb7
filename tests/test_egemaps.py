"""smoothclap.data.egemaps: eGeMAPS extraction and its worker pool (captions: test_captions.py).

Offline: every clip is synthesised here (harmonic "voices" with a pitch contour, amplitude
modulation and a little noise) and written with soundfile; openSMILE runs for real.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smoothclap.data.egemaps import (  # noqa: E402
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
        # workers stay light: the decoder and openSMILE, never transformers or torch
        loaded = pool.worker_modules(["transformers", "torch", "datasets", "smoothclap.models.audio_smoothclap", "opensmile"])
        assert len(loaded) == 2 and os.getpid() not in loaded
        assert all(mods == ["opensmile", "smoothclap.models.audio_smoothclap"] for mods in loaded.values()), loaded
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


def test_extracted_features_are_caption_rows():
    """extract_features output + id/labels is a row captions can use; the intensity bin
    reads the equivalent sound level from the egemaps vector."""
    from smoothclap.data.captions import compact_tags, fit_thresholds_from_columns, make_caption

    rows = []
    for i, gain in enumerate((0.02, 0.05, 0.1, 0.3, 0.6, 1.2)):
        feats = extract_features(voice(0.5, 140.0 + 10 * i, seed=i) * gain, sampling_rate=16000)
        rows.append({"id": f"clip{i}", "emotion": "happy", "gender": "female",
                     "arousal": None, "valence": None, "dominance": None, **feats})
    level = [r["egemaps"][EGEMAPS_NAMES.index("equivalentSoundLevel_dBp")] for r in rows]
    assert level == sorted(level) and level[-1] - level[0] > 30  # 60x the amplitude: about 35 dB
    columns = {key: [r.get(key) for r in rows] for key in rows[0]}
    thresholds = fit_thresholds_from_columns(columns)
    assert {"loudness", "sound_level", "pitch_mean", "duration"} <= set(thresholds)
    assert "loudness: low" in compact_tags(rows[0], thresholds)
    assert "loudness: high" in compact_tags(rows[-1], thresholds)
    last = make_caption(rows[0], thresholds).split(" and ")[-1]
    assert last in {"emotion is happy", "this is a happy instance", "speaker is happy"}


def test_kill_9_of_a_build_leaves_no_worker_forkserver_or_tracker(tmp_path):
    """A build killed with SIGKILL mid-extraction takes its whole process tree with it: the
    forkserver's workers are not the build's children (no parent-death signal reaches them), so
    they watch the build's pid; once they exit, the forkserver and resource tracker do too."""
    import signal
    import subprocess
    import time

    import psutil

    from conftest import ROOT, tone

    for label in ("happy", "sad"):
        (tmp_path / "raw" / label).mkdir(parents=True)
        for i in range(40):
            sf.write(tmp_path / "raw" / label / f"s{i % 3}_{i}.wav", tone(150 + 10 * i, seconds=3.0, seed=i), 16000)
    env = dict(os.environ, PYTHONPATH=ROOT, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    build = subprocess.Popen([sys.executable, "-m", "smoothclap.data", "build", "folder", "--data-dir",
                              str(tmp_path / "raw"), "--output", str(tmp_path / "out"), "--num-workers", "2"],
                             cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline, tree = time.time() + 120, []
    while time.time() < deadline and len(tree) < 4 and build.poll() is None:  # tracker, forkserver, 2 workers
        tree = psutil.Process(build.pid).children(recursive=True)
        time.sleep(0.02)
    assert len(tree) >= 4 and build.poll() is None, [" ".join(p.cmdline())[:60] for p in tree]
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    alive = tree
    for _ in range(100):  # up to 10 s
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.1)
    for p in alive:
        p.kill()
    assert not alive, [" ".join(p.cmdline())[:80] for p in alive]
