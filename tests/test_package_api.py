"""`import smoothclap`: a quick import, the Python API (classes, load_audio, one function per job),
and the Auto classes loading a SmoothCLAP folder without remote code, with the answers of the
remote-code route."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from conftest import tone

API = ["SmoothClapConfig", "SmoothClapModel", "SmoothClapProcessor", "SmoothClapZeroShotAudioClassificationPipeline",
       "load_audio", "pipeline", "build", "train", "evaluate", "classify", "publish", "__version__"]
LABELS = ["happy", "sad", "angry"]

# in a fresh process, from a folder outside the clone: the installed route (import smoothclap, a folder
# without code) or the remote-code route (plain transformers, trust_remote_code=True, the full folder)
CHILD = textwrap.dedent("""
    import json, os, sys
    route, folder, clip, labels = sys.argv[1:5]
    modules = os.environ["HF_MODULES_CACHE"]
    def code_files():  # what transformers copied into its modules cache to run it
        return {os.path.join(d, f) for d, _, fs in os.walk(modules) for f in fs if f.endswith("_smoothclap.py")}
    before = code_files()
    if route == "installed":
        import smoothclap
    quick = "torch" not in sys.modules and "transformers" not in sys.modules
    from transformers import AutoConfig, AutoModel, AutoProcessor, pipeline
    import torch
    kw = {} if route == "installed" else {"trust_remote_code": True}
    config = AutoConfig.from_pretrained(folder, **kw)
    model = AutoModel.from_pretrained(folder, **kw).eval()
    processor = AutoProcessor.from_pretrained(folder, **kw)
    with torch.no_grad():
        audio = model.get_audio_features(**processor(audio=[clip])).pooler_output
        text = model.get_text_features(**processor(text=labels.split(","))).pooler_output
    clf = (smoothclap.pipeline(folder) if route == "installed" else
           pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True))
    print(json.dumps({"quick_import": quick, "audio": audio.tolist(), "text": text.tolist(),
                      "classes": [type(x).__module__ + "." + type(x).__name__ for x in (config, model, processor, clf)],
                      "scores": clf(clip, candidate_labels=labels.split(",")),
                      "executed": sorted(os.path.basename(f) for f in code_files() - before)}))
""")


def run_child(code, tmp_path, *args):
    tmp_path.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=str(tmp_path), env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_auto_classes_load_a_folder_without_its_code(tiny_smoothclap, tmp_path):
    bare = tmp_path / "bare"  # the folder without any .py file: nothing of it can run
    shutil.copytree(tiny_smoothclap, bare, ignore=shutil.ignore_patterns("*.py"))
    assert "auto_map" in json.loads((bare / "config.json").read_text())  # still names remote code
    clip = tmp_path / "clip.wav"
    sf.write(clip, tone(220.0, seconds=1.0), 16000)
    installed = run_child(CHILD, tmp_path / "a", "installed", bare, clip, ",".join(LABELS))
    remote = run_child(CHILD, tmp_path / "b", "remote", tiny_smoothclap, clip, ",".join(LABELS))
    assert installed["quick_import"]
    assert installed["classes"] == ["smoothclap.models.configuration_smoothclap.SmoothClapConfig",
                                    "smoothclap.models.modeling_smoothclap.SmoothClapModel",
                                    "smoothclap.models.processing_smoothclap.SmoothClapProcessor",
                                    "smoothclap.models.pipeline_smoothclap.SmoothClapZeroShotAudioClassificationPipeline"]
    assert all(c.startswith("transformers_modules.") for c in remote["classes"]), remote["classes"]
    # no file of the folder ran on the installed route (transformers copies remote code before it runs it)
    assert installed["executed"] == [] and "modeling_smoothclap.py" in remote["executed"]
    np.testing.assert_allclose(installed["audio"], remote["audio"], atol=1e-6)
    np.testing.assert_allclose(installed["text"], remote["text"], atol=1e-6)
    assert [s["label"] for s in installed["scores"]] == [s["label"] for s in remote["scores"]]
    np.testing.assert_allclose([s["score"] for s in installed["scores"]], [s["score"] for s in remote["scores"]],
                               atol=1e-6)


@pytest.mark.parametrize("first", [
    "import smoothclap.models.pipeline_smoothclap",   # pipelines -> modeling_auto while the pipeline file runs
    "import smoothclap.models.modeling_smoothclap",   # imports AutoModel while it runs
    "import smoothclap.models.processing_smoothclap",
    "import smoothclap.evaluation.evaluate",
    "from transformers import AutoModel, pipeline",    # transformers first, smoothclap after
    "import smoothclap; from transformers import AutoTokenizer",  # tokenization_auto loads modeling_auto mid-import
    "import smoothclap; from transformers import Wav2Vec2FeatureExtractor, BertConfig",
])
def test_registration_whatever_is_imported_first(first, tmp_path):
    code = (f"{first}\nimport smoothclap\nfrom transformers import AutoConfig, AutoModel, AutoProcessor\n"
            "from smoothclap.registration import _registered\nimport json; print(json.dumps(sorted(_registered)))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=str(tmp_path), env=dict(env, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0 and "could not register" not in proc.stderr, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["config", "model", "processor"]


def test_import_is_quick_and_offers_the_api(tmp_path):
    code = ("import sys, json, smoothclap\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'datasets', 'accelerate') if m in sys.modules)\n"
            "names = [n for n in sys.argv[1].split(',') if not hasattr(smoothclap, n)]\n"
            "import importlib.metadata as md\n"
            "print(json.dumps({'heavy': heavy, 'missing': names, 'version': smoothclap.__version__,"
            " 'installed': md.version('smoothclap')}))")
    out = run_child(code, tmp_path, ",".join(API))
    assert out["heavy"] == [] and out["missing"] == [] and out["version"] == out["installed"]


def test_to_argv_is_the_command_line():
    from smoothclap.api import to_argv

    assert to_argv("corpus", data_dir="raw", output="out", option={"split": "speaker:80/10/10", "split_seed": 3},
                   dataset=["a", "b"], no_progress=True, quiet=False, top=None) == [
        "corpus", "--data-dir", "raw", "--output", "out", "--option", "split=speaker:80/10/10",
        "--option", "split_seed=3", "--dataset", "a", "--dataset", "b", "--no-progress"]


def test_job_functions_return_what_the_commands_compute(tiny_smoothclap, tiny_data, tmp_path, capsys):
    import smoothclap
    from smoothclap.cli import main as command

    clip = tmp_path / "clip.wav"
    sf.write(clip, tone(330.0, seconds=1.0), 16000)
    ranked = smoothclap.classify(str(clip), labels=",".join(LABELS), model=tiny_smoothclap)
    capsys.readouterr()
    assert command(["classify", str(clip), "--labels", ",".join(LABELS), "--model", tiny_smoothclap, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == ranked

    results = smoothclap.evaluate(model=tiny_smoothclap, dataset=tiny_data, output_dir=str(tmp_path / "eval"),
                                  no_progress=True, bootstrap=10)
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["synthetic/default"]["uar"] == saved["synthetic/default"]["uar"]

    # bad arguments: the command's one error line, then CommandError (never SystemExit)
    with pytest.raises(smoothclap.CommandError) as err:
        smoothclap.classify(str(clip), labels="happy", model=tiny_smoothclap, top=0)
    assert err.value.status == 2 and capsys.readouterr().err.startswith("error: ")
    with pytest.raises(smoothclap.CommandError) as err:
        smoothclap.publish(tiny_smoothclap, repo_id="not a repo id", dry_run=True)
    assert err.value.status == 2 and "not ORG/NAME" in capsys.readouterr().err
    with pytest.raises(smoothclap.CommandError):
        smoothclap.build("no_such_corpus", data_dir=str(tmp_path), output=str(tmp_path / "o"))


def test_readme_installed_route_snippet(tiny_smoothclap, tmp_path, monkeypatch):
    """The README's installed-package snippet, as written, on a folder without its .py files."""
    from test_remote_code import readme_python_block

    import smoothclap  # noqa: F401  (the registration; the snippet imports it too)

    code = readme_python_block("smoothclap.pipeline(repo)")
    bare = tmp_path / "bare"
    shutil.copytree(tiny_smoothclap, bare, ignore=shutil.ignore_patterns("*.py"))
    sf.write(tmp_path / "speech.wav", np.stack([tone(200.0, sr=44100)] * 2, axis=1), 44100)  # stereo, 44.1 kHz
    monkeypatch.chdir(tmp_path)
    assert '"path/or/repo"' in code
    ns = {}
    exec(code.replace('"path/or/repo"', repr(str(bare))), ns)
    assert sorted(s["label"] for s in ns["scores"]) == ["angry", "happy", "neutral", "sad"]
    assert type(ns["model"]).__module__ == "smoothclap.models.modeling_smoothclap"
    assert type(ns["clf"]).__name__ == "SmoothClapZeroShotAudioClassificationPipeline"
    assert ns["wave"].dtype == np.float32 and ns["wave"].shape == (16000,)
