"""The demo's measurement parts (smoothclap.evaluation.study, demo.compare_models / save_confusions /
seed_study): the linear probe, the confusion matrices as text and PNG, and the multi-seed
table with its verdict sentence. The whole demo with --quick runs in tests/test_packaging.py."""

import json
import os

import numpy as np
import pytest

import smoothclap.demo as demo
from smoothclap.demo.threads import ThreadTrial, choose_threads
from smoothclap.evaluation.study import confusion_text, probe_uar

LABELS = ["neutral", "happy", "angry", "sad"]


def test_probe_finds_a_linear_label_and_not_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    centres = rng.standard_normal((4, 16)) * 3
    x = centres[y] + rng.standard_normal((400, 16))
    assert probe_uar(x[:300], y[:300], x[300:], y[300:], 4) > 0.9
    noise = rng.standard_normal((400, 16))
    assert probe_uar(noise[:300], y[:300], noise[300:], y[300:], 4) < 0.45


def report(refs, preds):
    from smoothclap.evaluation.metrics import uar

    cm = np.zeros((4, 4), dtype=int)
    for r, p in zip(refs, preds):
        cm[LABELS.index(r), LABELS.index(p)] += 1
    details = uar(preds, refs, labels=LABELS, details=True)
    return {"labels": LABELS, "confusion_matrix": cm.tolist(), "uar": details["uar"], "n_scored": len(refs),
            "n_total": len(refs), "recall": dict(zip(LABELS, details["recall"])), "uar_ci95": [0.0, 1.0],
            "_rows": [{"id": f"spk{i % 3}_c{i}", "label": r, "prediction": p}
                      for i, (r, p) in enumerate(zip(refs, preds))]}


def fake_reports(seed):
    rng = np.random.default_rng(seed)
    refs = [LABELS[i % 4] for i in range(48)]
    good = [r if rng.random() < 0.9 else LABELS[rng.integers(4)] for r in refs]
    poor = [r if rng.random() < 0.5 else LABELS[rng.integers(4)] for r in refs]
    return {"smoothclap": {"validation": report(refs, good), "test": report(refs, good)},
            "paraclap": {"validation": report(refs, poor), "test": report(refs, poor)}}


def test_confusion_text_rows_are_references_with_recall():
    r = report(["happy", "happy", "sad", "neutral", "angry"], ["happy", "sad", "sad", "neutral", "happy"])
    lines = confusion_text(r).splitlines()
    assert lines[0].split() == LABELS + ["recall"]
    happy = lines[2].split()
    assert happy[0] == "happy" and happy[1:5] == ["0", "1", "0", "1"] and float(happy[5]) == 0.5


@pytest.fixture
def corpus(tmp_path):
    """A built-corpus look-alike with the validation/test ids and speakers of fake_reports."""
    import datasets

    rows = {"id": [f"spk{i % 3}_c{i}" for i in range(48)], "speaker": [f"spk{i % 3}" for i in range(48)]}
    folder = str(tmp_path / "corpus")
    datasets.DatasetDict({s: datasets.Dataset.from_dict(rows) for s in ("validation", "test")}).save_to_disk(folder)
    with open(os.path.join(folder, "smoothclap.json"), "w") as f:
        json.dump({"corpus": "tiny", "labels": LABELS}, f)
    return folder


def test_seed_study_writes_one_table_with_the_verdict(tmp_path, corpus, capsys):
    runs = [{"seed": s, "reports": fake_reports(s), "probe": {"validation": 0.8, "test": 0.7}} for s in (3, 4)]
    study = demo.seed_study(runs, corpus, str(tmp_path))
    text = open(tmp_path / "demo_study.md").read()
    assert text.strip() in capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows] == ["| seed", "| 3", "| 4", "| mean of 2"]
    first = runs[0]["reports"]
    cells = rows[1].split(" | ")
    assert float(cells[1]) == pytest.approx(first["smoothclap"]["validation"]["uar"], abs=5e-4)
    assert float(cells[2]) == pytest.approx(first["paraclap"]["validation"]["uar"], abs=5e-4)
    test = study["comparison"]["test"]
    assert test["n_seeds"] == 2 and test["n_groups"] == 3 and test["ci"][0] > 0  # 0.9 vs 0.5 right: clear
    assert "Test: SmoothCLAP is ahead of ParaCLAP beyond noise" in text and len(study["seeds"]) == 2


def test_confusions_are_saved_as_png_and_text(tmp_path, capsys):
    out = demo.save_confusions(fake_reports(0), str(tmp_path))
    printed = capsys.readouterr().out
    for name in demo.MODELS:
        assert os.path.getsize(tmp_path / f"confusion_{name}_test.png") > 1000
        assert all("   " + line in printed for line in out[name]["text"].splitlines())  # printed, indented
        assert np.asarray(out[name]["matrix"]).sum() == 48 and set(out[name]["recall"]) == set(LABELS)


def test_choose_threads_sets_torch_to_one_or_all_cores():
    import torch

    cores = len(os.sched_getaffinity(0))
    chosen = choose_threads()
    assert chosen in {1, cores} and torch.get_num_threads() == chosen
    # all cores only when they time under threshold x one thread: never under 0x, always under 1e9x
    assert choose_threads(threshold=0.0) == 1 and torch.get_num_threads() == 1
    assert choose_threads(threshold=1e9) == cores and torch.get_num_threads() == cores


def _tiny_train(egemaps: bool = False):
    """8 tones of two loudness levels, with AVD, labels and (optionally) eGeMAPS columns."""
    import io

    import datasets
    import soundfile

    rng = np.random.default_rng(0)
    audio, labels = [], []
    for i in range(8):
        wave = (0.05 + 0.1 * (i % 2)) * np.sin(2 * np.pi * (150 + 30 * i) * np.arange(8000) / 16000)
        buffer = io.BytesIO()
        soundfile.write(buffer, (wave + 0.01 * rng.standard_normal(8000)).astype(np.float32), 16000, format="WAV")
        audio.append({"bytes": buffer.getvalue(), "path": None})
        labels.append(i % 2)
    columns = {"audio": audio, "label": labels, "arousal": [3.0 + i % 2 for i in range(8)],
               "valence": [4.0] * 4 + [5.0] * 4, "dominance": [float(i % 3) for i in range(8)]}
    if egemaps:  # 3 descriptors: one varying, one constant, one with a missing value
        columns["egemaps"] = [[float(i), 1.0, float("nan") if i == 3 else i / 2] for i in range(8)]
    return datasets.Dataset.from_dict(columns)


def test_encoder_fit_learns_the_labels_beside_avd():
    """encoder_label_weight > 0 adds the emotion labels' cross-entropy to the AVD regression
    (the total loss is larger than the MSE part); weight 0 is the AVD regression alone."""
    import dataclasses

    train = _tiny_train()
    tiny = dataclasses.replace(demo.FULL, encoder_epochs=1, encoder_batch_size=4, encoder_pitch_weight=0.0)
    _, _, with_labels = demo.fit_audio_encoder(train, tiny, seed=0)
    assert with_labels["final_train_loss"] > with_labels["final_train_mse"] > 0
    _, _, avd_only = demo.fit_audio_encoder(train, dataclasses.replace(tiny, encoder_label_weight=0.0), seed=0)
    assert avd_only["final_train_loss"] == pytest.approx(avd_only["final_train_mse"])


def test_encoder_fit_regresses_the_egemaps_descriptors_when_weighted():
    """encoder_egemaps_weight > 0 adds the standardised eGeMAPS regression (finite, even with a
    constant and a missing descriptor); without the column or at weight 0 it is left out."""
    import dataclasses

    import torch

    tiny = dataclasses.replace(demo.FULL, encoder_epochs=1, encoder_batch_size=4, encoder_label_weight=0.0,
                               encoder_pitch_weight=0.0)
    _, _, without = demo.fit_audio_encoder(_tiny_train(egemaps=True), tiny, seed=0)
    assert without["final_train_loss"] == pytest.approx(without["final_train_mse"])
    weighted = dataclasses.replace(tiny, encoder_egemaps_weight=1.0)
    model, _, with_egemaps = demo.fit_audio_encoder(_tiny_train(egemaps=True), weighted, seed=0)
    assert np.isfinite(with_egemaps["final_train_loss"])
    assert with_egemaps["final_train_loss"] > with_egemaps["final_train_mse"] > 0
    assert all(torch.isfinite(p).all() for p in model.parameters())
    _, _, no_column = demo.fit_audio_encoder(_tiny_train(), weighted, seed=0)
    assert no_column["final_train_loss"] == pytest.approx(no_column["final_train_mse"])


def test_thread_trial_keeps_the_faster_setting_of_each_window():
    trial = ThreadTrial(cores=2, every=10)
    seconds = {1: 0.3, 2: 1.2}  # a loaded machine: one thread is faster
    chosen = []
    for step in range(20):
        threads = trial.threads(step)
        chosen.append(threads)
        trial.record(step, threads, seconds[threads])
        if step == 9:
            seconds = {1: 0.3, 2: 0.1}  # the load has gone: all cores win the next window
    assert chosen[:4] == [1, 1, 2, 2] and set(chosen[4:10]) == {1}
    assert chosen[10:14] == [1, 1, 2, 2] and set(chosen[14:]) == {2}
    assert {ThreadTrial(cores=1).threads(s) for s in range(8)} == {1}


def test_another_voice_moves_gain_and_pitch_within_the_bounds():
    """The encoder's augmentation: a 200 Hz tone comes back with its pitch moved by at most
    +-2 semitones (its length by the same factor) and its level by at most x/÷1.25; off is
    the clip itself."""
    from smoothclap.demo.encoder import as_another_voice

    rate, wave = 16000, np.sin(2 * np.pi * 200 * np.arange(16000) / 16000).astype(np.float32)
    rng, moved = np.random.default_rng(0), set()
    for _ in range(20):
        out = as_another_voice(wave, rng, 1.25, 2.0)
        factor = len(wave) / len(out)
        assert 2 ** (-2 / 12) - 1e-3 <= factor <= 2 ** (2 / 12) + 1e-3
        peak = np.abs(np.fft.rfft(out)).argmax() * rate / len(out)
        assert peak == pytest.approx(200 * factor, abs=2.0)  # the pitch moved with the rate
        gain = np.abs(out).max() / np.abs(wave).max()
        assert 1 / 1.25 - 0.01 <= gain <= 1.25 + 0.01
        moved.add(round(factor, 4))
    assert len(moved) > 10  # drawn anew each call
    assert np.array_equal(as_another_voice(wave, rng, 1.0, 0.0), wave)


def test_per_speaker_standardized_takes_out_each_voice_baseline():
    from smoothclap.evaluation.study import per_speaker_standardized

    rng = np.random.default_rng(0)
    speakers = np.repeat(["a", "b", "c"], 20)
    label = np.tile([0, 1], 30)
    # each voice adds its own baseline (larger than the label's effect) and its own scale
    x = (label[:, None] + np.repeat([[5.0], [-3.0], [0.5]], 20, axis=0)) * np.repeat([[1.0], [3.0], [0.5]], 20, axis=0)
    x = x + 0.1 * rng.standard_normal(x.shape)
    out = per_speaker_standardized(x, speakers)
    for s in "abc":
        rows = speakers == s
        assert abs(out[rows].mean()) < 1e-9 and out[rows].std() == pytest.approx(1.0)
    # after it, one threshold separates the label across voices; before, none does
    assert ((out[:, 0] > 0) == label.astype(bool)).all()
    assert not ((x[:, 0] > np.median(x[:, 0])) == label.astype(bool)).all()


def test_pitch_bins_finds_a_tones_semitone_and_marks_silence_unvoiced():
    """The encoder's frame pitch targets: a 220 Hz tone is 24 semitones above 55 Hz, a 130.8 Hz
    tone 15 (C3), silence the unvoiced class; one target per encoder frame, at the frame rate."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from smoothclap.demo.encoder import PITCH_BINS, pitch_bins
    from smoothclap.demo.recipe import FRONT_ENDS, Recipe, encoder_config

    t = np.arange(16000) / 16000
    wave = np.concatenate([0.3 * np.sin(2 * np.pi * 220 * t), np.zeros(16000), 0.3 * np.sin(2 * np.pi * 130.8 * t)])
    for front_end in FRONT_ENDS:  # each front end's frames: the same seconds
        config = Wav2Vec2Config(**encoder_config(Recipe(encoder_front_end=front_end)))
        count = int(Wav2Vec2Model(config)._get_feat_extract_output_lengths(torch.tensor(len(wave))))
        bins = pitch_bins(wave.astype(np.float32), config, count)
        assert bins.shape == (count,) and count in (149, 150)  # 50 frames a second
        assert (bins[5:45] == 24).all() and (bins[55:95] == PITCH_BINS - 1).all(), front_end
        assert (bins[105:145] == 15).all(), front_end


def test_encoder_fit_learns_each_frames_pitch_when_weighted():
    """encoder_pitch_weight > 0 adds the frame-level pitch cross-entropy to the loss."""
    import dataclasses

    tiny = dataclasses.replace(demo.FULL, encoder_epochs=1, encoder_batch_size=4, encoder_label_weight=0.0,
                               encoder_pitch_weight=0.0)
    _, _, without = demo.fit_audio_encoder(_tiny_train(), tiny, seed=0)
    assert without["final_train_loss"] == pytest.approx(without["final_train_mse"])
    _, _, with_pitch = demo.fit_audio_encoder(_tiny_train(), dataclasses.replace(tiny, encoder_pitch_weight=1.0), seed=0)
    assert with_pitch["final_train_loss"] > with_pitch["final_train_mse"] > 0


def test_loudness_bins_step_3_db_and_put_silence_in_the_lowest_class():
    """The encoder's frame loudness targets: a sine of amplitude 0.3 is at -13.5 dBFS RMS
    (class 15 of 3 dB steps from -60), the same tone 6 dB quieter two classes lower, silence 0."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from smoothclap.demo.encoder import LOUDNESS_BINS, loudness_bins
    from smoothclap.demo.recipe import Recipe, encoder_config

    t = np.arange(16000) / 16000
    tone = np.sin(2 * np.pi * 220 * t)
    wave = np.concatenate([0.3 * tone, np.zeros(16000), 0.15 * tone]).astype(np.float32)
    config = Wav2Vec2Config(**encoder_config(Recipe()))
    count = int(Wav2Vec2Model(config)._get_feat_extract_output_lengths(torch.tensor(len(wave))))
    bins = loudness_bins(wave, config, count)
    assert bins.shape == (count,) and bins.max() < LOUDNESS_BINS
    assert (bins[5:45] == 15).all() and (bins[55:95] == 0).all() and (bins[105:145] == 13).all()


def test_encoder_fit_learns_each_frames_loudness_only_when_weighted():
    """encoder_loudness_weight > 0 adds the frame loudness cross-entropy; at 0 the fit is the
    pitch-only fit exactly (no head is made, so the random stream is not moved)."""
    import dataclasses

    tiny = dataclasses.replace(demo.FULL, encoder_epochs=1, encoder_batch_size=4, encoder_label_weight=0.0,
                               encoder_pitch_weight=0.0)
    _, _, without = demo.fit_audio_encoder(_tiny_train(), tiny, seed=0)
    _, _, with_loudness = demo.fit_audio_encoder(_tiny_train(), dataclasses.replace(tiny, encoder_loudness_weight=1.0),
                                                 seed=0)
    assert with_loudness["final_train_loss"] > with_loudness["final_train_mse"] > 0
    assert without["final_train_loss"] == pytest.approx(without["final_train_mse"])


def test_an_added_option_at_its_off_value_keeps_earlier_cache_keys():
    """settings_of (the encoder's and a seed's cache key) leaves out options added later at the
    value that changes nothing, so encoders fitted before them are reused; set, they count."""
    import dataclasses

    from smoothclap.demo.recipe import ADDED_OFF, settings_of

    assert not set(ADDED_OFF) & set(settings_of(demo.FULL))
    louder = dataclasses.replace(demo.FULL, encoder_loudness_weight=1.0)
    assert settings_of(louder)["encoder_loudness_weight"] == 1.0 and settings_of(louder) != settings_of(demo.FULL)
