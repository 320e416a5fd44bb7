"""The output folder of a build or an export: checked first, written through a staging
folder, and left as it was when anything fails.

``staged_output(output_dir, overwrite)`` refuses a non-empty folder (without
``overwrite``) or a folder that does not hold an earlier build (even with it) before any
work starts, then yields a fresh staging folder next to ``output_dir``. Only when the
block succeeds does the staging folder replace ``output_dir``, by an atomic swap (Linux
renameat2), so that at every instant ``output_dir`` is the earlier build or the new one,
even under kill -9. A killed build's leftovers (``.OUT.building-*``, ``.OUT.ready-*``,
``.OUT.old-*``) are finished or removed by the next build of the same folder, which says so. On any failure, Ctrl-C included, the staging folder
and every parent folder it had to create are removed: nothing blocks the next build, an
earlier build in ``output_dir`` survives a failed ``--overwrite`` rebuild, and a folder
the user had before is never deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import os
import shutil
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from .corpus import CorpusError

__all__ = ["OUR_FILES", "check_output_dir", "check_output_location", "recover_leftovers", "staged_output"]

ID_FILE = ".smoothclap-build-id"  # in a finished build: which staging folder it was (recovery)
OWNER_FILE = ".smoothclap-owner"  # in a staging folder: "host pid" of the build writing it
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2

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
        raise CorpusError(f"Refusing to overwrite {output_dir}: it does not look like a dataset built by smoothclap.data.")


def check_output_location(path, option: str = "--output", kind: str = "folder", error=CorpusError) -> None:
    """Raise ``error`` (one line) unless ``path`` can be made and written as a ``kind`` ("folder"
    or "file"): not an existing file (folder) or folder (file), not under a file, and its
    nearest existing folder takes a new entry (tried for real: /proc and read-only mounts
    pass os.access for root). Called before any work, so a bad path is no traceback later."""
    target = Path(path).expanduser().absolute()
    if kind == "folder" and target.exists() and not target.is_dir():
        raise error(f"{option} {str(path)!r} is a file; give a folder path.")
    if kind == "file" and target.is_dir():
        raise error(f"{option} {str(path)!r} is a folder; give a file path (e.g. {str(path).rstrip('/')}/out.jsonl).")
    anchor = target if kind == "folder" and target.is_dir() else target.parent
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not anchor.is_dir():
        raise error(f"{option} {str(path)!r} is under {str(anchor)!r}, which is a file, not a folder.")
    try:
        probe = anchor / f".smoothclap-write-test-{uuid.uuid4().hex[:8]}"
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        raise error(f"{option} {str(path)!r}: cannot write in {str(anchor)!r} ({err.strerror}); choose a writable "
                    "location.") from None


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p ``folder``; return the folders it created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders in one step (Linux renameat2 RENAME_EXCHANGE): at every instant each
    path holds one of the two. OSError where the system or file system cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _install(staging: Path, output_dir: Path) -> None:
    """Make the finished staging folder ``output_dir``: marked ready first (so a killed run's
    successor can finish the job), then swapped in atomically; the earlier build is moved
    aside and deleted after the swap. Where an atomic swap is not possible, two renames (a
    run killed between them leaves ``.old-*``, which the next build restores or removes)."""
    build_id = staging.name.rsplit("-", 1)[-1]
    (staging / ID_FILE).write_text(build_id)
    (staging / OWNER_FILE).unlink(missing_ok=True)
    ready = _sibling(output_dir, "ready", build_id)
    staging.rename(ready)
    if output_dir.is_dir() and not any(output_dir.iterdir()):
        output_dir.rmdir()  # an empty folder the user made: nothing to keep
    if not output_dir.exists():
        ready.rename(output_dir)
        return
    old = _sibling(output_dir, "old", build_id)
    try:
        _exchange(ready, output_dir)  # output_dir: the new build; ready: the earlier one
        ready.rename(old)
    except OSError as err:
        if err.errno not in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
            raise
        output_dir.rename(old)
        ready.rename(output_dir)
    shutil.rmtree(old, ignore_errors=True)


def _sibling(output_dir: Path, kind: str, build_id: str) -> Path:
    return output_dir.parent / f".{output_dir.name}.{kind}-{build_id}"


def _alive(owner_file: Path) -> bool:
    """Whether the build that owns a staging folder still runs (its host and pid); unknown
    owners on another host count as alive (never delete what may be in use)."""
    try:
        host, pid = owner_file.read_text().split()
        if host != socket.gethostname():
            return True
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):  # no owner file: a build killed before writing it, or an old one
        return False
    return True


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def recover_leftovers(output_dir: Path) -> list[str]:
    """Finish or remove what killed builds of ``output_dir`` left beside it; one line each.

    - ``.OUT.building-*`` (a build that never finished; its owner is dead): removed.
    - ``.OUT.ready-ID`` (finished, not yet swapped in): swapped in, or, when OUT already holds
      build ID (the swap happened), it is the earlier build: removed.
    - ``.OUT.old-*`` (an earlier build moved aside): removed, or restored when OUT is missing.
    """
    notes, parent, name = [], output_dir.parent, output_dir.name
    if not parent.is_dir():
        return notes
    current = (output_dir / ID_FILE).read_text().strip() if (output_dir / ID_FILE).is_file() else None
    for path in sorted(parent.glob(f".{glob.escape(name)}.building-*")):
        # a build's temporary cache (.OUT.building-ID.cache-*) lives and dies with its staging folder
        staging = parent / path.name.split(".cache-")[0]
        if not _alive(staging / OWNER_FILE):
            notes.append(f"removed {path.name} ({_size_mb(path):.1f} MB), left by a build that was killed")
            shutil.rmtree(path, ignore_errors=True)
    for path in sorted(parent.glob(f".{glob.escape(name)}.ready-*")):
        build_id = path.name.rsplit("-", 1)[-1]
        if current == build_id:  # killed after the swap: this is the earlier build
            notes.append(f"removed {path.name}, the build {output_dir.name} replaced")
            shutil.rmtree(path, ignore_errors=True)
            continue
        notes.append(f"finished installing {path.name} as {output_dir.name} (its build was killed while "
                     "replacing the earlier one)")
        staging = _sibling(output_dir, "building", build_id)
        path.rename(staging)
        _install(staging, output_dir)
        current = build_id
    for path in sorted(parent.glob(f".{glob.escape(name)}.old-*")):
        if output_dir.exists():
            notes.append(f"removed {path.name}, an earlier build of {output_dir.name}")
            shutil.rmtree(path, ignore_errors=True)
        else:
            notes.append(f"restored {output_dir.name} from {path.name} (a build was killed while replacing it)")
            path.rename(output_dir)
    return notes


@contextlib.contextmanager
def staged_output(output_dir: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder; on success its content becomes ``output_dir``."""
    output_dir = Path(output_dir).expanduser().absolute()
    for note in recover_leftovers(output_dir):  # what killed builds of this folder left
        print(f"note: {note}", file=sys.stderr)
    check_output_dir(output_dir, overwrite)
    created = _make_parents(output_dir.parent)
    try:
        # mkdir, not tempfile.mkdtemp: the folder becomes the output, so it gets the
        # user's usual permissions (umask), not mkdtemp's owner-only 0700
        staging = output_dir.parent / f".{output_dir.name}.building-{uuid.uuid4().hex[:12]}"
        staging.mkdir()
        (staging / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}")
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
