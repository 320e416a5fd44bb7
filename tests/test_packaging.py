"""Repository-level promises: README commands, CI, Hub-file imports, the demo."""

import ast
import os
import re

from conftest import ROOT


def readme_commands():
    text = open(os.path.join(ROOT, "README.md")).read()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    commands = readme_commands()
    test_cmd = [c for c in commands if "pytest" in c]
    assert len(test_cmd) == 1, commands
    ci = open(os.path.join(ROOT, ".ci", "run")).read().splitlines()
    assert test_cmd[0].strip() in [line.strip() for line in ci]
    assert ci[ci.index(next(line for line in ci if "pytest" in line))].startswith("pip install torch==2.13.0")


def test_hub_files_import_only_torch_transformers_and_each_other():
    allowed = {"torch", "transformers", "numpy", "scipy", "soundfile", "math", "os", "io", "fractions",
               "dataclasses", "__future__", "sys", "configuration_smoothclap", "processing_smoothclap",
               "audio_smoothclap"}
    for name in ("audio_smoothclap.py", "configuration_smoothclap.py", "modeling_smoothclap.py",
                 "processing_smoothclap.py"):
        tree = ast.parse(open(os.path.join(ROOT, name)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [(node.module or "").split(".")[0]] if node.level == 0 else []
            else:
                continue
            for mod in mods:
                assert mod in allowed, f"{name} imports {mod}"
    modeling = open(os.path.join(ROOT, "modeling_smoothclap.py")).read()
    assert "import numpy" not in modeling and "import scipy" not in modeling  # torch + transformers only
    assert "from .configuration_smoothclap import" in modeling
    audio = open(os.path.join(ROOT, "audio_smoothclap.py")).read()
    assert "transformers" not in audio.split('"""', 2)[2]  # eGeMAPS workers import it without transformers


def test_demo_main_job_runs(tmp_path, capsys):
    """`python demo.py` as a user runs it (a fresh process, --quick: a tiny corpus and a few
    steps): both Hub-ready folders, demo_results.json in the fixed schema, the table, the
    shipped pipeline's answer on one clip per emotion, the synthetic-data statement; then the corpus is
    reused, not rebuilt."""
    import json
    import subprocess
    import sys

    import smoothclap.demo as demo

    out = tmp_path / "demo"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "demo.py"), "--quick", "--output", str(out)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(os.listdir(out)) == ["cache", "confusion_paraclap_test.png", "confusion_smoothclap_test.png",
                                       "demo_results.json", "paraclap", "smoothclap"]  # no run leftovers
    results = json.loads((out / "demo_results.json").read_text())
    assert set(results) == {"smoothclap", "paraclap", "pipeline_examples", "seconds", "seed", "difference", "probe",
                            "clip_by_clip", "test_confusion"} and results["seconds"] > 0
    # speaker normalisation: per-voice numbers in the table, clip-by-clip ones and both probes beside them
    assert all(0.0 <= results["clip_by_clip"][name][split] <= 1.0 for name in ("smoothclap", "paraclap")
               for split in ("validation", "test"))
    assert set(results["probe"]) == {"validation", "test", "per_voice"}
    for name, beta in (("smoothclap", 0.1), ("paraclap", 0.0)):
        assert {"validation_uar", "test_uar", "test_recall", "test_confusion_matrix"} <= set(results[name])
        assert all(0.0 <= results[name][f"{split}_uar"] <= 1.0 for split in ("validation", "test"))
        config = json.loads((out / name / "config.json").read_text())
        assert config["beta"] == beta and "AutoModel" in config["auto_map"]
        assert config["speaker_normalization"]["column"] == "speaker"
        assert (out / name / "model.safetensors").exists() and (out / name / "modeling_smoothclap.py").exists()
        # the card is publishable: base_model names the text tower's Hub id (the audio encoder has none)
        import smoothclap.release.publish as smoothclap_publish

        assert smoothclap_publish.check_card(str(out / name), None, "model") == []
        assert "base_model:\n- sentence-transformers/all-MiniLM-L6-v2\n" in (out / name / "README.md").read_text()
    table = re.findall(r"^(SmoothCLAP|ParaCLAP).* (\d\.\d{3}) \[.* (\d\.\d{3}) \[", proc.stdout, flags=re.M)
    assert [(row[0], float(row[1]), float(row[2])) for row in table] == [
        ("SmoothCLAP", round(results["smoothclap"]["validation_uar"], 3), round(results["smoothclap"]["test_uar"], 3)),
        ("ParaCLAP", round(results["paraclap"]["validation_uar"], 3), round(results["paraclap"]["test_uar"], 3))]
    answers = [line for line in proc.stdout.splitlines() if "->" in line]
    examples = results["pipeline_examples"]  # the first test clip of each emotion through the shipped pipeline
    assert [e["emotion"] for e in examples] == ["neutral", "happy", "angry", "sad"] and len(answers) == 4
    for example, answer in zip(examples, answers):
        verdict = "right" if example["right"] else "wrong"
        assert f"{example['emotion']} clip -> {example['predicted']} {example['score']:.2f} ({verdict})" in answer
        scores = [float(x) for x in re.findall(r" (\d\.\d\d)", answer.split("[", 1)[1])]
        assert len(scores) == 4 and abs(sum(scores) - 1) < 0.02
    assert "What is synthetic: all audio" in proc.stdout

    corpus = demo.demo_corpus(demo.QUICK, str(out / "cache"))  # the second run's step 1
    assert "reusing" in capsys.readouterr().out and os.path.isfile(os.path.join(corpus, "build_report.json"))
