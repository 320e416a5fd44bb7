"""demo.py's own parts: the AVD-fitted audio encoder (loudness kept, reuse), the zero-shot
query check, the last step's one clip per emotion, the command line. The whole demo runs in
tests/test_packaging.py (--quick)."""

import io
import json
import os

import numpy as np
import pytest

from conftest import tiny_model, tiny_processor, tone

import smoothclap.demo as demo


def wav_bytes(wave, sr=16000):
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, wave, sr, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def tiny_corpus(folder, n=8):
    """A built-corpus look-alike: a `train` split with audio bytes and AVD ratings whose
    arousal follows the level, plus smoothclap.json."""
    import datasets

    rows = {"id": [], "audio": [], "arousal": [], "valence": [], "dominance": []}
    for i in range(n):
        level = 0.05 + 0.3 * (i % 4) / 3
        rows["id"].append(f"clip{i}")
        rows["audio"].append({"bytes": wav_bytes(level / 0.3 * tone(150 + 20 * i, 0.6, seed=i)), "path": None})
        rows["arousal"].append(2.0 + 4 * (i % 4) / 3)
        rows["valence"].append(float(3 + i % 2))
        rows["dominance"].append(float(2 + i % 3))
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)}).save_to_disk(folder)
    with open(os.path.join(folder, "smoothclap.json"), "w") as f:
        json.dump({"corpus": "tiny", "labels": ["a", "b"]}, f)
    return folder


TINY = demo.Recipe(encoder_epochs=1, encoder_batch_size=4)


def test_encoder_is_fitted_saved_and_reused(tmp_path, capsys):
    from transformers import AutoFeatureExtractor, AutoModel

    corpus = tiny_corpus(str(tmp_path / "corpus"))
    folder = demo.audio_encoder(corpus, TINY, seed=3, cache_dir=str(tmp_path / "cache"))
    model = AutoModel.from_pretrained(folder)  # a stock HF class: SmoothClapModel and the pipeline load it
    assert type(model).__name__ == "Wav2Vec2Model" and model.config.hidden_size == 128
    assert AutoFeatureExtractor.from_pretrained(folder).do_normalize is False
    marker = json.load(open(os.path.join(folder, "demo_encoder.json")))
    assert np.isfinite(marker["final_train_mse"])
    weights = os.path.join(folder, "model.safetensors")
    stamp = os.path.getmtime(weights)

    assert demo.audio_encoder(corpus, TINY, seed=3, cache_dir=str(tmp_path / "cache")) == folder
    assert "reusing" in capsys.readouterr().out and os.path.getmtime(weights) == stamp
    other = demo.audio_encoder(corpus, TINY, seed=4, cache_dir=str(tmp_path / "cache"))
    assert other != folder and os.path.isdir(other)  # another seed: another encoder


def test_encoder_input_keeps_loudness():
    """The demo's extractor passes the level through (the acted emotions differ in loudness):
    a clip and a quieter copy get different pooled states; with do_normalize=True (the
    usual wav2vec2 setting) they would be identical."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config(**demo.encoder_config(demo.FULL))).eval()
    clip = tone(180, 0.8)
    for normalize, level_visible in ((False, True), (True, False)):
        extractor = Wav2Vec2FeatureExtractor(do_normalize=normalize)
        (_, values, mask), = demo.encoder_batches(extractor, [clip, 0.2 * clip], [0, 1], 2)
        with torch.no_grad():
            loud, quiet = demo.pooled(model, values, mask)
        assert (not torch.allclose(loud, quiet, atol=1e-4)) == level_visible


def test_query_wording_must_be_unseen(tmp_path):
    import datasets

    folder = str(tmp_path / "corpus")
    rows = {"tag_sentences": [["speaker is angry", "has a high pitch"]], "caption": ["speaker is angry"]}
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)}).save_to_disk(folder)
    demo.unseen_query_check(folder, ["this person is feeling angry."])
    with pytest.raises(RuntimeError, match="speaker is angry"):
        demo.unseen_query_check(folder, ["speaker is angry."])


def test_command_line_documents_quick_mode_and_cache():
    args = demo.parse_args(["--output", "out", "--quick"])
    assert args.quick and args.cache_dir == os.path.join("out", "cache") and args.seed == 0
    assert demo.QUICK.clap_epochs <= demo.FULL.clap_epochs and demo.QUICK.corpus_options


def test_last_step_answers_the_first_test_clip_of_each_emotion(tmp_path, capsys):
    """Step 5: the shipped pipeline on the FIRST test clip of each label, in the labels' order (a fixed rule,
    no choosing), every answer printed right or wrong and recorded as the pipeline gives it."""
    import datasets
    import torch
    from transformers import pipeline

    emotions = ["sad", "angry", "sad", "neutral", "happy", "angry", "neutral"]
    rows = {"id": [f"t{i}" for i in range(len(emotions))], "emotion": emotions,
            "speaker": ["v9"] * len(emotions), "duration": [0.5 + 0.1 * i for i in range(len(emotions))],
            "audio": [{"bytes": wav_bytes(tone(140 + 60 * i, 0.5 + 0.1 * i, seed=i)), "path": None}
                      for i in range(len(emotions))]}
    corpus = str(tmp_path / "corpus")
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows)}).save_to_disk(corpus)
    labels = ["neutral", "happy", "angry", "sad", "fearful"]  # no fearful clip in the test split
    with open(os.path.join(corpus, "smoothclap.json"), "w") as f:
        json.dump({"corpus": "tiny", "labels": labels}, f)
    assert demo.first_test_clip_per_label(corpus) == [("neutral", 3), ("happy", 4), ("angry", 1), ("sad", 0),
                                                      ("fearful", None)]
    model = tiny_model(seed=3)
    with torch.no_grad():  # a sharp scale, so that the answers differ between clips
        model.logit_scale.log_scale.fill_(np.log(100.0))
    folder = str(tmp_path / "model")
    model.save_pretrained(folder)
    tiny_processor().save_pretrained(folder)

    examples = demo.classify_one_clip_per_emotion(folder, corpus)
    out = capsys.readouterr().out
    answers = [line.strip() for line in out.splitlines() if "->" in line]
    assert [e["id"] for e in examples] == ["t3", "t4", "t1", "t0"] and "fearful: no test clip" in out
    clf = pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True)
    for example, line in zip(examples, answers, strict=True):
        ref = clf(rows["audio"][int(example["id"][1:])], candidate_labels=labels,
                  hypothesis_template="this person is feeling {}.")[0]
        assert example["predicted"] == ref["label"] and example["score"] == pytest.approx(ref["score"], abs=1e-4)
        assert example["right"] == (ref["label"] == example["emotion"])
        verdict = "right" if example["right"] else "wrong"
        assert line.startswith(f"{example['emotion']} clip -> {ref['label']} {ref['score']:.2f} ({verdict})")
    assert f"{sum(e['right'] for e in examples)} of 4 right" in out

    scores = {name: {"validation_uar": 0.5, "test_uar": 0.4} for name in demo.MODELS}
    results = json.load(open(demo.write_results(str(tmp_path), scores, 12.0, examples)))
    assert results["pipeline_examples"] == examples and results["seconds"] == 12.0
