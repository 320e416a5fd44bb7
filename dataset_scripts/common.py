"""Shared half of the SmoothCLAP dataset builders.

A corpus module (see ``README.md`` in this folder) only yields Records; this module does
the rest, once for every corpus:

* ``CorpusConfig`` / ``CorpusError`` / the corpus registry (``get_corpus``),
* Record validation (``validate_record``),
* ``SmoothClapBuilder``: a ``datasets.GeneratorBasedBuilder`` parameterised by a corpus
  module, decoding + eGeMAPS in worker processes (``egemaps.FeatureExtractorPool``),
* ``BuildReport``: input = built + skipped, dropped counts, JSON,
* ``build()``: builder -> thresholds -> tag/caption columns -> ``save_to_disk`` + card,
* ``export_captions()``: captions-only copy without audio,
* ``label_texts()``: the candidate labels / query texts stored with a built dataset.

Split discovery (why two kinds of scan pass)
--------------------------------------------
``datasets`` needs the list of splits before it generates any row. The builder runs one
*discovery* pass over ``scan()`` first: records are validated, ids checked for
uniqueness, rows counted per split and the scanner's drop counts recorded; no audio is
read (path records are only validated; a scanner may honour ``options["discover"]`` and
yield ``audio=None`` to skip expensive work such as synthesis). Then one *generation*
pass per split calls ``scan()`` again (with the hint ``options["split"]``, which a scanner
may use to skip other splits; the builder filters anyway) and streams that split's rows.
Only the discovery pass counts drops. Scanners must therefore be deterministic (the
builder checks that each split has as many records as in the discovery pass).

Split names: a record's normalised split is the HF split name, except ``all`` (a corpus
without splits): ``datasets`` reserves ``all``, so those rows go to the split ``full``
(``FULL_SPLIT``), which is also what their ``split`` column says.

Memory
------
Nothing holds the corpus: records are taken from ``scan()`` in chunks of ``CHUNK_SIZE``,
the chunk's audio is decoded and analysed in worker processes, the original file bytes
are read for the chunk only, and the Arrow writer flushes every ``CHUNK_SIZE`` rows. The
only per-corpus structures are the set of ids (uniqueness check), the per-split counters
and the list of skipped rows. Tags are computed afterwards from the metadata columns only
(a small Arrow table; the audio column is not touched). The output is then written in the
``save_to_disk`` layout by streaming the builder's Arrow files batch by batch with plain
reads and appending the tag columns: ``Dataset.save_to_disk`` would read the audio through
its memory map (RSS grows with the corpus) and copy 100 MB batches.
bench/builder_memory.py measures it: peak RSS at 10x the clips is within ~1.1x.

Disk: the intermediate Arrow data (in ``cache_dir``, by default a temporary folder next
to the output, deleted afterwards) plus the output: about twice the audio size.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import datasets

__all__ = [
    "BUILDER_VERSION",
    "CHUNK_SIZE",
    "CORPUS_MODULES",
    "FULL_SPLIT",
    "RECORD_KEYS",
    "BuildReport",
    "CorpusConfig",
    "CorpusError",
    "SmoothClapBuilder",
    "build",
    "count_drop",
    "export_captions",
    "get_corpus",
    "iter_chunks",
    "label_texts",
    "list_corpora",
    "make_features",
    "normalise_split",
    "push_to_hub",
    "reject_unknown",
    "validate_record",
]

BUILDER_VERSION = "1.0.0"
CHUNK_SIZE = 64
METADATA_MARKER = "smoothclap-metadata: "
METADATA_FILE = "smoothclap.json"
REPORT_FILE = "build_report.json"
THRESHOLDS_FILE = "thresholds.json"
CARD_FILE = "README.md"

# Corpus modules known to the registry, importable lazily by name.
CORPUS_MODULES = (
    "msp_podcast",
    "demo",
    "iemocap",
    "ravdess",
    "crema_d",
    "tess",
    "fau_aibo",
    "alc",
    "sld",
    "folder",
)

RECORD_KEYS = (
    "id",
    "audio",
    "split",
    "speaker",
    "gender",
    "label",
    "emotion",
    "arousal",
    "valence",
    "dominance",
)
_REQUIRED_KEYS = ("id", "audio", "split")
_RATING_KEYS = ("arousal", "valence", "dominance")
FEATURE_KEYS = ("duration", "pitch_mean", "pitch_variation", "loudness", "jitter", "shimmer")
TAG_COLUMNS = ("tag_sentences", "caption", "tags")
GENDERS = ("male", "female")
# datasets reserves the split name "all" (the union of all splits): records of a corpus
# without splits (record split "all") go to the split FULL_SPLIT, also in the split column.
FULL_SPLIT = "full"
_SPLIT_RE = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------- basics
class CorpusError(ValueError):
    """A corpus cannot be built as asked: missing root / label file, unknown codes, ...

    The message is meant for the user as is (the CLI prints it without a traceback)."""


@dataclasses.dataclass
class CorpusConfig:
    """Static description of one configuration of a corpus.

    ``labels``: class names in a fixed order (the ``label`` ClassLabel), or None when the
    corpus has no class label for evaluation. ``query_texts``: one candidate text per
    label, same order (what the zero-shot evaluation compares audio against).
    ``redistribute_audio``: False when the licence forbids sharing the audio (then
    ``push_to_hub`` refuses public repositories with audio; use ``export_captions``).
    """

    labels: list[str] | None = None
    query_texts: list[str] | None = None
    description: str = ""
    citation: str = ""
    homepage: str = ""
    license: str = ""
    needs_data_dir: bool = True
    redistribute_audio: bool = True

    def __post_init__(self):
        if self.labels is not None:
            self.labels = list(self.labels)
            if len(set(self.labels)) != len(self.labels):
                raise ValueError(f"CorpusConfig labels must be unique, got {self.labels}.")
            if self.query_texts is None:
                self.query_texts = list(self.labels)
        if self.query_texts is not None:
            self.query_texts = list(self.query_texts)
            if self.labels is None or len(self.query_texts) != len(self.labels):
                raise ValueError(
                    "CorpusConfig query_texts need one text per label, in label order; got "
                    f"{len(self.query_texts)} texts for labels {self.labels}."
                )


def iter_chunks(iterable: Iterable, size: int = CHUNK_SIZE) -> Iterator[list]:
    """Yield lists of up to ``size`` items, consuming ``iterable`` lazily."""
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "trn": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "devel": "validation",
    "development": "validation",
    "test": "test",
    "testing": "test",
    "tst": "test",
    "all": "all",
}


def normalise_split(name: Any) -> str | None:
    """Map a corpus' split name to the builder's names, or None when unrecognised.

    ``Train``/``training`` -> ``train``; ``Development``/``Validation``/``dev``/``val`` ->
    ``validation``; ``Test`` -> ``test``; ``Test1``/``test_2``/``Test 3`` -> ``test1``...
    """
    if name is None:
        return None
    key = re.sub(r"[\s_\-]+", "", str(name).strip().lower())
    if key in _SPLIT_ALIASES:
        return _SPLIT_ALIASES[key]
    match = re.fullmatch(r"(test|tst|testing)(\d+)", key)
    if match:
        return f"test{int(match.group(2))}"
    match = re.fullmatch(r"(dev|development|validation|valid|val)(\d+)", key)
    if match:
        return f"validation{int(match.group(2))}"
    return None


def _split_sort_key(name: str):
    order = {"train": 0, "validation": 1, "test": 3, "all": 9, FULL_SPLIT: 9}
    if name in order:
        return (order[name], 0, name)
    match = re.fullmatch(r"(validation|test)(\d+)", name)
    if match:
        return (1 if match.group(1) == "validation" else 3, int(match.group(2)), name)
    return (5, 0, name)


def hf_split_name(record_split: str) -> str:
    """The datasets split of a record split: the same name, except ``all`` -> ``full``
    (datasets reserves ``all``)."""
    return FULL_SPLIT if record_split == "all" else record_split


# --------------------------------------------------------------------------- report
class BuildReport:
    """What happened to every row of a build.

    * input rows: records the scanner yielded (after its own exclusions),
    * built rows: rows written to the dataset,
    * skipped rows: input rows that could not be used (unreadable, empty, too short
      audio ...), each with id, path, split and reason; ``input == built + skipped``,
    * dropped: rows the scanner excluded *before* input, by reason (e.g. MSP-Podcast's
      no-agreement class X), counted, never silent.

    Scanners count exclusions with ``count_drop(options, reason, n)``.
    """

    def __init__(self, corpus: str = "", config: str = ""):
        self.corpus = corpus
        self.config = config
        self.input: Counter = Counter()
        self.built: Counter = Counter()
        self.skipped: list[dict] = []
        self.dropped: Counter = Counter()
        self.notes: list[str] = []

    # --- used by scanners (through count_drop) and by the builder
    def drop(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[str(reason)] += int(n)

    def add_input(self, split: str, n: int = 1) -> None:
        self.input[split] += n

    def add_built(self, split: str, n: int = 1) -> None:
        self.built[split] += n

    def skip(self, id: str, path: str | None, split: str, reason: str) -> None:
        self.skipped.append({"id": id, "path": path, "split": split, "reason": str(reason)})

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # --- totals
    @property
    def input_rows(self) -> int:
        return sum(self.input.values())

    @property
    def built_rows(self) -> int:
        return sum(self.built.values())

    @property
    def skipped_rows(self) -> int:
        return len(self.skipped)

    @property
    def dropped_rows(self) -> int:
        return sum(self.dropped.values())

    @property
    def consistent(self) -> bool:
        return self.input_rows == self.built_rows + self.skipped_rows

    def check(self) -> None:
        """Raise RuntimeError unless input == built + skipped (overall and per split)."""
        skipped_per_split = Counter(row["split"] for row in self.skipped)
        for split in set(self.input) | set(self.built) | set(skipped_per_split):
            if self.input[split] != self.built[split] + skipped_per_split[split]:
                raise RuntimeError(
                    f"Build report does not add up for split {split!r}: input "
                    f"{self.input[split]} != built {self.built[split]} + skipped "
                    f"{skipped_per_split[split]}."
                )

    def summary(self) -> str:
        lines = [
            f"{self.corpus}/{self.config}: input {self.input_rows} rows = built "
            f"{self.built_rows} + skipped {self.skipped_rows}"
            + (" (checked)" if self.consistent else " (DOES NOT ADD UP)")
            + (f"; dropped before input: {self.dropped_rows}" if self.dropped else "")
        ]
        skipped_per_split = Counter(row["split"] for row in self.skipped)
        for split in sorted(set(self.input) | set(self.built), key=_split_sort_key):
            lines.append(
                f"  {split}: {self.built[split]} built, {skipped_per_split[split]} skipped"
            )
        for reason, n in sorted(self.dropped.items()):
            lines.append(f"  dropped {n}: {reason}")
        reasons = Counter(_reason_kind(row["reason"]) for row in self.skipped)
        for reason, n in reasons.most_common(5):
            lines.append(f"  skipped {n}: {reason}")
        if len(reasons) > 5:
            lines.append(f"  ... {len(reasons) - 5} more skip reasons in {REPORT_FILE}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        order = sorted(set(self.input) | set(self.built), key=_split_sort_key)
        return {
            "corpus": self.corpus,
            "config": self.config,
            "input_rows": self.input_rows,
            "built_rows": self.built_rows,
            "skipped_rows": self.skipped_rows,
            "dropped_rows": self.dropped_rows,
            "input_equals_built_plus_skipped": self.consistent,
            "splits": {
                s: {
                    "input": self.input[s],
                    "built": self.built[s],
                    "skipped": sum(1 for r in self.skipped if r["split"] == s),
                }
                for s in order
            },
            "dropped": dict(sorted(self.dropped.items())),
            "skipped": list(self.skipped),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "BuildReport":
        report = cls(data.get("corpus", ""), data.get("config", ""))
        for split, counts in data.get("splits", {}).items():
            report.input[split] = counts.get("input", 0)
            report.built[split] = counts.get("built", 0)
        report.skipped = [dict(r) for r in data.get("skipped", [])]
        report.dropped = Counter(data.get("dropped", {}))
        report.notes = list(data.get("notes", []))
        return report

    def write_json(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read_json(cls, path: str | os.PathLike) -> "BuildReport":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _reason_kind(reason: str) -> str:
    """Group skip reasons for the summary (drop the file-specific part)."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", reason)[:120]


class _NullReport(BuildReport):
    """Swallows the drop counts of generation passes (only discovery counts)."""

    def drop(self, reason: str, n: int = 1) -> None:  # noqa: D102
        pass


def count_drop(options: Mapping | None, reason: str, n: int = 1) -> None:
    """For scanners: count ``n`` rows excluded before input (``options["report"]``)."""
    report = (options or {}).get("report")
    if report is not None:
        report.drop(reason, n)


def reject_unknown(
    options: Mapping | None, what: str, unknown: Mapping[str, int], source: Any, hint: str = ""
) -> None:
    """For scanners: refuse unknown label codes / split names found in ``source``.

    ``unknown`` maps each unknown value to its row count. Raises CorpusError listing them,
    unless ``options["drop_unknown"]``, in which case the rows are counted as dropped (the
    scanner then skips them while yielding)."""
    if not unknown:
        return
    if (options or {}).get("drop_unknown"):
        for value, n in sorted(unknown.items(), key=lambda kv: str(kv[0])):
            count_drop(options, f"unknown {what} {value!r} (drop_unknown)", n)
        return
    listing = ", ".join(f"{v!r} ({n} rows)" for v, n in sorted(unknown.items(), key=lambda kv: str(kv[0])))
    raise CorpusError(
        f"Unknown {what} in {source}: {listing}. {hint}".rstrip()
        + " Pass drop_unknown (CLI: --drop-unknown) to drop these rows and count them in the report."
    )


# --------------------------------------------------------------------------- registry
def get_corpus(name_or_module):
    """Return a corpus module by registry name (``msp_podcast``, ``msp-podcast``), by dotted
    import path (``mypkg.mycorpus``), or pass a module through. Raises CorpusError."""
    if not isinstance(name_or_module, str):
        module = name_or_module
    else:
        name = name_or_module.strip()
        if "." in name:
            module_path = name
        else:
            key = name.lower().replace("-", "_")
            if key not in CORPUS_MODULES:
                raise CorpusError(
                    f"Unknown corpus {name!r}. Known corpora: {', '.join(CORPUS_MODULES)} "
                    "(or a dotted module path that follows dataset_scripts/README.md)."
                )
            module_path = f"{__package__ or 'dataset_scripts'}.{key}"
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as err:
            if err.name and module_path.startswith(err.name):
                raise CorpusError(f"Corpus module {module_path!r} is not available ({err}).") from None
            raise
    missing = [attr for attr in ("NAME", "CONFIGS", "scan") if not hasattr(module, attr)]
    if missing:
        raise CorpusError(
            f"Module {getattr(module, '__name__', module)!r} is not a corpus module: it lacks "
            f"{', '.join(missing)} (see dataset_scripts/README.md)."
        )
    return module


def get_config(module, config_name: str | None, data_dir=None,
               options: Mapping | None = None) -> tuple[str, CorpusConfig]:
    """The named config; a module whose classes depend on the data (the folder corpus)
    defines ``resolve_config(data_dir, config_name, options)``, used when data_dir is given."""
    configs = module.CONFIGS
    name = config_name or ("default" if "default" in configs else next(iter(configs)))
    if name not in configs:
        raise CorpusError(
            f"Corpus {module.NAME!r} has no config {name!r}; configs: {', '.join(configs)}."
        )
    resolve = getattr(module, "resolve_config", None)
    if resolve is not None and data_dir is not None:
        return name, resolve(Path(data_dir).expanduser(), name, dict(options or {}))
    return name, configs[name]


def list_corpora() -> list[dict]:
    """One entry per registered corpus: name, configs (with label sets), or the import error."""
    out = []
    for name in CORPUS_MODULES:
        try:
            module = get_corpus(name)
        except Exception as err:  # a module another helper has not written yet, ...
            out.append({"name": name, "error": str(err).splitlines()[0]})
            continue
        configs = {
            cname: {
                "labels": cfg.labels,
                "needs_data_dir": cfg.needs_data_dir,
                "description": (cfg.description or "").strip().splitlines()[0:1],
            }
            for cname, cfg in module.CONFIGS.items()
        }
        out.append({"name": module.NAME, "configs": configs})
    return out


# --------------------------------------------------------------------------- records
def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def validate_record(record: Any, config: CorpusConfig, corpus: str = "", allow_no_audio: bool = False) -> dict:
    """Check one Record against the contract; return it normalised (all keys present,
    paths as str, NaN ratings as None). Raises CorpusError naming the id and the key."""
    where = f"{corpus} record" if corpus else "record"
    if not isinstance(record, Mapping):
        raise CorpusError(f"{where}: expected a dict, got {type(record).__name__}.")
    rid = record.get("id")
    if not isinstance(rid, str) or not rid:
        raise CorpusError(f"{where} {rid!r}: key 'id' must be a non-empty str.")
    where = f"{where} {rid!r}"
    unknown = sorted(set(record) - set(RECORD_KEYS))
    if unknown:
        raise CorpusError(f"{where}: unknown key(s) {unknown}; allowed keys: {list(RECORD_KEYS)}.")
    for key in _REQUIRED_KEYS:
        if key not in record:
            raise CorpusError(f"{where}: missing required key {key!r}.")
    out = {key: record.get(key) for key in RECORD_KEYS}

    audio = out["audio"]
    if isinstance(audio, os.PathLike):
        audio = os.fspath(audio)
    if isinstance(audio, bytearray):
        audio = bytes(audio)
    if audio is None and allow_no_audio:
        pass
    elif not isinstance(audio, (str, bytes)) or (isinstance(audio, str) and not audio):
        raise CorpusError(
            f"{where}: key 'audio' must be a file path (str) or encoded audio bytes, got "
            f"{type(audio).__name__}."
        )
    out["audio"] = audio

    split = out["split"]
    if not isinstance(split, str) or not _SPLIT_RE.match(split):
        raise CorpusError(
            f"{where}: key 'split' must be a normalised split name like 'train', "
            f"'validation', 'test1' or 'all', got {split!r}."
        )
    for key in ("speaker", "emotion"):
        if out[key] is not None and not isinstance(out[key], str):
            raise CorpusError(f"{where}: key {key!r} must be a str or None, got {out[key]!r}.")
    if out["gender"] is not None and out["gender"] not in GENDERS:
        raise CorpusError(f"{where}: key 'gender' must be 'male', 'female' or None, got {out['gender']!r}.")
    label = out["label"]
    if label is not None:
        if not isinstance(label, str):
            raise CorpusError(f"{where}: key 'label' must be a str or None, got {label!r}.")
        if config.labels is not None and label not in config.labels:
            raise CorpusError(f"{where}: key 'label' is {label!r}, not one of {config.labels}.")
    for key in _RATING_KEYS:
        value = out[key]
        if value is None:
            continue
        if not _is_number(value):
            raise CorpusError(f"{where}: key {key!r} must be a number or None, got {value!r}.")
        value = float(value)
        if math.isnan(value):
            value = None
        elif math.isinf(value):
            raise CorpusError(f"{where}: key {key!r} is infinite.")
        out[key] = value
    return out


# --------------------------------------------------------------------------- features
def make_features(config: CorpusConfig, with_tags: bool = False) -> datasets.Features:
    """The columns of a built dataset (see README.md); tag columns only with ``with_tags``."""
    from .egemaps import EGEMAPS_NAMES

    n_egemaps = len(EGEMAPS_NAMES)
    label = (
        datasets.ClassLabel(names=list(config.labels)) if config.labels is not None else datasets.Value("string")
    )
    cols = {
        "id": datasets.Value("string"),
        "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
        "split": datasets.Value("string"),
        "speaker": datasets.Value("string"),
        "gender": datasets.Value("string"),
        "label": label,
        "emotion": datasets.Value("string"),
        "arousal": datasets.Value("float32"),
        "valence": datasets.Value("float32"),
        "dominance": datasets.Value("float32"),
    }
    for key in FEATURE_KEYS:
        cols[key] = datasets.Value("float32")
    cols["egemaps"] = datasets.List(datasets.Value("float32"), length=n_egemaps)
    if with_tags:
        cols.update(_tag_features())
    return datasets.Features(cols)


def _tag_features() -> dict:
    return {
        "tag_sentences": datasets.List(datasets.Value("string")),
        "caption": datasets.Value("string"),
        "tags": datasets.Value("string"),
    }


def _audio_suffix(data: bytes) -> str:
    if data[:4] == b"RIFF":
        return ".wav"
    if data[:4] == b"fLaC":
        return ".flac"
    if data[:4] == b"OggS":
        return ".ogg"
    return ""


def _audio_cell(record: dict, data_dir: Path | None, paths_only: bool) -> dict:
    """Audio's Arrow layout. Bytes: the original file bytes (no re-encoding). Path: relative
    to the data dir (portable); with ``paths_only`` no bytes and the absolute path (so the
    column still decodes on this machine)."""
    audio = record["audio"]
    if isinstance(audio, bytes):
        return {"bytes": audio, "path": f"{record['id']}{_audio_suffix(audio)}"}
    path = Path(audio)
    if paths_only:
        return {"bytes": None, "path": str(path.resolve())}
    rel = path.name
    if data_dir is not None:
        try:
            rel = path.resolve().relative_to(data_dir.resolve()).as_posix()
        except ValueError:
            rel = path.name
    return {"bytes": path.read_bytes(), "path": rel}


def _header_only_features(source) -> dict:
    """--no-features: duration from the file header; the rest None. Raises ValueError."""
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Exception as err:
        name = "<bytes>" if isinstance(source, bytes) else source
        raise ValueError(f"Could not read audio {name!r} ({err}).") from None
    if not info.frames or not info.samplerate:
        raise ValueError("Empty audio clip (0 samples).")
    feats = {key: None for key in FEATURE_KEYS}
    feats["duration"] = info.frames / float(info.samplerate)
    feats["egemaps"] = None
    return feats


def _clean_float(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if not math.isfinite(x) else x


# --------------------------------------------------------------------------- builder
class SmoothClapBuilder(datasets.GeneratorBasedBuilder):
    """Generic builder over one corpus module. Instantiate directly (datasets 5 has no
    loading scripts)::

        b = SmoothClapBuilder("msp_podcast", data_dir="/data/MSP-PODCAST", cache_dir="/tmp/c")
        b.download_and_prepare()
        dd = b.as_dataset()

    Columns: ``make_features(config)`` (no tag columns: those need thresholds, which need
    the finished train split; ``build()`` adds them). ``b.report`` is the BuildReport.
    """

    VERSION = datasets.Version(BUILDER_VERSION)
    DEFAULT_WRITER_BATCH_SIZE = CHUNK_SIZE  # Arrow writer flushes every chunk

    def __init__(
        self,
        corpus,
        config_name: str | None = "default",
        data_dir: str | os.PathLike | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
        num_workers: int = 1,
        paths_only: bool = False,
        features: bool = True,
        scan_options: Mapping | None = None,
        progress: bool = False,
        start_method: str | None = None,
        **kwargs,
    ):
        self.corpus_module = get_corpus(corpus)
        self.corpus_name = self.corpus_module.NAME
        self.corpus_config_name, self.corpus_config = get_config(
            self.corpus_module, config_name, data_dir, scan_options)
        if self.corpus_config.needs_data_dir and data_dir is None:
            raise CorpusError(
                f"Corpus {self.corpus_name!r} needs a data directory (CLI: --data-dir); see "
                f"{self.corpus_config.homepage or 'its documentation'} for how to obtain it."
            )
        self.corpus_data_dir = Path(data_dir).expanduser() if data_dir is not None else None
        self.num_workers = max(1, int(num_workers or 1))
        self.paths_only = bool(paths_only)
        self.with_features = bool(features)
        self.scan_options = dict(scan_options or {})
        self.progress = progress
        self.start_method = start_method
        self.report = BuildReport(self.corpus_name, self.corpus_config_name)
        self._split_counts: dict[str, int] = {}
        self._pool = None
        super().__init__(
            cache_dir=None if cache_dir is None else str(cache_dir),
            dataset_name=self.corpus_name,
            config_name=self.corpus_config_name,
            hash=self.fingerprint(),
            **kwargs,
        )

    def fingerprint(self) -> str:
        """Identifies the generated Arrow data: corpus, config, data dir, options."""
        opts = {k: v for k, v in self.scan_options.items() if k not in ("report", "split", "discover")}
        payload = json.dumps(
            {
                "corpus": self.corpus_name,
                "module": getattr(self.corpus_module, "__name__", ""),
                "config": self.corpus_config_name,
                "data_dir": str(self.corpus_data_dir.resolve()) if self.corpus_data_dir else None,
                "options": opts,
                "paths_only": self.paths_only,
                "features": self.with_features,
                "version": BUILDER_VERSION,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    # -- datasets hooks
    def _info(self) -> datasets.DatasetInfo:
        cfg = self.corpus_config
        return datasets.DatasetInfo(
            description=cfg.description,
            features=make_features(cfg),
            citation=cfg.citation,
            homepage=cfg.homepage,
            license=cfg.license,
        )

    def _scan(self, **hints) -> Iterator[dict]:
        options = dict(self.scan_options)
        options.update(hints)
        return iter(self.corpus_module.scan(self.corpus_data_dir, self.corpus_config_name, options))

    def discover_splits(self) -> dict[str, int]:
        """Discovery pass: validate every record, check unique ids, count rows per split and
        record the scanner's drops. No audio is read."""
        self.report.dropped.clear()
        counts: Counter = Counter()
        seen: set[str] = set()
        for record in self._scan(report=self.report, discover=True):
            rec = validate_record(record, self.corpus_config, self.corpus_name, allow_no_audio=True)
            if rec["id"] in seen:
                raise CorpusError(f"{self.corpus_name}: duplicate record id {rec['id']!r}; ids must be unique.")
            seen.add(rec["id"])
            counts[hf_split_name(rec["split"])] += 1
        if not counts:
            dropped = f" ({self.report.dropped_rows} rows dropped: {dict(self.report.dropped)})" if self.report.dropped else ""
            raise CorpusError(f"{self.corpus_name}: the scanner found no usable records{dropped}.")
        self._split_counts = {s: counts[s] for s in sorted(counts, key=_split_sort_key)}
        return dict(self._split_counts)

    def _split_generators(self, dl_manager):
        counts = self.discover_splits()
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split}) for split in counts]

    def _download_and_prepare(self, dl_manager, verification_mode, **prepare_splits_kwargs):
        if not self.with_features:
            return super()._download_and_prepare(dl_manager, verification_mode, **prepare_splits_kwargs)
        from .egemaps import FeatureExtractorPool

        with FeatureExtractorPool(
            num_workers=self.num_workers, progress=self.progress, desc=self.corpus_name, start_method=self.start_method
        ) as pool:
            self._pool = pool
            try:
                return super()._download_and_prepare(dl_manager, verification_mode, **prepare_splits_kwargs)
            finally:
                self._pool = None

    def _analyse(self, sources: list) -> list:
        """Features for a chunk of audio sources: dicts, or exceptions (skip reasons)."""
        if self.with_features:
            return self._pool.map(sources)
        results = []
        for source in sources:
            try:
                results.append(_header_only_features(source))
            except ValueError as err:
                results.append(err)
        return results

    def _generate_examples(self, split: str):
        report = self.report
        record_split = "all" if split == FULL_SPLIT else split
        records = (
            r
            for r in self._scan(report=_NullReport(), split=record_split, discover=False)
            if isinstance(r, Mapping) and hf_split_name(r.get("split")) == split
        )
        n_input = 0
        for chunk in iter_chunks(records, CHUNK_SIZE):
            chunk = [validate_record(r, self.corpus_config, self.corpus_name) for r in chunk]
            n_input += len(chunk)
            report.add_input(split, len(chunk))
            results = self._analyse([r["audio"] for r in chunk])
            for rec, feats in zip(chunk, results):
                shown_path = rec["audio"] if isinstance(rec["audio"], str) else None
                if isinstance(feats, BaseException) or feats is None:
                    reason = str(feats) if feats is not None else "feature extraction returned nothing"
                    report.skip(rec["id"], shown_path, split, reason or type(feats).__name__)
                    continue
                try:
                    cell = _audio_cell(rec, self.corpus_data_dir, self.paths_only)
                except OSError as err:
                    report.skip(rec["id"], shown_path, split, f"Could not read the audio file ({err}).")
                    continue
                row = {
                    "id": rec["id"],
                    "audio": cell,
                    "split": split,
                    "speaker": rec["speaker"],
                    "gender": rec["gender"],
                    "label": rec["label"],
                    "emotion": rec["emotion"],
                    "arousal": rec["arousal"],
                    "valence": rec["valence"],
                    "dominance": rec["dominance"],
                }
                for key in FEATURE_KEYS:
                    row[key] = _clean_float(feats.get(key))
                egemaps = feats.get("egemaps")
                row["egemaps"] = None if egemaps is None else [float(v) for v in egemaps]
                report.add_built(split)
                yield rec["id"], row
        expected = self._split_counts.get(split)
        if expected is not None and expected != n_input:
            raise CorpusError(
                f"{self.corpus_name}: split {split!r} had {expected} records in the discovery "
                f"pass but {n_input} when generating; the scanner must be deterministic."
            )


# --------------------------------------------------------------------------- metadata
def _metadata(module, config_name: str, config: CorpusConfig, **extra) -> dict:
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


def _description_with_metadata(description: str, meta: Mapping) -> str:
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
        path = Path(dataset_or_dir)
        if (path / METADATA_FILE).is_file():
            meta = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
        else:
            dataset_or_dir = datasets.load_from_disk(str(path))
    if meta is None:
        ds = dataset_or_dir
        if isinstance(ds, datasets.DatasetDict):
            ds = next(iter(ds.values()))
        meta = _metadata_from_description(ds.info.description)
        if meta is None:
            feature = ds.features.get("label")
            if isinstance(feature, datasets.ClassLabel):
                return list(feature.names), list(feature.names)
            raise ValueError("No SmoothCLAP label metadata found in this dataset (was it built by dataset_scripts?).")
    return meta.get("labels"), meta.get("query_texts")


# --------------------------------------------------------------------------- tagging
def _tag_row(row: dict, thresholds, seed: int, variant: str, max_tags: int) -> dict:
    """Tag columns of one row. The tagging functions draw with random.Random(f"{seed}:{id}"),
    so the result depends on (seed, id) only, not on row order or worker. A row with nothing
    to say (no emotion, gender or binnable value) gets an empty list and null caption/tags."""
    from . import captions

    try:
        return {
            "tag_sentences": captions.tag_sentences(row, thresholds, seed=seed),
            "caption": captions.make_caption(row, thresholds, seed=seed, variant=variant, max_tags=max_tags),
            "tags": captions.compact_tags(row, thresholds),
        }
    except captions.NoTagsError:
        return {"tag_sentences": [], "caption": None, "tags": None}


_TAG_INPUT_COLUMNS = ("id", "emotion", "gender", *_RATING_KEYS, *FEATURE_KEYS)


def compute_tags(ds: datasets.Dataset, thresholds, seed: int = 0, variant: str = "emotion_plus", max_tags: int = 5, num_proc: int | None = None) -> datasets.Dataset:
    """The tag columns (tag_sentences, caption, tags) of ``ds``, one row per row, as a
    small dataset. Only the metadata columns are read (never the audio column)."""
    if len(ds) == 0:
        return datasets.Dataset.from_dict({k: [] for k in TAG_COLUMNS}, features=datasets.Features(_tag_features()))
    meta = ds.select_columns([c for c in _TAG_INPUT_COLUMNS if c in ds.column_names])
    return meta.map(
        _tag_row,
        fn_kwargs={"thresholds": thresholds, "seed": seed, "variant": variant, "max_tags": max_tags},
        remove_columns=meta.column_names,
        features=datasets.Features(_tag_features()),
        num_proc=num_proc if num_proc and num_proc > 1 else None,
        desc="Tagging",
    )


def add_tags(ds: datasets.Dataset, thresholds, seed: int = 0, variant: str = "emotion_plus", max_tags: int = 5, num_proc: int | None = None) -> datasets.Dataset:
    """``ds`` with the tag columns appended (joined column-wise, audio not re-written)."""
    tags = compute_tags(ds, thresholds, seed=seed, variant=variant, max_tags=max_tags, num_proc=num_proc)
    return datasets.concatenate_datasets([ds, tags], axis=1)


def _as_dataset_dict(builder: "SmoothClapBuilder") -> datasets.DatasetDict:
    """The builder's splits in generation order; a split whose rows were all skipped (no
    Arrow file, which ``as_dataset`` refuses) becomes an empty dataset."""
    out = {}
    for split, info in builder.info.splits.items():
        if info.num_examples:
            out[split] = builder.as_dataset(split=split)
        else:
            out[split] = datasets.Dataset.from_dict(
                {k: [] for k in builder.info.features}, features=builder.info.features
            )
    return datasets.DatasetDict(out)


def _stream_shard(src_path: str, tag_table, offset: int, writer) -> int:
    """Copy one builder Arrow file batch by batch (plain reads, no memory map), appending
    the tag columns of the same rows; return the new row offset."""
    import pyarrow as pa

    with pa.OSFile(src_path, "rb") as src:
        for batch in pa.ipc.open_stream(src):
            if batch.num_rows == 0:
                continue
            table = pa.Table.from_batches([batch])
            part = tag_table.slice(offset, batch.num_rows)
            for column in TAG_COLUMNS:
                table = table.append_column(column, part.column(column))
            writer.write_table(table)
            offset += batch.num_rows
    return offset


def _write_split(ds: datasets.Dataset, tags: datasets.Dataset, split_dir: Path, info: datasets.DatasetInfo, split: str) -> int:
    """Write ``ds`` + ``tags`` in the ``save_to_disk`` layout of one split, streaming.

    ``save_to_disk`` would read the source through its memory map (every audio page becomes
    resident in this process: RSS grows with the corpus) and copy 100 MB batches. Here the
    builder's Arrow files are read as plain streams, one record batch (CHUNK_SIZE rows) at
    a time, the tag columns of those rows appended, and written out: one output shard per
    builder shard."""
    from datasets.arrow_writer import ArrowWriter

    if ds._indices is not None:  # not the case for builder output; be safe
        ds = ds.flatten_indices()
    files = [c["filename"] for c in ds.cache_files]
    if len(files) == 0 and len(ds) > 0:
        raise RuntimeError(f"split {split!r} is not backed by Arrow files")
    features = datasets.Features({**ds.features, **tags.features})
    tag_table = tags.with_format("arrow")[:] if len(tags) else None
    split_dir.mkdir(parents=True, exist_ok=True)
    n_files = max(1, len(files))  # an empty split still gets one (empty) file
    names = [f"data-{i:05d}-of-{n_files:05d}.arrow" for i in range(n_files)]
    offset = 0
    for src_path, name in zip(files or [None], names):
        writer = ArrowWriter(features=features, path=str(split_dir / name))
        try:
            if src_path is None:
                writer.write_table(features.arrow_schema.empty_table())
            else:
                offset = _stream_shard(src_path, tag_table, offset, writer)
            writer.finalize()
        finally:
            writer.close()
    if offset != len(ds) or offset != len(tags):
        raise RuntimeError(f"split {split!r}: wrote {offset} rows, expected {len(ds)} (tags {len(tags)})")
    state = {
        "_data_files": [{"filename": name} for name in names],
        "_fingerprint": hashlib.sha256(f"{ds._fingerprint}:{tags._fingerprint}".encode()).hexdigest()[:16],
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": split,
    }
    (split_dir / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    info = copy.deepcopy(info)
    info.features = features
    from datasets.utils.py_utils import asdict as hf_asdict  # knows Features

    info_dict = hf_asdict(info)
    (split_dir / "dataset_info.json").write_text(
        json.dumps({key: info_dict[key] for key in sorted(info_dict)}, indent=2), encoding="utf-8"
    )
    return offset


def _fit_thresholds(dd: datasets.DatasetDict, report: BuildReport) -> tuple[dict, str]:
    from . import captions

    if "train" in dd:
        parts = [dd["train"]]
        source = "train split"
    else:
        parts = list(dd.values())
        source = "all rows (the corpus has no train split)"
        report.note("thresholds fitted on all rows: the corpus has no train split and no thresholds file was given")
    values = {}
    for attr in captions.BINNED_ATTRIBUTES:
        col = []
        for part in parts:
            if attr in part.column_names:
                col.extend(part.data.column(attr).to_pylist())
        values[attr] = col
    thresholds = captions.fit_thresholds(values)
    return thresholds, source


def _load_thresholds(thresholds) -> dict:
    from . import captions

    if isinstance(thresholds, Mapping):
        return dict(thresholds)
    path = Path(thresholds).expanduser()
    if not path.is_file():
        raise CorpusError(f"Thresholds file not found: {path}.")
    try:
        return captions.load_thresholds(path)
    except ValueError as err:
        raise CorpusError(str(err)) from None


# --------------------------------------------------------------------------- card
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


def _write_card(output_dir: Path, meta: Mapping, report: BuildReport | None, thresholds: Mapping | None, split_rows: Mapping[str, int], captions_only: bool = False) -> None:
    title = f"SmoothCLAP {meta['corpus']} ({meta['config']})" + (" - captions only" if captions_only else "")
    lic = meta.get("license") or ""
    lines = ["---", f"pretty_name: {json.dumps(title)}"]
    if lic and re.fullmatch(r"[A-Za-z0-9.\-]+", lic):
        lines.append(f"license: {lic.lower()}")
    else:
        lines.append("license: other")
    lines += ["tags:", "- audio", "- speech-emotion-recognition", "- smoothclap", "---", "", f"# {title}", ""]
    if meta.get("description"):
        lines += [meta["description"].strip(), ""]
    lines += ["## Source", ""]
    lines.append(f"- Corpus: `{meta['corpus']}`, config `{meta['config']}`")
    if meta.get("homepage"):
        lines.append(f"- Homepage: {meta['homepage']}")
    lines.append(f"- Licence: {lic or 'see the corpus homepage'}")
    if captions_only:
        lines.append("- This copy has **no audio column**: it holds ids, labels, acoustic features, tags and captions only. Join on `id` with your own copy of the corpus.")
    elif meta.get("redistribute_audio") is False:
        lines.append("- The corpus licence does not allow redistributing its audio: do not share this dataset; share `export-captions` output instead.")
    if meta.get("citation"):
        lines += ["", "```bibtex", meta["citation"].strip(), "```"]
    lines += ["", "## Splits", "", "| split | rows |", "|---|---|"]
    for split, n in split_rows.items():
        lines.append(f"| {split} | {n} |")
    if report is not None:
        lines += [
            "",
            f"Scanner input {report.input_rows} rows = built {report.built_rows} + skipped "
            f"{report.skipped_rows} (unreadable, empty or too short audio; listed with reasons in "
            f"`{REPORT_FILE}`).",
        ]
        for reason, n in sorted(report.dropped.items()):
            lines.append(f"- dropped before input: {n} rows, {reason}")
        for note in report.notes:
            lines.append(f"- note: {note}")
    if meta.get("labels"):
        lines += ["", "## Candidate labels (zero-shot evaluation)", "", "| label | query text |", "|---|---|"]
        for lab, text in zip(meta["labels"], meta.get("query_texts") or meta["labels"]):
            lines.append(f"| {lab} | {text} |")
    lines += ["", "## Columns", "", "| column | type | meaning |", "|---|---|---|"]
    for name, typ, doc in _COLUMN_DOCS:
        if captions_only and name == "audio":
            continue
        lines.append(f"| {name} | {typ} | {doc} |")
    if thresholds:
        lines += [
            "",
            "## Bin thresholds",
            "",
            f"Fitted on: {meta.get('thresholds_source', 'n/a')}. x <= p30: low; x >= p70: high; otherwise mid (`{THRESHOLDS_FILE}`).",
            "",
            "| attribute | p30 | p70 |",
            "|---|---|---|",
        ]
        for attr, pair in thresholds.items():
            lo, hi = (pair if pair is not None else (None, None))
            lines.append(f"| {attr} | {_fmt(lo)} | {_fmt(hi)} |")
    lines += ["", "## How it was built", ""]
    lines.append(
        "With `dataset_scripts` (SmoothCLAP): audio decoded with soundfile, downmixed, "
        "resampled to 16 kHz, eGeMAPSv02 functionals from openSMILE; ratings and features "
        "binned at the 30th/70th percentiles into low/mid/high; tag phrases from the "
        "ParaCLAP templates; captions seeded per row by (seed, id)."
    )
    b = meta.get("build", {})
    if b:
        lines += ["", "```", json.dumps(b, indent=2, sort_keys=True, default=str), "```"]
    if captions_only and meta.get("exported_from"):
        lines += ["", f"Exported (audio removed) from `{meta['exported_from']}`."]
    (output_dir / CARD_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _prepare_output_dir(output_dir: Path, overwrite: bool) -> None:
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        ours = output_dir.is_dir() and any(
            (output_dir / f).exists() for f in ("dataset_dict.json", METADATA_FILE, REPORT_FILE)
        )
        if not overwrite:
            raise CorpusError(f"Output directory {output_dir} is not empty; pass overwrite=True (CLI: --overwrite).")
        if not ours:
            raise CorpusError(f"Refusing to overwrite {output_dir}: it does not look like a dataset built by dataset_scripts.")
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)


def _unwrap(err: BaseException) -> BaseException:
    """datasets wraps generator errors in DatasetGenerationError: surface a CorpusError."""
    seen = err
    while seen is not None:
        if isinstance(seen, CorpusError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return err


# --------------------------------------------------------------------------- build
def build(
    corpus_name,
    data_dir: str | os.PathLike | None,
    output_dir: str | os.PathLike,
    config_name: str = "default",
    num_workers: int = 1,
    seed: int = 0,
    caption_variant: str = "emotion_plus",
    max_tags: int = 5,
    thresholds: str | os.PathLike | Mapping | None = None,
    paths_only: bool = False,
    drop_unknown: bool = False,
    cache_dir: str | os.PathLike | None = None,
    features: bool = True,
    overwrite: bool = False,
    progress: bool = False,
    start_method: str | None = None,
    push_to_hub_repo: str | None = None,
    private: bool = True,
    **scan_options,
) -> datasets.DatasetDict:
    """Build a corpus into ``output_dir`` (``save_to_disk`` layout) and return it.

    Also writes ``thresholds.json``, ``build_report.json``, ``smoothclap.json`` (labels,
    query texts, build settings) and a dataset card ``README.md``. ``thresholds``: a JSON
    file (or dict) to reuse, e.g. MSP-Podcast's for an evaluation corpus; default: fit on
    the train split (or on all rows, noted in the card, when there is none).
    ``cache_dir``: where the intermediate Arrow data goes; default a temporary folder next
    to ``output_dir``, deleted afterwards. With an explicit ``cache_dir`` the generated
    data (the eGeMAPS pass, the slow part) is reused by a later build with the same
    corpus, config, data dir and options, e.g. to change the captions.
    ``num_workers`` > 1 runs eGeMAPS in worker processes (``start_method``: multiprocessing
    start method, default forkserver, see egemaps.FeatureExtractorPool); a script that
    calls ``build`` with workers needs the usual ``if __name__ == "__main__":`` guard.
    """
    from . import captions

    module = get_corpus(corpus_name)
    config_name, config = get_config(module, config_name, data_dir, scan_options)
    if caption_variant not in captions.CAPTION_VARIANTS:
        raise CorpusError(f"Unknown caption variant {caption_variant!r}; choose from {list(captions.CAPTION_VARIANTS)}.")
    given_thresholds = _load_thresholds(thresholds) if thresholds is not None else None
    output_dir = Path(output_dir).expanduser()
    _prepare_output_dir(output_dir, overwrite)

    scan_options = dict(scan_options)
    scan_options["drop_unknown"] = bool(drop_unknown)
    tmp_cache = None
    if cache_dir is None:
        tmp_cache = tempfile.mkdtemp(prefix=f".{output_dir.name}.cache-", dir=str(output_dir.parent))
        cache_dir = tmp_cache
    try:
        builder = SmoothClapBuilder(
            module,
            config_name,
            data_dir,
            cache_dir=cache_dir,
            num_workers=num_workers,
            paths_only=paths_only,
            features=features,
            scan_options=scan_options,
            progress=progress,
            start_method=start_method,
        )
        report_cache = Path(builder.cache_dir) / REPORT_FILE
        reuse = report_cache.is_file() and tmp_cache is None
        try:
            builder.download_and_prepare(
                download_mode="reuse_dataset_if_exists" if reuse else "force_redownload",
                verification_mode="no_checks",
            )
        except Exception as err:
            cause = _unwrap(err)
            if cause is not err:
                raise cause from None
            raise
        if reuse and builder.report.input_rows == 0:
            report = BuildReport.read_json(report_cache)
            report.note(f"Arrow data reused from the cache {builder.cache_dir}")
        else:
            report = builder.report
            report.check()
            report.write_json(report_cache)
        dd = _as_dataset_dict(builder)

        if given_thresholds is not None:
            thr = given_thresholds
            thr_source = f"given ({thresholds if not isinstance(thresholds, Mapping) else 'dict'})"
        else:
            thr, thr_source = _fit_thresholds(dd, report)
        n_rows = sum(len(d) for d in dd.values())
        num_proc = num_workers if num_workers > 1 and n_rows >= 20000 else None
        tags = {
            split: compute_tags(ds, thr, seed=seed, variant=caption_variant, max_tags=max_tags, num_proc=num_proc)
            for split, ds in dd.items()
        }
        uncaptioned = sum(t.data.column("caption").null_count for t in tags.values())
        if uncaptioned:
            report.note(
                f"{uncaptioned} rows have no caption (no emotion, gender or binnable value); "
                "their caption and tags are null"
            )
        build_settings = {
            "corpus": module.NAME,
            "config": config_name,
            "data_dir": str(Path(data_dir).expanduser().resolve()) if data_dir is not None else None,
            "seed": seed,
            "caption_variant": caption_variant,
            "max_tags": max_tags,
            "paths_only": paths_only,
            "features": features,
            "drop_unknown": drop_unknown,
            "scan_options": {k: v for k, v in scan_options.items() if k != "drop_unknown"},
            "builder_version": BUILDER_VERSION,
            "datasets_version": datasets.__version__,
        }
        meta = _metadata(
            module,
            config_name,
            config,
            description=config.description,
            citation=config.citation,
            redistribute_audio=config.redistribute_audio,
            thresholds=thr,
            thresholds_source=thr_source,
            splits={s: len(d) for s, d in dd.items()},
            build=build_settings,
        )
        info = datasets.DatasetInfo(
            description=_description_with_metadata(config.description, meta),
            citation=config.citation,
            homepage=config.homepage,
            license=config.license,
        )
        for split, ds in dd.items():
            _write_split(ds, tags[split], output_dir / split, info, split)
        (output_dir / "dataset_dict.json").write_text(json.dumps({"splits": list(dd)}), encoding="utf-8")
        del dd, tags
    finally:
        if tmp_cache is not None:
            shutil.rmtree(tmp_cache, ignore_errors=True)

    captions.save_thresholds(thr, output_dir / THRESHOLDS_FILE)
    report.write_json(output_dir / REPORT_FILE)
    (output_dir / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    _write_card(output_dir, meta, report, thr, meta["splits"])
    result = datasets.load_from_disk(str(output_dir))
    result.build_report = report  # convenience for callers (not persisted; see build_report.json)
    if push_to_hub_repo:
        push_to_hub(output_dir, push_to_hub_repo, private=private)
    return result


# --------------------------------------------------------------------------- export / hub
def export_captions(input_dir: str | os.PathLike, output_dir: str | os.PathLike, overwrite: bool = False) -> datasets.DatasetDict:
    """Write a copy of a built dataset without the audio column (ids, labels, features,
    tags, captions), with its own card. For corpora whose licence forbids sharing audio."""
    input_dir = Path(input_dir).expanduser()
    output_dir = Path(output_dir).expanduser()
    if not (input_dir / "dataset_dict.json").is_file():
        raise CorpusError(f"{input_dir} is not a dataset built by `python -m dataset_scripts build` (no dataset_dict.json).")
    if output_dir.resolve() == input_dir.resolve():
        raise CorpusError("export-captions needs an output directory different from the input.")
    dd = datasets.load_from_disk(str(input_dir))
    meta_path = input_dir / METADATA_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    if not meta:
        labels, texts = label_texts(dd)
        meta = {"corpus": "unknown", "config": "unknown", "labels": labels, "query_texts": texts}
    _prepare_output_dir(output_dir, overwrite)
    out = datasets.DatasetDict(
        {split: ds.remove_columns([c for c in ("audio",) if c in ds.column_names]) for split, ds in dd.items()}
    )
    out.save_to_disk(str(output_dir))  # no audio column: small rows
    meta = dict(meta)
    meta["captions_only"] = True
    meta["exported_from"] = str(input_dir.resolve())
    meta["splits"] = {s: len(d) for s, d in out.items()}
    for name in (THRESHOLDS_FILE, REPORT_FILE):
        if (input_dir / name).is_file():
            shutil.copyfile(input_dir / name, output_dir / name)
    (output_dir / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    report = BuildReport.read_json(input_dir / REPORT_FILE) if (input_dir / REPORT_FILE).is_file() else None
    _write_card(output_dir, meta, report, meta.get("thresholds"), meta["splits"], captions_only=True)
    del dd, out
    return datasets.load_from_disk(str(output_dir))


def push_to_hub(dataset_dir: str | os.PathLike, repo_id: str, private: bool = True) -> None:
    """Upload a built (or captions-only) dataset directory: the data with
    ``DatasetDict.push_to_hub``, then the card, thresholds, report and metadata files.
    Refuses a public repository with audio when the corpus licence forbids sharing it."""
    dataset_dir = Path(dataset_dir)
    meta_path = dataset_dir / METADATA_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    dd = datasets.load_from_disk(str(dataset_dir))
    has_audio_bytes = any("audio" in ds.column_names for ds in dd.values()) and not meta.get("build", {}).get("paths_only")
    if has_audio_bytes and meta.get("redistribute_audio") is False:
        if not private:
            raise CorpusError(
                f"The {meta.get('corpus')} licence does not allow redistributing its audio: refusing a "
                "public push. Push the output of `export-captions` instead, or a private repository."
            )
        print(
            f"warning: {meta.get('corpus')} audio may not be redistributed; keep {repo_id} private.",
            file=sys.stderr,
        )
    dd.push_to_hub(repo_id, private=private)
    from huggingface_hub import HfApi

    api = HfApi()
    for name in (THRESHOLDS_FILE, REPORT_FILE, METADATA_FILE):
        if (dataset_dir / name).is_file():
            api.upload_file(path_or_fileobj=str(dataset_dir / name), path_in_repo=name, repo_id=repo_id, repo_type="dataset")
