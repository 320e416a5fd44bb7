"""Leakage-aware evaluation (issue 24.3): an exported model records what it was trained and
selected on; evaluate marks each result in-sample, speaker-overlap, none or unknown."""

import json
import os
import shutil

import pytest

from test_train_accelerate import flags, fresh_accelerate_state  # noqa: F401


@pytest.fixture(scope="module")
def trained(tiny_data, tiny_smoothclap, tmp_path_factory):
    import smoothclap.training.trainer as train_accelerate
    from processes import reset_accelerate_state

    out = tmp_path_factory.mktemp("leak") / "run"
    try:
        train_accelerate.main(flags(tiny_data, tiny_smoothclap, out, "--epochs", "1", "--max-steps", "1"))
    finally:
        reset_accelerate_state()
    return out / "model"


def _evaluate(model, data, split, tmp_path, *extra):
    from smoothclap.cli import main

    out = tmp_path / f"eval-{split}"
    code = main(["evaluate", "--model", str(model), "--dataset", str(data), "--split", split, "--output-dir",
                 str(out), "--no-progress", "--bootstrap", "10", *extra])
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else None
    return code, results, out


def test_the_record_holds_hashes_of_the_train_and_validation_clips_not_ids(trained, tiny_data):
    record = json.loads((trained / "training_data.json").read_text())
    assert record["splits"] == ["train", "validation"] and record["n_clips"] == 16 + 8
    assert record["n_speakers"] == 6 and all(len(h) == 16 for h in record["clips"] + record["speakers"])
    assert "train0" not in json.dumps(record)  # speaker ids are not published


def test_validation_is_in_sample_test_is_none_and_strict_refuses(trained, tiny_data, tmp_path, capsys):
    code, results, out = _evaluate(trained, tiny_data, "validation", tmp_path)
    assert code == 0
    (result,) = results.values()
    assert result["leakage"] == "in-sample" and result["clips_seen"] == 8
    assert "in-sample" in capsys.readouterr().err and "in-sample" in (out / "results.md").read_text()
    code, results, _ = _evaluate(trained, tiny_data, "test", tmp_path)
    assert code == 0 and list(results.values())[0]["leakage"] == "none"
    code, results, _ = _evaluate(trained, tiny_data, "validation", tmp_path / "strict", "--strict")
    assert code == 2 and results is None  # refused before scoring
    assert "(--strict)" in capsys.readouterr().err


def test_speakers_seen_in_training_are_a_speaker_overlap(trained, tiny_data, tmp_path):
    import datasets

    dd = datasets.load_from_disk(str(tiny_data))
    dd["test"] = dd["test"].map(lambda r: {"speaker": r["speaker"].replace("test", "train")})
    data = tmp_path / "data"
    dd.save_to_disk(str(data))
    for name in ("smoothclap.json", "thresholds.json"):
        if os.path.exists(os.path.join(str(tiny_data), name)):
            shutil.copy(os.path.join(str(tiny_data), name), data / name)
    code, results, _ = _evaluate(trained, data, "test", tmp_path)
    assert code == 0 and list(results.values())[0]["leakage"] == "speaker-overlap"


def test_a_model_without_the_record_is_unknown(trained, tiny_data, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(trained, model)
    (model / "training_data.json").unlink()
    code, results, _ = _evaluate(model, tiny_data, "test", tmp_path)
    assert code == 0 and list(results.values())[0]["leakage"] == "unknown"


def test_two_models_in_one_evaluate_give_the_paired_table(trained, tiny_smoothclap, tiny_data, tmp_path):
    """Issue 24.4: several --model, one table with each pair's paired bootstrap (speakers, then clips);
    results.md names each model with its query texts and templates."""
    from smoothclap.cli import main

    out = tmp_path / "both"
    assert main(["evaluate", "--model", str(trained), "--model", str(tiny_smoothclap), "--dataset", str(tiny_data),
                 "--split", "test", "--output-dir", str(out), "--no-progress", "--bootstrap", "50"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {str(trained), str(tiny_smoothclap)}
    (key, pairs), = results["comparisons"].items()
    (pair,) = pairs
    assert pair["a"] == str(trained) and pair["n_groups"] == 3 and pair["n_clips"] == 8
    assert pair["ci"][0] <= pair["difference"] <= pair["ci"][1]
    a, b = (results["models"][m][key]["uar"] for m in (pair["a"], pair["b"]))
    assert abs(pair["difference"] - (a - b)) < 1e-9
    text = (out / "results.md").read_text()
    assert f"### Model `{trained}`" in text and f"### Model `{tiny_smoothclap}`" in text
    assert "query texts ['this person is feeling" in text and "beyond noise" in text
    assert all((out / d).is_dir() for d in os.listdir(out) if not d.startswith("results"))
