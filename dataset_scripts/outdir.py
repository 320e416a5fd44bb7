"""The output folder of a build or an export: checked first, written through a staging
folder, and left as it was when anything fails.

``staged_output(output_dir, overwrite)`` refuses a non-empty folder (without
``overwrite``) or a folder that does not hold an earlier build (even with it) before any
work starts, then yields a fresh staging folder next to ``output_dir``. Only when the
block succeeds does the staging folder's content replace ``output_dir``'s (a rename when
``output_dir`` does not exist yet). On any failure, Ctrl-C included, the staging folder
and every parent folder it had to create are removed: nothing blocks the next build, an
earlier build in ``output_dir`` survives a failed ``--overwrite`` rebuild, and a folder
the user had before is never deleted.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from .corpus import CorpusError

__all__ = ["OUR_FILES", "check_output_dir", "staged_output"]

# any of these marks a folder written by `build` or `export-captions`
OUR_FILES = ("dataset_dict.json", "smoothclap.json", "build_report.json")


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    """CorpusError unless ``output_dir`` is missing, empty, or (with ``overwrite``) an
    earlier build."""
    if not output_dir.exists():
        return
    if output_dir.is_dir() and not any(output_dir.iterdir()):
        return
    if not overwrite:
        raise CorpusError(f"Output directory {output_dir} is not empty; pass overwrite=True (CLI: --overwrite).")
    if not (output_dir.is_dir() and any((output_dir / name).exists() for name in OUR_FILES)):
        raise CorpusError(f"Refusing to overwrite {output_dir}: it does not look like a dataset built by dataset_scripts.")


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p ``folder``; return the folders it created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


def _install(staging: Path, output_dir: Path) -> None:
    """Move the staging folder's content into ``output_dir`` (checked by check_output_dir)."""
    if not output_dir.exists():
        staging.rename(output_dir)
        return
    for old in output_dir.iterdir():  # an earlier build (or nothing): replaced, folder kept
        shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    for new in staging.iterdir():
        new.rename(output_dir / new.name)
    staging.rmdir()


@contextlib.contextmanager
def staged_output(output_dir: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder; on success its content becomes ``output_dir``."""
    output_dir = Path(output_dir).expanduser().absolute()
    check_output_dir(output_dir, overwrite)
    created = _make_parents(output_dir.parent)
    try:
        # mkdir, not tempfile.mkdtemp: the folder becomes the output, so it gets the
        # user's usual permissions (umask), not mkdtemp's owner-only 0700
        staging = output_dir.parent / f".{output_dir.name}.building-{uuid.uuid4().hex[:12]}"
        staging.mkdir()
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _install(staging, output_dir)
    except BaseException:
        for folder in reversed(created):  # innermost first; only if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
