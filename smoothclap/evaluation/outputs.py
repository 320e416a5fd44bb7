"""What an evaluation writes: the markdown table, confusion-matrix PNGs (the paper's Fig. 2
style) and the results in a model card (model-index metadata and a results section)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from smoothclap.evaluation import PAPER_TABLE1, SYNTHETIC_CORPORA


def _fmt(x, digits=3):
    """.606 style, as the paper's table; "–" for a missing value."""
    if x is None or math.isnan(x):
        return "–"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("0.") else text


def markdown_table(results: dict, paper: bool = False) -> str:
    """The results as a markdown table (one row per dataset)."""
    head = ["dataset", "split", "classes", "scored", "UAR", "95% CI", "WA", "macro-F1", "leakage"]
    if paper:
        head += ["paper SmoothCLAP", "paper ParaCLAP"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, r in results.items():
        corpus, _, config = key.partition("/")
        name = PAPER_TABLE1.get((corpus, config), (key,))[0]
        if corpus in SYNTHETIC_CORPORA:
            name += " (synthetic)"
        row = [name, ",".join(r["splits"]), str(len(r["labels"])), f"{r['n_scored']}/{r['n_total']}",
               _fmt(r["uar"]), f"{_fmt(r['uar_ci95'][0])}–{_fmt(r['uar_ci95'][1])}", _fmt(r["wa"]),
               _fmt(r["macro_f1"]), r.get("leakage", "unknown")]
        if paper:
            ref = PAPER_TABLE1.get((corpus, config))
            row += [_fmt(ref[2]), _fmt(ref[1])] if ref else ["–", "–"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot_confusion(result: dict, title: str, path) -> None:
    """Row-normalised confusion matrix with class names and counts (the paper's Fig. 2 style)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(result["confusion_matrix"], dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    labels = result["labels"]
    size = 1.2 + 0.75 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{share[i, j]:.2f}\n({int(counts[i, j])})", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\nUAR {result['uar']:.3f} ({result['n_scored']}/{result['n_total']} clips)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


RESULTS_START = "<!-- evaluate_zeroshot:results:start -->"
RESULTS_END = "<!-- evaluate_zeroshot:results:end -->"


def update_model_card(card_path, results: dict, model_name: str, command: str = "") -> None:
    """Write the results into the card's model-index metadata (replacing entries for the same
    datasets) and into its results section between the evaluate_zeroshot markers."""
    from huggingface_hub import EvalResult, ModelCard

    card_path = Path(card_path)
    card = ModelCard(card_path.read_text(encoding="utf-8")) if card_path.is_file() else ModelCard("---\n---\n")
    keys = set()
    new = []
    for key, r in results.items():
        corpus, _, config = key.partition("/")
        name = PAPER_TABLE1.get((corpus, config), (key,))[0]
        if corpus in SYNTHETIC_CORPORA:
            name = f"{key} (SYNTHETIC demo corpus, not the paper's data)"
        keys.add((corpus, ",".join(r["splits"])))  # one entry per corpus and split (the trainer's too)
        common = dict(task_type="zero-shot-audio-classification", task_name="Zero-shot audio classification",
                      dataset_type=corpus, dataset_name=name, dataset_config=config,
                      dataset_split=",".join(r["splits"]))
        new.append(EvalResult(metric_type="uar", metric_name="UAR", metric_value=round(r["uar"], 4), **common))
        new.append(EvalResult(metric_type="accuracy", metric_name="WA", metric_value=round(r["wa"], 4), **common))
        new.append(EvalResult(metric_type="f1", metric_name="macro-F1", metric_value=round(r["macro_f1"], 4),
                              metric_args={"average": "macro"}, **common))
    kept = [e for e in (card.data.eval_results or []) if (e.dataset_type, e.dataset_split) not in keys]
    card.data.eval_results = kept + new
    card.data.model_name = card.data.model_name or "SmoothCLAP"
    body = _results_section(results, model_name, command)
    text = str(card)
    if RESULTS_START in text and RESULTS_END in text:
        before, rest = text.split(RESULTS_START, 1)
        text = before + body + rest.split(RESULTS_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    card_path.write_text(text, encoding="utf-8")


def _results_section(results: dict, model_name: str, command: str) -> str:
    synthetic = [k for k in results if k.partition("/")[0] in SYNTHETIC_CORPORA]
    lines = [RESULTS_START, "## Zero-shot results (written by evaluate_zeroshot.py)", ""]
    if synthetic:
        lines += ["**These numbers are on the SYNTHETIC demo corpus** (eSpeak NG speech, emotions acted by "
                  "prosody alone; built offline by `python -m smoothclap.data build demo`). They show that the "
                  "pipeline runs end to end; they are not the paper's corpora and say nothing about Table 1.", ""]
    lines += [f"Model: `{model_name}`." + (f" Command: `{command}`" if command else ""), "",
              markdown_table(results, paper=not synthetic or len(synthetic) < len(results)), "", RESULTS_END]
    return "\n".join(lines)
