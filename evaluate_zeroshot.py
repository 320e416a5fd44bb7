"""Zero-shot benchmark runner for SmoothCLAP: the paper's Table 1 (UAR) on the corpora you have.

    python evaluate_zeroshot.py --model PATH_OR_REPO --dataset DIR [--dataset DIR ...] --output-dir OUT
    accelerate launch evaluate_zeroshot.py ...        # shards the clips over processes

``--dataset`` takes a folder built by ``python -m dataset_scripts build`` (its
``smoothclap.json`` gives the labels and the paper's query texts) or a folder-per-label
corpus (``DIR/<label>/*.wav``). Writes ``OUT/results.json`` (per dataset, keyed
``corpus/config``: uar, wa, macro_f1, n_scored, n_total, uar_ci95, ...), ``OUT/results.md``
(the table, also printed) and ``OUT/confusion_<corpus>_<config>.png`` (row-normalised, as
the paper's Fig. 2). ``--paper`` adds the paper's numbers; ``--update-model-card CARD``
writes the results into the card's ``model-index`` metadata and its results section.

Functions for other scripts (the trainer's validation UAR, the demo's table); importing
this module loads torch and transformers (as any model use does) but not datasets,
evaluate or matplotlib, and has no side effects:

    label_embeddings(model, processor, texts, templates=None, batch_size=64) -> (n_labels, d) tensor
        L2-normalised; several templates = their normalised mean, renormalised.
    zero_shot_predict(model, processor, dataset, label_embeds, batch_size=1, accelerator=None,
                      window=None, hop=None, audio_column="audio", id_column="id",
                      progress=True, desc=None) -> ZeroShotPredictions
        dataset: a datasets.Dataset (or a list of row dicts) with an audio column in any
        form audio_smoothclap.load_audio takes. Clips run longest first, ``batch_size`` at
        a time; with an accelerator each process embeds its shard and the results are
        gathered (gather_for_metrics), so every process gets all rows, in dataset order.
        ``.predictions`` (n,) int label index, -1 where a clip failed; ``.logits`` (n, L);
        ``.failures`` [{"index", "id", "error"}]; ``.scored`` boolean mask.
    zero_shot_report(predictions, references, labels, bootstrap=1000, seed=0) -> dict
        uar, wa, macro_f1, uar_ci95, n_scored, n_total, recall, confusion_matrix, failures.
    uar(predictions, references, labels=None, details=False) -> dict
        the metrics/uar module's computation (numpy only), for any UAR in the project.
    evaluate_model(model, processor, dataset_dir, ...) -> dict   # one built dataset, end to end
    main(argv=None)

Defaults follow the reference ParaCLAP evaluation: the dataset's query texts as they are
(template "{}"), argmax over them, full-length clips at 16 kHz (no windows).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipeline_smoothclap import (CPU_FAST_PATH_DTYPES, audio_embeddings, check_templates, logit_multiplier,
                                 text_embeddings, to_cpu_fast_path)

ROOT = Path(__file__).resolve().parent
HF_FILES = ("audio_smoothclap.py", "configuration_smoothclap.py", "modeling_smoothclap.py", "processing_smoothclap.py")

# The paper's Table 1 (UAR): (corpus, config) -> row name, ParaCLAP, SmoothCLAP.
PAPER_TABLE1 = {
    ("iemocap", "default"): ("IEMOCAP (4cl/en)", 0.600, 0.606),
    ("ravdess", "default"): ("RAVDESS (8cl/en)", 0.228, 0.175),
    ("crema_d", "default"): ("CREMA-D (6cl/en)", 0.177, 0.266),
    ("tess", "default"): ("TESS (7cl/en)", 0.170, 0.275),
    ("fau_aibo", "2class"): ("FAU Aibo (2cl/de)", 0.526, 0.555),
    ("fau_aibo", "5class"): ("FAU Aibo (5cl/de)", 0.197, 0.204),
    ("alc", "default"): ("ALC (2cl/de)", 0.537, 0.541),
    ("sld", "default"): ("SLD (2cl/de)", 0.507, 0.496),
}
# Which rows each Table 1 corpus is scored on (--split auto). The paper gives the test-set
# sizes for FAU-Aibo (Mont, 8 257 chunks) and ALC (3 000); IEMOCAP's 5 531 utterances are
# all five sessions; RAVDESS, CREMA-D, TESS and SLD are scored whole. Any other corpus: its
# `test` split if it has one, else all rows.
PAPER_SPLITS = {"fau_aibo": ["test"], "alc": ["test"], "iemocap": None, "ravdess": None,
                "crema_d": None, "tess": None, "sld": None}
SYNTHETIC_CORPORA = {"demo"}  # say so wherever their numbers appear


class EvaluationError(ValueError):
    """Bad input to the runner: the message names the problem and the fix."""


# --------------------------------------------------------------------------- metric
@functools.lru_cache(maxsize=1)
def _uar_core():
    """metrics/uar/uar_core.py, the one UAR implementation (loaded by path: `metrics` is a
    folder for `evaluate.load`, not a package)."""
    path = ROOT / "metrics" / "uar" / "uar_core.py"
    spec = importlib.util.spec_from_file_location("smoothclap_uar_core", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def uar(predictions, references, labels=None, details: bool = False) -> dict:
    """``{"uar": ...}`` (+ wa, macro_f1, recall, confusion_matrix with ``details``); see
    metrics/uar/README.md for the conventions."""
    return _uar_core().compute_uar(predictions, references, labels=labels, details=details)


# --------------------------------------------------------------------------- predictions
def label_embeddings(model, processor, texts, templates=None, batch_size: int = 64) -> torch.Tensor:
    """(n_labels, d) L2-normalised label embeddings (a template ensemble when several)."""
    return text_embeddings(model, processor, texts, templates, batch_size=batch_size)


@dataclass
class ZeroShotPredictions:
    predictions: np.ndarray  # (n,) label index, -1 where the clip failed
    logits: np.ndarray  # (n, n_labels) float32, NaN rows where the clip failed
    failures: list = field(default_factory=list)  # [{"index", "id", "error"}]

    @property
    def scored(self) -> np.ndarray:
        return self.predictions >= 0


class _Clips(torch.utils.data.Dataset):
    """Rows in a fixed order, decoded to 16 kHz mono; a clip that fails is returned with
    its error instead of stopping the run."""

    def __init__(self, dataset, order, audio_column, rate):
        self.dataset, self.order, self.audio_column, self.rate = dataset, order, audio_column, rate

    def __len__(self):
        return len(self.order)

    def __getitem__(self, i):
        from audio_smoothclap import load_audio

        index = int(self.order[i])
        try:
            return index, load_audio(self.dataset[index][self.audio_column], None, self.rate), None
        except Exception as err:  # any decoding problem: report the clip, go on
            return index, None, f"{type(err).__name__}: {err}"


def _collate(items):
    return [item[0] for item in items], [item[1] for item in items], [item[2] for item in items]


def _length_order(dataset) -> list[int]:
    """Longest first (little padding per batch, and any out-of-memory shows at once); the
    stored `duration` column when there is one, else dataset order."""
    columns = getattr(dataset, "column_names", None) or []
    if "duration" not in columns:
        return list(range(len(dataset)))
    durations = np.asarray(dataset["duration"], dtype=np.float64)
    return sorted(range(len(durations)), key=lambda i: (-durations[i], i))


def _row_ids(dataset, id_column):
    columns = getattr(dataset, "column_names", None)
    if columns is not None:
        return list(dataset[id_column]) if id_column in columns else [str(i) for i in range(len(dataset))]
    return [str(row.get(id_column, i)) for i, row in enumerate(dataset)]


def _batch_logits(model, processor, waves, label_embeds, window, hop, batch_size):
    """(B, L) logits for decoded clips (None = failed: NaN row); a failing batch is retried
    clip by clip so one bad clip cannot sink its neighbours."""
    n_labels = label_embeds.shape[0]
    out = torch.full((len(waves), n_labels), float("nan"))
    errors = [None] * len(waves)
    ok = [i for i, w in enumerate(waves) if w is not None]
    scale = logit_multiplier(model)

    def run(indices):
        emb = audio_embeddings(model, processor, [waves[i] for i in indices], window, hop, batch_size)
        out[indices] = (scale * emb @ label_embeds.T).float().cpu()

    if ok:
        try:
            run(ok)
        except Exception:
            for i in ok:
                try:
                    run([i])
                except Exception as err:
                    errors[i] = f"{type(err).__name__}: {err}"
    return out, errors


@torch.no_grad()
def zero_shot_predict(model, processor, dataset, label_embeds, batch_size: int = 1, accelerator=None,
                      window: float | None = None, hop: float | None = None, audio_column: str = "audio",
                      id_column: str = "id", progress: bool = True, desc: str | None = None) -> ZeroShotPredictions:
    """Zero-shot predictions for every row of ``dataset`` (see the module docstring)."""
    from tqdm.auto import tqdm

    if accelerator is not None:
        model = accelerator.unwrap_model(model)
    device = next(model.parameters()).device
    label_embeds = label_embeds.to(device)
    rate = int(processor.feature_extractor.sampling_rate)
    n = len(dataset)
    loader = torch.utils.data.DataLoader(_Clips(dataset, _length_order(dataset), audio_column, rate),
                                         batch_size=max(1, int(batch_size)), shuffle=False, collate_fn=_collate)
    if accelerator is not None:
        loader = accelerator.prepare_data_loader(loader)
    main = accelerator is None or accelerator.is_main_process
    was_training = model.training
    model.eval()
    indices, logits, failures = [], [], []
    try:
        for rows, waves, errors in tqdm(loader, desc=desc or "zero-shot", unit="batch",
                                        disable=not (progress and main)):
            batch_logits, model_errors = _batch_logits(model, processor, waves, label_embeds, window, hop,
                                                       batch_size)
            for row, err, model_err in zip(rows, errors, model_errors):
                if err or model_err:
                    failures.append({"index": int(row), "error": err or model_err})
            rows_t = torch.tensor(rows, dtype=torch.long)
            if accelerator is not None:
                rows_t, batch_logits = accelerator.gather_for_metrics(
                    (rows_t.to(accelerator.device), batch_logits.to(accelerator.device)))
            indices.append(rows_t.cpu())
            logits.append(batch_logits.cpu())
    finally:
        model.train(was_training)
    if accelerator is not None and accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        failures = gather_object(failures)
    return _assemble(n, torch.cat(indices), torch.cat(logits), failures, _row_ids(dataset, id_column))


def _assemble(n, indices, logits, failures, ids) -> ZeroShotPredictions:
    """Put gathered rows back in dataset order; every row must be there exactly once."""
    full = np.full((n, logits.shape[1]), np.nan, dtype=np.float32)
    seen = np.zeros(n, dtype=bool)
    full[indices.numpy()] = logits.numpy()
    seen[indices.numpy()] = True
    if not seen.all():  # would mean a sharding bug: never score a subset silently
        raise RuntimeError(f"{int((~seen).sum())} of {n} rows came back from no process.")
    unique = {f["index"]: f for f in failures}  # padding rows of an uneven shard repeat
    failed = [{"index": i, "id": str(ids[i]), "error": unique[i]["error"]} for i in sorted(unique)]
    bad = np.isnan(full).any(axis=1)
    predictions = np.where(bad, -1, np.nan_to_num(full, nan=-np.inf).argmax(axis=1))
    return ZeroShotPredictions(predictions=predictions.astype(np.int64), logits=full, failures=failed)


def zero_shot_report(predictions: ZeroShotPredictions, references, labels, bootstrap: int = 1000,
                     seed: int = 0) -> dict:
    """UAR and friends over the scored clips (failed clips are counted, never scored)."""
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


# --------------------------------------------------------------------------- datasets
@dataclass
class EvalSet:
    key: str  # "corpus/config"
    corpus: str
    config: str
    path: str
    splits: list
    labels: list
    texts: list
    dataset: object  # datasets.Dataset with audio, label (int index into labels), id[, duration]


def _read_meta(path: Path) -> dict | None:
    """The built dataset's smoothclap.json (dataset_scripts' reader), None when there is none."""
    from dataset_scripts.card import METADATA_FILE, read_metadata

    return read_metadata(path) if (path / METADATA_FILE).is_file() else None


def _choose_splits(dd, corpus: str, split: str) -> list[str]:
    names = list(dd.keys())
    if split == "auto":
        wanted = PAPER_SPLITS.get(corpus, ["test"] if "test" in names else None)
        return names if wanted is None else wanted
    if split == "all":
        return names
    wanted = [s.strip() for s in split.split(",") if s.strip()]
    missing = [s for s in wanted if s not in names]
    if missing:
        raise EvaluationError(f"Split(s) {missing} not in this dataset; it has {names} (or use --split all).")
    return wanted


def _open_built(path: Path, meta: dict, split: str) -> tuple:
    import datasets

    try:
        dd = datasets.load_from_disk(str(path))
    except Exception as err:
        raise EvaluationError(f"{path} has smoothclap.json but is not a readable dataset ({err}); rebuild it "
                              "with python -m dataset_scripts build ... --overwrite") from None
    if isinstance(dd, datasets.Dataset):
        dd = datasets.DatasetDict({"full": dd})
    splits = _choose_splits(dd, meta.get("corpus", ""), split)
    parts = [dd[s] for s in splits]
    ds = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    missing = [c for c in ("audio", "label") if c not in ds.column_names]
    if missing:
        raise EvaluationError(f"{path}: columns {missing} missing; a dataset built by dataset_scripts has them.")
    label_feature = ds.features["label"]
    names = list(label_feature.names) if hasattr(label_feature, "names") else None
    return ds, splits, names


def _open_folder(path: Path, split: str) -> tuple:
    """A folder-per-label corpus read in place (no eGeMAPS, no build); ``<root>/<split>/<label>``
    layouts keep their splits."""
    import datasets
    import soundfile

    from dataset_scripts import CorpusError
    from dataset_scripts import folder as folder_corpus

    try:
        config = folder_corpus.resolve_config(path, "default", {})
        records = list(folder_corpus.scan(path, "default", {}))
    except CorpusError as err:
        raise EvaluationError(str(err)) from None
    by_split: dict = {}
    for rec in records:
        try:
            duration = float(soundfile.info(str(rec["audio"])).duration)
        except Exception:
            duration = 0.0  # unreadable: decoding will fail and be reported
        rows = by_split.setdefault("full" if rec["split"] == "all" else rec["split"], [])
        rows.append({"id": rec["id"], "audio": {"bytes": None, "path": str(rec["audio"])}, "label": rec["label"],
                     "duration": duration})
    dd = datasets.DatasetDict({name: datasets.Dataset.from_list(rows) for name, rows in by_split.items()})
    splits = _choose_splits(dd, "folder", split)
    ds = datasets.concatenate_datasets([dd[s] for s in splits])
    return ds, splits, config.labels, config.query_texts


def _text_map(value: str) -> dict:
    """--texts value: a JSON object {label: text} inline or in a file."""
    source = value
    if not value.lstrip().startswith("{"):
        if not os.path.isfile(value):
            raise EvaluationError(f"--texts value {value!r} is neither a JSON object nor a JSON file.")
        source = Path(value).read_text(encoding="utf-8")
    try:
        mapping = json.loads(source)
    except json.JSONDecodeError as err:
        raise EvaluationError(f"--texts: invalid JSON ({err}); expected {{\"label\": \"query text\", ...}}.") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise EvaluationError('--texts: expected a JSON object {"label": "query text", ...}.')
    return mapping


def load_eval_set(path, split: str = "auto", texts: dict | None = None) -> EvalSet:
    """A built dataset or a folder-per-label corpus, with its labels and query texts
    (``texts`` {label: text} replaces them) and the label column as label indices."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise EvaluationError(
            f"--dataset {str(path)!r} is not a folder. Give a folder built by `python -m dataset_scripts build "
            "<corpus> --data-dir D --output DIR` (corpora: python -m dataset_scripts list), or a folder-per-label "
            "corpus DIR/<label>/*.wav.")
    meta = _read_meta(path)
    if meta is not None:
        ds, splits, names = _open_built(path, meta, split)
        labels, query_texts = meta.get("labels"), meta.get("query_texts")
        corpus, config = meta.get("corpus") or path.name, meta.get("config") or "default"
    elif (path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file():
        raise EvaluationError(f"{path} is a datasets folder without smoothclap.json (labels and query texts); "
                              "build it with python -m dataset_scripts build, or restore that file.")
    else:
        ds, splits, labels, query_texts = _open_folder(path, split)
        names, corpus, config = None, "folder", path.name
    if texts is not None:
        labels = labels or list(texts)
        missing = [label for label in labels if label not in texts]
        if missing:
            raise EvaluationError(f"--texts for {corpus}/{config} has no text for labels {missing}; give one "
                                  "per label.")
        query_texts = [texts[label] for label in labels]
    if not labels:
        raise EvaluationError(f"{path}: the dataset has no class labels ({corpus}); pass --texts "
                              f"{corpus}='{{\"label\": \"query text\", ...}}' to say which classes to score.")
    query_texts = list(query_texts or labels)
    ds = _label_indices(ds, labels, names, f"{corpus}/{config}")
    return EvalSet(key=f"{corpus}/{config}", corpus=corpus, config=config, path=str(path), splits=splits,
                   labels=list(labels), texts=query_texts, dataset=ds)


def _label_indices(ds, labels, names, key):
    """Map the label column to indices into ``labels``; every value must have a text."""
    values = ds["label"]
    as_names = [names[v] if names is not None else v for v in values]
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({str(v) for v in as_names if v not in index})
    if unknown:
        raise EvaluationError(f"{key}: labels {unknown} of the dataset are not in its label-text map {labels}; "
                              "give them a query text with --texts or drop those rows.")
    return ds.remove_columns("label").add_column("label", [index[v] for v in as_names])


# --------------------------------------------------------------------------- model
def check_model_source(name_or_path: str) -> str:
    """The path or repo id to load; a local-looking path must be a saved SmoothCLAP folder."""
    path = Path(name_or_path).expanduser()
    looks_local = path.exists() or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if not looks_local:
        return name_or_path  # a Hub repo id
    if not path.is_dir():
        raise EvaluationError(f"Model folder {name_or_path!r} not found.")
    missing = [f for f in ("config.json",) + HF_FILES if not (path / f).is_file()]
    if missing:
        raise EvaluationError(
            f"Model folder {name_or_path!r} lacks {missing}: save a SmoothCLAP with model.save_pretrained(DIR) "
            "and processor.save_pretrained(DIR) (they copy the .py files), or train one with train_accelerate.py.")
    return str(path)


def load_model(name_or_path: str, device=None, dtype: str = "float32"):
    """AutoModel + AutoProcessor with trust_remote_code, with clear errors for a bad folder.
    ``dtype`` "int8" or "bfloat16": the audio encoder's CPU fast path
    (pipeline_smoothclap.to_cpu_fast_path; the folder on disk is not changed)."""
    from transformers import AutoModel, AutoProcessor

    source = check_model_source(name_or_path)
    try:
        model = AutoModel.from_pretrained(source, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained(source, trust_remote_code=True)
    except OSError as err:
        raise EvaluationError(f"Could not load model {name_or_path!r}: {str(err).splitlines()[0]}") from None
    if device is not None:
        model.to(device)
    to_cpu_fast_path(model, dtype)  # float32: unchanged
    return model.eval(), processor


# --------------------------------------------------------------------------- outputs
def _fmt(x, digits=3):
    """.606 style, as the paper's table; "–" for a missing value."""
    if x is None or math.isnan(x):
        return "–"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("0.") else text


def markdown_table(results: dict, paper: bool = False) -> str:
    """The results as a markdown table (one row per dataset)."""
    head = ["dataset", "split", "classes", "scored", "UAR", "95% CI", "WA", "macro-F1"]
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
               _fmt(r["macro_f1"])]
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
        keys.add((corpus, config))
        common = dict(task_type="zero-shot-audio-classification", task_name="Zero-shot audio classification",
                      dataset_type=corpus, dataset_name=name, dataset_config=config,
                      dataset_split=",".join(r["splits"]))
        new.append(EvalResult(metric_type="uar", metric_name="UAR", metric_value=round(r["uar"], 4), **common))
        new.append(EvalResult(metric_type="accuracy", metric_name="WA", metric_value=round(r["wa"], 4), **common))
        new.append(EvalResult(metric_type="f1", metric_name="macro-F1", metric_value=round(r["macro_f1"], 4),
                              metric_args={"average": "macro"}, **common))
    kept = [e for e in (card.data.eval_results or []) if (e.dataset_type, e.dataset_config) not in keys]
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
                  "prosody alone; built offline by `python -m dataset_scripts build demo`). They show that the "
                  "pipeline runs end to end; they are not the paper's corpora and say nothing about Table 1.", ""]
    lines += [f"Model: `{model_name}`." + (f" Command: `{command}`" if command else ""), "",
              markdown_table(results, paper=not synthetic or len(synthetic) < len(results)), "", RESULTS_END]
    return "\n".join(lines)


# --------------------------------------------------------------------------- run
def evaluate_model(model, processor, eval_set: EvalSet, templates=None, batch_size: int = 1, accelerator=None,
                   window=None, hop=None, bootstrap: int = 1000, seed: int = 0, progress: bool = True,
                   cache: dict | None = None) -> dict:
    """Predict and score one dataset; ``cache`` keeps label embeddings across datasets."""
    key = (tuple(eval_set.texts), tuple(templates or ["{}"]))
    if cache is not None and key in cache:
        label_embeds = cache[key]
    else:
        label_embeds = label_embeddings(model, processor, eval_set.texts, templates)
        if cache is not None:
            cache[key] = label_embeds
    preds = zero_shot_predict(model, processor, eval_set.dataset, label_embeds, batch_size=batch_size,
                              accelerator=accelerator, window=window, hop=hop, progress=progress,
                              desc=eval_set.key)
    references = eval_set.dataset["label"]
    result = zero_shot_report(preds, references, eval_set.labels, bootstrap=bootstrap, seed=seed)
    result.update(splits=eval_set.splits, texts=eval_set.texts, path=eval_set.path,
                  templates=list(templates or ["{}"]))
    ids = _row_ids(eval_set.dataset, "id")
    result["_rows"] = [  # per-clip output (written to predictions_*.jsonl, not results.json)
        {"id": str(i), "label": eval_set.labels[r], "prediction": eval_set.labels[p] if p >= 0 else None,
         "logits": [round(float(x), 6) for x in row] if p >= 0 else None}
        for i, r, p, row in zip(ids, references, preds.predictions.tolist(), preds.logits)]
    ref = PAPER_TABLE1.get((eval_set.corpus, eval_set.config))
    if ref:
        result["paper"] = {"smoothclap_uar": ref[2], "paraclap_uar": ref[1]}
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evaluate_zeroshot.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python evaluate_zeroshot.py --model smoothclap-demo --dataset data/demo "
               "--output-dir eval --paper")
    p.add_argument("--model", required=True, help="SmoothCLAP folder (save_pretrained) or Hub repo id")
    p.add_argument("--dataset", required=True, action="append",
                   help="folder built by dataset_scripts, or a folder-per-label corpus; repeat for several")
    p.add_argument("--output-dir", required=True, help="where results.json, results.md and the PNGs go")
    p.add_argument("--split", default="auto",
                   help="'auto' (the paper's rows: test for FAU-Aibo and ALC, all rows for the other Table 1 "
                        "corpora, else test if present, else all), 'all', or names such as 'test' or 'session1,session2'")
    p.add_argument("--texts", action="append", default=[], metavar="DATASET=JSON",
                   help="replace a dataset's query texts: DATASET is corpus/config, the corpus or the folder name; "
                        "JSON is {\"label\": \"text\", ...} inline or a .json file")
    p.add_argument("--template", action="append", default=None,
                   help="prompt template with {} for the query text; repeat for an ensemble (default '{}')")
    p.add_argument("--batch-size", type=int, default=None,
                   help="clips per forward (default 1 on CPU: batching wav2vec2 was slower per clip on 2 CPU "
                        "threads, see bench/zeroshot_speed.py; 16 on GPU)")
    p.add_argument("--window", type=float, default=None, help="split clips longer than this many seconds into windows")
    p.add_argument("--hop", type=float, default=None, help="window hop in seconds (default: the window)")
    p.add_argument("--dtype", default="float32", choices=CPU_FAST_PATH_DTYPES,
                   help="audio encoder on CPU: float32 (exact, default), int8 (dynamic int8 quantisation, 1.4-1.6x "
                        "faster) or bfloat16 (only fast on CPUs with avx512_bf16/amx_bf16); README, 'CPU fast path'")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for uar_ci95 (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--paper", action="store_true", help="print the paper's Table 1 numbers beside the measured ones")
    p.add_argument("--update-model-card", metavar="CARD", help="write the results into this model card")
    p.add_argument("--model-name", default=None, help="how the card names the model (default: --model)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _validate(args) -> dict:
    """Everything that can be checked before loading a model; returns --texts by key."""
    if args.template is not None:
        check_templates(args.template)
    if args.window is not None and args.window <= 0:
        raise EvaluationError(f"--window must be > 0 seconds, got {args.window}.")
    if args.hop is not None and (args.window is None or not 0 < args.hop <= args.window):
        raise EvaluationError("--hop needs --window and 0 < hop <= window (a longer hop would skip audio).")
    if args.batch_size is not None and args.batch_size < 1:
        raise EvaluationError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if args.bootstrap < 1:
        raise EvaluationError(f"--bootstrap must be >= 1, got {args.bootstrap}.")
    texts = {}
    for item in args.texts:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise EvaluationError(f"--texts {item!r}: expected DATASET=JSON, e.g. demo='{{\"sad\": \"a sad voice\"}}'.")
        texts[name.strip()] = _text_map(value)
    return texts


def _texts_for(path: str, meta: dict | None, texts: dict, used: set):
    names = [Path(path).name, str(path)]
    if meta:
        names += [meta.get("corpus"), f"{meta.get('corpus')}/{meta.get('config')}"]
    for name in names:
        if name in texts:
            used.add(name)
            return texts[name]
    return None


def run(args) -> dict:
    texts = _validate(args)
    used: set = set()
    sets = []
    for path in args.dataset:
        meta = _read_meta(Path(path)) if Path(path).is_dir() else None
        sets.append(load_eval_set(path, args.split, _texts_for(path, meta, texts, used)))
    unknown = sorted(set(texts) - used)
    if unknown:
        raise EvaluationError(f"--texts names unknown dataset(s) {unknown}; known: "
                              f"{sorted({s.key for s in sets} | {s.corpus for s in sets})}.")
    keys = [s.key for s in sets]
    for s in sets:
        if keys.count(s.key) > 1:
            s.key = f"{s.key}@{Path(s.path).name}"
    if len({s.key for s in sets}) != len(sets):
        raise EvaluationError(f"The same dataset is given twice: {keys}.")

    from accelerate import Accelerator

    accelerator = Accelerator()
    if args.dtype != "float32" and accelerator.device.type != "cpu":
        raise EvaluationError(f"--dtype {args.dtype} is a CPU fast path; this run is on {accelerator.device}.")
    model, processor = load_model(args.model, accelerator.device, dtype=args.dtype)
    batch_size = args.batch_size or (16 if accelerator.device.type == "cuda" else 1)
    out = Path(args.output_dir)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
    results, cache = {}, {}
    for s in sets:
        result = evaluate_model(model, processor, s, templates=args.template, batch_size=batch_size,
                                accelerator=accelerator, window=args.window, hop=args.hop,
                                bootstrap=args.bootstrap, seed=args.seed, progress=not args.no_progress,
                                cache=cache)
        result.update(model=args.model, window=args.window, hop=args.hop, batch_size=batch_size,
                      num_processes=accelerator.num_processes, audio_dtype=args.dtype)
        if accelerator.is_main_process:
            stem = s.key.replace("/", "_").replace("@", "_")
            png = out / f"confusion_{stem}.png"
            plot_confusion(result, PAPER_TABLE1.get((s.corpus, s.config), (s.key,))[0], png)
            result["confusion_png"] = png.name
            rows = out / f"predictions_{stem}.jsonl"
            rows.write_text("".join(json.dumps(row) + "\n" for row in result["_rows"]), encoding="utf-8")
            result["predictions_file"] = rows.name
            for failure in result["failures"]:
                print(f"warning: {s.key}: clip {failure['id']} failed: {failure['error']}", file=sys.stderr)
        result.pop("_rows")
        results[s.key] = result
    if accelerator.is_main_process:
        table = markdown_table(results, paper=args.paper)
        (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        (out / "results.md").write_text(table + "\n", encoding="utf-8")
        print(table)
        if args.update_model_card:
            update_model_card(args.update_model_card, results, args.model_name or args.model,
                              command=shlex.join(["python", "evaluate_zeroshot.py"] + args.argv))
    accelerator.wait_for_everyone()
    return results


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return run(args)
    except ValueError as err:  # EvaluationError and the shared checks' errors: bad input
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
