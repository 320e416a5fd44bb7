"""The demo's measurement parts: the linear-probe ceiling of a frozen encoder, confusion
matrices as text, and the one table of a multi-seed SmoothCLAP / ParaCLAP comparison.

    probe_uar(train_x, train_y, eval_x, eval_y, n_classes) -> float
    per_speaker_standardized(x, speakers) -> array  # each voice's rows to mean 0, std 1 (a study of the ceiling)
    confusion_text(result) -> str               # a zero-shot report's confusion matrix, plain text
    seed_table(runs, comparison) -> str         # markdown: per seed and mean, both splits, both models
"""

from __future__ import annotations

import numpy as np
import torch

from smoothclap.evaluation.metrics import uar


def probe_uar(train_x, train_y, eval_x, eval_y, n_classes: int, l2: float = 1e-3) -> float:
    """UAR of a multinomial logistic regression (standardised features, class-balanced loss,
    L-BFGS) fitted on ``train_x``: how much of the label the features carry linearly."""
    train_x, eval_x = np.asarray(train_x, dtype=np.float64), np.asarray(eval_x, dtype=np.float64)
    mean, std = train_x.mean(0), train_x.std(0) + 1e-8
    x = torch.from_numpy((train_x - mean) / std)
    y = torch.as_tensor(np.asarray(train_y), dtype=torch.long)
    counts = torch.bincount(y, minlength=n_classes).double().clamp(min=1)
    weight = counts.sum() / (n_classes * counts)  # balanced: the probe aims at UAR, not accuracy
    linear = torch.nn.Linear(x.shape[1], n_classes).double()
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y, weight=weight) + l2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = linear(torch.from_numpy((eval_x - mean) / std)).argmax(1).numpy()
    return uar(predicted.tolist(), np.asarray(eval_y).tolist(), labels=sorted(set(np.asarray(eval_y).tolist())))["uar"]


def per_speaker_standardized(x, speakers) -> np.ndarray:
    """``x`` (n, d) with each speaker's rows standardised on that speaker's own mean and std
    (the speaker normalisation of paralinguistics: a voice's baseline taken out; the training
    and evaluation's ``speakers.normalize_by_speaker`` towards mean 0, std 1, every speaker
    included). Uses every row of a speaker, labels never; a speaker with one row gets zeros."""
    from smoothclap.evaluation.speakers import normalize_by_speaker

    x = np.asarray(x, dtype=np.float64)
    unit = {"mean": [0.0] * x.shape[1], "std": [1.0] * x.shape[1]}
    return normalize_by_speaker(torch.from_numpy(x), list(speakers), unit, min_clips=1, eps=1e-8)[0].numpy()


def confusion_text(result: dict) -> str:
    """Rows = the reference label, columns = the predicted one; counts, then recall per row."""
    labels, cm = result["labels"], np.asarray(result["confusion_matrix"])
    width = max(8, *(len(x) for x in labels)) + 1
    lines = [" " * width + "".join(f"{x:>{width}s}" for x in labels) + f"{'recall':>{width}s}"]
    for label, row in zip(labels, cm):
        recall = row[labels.index(label)] / row.sum() if row.sum() else float("nan")
        lines.append(f"{label:>{width}s}" + "".join(f"{int(n):>{width}d}" for n in row) + f"{recall:>{width}.3f}")
    return "\n".join(lines)


def _cell(value: float) -> str:
    return f"{value:.3f}"


def _diff(result: dict) -> str:
    low, high = result["ci"]
    return f"{result['difference']:+.3f} [{low:+.3f}, {high:+.3f}]"


def seed_table(runs: list[dict], comparison: dict) -> str:
    """Markdown: one row per seed and a mean row. ``runs``: [{"seed", "smoothclap": {"validation_uar",
    "test_uar"}, "paraclap": {...}, "difference": {split: paired_bootstrap result}}]; ``comparison``:
    {split: paired_bootstrap over all seeds}. Probe columns when the runs carry ``probe``."""
    probe = all("probe" in run for run in runs)
    per_voice = probe and all("per_voice" in run["probe"] for run in runs)
    clip = all(run.get("clip") for run in runs)
    head = (["seed", "SmoothCLAP val", "ParaCLAP val", "difference val [95 %]", "SmoothCLAP test", "ParaCLAP test",
             "difference test [95 %]"] + (["SmoothCLAP test, clip", "ParaCLAP test, clip"] if clip else [])
            + (["probe val", "probe test"] if probe else [])
            + (["probe per voice val", "probe per voice test"] if per_voice else []))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(name, get, diffs, extra):
        cells = [name]
        for split in ("validation", "test"):
            cells += [_cell(get("smoothclap", split)), _cell(get("paraclap", split)), _diff(diffs[split])]
        lines.append("| " + " | ".join(cells + [_cell(x) for x in extra]) + " |")

    def extras(run):  # the optional columns' numbers, in the header's order
        out = [run["clip"][m]["test"] for m in ("smoothclap", "paraclap")] if clip else []
        out += [run["probe"][s] for s in ("validation", "test")] if probe else []
        return out + ([run["probe"]["per_voice"][s] for s in ("validation", "test")] if per_voice else [])

    for run in runs:
        row(str(run["seed"]), lambda m, s, r=run: r[m][f"{s}_uar"], run["difference"], extras(run))
    row(f"mean of {len(runs)}", lambda m, s: float(np.mean([r[m][f"{s}_uar"] for r in runs])), comparison,
        np.mean([extras(r) for r in runs], axis=0).tolist() if extras(runs[0]) else [])
    return "\n".join(lines)
