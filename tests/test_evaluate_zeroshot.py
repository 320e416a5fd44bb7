"""evaluate_zeroshot.py: the runner on a tiny model whose predictions are set by hand, on a
fixture corpus built by smoothclap.data; ensembles, windows, 1 == 2 processes, bad input.

The fixture corpus: four label folders of generated tones; each tone frequency is one
"voice". The tiny model's projection heads are solved so that a clip of tone f maps onto
the query text of f's label. Some clips of `happy` are `angry` tones and some of `sad` are
`neutral` tones, so the confusion matrix is known before the run:

    true \\ pred  angry happy neutral sad
    angry            6     0     0      0
    happy            2     4     0      0
    neutral          0     0     6      0
    sad              0     0     3      3        UAR = (1 + 4/6 + 1 + 3/6) / 4
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import ROOT, tiny_model, tiny_processor, tone

LABELS = ["angry", "happy", "neutral", "sad"]
FREQ = {"angry": 150.0, "happy": 400.0, "neutral": 1000.0, "sad": 2500.0}
EXPECTED_CM = [[6, 0, 0, 0], [2, 4, 0, 0], [0, 0, 6, 0], [0, 0, 3, 3]]
EXPECTED_UAR = (1 + 4 / 6 + 1 + 3 / 6) / 4


def _plan():
    """(label, tone label, seconds, seed) per clip."""
    plan = []
    for li, label in enumerate(LABELS):
        for k in range(6):
            tone_label = label
            if label == "happy" and k < 2:
                tone_label = "angry"
            if label == "sad" and k < 3:
                tone_label = "neutral"
            plan.append((label, tone_label, 0.4 + 0.08 * k, 10 * li + k))
    return plan


def _set_head(head, inputs, targets):
    """linear1 maps inputs to targets (least squares); the residual branch off; plain LayerNorm."""
    with torch.no_grad():
        head.linear1.weight.copy_(torch.linalg.lstsq(inputs.double(), targets.double()).solution.T.float())
        head.linear2.weight.zero_()
        head.layer_norm.weight.fill_(1.0)
        head.layer_norm.bias.zero_()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """(raw folder-per-label corpus, the same built by smoothclap.data)."""
    from smoothclap.data import build

    root = tmp_path_factory.mktemp("tones")
    raw = root / "raw"
    for label, tone_label, seconds, seed in _plan():
        (raw / label).mkdir(parents=True, exist_ok=True)
        sf.write(raw / label / f"c{seed:02d}.wav", tone(FREQ[tone_label], seconds, seed=seed), 16000)
    built = root / "built"
    build("folder", raw, built, features=False)
    return raw, built


@pytest.fixture(scope="session")
def controlled(tmp_path_factory, corpus):
    """(model, processor, saved folder): predictions set by the heads (see module docstring)."""
    raw, _ = corpus
    model, processor = tiny_model(), tiny_processor()
    with torch.no_grad():
        pooled = {}
        for label, tone_label, seconds, seed in _plan():
            wave, _ = sf.read(raw / label / f"c{seed:02d}.wav", dtype="float32")
            enc = processor(audio=wave, sampling_rate=16000)
            pooled.setdefault(tone_label, []).append(
                model.pooled_audio(enc["input_values"], enc["audio_attention_mask"])[0])
        means = torch.stack([torch.stack(pooled[label]).mean(0) for label in LABELS])
        enc = processor(text=[f"this person is feeling {label}." for label in LABELS])
        texts = model.pooled_text(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"))
    targets = 10 * torch.eye(model.config.projection_dim)[: len(LABELS)]
    _set_head(model.text_projection, texts, targets)
    _set_head(model.audio_projection, means, targets)
    folder = tmp_path_factory.mktemp("controlled") / "model"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model, processor, folder


def _run(args):
    import smoothclap.evaluation.evaluate as evaluate_zeroshot

    return evaluate_zeroshot.main([str(a) for a in args])


RUNNER_ARGS = ["--batch-size", "5", "--bootstrap", "200", "--no-progress"]  # 24 clips: uneven batches


@pytest.fixture(scope="session")
def runner_run(controlled, corpus, tmp_path_factory):
    """One run of the CLI on the built corpus and on the raw folder: (results, out dir, stdout)."""
    import contextlib
    import io

    _, _, folder = controlled
    raw, built = corpus
    out = tmp_path_factory.mktemp("runner") / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        results = _run(["--model", folder, "--dataset", built, "--dataset", raw, "--output-dir", out] + RUNNER_ARGS)
    return results, out, stdout.getvalue()


def test_runner_exact_confusion_matrix(runner_run):
    results, out, stdout = runner_run
    saved = json.loads((out / "results.json").read_text())
    assert set(saved) == {"folder/default", "folder/raw"}  # built corpus, then the raw folder
    for key in saved:
        r = saved[key]
        assert r["labels"] == LABELS
        assert r["confusion_matrix"] == EXPECTED_CM
        assert r["uar"] == pytest.approx(EXPECTED_UAR)
        assert r["wa"] == pytest.approx(19 / 24)
        assert r["n_scored"] == r["n_total"] == 24
        assert r["uar_ci95"][0] < EXPECTED_UAR < r["uar_ci95"][1]
        assert (out / r["confusion_png"]).stat().st_size > 5000
        assert results[key]["uar"] == r["uar"]
    assert "| folder/default | full | 4 | 24/24 | .792 |" in stdout
    assert (out / "results.md").read_text().strip() == stdout.strip()


def test_zero_shot_predict_matches_the_pipeline_scores(controlled, corpus):
    """The trainer's entry point: same logits as the custom pipeline, dataset order kept."""
    import datasets

    from smoothclap.evaluation.evaluate import label_embeddings, zero_shot_predict
    from smoothclap.models.pipeline_smoothclap import logit_multiplier

    model, processor, _ = controlled
    _, built = corpus
    ds = datasets.load_from_disk(str(built))["full"]
    texts = [f"this person is feeling {label}." for label in LABELS]
    embeds = label_embeddings(model, processor, texts)
    preds = zero_shot_predict(model, processor, ds, embeds, batch_size=3, progress=False)
    from smoothclap.models.audio_smoothclap import load_audio

    with torch.no_grad():
        row = ds[5]
        enc = processor(audio=load_audio(row["audio"]), sampling_rate=16000)
        a = torch.nn.functional.normalize(model.get_audio_features(**enc).pooler_output, dim=-1)
        expected = (logit_multiplier(model) * a @ embeds.T)[0]
    np.testing.assert_allclose(preds.logits[5], expected.numpy(), atol=1e-5)
    assert preds.scored.all() and len(preds.predictions) == len(ds)


def test_template_ensemble_is_mean_of_normalised_embeddings(controlled):
    from smoothclap.evaluation.evaluate import label_embeddings

    model, processor, _ = controlled
    t1, t2 = "this person is feeling {}.", "the speaker sounds {}"
    e1 = label_embeddings(model, processor, LABELS, [t1])
    e2 = label_embeddings(model, processor, LABELS, [t2])
    ens = label_embeddings(model, processor, LABELS, [t1, t2])
    expected = torch.nn.functional.normalize(e1 + e2, dim=-1)
    # 1e-4: the ensemble embeds 16 sentences in one batch, padded to another length than the
    # two 8-sentence batches (float noise ~1e-5); an unnormalised or unweighted mean is off by ~1e-2
    torch.testing.assert_close(ens, expected, atol=1e-4, rtol=0)
    assert not torch.allclose(e1, e2, atol=1e-3)  # the templates really differ
    torch.testing.assert_close(ens.norm(dim=-1), torch.ones(len(LABELS)))


def test_window_pooling(controlled):
    from smoothclap.models.pipeline_smoothclap import audio_embeddings, window_bounds

    model, processor, _ = controlled
    assert window_bounds(10, 4, 3) == [(0, 4), (3, 7), (6, 10)]
    assert window_bounds(11, 4, 4) == [(0, 4), (4, 8), (7, 11)]  # tail window ends at the clip's end
    assert window_bounds(3, 4, 2) == [(0, 3)]
    with pytest.raises(ValueError, match="hop <= window"):
        window_bounds(10, 4, 5)
    long = np.concatenate([tone(150, 1.0), tone(2500, 1.5, seed=1)])  # 2.5 s
    pooled = audio_embeddings(model, processor, [long], window=1.0, hop=0.75)
    pieces = [long[s:e] for s, e in window_bounds(len(long), 16000, 12000)]
    assert len(pieces) == 3
    each = audio_embeddings(model, processor, pieces)
    torch.testing.assert_close(pooled[0], torch.nn.functional.normalize(each.sum(0), dim=0), atol=1e-5, rtol=0)
    whole = audio_embeddings(model, processor, [long])
    assert not torch.allclose(pooled, whole, atol=1e-3)  # windows change the embedding
    # batching and order do not change embeddings (padding is masked)
    both = audio_embeddings(model, processor, [pieces[0][:9000], long], batch_size=2)
    torch.testing.assert_close(both[1], whole[0], atol=1e-5, rtol=0)


def test_one_process_equals_two_processes(controlled, corpus, runner_run, tmp_path):
    """The runner under a real 2-process launch (torchrun, gloo on CPU) gives the same
    logits, predictions and numbers as one process; 24 clips in batches of 5 do not divide
    evenly over 2 processes, so gather_for_metrics must drop the padding rows."""
    _, _, folder = controlled
    _, built = corpus
    one, one_dir, _ = runner_run
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(ACCELERATE_USE_CPU="true", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           os.path.join(ROOT, "evaluate_zeroshot.py"), "--model", str(folder), "--dataset", str(built),
                           "--output-dir", str(tmp_path / "two")] + RUNNER_ARGS,
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "results.json").read_text())["folder/default"]
    assert two["num_processes"] == 2 and one["folder/default"]["num_processes"] == 1
    for key in ("uar", "wa", "macro_f1", "uar_ci95", "confusion_matrix", "n_scored", "n_total"):
        assert two[key] == one["folder/default"][key], key
    rows = [[json.loads(line) for line in (d / "predictions_folder_default.jsonl").open()]
            for d in (one_dir, tmp_path / "two")]
    assert [r["id"] for r in rows[0]] == [r["id"] for r in rows[1]] and len(rows[0]) == 24
    np.testing.assert_allclose([r["logits"] for r in rows[1]], [r["logits"] for r in rows[0]], atol=1e-5)


def test_failing_clip_is_reported_and_counted(controlled, corpus, tmp_path, capsys):
    import datasets

    _, _, folder = controlled
    _, built = corpus
    ds = datasets.load_from_disk(str(built))["full"].select(range(0, 24, 3))  # 8 clips, every label
    broken_id = ds[5]["id"]
    ds = ds.map(lambda row, i: {"audio": {"bytes": b"not audio" if i == 5 else row["audio"]["bytes"],
                                          "path": row["audio"]["path"]}}, with_indices=True)
    bad = tmp_path / "broken"
    datasets.DatasetDict({"full": ds}).save_to_disk(str(bad))
    shutil.copy(built / "smoothclap.json", bad / "smoothclap.json")
    results = _run(["--model", folder, "--dataset", bad, "--output-dir", tmp_path / "out", "--bootstrap", "20",
                    "--no-progress"])
    r = results["folder/default"]
    assert (r["n_scored"], r["n_total"]) == (7, 8)
    assert [f["id"] for f in r["failures"]] == [broken_id]
    captured = capsys.readouterr()
    assert f"clip {broken_id} failed" in captured.err and "| 7/8 |" in captured.out


def test_texts_override(controlled, corpus, tmp_path):
    _, _, folder = controlled
    _, built = corpus
    # swap the texts of angry and happy: their clips now go to the other label
    texts = {label: f"this person is feeling {label}." for label in LABELS}
    texts["angry"], texts["happy"] = texts["happy"], texts["angry"]
    results = _run(["--model", folder, "--dataset", built, "--output-dir", tmp_path / "o", "--bootstrap", 20,
                    "--no-progress", "--texts", "folder=" + json.dumps(texts)])
    assert results["folder/default"]["confusion_matrix"][:2] == [[0, 6, 0, 0], [4, 2, 0, 0]]


def test_update_model_card_and_paper_table(runner_run, tmp_path):
    import yaml

    import smoothclap.evaluation.evaluate as ez

    results = {"folder/default": runner_run[0]["folder/default"]}
    card = tmp_path / "card.md"
    card.write_text("---\nlicense: apache-2.0\n---\n\n# Card\n\ntext\n")
    ez.update_model_card(card, results, "tiny")
    ez.update_model_card(card, results, "tiny")  # twice: replaced, not appended
    text = card.read_text()
    meta = yaml.safe_load(text.split("---")[1])
    entries = meta["model-index"][0]["results"]
    assert len(entries) == 1 and meta["license"] == "apache-2.0"
    metrics = {m["type"]: m["value"] for m in entries[0]["metrics"]}
    assert metrics["uar"] == pytest.approx(EXPECTED_UAR, abs=1e-4)
    assert text.count(ez.RESULTS_START) == 1 and "# Card" in text and "| .792 |" in text
    demo = {"demo/default": dict(results["folder/default"], splits=["test"])}
    ez.update_model_card(card, demo, "tiny")
    text = card.read_text()
    assert "SYNTHETIC" in text and text.count(ez.RESULTS_START) == 1
    assert len(yaml.safe_load(text.split("---")[1])["model-index"][0]["results"]) == 2  # both datasets kept
    fake = {"iemocap/default": {"splits": ["session1"], "labels": LABELS, "n_scored": 10, "n_total": 10,
                                "uar": 0.5, "uar_ci95": [0.4, 0.6], "wa": 0.5, "macro_f1": 0.5}}
    assert "| IEMOCAP (4cl/en) | session1 | 4 | 10/10 | .500 | .400–.600 | .500 | .500 | unknown | .606 | .600 |" in \
        ez.markdown_table(fake, paper=True)


@pytest.mark.parametrize("case, match", [
    ("template", "must contain '{}'"),
    ("not_a_folder", "is not a folder"),
    ("datasets_without_meta", "without smoothclap.json"),
    ("missing_model", "not found"),
    ("model_without_code", "lacks"),
    ("texts_unknown_dataset", "unknown dataset"),
    ("texts_missing_label", "no text for labels"),
    ("labels_not_in_map", "not in its label-text map"),
    ("bad_split", "not in this dataset"),
])
def test_bad_input(case, match, controlled, corpus, tmp_path, capsys):
    _, _, folder = controlled
    _, built = corpus
    model, dataset, extra = str(folder), str(built), []
    if case == "template":
        extra = ["--template", "this person is feeling"]
    elif case == "not_a_folder":
        dataset = "iemocap"
    elif case == "datasets_without_meta":
        dataset = str(tmp_path / "copy")
        shutil.copytree(built, dataset)
        os.remove(os.path.join(dataset, "smoothclap.json"))
    elif case == "missing_model":
        model = str(tmp_path / "nowhere")
    elif case == "model_without_code":
        model = str(tmp_path / "nocode")
        shutil.copytree(folder, model)
        os.remove(os.path.join(model, "modeling_smoothclap.py"))
    elif case == "texts_unknown_dataset":
        extra = ["--texts", 'iemocap={"angry": "x"}']
    elif case == "texts_missing_label":
        extra = ["--texts", 'folder={"angry": "x"}']
    elif case == "labels_not_in_map":
        dataset = str(tmp_path / "copy")
        shutil.copytree(built, dataset)
        meta = json.loads((built / "smoothclap.json").read_text())
        meta["labels"], meta["query_texts"] = LABELS[:3], meta["query_texts"][:3]
        (tmp_path / "copy" / "smoothclap.json").write_text(json.dumps(meta))
    elif case == "bad_split":
        extra = ["--split", "test"]
    with pytest.raises(SystemExit) as exit_info:
        _run(["--model", model, "--dataset", dataset, "--output-dir", tmp_path / "o", "--no-progress"] + extra)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err and "Traceback" not in err


def test_auto_split_scores_held_out_speakers_where_the_corpus_has_them():
    """--split auto: the paper's split; RAVDESS/CREMA-D/TESS, which the paper scores whole, built
    with --option split=speaker:... score their test split, not the clips a fine-tune trained on."""
    from smoothclap.evaluation.data import _choose_splits

    sessions = {f"session{i}": None for i in range(1, 6)}
    assert _choose_splits({"all": None}, "ravdess", "auto") == ["all"]
    assert _choose_splits({"train": None, "validation": None, "test": None}, "crema_d", "auto") == ["test"]
    assert _choose_splits(sessions, "iemocap", "auto") == list(sessions)
    assert _choose_splits({"train": None, "test": None}, "fau_aibo", "auto") == ["test"]
    assert _choose_splits({"train": None, "validation": None, "test": None}, "tess", "all") == [
        "train", "validation", "test"]
