"""The web demo's logic, in process (space/app.py; the page in a real browser:
tests/test_space_browser.py): input parsing, the errors the page shows, the model's own pipeline
answers, the examples' sources, the command line."""

import glob
import importlib.util
import os
import shutil
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, tone

APP_PATH = os.path.join(ROOT, "space", "app.py")


def load_app_module():
    """space/app.py as a Space runs it: a file on its own, not a module of the repository."""
    spec = importlib.util.spec_from_file_location("space_app_under_test", APP_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def classify_fn(page):
    """The Classify button's function, as gradio calls it (the API's /classify)."""
    return next(block_fn.fn for block_fn in page.fns.values() if block_fn.api_name == "classify")


@pytest.fixture(scope="module")
def app():
    return load_app_module()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("space-clip") / "clip.wav"
    sf.write(str(path), tone(), 16000)
    return str(path)


@pytest.fixture(scope="module")
def classifier(app, tiny_smoothclap):
    clf = app.Classifier(tiny_smoothclap)
    assert clf.error is None, clf.error
    return clf


def test_app_imports_only_what_a_space_installs():
    """A Space holds space/ and the model repo: no module of this repository may be imported
    (space/'s own second file, smoothclap_app_checks.py, is part of the Space)."""
    import ast

    names, own = set(), set()
    for path in sorted(glob.glob(os.path.join(ROOT, "space", "*.py"))):
        own.add(os.path.basename(path)[:-3])
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path} must not use relative imports (it runs as a plain file)"
                names.add(node.module.split(".")[0])
    third_party = names - set(sys.stdlib_module_names) - {"__future__"} - own
    # pyarrow: only to read a local demo corpus (where the project, hence datasets, is installed);
    # gradio_client: installed with gradio (the examples' cached copies are named by its rules)
    assert third_party == {"gradio", "gradio_client", "transformers", "numpy", "soundfile", "pyarrow"}, third_party
    requirements = open(os.path.join(ROOT, "space", "requirements.txt"), encoding="utf-8").read()
    for package in ("torch", "transformers", "numpy", "soundfile", "scipy"):  # scipy: the pipeline resamples
        assert package in requirements, f"space/requirements.txt lacks {package}"
    for path in glob.glob(os.path.join(ROOT, "space", "*.py")):
        assert len(open(path, encoding="utf-8").read().splitlines()) <= 600, path


def test_space_readme_header_is_a_spaces_config():
    import yaml

    text = open(os.path.join(ROOT, "space", "README.md"), encoding="utf-8").read()
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("---\n")[1])
    import gradio

    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    # the Space runs sdk_version; the tests ran with the installed gradio: the same major version
    assert header["sdk_version"].split(".")[0] == gradio.__version__.split(".")[0], (header, gradio.__version__)
    for key in ("title", "emoji", "colorFrom", "colorTo", "license", "short_description"):
        assert header.get(key), f"space/README.md header lacks {key}"


def test_labels_and_templates_are_parsed_and_checked(app):
    assert app.parse_labels(" angry, happy ,\nsad,, ") == ["angry", "happy", "sad"]
    assert app.parse_templates("this person is feeling {}.\n\n the speaker sounds {}. ") == [
        "this person is feeling {}.", "the speaker sounds {}."]
    for text in ("", " , ,", None):
        with pytest.raises(app.AppError, match="No labels"):
            app.parse_labels(text)
    with pytest.raises(app.AppError, match="Duplicate label"):
        app.parse_labels("sad, happy, sad")
    with pytest.raises(app.AppError, match="No template"):
        app.parse_templates(" \n")
    with pytest.raises(app.AppError, match="exactly once"):
        app.parse_templates("this person is feeling\n{} and {}")


def test_page_answer_is_the_models_pipeline_answer(app, classifier, tiny_smoothclap, clip):
    from transformers import pipeline

    expected = pipeline("zero-shot-audio-classification", model=tiny_smoothclap, trust_remote_code=True)(
        clip, candidate_labels=["angry", "happy", "sad"], hypothesis_template=["this is {}.", "it sounds {}."])
    got = classifier.classify(clip, "angry, happy, sad", "this is {}.\nit sounds {}.")
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], rtol=0, atol=1e-6)
    assert app.format_top(got) == f"{expected[0]['label']} ({expected[0]['score']:.4f})"
    independent = classifier.classify(clip, "angry, happy, sad", "this is {}.", multi_label=True)
    assert abs(sum(r["score"] for r in independent) - 1.0) > 1e-3, "multi_label must reach the pipeline"


def test_errors_end_in_the_status_line_not_a_traceback(app, classifier, clip, tmp_path):
    page = app.build_app(classifier=classifier, examples=[])
    run = classify_fn(page)
    scores, top, status = run(clip, "angry, happy", "this person is feeling {}.", False)
    assert set(scores) == {"angry", "happy"} and top.startswith(max(scores, key=scores.get)) and "Done in" in status
    assert run(clip, "  ", "{}", False) == (None, "", "**Error:** No labels: type at least one label, e.g. "
                                                   "'angry, happy, sad, neutral'.")
    assert "No audio" in run(None, "angry", "{}", False)[2]
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all" * 40)
    assert "Cannot read the audio file 'garbage.wav'" in run(str(garbage), "angry", "{}", False)[2]
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros(0, dtype=np.float32), 16000)
    assert "holds no samples" in run(str(empty), "angry", "{}", False)[2]
    assert "must contain {} exactly once" in run(clip, "angry", "this person is feeling", False)[2]


def test_a_folder_without_the_remote_code_shows_what_is_missing(app, tiny_smoothclap, clip, tmp_path):
    folder = tmp_path / "no-code"
    shutil.copytree(tiny_smoothclap, folder, ignore=shutil.ignore_patterns("*.py"))
    clf = app.Classifier(str(folder))
    assert clf.pipe is None
    assert "lacks configuration_smoothclap.py, modeling_smoothclap.py, pipeline_smoothclap.py" in clf.error
    assert clf.status().startswith("**Model not loaded.**") and "save_pretrained" in clf.status()
    page = app.build_app(classifier=clf)  # the page still builds, and says why it cannot classify
    assert page.smoothclap_examples == []
    assert classify_fn(page)(clip, "angry", "{}", False)[2] == f"**Error:** {clf.error}"

    broken = tmp_path / "broken"
    shutil.copytree(tiny_smoothclap, broken)
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    error = app.Classifier(str(broken)).error
    assert error.startswith(f"Cannot load the model {str(broken)!r}:") and "Traceback" not in error

    offline = app.Classifier("no-such-org/no-such-smoothclap").error  # HF_HUB_OFFLINE=1 (conftest)
    assert offline.startswith("Cannot load the model 'no-such-org/no-such-smoothclap'") and "repo id" in offline
    assert "No model" in app.Classifier(None).error


def test_examples_generated_when_there_is_nothing_else(app, tiny_smoothclap, tmp_path):
    examples = app.find_examples(tiny_smoothclap, out_dir=str(tmp_path / "out"))
    assert len(examples) == 3
    for path, labels, templates in examples:
        wave, rate = sf.read(path)
        assert rate == 16000 and len(wave) == 32000 and np.abs(wave).max() > 0.05
        app.parse_labels(labels), app.parse_templates(templates)
    assert app.find_examples(None, out_dir=str(tmp_path / "none"))  # no model either: still examples


def test_examples_from_a_folder_and_from_the_models_examples(app, tiny_smoothclap, tmp_path):
    own = tmp_path / "mine"
    own.mkdir()
    sf.write(str(own / "b.flac"), tone(), 16000)
    sf.write(str(own / "a.wav"), tone(), 16000)
    (own / "notes.txt").write_text("not audio")
    assert [os.path.basename(e[0]) for e in app.find_examples(tiny_smoothclap, str(own))] == ["a.wav", "b.flac"]
    model = tmp_path / "model"
    shutil.copytree(tiny_smoothclap, model)
    (model / "examples").mkdir()
    sf.write(str(model / "examples" / "x.wav"), tone(), 16000)
    assert [os.path.basename(e[0]) for e in app.find_examples(str(model))] == ["x.wav"]


def test_examples_from_the_demo_corpus_next_to_a_demo_model(app, tiny_smoothclap, tmp_path):
    """demo.py writes <out>/smoothclap and <out>/cache/demo: one held-out clip per emotion."""
    from smoothclap.data import build

    out = tmp_path / "smoothclap-demo"
    build("demo", None, str(out / "cache" / "demo"), options={"num_speakers": 6, "sentences_per_speaker": 1},
          num_workers=1, seed=0)
    shutil.copytree(tiny_smoothclap, out / "smoothclap")
    examples = app.find_examples(str(out / "smoothclap"), out_dir=str(tmp_path / "ex"))
    import datasets

    test = datasets.load_from_disk(str(out / "cache" / "demo"))["test"]
    by_id = {row["id"]: row for row in test}
    clip_ids = [os.path.basename(path)[len("test-"):-len(".wav")] for path, _, _ in examples]
    assert [by_id[clip_id]["emotion"] for clip_id in clip_ids] == ["neutral", "happy", "angry", "sad"]
    for (path, labels, templates), clip_id in zip(examples, clip_ids):
        assert open(path, "rb").read() == by_id[clip_id]["audio"]["bytes"]
        assert labels == "neutral, happy, angry, sad" and templates == "this person is feeling {}."


def test_main_without_a_model_is_a_usage_error(app, monkeypatch, capsys):
    monkeypatch.delenv(app.MODEL_ENV, raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert app.main([]) == 2
    assert "error: no model: pass --model DIR_OR_REPO or set SMOOTHCLAP_MODEL" in capsys.readouterr().err


def test_clip_limits_windows_and_silence(app, tmp_path):
    """Over --max-seconds: windows of it; over 10x: refused; silence and near silence: refused."""
    path = tmp_path / "c.wav"
    sf.write(str(path), tone(seconds=3.0), 16000)
    assert app.check_clip(str(path), max_seconds=5.0).window is None
    clip = app.check_clip(str(path), max_seconds=1.0)
    assert clip.window == 1.0 and abs(clip.seconds - 3.0) < 1e-9
    with pytest.raises(app.AppError, match=r"'c.wav' is 3.0 s long: this page takes clips up to 2.5 s"):
        app.check_clip(str(path), max_seconds=0.25)
    quiet = tmp_path / "quiet.wav"
    sf.write(str(quiet), np.r_[np.zeros(40000), 2e-4 * np.ones(100)].astype(np.float32), 16000, subtype="FLOAT")
    with pytest.raises(app.AppError, match=r"'quiet.wav' is silent \(loudest sample -74 dBFS"):
        app.check_clip(str(quiet))
    loud_late = tmp_path / "late.wav"  # a voice after 2.5 s of silence is found (blocks of 1 s)
    sf.write(str(loud_late), np.r_[np.zeros(40000), 0.1 * np.ones(100)].astype(np.float32), 16000)
    assert app.check_clip(str(loud_late)).path == str(loud_late)
    with pytest.raises(app.AppError, match="no longer on the server"):
        app.check_clip(str(tmp_path / "gone.wav"))


def test_windowed_answer_is_the_pipelines_windowed_answer(app, classifier, tiny_smoothclap, tmp_path):
    from transformers import pipeline

    path = tmp_path / "long.wav"
    sf.write(str(path), tone(seconds=5.0), 16000)
    expected = pipeline("zero-shot-audio-classification", model=tiny_smoothclap, trust_remote_code=True)(
        str(path), candidate_labels=["angry", "happy"], hypothesis_template="this is {}.", window=2.0, hop=2.0)
    got = classifier.classify(str(path), "angry, happy", "this is {}.", max_seconds=2.0)
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], rtol=0, atol=1e-6)
    page = app.build_app(classifier=classifier, examples=[], limits=app.Limits(max_seconds=2.0))
    status = classify_fn(page)(str(path), "angry, happy", "this is {}.", False)[2]
    assert "the clip is 5.0 s long, over the 2 s limit: scored in 3 windows of 2 s, averaged" in status, status


def test_upload_janitor_deletes_a_shared_upload_after_its_last_request(app, tmp_path):
    folder = tmp_path / "uploads"
    (folder / "h1").mkdir(parents=True)
    shared, kept, outside = folder / "h1" / "a.wav", folder / "ex.wav", tmp_path / "mine.wav"
    for path in (shared, kept, outside):
        path.write_bytes(b"x")
    janitor = app.UploadJanitor(str(folder), keep=[str(kept)])
    janitor.hold(str(shared))
    janitor.hold(str(shared))  # two requests, one file (gradio names uploads by content)
    janitor.release(str(shared))
    assert shared.exists()
    janitor.release(str(shared))
    assert not shared.exists() and not (folder / "h1").exists()
    for path in (kept, outside):  # an example's copy, a file outside the upload folder
        janitor.release(str(path))
        assert path.exists()


def test_template_comes_from_the_models_config(app, tiny_smoothclap, classifier, clip, tmp_path):
    """config.query_template (a string or a list) presets the template box; without it the app's
    default, and the page says which."""
    import json

    assert (classifier.template, classifier.template_from_model) == (app.DEFAULT_TEMPLATES, False)
    assert "the app's default `this person is feeling {}.`" in classifier.status()
    # audio_dtype="auto" where the model's pipeline takes it, else float32 and the page says why
    pipe = classifier.pipe
    assert pipe.smoothclap_dtype_note in ("", "this model's pipeline has no audio_dtype='auto' yet")
    assert f"audio encoder: {app.describe_backend(pipe)}" in classifier.status()
    if pipe.smoothclap_dtype_note:
        assert pipe.audio_dtype == "float32" and "float32 on cpu (this model's pipeline" in classifier.status()
    folder = tmp_path / "with-template"
    shutil.copytree(tiny_smoothclap, folder)
    config = json.loads((folder / "config.json").read_text())
    config["query_template"] = ["the speaker sounds {}.", "a {} voice."]
    (folder / "config.json").write_text(json.dumps(config))
    clf = app.Classifier(str(folder))
    assert clf.error is None, clf.error
    assert (clf.template, clf.template_from_model) == ("the speaker sounds {}.\na {} voice.", True)
    assert "Template: the model's own (`query_template`" in clf.status()
    page = app.build_app(classifier=clf, examples=[])
    templates_box = next(b for b in page.blocks.values() if getattr(b, "elem_id", None) == "templates")
    assert templates_box.value == clf.template
    status = classify_fn(page)(clip, "angry, happy", clf.template, False)[2]
    assert "with the model's template" in status
    assert "with your template" in classify_fn(page)(clip, "angry, happy", "it is {}.", False)[2]


def test_limit_flags_are_checked(app, capsys):
    args = app.parse_args(["--model", "m", "--concurrency", "3", "--max-queue", "5", "--max-seconds", "30",
                           "--max-upload-mb", "10"])
    assert (args.concurrency, args.max_queue, args.max_seconds, args.max_upload_mb) == (3, 5, 30.0, 10.0)
    for flag in ("--concurrency", "--max-queue", "--max-seconds", "--max-upload-mb"):
        with pytest.raises(SystemExit):
            app.parse_args(["--model", "m", flag, "0"])
        assert "must be > 0" in capsys.readouterr().err
