"""Writing a built dataset: the tag columns, joined to the builder's rows, saved with
``datasets``' public API.

``compute_tags`` reads only the metadata columns of a split (never the audio column) and
returns the tag columns as a small dataset; ``save_with_tags`` joins them column-wise to
the builder's splits (``concatenate_datasets(axis=1)``: no row is copied in memory) and
writes the ``save_to_disk`` layout.

Memory (bench/builder_memory.py, 2 workers, N = 40 vs 400 two-second clips, measured on
a shared 2-core machine): this public-API writer and the earlier hand-written one (plain
reads of the builder's Arrow files, hand-written state.json / dataset_info.json) stay
within the same few percent at 10x the clips; see the numbers in dataset_scripts/README.md.
``save_to_disk`` reads the audio through the memory map, so file-backed pages of the
Arrow files count in RSS while a split is saved; they are page cache the kernel can drop,
and the anonymous (heap) memory stays flat.
"""

from __future__ import annotations

import os

import datasets

from .builder import TAG_COLUMNS, tag_features
from .corpus import RATING_KEYS

__all__ = ["add_tags", "compute_tags", "save_with_tags"]

_TAG_INPUT_COLUMNS = ("id", "emotion", "gender", *RATING_KEYS,
                      "duration", "pitch_mean", "pitch_variation", "loudness", "jitter", "shimmer")


def _tag_row(row: dict, thresholds, seed: int, variant: str, max_tags: int) -> dict:
    """Tag columns of one row. The caption functions draw with a generator seeded by
    (seed, id), so the result depends on (seed, id) only, not on row order or worker. A row
    with nothing to say (no emotion, gender or binnable value) gets an empty list and null
    caption/tags."""
    from . import captions

    try:
        return {
            "tag_sentences": captions.tag_sentences(row, thresholds, seed=seed),
            "caption": captions.make_caption(row, thresholds, seed=seed, variant=variant, max_tags=max_tags),
            "tags": captions.compact_tags(row, thresholds),
        }
    except captions.NoTagsError:
        return {"tag_sentences": [], "caption": None, "tags": None}


def compute_tags(ds: datasets.Dataset, thresholds, seed: int = 0, variant: str = "emotion_plus",
                 max_tags: int = 5, num_proc: int | None = None) -> datasets.Dataset:
    """The tag columns (tag_sentences, caption, tags) of ``ds``, one row per row, as a
    small dataset. Only the metadata columns are read (never the audio column)."""
    features = datasets.Features(tag_features())
    if len(ds) == 0:
        return datasets.Dataset.from_dict({k: [] for k in TAG_COLUMNS}, features=features)
    meta = ds.select_columns([c for c in _TAG_INPUT_COLUMNS if c in ds.column_names])
    return meta.map(
        _tag_row,
        fn_kwargs={"thresholds": thresholds, "seed": seed, "variant": variant, "max_tags": max_tags},
        remove_columns=meta.column_names,
        features=features,
        num_proc=num_proc if num_proc and num_proc > 1 else None,
        desc="Tagging",
    )


def add_tags(ds: datasets.Dataset, thresholds, seed: int = 0, variant: str = "emotion_plus",
             max_tags: int = 5, num_proc: int | None = None) -> datasets.Dataset:
    """``ds`` with the tag columns appended (joined column-wise, audio not re-written)."""
    tags = compute_tags(ds, thresholds, seed=seed, variant=variant, max_tags=max_tags, num_proc=num_proc)
    return datasets.concatenate_datasets([ds, tags], axis=1)


def save_with_tags(dd: datasets.DatasetDict, tags: dict[str, datasets.Dataset], output_dir: str | os.PathLike,
                   info: datasets.DatasetInfo) -> None:
    """Save every split of ``dd`` with its tag columns and ``info`` (description, licence,
    ...) in the ``save_to_disk`` layout."""
    joined = {}
    for split, ds in dd.items():
        split_info = info.copy()
        split_info.features = datasets.Features({**ds.features, **tags[split].features})
        if len(ds) == 0:  # concatenating empty tables column-wise loses the tag columns (datasets 5.2)
            joined[split] = datasets.Dataset.from_dict({k: [] for k in split_info.features}, info=split_info,
                                                       split=split)
        else:
            joined[split] = datasets.concatenate_datasets([ds, tags[split]], axis=1, info=split_info, split=split)
    # save_to_disk gives an empty split zero shards, which load_from_disk cannot read
    # back (datasets 5.2): one (empty) shard keeps a split whose rows were all skipped.
    empty = {split: 1 for split, ds in joined.items() if len(ds) == 0}
    datasets.DatasetDict(joined).save_to_disk(str(output_dir), num_shards=empty or None)
