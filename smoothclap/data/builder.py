"""The generic builder: one ``datasets.GeneratorBasedBuilder`` for every corpus module.

``SmoothClapBuilder(corpus, config_name, data_dir, ...)`` turns a corpus module's Records
into Arrow rows with the columns of ``make_features`` (no tag columns: those need
thresholds, which need the finished train split; ``orchestrate.build`` adds them).

Split discovery (why two kinds of scan pass)
--------------------------------------------
``datasets`` needs the list of splits before it generates any row. The builder runs one
*discovery* pass over ``scan()`` first: records are validated, ids checked for
uniqueness, rows counted per split and the scanner's drop counts recorded; no audio is
read (path records are only validated; a scanner may honour ``options["discover"]`` and
yield ``audio=None`` to skip expensive work such as synthesis). Then one *generation*
pass per split calls ``scan()`` again (with the hint ``options["split"]``, which a scanner
may use to skip other splits; the builder filters anyway) and streams that split's rows.
Only the discovery pass counts drops. Scanners must therefore be deterministic (the
builder checks that each split has as many records as in the discovery pass).

Split names: a record's normalised split is the HF split name, except ``all`` (a corpus
without splits): ``datasets`` reserves ``all``, so those rows go to the split ``full``
(``corpus.FULL_SPLIT``), which is also what their ``split`` column says.

Memory: nothing holds the corpus. Records are taken from ``scan()`` in chunks of
``CHUNK_SIZE``, the chunk's audio is decoded and analysed in worker processes
(``egemaps.FeatureExtractorPool``), the original file bytes are read for the chunk only,
and the Arrow writer flushes every ``CHUNK_SIZE`` rows. The only per-corpus structures
are the set of ids (uniqueness check), the per-split counters and the skipped rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import datasets

from .corpus import (
    FULL_SPLIT,
    CorpusConfig,
    CorpusError,
    check_options,
    get_config,
    get_corpus,
    hf_split_name,
    split_sort_key,
    validate_record,
)
from .report import BuildReport, NullReport

__all__ = [
    "BUILDER_VERSION",
    "CHUNK_SIZE",
    "FEATURE_KEYS",
    "TAG_COLUMNS",
    "SmoothClapBuilder",
    "iter_chunks",
    "make_features",
    "tag_features",
]

BUILDER_VERSION = "1.0.0"
CHUNK_SIZE = 64
FEATURE_KEYS = ("duration", "pitch_mean", "pitch_variation", "loudness", "jitter", "shimmer")
TAG_COLUMNS = ("tag_sentences", "caption", "tags")


def iter_chunks(iterable: Iterable, size: int = CHUNK_SIZE) -> Iterator[list]:
    """Yield lists of up to ``size`` items, consuming ``iterable`` lazily."""
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk



def make_features(config: CorpusConfig, with_tags: bool = False) -> datasets.Features:
    """The columns of a built dataset (see README.md); tag columns only with ``with_tags``."""
    from .egemaps import EGEMAPS_NAMES

    n_egemaps = len(EGEMAPS_NAMES)
    label = (
        datasets.ClassLabel(names=list(config.labels)) if config.labels is not None else datasets.Value("string")
    )
    cols = {
        "id": datasets.Value("string"),
        "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
        "split": datasets.Value("string"),
        "speaker": datasets.Value("string"),
        "gender": datasets.Value("string"),
        "label": label,
        "emotion": datasets.Value("string"),
        "arousal": datasets.Value("float32"),
        "valence": datasets.Value("float32"),
        "dominance": datasets.Value("float32"),
    }
    for key in FEATURE_KEYS:
        cols[key] = datasets.Value("float32")
    cols["egemaps"] = datasets.List(datasets.Value("float32"), length=n_egemaps)
    if with_tags:
        cols.update(tag_features())
    return datasets.Features(cols)


def tag_features() -> dict:
    """The tag columns' features (added by ``orchestrate.build`` once thresholds exist)."""
    return {
        "tag_sentences": datasets.List(datasets.Value("string")),
        "caption": datasets.Value("string"),
        "tags": datasets.Value("string"),
    }


def _audio_suffix(data: bytes) -> str:
    if data[:4] == b"RIFF":
        return ".wav"
    if data[:4] == b"fLaC":
        return ".flac"
    if data[:4] == b"OggS":
        return ".ogg"
    return ""


def _audio_cell(record: dict, data_dir: Path | None, paths_only: bool) -> dict:
    """Audio's Arrow layout. Bytes: the original file bytes (no re-encoding). Path: relative
    to the data dir (portable); with ``paths_only`` no bytes and the absolute path (so the
    column still decodes on this machine)."""
    audio = record["audio"]
    if isinstance(audio, bytes):
        return {"bytes": audio, "path": f"{record['id']}{_audio_suffix(audio)}"}
    path = Path(audio)
    if paths_only:
        return {"bytes": None, "path": str(path.resolve())}
    rel = path.name
    if data_dir is not None:
        try:
            rel = path.resolve().relative_to(data_dir.resolve()).as_posix()
        except ValueError:
            rel = path.name
    return {"bytes": path.read_bytes(), "path": rel}


def _header_only_features(source) -> dict:
    """--no-features: duration from the file header; the rest None. Raises ValueError."""
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Exception as err:
        name = "<bytes>" if isinstance(source, bytes) else source
        raise ValueError(f"Could not read audio {name!r} ({err}).") from None
    if not info.frames or not info.samplerate:
        raise ValueError("Empty audio clip (0 samples).")
    feats = {key: None for key in FEATURE_KEYS}
    feats["duration"] = info.frames / float(info.samplerate)
    feats["egemaps"] = None
    return feats


def _clean_float(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if not math.isfinite(x) else x


def inventory_digest(data_dir) -> str | None:
    """Digest of every file under ``data_dir``: relative path, size, mtime (ns); None without one."""
    if data_dir is None or not Path(data_dir).is_dir():
        return None
    h = hashlib.sha256()
    for root, dirs, files in os.walk(data_dir):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:  # vanished while walking, or a broken link: part of what changed
                h.update(f"{os.path.relpath(path, data_dir)}\0missing\n".encode())
                continue
            h.update(f"{os.path.relpath(path, data_dir)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def option_file_digests(options) -> dict:
    """SHA-256 of every option value that names an existing file (split files, label maps), so
    that editing one rebuilds instead of reusing the cache."""
    found = {}
    for key, value in sorted((options or {}).items()):
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            if isinstance(item, str) and len(item) < 4096 and Path(item).expanduser().is_file():
                found[f"{key}={item}"] = hashlib.sha256(Path(item).expanduser().read_bytes()).hexdigest()[:16]
    return found


def code_digest() -> str:
    """Digest of the builder package's own source: a fix in a parser or the captions rebuilds."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


class SmoothClapBuilder(datasets.GeneratorBasedBuilder):
    """Generic builder over one corpus module. Instantiate directly (datasets 5 has no
    loading scripts)::

        b = SmoothClapBuilder("msp_podcast", data_dir="/data/MSP-PODCAST", cache_dir="/tmp/c")
        b.download_and_prepare()
        dd = b.as_dataset()

    Columns: ``make_features(config)`` (no tag columns: those need thresholds, which need
    the finished train split; ``build()`` adds them). ``b.report`` is the BuildReport.
    """

    VERSION = datasets.Version(BUILDER_VERSION)
    DEFAULT_WRITER_BATCH_SIZE = CHUNK_SIZE  # Arrow writer flushes every chunk

    def __init__(
        self,
        corpus,
        config_name: str | None = None,
        data_dir: str | os.PathLike | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
        num_workers: int = 1,
        paths_only: bool = False,
        features: bool = True,
        options: Mapping | None = None,
        drop_unknown: bool = False,
        progress: bool = False,
        start_method: str | None = None,
        **kwargs,
    ):
        self.corpus_module = get_corpus(corpus)
        self.corpus_name = self.corpus_module.NAME
        self.options = check_options(self.corpus_module, options)
        self.drop_unknown = bool(drop_unknown)
        self.corpus_config_name, self.corpus_config = get_config(
            self.corpus_module, config_name, data_dir, self.options)
        if self.corpus_config.needs_data_dir and data_dir is None:
            raise CorpusError(
                f"Corpus {self.corpus_name!r} needs a data directory (CLI: --data-dir); see "
                f"{self.corpus_config.homepage or 'its documentation'} for how to obtain it."
            )
        self.corpus_data_dir = Path(data_dir).expanduser() if data_dir is not None else None
        self.num_workers = max(1, int(num_workers or 1))
        self.paths_only = bool(paths_only)
        self.with_features = bool(features)
        self.progress = progress
        self.start_method = start_method
        self.report = BuildReport(self.corpus_name, self.corpus_config_name)
        self._split_counts: dict[str, int] = {}
        self._pool = None
        super().__init__(
            cache_dir=None if cache_dir is None else str(cache_dir),
            dataset_name=self.corpus_name,
            config_name=self.corpus_config_name,
            hash=self.fingerprint(),
            **kwargs,
        )

    def fingerprint(self) -> str:
        """Identifies the generated Arrow data: corpus, config, data dir and what it holds (every
        file's path, size and modification time), options and the builder's code. A cache reused
        after a file was deleted or added would hold the old clips (issue 23.1)."""
        payload = json.dumps(
            {
                "corpus": self.corpus_name,
                "module": getattr(self.corpus_module, "__name__", ""),
                "config": self.corpus_config_name,
                "data_dir": str(self.corpus_data_dir.resolve()) if self.corpus_data_dir else None,
                "inventory": inventory_digest(self.corpus_data_dir),  # deleted, added or changed files
                "option_files": option_file_digests(self.options),  # e.g. a split file outside the data dir
                "code": code_digest(),
                "options": self.options,
                "drop_unknown": self.drop_unknown,
                "paths_only": self.paths_only,
                "features": self.with_features,
                "version": BUILDER_VERSION,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    # -- datasets hooks
    def _info(self) -> datasets.DatasetInfo:
        cfg = self.corpus_config
        return datasets.DatasetInfo(
            description=cfg.description,
            features=make_features(cfg),
            citation=cfg.citation,
            homepage=cfg.homepage,
            license=cfg.license,
        )

    def _scan(self, **hints) -> Iterator[dict]:
        """scan() with the user's options plus the builder's hints (corpus.BUILDER_HINTS). A corpus
        that declares an option named like the one-split hint (the folder corpus' split=speaker:80/10/10)
        never gets the hint: it only saves work, the generation pass filters by split anyway."""
        if "split" in (getattr(self.corpus_module, "OPTIONS", None) or {}):
            hints.pop("split", None)
        options = dict(self.options, drop_unknown=self.drop_unknown, **hints)
        return iter(self.corpus_module.scan(self.corpus_data_dir, self.corpus_config_name, options))

    def discover_splits(self) -> dict[str, int]:
        """Discovery pass: validate every record, check unique ids, count rows per split and
        record the scanner's drops. No audio is read."""
        self.report.dropped.clear()
        counts: Counter = Counter()
        seen: set[str] = set()
        for record in self._scan(report=self.report, discover=True):
            rec = validate_record(record, self.corpus_config, self.corpus_name, allow_no_audio=True)
            if rec["id"] in seen:
                raise CorpusError(f"{self.corpus_name}: duplicate record id {rec['id']!r}; ids must be unique.")
            seen.add(rec["id"])
            counts[hf_split_name(rec["split"])] += 1
        if not counts:
            dropped = f" ({self.report.dropped_rows} rows dropped: {dict(self.report.dropped)})" if self.report.dropped else ""
            raise CorpusError(f"{self.corpus_name}: the scanner found no usable records{dropped}.")
        self._split_counts = {s: counts[s] for s in sorted(counts, key=split_sort_key)}
        return dict(self._split_counts)

    def _split_generators(self, dl_manager):
        counts = self.discover_splits()
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split}) for split in counts]

    def download_and_prepare(self, *args, **kwargs):
        """``datasets``' own download_and_prepare, with the eGeMAPS worker pool open for
        the whole generation (one pool for all splits, not one per split)."""
        if not self.with_features:
            return super().download_and_prepare(*args, **kwargs)
        from .egemaps import FeatureExtractorPool

        with FeatureExtractorPool(
            num_workers=self.num_workers, progress=self.progress, desc=self.corpus_name, start_method=self.start_method
        ) as pool:
            self._pool = pool
            try:
                return super().download_and_prepare(*args, **kwargs)
            finally:
                self._pool = None

    def _analyse(self, sources: list) -> list:
        """Features for a chunk of audio sources: dicts, or exceptions (skip reasons)."""
        if self.with_features:
            return self._pool.map(sources)
        results = []
        for source in sources:
            try:
                results.append(_header_only_features(source))
            except ValueError as err:
                results.append(err)
        return results

    def _shareable(self, text: str) -> str:
        """``text`` with the corpus folder's path left out (relative to it): the build report
        travels with the dataset, and a shared dataset names no local path."""
        if not text or self.corpus_data_dir is None:
            return text
        for root in {str(self.corpus_data_dir.resolve()), str(self.corpus_data_dir)}:
            text = text.replace(root.rstrip(os.sep) + os.sep, "")
        return text

    def _generate_examples(self, split: str):
        report = self.report
        record_split = "all" if split == FULL_SPLIT else split
        records = (
            r
            for r in self._scan(report=NullReport(), split=record_split, discover=False)
            if isinstance(r, Mapping) and hf_split_name(r.get("split")) == split
        )
        n_input = 0
        for chunk in iter_chunks(records, CHUNK_SIZE):
            chunk = [validate_record(r, self.corpus_config, self.corpus_name) for r in chunk]
            n_input += len(chunk)
            report.add_input(split, len(chunk))
            results = self._analyse([r["audio"] for r in chunk])
            for rec, feats in zip(chunk, results):
                shown_path = self._shareable(rec["audio"]) if isinstance(rec["audio"], str) else None
                if isinstance(feats, BaseException) or feats is None:
                    reason = str(feats) if feats is not None else "feature extraction returned nothing"
                    report.skip(rec["id"], shown_path, split, self._shareable(reason) or type(feats).__name__)
                    continue
                try:
                    cell = _audio_cell(rec, self.corpus_data_dir, self.paths_only)
                except OSError as err:
                    reason = self._shareable(f"Could not read the audio file ({err}).")
                    report.skip(rec["id"], shown_path, split, reason)
                    continue
                row = {
                    "id": rec["id"],
                    "audio": cell,
                    "split": split,
                    "speaker": rec["speaker"],
                    "gender": rec["gender"],
                    "label": rec["label"],
                    "emotion": rec["emotion"],
                    "arousal": rec["arousal"],
                    "valence": rec["valence"],
                    "dominance": rec["dominance"],
                }
                for key in FEATURE_KEYS:
                    row[key] = _clean_float(feats.get(key))
                egemaps = feats.get("egemaps")
                row["egemaps"] = None if egemaps is None else [float(v) for v in egemaps]
                report.add_built(split)
                yield rec["id"], row
        expected = self._split_counts.get(split)
        if expected is not None and expected != n_input:
            raise CorpusError(
                f"{self.corpus_name}: split {split!r} had {expected} records in the discovery "
                f"pass but {n_input} when generating; the scanner must be deterministic."
            )

    def as_dataset_dict(self) -> datasets.DatasetDict:
        """The prepared splits in generation order; a split whose rows were all skipped (no
        Arrow file, which ``as_dataset`` refuses) becomes an empty dataset."""
        out = {}
        for split, info in self.info.splits.items():
            if info.num_examples:
                out[split] = self.as_dataset(split=split)
            else:
                out[split] = datasets.Dataset.from_dict({k: [] for k in self.info.features}, features=self.info.features)
        return datasets.DatasetDict(out)
