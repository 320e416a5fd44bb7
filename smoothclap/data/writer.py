"""Writing a built dataset: the tag columns, appended to the builder's rows while they are
streamed into the ``save_to_disk`` layout.

``compute_tags`` reads only the metadata columns of a split (never the audio column) and
returns the tag columns as a small dataset. ``save_with_tags`` then writes each split in
the layout ``datasets.load_from_disk`` reads: the builder's Arrow files are read as plain
streams, one record batch (``builder.CHUNK_SIZE`` rows) at a time, the tag columns of
those rows appended, and the batch written out with pyarrow (one output shard per builder
shard); ``dataset_info.json`` comes from ``DatasetInfo.write_to_directory``, ``state.json``
(a documented six-key file) is written here.

Why not the public ``concatenate_datasets([rows, tags], axis=1).save_to_disk(...)``
(tried; ``tests/test_builder_common.py`` checks both give the same dataset):
``save_to_disk`` reads the source through its memory map, so every audio page becomes
resident in the build process, and copies ~100 MB batches. bench/builder_memory.py (N = 40
vs 400 two-second clips, 2 workers, shared 2-core machine under load), peak at 10N / N:
  public save_to_disk: main RSS 175 -> 211 MB (1.21x), main anon 109 -> 124 MB (1.14x),
                       tree RSS 1.02x, tree PSS 1.06x;
  this streamed writer: main RSS 178 -> 186 MB (1.04x), main anon 113 -> 120 MB (1.06x),
                       tree RSS 1.02x, tree PSS 1.04x (the hand-written writer it
                       replaced, on datasets' internals: 1.03x / 1.04x / 1.02x / 1.02x).
The public path's growth is the memory-mapped audio (file-backed, so it grows with the
corpus: about +36 MB per 23 MB of audio here, i.e. gigabytes for MSP-Podcast); this path
stays flat.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import datasets
import pyarrow as pa

from .builder import TAG_COLUMNS, tag_features

__all__ = ["add_tags", "compute_tags", "save_with_tags"]


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
                 max_tags: int | None = None, num_proc: int | None = None) -> datasets.Dataset:
    """The tag columns (tag_sentences, caption, tags) of ``ds``, one row per row, as a
    small dataset. Only the columns captions read are touched (never the audio column).
    ``max_tags``: None for the captions module's default."""
    from . import captions

    features = datasets.Features(tag_features())
    if len(ds) == 0:
        return datasets.Dataset.from_dict({k: [] for k in TAG_COLUMNS}, features=features)
    if max_tags is None:
        max_tags = captions.DEFAULT_MAX_TAGS
    meta = ds.select_columns([c for c in captions.CAPTION_INPUT_COLUMNS if c in ds.column_names])
    return meta.map(
        _tag_row,
        fn_kwargs={"thresholds": thresholds, "seed": seed, "variant": variant, "max_tags": max_tags},
        remove_columns=meta.column_names,
        features=features,
        num_proc=num_proc if num_proc and num_proc > 1 else None,
        desc="Tagging",
    )


def add_tags(ds: datasets.Dataset, thresholds, seed: int = 0, variant: str = "emotion_plus",
             max_tags: int | None = None, num_proc: int | None = None) -> datasets.Dataset:
    """``ds`` with the tag columns appended (joined column-wise, audio not re-written)."""
    tags = compute_tags(ds, thresholds, seed=seed, variant=variant, max_tags=max_tags, num_proc=num_proc)
    return datasets.concatenate_datasets([ds, tags], axis=1)


def save_with_tags(dd: datasets.DatasetDict, tags: dict[str, datasets.Dataset], output_dir: str | os.PathLike,
                   info: datasets.DatasetInfo) -> None:
    """Save every split of the builder's ``dd`` with its tag columns and ``info``
    (description, licence, ...) in the ``save_to_disk`` layout, streaming."""
    output_dir = Path(output_dir)
    for split, ds in dd.items():
        _write_split(ds, tags[split], output_dir / split, info, split)
    (output_dir / "dataset_dict.json").write_text(json.dumps({"splits": list(dd)}), encoding="utf-8")


def _write_split(ds: datasets.Dataset, tags: datasets.Dataset, split_dir: Path, info: datasets.DatasetInfo,
                 split: str) -> None:
    """One split: a shard per builder Arrow file (one empty shard for a split whose rows
    were all skipped), then dataset_info.json and state.json."""
    features = datasets.Features({**ds.features, **tags.features})
    sources = [c["filename"] for c in ds.cache_files]  # the builder's Arrow files, in row order
    if len(ds) and not sources:
        raise RuntimeError(f"split {split!r} is not backed by Arrow files")
    tag_table = tags.with_format("arrow")[:] if len(tags) else None
    split_dir.mkdir(parents=True)
    names = [f"data-{i:05d}-of-{max(1, len(sources)):05d}.arrow" for i in range(max(1, len(sources)))]
    offset = 0
    for source, name in zip(sources or [None], names):
        offset = _write_shard(source, tag_table, offset, split_dir / name, features.arrow_schema)
    if offset != len(ds) or offset != len(tags):
        raise RuntimeError(f"split {split!r}: wrote {offset} rows, expected {len(ds)} (tags {len(tags)})")
    split_info = info.copy()
    split_info.features = features
    split_info.write_to_directory(str(split_dir), pretty_print=True)
    digest = hashlib.sha256(json.dumps([split, sources]).encode())
    if tag_table is not None:
        digest.update(_ipc_bytes(tag_table))
    state = {  # what Dataset.save_to_disk writes for a dataset without format or indices
        "_data_files": [{"filename": name} for name in names],
        "_fingerprint": digest.hexdigest()[:16],
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": split,
    }
    (split_dir / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")


def _write_shard(source: str | None, tag_table, offset: int, path: Path, schema: pa.Schema) -> int:
    """Copy one builder Arrow file batch by batch (plain reads, no memory map), appending
    the tag columns of the same rows; return the new row offset."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        if source is None:
            return offset
        with pa.OSFile(source, "rb") as src:
            for batch in pa.ipc.open_stream(src):
                if batch.num_rows == 0:
                    continue
                part = tag_table.slice(offset, batch.num_rows)
                columns = list(batch.columns) + [part.column(c) for c in TAG_COLUMNS]
                writer.write_table(pa.Table.from_arrays(columns, schema=schema))
                offset += batch.num_rows
    return offset


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()
