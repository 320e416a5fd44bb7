"""The package as users install it: a wheel built from this checkout, installed in a fresh venv,
every command run from a folder outside the checkout (no metrics/ or configs/ beside it).

The venv sees the machine's packages (--system-site-packages: torch and the dependencies are
there already, nothing is downloaded) and gets the wheel with --no-deps; every module must
then come from the venv, not from an editable install of some checkout.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib

import pytest

from conftest import ROOT


def copy_sources(dest) -> None:
    """What pyproject.toml packages, and nothing else (a clone may hold data, runs, caches;
    and an in-tree build would leave build/ and *.egg-info behind). Links (smoothclap/models/ to
    the root's Hub files, the model card) are copied as the files they point to."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    setup = project["tool"]["setuptools"]
    os.makedirs(dest)
    for name in ("pyproject.toml", project["project"]["readme"]):
        shutil.copy(os.path.join(ROOT, name), dest)
    for package in setup["packages"]:
        folder = setup.get("package-dir", {}).get(package, package.replace(".", "/"))
        target = os.path.join(dest, folder)
        os.makedirs(target, exist_ok=True)
        for entry in os.listdir(os.path.join(ROOT, folder)):  # the package's own files; subpackages come in turn
            source = os.path.join(ROOT, folder, entry)
            if os.path.isfile(source):
                shutil.copy(source, target)
            elif entry not in ("__pycache__",) and not os.path.isfile(os.path.join(source, "__init__.py")):
                shutil.copytree(source, os.path.join(target, entry), ignore=shutil.ignore_patterns("__pycache__"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """(bin folder of a venv with the wheel installed, seconds it took)."""
    started = time.time()
    tmp = tmp_path_factory.mktemp("wheel")
    copy_sources(tmp / "src")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    proc = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"),
                           str(tmp / "src")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheels = list((tmp / "dist").glob("smoothclap-*.whl"))
    assert len(wheels) == 1, wheels
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(tmp / "venv")],
                   check=True, timeout=120)
    python = str(tmp / "venv" / "bin" / "python")
    proc = subprocess.run([python, "-m", "pip", "--disable-pip-version-check", "install", "--no-deps",
                           "--force-reinstall", "--no-index", str(wheels[0])], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return str(tmp / "venv" / "bin"), time.time() - started


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A working folder outside the checkout, and the environment of a user there."""
    folder = tmp_path_factory.mktemp("elsewhere")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               HF_MODULES_CACHE=str(folder / "hf-modules"), MPLBACKEND="Agg")
    return folder, env


def run(venv, outside, command, *args, timeout=300):
    folder, env = outside
    started = time.time()
    proc = subprocess.run([os.path.join(venv[0], command), *map(str, args)], capture_output=True, text=True,
                          cwd=str(folder), env=env, timeout=timeout)
    print(f"{time.time() - started:5.1f} s  {command} {' '.join(map(str, args))[:60]}")
    return proc


def test_wheel_commands_from_outside_the_checkout(venv, outside, tiny_data, tiny_smoothclap, pretrained_encoders):
    started = time.time()
    folder = outside[0]
    # one namespace: the wheel installs smoothclap/ and its dist-info, nothing else at the top of site-packages;
    # every module from the venv (not the editable install of a checkout), the shipped folders there too
    check = run(venv, outside, "python", "-c", """
import importlib.metadata as md, importlib.util, json, sys
import smoothclap
quick = "torch" not in sys.modules
from smoothclap.evaluation.metrics import uar, uar_dir
from smoothclap.assets import shipped_folder
tops = sorted({f.parts[0] for f in md.files("smoothclap") if f.parts[0] != ".."})
old = ["demo", "dataset_scripts", "train_accelerate", "evaluate_zeroshot", "smoothclap_cli", "smoothclap_train",
       "smoothclap_eval", "smoothclap_infer", "modeling_smoothclap", "smoothclap_space"]
print(json.dumps({"tops": tops, "old": [n for n in old if importlib.util.find_spec(n)], "quick": quick,
                  "api": [n for n in smoothclap.__all__ if not hasattr(smoothclap, n)],
                  "files": [importlib.util.find_spec(n).origin for n in ("smoothclap", "smoothclap.cli",
                            "smoothclap.models.modeling_smoothclap", "smoothclap.training.trainer")],
                  "uar_dir": str(uar_dir()), "configs": str(shipped_folder("configs")),
                  "space": str(shipped_folder("space")), "uar": uar([0, 1, 1], [0, 1, 0])["uar"]}))""")
    assert check.returncode == 0, check.stderr[-3000:]
    found = json.loads(check.stdout.strip().splitlines()[-1])
    assert found["tops"] == ["smoothclap", "smoothclap-0.1.0.dist-info"], found["tops"]
    assert found["old"] == [] and found["api"] == [] and found["quick"], found
    site = os.path.dirname(os.path.dirname(found["configs"]))
    assert site.startswith(os.path.dirname(venv[0])) and site.endswith("site-packages"), found
    assert all(f.startswith(site) for f in found["files"]), found["files"]
    assert found["configs"] == os.path.join(site, "smoothclap", "configs") and found["uar"] == 0.75
    assert found["space"] == os.path.join(site, "smoothclap", "app")
    assert {"README.md", "uar.py", "uar_core.py"} <= set(os.listdir(found["uar_dir"]))  # evaluate.load(uar_dir())
    assert not os.path.islink(os.path.join(site, "smoothclap", "models", "modeling_smoothclap.py"))

    proc = run(venv, outside, "smoothclap", "--help")
    assert proc.returncode == 0 and all(f"    {c} " in proc.stdout for c in
                                        ("demo", "build", "train", "evaluate", "classify", "publish", "app"))
    for command, args, usage in (("smoothclap", ["train", "--help"], "usage: smoothclap train "),
                                 ("smoothclap-train", ["--help"], "usage: smoothclap-train "),
                                 ("smoothclap", ["demo", "--help"], "usage: smoothclap demo ")):
        proc = run(venv, outside, command, *args)
        assert proc.returncode == 0 and proc.stdout.startswith(usage), (command, proc.stdout[:300], proc.stderr[-2000:])

    # evaluation with the shipped UAR metric, through the old console script (it exited 1 on success)
    proc = run(venv, outside, "evaluate-zeroshot", "--model", tiny_smoothclap, "--dataset", tiny_data,
               "--output-dir", "eval", "--no-progress", "--bootstrap", "10")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((folder / "eval" / "results.json").read_text())
    assert 0.0 <= results["synthetic/default"]["uar"] <= 1.0 and proc.stderr.strip() == "", proc.stderr[-2000:]

    # 2 training steps with a shipped config given by name, pointed at the tiny data and encoders
    audio_dir, text_dir = pretrained_encoders
    proc = run(venv, outside, "smoothclap", "train", "--config", "msp_podcast.yaml", "--dataset", tiny_data,
               "--audio-encoder", audio_dir, "--text-encoder", text_dir, "--output-dir", "run",
               "--global-batch-size", "4", "--max-steps", "2", "--max-duration", "1.0", "--crops-per-clip", "1",
               "--report-to", "none", "--no-progress-bar", "--feature-cache-dir", "cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "validation UAR" in proc.stdout and (folder / "run" / "model" / "model.safetensors").is_file()
    saved = json.loads((folder / "run" / "model" / "training_args.json").read_text())
    assert (saved["config"], saved["beta"], saved["gamma"]) == ("msp_podcast.yaml", 0.5, 0.1)  # the shipped file's
    card = (folder / "run" / "model" / "README.md").read_text()
    assert "license:" in card and "## This checkpoint" in card  # the repository's model card, shipped too

    # the trained folder classifies a clip, through the new command and the old alias
    import soundfile

    from conftest import tone

    soundfile.write(folder / "clip.wav", tone(220.0), 16000)
    for command in (["smoothclap", "classify"], ["smoothclap-classify"]):
        proc = run(venv, outside, *command, "clip.wav", "--labels", "happy,sad", "--model", "run/model", "--json")
        assert proc.returncode == 0, proc.stderr[-3000:]
        ranked = json.loads(proc.stdout)["clip.wav"]
        assert sorted(r["label"] for r in ranked) == ["happy", "sad"]

    # the other subcommands' help, the builders' list, and the offline demo (quick) from the wheel
    for args, usage in ((["build", "--list"], None), (["publish", "--help"], "usage: smoothclap publish "),
                        (["app", "--help"], "usage: smoothclap app "), (["evaluate", "--help"], "usage: smoothclap evaluate "),
                        (["classify", "--help"], "usage: smoothclap classify "), (["build", "--help"], "usage: smoothclap build "),
                        (["export-onnx", "--help"], "usage: smoothclap export-onnx ")):
        proc = run(venv, outside, "smoothclap", *args)
        assert proc.returncode == 0 and (usage is None or proc.stdout.startswith(usage)), (args, proc.stderr[-2000:])
    for alias, usage in (("evaluate-zeroshot", "usage: evaluate-zeroshot "), ("smoothclap-classify", "usage: smoothclap-classify ")):
        proc = run(venv, outside, alias, "--help")
        assert proc.returncode == 0 and proc.stdout.startswith(usage), (alias, proc.stderr[-2000:])
    assert "msp_podcast" in run(venv, outside, "smoothclap", "build", "--list").stdout
    proc = run(venv, outside, "smoothclap", "demo", "--quick", "--output", "demo-out", timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    demo = json.loads((folder / "demo-out" / "demo_results.json").read_text())
    assert set(demo) >= {"smoothclap", "paraclap", "pipeline_examples"} and demo["pipeline_examples"]
    assert (folder / "demo-out" / "smoothclap" / "model.safetensors").is_file()
    # installed from the wheel, the Auto classes load a folder without its code, as the editable install does
    from test_package_api import CHILD, run_child

    bare = folder / "bare"
    shutil.copytree(tiny_smoothclap, bare, ignore=shutil.ignore_patterns("*.py"))
    proc = run(venv, outside, "python", "-c", CHILD, "installed", bare, folder / "clip.wav", "happy,sad")
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = json.loads(proc.stdout.strip().splitlines()[-1])
    editable = run_child(CHILD, folder / "editable", "installed", bare, folder / "clip.wav", "happy,sad")
    assert wheel["classes"] == editable["classes"] and wheel["executed"] == [] and wheel["quick_import"]
    assert wheel["scores"] == editable["scores"] and wheel["audio"] == editable["audio"]
    print(f"wheel build + venv {venv[1]:.1f} s, commands {time.time() - started:.1f} s")
