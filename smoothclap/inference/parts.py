"""Resumable run state: ``<output>.parts/`` holds a manifest and append-only part files.

Each rank appends one JSON line per finished clip to ``rank<R>.jsonl``, flushed after every
batch (so a run killed by ``kill -9`` or SIGTERM loses at most the batch it was on) and
fsynced when the last fsync is a second old (a power cut loses about that second). A line is a whole clip (all of its windows, or its error), so a clip is
either done or not. Started again with the same command, a run skips the clips any part
file already holds (whatever rank wrote them) and appends the rest; a torn last line is cut
off first. The manifest names the command's key inputs (the input list's fingerprint,
labels, templates, model, dtype, windows, ...): a different command refuses to resume into
another's parts instead of mixing two runs. The final file is made by a merge
(outputs.merge_parts) and renamed into place atomically, then the parts are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from smoothclap.inference.inputs import InputError

MANIFEST = "manifest.json"
PART_GLOB = "rank*.jsonl"


def parts_dir(output) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".parts")


def errors_path(output) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".errors.jsonl")


def embeddings_path(output) -> Path:
    """The .npy beside a JSONL/CSV output: row i is the output's row i (its embedding_row)."""
    output = Path(output)
    return output.with_name(output.stem + ".embeddings.npy")


def _write_json_atomic(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def prepare(output, manifest: dict, is_main: bool, overwrite: bool = False) -> str:
    """Check (every rank) and create (main rank) the run state; returns "new" or "resume".
    InputError when the output exists from a finished run (pass --overwrite) or the parts
    belong to a different command."""
    output, folder = Path(output), parts_dir(output)
    if overwrite:
        if is_main:
            shutil.rmtree(folder, ignore_errors=True)
            for old in (output, errors_path(output), embeddings_path(output)):
                old.unlink(missing_ok=True)
    elif (folder / MANIFEST).is_file():
        try:
            old = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = {}
        differ = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
        if differ:
            raise InputError(f"{folder} holds an unfinished run of a different command (it differs in: "
                             f"{', '.join(differ)}): run that command again to finish it, or pass --overwrite "
                             "to start this one from scratch.")
        return "resume"
    elif output.exists():
        raise InputError(f"{output} already exists (a finished run): pass --overwrite to classify again, or choose "
                         "another --output.")
    if is_main:
        folder.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(folder / MANIFEST, manifest)
    return "new"


def part_files(output) -> list[Path]:
    return sorted(parts_dir(output).glob(PART_GLOB))


def complete_lines(path: Path):
    """(byte offset, line) of each complete line; a torn last line (no newline) is left out."""
    offset = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                return
            yield offset, line
            offset += len(line)


def done_keys(output) -> set:
    """Keys of the clips that any part file already holds (done or failed)."""
    keys = set()
    for path in part_files(output):
        for _, line in complete_lines(path):
            try:
                keys.add(json.loads(line)["key"])
            except (ValueError, KeyError):
                continue  # not ours or damaged: redone, never counted
    return keys


class PartWriter:
    """Append-only JSON lines of one rank. ``write`` hands every batch to the OS at once (a
    killed process loses nothing written) and fsyncs at most every ``sync_seconds`` (a power
    cut loses about that much, and a batch of one clip does not wait for a disk round trip)."""

    def __init__(self, output, rank: int, sync_seconds: float = 1.0):
        self.sync_seconds, self.synced = sync_seconds, time.monotonic()
        self.path = parts_dir(output) / f"rank{rank}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_tail()
        self.file = open(self.path, "ab")

    def _cut_torn_tail(self) -> None:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            data_end = 0
            for offset, line in complete_lines(self.path):
                data_end = offset + len(line)
            f.truncate(data_end)

    def write(self, records: list) -> None:
        if not records:
            return
        data = b"".join(json.dumps(r, separators=(",", ":")).encode("utf-8") + b"\n" for r in records)
        self.file.write(data)
        self.file.flush()
        if time.monotonic() - self.synced >= self.sync_seconds:
            os.fsync(self.file.fileno())
            self.synced = time.monotonic()

    def close(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()


def remove(output) -> None:
    shutil.rmtree(parts_dir(output), ignore_errors=True)
