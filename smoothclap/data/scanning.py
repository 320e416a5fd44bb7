"""Scanner helpers: the file-layout chores every corpus module shares.

Next to the record contract (``corpus.py``): checking that the expected root and label
files exist (``require_dir``, ``find_file``: the one label-file lookup), walking audio
files and resolving label-table file names to audio paths (``AudioIndex``: the one audio
index), reading label tables, mapping corpus codes to class labels with accounting for
excluded and unknown codes (``CodeTable``), and making record ids unique. Audio is never
read here: a scanner collects small metadata dicts (a path and a few strings per
utterance), validates all label codes before yielding the first record (so an unknown
code fails fast, before the builder spends time on features), and then yields them.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import os
import pathlib
import re
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from .corpus import CorpusError, count_drop, normalise_split, reject_unknown

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")

# Spellings of emotion words seen in corpus folder names, file names and label tables,
# mapped to the adjective the captions use ("emotion is X").
EMOTION_ADJECTIVES = {
    "neutral": "neutral", "neu": "neutral",
    "calm": "calm",
    "happy": "happy", "happiness": "happy", "joy": "happy", "hap": "happy",
    "sad": "sad", "sadness": "sad",
    "angry": "angry", "anger": "angry", "ang": "angry",
    "fear": "fearful", "fearful": "fearful", "fea": "fearful",
    "disgust": "disgusted", "disgusted": "disgusted", "dis": "disgusted",
    "surprise": "surprised", "surprised": "surprised",
    "pleasant_surprise": "surprised", "pleasant_surprised": "surprised", "ps": "surprised",
    "contempt": "contemptuous", "contemptuous": "contemptuous",
}

# Partition names of label tables and challenge file-name prefixes (ALC: TR_/DE_/TE_),
# listed in error messages; corpus.normalise_split maps them.
KNOWN_SPLITS = ("train", "training", "devel", "dev", "development", "validation", "val",
                "test", "test1", "all", "TR", "DE", "TE")


def emotion_adjective(word: str | None) -> str | None:
    """'Sadness' -> 'sad', 'pleasant surprise' -> 'surprised'; None for other words."""
    if not word:
        return None
    key = re.sub(r"[\s\-]+", "_", word.strip().lower())
    return EMOTION_ADJECTIVES.get(key)


# ---------------------------------------------------------------------------- paths

def require_dir(path: pathlib.Path | None, what: str) -> pathlib.Path:
    """Return `path` if it is a directory, else raise CorpusError naming it."""
    if path is None:
        raise CorpusError(f"{what}: a data directory is required (--data-dir)")
    path = pathlib.Path(path).expanduser()
    if not path.is_dir():
        raise CorpusError(f"{what}: expected directory {path} does not exist")
    return path


def find_file(data_dir: pathlib.Path, candidates: Sequence[str | pathlib.Path], what: str,
              override: str | pathlib.Path | None = None, kind: str = "label file",
              required: bool = True) -> pathlib.Path | None:
    """The first existing file among `candidates` (relative to data_dir), or `override`.

    An override (the `labels_file=` scan option) may be absolute or relative to
    data_dir. Raises CorpusError naming the expected path(s) when nothing exists (a
    missing override always; a missing candidate only when `required`, else None).
    """
    if override:
        path = pathlib.Path(override).expanduser()
        if not path.is_absolute() and not path.exists():
            path = data_dir / path
        if not path.is_file():
            raise CorpusError(f"{what}: {kind} {path} does not exist")
        return path
    for rel in candidates:
        if (data_dir / rel).is_file():
            return data_dir / rel
    if not required:
        return None
    expected = data_dir / candidates[0]
    others = ", ".join(str(data_dir / rel) for rel in candidates[1:])
    raise CorpusError(
        f"{what}: expected {kind} {expected} does not exist"
        + (f" (also looked for {others})" if others else "")
        + "; pass labels_file=PATH (CLI: --option labels_file=PATH) to use a differently named table"
    )


def _visible(path: pathlib.Path) -> bool:
    # macOS copies carry '._x.wav' resource forks and '.DS_Store'; never audio.
    return not path.name.startswith(".")


def audio_files(root: pathlib.Path, extensions: Sequence[str] = AUDIO_EXTENSIONS,
                recursive: bool = True) -> list[pathlib.Path]:
    """Audio files under root (case-insensitive extension match), sorted, no hidden files."""
    pattern = "**/*" if recursive else "*"
    exts = tuple(e.lower() for e in extensions)
    return sorted(p for p in root.glob(pattern)
                  if p.is_file() and _visible(p) and p.suffix.lower() in exts)


# Audio containers libsndfile (soundfile) cannot read at all, whatever its version: a corpus
# folder holding them gets the conversion command, never silence.
UNREADABLE_AUDIO_EXTENSIONS = (".m4a", ".aac", ".mp4", ".wma", ".webm", ".amr", ".3gp", ".mka",
                               ".ape", ".wv", ".ac3", ".mpc")
# extension -> the soundfile format (soundfile.available_formats()) that decodes it
FORMAT_OF_EXTENSION = {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG",
                        ".opus": "OGG", ".aif": "AIFF", ".aiff": "AIFF", ".mp3": "MP3"}


def _libsndfile_version() -> tuple[int, ...]:
    import soundfile

    return tuple(int(x) for x in re.findall(r"\d+", soundfile.__libsndfile_version__)[:3])


def readable_extensions() -> tuple[str, ...]:
    """Audio extensions the installed libsndfile decodes: MP3 with libsndfile >= 1.1, Opus
    (in Ogg) with >= 1.0.29; other builds lose them, and a file with a lost extension is
    then reported as unreadable with the fix (``unreadable_reason``)."""
    import soundfile

    formats = soundfile.available_formats()
    version = _libsndfile_version()
    exts = [ext for ext, fmt in FORMAT_OF_EXTENSION.items() if fmt in formats]
    if ".opus" in exts and version < (1, 0, 29):
        exts.remove(".opus")
    return tuple(exts)


def unreadable_reason(rel: str) -> str:
    """Why an audio file in a format libsndfile cannot read is left out, and the fix."""
    import soundfile

    ext = pathlib.PurePosixPath(rel).suffix
    target = rel[: -len(ext)] + ".wav"
    fix = f"convert it to WAV or FLAC, e.g. ffmpeg -i '{rel}' '{target}'"
    if ext.lower() in FORMAT_OF_EXTENSION:  # a format that needs a newer libsndfile (MP3, Opus)
        fix += ", or install a soundfile wheel with libsndfile >= 1.1 (pip install -U soundfile)"
    return (f"audio format {ext} cannot be read by libsndfile {soundfile.__libsndfile_version__} "
            f"(soundfile) here; {fix}")


def walk_files(root: pathlib.Path) -> list[str]:
    """Every file under root, hidden ones included, as sorted relative POSIX paths.

    Symbolic links to folders are followed once (a link back up the tree is not walked
    twice); a broken link is listed like a file, so it is accounted for too."""
    out: list[str] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        rel_folder = pathlib.Path(folder).relative_to(root)
        out.extend((rel_folder / name).as_posix() for name in files)
    return sorted(out)


def is_hidden(rel: str) -> bool:
    """A file or a folder on its path starts with '.' ('.DS_Store', '._x.wav', '.git/...')."""
    return any(part.startswith(".") for part in rel.split("/"))


class AudioIndex:
    """Resolve a file name from a label table to an audio path.

    The expected path (the corpus' published layout) wins when it exists; otherwise a file
    with the same stem anywhere under `root` is used if exactly one exists (copies that
    were unpacked into a different folder structure); otherwise the expected path is
    returned anyway, so the builder reports it as missing instead of it vanishing. The
    tree under `root` is only walked (once) when an expected path is missing.
    """

    def __init__(self, root: pathlib.Path):
        self.root = root
        self._by_stem: dict[str, list[pathlib.Path]] | None = None

    def resolve(self, expected: pathlib.Path) -> pathlib.Path:
        if expected.is_file():
            return expected
        if self._by_stem is None:
            self._by_stem = collections.defaultdict(list)
            for path in audio_files(self.root):
                self._by_stem[path.stem].append(path)
        found = self._by_stem.get(expected.stem, [])
        return found[0] if len(found) == 1 else expected


# ---------------------------------------------------------------------------- tables

@dataclasses.dataclass
class TableRow:
    line: int
    fields: dict[str, str]


def read_table(path: pathlib.Path, columns: Mapping[str, Sequence[str]],
               required: Sequence[str], what: str) -> list[TableRow]:
    """Read a delimited label table with a header row.

    The delimiter (',', ';' or tab) is sniffed from the header. `columns` maps a logical
    name to accepted header spellings (case-insensitive); the returned rows carry logical
    names only. Missing required columns raise CorpusError listing the header found.
    """
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    lines = text.splitlines()
    if not lines:
        raise CorpusError(f"{what}: label file {path} is empty")
    header = lines[0]
    delimiter = max((",", ";", "\t"), key=header.count)
    reader = csv.reader(lines, delimiter=delimiter)
    names = [h.strip().lower() for h in next(reader)]
    positions: dict[str, int] = {}
    for logical, spellings in columns.items():
        for spelling in spellings:
            if spelling.lower() in names:
                positions[logical] = names.index(spelling.lower())
                break
    missing = [c for c in required if c not in positions]
    if missing:
        wanted = "; ".join(f"{c}: one of {list(columns[c])}" for c in missing)
        raise CorpusError(f"{what}: {path} has columns {names}, missing {wanted}")
    rows = []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        fields = {logical: values[pos].strip() if pos < len(values) else ""
                  for logical, pos in positions.items()}
        rows.append(TableRow(number, fields))
    return rows


def read_whitespace_table(path: pathlib.Path, min_fields: int, what: str) -> list[TableRow]:
    """Read a header-less, whitespace-separated table ('Ohm_01_001_00 A 1.0000').

    Blank lines and '#' comments are skipped; short lines raise CorpusError with the
    line number. Fields are returned under the keys '0', '1', ...
    """
    rows = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) < min_fields:
                raise CorpusError(
                    f"{what}: {path} line {number}: expected at least {min_fields} "
                    f"whitespace-separated fields, got {line!r}")
            rows.append(TableRow(number, {str(i): p for i, p in enumerate(parts)}))
    return rows


# ---------------------------------------------------------------------------- codes

@dataclasses.dataclass
class Candidate:
    """An utterance found by a scanner, before its code is validated."""
    record: dict
    code: str | None          # the raw corpus code, looked up in the code table
    problem: str | None = None  # set when the item is malformed (e.g. unparsable name)


class CodeTable:
    """Map raw corpus codes to (label, emotion), with excluded and unknown accounting.

    `classes` maps a code to (label, emotion adjective or None). `excluded` maps codes
    that the published class selection deliberately leaves out (IEMOCAP 'fru', RAVDESS
    song files, ...) to a reason; those are always dropped and counted. Any other code is
    unknown: all unknown codes are listed in one CorpusError, or with the drop_unknown
    option they are dropped and counted too.
    """

    def __init__(self, corpus: str, classes: Mapping[str, tuple[str, str | None]],
                 excluded: Mapping[str, str] | None = None, case_sensitive: bool = False):
        self.corpus = corpus
        self.case_sensitive = case_sensitive
        self.classes = {self._key(k): v for k, v in classes.items()}
        self.excluded = {self._key(k): v for k, v in (excluded or {}).items()}

    def _key(self, code: str) -> str:
        return code if self.case_sensitive else code.strip().lower()

    def resolve(self, candidates: Iterable[Candidate], options: Mapping,
                where: pathlib.Path | str | None = None) -> list[dict]:
        """Validate every candidate, then return the kept records with label/emotion set.

        With `where` (the folder or label file scanned), finding no item at all raises
        CorpusError naming it: an empty corpus is almost always a wrong --data-dir.
        """
        kept: list[dict] = []
        seen = 0
        dropped: collections.Counter = collections.Counter()
        unknown: collections.Counter = collections.Counter()
        malformed: dict[str, list[str]] = collections.defaultdict(list)
        for cand in candidates:
            seen += 1
            if cand.problem is not None:
                malformed[cand.problem].append(cand.record["id"])
                continue
            key = self._key(cand.code or "")
            if key in self.classes:
                label, emotion = self.classes[key]
                cand.record["label"] = label
                cand.record["emotion"] = emotion
                kept.append(cand.record)
            elif key in self.excluded:
                dropped[self.excluded[key]] += 1
            else:
                unknown[cand.code] += 1
        if seen == 0 and where is not None:
            raise CorpusError(f"{self.corpus}: no items found in {where}; "
                              "is --data-dir the corpus root?")
        for problem, ids in malformed.items():
            unknown[f"{problem}, e.g. {ids[0]}"] = len(ids)
        what = "label code" + (" or file name" if malformed else "")
        excluded = f"; excluded by design: {sorted(self.excluded)}" if self.excluded else ""
        reject_unknown(options, f"{self.corpus} {what}", unknown, where or self.corpus,
                       hint=f"Known codes: {sorted(self.classes)}{excluded}.")
        for reason, n in sorted(dropped.items()):
            count_drop(options, reason, n)
        return kept

    def records(self, candidates: Iterable[Candidate], options: Mapping,
                where: pathlib.Path | str | None = None) -> Iterator[dict]:
        """resolve(), then yield the records with duplicate ids dropped and counted."""
        yield from unique_ids(self.resolve(candidates, options, where), options)


def check_splits(records: list[dict], corpus: str, options: Mapping,
                 known: Iterable[str], where: object = None) -> list[dict]:
    """Records whose split is None carry an unknown partition name in '_raw_split':
    refuse them in one CorpusError listing the names (and the `known` ones), or drop and
    count them with drop_unknown."""
    bad: collections.Counter = collections.Counter()
    kept = []
    for record in records:
        raw = record.pop("_raw_split", None)
        if record.get("split") is None:
            bad[raw] += 1
        else:
            kept.append(record)
    reject_unknown(options, f"{corpus} split name", bad, where or corpus,
                   hint=f"Known: {sorted(known)}.")
    return kept


def unique_ids(records: Iterable[dict], options: Mapping) -> Iterator[dict]:
    """Yield records, dropping (and counting) later duplicates of an id, e.g. the nested
    second copy some TESS downloads contain."""
    seen: set[str] = set()
    duplicates: list[str] = []
    for record in records:
        if record["id"] in seen:
            duplicates.append(record["id"])
            continue
        seen.add(record["id"])
        yield record
    if duplicates:
        count_drop(options, "duplicate id (a second copy of the same file name)",
                   len(duplicates))


def base_record(rid: str, audio: pathlib.Path | str, split: str | None = "all",
                speaker: str | None = None, gender: str | None = None) -> dict:
    """A Record with every contract key present (label/emotion/A-V-D filled in later)."""
    return {"id": rid, "audio": str(audio), "split": split, "speaker": speaker,
            "gender": gender, "label": None, "emotion": None,
            "arousal": None, "valence": None, "dominance": None}


# ---------------------------------------------------------------------------- label tables

LABEL_TABLE_COLUMNS = {
    "file": ("file", "filename", "file_name", "name", "id"),
    "speaker": ("speaker", "speaker_id", "spk", "spkid"),
    "split": ("split", "partition", "set"),
    "gender": ("gender", "sex"),
}
_GENDERS = {"m": "male", "male": "male", "f": "female", "female": "female"}


def label_table_records(
    data_dir: pathlib.Path | None, options: Mapping, *, corpus: str, codes: CodeTable,
    tables: Sequence[str], label_columns: Sequence[str],
    audio_for: Callable[[pathlib.Path, str, str], pathlib.Path],
) -> Iterator[dict]:
    """Records from a challenge label table (ComParE-style CSV: file, class[, ...]).

    `tables` are the default table locations (relative to data_dir; the `labels_file=`
    option overrides them), `label_columns` the accepted spellings of the class column.
    Optional columns: speaker, split (partition), gender. Without a split column the
    partition is read from the file-name prefix ('TE_0001' -> test, 'devel_0001.wav' ->
    validation); names without a known prefix get 'all'. `audio_for(data_dir, id, split)`
    gives the published audio location; other locations with the same file name under
    data_dir are found through AudioIndex, and files missing everywhere are still yielded
    (the builder reports them).
    """
    data_dir = require_dir(data_dir, corpus)
    label_file = find_file(data_dir, tables, corpus, override=options.get("labels_file"))
    columns = {**LABEL_TABLE_COLUMNS, "label": tuple(label_columns)}
    rows = read_table(label_file, columns, ["file", "label"], corpus)
    index = AudioIndex(data_dir)

    def candidates() -> Iterator[Candidate]:
        for row in rows:
            name = pathlib.PurePath(row.fields["file"].replace("\\", "/")).name
            rid = name.rsplit(".", 1)[0] if name.lower().endswith(AUDIO_EXTENSIONS) else name
            if "split" in row.fields:
                raw = row.fields["split"]
                split = normalise_split(raw)
            else:
                raw = rid.split("_")[0] if "_" in rid else ""
                split = normalise_split(raw) or "all"
            rec = base_record(rid, "", split=split,
                              speaker=row.fields.get("speaker") or None,
                              gender=_GENDERS.get(row.fields.get("gender", "").lower()))
            rec["audio"] = str(index.resolve(audio_for(data_dir, rid, split or "all")))
            rec["_raw_split"] = raw
            yield Candidate(rec, row.fields["label"])

    records = codes.resolve(candidates(), options, where=label_file)
    yield from unique_ids(
        check_splits(records, corpus, options, KNOWN_SPLITS, label_file), options)


def report_inventory(options: Mapping | None, files_total: int, ignored: Sequence[dict],
                     warnings: Sequence[dict] = (), split_assignment: dict | None = None) -> None:
    """For scanners that walk their whole folder: every file, the ones that are no row (with
    their reasons), warnings and the split assignment, into the build report."""
    report = (options or {}).get("report")
    if report is not None and hasattr(report, "set_inventory"):
        report.set_inventory(files_total, ignored, warnings, split_assignment)
