"""Nothing stale, nothing lost (issue 23): silent wrong results turned into clear errors."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT


def test_query_texts_that_do_not_match_the_labels_are_an_error_naming_both(tiny_data, tmp_path):
    from smoothclap.evaluation import EvaluationError
    from smoothclap.evaluation.data import load_eval_set

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    meta_path = data / "smoothclap.json"
    meta = json.loads(meta_path.read_text())
    labels = meta["labels"]
    assert load_eval_set(data, "test").texts == meta["query_texts"]  # as built: fine
    for texts in (meta["query_texts"][:2], [meta["query_texts"][0]] * len(labels)):
        meta_path.write_text(json.dumps(dict(meta, query_texts=texts)))
        with pytest.raises(EvaluationError) as err:
            load_eval_set(data, "test")
        assert str(labels) in str(err.value) and str(texts) in str(err.value)


def test_a_folder_template_without_braces_is_refused_before_the_build(tmp_path):
    for label in ("angry", "sad"):
        (tmp_path / "corpus" / label).mkdir(parents=True)
        sf.write(tmp_path / "corpus" / label / "a.wav", np.zeros(8000, np.float32) + 0.01, 16000)
    proc = subprocess.run([sys.executable, "-m", "dataset_scripts", "build", "folder", "--data-dir",
                           str(tmp_path / "corpus"), "--output", str(tmp_path / "out"), "--option",
                           "template=nobraces"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: folder: --option template='nobraces' must contain '{}' exactly once, where the label goes "
        "(e.g. template='this person is feeling {}.')."]
    assert not (tmp_path / "out").exists()


def test_resume_without_best_exports_the_last_epoch_and_says_so(tiny_data, tiny_smoothclap, feature_cache_dir,
                                                                 tmp_path):
    """A checkpoint copied from another run has no best/: the export is the last epoch, and
    training_results.json and the card must say that (they said "best epoch 0")."""
    import smoothclap.training.trainer as train_accelerate
    from processes import reset_accelerate_state
    from test_train_accelerate import flags

    common = ("--epochs", "2", "--checkpoint-every", "5", "--keep-checkpoints", "5")
    try:
        train_accelerate.main(flags(tiny_data, tiny_smoothclap, tmp_path / "ref", *common,
                                    cache_dir=feature_cache_dir))
        reset_accelerate_state()
        (tmp_path / "copy" / "checkpoints").mkdir(parents=True)
        copied = tmp_path / "copy" / "checkpoints" / "step_00000005"
        shutil.copytree(tmp_path / "ref" / "checkpoints" / "step_00000005", copied)
        state = json.loads((copied / "trainer_state.json").read_text())  # the other run's best: unbeatable here
        (copied / "trainer_state.json").write_text(json.dumps(dict(state, best_uar=1.0, best_epoch=0)))
        from smoothclap.training.checkpoints import write_manifest

        write_manifest(copied)  # an intact checkpoint of that other run
        resumed = train_accelerate.main(flags(tiny_data, tiny_smoothclap, tmp_path / "copy", *common,
                                              "--resume-from-checkpoint", "latest", cache_dir=feature_cache_dir))
    finally:
        reset_accelerate_state()
    saved = json.loads((tmp_path / "copy" / "model" / "training_results.json").read_text())
    assert saved["selected"] is False and saved["best_epoch"] is None and saved["exported_epoch"] == 1
    assert saved["validation_uar"] == resumed["history"][-1]["validation_uar"]
    card = (tmp_path / "copy" / "model" / "README.md").read_text()
    assert "**last epoch** (1," in card and "Selected on **validation**" not in card


def test_a_cached_build_sees_deleted_and_added_files(tmp_path):
    """Rebuilding with the same --cache-dir after deleting and adding clips: the Arrow cache was
    keyed on the data dir's NAME only, so the old clips came back ("reused from the cache")."""
    from conftest import tone
    from smoothclap.data import build

    raw = tmp_path / "raw"
    for label, freq in (("angry", 300.0), ("sad", 150.0)):
        (raw / label).mkdir(parents=True)
        for i in range(3):
            sf.write(raw / label / f"{label}{i}.wav", tone(freq, 0.5, seed=i), 16000)
    cache = tmp_path / "cache"
    first = build("folder", raw, tmp_path / "one", cache_dir=cache, features=False)
    ids = lambda dd: sorted(i for split in dd.values() for i in split["id"])  # noqa: E731
    assert len(ids(first)) == 6
    (raw / "angry" / "angry0.wav").unlink()
    sf.write(raw / "sad" / "sad9.wav", tone(150.0, 0.5, seed=9), 16000)
    second = build("folder", raw, tmp_path / "two", cache_dir=cache, features=False)
    assert len(ids(second)) == 6 and ids(second) != ids(first)
    assert not any("angry0" in i for i in ids(second)) and any("sad9" in i for i in ids(second))
    report = json.loads((tmp_path / "two" / "build_report.json").read_text())
    assert "reused from the cache" not in json.dumps(report)
    third = build("folder", raw, tmp_path / "three", cache_dir=cache, features=False)  # nothing changed: reused
    assert ids(third) == ids(second)
    assert "reused from the cache" in (tmp_path / "three" / "build_report.json").read_text()


KILLED_BUILD = r"""
import os, pathlib, signal, sys
from smoothclap.data import build, outdir
raw, out, point = sys.argv[1:4]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)  # a real kill -9 at this exact point
real_exchange, real_rename = outdir._exchange, pathlib.Path.rename
if point == "writing":  # the staging folder is full, nothing installed yet
    outdir._install = lambda staging, output_dir: die()
elif point == "ready":  # finished and marked ready, not yet swapped in
    outdir._exchange = lambda a, b: die()
elif point == "swapped":  # swapped in, the earlier build not yet moved aside
    outdir._exchange = lambda a, b: (real_exchange(a, b), die())
elif point == "between-renames":  # no atomic swap here: killed between the two renames
    def no_swap(a, b):
        raise OSError(22, "no renameat2")
    def rename(self, target):
        result = real_rename(self, target)
        if ".old-" in str(target):
            die()
        return result
    outdir._exchange, pathlib.Path.rename = no_swap, rename
build("folder", raw, out, features=False, overwrite=True)
"""


@pytest.mark.parametrize("point", ["writing", "ready", "swapped", "between-renames"])
def test_overwrite_killed_at_any_point_leaves_a_loadable_build_and_the_next_run_cleans_up(point, tmp_path):
    """kill -9 while --overwrite replaces a build: the output is the old build or the new one
    (with an atomic swap) and the next build finishes or removes what was left, saying so."""
    import datasets

    from conftest import tone
    from smoothclap.data import build

    raw, out = tmp_path / "raw", tmp_path / "out"
    for label, freq in (("angry", 300.0), ("sad", 150.0)):
        (raw / label).mkdir(parents=True)
        for i in range(2):
            sf.write(raw / label / f"{label}{i}.wav", tone(freq, 0.5, seed=i), 16000)
    build("folder", raw, out, features=False)
    count = lambda: sum(len(s) for s in datasets.load_from_disk(str(out)).values())  # noqa: E731
    assert count() == 4
    sf.write(raw / "sad" / "sad9.wav", tone(150.0, 0.5, seed=9), 16000)  # the new build has 5 clips
    proc = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(raw), str(out), point], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out."))
    assert leftovers, point
    if point != "between-renames":  # the atomic swap: always a loadable build, old or new
        assert count() == {"writing": 4, "ready": 4, "swapped": 5}[point]
    rerun = subprocess.run([sys.executable, "-m", "dataset_scripts", "build", "folder", "--data-dir", str(raw),
                            "--output", str(out), "--overwrite", "--no-features"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    notes = [line for line in rerun.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) >= len(leftovers) and all(".out." in n for n in notes), (leftovers, rerun.stderr)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert count() == 5


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_damaged_newest_checkpoint_is_named_and_latest_falls_back(damage, tiny_data, tiny_smoothclap,
                                                                    feature_cache_dir, tmp_path, capsys):
    import smoothclap.training.trainer as train_accelerate
    from processes import reset_accelerate_state
    from smoothclap.training.config import TrainingConfigError
    from test_train_accelerate import flags

    common = ("--epochs", "1", "--checkpoint-every", "1", "--keep-checkpoints", "5")
    run = flags(tiny_data, tiny_smoothclap, tmp_path / "run", *common, cache_dir=feature_cache_dir)
    try:
        train_accelerate.main(run)
        reset_accelerate_state()
        newest = tmp_path / "run" / "checkpoints" / "step_00000004"
        weights = newest / "model.safetensors"
        if damage == "truncate":
            weights.write_bytes(weights.read_bytes()[:100])
        else:
            weights.unlink()
        with pytest.raises(TrainingConfigError, match="model.safetensors"):  # named, not a traceback
            train_accelerate.main(run + ["--resume-from-checkpoint", str(newest)])
        reset_accelerate_state()
        capsys.readouterr()
        resumed = train_accelerate.main(run + ["--resume-from-checkpoint", "latest"])
    finally:
        reset_accelerate_state()
    out = capsys.readouterr().out
    assert f"skipping damaged checkpoint {newest}: model.safetensors" in out
    assert "resumed from" in out and "step_00000003" in out and resumed["global_step"] == 4


BAD_OUTPUTS = {"a file": "{file}", "under a file": "{file}/sub", "in /proc": "/proc/smoothclap-out"}


@pytest.mark.parametrize("where", sorted(BAD_OUTPUTS))
@pytest.mark.parametrize("command", ["build", "train", "evaluate"])
def test_a_bad_output_path_is_one_error_line_before_any_work(command, where, tiny_data, tiny_smoothclap, tmp_path,
                                                             capsys):
    """They were 20-25-line tracebacks with exit 1 after the work (issue 23.10)."""
    from smoothclap.cli import main

    afile = tmp_path / "a-file"
    afile.write_text("not a folder")
    out = BAD_OUTPUTS[where].format(file=afile)
    argv = {"build": ["build", "demo", "--output", out],
            "train": ["train", "--dataset", str(tiny_data), "--model", str(tiny_smoothclap), "--output-dir", out],
            "evaluate": ["evaluate", "--model", str(tiny_smoothclap), "--dataset", str(tiny_data),
                         "--output-dir", out]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and out in err[0], err


@pytest.mark.parametrize("where", ["a folder", "under a file", "in /proc"])
def test_classify_output_that_cannot_be_a_file_is_one_error_line(where, tiny_smoothclap, tmp_path, capsys):
    from conftest import tone
    from smoothclap.cli import main

    afile = tmp_path / "a-file"
    afile.write_text("x")
    out = {"a folder": str(tmp_path), "under a file": f"{afile}/out.jsonl", "in /proc": "/proc/out.jsonl"}[where]
    clip = tmp_path / "clip.wav"
    sf.write(clip, tone(200.0, 1.0), 16000)
    code = main(["classify", str(clip), "--labels", "a,b", "--model", str(tiny_smoothclap), "--output", out])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and out in err[0], err


@pytest.mark.parametrize("card, message", [("missing-folder/README.md", "does not exist"),
                                           ("folder", "is a folder"), ("bad.md", "YAML header does not parse")])
def test_evaluate_checks_the_model_card_it_will_update_first(card, message, tiny_data, tiny_smoothclap, tmp_path,
                                                             capsys):
    from smoothclap.cli import main

    (tmp_path / "folder").mkdir()
    (tmp_path / "bad.md").write_text("---\nbase_model: [unclosed\n---\n# card\n")
    code = main(["evaluate", "--model", str(tiny_smoothclap), "--dataset", str(tiny_data), "--output-dir",
                 str(tmp_path / "eval"), "--update-model-card", str(tmp_path / card)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "eval").exists()  # nothing was evaluated


def test_build_max_tags_below_zero_is_refused_before_the_build(tmp_path, capsys):
    from smoothclap.cli import main

    assert main(["build", "demo", "--output", str(tmp_path / "out"), "--max-tags", "-1"]) == 2
    assert "--max-tags must be an integer >= 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_resume_with_other_loss_settings_is_refused_unless_allowed(tiny_data, tiny_smoothclap, feature_cache_dir,
                                                                   tmp_path, capsys):
    import smoothclap.training.trainer as train_accelerate
    from processes import reset_accelerate_state
    from smoothclap.training.config import TrainingConfigError
    from test_train_accelerate import flags

    run = flags(tiny_data, tiny_smoothclap, tmp_path / "run", "--epochs", "1", "--checkpoint-every", "2",
                cache_dir=feature_cache_dir)
    try:
        train_accelerate.main(run + ["--max-steps", "2"])
        reset_accelerate_state()
        with pytest.raises(TrainingConfigError, match=r"--beta \(default\) -> 0\.5"):
            train_accelerate.main(run + ["--resume-from-checkpoint", "latest", "--beta", "0.5"])
        reset_accelerate_state()
        capsys.readouterr()
        results = train_accelerate.main(run + ["--resume-from-checkpoint", "latest", "--beta", "0.5",
                                               "--allow-changed-settings"])
    finally:
        reset_accelerate_state()
    assert "warning: resuming with changed settings" in capsys.readouterr().out and results["global_step"] >= 2


def test_thresholds_given_a_wav_names_the_file(tmp_path, capsys):
    from smoothclap.cli import main

    wav = tmp_path / "clip.wav"
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    assert main(["build", "demo", "--output", str(tmp_path / "out"), "--thresholds", str(wav)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(wav) in err[0] and "not a thresholds.json" in err[0], err


def test_empty_stored_captions_are_named_before_training(tiny_data, tiny_smoothclap, tmp_path):
    import datasets

    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.config import TrainingConfigError
    from test_train_accelerate import flags

    dd = datasets.load_from_disk(str(tiny_data))
    blank = {dd["train"]["id"][1], dd["train"]["id"][3]}
    dd["train"] = dd["train"].map(lambda r: {"caption": "" if r["id"] in blank else r["caption"]})
    data = tmp_path / "data"
    dd.save_to_disk(str(data))
    for name in ("smoothclap.json", "thresholds.json"):
        source = os.path.join(str(tiny_data), name)
        if os.path.exists(source):
            shutil.copy(source, data / name)
    with pytest.raises(TrainingConfigError, match="2 row.s. of the 'train' split have an empty caption") as err:
        train_accelerate.main(flags(data, tiny_smoothclap, tmp_path / "run", "--fixed-captions"))
    assert all(i in str(err.value) for i in blank)


def _damage(folder, how):
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    if how == "truncated":
        weights.write_bytes(data[: len(data) // 2])
    elif how == "zeroed":
        weights.write_bytes(bytes(len(data)))
    elif how == "random":
        weights.write_bytes(np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes())
    elif how == "no weights":
        weights.unlink()
    elif how == "no tokenizer":
        (folder / "tokenizer.json").unlink()


@pytest.mark.parametrize("how, named", [("truncated", "model.safetensors is truncated"),
                                        ("zeroed", "model.safetensors has no valid safetensors header"),
                                        ("random", "model.safetensors has no valid safetensors header"),
                                        ("no weights", "has no weights"), ("no tokenizer", "has no tokenizer")])
@pytest.mark.parametrize("command", ["classify", "evaluate"])
def test_a_damaged_model_folder_is_one_line_naming_the_file(command, how, named, tiny_data, tiny_smoothclap,
                                                            tmp_path, capsys):
    from conftest import tone
    from smoothclap.cli import main

    folder = tmp_path / "model"
    shutil.copytree(tiny_smoothclap, folder)
    _damage(folder, how)
    clip = tmp_path / "clip.wav"
    sf.write(clip, tone(200.0, 1.0), 16000)
    argv = {"classify": ["classify", str(clip), "--labels", "angry,sad", "--model", str(folder)],
            "evaluate": ["evaluate", "--model", str(folder), "--dataset", str(tiny_data), "--output-dir",
                         str(tmp_path / "eval")]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and named in err[0], err


def test_unknown_labels_in_texts_are_an_error(tiny_data):
    from smoothclap.evaluation import EvaluationError
    from smoothclap.evaluation.data import load_eval_set

    labels = json.loads((tiny_data / "smoothclap.json").read_text())["labels"] if hasattr(tiny_data, "joinpath") \
        else json.loads(open(os.path.join(str(tiny_data), "smoothclap.json")).read())["labels"]
    texts = {label: f"a {label} voice" for label in labels}
    assert load_eval_set(tiny_data, "test", texts).texts == [texts[label] for label in labels]
    with pytest.raises(EvaluationError, match=r"names labels \['angy'\]"):
        load_eval_set(tiny_data, "test", dict(texts, angy="an angry voice"))


def test_feature_cache_defaults_under_the_output_dir_and_dropped_clips_are_said(tiny_data, tiny_smoothclap, tmp_path,
                                                                                capsys, monkeypatch):
    import smoothclap.training.trainer as train_accelerate
    from processes import reset_accelerate_state
    from test_train_accelerate import flags

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    argv = [a for a in flags(tiny_data, tiny_smoothclap, tmp_path / "run", "--max-steps", "1")]
    argv[argv.index("--batch-size") + 1] = "5"  # 16 clips: 3 full batches, 1 clip left out per epoch
    try:
        train_accelerate.main(argv)
    finally:
        reset_accelerate_state()
    assert list((tmp_path / "run" / "feature_cache").glob("*/train.safetensors"))
    assert not (tmp_path / "hf-home").exists()  # nothing in the user's Hugging Face cache, unasked
    assert "each epoch leaves out 1 of 16 clips" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [(["--window", "0"], "--window must be > 0"),
                                            (["MISSING"], "MISSING")])
def test_classify_usage_errors_exit_2(extra, message, tiny_smoothclap, tmp_path, capsys):
    """--window 0 was exit 1 once per file; a missing path exits 2 as the README says."""
    from conftest import tone
    from smoothclap.cli import main

    clip = tmp_path / "clip.wav"
    sf.write(clip, tone(200.0, 1.0), 16000)
    argv = [str(clip), *(str(tmp_path / "missing.wav") if e == "MISSING" else e for e in extra)]
    code = main(["classify", *argv, "--labels", "a,b", "--model", str(tiny_smoothclap)])
    err = capsys.readouterr().err.strip().splitlines()
    shown = str(tmp_path / "missing.wav") if message == "MISSING" else message
    assert code == 2 and any(shown in line for line in err), err


def test_an_empty_train_split_builds_and_training_says_so(tiny_smoothclap, tmp_path, capsys):
    """Every train clip unreadable: the build still accounts for them, and train is one line."""
    from conftest import tone
    from smoothclap.data import build
    from smoothclap.cli import main

    raw = tmp_path / "raw"
    for label in ("angry", "sad"):
        (raw / "test" / label).mkdir(parents=True)
        (raw / "train" / label).mkdir(parents=True)
        sf.write(raw / "test" / label / "a.wav", tone(200.0, 0.5), 16000)
        (raw / "train" / label / "bad.wav").write_bytes(b"not audio")
    dd = build("folder", raw, tmp_path / "out", features=False)
    assert len(dd["train"]) == 0 and len(dd["test"]) == 2
    assert main(["train", "--dataset", str(tmp_path / "out"), "--model", str(tiny_smoothclap), "--output-dir",
                 str(tmp_path / "run"), "--report-to", "none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: the train split 'train' of '{tmp_path / 'out'}' is empty."


def test_a_running_builds_staging_and_cache_folders_are_left_alone(tmp_path):
    """The next build removes a killed build's staging folder and its temporary cache, but never
    those of a build still running (its owner file names a live process)."""
    import socket

    from smoothclap.data.outdir import OWNER_FILE, recover_leftovers

    out = tmp_path / "out"
    live, dead = tmp_path / ".out.building-live", tmp_path / ".out.building-dead"
    for staging, pid in ((live, os.getpid()), (dead, 2 ** 22 + 12345)):
        staging.mkdir()
        (staging / OWNER_FILE).write_text(f"{socket.gethostname()} {pid}")
        (tmp_path / f"{staging.name}.cache-abc").mkdir()
    notes = recover_leftovers(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.building-live", ".out.building-live.cache-abc"]
    assert len(notes) == 2 and all("killed" in n for n in notes)
