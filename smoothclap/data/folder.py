"""Generic folder-per-label corpus: any emotion (or other class) set laid out as

    <root>/<label>/*.wav|flac|ogg|mp3|...              (split 'all'), or
    <root>/<split>/<label>/...                         when every top folder is a split
                                                       name (train, validation/valid/dev,
                                                       test, test1, ...)

Files may sit in subfolders of a label folder. Labels = the sorted label-folder names (a
folder without readable audio is not a label; ``label_map`` renames or merges folders);
query texts = the `template` option with the label (default "this person is feeling {}.").

Nothing is dropped unseen: every file under the root is a row (built or skipped by the
builder with its reason) or *ignored* with its reason (hidden, not audio, a format the
installed libsndfile cannot read, with the conversion command, outside a label folder, not
listed in the split file, ...), in ``build_report.json`` (checked: files = built + skipped +
ignored). Label folders that differ only in case or spacing (``Angry``/``angry``,
``very happy``/``very_happy``) are an error naming both, unless ``label_map`` maps them.

Options: `template` (str with one '{}'), `speaker_regex` (matched with re.search against the
file name without extension; the group named `speaker`, else group 1, else the whole match
is the speaker id; a file it misses keeps speaker None and is listed in a warning),
`label_map`, and the split options (a flat layout only): `split=speaker:80/10/10`
(speaker-disjoint, seeded by `split_seed`, stratified by label; see split_options.py and splitting.py; files
without a speaker are an error unless `no_speaker=ignore`) or `split_file=PATH`
(EmoBox-style clip-id lists, `split_fold` picks a fold). Gender is None. The emotion
adjective is derived from the label when it is an emotion word (angry/anger, sad/sadness,
fear, ...), else None.

The class set depends on the data, so `CONFIGS["default"]` is a placeholder (labels None)
and `resolve_config(data_dir, config_name, options)` returns the real configuration;
`corpus_module(data_dir, options)` bundles it with `scan` into an object that
`orchestrate.build` accepts in place of a corpus name.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import pathlib
import re
import types
from typing import Iterator

from . import scanning, split_options
from .corpus import CorpusConfig, CorpusError

NAME = "folder"

OPTIONS = {
    "template": "query text per label, with one '{}' (default: \"this person is feeling {}.\")",
    "speaker_regex": "regex on the file name (no extension); group 'speaker', else group 1, else the match",
    "label_map": "JSON object (or a .json file) folder name -> label, e.g. {\"Angry\": \"angry\"}: merges or "
                 "renames label folders",
    **split_options.OPTIONS,  # split, split_seed, split_file, split_fold: shared with TESS, CREMA-D, RAVDESS
    "split": split_options.OPTIONS["split"] + " (needs speaker_regex; flat layout only)",
    "no_speaker": "with split=speaker, files whose speaker_regex finds no speaker: error (default) or ignore",
}
DEFAULT_TEMPLATE = "this person is feeling {}."

_DESCRIPTION = ("Folder-per-label corpus: <root>/<label>/<audio files>, optionally under "
                "<root>/<split>/; labels are the sorted label-folder names.")

CONFIGS = {
    "default": CorpusConfig(
        labels=None,  # data-dependent: see resolve_config()
        query_texts=None,
        description=_DESCRIPTION,
        license="the licence of the user's own data",
        needs_data_dir=True,
    ),
}

_HIDDEN = "hidden file or folder"
_OUTSIDE = "outside a label folder (clips go in <root>/<label>/ or <root>/<split>/<label>/)"


@dataclasses.dataclass
class Survey:
    """Everything under the root: the clips (future rows) and the ignored files, with reasons."""
    total: int
    clips: list[dict]       # id, path (relative, with extension), split, folder, label, speaker
    ignored: list[dict]     # path, reason
    warnings: list[dict]    # message, files
    split_assignment: dict | None = None

    @property
    def labels(self) -> list[str]:
        return sorted({clip["label"] for clip in self.clips})


# ---------------------------------------------------------------------------- layout
def _top_splits(root: pathlib.Path) -> dict[str, str]:
    """{top folder: split} when every visible top folder is a split name, else {}."""
    tops = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    splits = {name: scanning.normalise_split(name) for name in tops}
    if not tops or not all(splits.values()):
        return {}
    if len(set(splits.values())) != len(splits):
        raise CorpusError(f"{NAME}: split folders {sorted(splits)} in {root} name the same split twice")
    return splits


def _classify(rel: str, root: pathlib.Path, top_splits: dict, readable: tuple) -> tuple[dict | None, str | None]:
    """(clip, None) for a readable audio file in a label folder, else (None, why it is ignored)."""
    if scanning.is_hidden(rel):
        return None, _HIDDEN
    parts = rel.split("/")
    ext = pathlib.PurePosixPath(rel).suffix.lower()
    if ext not in readable:
        if ext in scanning.UNREADABLE_AUDIO_EXTENSIONS or ext in scanning.FORMAT_OF_EXTENSION:
            return None, scanning.unreadable_reason(rel)
        if not (root / rel).is_file():
            return None, "not a regular file (a broken link?)"
        return None, f"not an audio file (extension {ext or 'none'}; read here: {', '.join(readable)})"
    if top_splits:
        if len(parts) < 3:
            return None, _OUTSIDE
        split, folder_parts = scanning.normalise_split(parts[0]), parts[:2]
    else:
        if len(parts) < 2:
            return None, _OUTSIDE
        split, folder_parts = "all", parts[:1]
    clip = {"id": rel.rsplit(".", 1)[0], "path": rel, "split": split, "folder": folder_parts[-1],
            "folder_path": "/".join(folder_parts) + "/"}
    return clip, None


def survey(data_dir: pathlib.Path | None, options: dict | None = None) -> Survey:
    """Walk the whole root once: clips with labels, speakers and splits; ignored files; warnings.

    Raises CorpusError (before any audio is read) for label folders that collide, a bad
    label_map, bad split options, or files without a speaker under split=speaker."""
    options = dict(options or {})
    root = scanning.require_dir(data_dir, NAME)
    top_splits = _top_splits(root)
    readable = scanning.readable_extensions()
    files = scanning.walk_files(root)
    clips, ignored = [], []
    for rel in files:
        clip, reason = _classify(rel, root, top_splits, readable)
        if clip is None:
            ignored.append({"path": rel, "reason": reason})
        else:
            clips.append(clip)
    if not clips:
        raise CorpusError(f"{NAME}: no label folders with audio ({', '.join(readable)}) in {data_dir}; "
                          "expected <root>/<label>/*.wav" + _unreadable_hint(ignored))
    warnings = _format_warnings(ignored)
    _set_labels(clips, options.get("label_map"), root)
    warnings += _set_speakers(clips, options.get("speaker_regex"))
    warnings += _unique_ids(clips)
    result = Survey(len(files), clips, ignored, warnings)
    _assign_splits(result, options, root, bool(top_splits))
    return result


def _unreadable_hint(ignored: list[dict]) -> str:
    formats = [row for row in ignored if row["reason"].startswith("audio format")]
    return f" ({len(formats)} files in formats that cannot be read here: {formats[0]['reason']})" if formats else ""


def _format_warnings(ignored: list[dict]) -> list[dict]:
    """One warning per unreadable audio format, with the fix and every file."""
    by_ext: dict[str, list[dict]] = collections.defaultdict(list)
    for row in ignored:
        if row["reason"].startswith("audio format"):
            by_ext[pathlib.PurePosixPath(row["path"]).suffix.lower()].append(row)
    return [{"message": f"{len(rows)} {ext} files were not read: {rows[0]['reason']}",
             "files": [r["path"] for r in rows]} for ext, rows in sorted(by_ext.items())]


# ---------------------------------------------------------------------------- labels
def _label_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


def _parse_label_map(value, root: pathlib.Path) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        path = pathlib.Path(value).expanduser()
        path = path if path.is_absolute() or path.is_file() else root / path
        try:
            value = json.loads(path.read_text(encoding="utf-8") if path.is_file() else value)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{NAME}: label_map {str(value)!r} is neither a JSON object nor a JSON file "
                              f"({err.msg}); e.g. --option label_map='{{\"Angry\": \"angry\"}}'") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                              for k, v in value.items()):
        raise CorpusError(f"{NAME}: label_map must map folder names to labels (strings), e.g. "
                          f"{{\"Angry\": \"angry\"}}; got {value!r}")
    return {k: v.strip() for k, v in value.items()}


def _set_labels(clips: list[dict], label_map, root: pathlib.Path) -> None:
    """Label of every clip: its folder name through label_map; folders whose labels differ only
    in case or spacing are an error naming them (they would become two classes)."""
    mapping = _parse_label_map(label_map, root)
    folders = {clip["folder"] for clip in clips}
    unknown = sorted(set(mapping) - folders)
    if unknown:
        raise CorpusError(f"{NAME}: label_map names {unknown}, which are not label folders; the label "
                          f"folders are {sorted(folders)}")
    paths: dict[str, set] = collections.defaultdict(set)  # label -> folder paths
    for clip in clips:
        clip["label"] = mapping.get(clip["folder"], clip["folder"])
        paths[clip["label"]].add(clip["folder_path"])
    by_key: dict[str, list[str]] = collections.defaultdict(list)
    for label in sorted(paths):
        by_key[_label_key(label)].append(label)
    clashes = [labels for labels in by_key.values() if len(labels) > 1]
    if clashes:
        named = "; ".join(" and ".join(repr(p) for label in labels for p in sorted(paths[label]))
                          for labels in clashes)
        example = json.dumps({label: clashes[0][-1] for label in clashes[0][:-1]})
        raise CorpusError(f"{NAME}: label folders {named} differ only in case or spacing and would be "
                          f"separate classes; rename them to one name, or map them: --option label_map='{example}'")


# ---------------------------------------------------------------------------- speakers and ids
def _speaker_getter(pattern: str | None):
    if not pattern:
        return lambda stem: None
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise CorpusError(
            f"{NAME}: speaker_regex {pattern!r} is not a valid regex ({err})") from None

    def speaker(stem: str) -> str | None:
        match = regex.search(stem)
        if match is None:
            return None
        if "speaker" in regex.groupindex:
            return match["speaker"]
        return match[1] if regex.groups else match[0]
    return speaker


def _set_speakers(clips: list[dict], pattern: str | None) -> list[dict]:
    """Speaker of every clip; a warning listing the files the pattern misses."""
    speaker_of = _speaker_getter(pattern)
    missed = []
    for clip in clips:
        clip["speaker"] = speaker_of(pathlib.PurePosixPath(clip["path"]).stem) or None
        if pattern and clip["speaker"] is None:
            missed.append(clip["path"])
    if not missed:
        return []
    return [{"message": f"speaker_regex {pattern!r} found no speaker in {len(missed)} of {len(clips)} files: "
                        "their speaker is empty (fix the pattern or rename the files)", "files": missed}]


def _unique_ids(clips: list[dict]) -> list[dict]:
    """Ids are paths without extension; two formats of one name ('a.wav', 'a.mp3') keep theirs."""
    counts = collections.Counter(clip["id"] for clip in clips)
    twins = [clip for clip in clips if counts[clip["id"]] > 1]
    for clip in twins:
        clip["id"] = clip["path"]
    if not twins:
        return []
    return [{"message": f"{len(twins)} files share a name with another format of the same name; both are "
                        "built, their ids keep the extension (delete one if they are the same recording)",
             "files": [c["path"] for c in twins]}]


# ---------------------------------------------------------------------------- splits
def _assign_splits(result: Survey, options: dict, root: pathlib.Path, has_split_folders: bool) -> None:
    """The split options (split_options.py, shared with the named corpora), plus what is the
    folder's own: a layout with split folders has its splits, and speakers come from speaker_regex."""
    split_options.check_split_options(options, NAME)
    if not split_options.wanted(options):
        return
    if has_split_folders:
        raise CorpusError(f"{NAME}: {root} already has split folders ({', '.join(sorted(_top_splits(root)))}); "
                          "--option split/split_file applies to a flat <root>/<label>/ layout")
    if options.get("split"):
        _speaker_split(result, options)
    else:
        split_options.apply_split_options(result, options, root, NAME)


def _speaker_split(result: Survey, options: dict) -> None:
    if not options.get("speaker_regex"):
        raise CorpusError(f"{NAME}: split={options['split']} needs speaker ids: pass --option "
                          "speaker_regex=... (e.g. '^(s\\d+)_' for s01_take1.wav)")
    policy = options.get("no_speaker") or "error"
    if policy not in ("error", "ignore"):
        raise CorpusError(f"{NAME}: no_speaker must be 'error' or 'ignore', got {policy!r}")
    nameless = [clip for clip in result.clips if clip["speaker"] is None]
    if nameless and policy == "error":
        shown = ", ".join(c["path"] for c in nameless[:5]) + (", ..." if len(nameless) > 5 else "")
        raise CorpusError(f"{NAME}: split=speaker puts whole speakers in one split, but speaker_regex "
                          f"{options['speaker_regex']!r} finds no speaker in {len(nameless)} files ({shown}); fix "
                          "the pattern or the names, or leave those files out with --option no_speaker=ignore")
    for clip in nameless:
        result.ignored.append({"path": clip["path"], "reason": "no speaker id (speaker_regex found none), "
                               "so split=speaker cannot place it (no_speaker=ignore)"})
    result.clips = [clip for clip in result.clips if clip["speaker"] is not None]
    description = split_options.speaker_assign(result, options, NAME)
    description["no_speaker"] = {"policy": policy, "files": len(nameless)}


# ---------------------------------------------------------------------------- corpus module
def labels_of(data_dir: pathlib.Path | None, options: dict | None = None) -> list[str]:
    """Sorted labels (label-folder names through label_map, union over splits)."""
    return survey(data_dir, options).labels


def _query_text(template: str, label: str) -> str:
    if template.count("{}") != 1:  # "nobraces".format(label) is "nobraces": every label the same text
        raise CorpusError(f"{NAME}: --option template={template!r} must contain '{{}}' exactly once, where the "
                          "label goes (e.g. template='this person is feeling {}.').")
    try:
        return template.format(label.replace("_", " "))
    except (IndexError, KeyError, ValueError) as err:
        raise CorpusError(
            f"{NAME}: template {template!r} must contain one '{{}}' ({err})") from None


def resolve_config(data_dir: pathlib.Path | None, config_name: str = "default",
                   options: dict | None = None) -> CorpusConfig:
    """The configuration for the corpus at data_dir: labels and query texts."""
    template = (options or {}).get("template") or DEFAULT_TEMPLATE
    labels = labels_of(data_dir, options)
    return CorpusConfig(labels=labels, query_texts=[_query_text(template, l) for l in labels],
                        description=_DESCRIPTION, license=CONFIGS["default"].license,
                        needs_data_dir=True)


def corpus_module(data_dir: pathlib.Path | str, options: dict | None = None) -> types.SimpleNamespace:
    """A corpus-module object for `build(corpus_module(d, options), d, out, options=options)`."""
    config = resolve_config(pathlib.Path(data_dir), "default", options)
    return types.SimpleNamespace(NAME=NAME, CONFIGS={"default": config}, OPTIONS=OPTIONS, scan=scan,
                                 resolve_config=resolve_config)


def scan(data_dir: pathlib.Path | None, config_name: str, options: dict) -> Iterator[dict]:
    """Yield one Record per clip; report every other file as ignored, with its reason."""
    found = survey(data_dir, options)
    scanning.report_inventory(options, found.total, found.ignored, found.warnings, found.split_assignment)
    root = pathlib.Path(data_dir).expanduser()
    for clip in sorted(found.clips, key=lambda c: c["path"]):
        rec = scanning.base_record(clip["id"], root / clip["path"], split=clip["split"], speaker=clip["speaker"])
        rec["label"] = clip["label"]
        rec["emotion"] = scanning.emotion_adjective(clip["label"])
        yield rec
