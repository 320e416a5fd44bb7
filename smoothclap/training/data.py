"""Data for training: a dataset built by smoothclap.data, crops, captions, batches.

Determinism: every random draw of the data side is a pure function of (run seed, epoch,
row index), never of the process count, the worker count or the position in a batch:

- the epoch's order is ``permutation(seed, epoch)`` (``EpochSampler``); accelerate cuts
  it into per-process batches, so N processes of batch b see, step by step, exactly the
  rows one process of batch N*b sees;
- the crop of row i in epoch e comes from ``crop_offset`` (``CropPolicy``);
- the caption of row i in epoch e is ``make_caption(row, thresholds, seed=caption_seed(seed, e))``.

So a resumed run, a cached run and a multi-process run all see the same data.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from smoothclap.models.audio_smoothclap import crop_or_pad, random_crop_offset

from .config import TrainingConfigError

SAMPLING_RATE = 16000
THRESHOLDS_FILE = "thresholds.json"
EXCLUDED_VALIDATION_LABELS = ("other",)  # MSP-Podcast's O class has no query text


# --------------------------------------------------------------------------- crops
@dataclass(frozen=True)
class CropPolicy:
    """Which window of each clip training sees.

    ``crops_per_clip=None``: a fresh random window every epoch (the paper's recipe).
    ``crops_per_clip=K``: K windows per clip, drawn once from (seed, row); epoch e uses
    window ``perm(seed, row)[e % K]``, so with K >= epochs no window repeats. This is the
    policy of the feature cache; the uncached path uses it too when asked, which makes the
    two give the same loss. Clips not longer than ``length`` have one window (offset 0,
    zero-padded): all K coincide.
    """

    length: int  # samples
    seed: int
    crops_per_clip: int | None = None

    def offsets(self, row: int, num_samples: int) -> list[int]:
        """The K fixed offsets of a row (K-crop policy only)."""
        rng = np.random.default_rng([self.seed, row, 7919])
        return [random_crop_offset(num_samples, self.length, rng) for _ in range(self.crops_per_clip)]

    def crop_index(self, row: int, epoch: int) -> int:
        """Which of the K windows epoch ``epoch`` uses for ``row``."""
        perm = np.random.default_rng([self.seed, row, 104729]).permutation(self.crops_per_clip)
        return int(perm[epoch % self.crops_per_clip])

    def offset(self, row: int, epoch: int, num_samples: int) -> int:
        if self.crops_per_clip is None:
            rng = np.random.default_rng([self.seed, epoch, row])
            return random_crop_offset(num_samples, self.length, rng)
        return self.offsets(row, num_samples)[self.crop_index(row, epoch)]

    @property
    def seconds(self) -> float:
        return self.length / SAMPLING_RATE

    def describe(self) -> str:
        seconds = self.seconds
        if self.crops_per_clip is None:
            return f"a fresh random {seconds:g} s window per clip and epoch (zero-padded if shorter)"
        return (f"{self.crops_per_clip} fixed random {seconds:g} s windows per clip (seed {self.seed}), "
                f"one per epoch; shorter clips: the whole clip, zero-padded")


def caption_seed(seed: int, epoch: int) -> str:
    """Seed of epoch ``epoch``'s captions (make_caption draws from (this seed, row id))."""
    return f"{seed}:{epoch}"


# --------------------------------------------------------------------------- dataset
@dataclass
class TrainData:
    """A loaded, checked dataset and what training needs from its folder."""

    path: str
    splits: dict  # name -> datasets.Dataset
    train_split: str
    validation_split: str | None
    meta: dict
    thresholds: dict | None
    labels: list | None  # validation class names
    query_texts: list | None

    @property
    def train(self):
        return self.splits[self.train_split]

    @property
    def validation(self):
        return self.splits[self.validation_split] if self.validation_split else None


def load_train_data(args, world_size: int = 1, log=print) -> TrainData:
    """Load ``--dataset`` and check everything training will need from it (clear errors)."""
    import datasets

    try:
        dd = datasets.load_from_disk(args.dataset)
    except Exception as err:  # FileNotFoundError, datasets' own errors
        raise TrainingConfigError(
            f"--dataset {args.dataset!r} is not a dataset folder ({err}). Build one with "
            "`python -m smoothclap.data build <corpus> --output DIR`.") from None
    if isinstance(dd, datasets.Dataset):
        dd = datasets.DatasetDict({args.train_split: dd})
    splits = dict(dd)
    if args.train_split not in splits:
        raise TrainingConfigError(f"--dataset {args.dataset!r} has no split {args.train_split!r} "
                                  f"(splits: {sorted(splits)}); pick one with --train-split.")
    train = splits[args.train_split]
    if len(train) == 0:
        raise TrainingConfigError(f"the train split {args.train_split!r} of {args.dataset!r} is empty.")
    global_batch = args.batch_size * world_size
    if global_batch > len(train):
        raise TrainingConfigError(
            f"--batch-size {args.batch_size} x {world_size} process(es) = {global_batch} is larger than the "
            f"train split ({len(train)} rows); lower --batch-size (the last incomplete batch is dropped).")
    _check_columns(args, train)
    from smoothclap.data.card import read_metadata

    meta = read_metadata(args.dataset)  # smoothclap.json, {} when there is none
    thresholds = _thresholds(args, meta, train)
    if thresholds is None:
        _check_stored_captions(train, args.train_split)
    validation = _validation_split(args, splits, log)
    labels = queries = None
    if validation is not None:
        labels, queries = validation_queries(args, meta, splits[validation])
    return TrainData(args.dataset, splits, args.train_split, validation, meta, thresholds, labels, queries)


def _check_stored_captions(train, split_name) -> None:
    """Stored captions are the text side: an empty one failed at step 1 with a tokenizer traceback."""
    empty = [str(i) for i, c in zip(train["id"], train["caption"]) if c is None or not str(c).strip()]
    if empty:
        raise TrainingConfigError(f"{len(empty)} row(s) of the {split_name!r} split have an empty caption (ids "
                                  f"{', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''}): fill them, drop those "
                                  "rows, or rebuild the dataset so that captions are drawn from its tags.")


def _check_columns(args, train) -> None:
    cols = set(train.column_names)
    missing = []
    if "audio" not in cols:
        missing.append("audio")
    if "id" not in cols:
        missing.append("id")
    if args.fixed_captions and "caption" not in cols:
        missing.append("caption (--fixed-captions)")
    if not args.fixed_captions and "tag_sentences" not in cols and "caption" not in cols:
        missing.append("tag_sentences or caption")
    if args.local_features == "egemaps" and "egemaps" not in cols:
        missing.append("egemaps (--local-features egemaps; build without --no-features)")
    if args.text_target == "tags" and "tags" not in cols:
        missing.append("tags (--text-target tags)")
    if missing:
        raise TrainingConfigError(
            f"--dataset {args.dataset!r} split {args.train_split!r} lacks the column(s) training needs: "
            f"{', '.join(missing)} (has: {', '.join(sorted(cols))}). Build it with smoothclap.data.")
    if args.local_features == "egemaps":
        values = _fixed_list_to_numpy(_arrow(train, ["egemaps"]).column(0))
        if values.ndim != 2 or not np.all(np.isfinite(values)):
            raise TrainingConfigError(f"the egemaps column of {args.dataset!r} has missing or non-finite values; "
                                      "rebuild the dataset or use --local-features encoder.")


def _thresholds(args, meta, train):
    """thresholds.json when captions are re-drawn from the rows, else None (fixed captions)."""
    if args.fixed_captions:
        return None
    path = os.path.join(args.dataset, THRESHOLDS_FILE)
    if "tag_sentences" not in train.column_names or not os.path.isfile(path):
        if "caption" not in train.column_names:
            raise TrainingConfigError(f"re-drawing captions needs {path} and the tag columns; neither a "
                                      "stored caption column exists.")
        return None  # falls back to the stored captions (logged by the caller)
    from smoothclap.data.captions import load_thresholds

    return load_thresholds(path)


def _validation_split(args, splits, log):
    name = args.validation_split
    if not name or name.lower() == "none":
        log("no validation split requested: the model of the last epoch is exported (no selection).")
        return None
    if name not in splits or len(splits[name]) == 0:
        log(f"warning: the dataset has no {name!r} split (splits: {sorted(splits)}): the model of the LAST "
            "epoch is exported; no model selection, and never on a test split.")
        return None
    return name


def validation_queries(args, meta, split):
    """(class names, query texts) for zero-shot UAR: the dataset's stored ones, or (MSP-Podcast,
    no stored classes) the validation rows' emotions with ``--query-template``."""
    labels, queries = meta.get("labels"), meta.get("query_texts")
    if labels and queries:
        return list(labels), list(queries)
    if "emotion" not in split.column_names:
        raise TrainingConfigError("the validation split has neither stored query texts nor an emotion column; "
                                  "pass --validation-split none.")
    names = sorted({e for e in split["emotion"] if e and e not in EXCLUDED_VALIDATION_LABELS})
    if len(names) < 2:
        raise TrainingConfigError(f"the validation split has {len(names)} emotion class(es); UAR needs two or more.")
    return names, [args.query_template.format(n) for n in names]


def template_from_texts(texts) -> str | None:
    """The template behind query texts that share a frame ("this person is feeling angry.",
    "... sad." -> "this person is feeling {}."): the longest common prefix ending at a word
    boundary and the longest common suffix starting at one; None when there is no frame
    (bare labels, a single text, or texts phrased each their own way)."""
    texts = [str(t) for t in texts or []]
    if len(texts) < 2:
        return None
    prefix = os.path.commonprefix(texts)
    suffix = os.path.commonprefix([t[::-1] for t in texts])[::-1]
    while prefix and prefix[-1].isalnum():  # never cut into the label: back to a word boundary
        prefix = prefix[:-1]
    while suffix and suffix[0].isalnum():
        suffix = suffix[1:]
    if not (prefix or suffix) or any(len(t) <= len(prefix) + len(suffix) for t in texts):
        return None
    return prefix + "{}" + suffix


def query_template(args, data) -> str | None:
    """The template the model is selected with, recorded in its config (`query_template`):
    ``--query-template`` when the validation queries were made from it (or when there are
    none), else the frame of the dataset's stored query texts (None when they have none)."""
    if not data.query_texts:
        return args.query_template  # no validation queries: the template the run was configured with
    if data.query_texts == [args.query_template.format(n) for n in data.labels]:
        return args.query_template
    return template_from_texts(data.query_texts)


def validation_references(data: TrainData) -> list[int]:
    """Class index per validation row (-1 for rows outside the classes, left out of UAR)."""
    split = data.validation
    labels = data.labels
    if "label" in split.column_names and hasattr(split.features["label"], "names"):
        names = split.features["label"].names
        return [labels.index(names[i]) if names[i] in labels else -1 for i in split["label"]]
    column = "label" if "label" in split.column_names and data.meta.get("labels") else "emotion"
    return [labels.index(v) if v in labels else -1 for v in split[column]]


# --------------------------------------------------------------------------- rows and captions
class RowTable:
    """The non-audio columns a batch needs (ids, caption inputs, tags, eGeMAPS), kept in
    Arrow and numpy, never as Python rows.

    The split's Arrow table is memory-mapped from the dataset folder, so every process and
    DataLoader worker shares its pages; Python lists (88 eGeMAPS floats a row as objects)
    cost ~270 MB at MSP-Podcast's 45k rows in every process and worker, as copy-on-write
    breaks on reference counts. ``row(i)`` builds the one row a caption needs, on demand.
    """

    def __init__(self, split, args, thresholds, egemaps_stats=None):
        from smoothclap.data.captions import CAPTION_INPUT_COLUMNS

        self.columns = split.column_names
        needed = [c for c in ("id", "caption", "tags", *CAPTION_INPUT_COLUMNS)
                  if c in self.columns and c != "egemaps"]
        self.table = _arrow(split, list(dict.fromkeys(needed)))  # memory-mapped, no Python rows
        self.egemaps_values = None
        if "egemaps" in self.columns:  # one (rows, 88) float32 array, not 88 Python floats a row
            self.egemaps_values = _fixed_list_to_numpy(_arrow(split, ["egemaps"]).column(0))
        self.num_rows = len(split)
        self.args = args
        self.thresholds = thresholds
        self.variant = args.caption_variant
        self.max_tags = args.max_tags
        self.egemaps_stats = egemaps_stats

    def __len__(self):
        return self.num_rows

    def value(self, i: int, column: str):
        return self.table.column(column)[int(i)].as_py()

    def row(self, i: int) -> dict:
        """Row ``i``'s non-audio values (eGeMAPS as a float list), as make_caption takes them."""
        out = {name: self.table.column(name)[int(i)].as_py() for name in self.table.column_names}
        if self.egemaps_values is not None:
            out["egemaps"] = self.egemaps_values[int(i)].tolist()
        return out

    def caption(self, i: int, epoch: int) -> str:
        if self.thresholds is None:
            return self.value(i, "caption")
        from smoothclap.data.captions import make_caption

        kwargs = {}
        if self.variant:
            kwargs["variant"] = self.variant
        if self.max_tags:
            kwargs["max_tags"] = self.max_tags
        return make_caption(self.row(i), self.thresholds, seed=caption_seed(self.args.seed, epoch), **kwargs)

    def egemaps(self, indices) -> torch.Tensor:
        mean, std = self.egemaps_stats
        x = torch.from_numpy(self.egemaps_values[np.asarray(indices, dtype=np.int64)].astype(np.float64))
        return ((x - mean) / std).float()


def _arrow(split, columns):
    """``columns`` of a datasets split as a pyarrow Table (any row selection applied;
    without one, a zero-copy view of the memory-mapped file)."""
    return split.select_columns(columns).with_format("arrow")[:]


def _fixed_list_to_numpy(column) -> np.ndarray:
    """An Arrow list<float> column of equal-length rows (eGeMAPS) -> (rows, n) float32,
    without Python objects; rows with a null vector become NaN."""
    import pyarrow as pa

    chunks = []
    for chunk in column.chunks:
        if pa.types.is_fixed_size_list(chunk.type):
            width = chunk.type.list_size
        else:
            lengths = chunk.value_lengths().to_numpy(zero_copy_only=False)
            width = int(np.nanmax(lengths)) if len(lengths) else 0
        flat = chunk.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        if chunk.null_count == 0 and len(flat) == width * len(chunk):
            chunks.append(flat.reshape(len(chunk), width))
        else:  # rare: null or ragged rows, one by one
            chunks.append(np.asarray([v if v is not None and len(v) == width else [np.nan] * width
                                      for v in chunk.to_pylist()], dtype=np.float32).reshape(len(chunk), width))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


def caption_defaults(args, meta) -> None:
    """Fill --caption-variant / --max-tags from the dataset's build settings."""
    build = meta.get("build", {})
    if args.caption_variant is None:
        args.caption_variant = build.get("caption_variant")
    if args.max_tags is None:
        args.max_tags = build.get("max_tags")


def egemaps_statistics(train) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-functional mean and std on the train split (std of a constant column -> 1)."""
    x = torch.from_numpy(_fixed_list_to_numpy(_arrow(train, ["egemaps"]).column(0)).astype(np.float64))
    std = x.std(dim=0, unbiased=False)
    return x.mean(dim=0), torch.where(std > 0, std, torch.ones_like(std))


# --------------------------------------------------------------------------- sampling
class EpochSampler(torch.utils.data.Sampler):
    """A seeded permutation of the rows per epoch (``set_epoch``), independent of any global RNG."""

    def __init__(self, num_rows: int, seed: int):
        self.num_rows, self.seed, self.epoch = num_rows, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, self.epoch, 31337]).permutation(self.num_rows).tolist())

    def __len__(self):
        return self.num_rows


class IndexDataset(torch.utils.data.Dataset):
    """Yields row indices; the collator does the work (so it knows the epoch)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return int(i)


# --------------------------------------------------------------------------- collation
def crop_windows(waves, offsets, length: int) -> list[np.ndarray]:
    """The raw window of each clip (its valid samples only, as the processor cuts them)."""
    out = []
    for wave, offset in zip(waves, offsets):
        window, n_valid = crop_or_pad(wave, length, offset)
        out.append(window[:n_valid])
    return out


def extractor_inputs(feature_extractor, windows, pad_length: int | None):
    """(input_values, attention_mask) of raw windows for a separate local extractor, by ITS OWN
    feature extractor (do_normalize or not; normalised over the valid samples only), padded to
    ``pad_length`` (or the longest window)."""
    feats = feature_extractor(windows, sampling_rate=SAMPLING_RATE,
                              padding="max_length" if pad_length else True, max_length=pad_length,
                              return_attention_mask=True, return_tensors="pt")
    return feats["input_values"], feats["attention_mask"]


class Collator:
    """Row indices -> a training batch.

    Output keys: ``index`` (LongTensor), ``ids`` (list of row ids), the tokenised captions,
    and either ``input_values`` + ``audio_attention_mask`` (cropped/padded audio) or
    ``pooled_audio_features`` (+ ``cached_local_features``) from the feature cache;
    ``local_audio_features`` for eGeMAPS; ``tags_*`` token tensors for ``--text-target tags``;
    ``local_input_values`` + ``local_attention_mask`` (uncached) when a separate local extractor
    normalises its input otherwise than SmoothCLAP (``local_processor``: its own feature
    extractor, fed the raw window). The epoch is an attribute set by the loop before each epoch.
    """

    def __init__(self, split, table: RowTable, processor, crop: CropPolicy, args, cache=None,
                 local_processor=None):
        self.audio = split.select_columns(["audio"]) if cache is None else None
        self.table = table
        self.processor = processor
        self.local_processor = local_processor
        self.crop = crop
        self.cache = cache
        self.args = args
        self.epoch = 0

    def audio_inputs(self, indices, epoch) -> dict:
        """The epoch's window of each clip, padded to the window length (masked), through the
        processor (which normalises over the valid samples only)."""
        waves = [self.processor.load_audio(self.audio[int(i)]["audio"]) for i in indices]
        offsets = [self.crop.offset(int(i), epoch, len(w)) for i, w in zip(indices, waves)]
        feats = self.processor(audio=waves, sampling_rate=SAMPLING_RATE, max_duration=self.crop.seconds,
                               pad_to_max_duration=True, crop_offsets=offsets, return_tensors="pt")
        out = {"input_values": feats["input_values"], "audio_attention_mask": feats["audio_attention_mask"]}
        if self.local_processor is not None:  # from the raw windows: normalisation is not invertible
            windows = crop_windows(waves, offsets, self.crop.length)
            out["local_input_values"], out["local_attention_mask"] = extractor_inputs(
                self.local_processor, windows, self.crop.length)
        return out

    def __call__(self, indices):
        epoch = self.epoch
        batch = {"index": torch.tensor(indices, dtype=torch.long),
                 "ids": [self.table.value(i, "id") for i in indices]}
        captions = [self.table.caption(i, epoch) for i in indices]
        batch.update(self.processor(text=captions, return_tensors="pt"))
        if self.cache is None:
            batch.update(self.audio_inputs(indices, epoch))
        else:
            batch.update(self.cache.lookup(indices, epoch))
        if self.args.local_features == "egemaps":
            batch["local_audio_features"] = self.table.egemaps(indices)
        if self.args.text_target == "tags":
            tags = self.processor(text=[self.table.value(i, "tags") for i in indices], return_tensors="pt")
            batch.update({f"tags_{k}": v for k, v in tags.items()})
        return batch


def num_update_steps(args, batches_per_epoch: int) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps) for --epochs / --max-steps.

    accelerate's ``accumulate()`` also steps on the last, shorter window of an epoch, so an
    epoch of n batches takes ceil(n / accumulation) optimizer steps."""
    per_epoch = max(1, math.ceil(batches_per_epoch / args.gradient_accumulation_steps))
    total = per_epoch * args.epochs
    if args.max_steps is not None:
        total = args.max_steps
    return per_epoch, total


def epochs_needed(total_steps: int, per_epoch: int) -> int:
    return int(math.ceil(total_steps / per_epoch))
