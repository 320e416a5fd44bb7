"""Input checks, limits and upload clean-up of the SmoothCLAP web demo (space/app.py; split off
to keep each file short). Standalone like app.py: imports only the standard library, numpy,
soundfile and (for the examples' cached copies) gradio, never the repository's own modules."""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

DEFAULT_TEMPLATES = "this person is feeling {}."  # used when the model's config names no query_template
# Load limits (docs/web_demo.md). Two at once: on a 2-core CPU a second classification still
# gets a core, and a short one is not stuck behind a single long one.
DEFAULT_CONCURRENCY = 2
DEFAULT_MAX_QUEUE = 16  # waiting requests; beyond it gradio answers "queue is full, try again" (HTTP 503)
DEFAULT_MAX_SECONDS = 60.0  # longer clips are scored in windows of this length
WINDOW_CAP = 10  # ... up to WINDOW_CAP times it; longer clips are refused (time and memory per request)
DEFAULT_MAX_UPLOAD_MB = 50.0
SILENCE_DBFS = -60.0  # a clip whose loudest sample is below this holds nothing to classify
SWEEP_SECONDS = 3600  # gradio's delete_cache: uploads never classified go after an hour


@dataclass(frozen=True)
class Limits:
    """What one server takes: classifications at once, waiting requests, clip length, file size."""

    concurrency: int = DEFAULT_CONCURRENCY
    max_queue: int = DEFAULT_MAX_QUEUE
    max_seconds: float = DEFAULT_MAX_SECONDS
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB

    def describe(self) -> str:
        return (f"Limits: clips up to {self.max_seconds:g} s are scored whole, up to {WINDOW_CAP * self.max_seconds:g} s "
                f"in {self.max_seconds:g} s windows (averaged), longer ones are refused; files up to "
                f"{self.max_upload_mb:g} MB; {self.concurrency} classification(s) at a time, up to {self.max_queue} "
                "waiting (then: try again). Uploads are deleted once answered.")


class Clip(NamedTuple):
    path: str
    seconds: float
    window: float | None  # seconds per window when the clip is longer than the limit, else None


class AppError(Exception):
    """An error the page shows as it is (the user's input or the model source is wrong)."""


# --------------------------------------------------------------------------- inputs
def parse_labels(text: str | None) -> list[str]:
    """Labels typed as ``angry, happy, sad`` (commas or new lines), blanks dropped."""
    parts = (text or "").replace("\n", ",").split(",")
    labels = [part.strip() for part in parts if part.strip()]
    if not labels:
        raise AppError("No labels: type at least one label, e.g. 'angry, happy, sad, neutral'.")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise AppError(f"Duplicate label(s) {', '.join(duplicates)}: type each label once.")
    return labels


def parse_templates(text: str | None) -> list[str]:
    """Templates, one per line, each with ``{}`` once (several lines: a prompt ensemble)."""
    templates = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not templates:
        raise AppError("No template: type one per line, with {} where the label goes, e.g. "
                       f"'{DEFAULT_TEMPLATES}'.")
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise AppError(f"Template {bad[0]!r} must contain {{}} exactly once, where the label goes "
                       f"(e.g. '{DEFAULT_TEMPLATES}').")
    return templates


def check_clip(path, max_seconds: float = DEFAULT_MAX_SECONDS) -> Clip:
    """A readable, non-empty, not silent clip no longer than ``WINDOW_CAP * max_seconds``, or an
    AppError saying what is wrong. Reads the header, then at most the whole file one second at a
    time (stops at the first audible second), so memory stays small whatever the upload."""
    import soundfile

    if not path:
        raise AppError("No audio: upload a clip or record one, then press Classify.")
    name = Path(str(path)).name
    if not os.path.isfile(str(path)):
        raise AppError(f"The clip {name!r} is no longer on the server (uploads are deleted once answered): "
                       "upload it again.")
    try:
        info = soundfile.info(str(path))
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise AppError(f"Cannot read the audio file {name!r} ({_reason(err)}). Upload WAV, FLAC, OGG or MP3.") from None
    if info.frames <= 0:
        raise AppError(f"The audio file {name!r} holds no samples.")
    seconds, cap = info.frames / info.samplerate, WINDOW_CAP * max_seconds
    if seconds > cap:
        raise AppError(f"The clip {name!r} is {seconds:.1f} s long: this page takes clips up to {cap:g} s (those over "
                       f"{max_seconds:g} s are scored in {max_seconds:g} s windows). Upload a shorter cut.")
    threshold = 10 ** (SILENCE_DBFS / 20)
    peak = peak_amplitude(str(path), info.samplerate, threshold)
    if peak <= threshold:
        level = "-inf" if peak == 0 else f"{20 * math.log10(peak):.0f}"
        raise AppError(f"The clip {name!r} is silent (loudest sample {level} dBFS, under {SILENCE_DBFS:g} dBFS): "
                       "nothing to classify. Upload or record a clip with a voice in it.")
    return Clip(str(path), seconds, max_seconds if seconds > max_seconds else None)


def peak_amplitude(path: str, rate: int, stop_above: float = math.inf) -> float:
    """The largest |sample| of a file, read one second at a time; stops once above ``stop_above``."""
    import numpy as np
    import soundfile

    peak = 0.0
    try:
        with soundfile.SoundFile(path) as f:
            for block in f.blocks(blocksize=max(1, int(rate)), dtype="float32", always_2d=True):
                peak = max(peak, float(np.nanmax(np.abs(block), initial=0.0)))
                if peak > stop_above:
                    break
    except Exception as err:  # a file whose header reads but whose data does not
        raise AppError(f"Cannot read the audio in {Path(path).name!r} ({_reason(err)}). Upload WAV, FLAC, OGG or "
                       "MP3.") from None
    return peak


def _reason(err: Exception) -> str:
    """libsndfile's reason without the server's path ("Error opening '/tmp/...': Format not
    recognised." -> "format not recognised"): the page shows the user's file name only."""
    text = str(err).rsplit("': ", 1)[-1].strip().rstrip(".")
    return (text[:1].lower() + text[1:]) or type(err).__name__


# --------------------------------------------------------------------------- uploads
class UploadJanitor:
    """Deletes uploads from gradio's upload folder once answered. Gradio stores an upload at
    ``<folder>/<content hash>/<name>``, so two requests with the same file share one path: a path
    is counted from its request's arrival (the validator) to its answer, and deleted when no
    request holds it. Example clips' cached copies stay (the page serves them again)."""

    def __init__(self, folder: str, keep=()):
        self.folder = Path(folder).resolve()
        self.keep = {Path(p).resolve() for p in keep}
        self.held: dict[Path, int] = {}
        self.lock = threading.Lock()

    def _ours(self, path) -> Path | None:
        if not path:
            return None
        resolved = Path(str(path)).resolve()
        inside = self.folder in resolved.parents and resolved not in self.keep
        return resolved if inside else None

    def hold(self, path) -> None:
        resolved = self._ours(path)
        if resolved is not None:
            with self.lock:
                self.held[resolved] = self.held.get(resolved, 0) + 1

    def release(self, path) -> None:
        """One request with this upload is answered (or refused): delete it if no other holds it."""
        resolved = self._ours(path)
        if resolved is None:
            return
        with self.lock:
            count = self.held.pop(resolved, 0) - 1
            if count > 0:
                self.held[resolved] = count
                return
            resolved.unlink(missing_ok=True)
            try:
                resolved.parent.rmdir()  # gradio's per-upload folder, if now empty
            except OSError:
                pass


def example_copies(examples: list[list], folder: str) -> list[str]:
    """Where gradio keeps its copies of the example clips (``<folder>/<hash>/<name>``)."""
    from gradio import processing_utils
    from gradio_client import utils as client_utils

    copies = []
    for example in examples:
        if example and os.path.isfile(str(example[0])):
            name = client_utils.strip_invalid_filename_characters(Path(example[0]).name)
            copies.append(os.path.join(folder, processing_utils.hash_file(example[0]), name))
    return copies
