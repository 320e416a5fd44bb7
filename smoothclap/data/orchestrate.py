"""``build()``: one corpus into one ``save_to_disk`` folder, end to end.

builder (``builder.py``: scan, decode, eGeMAPS, Arrow) -> bin thresholds (``binning.py``)
-> tag and caption columns, streamed into the ``save_to_disk`` layout (``writer.py``) ->
``thresholds.json``, ``build_report.json``, ``smoothclap.json`` and the dataset card
(``card.py``), all written through a staging folder (``outdir.py``: a failed build leaves
nothing behind) -> optional upload (``export.push_to_hub``).

Disk: the intermediate Arrow data (in ``cache_dir``, by default a temporary folder next to
the output, deleted afterwards) plus the output: about twice the audio size.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import datasets

from .binning import THRESHOLDS_FILE, choose_thresholds, load_given_thresholds
from .builder import BUILDER_VERSION, SmoothClapBuilder
from .card import description_with_metadata, make_metadata, write_card, write_metadata
from .corpus import CorpusError, check_options, get_config, get_corpus
from .outdir import check_output_location, staged_output
from .report import REPORT_FILE, BuildReport
from .writer import compute_tags, save_with_tags

__all__ = ["build"]

# tag rows in parallel only when it pays for starting the processes
_PARALLEL_TAGGING_ROWS = 20000


def build(
    corpus,
    data_dir: str | os.PathLike | None,
    output_dir: str | os.PathLike,
    *,
    config_name: str | None = None,
    options: Mapping | None = None,
    num_workers: int = 1,
    seed: int = 0,
    caption_variant: str = "emotion_plus",
    max_tags: int | None = None,
    thresholds: str | os.PathLike | Mapping | None = None,
    paths_only: bool = False,
    drop_unknown: bool = False,
    cache_dir: str | os.PathLike | None = None,
    features: bool = True,
    overwrite: bool = False,
    progress: bool = False,
    start_method: str | None = None,
    push_to_hub_repo: str | None = None,
    private: bool = True,
) -> datasets.DatasetDict:
    """Build a corpus into ``output_dir`` (``save_to_disk`` layout) and return it.

    ``corpus``: a registry name (``python -m smoothclap.data list``), a dotted module path
    or a corpus module. ``options``: the corpus' scanner options as one dict (its
    ``OPTIONS``; an undeclared key is a CorpusError listing the valid ones), e.g.
    ``{"num_speakers": 4}`` for the demo or ``{"exclude_other": True}`` for MSP-Podcast.

    ``seed``, ``caption_variant``, ``max_tags`` (None: ``captions.DEFAULT_MAX_TAGS``): the
    captions, see ``captions.make_caption``.

    Also writes ``thresholds.json``, ``build_report.json``, ``smoothclap.json`` (labels,
    query texts, build settings) and a dataset card ``README.md``. ``thresholds``: a
    ``thresholds.json`` to reuse (its acoustic cut points always; its arousal/valence/
    dominance cut points only from a corpus on the same rating scale, see binning.py) or a
    dict used verbatim; default: fit on the train split (or on all rows, noted in the
    card, when there is none). ``cache_dir``: where the intermediate Arrow data goes;
    default a temporary folder next to ``output_dir``, deleted afterwards. With an explicit
    ``cache_dir`` the generated data (the eGeMAPS pass, the slow part) is reused by a later
    build with the same corpus, config, data dir and options, e.g. to change the captions.
    ``num_workers`` > 1 runs eGeMAPS in worker processes (``start_method``: multiprocessing
    start method, default forkserver, see egemaps.FeatureExtractorPool); a script that
    calls ``build`` with workers needs the usual ``if __name__ == "__main__":`` guard.
    Nothing is left in ``output_dir`` when the build fails. ``push_to_hub_repo``: upload
    the result afterwards (``export.push_to_hub``; a failed upload raises
    ``HubUploadError`` and leaves the finished local build in place).
    """
    from . import captions

    check_output_location(output_dir, "--output")
    if cache_dir is not None:
        check_output_location(cache_dir, "--cache-dir")
    if max_tags is not None and (isinstance(max_tags, bool) or not isinstance(max_tags, int) or max_tags < 0):
        raise CorpusError(f"--max-tags must be an integer >= 0 (tag sentences per caption), got {max_tags!r}.")
    module = get_corpus(corpus)
    options = check_options(module, options)
    config_name, config = get_config(module, config_name, data_dir, options)
    if caption_variant not in captions.CAPTION_VARIANTS:
        raise CorpusError(f"Unknown caption variant {caption_variant!r}; choose from {list(captions.CAPTION_VARIANTS)}.")
    given = load_given_thresholds(thresholds) if thresholds is not None else None
    if max_tags is None:
        max_tags = captions.DEFAULT_MAX_TAGS
    settings = {
        "corpus": module.NAME,
        "config": config_name,
        # the folder's name, not its path: the settings go into the card and smoothclap.json,
        # which are shared with the dataset (`smoothclap publish` refuses local paths)
        "data_dir": Path(data_dir).expanduser().resolve().name if data_dir is not None else None,
        "options": options,
        "seed": seed,
        "caption_variant": caption_variant,
        "max_tags": max_tags,
        "thresholds": None if given is None else given.label,
        "paths_only": paths_only,
        "features": features,
        "drop_unknown": drop_unknown,
        "builder_version": BUILDER_VERSION,
        "datasets_version": datasets.__version__,
    }
    builder_kwargs = dict(num_workers=num_workers, paths_only=paths_only, features=features, options=options,
                          drop_unknown=drop_unknown, progress=progress, start_method=start_method)
    output_dir = Path(output_dir).expanduser()
    with staged_output(output_dir, overwrite) as staging:
        with _cache_dir(cache_dir, staging) as cache:
            builder = SmoothClapBuilder(module, config_name, data_dir, cache_dir=cache, **builder_kwargs)
            report = _prepare(builder, reuse=cache_dir is not None)
            dd = builder.as_dataset_dict()
            chosen = choose_thresholds(dd, given, corpus=module.NAME, config=config_name,
                                       rating_scale=config.rating_scale, report=report)
            num_proc = num_workers if sum(len(d) for d in dd.values()) >= _PARALLEL_TAGGING_ROWS else None
            tags = {split: compute_tags(ds, chosen.values, seed=seed, variant=caption_variant, max_tags=max_tags,
                                        num_proc=num_proc) for split, ds in dd.items()}
            _note_uncaptioned(tags, report)
            meta = make_metadata(module, config_name, config, description=config.description,
                                 citation=config.citation, redistribute_audio=config.redistribute_audio,
                                 rating_scale=config.rating_scale, thresholds=chosen.values,
                                 thresholds_source=chosen.describe(), splits={s: len(d) for s, d in dd.items()},
                                 build=settings, **_split_assignment(report))
            info = datasets.DatasetInfo(description=description_with_metadata(config.description, meta),
                                        citation=config.citation, homepage=config.homepage, license=config.license)
            save_with_tags(dd, tags, staging, info)
            del dd, tags
        captions.save_thresholds(chosen.values, staging / THRESHOLDS_FILE, metadata=chosen.metadata)
        report.write_json(staging / REPORT_FILE)
        write_metadata(staging, meta)
        write_card(staging, meta, report, chosen.values, meta["splits"])
    result = datasets.load_from_disk(str(output_dir))
    result.build_report = report  # convenience for callers (not persisted; see build_report.json)
    if push_to_hub_repo:
        from .export import push_to_hub

        push_to_hub(output_dir, push_to_hub_repo, private=private)
    return result


@contextlib.contextmanager
def _cache_dir(cache_dir, staging: Path) -> Iterator[str]:
    """The given cache folder (kept), or a temporary one next to the staging folder,
    deleted afterwards."""
    if cache_dir is not None:
        yield str(Path(cache_dir).expanduser())
        return
    tmp = tempfile.mkdtemp(prefix=f"{staging.name}.cache-", dir=str(staging.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _prepare(builder: SmoothClapBuilder, reuse: bool) -> BuildReport:
    """Generate the builder's Arrow data (or reuse it from an explicit cache folder) and
    return the checked report."""
    report_cache = Path(builder.cache_dir) / REPORT_FILE
    reuse = reuse and report_cache.is_file()
    try:
        builder.download_and_prepare(
            download_mode="reuse_dataset_if_exists" if reuse else "force_redownload",
            verification_mode="no_checks",
        )
    except Exception as err:
        cause = _corpus_error_in(err)
        if cause is not None and cause is not err:
            raise cause from None
        raise
    if reuse and builder.report.input_rows == 0:  # nothing generated: the data came from the cache
        report = BuildReport.read_json(report_cache)
        report.note(f"Arrow data reused from the cache {builder.cache_dir}")
        return report
    report = builder.report
    report.check()
    report.write_json(report_cache)
    return report


def _corpus_error_in(err: BaseException) -> CorpusError | None:
    """datasets wraps generator errors in DatasetGenerationError: find the CorpusError."""
    seen = err
    while seen is not None:
        if isinstance(seen, CorpusError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _split_assignment(report: BuildReport) -> dict:
    """How a scanner made the splits (split=speaker or split_file), for smoothclap.json."""
    return {"split_assignment": report.split_assignment} if report.split_assignment else {}


def _note_uncaptioned(tags: Mapping[str, datasets.Dataset], report: BuildReport) -> None:
    uncaptioned = sum(t.data.column("caption").null_count for t in tags.values())
    if uncaptioned:
        report.note(
            f"{uncaptioned} rows have no caption (no emotion, gender or binnable value); "
            "their caption and tags are null"
        )
