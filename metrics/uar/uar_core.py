"""UAR (unweighted average recall) and companions, in plain numpy.

The one implementation of the project's metric: ``uar.py`` (the `evaluate` module) and
``smoothclap.evaluation.metrics`` (evaluation, training-time validation) both call `compute_uar` / `bootstrap_uar`. It imports only numpy, so
that a training loop can report UAR without importing `evaluate` (which imports
transformers' pipelines, several seconds).

Conventions (also in README.md, the metric card):
- classes = ``labels`` if given, else the sorted distinct references;
- UAR = mean over classes of recall (= balanced accuracy = macro recall);
- a prediction that is not a class counts as an error for its row, never as a class;
- a class in ``labels`` with no reference sample is left out, with a warning;
- a reference that is not in ``labels`` is an error (it could not be scored).
"""

from __future__ import annotations

import warnings

import numpy as np

OTHER = "<other>"  # confusion-matrix column for predictions that are not a class


def _as_list(values, name: str) -> list:
    if values is None:
        raise ValueError(f"{name} is None; pass a list of labels.")
    if isinstance(values, np.ndarray):
        values = values.tolist()
    values = list(values)
    for v in values:
        if isinstance(v, (float, np.floating)) or not isinstance(v, (str, int, np.integer)):
            raise ValueError(f"{name} must hold int or str labels, got {v!r} ({type(v).__name__}).")
    return [int(v) if isinstance(v, np.integer) else v for v in values]


def encode(predictions, references, labels=None):
    """Index arrays for (predictions, references) over the class list.

    Returns ``(classes, pred_idx, ref_idx)``: ``ref_idx`` in [0, n_classes), ``pred_idx``
    in [0, n_classes] where n_classes marks a prediction that is not a class.
    """
    preds = _as_list(predictions, "predictions")
    refs = _as_list(references, "references")
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references; they must pair up.")
    if not refs:
        raise ValueError("No samples: predictions and references are empty.")
    if labels is None:
        classes = sorted(set(refs), key=lambda x: (isinstance(x, str), x))
    else:
        classes = _as_list(labels, "labels")
        if len(set(classes)) != len(classes):
            dup = sorted({c for c in classes if classes.count(c) > 1}, key=str)
            raise ValueError(f"labels has duplicates: {dup}.")
        unknown = sorted(set(refs) - set(classes), key=str)
        if unknown:
            raise ValueError(f"references contain {unknown}, which are not in labels={classes}; "
                             "add them to labels or drop those rows.")
        missing = [c for c in classes if c not in set(refs)]
        if missing:
            warnings.warn(f"UAR: classes {missing} have no reference sample and are left out "
                          "(their recall is undefined).", stacklevel=3)
            classes = [c for c in classes if c not in set(missing)]
    index = {c: i for i, c in enumerate(classes)}
    other = len(classes)
    pred_idx = np.fromiter((index.get(p, other) for p in preds), dtype=np.int64, count=len(preds))
    ref_idx = np.fromiter((index[r] for r in refs), dtype=np.int64, count=len(refs))
    return classes, pred_idx, ref_idx


def _confusion(pred_idx, ref_idx, n_classes):
    """(n_classes, n_classes + 1) counts; the last column counts non-class predictions."""
    flat = ref_idx * (n_classes + 1) + pred_idx
    return np.bincount(flat, minlength=n_classes * (n_classes + 1)).reshape(n_classes, n_classes + 1)


def compute_uar(predictions, references, labels=None, details: bool = False) -> dict:
    """``{"uar": float}``; with ``details=True`` also ``wa`` (accuracy over all rows),
    ``macro_f1`` (over the classes), ``recall`` (per class), ``labels`` (the classes, in
    order), ``confusion_matrix`` (rows = reference class, columns = predicted class, plus a
    last column ``"<other>"`` only when some prediction is not a class) and
    ``confusion_labels`` (the column names)."""
    classes, pred_idx, ref_idx = encode(predictions, references, labels)
    n = len(classes)
    cm = _confusion(pred_idx, ref_idx, n)
    support = cm.sum(axis=1)
    hits = np.diag(cm[:, :n])
    recall = hits / support
    result = {"uar": float(recall.mean())}
    if not details:
        return result
    predicted = cm[:, :n].sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros(n), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n), where=denom > 0)
    has_other = bool(cm[:, n].any())
    result.update(
        wa=float(hits.sum() / support.sum()),
        macro_f1=float(f1.mean()),
        recall=[float(r) for r in recall],
        labels=list(classes),
        confusion_matrix=(cm if has_other else cm[:, :n]).tolist(),
        confusion_labels=list(classes) + ([OTHER] if has_other else []),
    )
    return result


def bootstrap_uar(predictions, references, labels=None, n_resamples: int = 1000, seed: int = 0,
                  confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of UAR: rows resampled with replacement ``n_resamples``
    times with a fixed ``seed`` (same inputs, same interval). A class absent from a resample
    is left out of that resample's mean, as `compute_uar` does."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}.")
    classes, pred_idx, ref_idx = encode(predictions, references, labels)
    n_classes, n_rows = len(classes), len(ref_idx)
    rng = np.random.default_rng(seed)
    hit = (pred_idx == ref_idx).astype(np.float64)
    uars = np.empty(n_resamples)
    for start in range(0, n_resamples, 100):  # 100 resamples at a time bounds the memory
        stop = min(start + 100, n_resamples)
        rows = rng.integers(0, n_rows, size=(stop - start, n_rows))
        offset = (np.arange(stop - start) * n_classes)[:, None]
        keys = (ref_idx[rows] + offset).ravel()
        support = np.bincount(keys, minlength=(stop - start) * n_classes).reshape(-1, n_classes)
        hits = np.bincount(keys, weights=hit[rows].ravel(),
                           minlength=(stop - start) * n_classes).reshape(-1, n_classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            uars[start:stop] = np.nanmean(np.where(support > 0, hits / support, np.nan), axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(uars, [alpha, 1.0 - alpha])
    return float(low), float(high)


__all__ = ["OTHER", "bootstrap_uar", "compute_uar", "encode"]
