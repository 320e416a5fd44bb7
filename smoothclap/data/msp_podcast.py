"""MSP-Podcast (releases 1.7-2.0), the SmoothCLAP training corpus.

Expected layout under ``data_dir`` (the release as distributed, after unpacking)::

    Audios/MSP-PODCAST_0002_0033.wav        (files may also sit in subfolders of Audios/)
    Labels/labels_consensus.csv             (or the older spelling labels_concensus.csv,
                                             or labels_consensus.json)

Label columns: FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set (the
JSON file maps each FileName to an object with the other keys). Only FileName, EmoClass
and Split_Set are required; a missing rating / speaker / gender column gives None.

Selection, as in the paper: every row except EmoClass X (no agreement among annotators).
Release 1.9 has 55 283 labelled utterances; without the X rows (17.5 %) that leaves the
paper's 45 619, "other" (O) included. The ``exclude_other`` option (CLI
``--exclude-other``) also drops O rows, counted in the report like the X rows.

Mapping:

* EmoClass codes A anger, H happiness, S sadness, N neutral, U surprise, F fear,
  D disgust, C contempt, O other, X no agreement. ``label`` is the category noun
  (``anger``), ``emotion`` the adjective the captions use (``angry``). O rows have label
  ``other`` and emotion None: "other" is not an emotion, so their captions carry no
  emotion sentence (never "speaker is other"). X rows are dropped and counted. An empty
  EmoClass (unlabelled rows, e.g. a withheld test set) is kept with label/emotion None.
* Split_Set: Train -> train, Development / Validation -> validation, Test -> test,
  Test1 / Test2 / Test3 -> test1 / test2 / test3; every split the release has is kept.
* SpkrID ``Unknown`` (or empty) -> None; Gender Male / Female -> male / female,
  ``Unknown`` -> None. Ratings EmoAct/EmoVal/EmoDom on the 1-7 scale.
* Unknown EmoClass codes, split names, genders or non-numeric ratings: CorpusError listing
  every one of them, or with ``drop_unknown`` the rows are dropped and counted.
* A labels row whose audio file is missing is still yielded (with the expected path): the
  builder skips it with the reason "Audio file not found" and lists it in the report.

Options (``OPTIONS``): ``exclude_other`` (bool), ``labels_file`` (path overriding the
label-file search); the builder adds ``drop_unknown`` and its ``report``, ``split`` and
``discover`` hints (see builder.py).

The CSV is streamed twice (a validation pass, then the yielding pass); the JSON label file
is loaded whole (the json module cannot stream; it is a few MB for a full release).
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

from . import scanning
from .corpus import CorpusConfig, CorpusError, count_drop, normalise_split

NAME = "msp_podcast"

OPTIONS = {
    "exclude_other": "also drop EmoClass O (other) rows, counted (CLI: --exclude-other); default: kept, as in the paper",
    "labels_file": "the consensus label file (CSV or JSON) to read instead of Labels/labels_consensus.csv",
}

# code -> (label: category noun, emotion: caption adjective)
EMOTION_CODES = {
    "A": ("anger", "angry"),
    "H": ("happiness", "happy"),
    "S": ("sadness", "sad"),
    "N": ("neutral", "neutral"),
    "U": ("surprise", "surprised"),
    "F": ("fear", "fearful"),
    "D": ("disgust", "disgusted"),
    "C": ("contempt", "contemptuous"),
    "O": ("other", None),  # not an emotion: no emotion sentence in captions
}
NO_AGREEMENT = "X"
OTHER = "O"

LABEL_FILE_CANDIDATES = (
    "Labels/labels_consensus.csv",
    "Labels/labels_concensus.csv",
    "Labels/labels_consensus.json",
    "Labels/labels_concensus.json",
)
REQUIRED_COLUMNS = ("FileName", "EmoClass", "Split_Set")
OPTIONAL_COLUMNS = ("EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender")
RATING_COLUMNS = {"EmoAct": "arousal", "EmoVal": "valence", "EmoDom": "dominance"}
_MISSING = ("", "unknown", "none", "nan", "na", "n/a")
_GENDERS = {"male": "male", "m": "male", "female": "female", "f": "female"}

DROP_NO_AGREEMENT = "EmoClass X (no agreement among annotators), excluded as in the paper"
DROP_OTHER = "EmoClass O (other), excluded by the exclude_other option (--exclude-other)"

CITATION = """@article{lotfian2019building,
  title   = {Building Naturalistic Emotionally Balanced Speech Corpus by Retrieving Emotional Speech from Existing Podcast Recordings},
  author  = {Lotfian, Reza and Busso, Carlos},
  journal = {IEEE Transactions on Affective Computing},
  volume  = {10},
  number  = {4},
  pages   = {471--483},
  year    = {2019}
}"""

CONFIGS = {
    "default": CorpusConfig(
        labels=None,
        query_texts=None,
        description=(
            "MSP-Podcast: naturalistic English speech from podcast recordings, annotated by "
            "crowd-sourcing with a primary emotion category (consensus EmoClass) and "
            "arousal/valence/dominance ratings (1-7). No-agreement (X) utterances excluded; "
            "'other' (O) kept with label 'other' and no emotion sentence in its captions "
            "(unless exclude_other). Training corpus of SmoothCLAP (release 1.9: 55 283 "
            "utterances, 45 619 after excluding X, as in the paper)."
        ),
        citation=CITATION,
        homepage="https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Podcast.html",
        license="MSP-Podcast academic licence agreement (the audio may not be redistributed)",
        needs_data_dir=True,
        redistribute_audio=False,
        rating_scale=(1, 7),
    ),
}


# --------------------------------------------------------------------------- files
# Labels/<name> as distributed; <name> at the root as a fallback for flattened copies
_LABEL_FILE_SEARCH = LABEL_FILE_CANDIDATES + tuple(Path(rel).name for rel in LABEL_FILE_CANDIDATES)


def find_label_file(root: Path, options: Mapping | None = None) -> Path:
    """The consensus label file, or CorpusError naming every path looked at."""
    return scanning.find_file(root, _LABEL_FILE_SEARCH, "MSP-Podcast", override=(options or {}).get("labels_file"))


def check_root(data_dir) -> tuple[Path, Path]:
    if data_dir is None:
        raise CorpusError("MSP-Podcast needs --data-dir: the release folder with Audios/ and Labels/.")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise CorpusError(f"MSP-Podcast root not found: {root} (expected a folder with Audios/ and Labels/).")
    audios = root / "Audios"
    if not audios.is_dir():
        raise CorpusError(f"MSP-Podcast audio folder not found: {audios} (expected {root}/Audios/*.wav).")
    return root, audios


def _iter_label_rows(path: Path) -> Iterator[dict]:
    """Rows as dicts with string keys FileName, EmoClass, ... (CSV streamed, JSON loaded)."""
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise CorpusError(f"MSP-Podcast label file {path} is not valid JSON ({err}).") from None
        if isinstance(data, Mapping):
            items = ((name, fields) for name, fields in data.items())
        elif isinstance(data, list):
            items = ((fields.get("FileName") if isinstance(fields, Mapping) else None, fields) for fields in data)
        else:
            raise CorpusError(f"MSP-Podcast label file {path}: expected an object FileName -> fields.")
        for name, fields in items:
            if not isinstance(fields, Mapping) or not name:
                raise CorpusError(f"MSP-Podcast label file {path}: entry {name!r} is not an object with fields.")
            row = dict(fields)
            row["FileName"] = name
            yield row
        return
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise CorpusError(
                f"MSP-Podcast label file {path} lacks column(s) {missing}; found {columns}. "
                f"Expected {list(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}."
            )
        reader.fieldnames = columns
        yield from reader


def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _MISSING


def _speaker(value) -> str | None:
    if _missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text


def _interpret(row: Mapping) -> tuple[dict | None, list[tuple[str, str]], str | None]:
    """One label row -> (fields, unknowns [(kind, value)], drop kind or None).

    ``fields`` has id, file, split, speaker, gender, label, emotion and ratings."""
    unknowns: list[tuple[str, str]] = []
    filename = str(row.get("FileName") or "").strip()
    if not filename:
        unknowns.append(("FileName", ""))
    raw_split = row.get("Split_Set")
    split = None if _missing(raw_split) else normalise_split(raw_split)
    if split is None:
        unknowns.append(("Split_Set", "" if raw_split is None else str(raw_split)))
    code = "" if _missing(row.get("EmoClass")) else str(row.get("EmoClass")).strip().upper()
    if code and code != NO_AGREEMENT and code not in EMOTION_CODES:
        unknowns.append(("EmoClass", code))
    gender = None
    if not _missing(row.get("Gender")):
        gender = _GENDERS.get(str(row["Gender"]).strip().lower())
        if gender is None:
            unknowns.append(("Gender", str(row["Gender"])))
    ratings = {}
    for column, key in RATING_COLUMNS.items():
        value = row.get(column)
        if _missing(value):
            ratings[key] = None
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            unknowns.append((column, str(value)))
            continue
        ratings[key] = None if math.isnan(number) else number
    if unknowns:
        return None, unknowns, None
    label, emotion = EMOTION_CODES.get(code, (None, None))
    fields = {
        "id": Path(filename.replace("\\", "/")).stem,
        "file": filename,
        "split": split,
        "speaker": _speaker(row.get("SpkrID")),
        "gender": gender,
        "label": label,
        "emotion": emotion,
        **ratings,
    }
    drop = "X" if code == NO_AGREEMENT else ("O" if code == OTHER else None)
    return fields, [], drop


# --------------------------------------------------------------------------- scan
def scan(data_dir, config_name: str = "default", options: Mapping | None = None) -> Iterator[dict]:
    """Yield one Record per usable labels row (see the module docstring).

    Errors (missing root / Audios / label file, unknown codes) are raised on the first
    ``next()``, before any record is yielded."""
    options = dict(options or {})
    root, audios = check_root(data_dir)
    label_file = find_label_file(root, options)
    exclude_other = bool(options.get("exclude_other"))
    drop_unknown = bool(options.get("drop_unknown"))

    # pass 1: validate everything, so an unknown code fails before any audio work
    unknown_values: dict[str, Counter] = {}
    drops: Counter = Counter()
    n_rows = 0
    for row in _iter_label_rows(label_file):
        n_rows += 1
        fields, unknowns, drop = _interpret(row)
        if unknowns:
            for kind, value in unknowns:
                unknown_values.setdefault(kind, Counter())[value] += 1
            kind, value = unknowns[0]
            drops[f"unknown {kind} {value!r} (drop_unknown)"] += 1
        elif drop == "X":
            drops[DROP_NO_AGREEMENT] += 1
        elif drop == "O" and exclude_other:
            drops[DROP_OTHER] += 1
    if n_rows == 0:
        raise CorpusError(f"MSP-Podcast label file {label_file} has no rows.")
    if unknown_values and not drop_unknown:
        listing = "; ".join(
            f"{kind}: " + ", ".join(f"{v!r} ({n} rows)" for v, n in sorted(values.items()))
            for kind, values in unknown_values.items()
        )
        raise CorpusError(
            f"Unknown values in {label_file}: {listing}. Known EmoClass codes: "
            f"{', '.join(list(EMOTION_CODES) + [NO_AGREEMENT])}; split names: Train, "
            "Development/Validation, Test, Test1, Test2, Test3. Pass drop_unknown "
            "(CLI: --drop-unknown) to drop these rows and count them in the report."
        )
    for reason, n in sorted(drops.items()):
        count_drop(options, reason, n)

    # pass 2: yield
    index = scanning.AudioIndex(audios)
    only_split = options.get("split")
    discover = bool(options.get("discover"))
    for row in _iter_label_rows(label_file):
        fields, unknowns, drop = _interpret(row)
        if unknowns or drop == "X" or (drop == "O" and exclude_other):
            continue
        if only_split and fields["split"] != only_split:
            continue
        yield {
            "id": fields["id"],
            "audio": None if discover else str(index.resolve(audios / fields["file"])),
            "split": fields["split"],
            "speaker": fields["speaker"],
            "gender": fields["gender"],
            "label": fields["label"],
            "emotion": fields["emotion"],
            "arousal": fields["arousal"],
            "valence": fields["valence"],
            "dominance": fields["dominance"],
        }
