"""The split options of a corpus without official splits, one implementation for all of them:
the folder corpus and the named corpora that put every clip in the split 'all' (TESS,
CREMA-D, RAVDESS).

``split=speaker:80/10/10`` (speaker-disjoint, seeded by ``split_seed``, stratified by label)
or ``split_file=PATH`` (EmoBox-style clip-id lists; ``split_fold`` picks a fold). The
algorithms are in ``splitting.py``; this module checks the options, applies them to a
*survey* (any object with ``clips``, ``ignored``, ``warnings`` and ``split_assignment``, e.g.
``folder.Survey``) and, for a scanner that yields records, turns its records into such a
survey and back (``split_records``).

The options are part of the builder's cache key (``SmoothClapBuilder.fingerprint`` hashes
the options and every option value that names a file), so a changed split rebuilds.
"""

from __future__ import annotations

import collections
import hashlib
import os
import pathlib
import types
from collections.abc import Iterable, Iterator, Mapping

from . import splitting
from .corpus import CorpusError, count_drop

__all__ = ["OPTIONS", "apply_split_options", "check_split_options", "speaker_assign", "split_records"]

# option key -> help text, for a corpus module's OPTIONS (the folder corpus adds its own notes)
OPTIONS = {
    "split": "speaker:80/10/10 (train/validation/test shares; speaker:80/20 for train/test; a share may be 0): "
             "speaker-disjoint splits, stratified by label",
    "split_seed": "seed of split=speaker (default 0): the same seed and speakers give the same split",
    "split_file": "JSON/JSONL file(s) listing clip ids per split (EmoBox-style), relative to --data-dir or "
                  "absolute; unlisted clips are left out and reported",
    "split_fold": "the fold to use when split_file holds several ({fold: {split: [ids]}})",
}


def wanted(options: Mapping) -> bool:
    """True when the options ask for a split (split= or split_file=)."""
    return bool(options.get("split") or options.get("split_file"))


def check_split_options(options: Mapping, corpus: str) -> None:
    """The checks that need no data: options that only apply with another, both ways at once,
    the share syntax and the seed's type. Raises CorpusError."""
    for key, needs in (("split_seed", "split"), ("no_speaker", "split"), ("split_fold", "split_file")):
        if options.get(key) is not None and not options.get(needs):
            raise CorpusError(f"{corpus}: --option {key} only applies with --option {needs}=...")
    if options.get("split") and options.get("split_file"):
        raise CorpusError(f"{corpus}: give either --option split=... or --option split_file=..., not both")
    if options.get("split"):
        splitting.parse_split_spec(options["split"])
        _seed(options, corpus)


def _seed(options: Mapping, corpus: str) -> int:
    seed = options.get("split_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CorpusError(f"{corpus}: split_seed must be an integer, got {seed!r}")
    return seed


def apply_split_options(survey, options: Mapping, root: pathlib.Path, corpus: str) -> None:
    """Assign every clip of ``survey`` a split as the options ask (nothing without them)."""
    check_split_options(options, corpus)
    if options.get("split"):
        speaker_assign(survey, options, corpus)
    elif options.get("split_file"):
        _file_split(survey, options["split_file"], options.get("split_fold"), root, corpus)


def speaker_assign(survey, options: Mapping, corpus: str) -> dict:
    """split=speaker over the survey's clips (each must have a speaker); returns the
    description, which is also ``survey.split_assignment``."""
    shares = splitting.parse_split_spec(options["split"])
    try:
        assignment, description = splitting.speaker_split(survey.clips, shares, _seed(options, corpus))
    except CorpusError as err:
        raise CorpusError(f"{corpus}: {err}") from None
    _apply(survey, assignment, description)
    note = splitting.shares_note(description)
    if note:
        survey.warnings.append({"message": note, "files": []})
    return description


def _split_file_paths(value, root: pathlib.Path) -> list[pathlib.Path]:
    values = value if isinstance(value, list) else [value]
    paths = []
    for item in values:
        path = pathlib.Path(str(item)).expanduser()
        paths.append(path if path.is_absolute() or path.is_file() else root / path)
    return paths


def _file_split(survey, value, fold, root: pathlib.Path, corpus: str) -> None:
    lists: dict[str, list] = collections.defaultdict(list)
    digest = hashlib.sha256()
    paths = _split_file_paths(value, root)
    for path in paths:
        for split, ids in splitting.read_split_file(path, fold).items():
            lists[split].extend(ids)
        digest.update(path.read_bytes())
    source = ", ".join(p.name for p in paths)  # names, not local paths: the card is shared
    assignment, description, not_found = splitting.split_file_assignment(
        survey.clips, lists, source, digest.hexdigest()[:16], fold)
    if not assignment:
        example = survey.clips[0]["id"] if survey.clips else "none"
        raise CorpusError(f"{corpus}: no clip id in split_file {source} matches a file under {root} "
                          f"(e.g. {not_found[0] if not_found else 'none listed'}); ids are the clip ids "
                          f"(e.g. {example}), paths relative to the corpus folder, or file names")
    if not_found:
        survey.warnings.append({"message": f"{len(not_found)} ids in split_file {source} match no file under "
                                           "the corpus folder", "files": not_found})
    unlisted = [clip for clip in survey.clips if clip["id"] not in assignment]
    for clip in unlisted:
        survey.ignored.append({"path": clip["path"], "reason": f"not listed in split_file {source}"})
    if unlisted:
        survey.warnings.append({"message": f"{len(unlisted)} files are not listed in split_file {source} and "
                                           "were left out", "files": [c["path"] for c in unlisted]})
    survey.clips = [clip for clip in survey.clips if clip["id"] in assignment]
    shared = splitting.shared_speakers(description)
    if shared:
        survey.warnings.append({"message": f"split_file {source} is not speaker-disjoint: {len(shared)} speakers "
                                           f"are in more than one split ({', '.join(shared[:5])})", "files": []})
    _apply(survey, assignment, description)


def _apply(survey, assignment: Mapping, description: dict) -> None:
    for clip in survey.clips:
        clip["split"] = assignment[clip["id"]]
    survey.split_assignment = description


# ---------------------------------------------------------------------------- record scanners
def split_records(records: Iterable[dict], options: Mapping, root: pathlib.Path, corpus: str) -> Iterator[dict]:
    """For a scanner whose records all have split 'all': the records with the split the
    options ask for (unchanged without split options).

    Clips a split file does not list are dropped and counted in the build report, with a
    warning naming them; the assignment goes into the report (and so into smoothclap.json
    and the dataset card)."""
    check_split_options(options, corpus)
    if not wanted(options):
        yield from records
        return
    records = list(records)
    missing = [r["id"] for r in records if not r.get("speaker")]
    if missing and options.get("split"):  # the named corpora read speakers from file names: a bug if none
        raise CorpusError(f"{corpus}: split=speaker needs a speaker for every clip; {len(missing)} have none "
                          f"(e.g. {missing[0]})")
    survey = types.SimpleNamespace(clips=[_clip(r, root) for r in records], ignored=[], warnings=[],
                                   split_assignment=None)
    apply_split_options(survey, options, root, corpus)
    for reason, n in collections.Counter(row["reason"] for row in survey.ignored).items():
        count_drop(options, reason, n)
    report = options.get("report")
    if report is not None and hasattr(report, "set_split_assignment"):
        report.set_split_assignment(survey.split_assignment, survey.warnings)
    split_of = {clip["id"]: clip["split"] for clip in survey.clips}
    for record in records:
        if record["id"] in split_of:
            yield dict(record, split=split_of[record["id"]])


def _clip(record: Mapping, root: pathlib.Path) -> dict:
    """What splitting.py needs of a record; ``path`` relative to the corpus folder, so split
    files can name clips by path as well as by id or file name."""
    audio = record["audio"]
    path = pathlib.Path(os.path.relpath(audio, root)).as_posix() if isinstance(audio, (str, os.PathLike)) \
        else f"{record['id']}"
    return {"id": record["id"], "path": path, "speaker": record.get("speaker"), "label": record.get("label")}
