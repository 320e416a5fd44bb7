"""What a built dataset says about itself: ``smoothclap.json`` (corpus, config, candidate
labels and query texts, thresholds and their source, build settings), the same labels in
the dataset info's description (so a split folder alone still has them), ``label_texts``
to read them back, and the dataset card ``README.md``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import datasets

from .binning import THRESHOLDS_FILE
from .report import REPORT_FILE, BuildReport

__all__ = ["CARD_FILE", "METADATA_FILE", "label_texts", "make_metadata", "read_metadata", "write_card",
           "write_metadata"]

METADATA_FILE = "smoothclap.json"
CARD_FILE = "README.md"
METADATA_MARKER = "smoothclap-metadata: "


def make_metadata(module, config_name: str, config, **extra) -> dict:
    """The content of ``smoothclap.json``."""
    meta = {
        "corpus": module.NAME,
        "config": config_name,
        "labels": config.labels,
        "query_texts": config.query_texts,
        "license": config.license,
        "homepage": config.homepage,
    }
    meta.update(extra)
    return meta


def read_metadata(dataset_dir: str | os.PathLike) -> dict:
    """``smoothclap.json`` of a built folder, {} when there is none."""
    path = Path(dataset_dir) / METADATA_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_metadata(dataset_dir: str | os.PathLike, meta: Mapping) -> None:
    text = json.dumps(meta, indent=2, default=str) + "\n"
    (Path(dataset_dir) / METADATA_FILE).write_text(text, encoding="utf-8")


def description_with_metadata(description: str, meta: Mapping) -> str:
    """The dataset info's description with the labels block ``label_texts`` falls back to."""
    base = (description or "").split(METADATA_MARKER)[0].rstrip()
    block = METADATA_MARKER + json.dumps(
        {k: meta.get(k) for k in ("corpus", "config", "labels", "query_texts")}, sort_keys=True
    )
    return f"{base}\n\n{block}" if base else block


def _metadata_from_description(description: str | None) -> dict | None:
    if not description or METADATA_MARKER not in description:
        return None
    line = description.split(METADATA_MARKER, 1)[1].splitlines()[0]
    return json.loads(line)


def label_texts(dataset_or_dir) -> tuple[list[str] | None, list[str] | None]:
    """Candidate labels and their query texts stored with a built dataset.

    Accepts a ``Dataset``, a ``DatasetDict`` or the directory written by ``build()`` /
    ``export_captions()`` (reads ``smoothclap.json``, else the dataset info). Returns
    ``(labels, query_texts)``, ``(None, None)`` for corpora without class labels."""
    meta = None
    if isinstance(dataset_or_dir, (str, os.PathLike)):
        meta = read_metadata(dataset_or_dir) or None
        if meta is None:
            dataset_or_dir = datasets.load_from_disk(str(dataset_or_dir))
    if meta is None:
        ds = dataset_or_dir
        if isinstance(ds, datasets.DatasetDict):
            ds = next(iter(ds.values()))
        meta = _metadata_from_description(ds.info.description)
        if meta is None:
            feature = ds.features.get("label")
            if isinstance(feature, datasets.ClassLabel):
                return list(feature.names), list(feature.names)
            raise ValueError("No SmoothCLAP label metadata found in this dataset (was it built by smoothclap.data?).")
    return meta.get("labels"), meta.get("query_texts")


def _fmt(x) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


_COLUMN_DOCS = [
    ("id", "string", "utterance id (unique within the corpus)"),
    ("audio", "{bytes, path}", "the original audio file bytes (Audio's Arrow layout; `cast_column('audio', Audio(decode=False))`), or with --paths-only no bytes and an absolute path"),
    ("split", "string", "normalised split name"),
    ("speaker", "string", "speaker id, or null"),
    ("gender", "string", "male / female / null"),
    ("label", "ClassLabel or string", "class label (evaluation target), or null"),
    ("emotion", "string", "emotion adjective used in captions, or null"),
    ("arousal, valence, dominance", "float32", "dimensional ratings, or null"),
    ("duration", "float32", "seconds"),
    ("pitch_mean, pitch_variation, loudness, jitter, shimmer", "float32", "eGeMAPSv02 functionals used for tags"),
    ("egemaps", "88 x float32", "all eGeMAPSv02 functionals (names: egemaps.EGEMAPS_NAMES)"),
    ("tag_sentences", "list of string", "every tag phrase of the row"),
    ("caption", "string", "training caption (a seeded random combination of tags)"),
    ("tags", "string", "compact `attribute: bin` tags (deterministic)"),
]


def write_card(output_dir: Path, meta: Mapping, report: BuildReport | None, thresholds: Mapping | None,
               split_rows: Mapping[str, int], captions_only: bool = False) -> None:
    """Write the dataset card ``README.md`` (YAML header + sections) into ``output_dir``."""
    sections = [
        _header(meta, captions_only, sum(split_rows.values())),
        _source(meta, captions_only),
        _splits(split_rows, report),
        _split_assignment(meta),
        _labels(meta),
        _columns(captions_only),
        _thresholds(meta, thresholds),
        _how_built(meta, captions_only),
    ]
    text = "\n\n".join("\n".join(lines) for lines in sections if lines)
    (Path(output_dir) / CARD_FILE).write_text(text + "\n", encoding="utf-8")


def _title(meta: Mapping, captions_only: bool) -> str:
    return f"SmoothCLAP {meta['corpus']} ({meta['config']})" + (" - captions only" if captions_only else "")


# the Hub's licence ids for the licences the corpus configs name in words
_HUB_LICENSES = ((r"\bCC BY-NC-SA 4\.0\b", "cc-by-nc-sa-4.0"), (r"\bGPL-3\.0", "gpl-3.0"), (r"\bODbL\b", "odbl"))


def hub_license(meta: Mapping) -> dict:
    """``license`` (a Hub licence id) for the card's YAML header; a corpus' own agreement is
    ``other`` with the ``license_name`` (a slug) and ``license_link`` the Hub asks for then."""
    lic = meta.get("license") or ""
    if re.fullmatch(r"[A-Za-z0-9.\-]+", lic):
        return {"license": lic.lower()}
    for pattern, hub_id in _HUB_LICENSES:
        if re.search(pattern, lic):
            return {"license": hub_id}
    out = {"license": "other", "license_name": re.sub(r"[^a-z0-9]+", "-", f"{meta.get('corpus', 'corpus')} licence")}
    if meta.get("homepage"):
        out["license_link"] = meta["homepage"]
    return out


def _size_category(rows: int) -> str:
    """The Hub's size_categories bucket for ``rows`` examples."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "1M<n<10M"


def card_header(meta: Mapping, captions_only: bool, rows: int) -> str:
    """The YAML header (the metadata the Hub reads), valid YAML."""
    import yaml

    header = {"pretty_name": _title(meta, captions_only), **hub_license(meta),
              "task_categories": ["audio-classification"], "size_categories": [_size_category(rows)],
              "tags": ["audio", "speech-emotion-recognition", "smoothclap"] + (["captions-only"] if captions_only else [])}
    return yaml.safe_dump(header, sort_keys=False, allow_unicode=True)


def _header(meta: Mapping, captions_only: bool, rows: int = 0) -> list[str]:
    title = _title(meta, captions_only)
    lines = ["---", card_header(meta, captions_only, rows).rstrip("\n"), "---", "", f"# {title}"]
    if meta.get("description"):
        lines += ["", meta["description"].strip()]
    return lines


def _source(meta: Mapping, captions_only: bool) -> list[str]:
    lines = ["## Source", "", f"- Corpus: `{meta['corpus']}`, config `{meta['config']}`"]
    if meta.get("homepage"):
        lines.append(f"- Homepage: {meta['homepage']}")
    lines.append(f"- Licence: {meta.get('license') or 'see the corpus homepage'}")
    if captions_only:
        lines.append("- This copy has **no audio column**: it holds ids, labels, acoustic features, tags and "
                     "captions only. Join on `id` with your own copy of the corpus.")
    elif meta.get("redistribute_audio") is False:
        lines.append("- The corpus licence does not allow redistributing its audio: do not share this dataset; "
                     "share `export-captions` output instead.")
    if meta.get("citation"):
        lines += ["", "```bibtex", meta["citation"].strip(), "```"]
    return lines


def _splits(split_rows: Mapping[str, int], report: BuildReport | None) -> list[str]:
    lines = ["## Splits", "", "| split | rows |", "|---|---|"]
    lines += [f"| {split} | {n} |" for split, n in split_rows.items()]
    if report is None:
        return lines
    lines += [
        "",
        f"Scanner input {report.input_rows} rows = built {report.built_rows} + skipped "
        f"{report.skipped_rows} (unreadable, empty or too short audio; listed with reasons in "
        f"`{REPORT_FILE}`).",
    ]
    if report.files_total is not None:
        lines.append(f"Files under the corpus folder: {report.files_total} = built {report.built_rows} + skipped "
                     f"{report.skipped_rows} + ignored {len(report.ignored)} (hidden, not audio, a format that "
                     f"could not be read, outside a label folder, ...; each listed with its reason in `{REPORT_FILE}`).")
    lines += [f"- dropped before input: {n} rows, {reason}" for reason, n in sorted(report.dropped.items())]
    lines += [f"- warning: {w['message']}" for w in report.warnings]
    lines += [f"- note: {note}" for note in report.notes]
    return lines


def _split_assignment(meta: Mapping) -> list[str]:
    """How the builder made the splits (split=speaker or split_file: the folder corpus, TESS, CREMA-D, RAVDESS)."""
    assign = meta.get("split_assignment")
    if not assign:
        return []
    lines = ["## How the splits were made", ""]
    if assign.get("method") == "speaker":
        shares = "/".join(f"{round(100 * v)}" for v in assign["shares"].values())
        lines.append(f"Speaker-disjoint, made by the builder (`split=speaker:{shares}` for "
                     f"{'/'.join(assign['shares'])}, `split_seed={assign['seed']}`, stratified by label): every "
                     "speaker is in exactly one split; a rebuild with the same files, shares and seed gives the same "
                     "assignment." + _no_speaker(assign))
    else:
        lines.append(f"From the split file `{assign['file']}` (sha256 {assign['sha256']}"
                     + (f", fold {assign['fold']}" if assign.get("fold") is not None else "")
                     + f"): {assign['not_found']} listed ids match no file; {assign['not_listed']} files are not "
                     f"listed and were left out (both listed in `{REPORT_FILE}`).")
    speakers = assign.get("speakers") or {}
    if speakers:
        total = sum(len(v) for v in speakers.values())
        lines += [""] + [f"- {split}: {len(ids)} speaker(s)" + (f" ({', '.join(ids)})" if total <= 30 else "")
                         for split, ids in speakers.items()]
    labels = sorted({label for counts in assign["clips"].values() for label in counts})
    lines += ["", "| label | " + " | ".join(assign["clips"]) + " |", "|---|" + "---|" * len(assign["clips"])]
    lines += [f"| {label} | " + " | ".join(str(c.get(label, 0)) for c in assign["clips"].values()) + " |"
              for label in labels]
    return lines


def _no_speaker(assign: Mapping) -> str:
    """The folder corpus' files without a speaker id (other corpora read every speaker from the name)."""
    if "no_speaker" not in assign:
        return ""
    policy = assign["no_speaker"]
    return f" Files without a speaker id: {policy.get('files', 0)} ({policy.get('policy')})."


def _labels(meta: Mapping) -> list[str]:
    if not meta.get("labels"):
        return []
    lines = ["## Candidate labels (zero-shot evaluation)", "", "| label | query text |", "|---|---|"]
    for label, text in zip(meta["labels"], meta.get("query_texts") or meta["labels"]):
        lines.append(f"| {label} | {text} |")
    return lines


def _columns(captions_only: bool) -> list[str]:
    lines = ["## Columns", "", "| column | type | meaning |", "|---|---|---|"]
    for name, typ, doc in _COLUMN_DOCS:
        if not (captions_only and name == "audio"):
            lines.append(f"| {name} | {typ} | {doc} |")
    return lines


def _thresholds(meta: Mapping, thresholds: Mapping | None) -> list[str]:
    if not thresholds:
        return []
    lines = [
        "## Bin thresholds",
        "",
        f"Source: {meta.get('thresholds_source', 'n/a')}. x <= low_max (about the 30th percentile): low; "
        f"x >= high_min (about the 70th): high; otherwise mid (`{THRESHOLDS_FILE}`, with this provenance in "
        "its metadata).",
        "",
        "| attribute | low_max | high_min |",
        "|---|---|---|",
    ]
    for attr, pair in thresholds.items():
        low, high = pair if pair is not None else (None, None)
        lines.append(f"| {attr} | {_fmt(low)} | {_fmt(high)} |")
    return lines


def _how_built(meta: Mapping, captions_only: bool) -> list[str]:
    lines = [
        "## How it was built",
        "",
        "With `smoothclap.data` (SmoothCLAP): audio decoded with soundfile, downmixed, "
        "resampled to 16 kHz, eGeMAPSv02 functionals from openSMILE; ratings and features "
        "binned at the 30th/70th percentiles into low/mid/high; tag phrases from the "
        "ParaCLAP templates; captions seeded per row by (seed, id). Rows whose label is not "
        "an emotion word (e.g. MSP-Podcast's 'other' class) have emotion null, and their "
        "captions carry no emotion sentence.",
    ]
    if meta.get("build"):
        lines += ["", "```", json.dumps(meta["build"], indent=2, sort_keys=True, default=str), "```"]
    if captions_only and meta.get("exported_from"):
        lines += ["", f"Exported (audio removed) from `{meta['exported_from']}`."]
    return lines
