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
    import demo

    demo.main(["--output", str(tmp_path / "model")])
    out = capsys.readouterr().out
    assert (tmp_path / "model" / "model.safetensors").exists()
    rows = [line for line in out.splitlines() if "->" in line]
    assert len(rows) == 4
    for row in rows:  # four candidate scores per clip, summing to 1
        scores = [float(x) for x in re.findall(r" (\d\.\d\d)", row.split("->")[1])]
        assert len(scores) == 4 and abs(sum(scores) - 1) < 0.02
    assert "loss = " in out
