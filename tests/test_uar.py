"""The UAR metric module (metrics/uar) against scikit-learn, its conventions, and its
bad-input errors. scikit-learn is a test-only dependency."""

import importlib.util
import os
import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, recall_score

from conftest import ROOT

METRIC_DIR = os.path.join(ROOT, "metrics", "uar")


def _core():
    spec = importlib.util.spec_from_file_location("uar_core_under_test", os.path.join(METRIC_DIR, "uar_core.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


core = _core()


def _random_case(rng, kind):
    n_classes = int(rng.integers(2, 7))
    n = int(rng.integers(n_classes, 60))
    refs = rng.integers(0, n_classes, n)
    refs[:n_classes] = np.arange(n_classes)  # every class has a reference sample
    preds = rng.integers(0, n_classes, n)
    if kind == "never_predicted":  # one class is never predicted
        preds[preds == 0] = 1
    elif kind == "only_in_predictions":  # a label that is not a class
        preds[rng.random(n) < 0.2] = n_classes + 3
    return preds, refs, n_classes


@pytest.mark.parametrize("kind", ["plain", "never_predicted", "only_in_predictions"])
def test_matches_sklearn_on_random_cases(kind):
    rng = np.random.default_rng(hash(kind) % 2**32)
    for _ in range(40):
        preds, refs, n_classes = _random_case(rng, kind)
        classes = list(range(n_classes))
        got = core.compute_uar(preds, refs, details=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns about classes only in y_pred
            assert got["uar"] == pytest.approx(balanced_accuracy_score(refs, preds), abs=1e-12)
            assert got["uar"] == pytest.approx(
                recall_score(refs, preds, labels=classes, average="macro", zero_division=0), abs=1e-12)
            assert got["macro_f1"] == pytest.approx(
                f1_score(refs, preds, labels=classes, average="macro", zero_division=0), abs=1e-12)
        assert got["wa"] == pytest.approx(np.mean(preds == refs), abs=1e-12)
        square = np.array(got["confusion_matrix"])[:, :n_classes]
        np.testing.assert_array_equal(square, confusion_matrix(refs, preds, labels=classes))
        if (preds >= n_classes).any():
            # the non-class predictions sit in an extra column; no row is lost
            assert got["confusion_labels"][-1] == core.OTHER
            assert np.array(got["confusion_matrix"]).sum() == len(refs)
            # and they are not an extra class with recall 0 (sklearn's default labels would be)
            assert len(got["recall"]) == n_classes


def test_string_labels_and_explicit_order():
    got = core.compute_uar(["sad", "sad", "angry", "happy"], ["sad", "angry", "angry", "angry"],
                           labels=["angry", "sad"], details=True)
    assert got["uar"] == pytest.approx((1 / 3 + 1) / 2)
    assert got["labels"] == ["angry", "sad"]
    assert got["confusion_matrix"] == [[1, 1, 1], [0, 1, 0]]  # "happy" is not a class: <other>
    assert got["confusion_labels"] == ["angry", "sad", "<other>"]


def test_class_without_reference_is_left_out_with_warning():
    with pytest.warns(UserWarning, match=r"\['neutral'\].*no reference sample"):
        got = core.compute_uar(["sad", "angry"], ["sad", "sad"], labels=["sad", "neutral"], details=True)
    assert got["uar"] == 0.5 and got["labels"] == ["sad"]


@pytest.mark.parametrize("preds, refs, labels, match", [
    ([0, 1], [0], None, "2 predictions but 1 references"),
    ([], [], None, "No samples"),
    ([0, 1], [0, 2], [0, 1], r"references contain \[2\]"),
    ([0.5], [0], None, "int or str labels"),
    ([0], [0], [0, 0], "duplicates"),
])
def test_bad_input(preds, refs, labels, match):
    with pytest.raises(ValueError, match=match):
        core.compute_uar(preds, refs, labels=labels)


def test_bootstrap_interval_is_seeded_and_brackets_uar():
    rng = np.random.default_rng(0)
    refs = rng.integers(0, 4, 400)
    preds = np.where(rng.random(400) < 0.6, refs, rng.integers(0, 4, 400))
    uar = core.compute_uar(preds, refs)["uar"]
    low, high = core.bootstrap_uar(preds, refs, n_resamples=500, seed=3)
    assert low < uar < high and high - low < 0.2
    assert (low, high) == core.bootstrap_uar(preds, refs, n_resamples=500, seed=3)
    assert (low, high) != core.bootstrap_uar(preds, refs, n_resamples=500, seed=4)
    # by hand: the same resamples through compute_uar give the same percentile interval
    rng2 = np.random.default_rng(3)
    uars = []
    for _ in range(5):
        rows = rng2.integers(0, 400, size=(100, 400))
        uars += [core.compute_uar(preds[r], refs[r])["uar"] for r in rows]
    assert (low, high) == pytest.approx(tuple(np.quantile(uars, [0.025, 0.975])), abs=1e-12)


def test_evaluate_load_offline(tmp_path, monkeypatch):
    """Loads into a fresh module cache whatever ran before: evaluate reads HF_MODULES_CACHE once,
    at import, and imports its dynamic modules from the first ``evaluate_modules`` package on
    sys.path, so an env var alone is ignored once another test imported evaluate, and a cache
    left by an earlier run (another version of the metric) could be the one imported."""
    import sys
    from pathlib import Path

    import evaluate

    cache = tmp_path / "modules"
    monkeypatch.setenv("HF_MODULES_CACHE", str(cache))
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", Path(cache))
    monkeypatch.setattr(sys, "path", [str(cache)] + list(sys.path))  # ours first; restored afterwards
    for name in [n for n in sys.modules if n == "evaluate_modules" or n.startswith("evaluate_modules.")]:
        monkeypatch.delitem(sys.modules, name)

    metric = evaluate.load(METRIC_DIR)
    assert metric.compute(predictions=["sad", "sad", "angry"], references=["sad", "angry", "angry"]) == {"uar": 0.75}
    got = metric.compute(predictions=[1, 0, 0, 2], references=[1, 1, 0, 0], details=True, bootstrap=50)
    assert got["uar"] == 0.5 and got["wa"] == 0.5 and len(got["uar_ci"]) == 2
    assert got["confusion_matrix"] == [[1, 0, 1], [1, 1, 0]]
    # the card exists and states the conventions
    card = open(os.path.join(METRIC_DIR, "README.md"), encoding="utf-8").read()
    assert "balanced_accuracy_score" in card and "never an extra class" in card
    assert (cache / "evaluate_modules").is_dir()  # loaded through this test's cache, not another
