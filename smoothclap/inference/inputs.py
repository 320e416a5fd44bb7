"""What a corpus run classifies: files, folders (recursive), globs, a text file of paths, or
the rows of a built dataset, resolved to one deterministic list of `Item`s.

Only names are listed here (never audio): a 50k-clip corpus is a list of 50k short strings.
Every rank of a multi-process run resolves the same list in the same order and takes its
own shard, so the order must not depend on the file system's listing order (sorted).
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

# extensions libsndfile (soundfile) decodes; a folder's other files (README, CSV, ...) are skipped
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd",
                    ".caf", ".w64", ".rf64", ".sd2", ".voc", ".htk", ".nist", ".sph", ".paf", ".pvf", ".xi", ".avr"}
GLOB_CHARS = set("*?[")


class InputError(ValueError):
    """Bad input, found before any work: the command prints one ``error:`` line, exit 2."""


@dataclass(frozen=True)
class Item:
    key: str  # unique within a run: the path as given/found, or "split/id" of a dataset row
    source: object  # a path (str) or (split, row index) of the dataset


@dataclass
class InputSet:
    items: list  # [Item] in the run's order
    kind: str  # "files" | "dataset"
    dataset: object = None  # {split: datasets.Dataset} for kind "dataset"
    notes: list = None  # one-line remarks for stderr (skipped files, duplicates)

    def fingerprint(self) -> str:
        """sha256 of the ordered keys: a resumed run must classify the very same list."""
        digest = hashlib.sha256()
        for item in self.items:
            digest.update(item.key.encode("utf-8", "surrogateescape") + b"\0")
        return digest.hexdigest()


def _folder_files(folder: Path, notes: list) -> list[str]:
    found, skipped = [], {}
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            ext = os.path.splitext(name)[1].lower()
            if ext in AUDIO_EXTENSIONS:
                found.append(os.path.join(root, name))
            elif not name.startswith("."):
                skipped[ext or "(none)"] = skipped.get(ext or "(none)", 0) + 1
    if skipped:
        kinds = ", ".join(f"{n} {ext}" for ext, n in sorted(skipped.items()))
        notes.append(f"{folder}: skipped {sum(skipped.values())} file(s) without an audio extension ({kinds})")
    return sorted(found)


def read_file_list(path) -> list[str]:
    """A text file of paths, one per line; blank lines and lines starting with # are skipped;
    relative paths are taken relative to the list's folder (so a list travels with its corpus)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--file-list {str(path)!r} not found: give a text file with one audio path per line.")
    base = path.parent
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line if os.path.isabs(line) else os.path.normpath(os.path.join(base, line)))
    return out


def expand_paths(inputs, notes: list) -> list[str]:
    """Files as given (in order); folders walked recursively (sorted); globs expanded (sorted,
    ``**`` recursive). A path typed on the command line that does not exist is a usage error
    (InputError, exit 2) naming every such path; a missing path in a --file-list fails as a
    clip instead and is reported in the errors file, as an unreadable file is."""
    out = []
    missing = [os.fspath(r) for r in inputs if not os.path.exists(os.fspath(r)) and not GLOB_CHARS & set(os.fspath(r))]
    if missing:
        raise InputError(f"not found: {', '.join(map(repr, missing[:5]))}{' ...' if len(missing) > 5 else ''} "
                         "(give existing files or folders, a glob in quotes, or --file-list).")
    for raw in inputs:
        text = os.fspath(raw)
        if os.path.isdir(text):
            out += _folder_files(Path(text), notes)
        elif not os.path.exists(text) and GLOB_CHARS & set(text):
            matches = sorted(p for p in glob.glob(os.path.expanduser(text), recursive=True) if os.path.isfile(p))
            if not matches:
                notes.append(f"the pattern {text!r} matched no files")
            out += matches
        else:
            out.append(text)
    return out


def _dedupe(items: list, notes: list) -> list:
    seen, out = set(), []
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            out.append(item)
    if len(out) < len(items):
        notes.append(f"{len(items) - len(out)} duplicate input(s) dropped (each clip is classified once)")
    return out


def open_dataset(folder, split: str = "all") -> dict:
    """{split: datasets.Dataset} of a folder saved by ``datasets`` (as smoothclap.data builds
    them); ``split``: "all" or comma-separated names. The audio column keeps Audio's Arrow
    layout ({"bytes", "path"}), decoded later with soundfile (no torchcodec needed)."""
    import datasets

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"--dataset {str(folder)!r} is not a folder: give a folder built by `smoothclap build` "
                         "(or saved with datasets' save_to_disk).")
    try:
        loaded = datasets.load_from_disk(str(folder))
    except Exception as err:  # FileNotFoundError, a wrong layout, ...
        raise InputError(f"--dataset {str(folder)!r} is not a saved dataset ({str(err).splitlines()[0]}); build "
                         "one with `smoothclap build CORPUS --data-dir D --output DIR`.") from None
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"full": loaded})
    names = list(loaded.keys())
    wanted = names if split in ("all", "auto", None) else [s.strip() for s in split.split(",") if s.strip()]
    missing = [s for s in wanted if s not in names]
    if missing:
        raise InputError(f"--split {missing} not in {folder}; it has {names} (or use --split all).")
    out = {}
    for name in wanted:
        ds = loaded[name]
        if "audio" not in ds.column_names:
            raise InputError(f"--dataset {str(folder)!r} split {name!r} has no 'audio' column "
                             f"(columns: {ds.column_names}).")
        feature = ds.features["audio"]
        if type(feature).__name__ == "Audio" and getattr(feature, "decode", False):
            ds = ds.cast_column("audio", datasets.Audio(decode=False))  # bytes/path: decoded with soundfile
        out[name] = ds
    return out


def _dataset_items(splits: dict, notes: list) -> list:
    items = []
    for name, ds in splits.items():
        ids = [str(x) for x in ds["id"]] if "id" in ds.column_names else [str(i) for i in range(len(ds))]
        if len(set(ids)) < len(ids):  # ids must identify rows for resume; fall back to row numbers
            notes.append(f"split {name!r}: the id column is not unique; rows are named by their row number")
            ids = [str(i) for i in range(len(ds))]
        items += [Item(f"{name}/{key}", (name, row)) for row, key in enumerate(ids)]
    return items


def resolve_inputs(inputs=(), file_list=None, dataset=None, split: str = "all") -> InputSet:
    """The run's items; an InputError when there is nothing to classify."""
    notes: list = []
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs or [])
    if dataset is not None:
        if inputs or file_list:
            raise InputError("--dataset classifies a dataset's rows: give either --dataset or files/folders/"
                             "--file-list, not both.")
        splits = open_dataset(dataset, split)
        items = _dataset_items(splits, notes)
        kind = "dataset"
    else:
        paths = expand_paths(inputs, notes) + (read_file_list(file_list) if file_list else [])
        items, splits, kind = [Item(p, p) for p in paths], None, "files"
    items = _dedupe(items, notes)
    if not items:
        where = f"--dataset {dataset}" if dataset is not None else ", ".join(map(str, inputs)) or "(none given)"
        extra = "; " + "; ".join(notes) if notes else ""
        raise InputError(f"no audio to classify in {where}{extra}: give audio files, a folder, a glob, "
                         "--file-list FILE or --dataset DIR.")
    return InputSet(items=items, kind=kind, dataset=splits, notes=notes)


def shard(items: list, rank: int, world: int) -> list:
    """Rank ``rank``'s items of ``world``: every world-th item, starting at rank (balanced when
    clip lengths drift along a sorted corpus)."""
    return items[rank::world] if world > 1 else list(items)
