"""Is model A ahead of model B beyond noise? A paired bootstrap of the UAR difference over
the same clips, resampling speakers (voices) as well as clips.

Clips of one speaker are not independent (a voice the models both find hard pulls both
down), so resampling clips alone understates the noise of a speaker-disjoint test split.
Each resample here is two-stage (a cluster bootstrap): draw as many speakers as the split
has, with replacement; then, for every drawn speaker, draw as many of its clips as it has,
with replacement. Both models are scored on the SAME resampled clips (paired), so what
they share (the hard voices, the hard sentences) cancels out of the difference.

Several seeds: ``predictions_a`` / ``predictions_b`` of shape (seeds, clips), scored on
the same clips; a resample's difference is the mean over seeds of UAR_a - UAR_b on it, so
the interval covers the clip and voice sampling of the mean-over-seeds difference (the
seeds' own spread shows in the per-seed rows of a table).

    paired_bootstrap(references, predictions_a, predictions_b, groups, labels=None,
                     n_resamples=2000, seed=0, confidence=0.95) -> dict
    verdict(result, name_a="SmoothCLAP", name_b="ParaCLAP") -> str   # one plain sentence
"""

from __future__ import annotations

import numpy as np

from smoothclap.evaluation.metrics import _uar_core


def _encode(references, predictions, labels):
    """(classes, ref_idx (n,), pred_idx (seeds, n)); a prediction that is not a class counts as
    wrong (index n_classes), as the UAR metric does."""
    preds = np.asarray(predictions, dtype=object)
    preds = preds.reshape(1, -1) if preds.ndim == 1 else preds
    classes, first, ref_idx = _uar_core().encode(list(preds[0]), list(references), labels)
    rows = [first] + [_uar_core().encode(list(p), list(references), classes)[1] for p in preds[1:]]
    return classes, ref_idx, np.stack(rows)


def resamples(groups, n_resamples: int, seed: int):
    """Yield the clip indices of each two-stage resample (speakers, then their clips)."""
    groups = np.asarray(groups, dtype=object)
    names = sorted(set(groups.tolist()), key=str)
    members = [np.flatnonzero(groups == name) for name in names]
    rng = np.random.default_rng(seed)
    for _ in range(n_resamples):
        chosen = rng.integers(0, len(members), len(members))
        yield np.concatenate([members[g][rng.integers(0, len(members[g]), len(members[g]))] for g in chosen])


def _uar_on(ref_idx, pred_idx, n_classes, index=None):
    """UAR over the rows ``index`` (all when None): recall per class present, mean."""
    if index is not None:
        ref_idx, pred_idx = ref_idx[index], pred_idx[index]
    cm = np.bincount(ref_idx * (n_classes + 1) + pred_idx, minlength=n_classes * (n_classes + 1))
    cm = cm.reshape(n_classes, n_classes + 1)
    support = cm.sum(axis=1)
    present = support > 0
    return float((np.diag(cm[:, :n_classes])[present] / support[present]).mean())


def paired_bootstrap(references, predictions_a, predictions_b, groups, labels=None, n_resamples: int = 2000,
                     seed: int = 0, confidence: float = 0.95) -> dict:
    """UAR_a - UAR_b (mean over seeds) and its percentile interval (see the module docstring).

    Returns ``{"uar_a", "uar_b", "difference", "ci", "confidence", "share_a_ahead", "n_clips",
    "n_groups", "n_resamples", "n_seeds"}``; ``share_a_ahead`` is the share of resamples with a
    positive difference. ``groups`` is the speaker of each clip (one group per clip: a plain
    paired bootstrap over clips)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}.")
    classes, ref_idx, a = _encode(references, predictions_a, labels)
    _, _, b = _encode(references, predictions_b, classes)
    if a.shape != b.shape or len(groups) != len(ref_idx):
        raise ValueError(f"predictions {a.shape} and {b.shape}, references ({len(ref_idx)},) and groups "
                         f"({len(groups)},) must describe the same clips.")
    k = len(classes)

    def difference(index=None):
        return float(np.mean([_uar_on(ref_idx, pa, k, index) - _uar_on(ref_idx, pb, k, index)
                              for pa, pb in zip(a, b)]))

    draws = np.asarray([difference(index) for index in resamples(groups, n_resamples, seed)])
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return {"uar_a": float(np.mean([_uar_on(ref_idx, pa, k) for pa in a])),
            "uar_b": float(np.mean([_uar_on(ref_idx, pb, k) for pb in b])),
            "difference": difference(), "ci": [float(low), float(high)], "confidence": confidence,
            "share_a_ahead": float((draws > 0).mean()), "n_clips": int(len(ref_idx)),
            "n_groups": len(set(np.asarray(groups, dtype=object).tolist())), "n_resamples": int(n_resamples),
            "n_seeds": int(a.shape[0])}


def verdict(result: dict, name_a: str = "SmoothCLAP", name_b: str = "ParaCLAP") -> str:
    """One plain sentence: is A ahead of B beyond noise (the interval excludes 0)?"""
    low, high = result["ci"]
    span = (f"{result['difference']:+.3f} UAR, {round(100 * result['confidence'])} % interval "
            f"[{low:+.3f}, {high:+.3f}] over {result['n_clips']} clips of {result['n_groups']} voices"
            + (f", mean of {result['n_seeds']} seeds" if result["n_seeds"] > 1 else ""))
    if low > 0:
        return f"{name_a} is ahead of {name_b} beyond noise ({span})."
    if high < 0:
        return f"{name_a} is behind {name_b} beyond noise ({span})."
    return f"{name_a} is not ahead of {name_b} beyond noise: the difference is within noise ({span})."
