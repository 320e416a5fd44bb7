"""Splits for a corpus without official ones: speaker-disjoint, seeded, stratified by label
(``split=speaker:80/10/10``), or read from a split file (EmoBox-style lists of clip ids).

Both work on *clips*: small dicts with ``id`` (the record id, e.g. ``angry/s01_a``),
``path`` (relative to the corpus folder, with extension), ``speaker`` and ``label``. They
return ``{id: split}`` plus a description for the build report, smoothclap.json and the
dataset card. Neither depends on the order the files were found in: speakers are ordered by
a seeded hash of their id, and a split file is matched by id.

Speaker split. Each speaker goes wholly to one split. Speakers are taken in the order of
sha256(f"{seed}:{speaker}"); first every split with a non-zero share gets one speaker (the
smallest shares first), then each further speaker goes to the split where adding its clips
brings the per-label clip counts closest to the asked shares (least squares over labels:
the stratification). Few speakers cannot meet the shares exactly: the achieved counts are
recorded, and a note says when they are far off. A corpus with fewer speakers than non-zero
shares is an error.
"""

from __future__ import annotations

import collections
import hashlib
import json
import pathlib
import re
from collections.abc import Mapping, Sequence

from .corpus import CorpusError, normalise_split, split_sort_key

__all__ = ["SPLIT_NAMES", "parse_split_spec", "read_split_file", "speaker_split", "split_file_assignment"]

SPLIT_NAMES = ("train", "validation", "test")
# keys of a split-file entry that may hold the clip id, in the order tried (EmoBox: key, wav)
_ID_KEYS = ("id", "key", "file", "filename", "wav", "path", "audio")
_SPEC_HELP = ("split must look like speaker:80/10/10 (train/validation/test shares, in percent or any "
              "proportions; a share may be 0) or speaker:80/20 (train/test)")


def parse_split_spec(spec) -> dict[str, float]:
    """'speaker:80/10/10' -> {'train': .8, 'validation': .1, 'test': .1} (zero shares dropped)."""
    text = str(spec).strip()
    method, _, shares = text.partition(":")
    if method.strip().lower() != "speaker" or not shares:
        raise CorpusError(f"--option split={text!r}: {_SPEC_HELP}.")
    try:
        values = [float(x) for x in shares.split("/")]
    except ValueError:
        raise CorpusError(f"--option split={text!r}: {_SPEC_HELP}.") from None
    if len(values) not in (2, 3) or any(v < 0 for v in values) or sum(values) <= 0:
        raise CorpusError(f"--option split={text!r}: {_SPEC_HELP}.")
    names = SPLIT_NAMES if len(values) == 3 else ("train", "test")
    total = sum(values)
    return {name: v / total for name, v in zip(names, values) if v > 0}


def _speaker_order(speakers, seed) -> list[str]:
    return sorted(speakers, key=lambda s: (hashlib.sha256(f"{seed}:{s}".encode()).hexdigest(), s))


def speaker_split(clips: Sequence[Mapping], shares: Mapping[str, float], seed=0) -> tuple[dict[str, str], dict]:
    """Speaker-disjoint assignment of every clip (each must have a speaker): ({id: split}, description)."""
    per_speaker: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for clip in clips:
        per_speaker[clip["speaker"]][clip["label"]] += 1
    splits = sorted(shares, key=split_sort_key)
    if len(per_speaker) < len(splits):
        raise CorpusError(
            f"split=speaker needs at least {len(splits)} speakers for the splits {splits}, found "
            f"{len(per_speaker)} ({', '.join(sorted(per_speaker))}); ask for fewer splits (e.g. "
            "split=speaker:80/0/20), or give the splits yourself with split_file=PATH.")
    totals = collections.Counter()
    for counts in per_speaker.values():
        totals.update(counts)
    target = {s: {label: shares[s] * n for label, n in totals.items()} for s in splits}
    current = {s: collections.Counter() for s in splits}
    chosen: dict[str, str] = {}
    order = _speaker_order(per_speaker, seed)
    # one speaker for each split first, smallest share first (a 10 % test split is not left empty)
    for split, speaker in zip(sorted(splits, key=lambda s: (shares[s], split_sort_key(s))), order):
        chosen[speaker] = split
        current[split].update(per_speaker[speaker])
    for speaker in order[len(splits):]:
        counts = per_speaker[speaker]

        def cost(split: str) -> tuple:
            # increase of the squared distance to the target counts; then the emptier split
            cur, tgt = current[split], target[split]
            grow = sum((cur[l] + n - tgt[l]) ** 2 - (cur[l] - tgt[l]) ** 2 for l, n in counts.items())
            deficit = sum(tgt.values()) - sum(cur.values())
            return grow, -deficit, split_sort_key(split)

        split = min(splits, key=cost)
        chosen[speaker] = split
        current[split].update(counts)
    assignment = {clip["id"]: chosen[clip["speaker"]] for clip in clips}
    description = {
        "method": "speaker",
        "shares": {s: round(shares[s], 4) for s in splits},
        "seed": seed,
        "stratified_by": "label",
        "speakers": {s: sorted(sp for sp, x in chosen.items() if x == s) for s in splits},
        "clips": _label_counts(clips, assignment, splits),
    }
    return assignment, description


def _label_counts(clips, assignment: Mapping[str, str], splits) -> dict:
    counts = {s: collections.Counter() for s in splits}
    for clip in clips:
        if clip["id"] in assignment:
            counts[assignment[clip["id"]]][clip["label"]] += 1
    return {s: dict(sorted(c.items())) for s, c in counts.items()}


def shares_note(description: Mapping) -> str | None:
    """A note when the achieved clip shares are more than 10 points off the asked ones."""
    clips = {s: sum(c.values()) for s, c in description["clips"].items()}
    total = sum(clips.values()) or 1
    off = {s: clips[s] / total for s in clips if abs(clips[s] / total - description["shares"][s]) > 0.10}
    if not off:
        return None
    achieved = "/".join(f"{round(100 * clips[s] / total)}" for s in clips)
    asked = "/".join(f"{round(100 * description['shares'][s])}" for s in clips)
    return (f"speaker split: with {sum(len(v) for v in description['speakers'].values())} speakers the clip "
            f"shares are {achieved} % ({'/'.join(clips)}), asked {asked} %; whole speakers cannot do better")


# ---------------------------------------------------------------------------- split files
def read_split_file(path: pathlib.Path, fold=None) -> dict[str, list[str]]:
    """{split: [entry id, ...]} from a split file.

    JSON: {split: [ids]}, or {fold: {split: [ids]}} with ``fold``, or a list of objects with
    an id and a "split". JSONL (EmoBox metadata): one object per line with an id key
    (id, key, file, wav, path, audio) and a "split", or no "split" when the file name says it
    (``iemocap_train_fold_1.jsonl``). An id entry may also be an object; every id key it has
    is tried when matching (EmoBox's "key" is prefixed, its "wav" path is not)."""
    if not path.is_file():
        raise CorpusError(f"split_file {path} does not exist")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".jsonl":
        entries = [_json(line, path, n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        return _from_entries(entries, path, _split_of_name(path.name))
    data = _json(text, path, None)
    if isinstance(data, list):
        return _from_entries(data, path, _split_of_name(path.name))
    if not isinstance(data, dict):
        raise CorpusError(f"split_file {path}: expected a JSON object {{split: [clip ids]}} or a list of entries")
    if data and all(isinstance(v, dict) for v in data.values()):  # folds
        if fold is None or str(fold) not in data:
            raise CorpusError(f"split_file {path} holds folds {sorted(data)}: choose one with --option "
                              f"split_fold=NAME" + (f" ({fold!r} is not one of them)" if fold is not None else ""))
        data = data[str(fold)]
    out: dict[str, list] = {}
    for name, ids in data.items():
        if not isinstance(ids, list):
            raise CorpusError(f"split_file {path}: split {name!r} must list clip ids, got {type(ids).__name__}")
        out.setdefault(_split_name(name, path), []).extend(ids)
    return out


def _json(text: str, path: pathlib.Path, line: int | None):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        where = f" line {line}" if line else ""
        raise CorpusError(f"split_file {path}{where} is not valid JSON ({err.msg})") from None


def _split_name(name, path) -> str:
    split = normalise_split(name)
    if split is None or split == "all":
        raise CorpusError(f"split_file {path}: unknown split name {name!r} (use train, validation/dev or test)")
    return split


def _split_of_name(file_name: str) -> str | None:
    for token in re.split(r"[_\-.\s]+", file_name.lower()):
        split = normalise_split(token)
        if split and split != "all":
            return split
    return None


def _from_entries(entries: list, path: pathlib.Path, default: str | None) -> dict[str, list]:
    out: dict[str, list] = {}
    for entry in entries:
        split = entry.get("split") if isinstance(entry, dict) else None
        if split is None and default is None:
            raise CorpusError(f"split_file {path}: entry {entry!r} has no \"split\" and the file name does not "
                              "say train, dev/validation or test")
        out.setdefault(_split_name(split, path) if split is not None else default, []).append(entry)
    return out


class _Matcher:
    """Find the clip an entry of a split file names: its id ('angry/s01_a'), its path with
    extension, a longer path ending in either ('downloads/corpus/angry/s01_a.wav'), or its
    bare file name when that is unique in the corpus."""

    def __init__(self, clips: Sequence[Mapping]):
        self.by_key: dict[str, str] = {}
        stems: dict[str, list[str]] = collections.defaultdict(list)
        for clip in clips:
            self.by_key[clip["id"]] = clip["id"]
            self.by_key[clip["path"]] = clip["id"]
            stems[pathlib.PurePosixPath(clip["path"]).stem].append(clip["id"])
        self.by_stem = {stem: ids[0] for stem, ids in stems.items() if len(ids) == 1}

    def find(self, entry) -> str | None:
        values = [entry[k] for k in _ID_KEYS if isinstance(entry, dict) and isinstance(entry.get(k), str)]
        for value in values if isinstance(entry, dict) else [str(entry)]:
            parts = value.replace("\\", "/").strip("/").split("/")
            for i in range(len(parts)):  # the whole path, then without its leading folders
                key = "/".join(parts[i:])
                for candidate in (key, key.rsplit(".", 1)[0]):
                    if candidate in self.by_key:
                        return self.by_key[candidate]
            stem = parts[-1].rsplit(".", 1)[0]
            if stem in self.by_stem:
                return self.by_stem[stem]
        return None


def _shown(entry) -> str:
    if isinstance(entry, dict):
        for key in _ID_KEYS:
            if isinstance(entry.get(key), str):
                return entry[key]
    return str(entry)


def split_file_assignment(clips: Sequence[Mapping], lists: Mapping[str, list], source: str,
                          digest: str, fold=None) -> tuple[dict[str, str], dict, list[str]]:
    """({id: split} for the listed clips, description, entries not found in the corpus).

    A clip listed in two splits is an error (it would be trained and tested on)."""
    matcher = _Matcher(clips)
    assignment: dict[str, str] = {}
    conflicts: list[str] = []
    not_found: list[str] = []
    for split in sorted(lists, key=split_sort_key):
        for entry in lists[split]:
            clip = matcher.find(entry)
            if clip is None:
                not_found.append(_shown(entry))
            elif assignment.setdefault(clip, split) != split:
                conflicts.append(f"{clip} ({assignment[clip]} and {split})")
    if conflicts:
        raise CorpusError(f"split_file {source} lists {len(conflicts)} clips in two splits: "
                          f"{', '.join(conflicts[:5])}; a clip belongs to one split")
    splits = sorted(lists, key=split_sort_key)
    description = {"method": "split_file", "file": source, "sha256": digest, "fold": fold,
                   "clips": _label_counts(clips, assignment, splits),
                   "speakers": _speakers_per_split(clips, assignment, splits),
                   "not_found": len(not_found), "not_listed": len(clips) - len(assignment)}
    return assignment, description, not_found


def _speakers_per_split(clips, assignment, splits) -> dict:
    speakers = {s: set() for s in splits}
    for clip in clips:
        if clip["id"] in assignment and clip.get("speaker"):
            speakers[assignment[clip["id"]]].add(clip["speaker"])
    return {s: sorted(v) for s, v in speakers.items()}


def shared_speakers(description: Mapping) -> list[str]:
    """Speakers found in more than one split of an assignment (a split file may leak)."""
    seen = collections.Counter(sp for speakers in description.get("speakers", {}).values() for sp in speakers)
    return sorted(sp for sp, n in seen.items() if n > 1)
