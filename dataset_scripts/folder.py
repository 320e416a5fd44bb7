"""Generic folder-per-label corpus: any emotion (or other class) set laid out as

    <root>/<label>/*.wav|flac|ogg                      (split 'all'), or
    <root>/<split>/<label>/*.wav|flac|ogg              when every top folder is a split
                                                       name (train, validation/valid/dev,
                                                       test, test1, ...)

Files may sit in subfolders of a label folder. Labels = the sorted label-folder names (a
folder without audio is not a label); query texts = the `template` option with the label
(default "this person is feeling {}."). Audio files outside a label folder are dropped and
counted.

Options: `template` (str with one '{}'), `speaker_regex` (matched with re.search against the
file name without extension; the group named `speaker`, else group 1, else the whole match
is the speaker id; no match -> None). Gender is None. The emotion adjective is derived from
the label when it is an emotion word (angry/anger, sad/sadness, fear, ...), else None.

The class set depends on the data, so `CONFIGS["default"]` is a placeholder (labels None)
and `resolve_config(data_dir, config_name, options)` returns the real configuration;
`corpus_module(data_dir, options)` bundles it with `scan` into an object that
`orchestrate.build` accepts in place of a corpus name.
"""

from __future__ import annotations

import pathlib
import re
import types
from typing import Iterator

from . import scanning
from .corpus import CorpusConfig, CorpusError, count_drop

NAME = "folder"

OPTIONS = {
    "template": "query text per label, with one '{}' (default: \"this person is feeling {}.\")",
    "speaker_regex": "regex on the file name (no extension); group 'speaker', else group 1, else the match",
}
DEFAULT_TEMPLATE = "this person is feeling {}."

_DESCRIPTION = ("Folder-per-label corpus: <root>/<label>/*.wav|flac|ogg, optionally under "
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


def _dirs(path: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _layout_of(data_dir: pathlib.Path | None) -> tuple[pathlib.Path, dict[str, pathlib.Path]]:
    """(root, {split: folder holding the label folders})."""
    root = scanning.require_dir(data_dir, NAME)
    tops = _dirs(root)
    splits = {d.name: scanning.normalise_split(d.name) for d in tops}
    if tops and all(splits.values()):
        normalised = list(splits.values())
        if len(set(normalised)) != len(normalised):
            raise CorpusError(f"{NAME}: split folders {sorted(splits)} in {root} name the same "
                              "split twice")
        return root, {splits[d.name]: d for d in tops}
    return root, {"all": root}


def _label_dirs(split_dir: pathlib.Path) -> list[pathlib.Path]:
    return [d for d in _dirs(split_dir) if scanning.audio_files(d)]


def labels_of(data_dir: pathlib.Path | None) -> list[str]:
    """Sorted label-folder names (union over splits)."""
    _, split_dirs = _layout_of(data_dir)
    labels = sorted({d.name for s in split_dirs.values() for d in _label_dirs(s)})
    if not labels:
        raise CorpusError(f"{NAME}: no label folders with audio (.wav/.flac/.ogg) in "
                          f"{data_dir}; expected <root>/<label>/*.wav")
    return labels


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
    labels = labels_of(data_dir)
    return CorpusConfig(labels=labels, query_texts=[_query_text(template, l) for l in labels],
                        description=_DESCRIPTION, license=CONFIGS["default"].license,
                        needs_data_dir=True)


def corpus_module(data_dir: pathlib.Path | str, options: dict | None = None) -> types.SimpleNamespace:
    """A corpus-module object for `build(corpus_module(d, options), d, out, options=options)`."""
    config = resolve_config(pathlib.Path(data_dir), "default", options)
    return types.SimpleNamespace(NAME=NAME, CONFIGS={"default": config}, OPTIONS=OPTIONS, scan=scan,
                                 resolve_config=resolve_config)


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


def scan(data_dir: pathlib.Path | None, config_name: str, options: dict) -> Iterator[dict]:
    """Yield one Record per audio file in a label folder."""
    root, split_dirs = _layout_of(data_dir)
    speaker_of = _speaker_getter(options.get("speaker_regex"))
    # Audio directly under the root of a split layout belongs to no split and no label.
    outside = 0 if "all" in split_dirs else len(scanning.audio_files(root, recursive=False))
    for split, split_dir in split_dirs.items():
        label_dirs = _label_dirs(split_dir)
        inside = {p for d in label_dirs for p in scanning.audio_files(d)}
        outside += sum(1 for p in scanning.audio_files(split_dir) if p not in inside)
        for label_dir in label_dirs:
            for path in scanning.audio_files(label_dir):
                rid = path.relative_to(root).with_suffix("").as_posix()
                rec = scanning.base_record(rid, path, split=split, speaker=speaker_of(path.stem))
                rec["label"] = label_dir.name
                rec["emotion"] = scanning.emotion_adjective(label_dir.name)
                yield rec
    if outside:
        count_drop(options, "audio file outside a label folder", outside)
