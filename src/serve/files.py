"""Several output files replaced together, as nearly at once as files allow (the scores, their alerts, a kept copy).

Every file is first written in full to a temporary file beside its target; only when all of them are written
are they renamed over their targets, one after the other. A failure (or a crash) while writing leaves every
target as it was and removes the temporary files; what remains is the moment between the renames (a few
system calls), where a crash can leave some targets new and the others old. A rerun of the day rewrites all
of them from the same comparison, so it puts that right.

Hand-written rather than taken from a library: the atomic-write packages replace one file at a time, and the
point here is to write every file before renaming any.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.io import write_frame


@dataclass(frozen=True)
class Staged:
    """One file to replace: its target, and what fills it -- a frame, or (``same_as``) the file staged for
    another target, hard-linked (copied where the file system has no hard links)."""

    target: Path
    frame: pd.DataFrame | None = None
    same_as: Path | None = None


def _link(source: str, path: str) -> None:
    """``path`` holding what ``source`` holds: a hard link (no second copy on disk), else a copy."""
    Path(path).unlink(missing_ok=True)
    try:
        os.link(source, path)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, path)


def replace_together(files: list[Staged], mode: int) -> list[Path]:
    """Write every file of ``files`` to a temporary file beside its target, give each ``mode``, then rename them
    over their targets in the order given; returns the targets. Nothing is renamed unless all were written."""
    staged: dict[Path, str] = {}
    made: list[Path] = []  # folders made here: removed again if nothing is written
    try:
        for item in files:
            made += [p for p in (item.target.parent, *item.target.parent.parents) if not p.exists()][::-1]
            item.target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{item.target.name}.", suffix=".tmp", dir=item.target.parent)
            os.close(fd)
            staged[item.target] = tmp
            if item.same_as is not None:
                _link(staged[item.same_as], tmp)
            else:
                write_frame(item.frame, tmp, item.target.suffix.lower())
            os.chmod(tmp, mode)
    except BaseException as exc:
        for tmp in staged.values():
            Path(tmp).unlink(missing_ok=True)
        for folder in reversed(made):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename in (None, *staged.values()):
            failed = next(reversed(staged)) if staged else files[0].target  # the file being written (a full disk)
            raise OSError(exc.errno, exc.strerror, str(failed)) from exc
        raise
    _rename(staged)
    return list(staged)


def _rename(staged: dict[Path, str]) -> None:
    """The renames, back to back; a failure (a vanished folder) removes the temporary files not yet renamed."""
    done = 0
    try:
        for target, tmp in staged.items():
            os.replace(tmp, target)  # atomic on POSIX within one file system
            done += 1
    finally:
        for tmp in list(staged.values())[done:]:
            Path(tmp).unlink(missing_ok=True)

