"""Speaker normalisation (--speaker-norm): the function against the equation, the trainer's
route (cache normalised, statistics exported, bad options refused before any work), and the
evaluation's route (the same numbers as by hand; clip by clip when asked or when the column
is missing). Tiny models and generated audio."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from test_train_accelerate import flags, fresh_accelerate_state  # noqa: F401

from smoothclap.evaluation import speakers


def slow_reference(x, spk, mean_ref, std_ref):
    """z = (h - mean_s) / std_s * std_ref + mean_ref, per speaker with >= MIN_CLIPS rows, else h."""
    out = np.array(x, dtype=np.float64)
    for s in set(v for v in spk if v not in (None, "")):
        rows = [i for i, v in enumerate(spk) if v == s]
        if len(rows) < speakers.MIN_CLIPS:
            continue
        for d in range(out.shape[1]):
            col = [x[i][d] for i in rows]
            m = sum(col) / len(col)
            sd = (sum((c - m) ** 2 for c in col) / len(col)) ** 0.5
            for i in rows:
                out[i, d] = (x[i][d] - m) / (sd + speakers.EPS) * std_ref[d] + mean_ref[d]
    return out


def test_normalize_by_speaker_matches_the_equation_and_leaves_small_or_unknown_speakers():
    rng = np.random.default_rng(0)
    spk = ["a"] * 12 + ["b"] * 15 + ["c"] * 3 + [None, ""]  # c: too few clips; two without an id
    x = rng.normal(size=(len(spk), 5)) * rng.uniform(0.5, 3, size=5) + np.array([[4.0] * 5] * 12 + [[-2.0] * 5] * 20)
    reference = speakers.reference_statistics(torch.tensor(x[:27]))
    z, report = speakers.normalize_by_speaker(torch.tensor(x), spk, reference)
    np.testing.assert_allclose(z.numpy(), slow_reference(x, spk, reference["mean"], reference["std"]), atol=1e-9)
    assert report["speakers"] == 2 and report["rows_left_as_is"] == 5 and "c" in report["left_as_is"]
    np.testing.assert_array_equal(z.numpy()[27:], x[27:])  # left as they are
    # a speaker's rows come out with the reference's mean and spread, whatever its own baseline
    np.testing.assert_allclose(z.numpy()[:12].mean(0), reference["mean"], atol=1e-9)
    np.testing.assert_allclose(z.numpy()[12:27].std(0), reference["std"], rtol=1e-5)  # EPS in the divisor
    with pytest.raises(ValueError, match="3-dim statistics; the features are 5-dim"):
        speakers.normalize_by_speaker(torch.tensor(x), spk, {"mean": [0.0] * 3, "std": [1.0] * 3})


@pytest.fixture(scope="module")
def voices_data(tmp_path_factory):
    """train 3 voices x 12 clips, validation 3 x 10, test 3 x 4 (fewer than MIN_CLIPS)."""
    from synthetic_data import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("voices") / "voices",
                                   splits={"train": 36, "validation": 30, "test": 12}, seconds=(0.4, 0.8))


def test_training_normalises_the_cache_and_exports_the_statistics(voices_data, tiny_smoothclap, tmp_path, capsys):
    import smoothclap.training.trainer as trainer

    out = tmp_path / "run"
    results = trainer.main(flags(voices_data, tiny_smoothclap, out, "--epochs", "1", "--max-steps", "2",
                                 "--speaker-norm", "speaker", cache_dir=tmp_path / "cache"))
    log = capsys.readouterr().out
    assert "speaker normalisation: 3 speaker(s)" in log and log.count("speaker normalisation:") == 2
    config = json.loads((out / "model" / "config.json").read_text())
    stats = config["speaker_normalization"]
    hidden = config["audio_config"]["hidden_size"]
    assert stats["column"] == "speaker" and len(stats["mean"]) == len(stats["std"]) == hidden
    assert stats["min_clips"] == speakers.MIN_CLIPS and min(stats["std"]) > 0
    assert json.loads((out / "model" / "training_args.json").read_text())["speaker_norm"] == "speaker"
    assert results["model_dir"]


@pytest.mark.parametrize("extra, message", [
    (["--speaker-norm", "voice"], "--speaker-norm voice: the train split has no such column (its columns: id, "),
    (["--speaker-norm", "speaker", "--no-feature-cache"], "--speaker-norm speaker works on the feature cache"),
])
def test_bad_speaker_norm_is_one_error_before_any_work(extra, message, voices_data, tiny_smoothclap, tmp_path):
    import smoothclap.training.trainer as trainer
    from smoothclap.training.config import TrainingConfigError

    with pytest.raises(TrainingConfigError, match=message.replace("(", r"\(")):
        trainer.main(flags(voices_data, tiny_smoothclap, tmp_path / "run", *extra))
    assert not (tmp_path / "run").exists()  # refused before the output folder, the model or a cache


@pytest.fixture(scope="module")
def normalised_model(voices_data, tiny_smoothclap, tmp_path_factory):
    import smoothclap.training.trainer as trainer
    from processes import reset_accelerate_state

    out = tmp_path_factory.mktemp("spk") / "run"
    trainer.main(flags(voices_data, tiny_smoothclap, out, "--epochs", "1", "--max-steps", "2",
                       "--speaker-norm", "speaker"))
    reset_accelerate_state()
    return str(out / "model")


def test_evaluation_per_speaker_is_the_equation_through_the_model(voices_data, normalised_model):
    from smoothclap.evaluation.data import load_eval_set
    from smoothclap.evaluation.predict import evaluate_model, label_embeddings, load_model
    from smoothclap.models.audio_smoothclap import load_audio
    from smoothclap.models.pipeline_smoothclap import logit_multiplier

    model, processor = load_model(normalised_model)
    eval_set = load_eval_set(voices_data, split="validation")
    report = evaluate_model(model, processor, eval_set, batch_size=4, bootstrap=10, progress=False)
    assert report["speaker_normalization"]["mode"] == "speaker" and report["speaker_normalization"]["speakers"] == 3
    with torch.no_grad():  # by hand: each clip alone through the encoder, then the equation, then the head
        pooled = torch.cat([model.pooled_audio(processor(audio=[load_audio(a)], sampling_rate=16000,
                                                         return_tensors="pt")["input_values"])
                            for a in eval_set.dataset["audio"]])
        z = slow_reference(pooled.double().numpy(), list(eval_set.dataset["speaker"]),
                           *(model.config.speaker_normalization[k] for k in ("mean", "std")))
        embeds = model.get_audio_features(pooled_audio_features=torch.tensor(z, dtype=torch.float32)).pooler_output
        labels = label_embeddings(model, processor, eval_set.texts)
        logits = (logit_multiplier(model) * embeds @ labels.T).numpy()
    got = np.array([row["logits"] for row in report["_rows"]])
    np.testing.assert_allclose(got, logits, atol=2e-4)
    clip = evaluate_model(model, processor, eval_set, batch_size=4, bootstrap=10, progress=False, speaker_norm="off")
    assert clip["speaker_normalization"] == {"mode": "clip", "why": "--speaker-norm off"}
    assert not np.allclose(np.array([row["logits"] for row in clip["_rows"]]), logits, atol=1e-3)


def test_evaluation_without_the_column_says_it_scored_clip_by_clip(voices_data, normalised_model):
    from smoothclap.evaluation import EvaluationError
    from smoothclap.evaluation.data import load_eval_set
    from smoothclap.evaluation.predict import evaluate_model, load_model

    model, processor = load_model(normalised_model)
    eval_set = load_eval_set(voices_data, split="test")
    eval_set.dataset = eval_set.dataset.remove_columns("speaker")
    report = evaluate_model(model, processor, eval_set, batch_size=4, bootstrap=10, progress=False)
    assert report["speaker_normalization"]["mode"] == "clip"
    assert "no 'speaker' column" in report["speaker_normalization"]["why"]
    with pytest.raises(EvaluationError, match="speaker normalisation scores whole clips"):
        evaluate_model(model, processor, load_eval_set(voices_data, split="test"), window=0.5, progress=False)


def test_fine_tuning_a_normalised_model_without_the_flag_drops_it(voices_data, normalised_model, tmp_path, capsys):
    """The exported config must describe the run that trained the heads: --model trained per
    speaker, this run clip by clip -> no speaker_normalization in the export, and the log says so."""
    import smoothclap.training.trainer as trainer

    out = tmp_path / "again"
    trainer.main(flags(voices_data, normalised_model, out, "--epochs", "1", "--max-steps", "1",
                       cache_dir=tmp_path / "cache"))
    assert "speaker normalisation: off in this run (--model was trained with --speaker-norm speaker" in \
        capsys.readouterr().out
    assert json.loads((out / "model" / "config.json").read_text()).get("speaker_normalization") is None


def test_the_training_cache_counts_clips_not_windows():
    """A speaker with 4 clips of 5 cached windows each (20 rows) has fewer than MIN_CLIPS clips:
    left as it is, as at evaluation (one row per clip); every window of a clip gets its speaker."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    spk = ["a"] * 12 + ["b"] * 4  # clips
    index = torch.arange(len(spk) * 5).reshape(len(spk), 5)  # 5 distinct windows per clip
    audio = torch.tensor(rng.normal(size=(len(spk) * 5, 3)) + np.repeat([[5.0]] * 12 + [[-5.0]] * 4, 5, axis=0))
    cache = SimpleNamespace(index=index, audio=audio.clone(), path="mem")
    reference = speakers.normalize_cache(cache, spk, log=lambda *_: None)
    assert torch.equal(cache.audio[60:], audio[60:])  # b: 4 clips, left as is
    np.testing.assert_allclose(cache.audio[:60].mean(0).numpy(), reference["mean"], atol=1e-9)


def test_classify_says_it_scores_a_normalised_model_clip_by_clip(normalised_model, tmp_path, capsys):
    import soundfile

    from conftest import tone
    from smoothclap.inference import classify_corpus

    soundfile.write(tmp_path / "a.wav", tone(220.0, 0.6), 16000)
    summary = classify_corpus([str(tmp_path / "a.wav")], ["neutral", "happy"], normalised_model,
                              str(tmp_path / "out.jsonl"), progress=False, num_workers=0)
    assert summary["rows"] == 1 and summary["failed"] == 0
    assert "trained with speaker normalisation (--speaker-norm speaker); classify scores each clip alone" in \
        capsys.readouterr().err


def test_a_pooled_cache_runs_a_shared_encoder_once_with_the_same_logits(voices_data, normalised_model):
    """``pooled_cache``: two models with the same frozen audio encoder, per speaker and clip by
    clip, run the encoder once per dataset and give the uncached logits; a model whose encoder
    differs, or windows, run it again."""
    from smoothclap.evaluation.data import load_eval_set
    from smoothclap.evaluation.predict import evaluate_model, load_model

    first, processor = load_model(normalised_model)
    second, _ = load_model(normalised_model)
    with torch.no_grad():  # another text side and head: only the audio encoder is shared
        for p in second.audio_projection.parameters():
            p.mul_(-1.0)
    calls = []
    for model in (first, second):
        model.audio_model.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))

    def logits(report):
        return np.array([row["logits"] for row in report["_rows"]])

    kwargs = dict(batch_size=4, bootstrap=10, progress=False)
    plain = {(i, mode): logits(evaluate_model(m, processor, load_eval_set(voices_data, split="validation"),
                                              speaker_norm=mode, **kwargs))
             for i, m in enumerate((first, second)) for mode in ("auto", "off")}
    assert sum(calls) == 4 * 30
    calls.clear()
    cache = {}
    for (i, mode), expected in plain.items():
        got = logits(evaluate_model((first, second)[i], processor, load_eval_set(voices_data, split="validation"),
                                    speaker_norm=mode, pooled_cache=cache, **kwargs))
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert sum(calls) == 30 and len(cache) == 1  # one pass over the 30 clips for all four
    assert not np.allclose(plain[(0, "auto")], plain[(1, "auto")], atol=1e-3)
    with torch.no_grad():
        next(second.audio_model.parameters()).add_(0.01)
    evaluate_model(second, processor, load_eval_set(voices_data, split="validation"), pooled_cache=cache, **kwargs)
    evaluate_model(first, processor, load_eval_set(voices_data, split="validation"), window=0.5, hop=0.5,
                   speaker_norm="off", pooled_cache=cache, **kwargs)
    assert sum(calls) > 2 * 30 and len(cache) == 2
