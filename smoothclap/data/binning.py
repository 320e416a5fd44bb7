"""Which bin thresholds (cut points) a build tags with, and where they came from.

Default: every attribute's ``[p30, p70]`` is fitted on the corpus' own train split (all
rows, with a note, for a corpus without one). ``--thresholds FILE`` reuses another
build's ``thresholds.json``, e.g. MSP-Podcast's for an evaluation corpus, with one rule:

* acoustic cut points (``captions.ACOUSTIC_ATTRIBUTES``: pitch, loudness, sound level,
  jitter, shimmer, duration, the same eGeMAPS quantities on every corpus) are reused as
  they are;
* rating cut points (arousal, valence, dominance) only when the file's corpus rates on
  the same scale as this one (``CorpusConfig.rating_scale``; MSP-Podcast 1-7, IEMOCAP
  1-5). Otherwise they are fitted on this corpus' own train split (all rows for a corpus
  without one, such as IEMOCAP), and the report and the card say so: a 1-7 cut point on a
  1-5 rating would call most IEMOCAP speakers calm.

A ``thresholds`` dict passed to ``build()`` is used verbatim (the caller vouches for it).
The saved ``thresholds.json`` records its provenance in its metadata (written and read by
``captions.save_thresholds`` / ``captions.read_thresholds_metadata``): the corpus and
config it was saved with, the rating scale of its rating cut points, and for the acoustic
and the rating cut points each the corpus, config and rows they were fitted on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from .corpus import CorpusError
from .report import BuildReport

__all__ = ["THRESHOLDS_FILE", "BuildThresholds", "choose_thresholds", "load_given_thresholds"]

THRESHOLDS_FILE = "thresholds.json"


@dataclasses.dataclass
class BuildThresholds:
    """The cut points a build tags with (``values``: attribute -> [p30, p70]) and the
    provenance saved with them (``metadata``)."""

    values: dict
    metadata: dict

    def describe(self) -> str:
        """One line for the dataset card."""
        parts = []
        for group, name in (("acoustic", "acoustic"), ("ratings", "rating")):
            source = self.metadata.get(group)
            if source:
                parts.append(f"{name} cut points: {_describe_source(source)}")
        scale = self.metadata.get("rating_scale")
        if scale and self.metadata.get("ratings"):
            parts.append(f"rating scale {scale[0]:g}-{scale[1]:g}")
        return "; ".join(parts) or "n/a"


@dataclasses.dataclass
class GivenThresholds:
    """What ``--thresholds`` named: the cut points, the file's metadata, and a label."""

    values: dict
    metadata: dict
    label: str
    verbatim: bool = False  # a dict from the Python API: used as is


def _describe_source(source: Mapping) -> str:
    if source.get("given"):
        return f"given ({source['given']})"
    where = f"{source.get('corpus')}/{source.get('config')}" if source.get("corpus") else "unknown corpus"
    text = f"{where}, {source.get('fitted_on', 'rows unknown')}"
    return text + (f" (from {source['file']})" if source.get("file") else "")


def load_given_thresholds(thresholds) -> GivenThresholds:
    """Read ``--thresholds``: a path to a ``thresholds.json``, or a dict used verbatim.
    CorpusError for a missing or malformed file."""
    from . import captions

    if isinstance(thresholds, Mapping):
        return GivenThresholds(dict(thresholds), {}, "dict", verbatim=True)
    path = Path(thresholds).expanduser()
    if not path.is_file():
        raise CorpusError(f"Thresholds file not found: {path}.")
    try:
        values = captions.load_thresholds(path)
        metadata = captions.read_thresholds_metadata(path)
    except UnicodeDecodeError:  # a ValueError too: a WAV or other binary file given by mistake
        raise CorpusError(f"--thresholds {str(path)!r} is not a thresholds.json (not UTF-8 text: a binary file?); "
                          "give the thresholds.json of an earlier build.") from None
    except ValueError as err:
        message = str(err)
        raise CorpusError(message if str(path) in message else f"--thresholds {str(path)!r}: {message}") from None
    # the label goes into the card and thresholds.json: an absolute path keeps its last two parts
    label = str(Path(*path.parts[-2:])) if path.is_absolute() else str(path)
    return GivenThresholds(values, dict(metadata or {}), label)


def _fit(dd, attributes, report: BuildReport, what: str = "thresholds") -> tuple[dict, str]:
    """[p30, p70] of ``attributes`` on the train split (or all rows, with a note)."""
    from . import captions

    if "train" in dd:
        parts, fitted_on = [dd["train"]], "train split"
    else:
        parts, fitted_on = list(dd.values()), "all rows (the corpus has no train split)"
        report.note(f"{what} fitted on all rows: the corpus has no train split")
    return captions.fit_thresholds(_values(parts, attributes)), fitted_on


def _values(parts, attributes) -> dict[str, list]:
    """attribute -> values of the rows in ``parts``: its own column, or (``sound_level``)
    derived by the captions module from the eGeMAPS vector, read one Arrow chunk at a
    time (the vectors of a large train split are never all in memory)."""
    from . import captions

    values = {}
    for attr in attributes:
        if all(attr in part.column_names for part in parts):
            values[attr] = [v for part in parts for v in part.data.column(attr).to_pylist()]
        elif all("egemaps" in part.column_names for part in parts):
            values[attr] = [captions.attribute_value({"egemaps": vector}, attr)
                            for part in parts for chunk in part.data.column("egemaps").chunks
                            for vector in chunk.to_pylist()]
    return values


def _scale(scale) -> list[float] | None:
    return None if scale is None else [float(scale[0]), float(scale[1])]


def choose_thresholds(dd, given: GivenThresholds | None, *, corpus: str, config: str,
                      rating_scale, report: BuildReport) -> BuildThresholds:
    """The cut points for this build (see the module docstring) and their metadata."""
    from . import captions

    here = {"corpus": corpus, "config": config}
    scale = _scale(rating_scale)
    meta = {**here, "rating_scale": scale}
    if given is None:
        values, fitted_on = _fit(dd, captions.THRESHOLD_ATTRIBUTES, report)
        source = {**here, "fitted_on": fitted_on}
        return BuildThresholds(values, {**meta, "acoustic": source, "ratings": source if scale else None})
    if given.verbatim:
        source = {"given": given.label}
        return BuildThresholds(dict(given.values), {**meta, "acoustic": source, "ratings": source})

    values = {k: v for k, v in given.values.items() if k in captions.ACOUSTIC_ATTRIBUTES}
    acoustic = given.metadata.get("acoustic") or {"corpus": given.metadata.get("corpus"),
                                                   "config": given.metadata.get("config")}
    acoustic = {**acoustic, "file": given.label}
    ratings = None
    if scale is not None:
        ratings, note = _rating_cut_points(given, corpus, scale)
        if note is None:
            values.update({k: v for k, v in given.values.items() if k in captions.RATING_ATTRIBUTES})
            ratings = {**ratings, "file": given.label}
        else:
            fitted, fitted_on = _fit(dd, captions.RATING_ATTRIBUTES, report, "arousal/valence/dominance cut points")
            values.update(fitted)
            ratings = {**here, "fitted_on": fitted_on}
            report.note(f"arousal/valence/dominance cut points fitted on this corpus' {fitted_on}: {note}; "
                        "only the acoustic cut points of that file were reused")
    return BuildThresholds(values, {**meta, "acoustic": acoustic, "ratings": ratings})


def _rating_cut_points(given: GivenThresholds, corpus: str, scale: list[float]) -> tuple[dict | None, str | None]:
    """(provenance of the file's rating cut points, None) when they apply to a corpus rated
    on ``scale``; (None, why not) otherwise."""
    from . import captions

    source_scale = given.metadata.get("rating_scale")
    here = f"{corpus} rates on {scale[0]:g}-{scale[1]:g}"
    if not any(k in given.values for k in captions.RATING_ATTRIBUTES):
        return None, f"the thresholds file {given.label} has no rating cut points"
    if source_scale is None:
        return None, (f"the thresholds file {given.label} does not say which rating scale its cut points "
                      f"are on ({here})")
    if _scale(source_scale) != scale:
        name = given.metadata.get("corpus") or "another corpus"
        return None, (f"the thresholds file {given.label} ({name}) has rating cut points on the scale "
                      f"{source_scale[0]:g}-{source_scale[1]:g}, {here}")
    source = given.metadata.get("ratings") or {"corpus": given.metadata.get("corpus"),
                                               "config": given.metadata.get("config")}
    return dict(source), None
