"""UAR and the report of a zero-shot run; the computation is metrics/uar/uar_core.py, shipped
with the package (``evaluate.load(str(uar_dir()))`` loads the same metric as an `evaluate` module)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import numpy as np

from smoothclap.evaluation import EvaluationError


def uar_dir() -> Path:
    """The metrics/uar folder: the clone's, or the installed package's copy."""
    from smoothclap.assets import shipped_folder

    return shipped_folder("metrics") / "uar"


@functools.lru_cache(maxsize=1)
def _uar_core():
    """metrics/uar/uar_core.py, the one UAR implementation (loaded by path: `metrics/uar` is a
    folder for `evaluate.load`, not a package)."""
    path = uar_dir() / "uar_core.py"
    spec = importlib.util.spec_from_file_location("smoothclap_uar_core", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def uar(predictions, references, labels=None, details: bool = False) -> dict:
    """``{"uar": ...}`` (+ wa, macro_f1, recall, confusion_matrix with ``details``); see
    metrics/uar/README.md for the conventions."""
    return _uar_core().compute_uar(predictions, references, labels=labels, details=details)


def zero_shot_report(predictions, references, labels, bootstrap: int = 1000,
                     seed: int = 0) -> dict:
    """UAR and friends over the scored clips of ``predictions`` (predict.ZeroShotPredictions;
    failed clips are counted, never scored)."""
    refs = np.asarray(references)
    scored = predictions.scored
    result = {"n_total": int(len(refs)), "n_scored": int(scored.sum()),
              "failures": list(predictions.failures), "labels": list(labels)}
    if not scored.any():
        raise EvaluationError(f"No clip could be scored ({len(refs)} failed); first error: "
                              f"{predictions.failures[0]['error'] if predictions.failures else '?'}")
    preds, refs = predictions.predictions[scored].tolist(), refs[scored].tolist()
    present = sorted(set(refs))  # labels without a clip have no recall (metric convention)
    metrics = uar(preds, refs, labels=present, details=True)
    core = _uar_core()
    low, high = core.bootstrap_uar(preds, refs, labels=present, n_resamples=bootstrap, seed=seed)
    square = np.zeros((len(labels), len(labels)), dtype=np.int64)  # every label, in label order
    for r, p in zip(refs, preds):
        square[r, p] += 1
    result.update(uar=metrics["uar"], wa=metrics["wa"], macro_f1=metrics["macro_f1"],
                  uar_ci95=[low, high],
                  recall={labels[c]: r for c, r in zip(metrics["labels"], metrics["recall"])},
                  confusion_matrix=square.tolist())
    return result
