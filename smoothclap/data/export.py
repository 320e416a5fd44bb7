"""Sharing a built dataset: ``export_captions`` (a copy without audio, for corpora whose
licence forbids sharing it) and ``push_to_hub`` (upload with the builder's own card)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import datasets

from .binning import THRESHOLDS_FILE
from .card import CARD_FILE, METADATA_FILE, label_texts, read_metadata, write_card, write_metadata
from .corpus import CorpusError
from .outdir import staged_output
from .report import REPORT_FILE, BuildReport

__all__ = ["HubUploadError", "export_captions", "push_to_hub", "upload_command"]

# files of a built folder that travel with the data (the card is uploaded first, see push_to_hub)
_SIDE_FILES = (CARD_FILE, THRESHOLDS_FILE, REPORT_FILE, METADATA_FILE)


class HubUploadError(RuntimeError):
    """Uploading a finished local build failed (no network, no token, no permission, ...).
    The message says that the local build is complete and how to upload it later."""


def _require_built(dataset_dir: Path) -> None:
    if not (dataset_dir / "dataset_dict.json").is_file():
        raise CorpusError(f"{dataset_dir} is not a dataset built by `python -m smoothclap.data build` (no dataset_dict.json).")


def export_captions(input_dir: str | os.PathLike, output_dir: str | os.PathLike, overwrite: bool = False) -> datasets.DatasetDict:
    """Write a copy of a built dataset without the audio column (ids, labels, features,
    tags, captions), with its own card. For corpora whose licence forbids sharing audio."""
    input_dir = Path(input_dir).expanduser()
    output_dir = Path(output_dir).expanduser()
    _require_built(input_dir)
    if output_dir.resolve() == input_dir.resolve():
        raise CorpusError("export-captions needs an output directory different from the input.")
    dd = datasets.load_from_disk(str(input_dir))
    meta = read_metadata(input_dir)
    if not meta:
        labels, texts = label_texts(dd)
        meta = {"corpus": "unknown", "config": "unknown", "labels": labels, "query_texts": texts}
    out = datasets.DatasetDict(
        {split: ds.remove_columns([c for c in ("audio",) if c in ds.column_names]) for split, ds in dd.items()}
    )
    meta = dict(meta, captions_only=True, exported_from=input_dir.resolve().name,  # a name: the card is shared
                splits={s: len(d) for s, d in out.items()})
    report = BuildReport.read_json(input_dir / REPORT_FILE) if (input_dir / REPORT_FILE).is_file() else None
    with staged_output(output_dir, overwrite) as staging:
        out.save_to_disk(str(staging))  # no audio column: small rows
        for name in (THRESHOLDS_FILE, REPORT_FILE):
            if (input_dir / name).is_file():
                shutil.copyfile(input_dir / name, staging / name)
        write_metadata(staging, meta)
        write_card(staging, meta, report, meta.get("thresholds"), meta["splits"], captions_only=True)
    del dd, out
    return datasets.load_from_disk(str(output_dir))


def upload_command(dataset_dir: str | os.PathLike, repo_id: str, private: bool = True) -> str:
    """The command that uploads a finished build later."""
    return f"python -m smoothclap.data push-to-hub --input {dataset_dir} --repo {repo_id}" + ("" if private else " --public")


def push_to_hub(dataset_dir: str | os.PathLike, repo_id: str, private: bool = True) -> None:
    """Upload a built (or captions-only) dataset directory with its own dataset card (the
    one with the licence warning), thresholds, report and metadata files.

    Refuses a public repository with audio when the corpus licence forbids sharing it.
    Any failure of the upload itself raises HubUploadError, one message that says the
    local build is complete and how to upload it later."""
    dataset_dir = Path(dataset_dir).expanduser()
    _require_built(dataset_dir)
    meta = read_metadata(dataset_dir)
    dd = datasets.load_from_disk(str(dataset_dir))
    _check_licence(meta, dd, repo_id, private)
    try:
        _upload(dataset_dir, dd, repo_id, private)
    except Exception as err:
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        if len(reason) > 300:
            reason = reason[:297] + "..."
        raise HubUploadError(
            f"The local build in {dataset_dir} is complete, but uploading it to {repo_id} failed ({reason}). "
            f"Upload it later with: {upload_command(dataset_dir, repo_id, private)}"
        ) from err


def _check_licence(meta: dict, dd: datasets.DatasetDict, repo_id: str, private: bool) -> None:
    has_audio_bytes = any("audio" in ds.column_names for ds in dd.values()) and not meta.get("build", {}).get("paths_only")
    if not has_audio_bytes or meta.get("redistribute_audio") is not False:
        return
    if not private:
        raise CorpusError(
            f"The {meta.get('corpus')} licence does not allow redistributing its audio: refusing a "
            "public push. Push the output of `export-captions` instead, or a private repository."
        )
    print(f"warning: {meta.get('corpus')} audio may not be redistributed; keep {repo_id} private.", file=sys.stderr)


def _upload(dataset_dir: Path, dd: datasets.DatasetDict, repo_id: str, private: bool) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi()
    repo_id = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True).repo_id
    # The card goes up first: DatasetDict.push_to_hub keeps the text of a README.md it
    # finds in the repository and only updates its YAML header (dataset_info, configs),
    # so the repository shows this builder's card, licence warning included.
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(dataset_dir / name))
                  for name in _SIDE_FILES if (dataset_dir / name).is_file()]
    api.create_commit(repo_id, operations=operations, commit_message="SmoothCLAP dataset card and build files",
                      repo_type="dataset")
    dd.push_to_hub(repo_id, private=private)
