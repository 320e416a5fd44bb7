"""The datasets an evaluation scores: a folder built by smoothclap.data (its smoothclap.json
gives labels and query texts) or a folder-per-label corpus, as an ``EvalSet``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from smoothclap.evaluation import PAPER_SPLITS, EvaluationError


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


def read_meta(path: Path) -> dict | None:
    """The built dataset's smoothclap.json (smoothclap.data' reader), None when there is none."""
    from smoothclap.data.card import METADATA_FILE, read_metadata

    return read_metadata(path) if (path / METADATA_FILE).is_file() else None


def _choose_splits(dd, corpus: str, split: str) -> list[str]:
    names = list(dd.keys())
    if split == "auto":
        # the paper's split; a corpus the paper scores whole (no official split) but built here with
        # held-out speakers (--option split=speaker:...): its test split, not the clips trained on
        wanted = PAPER_SPLITS.get(corpus, None)
        if wanted is None and "test" in names:
            wanted = ["test"]
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
                              "with python -m smoothclap.data build ... --overwrite") from None
    if isinstance(dd, datasets.Dataset):
        dd = datasets.DatasetDict({"full": dd})
    splits = _choose_splits(dd, meta.get("corpus", ""), split)
    parts = [dd[s] for s in splits]
    ds = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    missing = [c for c in ("audio", "label") if c not in ds.column_names]
    if missing:
        raise EvaluationError(f"{path}: columns {missing} missing; a dataset built by smoothclap.data has them.")
    label_feature = ds.features["label"]
    names = list(label_feature.names) if hasattr(label_feature, "names") else None
    return ds, splits, names


def _open_folder(path: Path, split: str) -> tuple:
    """A folder-per-label corpus read in place (no eGeMAPS, no build); ``<root>/<split>/<label>``
    layouts keep their splits."""
    import datasets
    import soundfile

    from smoothclap.data import CorpusError
    from smoothclap.data import folder as folder_corpus

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


def parse_text_map(value: str) -> dict:
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
            f"--dataset {str(path)!r} is not a folder. Give a folder built by `python -m smoothclap.data build "
            "<corpus> --data-dir D --output DIR` (corpora: python -m smoothclap.data list), or a folder-per-label "
            "corpus DIR/<label>/*.wav.")
    meta = read_meta(path)
    if meta is not None:
        ds, splits, names = _open_built(path, meta, split)
        labels, query_texts = meta.get("labels"), meta.get("query_texts")
        corpus, config = meta.get("corpus") or path.name, meta.get("config") or "default"
    elif (path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file():
        raise EvaluationError(f"{path} is a datasets folder without smoothclap.json (labels and query texts); "
                              "build it with python -m smoothclap.data build, or restore that file.")
    else:
        ds, splits, labels, query_texts = _open_folder(path, split)
        names, corpus, config = None, "folder", path.name
    if texts is not None:
        labels = labels or list(texts)
        missing = [label for label in labels if label not in texts]
        if missing:
            raise EvaluationError(f"--texts for {corpus}/{config} has no text for labels {missing}; give one "
                                  "per label.")
        extra = [label for label in texts if label not in labels]
        if extra:  # a typo ("angy") was ignored and its class scored with the stored text
            raise EvaluationError(f"--texts for {corpus}/{config} names labels {extra} the dataset does not have; "
                                  f"its labels are {list(labels)}.")
        query_texts = [texts[label] for label in labels]
    if not labels:
        raise EvaluationError(f"{path}: the dataset has no class labels ({corpus}); pass --texts "
                              f"{corpus}='{{\"label\": \"query text\", ...}}' to say which classes to score.")
    query_texts = list(query_texts or labels)
    if len(query_texts) != len(labels) or len(set(query_texts)) != len(query_texts):
        # two texts for four labels scored "4 classes, UAR .250": two classes could never win
        raise EvaluationError(
            f"{path}: {corpus}/{config} has {len(labels)} labels {list(labels)} but {len(query_texts)} query texts "
            f"{query_texts}" + (" (some the same)" if len(set(query_texts)) != len(query_texts) else "")
            + ": one distinct text per label, in label order. Fix query_texts in smoothclap.json (rebuild the "
            f"dataset) or pass --texts {corpus}='{{\"label\": \"query text\", ...}}'.")
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
