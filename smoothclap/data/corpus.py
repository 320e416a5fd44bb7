"""The corpus-module contract: what a corpus module declares and yields, and where the
builder finds one.

A corpus module (see ``README.md`` in this folder) defines ``NAME``, ``CONFIGS`` (config
name -> ``CorpusConfig``), optionally ``OPTIONS`` (option key -> help text) and
``scan(data_dir, config_name, options)``, which yields Records: plain dicts with the keys
``RECORD_KEYS``, checked by ``validate_record``. The file-layout chores of a scanner (root
and label-file lookup, audio index, label tables, code tables) live next door in
``scanning.py``.

Also here: the one split-name normaliser (``normalise_split``), the drop accounting a
scanner reports through (``count_drop``, ``reject_unknown``), and the registry
(``get_corpus``, ``get_config``, ``check_options``, ``list_corpora``).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "BUILDER_HINTS",
    "CORPUS_MODULES",
    "FULL_SPLIT",
    "GENDERS",
    "RATING_KEYS",
    "RECORD_KEYS",
    "CorpusConfig",
    "CorpusError",
    "check_options",
    "corpus_options",
    "count_drop",
    "get_config",
    "get_corpus",
    "hf_split_name",
    "list_corpora",
    "normalise_split",
    "reject_unknown",
    "split_sort_key",
    "validate_record",
]

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
RATING_KEYS = ("arousal", "valence", "dominance")
GENDERS = ("male", "female")
# datasets reserves the split name "all" (the union of all splits): records of a corpus
# without splits (record split "all") go to the split FULL_SPLIT, also in the split column.
FULL_SPLIT = "full"
_SPLIT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Keys the builder itself puts into a scanner's options (never user options): the drop
# report, the discovery / one-split hints, and the --drop-unknown build argument.
BUILDER_HINTS = ("report", "discover", "split", "drop_unknown")


class CorpusError(ValueError):
    """A corpus cannot be built as asked: missing root / label file, unknown codes, ...

    The message is meant for the user as is (the CLI prints it without a traceback)."""


@dataclasses.dataclass
class CorpusConfig:
    """Static description of one configuration of a corpus.

    ``labels``: class names in a fixed order (the ``label`` ClassLabel), or None when the
    corpus has no class label for evaluation. ``query_texts``: one candidate text per
    label, same order (what the zero-shot evaluation compares audio against).
    ``rating_scale``: ``(lowest, highest)`` of the arousal/valence/dominance ratings
    (MSP-Podcast ``(1, 7)``, IEMOCAP ``(1, 5)``), None when the corpus has no ratings;
    records with ratings outside it are refused, and rating bins are only reused across
    corpora on the same scale. ``redistribute_audio``: False when the licence forbids
    sharing the audio (then ``push_to_hub`` refuses public repositories with audio; use
    ``export_captions``).
    """

    labels: list[str] | None = None
    query_texts: list[str] | None = None
    description: str = ""
    citation: str = ""
    homepage: str = ""
    license: str = ""
    needs_data_dir: bool = True
    redistribute_audio: bool = True
    rating_scale: tuple[float, float] | None = None

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
        if self.rating_scale is not None:
            low, high = (float(x) for x in self.rating_scale)
            if not low < high:
                raise ValueError(f"CorpusConfig rating_scale must be (lowest, highest), got {self.rating_scale}.")
            self.rating_scale = (low, high)


# --------------------------------------------------------------------------- splits
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "trn": "train",
    "tr": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "devel": "validation",
    "development": "validation",
    "de": "validation",
    "test": "test",
    "testing": "test",
    "tst": "test",
    "te": "test",
    "all": "all",
}


def normalise_split(name: Any) -> str | None:
    """Map a corpus' split name to the builder's names, or None when unrecognised.

    ``Train``/``training``/``TR`` -> ``train``; ``Development``/``Validation``/``dev``/
    ``val``/``DE`` -> ``validation``; ``Test``/``TE`` -> ``test``; ``Test1``/``test_2``/
    ``Test 3`` -> ``test1``...; ``all`` -> ``all``. (``TR``/``DE``/``TE`` are the partition
    prefixes of challenge file names such as ALC's ``TE_0001``.)
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


def split_sort_key(name: str):
    """train, validation*, test*, others, all/full: the order splits are written in."""
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


# --------------------------------------------------------------------------- drops
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


# --------------------------------------------------------------------------- records
def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_audio(audio, where: str, allow_no_audio: bool):
    if isinstance(audio, os.PathLike):
        audio = os.fspath(audio)
    if isinstance(audio, bytearray):
        audio = bytes(audio)
    if audio is None and allow_no_audio:
        return None
    if not isinstance(audio, (str, bytes)) or (isinstance(audio, str) and not audio):
        raise CorpusError(
            f"{where}: key 'audio' must be a file path (str) or encoded audio bytes, got "
            f"{type(audio).__name__}."
        )
    return audio


def _check_rating(value, key: str, where: str, scale: tuple[float, float] | None) -> float | None:
    if value is None:
        return None
    if not _is_number(value):
        raise CorpusError(f"{where}: key {key!r} must be a number or None, got {value!r}.")
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise CorpusError(f"{where}: key {key!r} is infinite.")
    if scale is None:
        raise CorpusError(
            f"{where}: key {key!r} is {value} but the corpus config declares no rating scale; "
            "set CorpusConfig(rating_scale=(lowest, highest))."
        )
    if not scale[0] <= value <= scale[1]:
        raise CorpusError(f"{where}: key {key!r} is {value}, outside the corpus' rating scale {scale[0]:g}-{scale[1]:g}.")
    return value


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
    out["audio"] = _check_audio(out["audio"], where, allow_no_audio)

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
    for key in RATING_KEYS:
        out[key] = _check_rating(out[key], key, where, config.rating_scale)
    return out


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
                    "(or a dotted module path that follows smoothclap/data/README.md)."
                )
            module_path = f"{__package__ or 'smoothclap.data'}.{key}"
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
            f"{', '.join(missing)} (see smoothclap/data/README.md)."
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


def corpus_options(module) -> dict[str, str]:
    """The scanner options a corpus module declares (``OPTIONS``: key -> help text)."""
    return dict(getattr(module, "OPTIONS", None) or {})


def check_options(module, options: Mapping | None) -> dict:
    """``options`` as a plain dict, or CorpusError naming an undeclared key (a typo such as
    ``num_speaker``, or an option of another corpus) and listing the valid ones."""
    options = dict(options or {})
    declared = corpus_options(module)
    unknown = [key for key in options if key not in declared]
    if not unknown:
        return options
    key = unknown[0]
    if key in BUILDER_HINTS:
        hint = f" ({key!r} is set by the builder; CLI: --{key.replace('_', '-')})" if key == "drop_unknown" else ""
    else:
        close = difflib.get_close_matches(key, declared, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    valid = ", ".join(declared) if declared else "none (this corpus takes no options)"
    raise CorpusError(
        f"Unknown option {key!r} for corpus {module.NAME!r}{hint}. Valid options: {valid}. "
        "`python -m smoothclap.data list` shows every corpus' options."
    )


def list_corpora() -> list[dict]:
    """One entry per registered corpus: name, options, configs (with label sets and rating
    scale), or the import error."""
    out = []
    for name in CORPUS_MODULES:
        try:
            module = get_corpus(name)
        except Exception as err:  # a corpus module that cannot be imported here
            out.append({"name": name, "error": str(err).splitlines()[0]})
            continue
        configs = {
            cname: {
                "labels": cfg.labels,
                "needs_data_dir": cfg.needs_data_dir,
                "rating_scale": cfg.rating_scale,
                "description": (cfg.description or "").strip().splitlines()[0:1],
            }
            for cname, cfg in module.CONFIGS.items()
        }
        out.append({"name": module.NAME, "options": corpus_options(module), "configs": configs})
    return out
