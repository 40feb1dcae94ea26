"""Writing tables to files atomically: a crash leaves the previous file intact, never half a file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from features.errors import ConfigError

FILE_FORMATS = (".parquet", ".csv")


def write_file(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``.parquet`` or ``.csv`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise ConfigError(f"output: '{path}' must end in .parquet or .csv")
    return _replace(path, lambda tmp: write_frame(frame, tmp, suffix))


def write_frame(frame: pd.DataFrame, path: str, suffix: str) -> None:
    """``frame`` written to ``path`` as ``suffix`` says (``.parquet`` or ``.csv``), in place: callers that replace
    files atomically write to a temporary path with it."""
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        raise ConfigError(f"output: '{path}' must end in .parquet or .csv")


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write UTF-8 text atomically (a temporary file beside ``path`` renamed over it), as :func:`write_file`."""
    return _replace(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _replace(path: Path, fill: Callable[[str], Any]) -> Path:
    """``fill`` a temporary file beside ``path``, then rename it over ``path``. On any failure the temporary file
    is removed and the previous file stays; an OSError (a full disk) names ``path`` when it named no file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        fill(tmp)
        # mkstemp creates the file 0600: give it the mode a plain open() would have (0666 less the umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)  # atomic on POSIX within one file system
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename in (None, tmp):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    return path


def check_output(output: str | os.PathLike, inputs: list[Path], formats: tuple[str, ...] | None = FILE_FORMATS,
                 key: str = "output") -> Path:
    """Refuse, before any work, an output file that cannot or must not be written (ConfigError).

    The suffix must be one of ``formats`` (None: any), the path must not be a folder, its nearest
    existing ancestor must be a writable folder, and it must not be (or lie inside) any input of the
    data source (``inputs``: table files, part folders, the DuckDB database).
    """
    path = Path(output).expanduser()
    if path.is_dir():
        raise ConfigError(f"{key}: '{path}' is a folder, not a file")
    if formats is not None and path.suffix.lower() not in formats:
        raise ConfigError(f"{key}: '{path}' must end in {' or '.join(formats)}")
    resolved = path.resolve()
    for source in inputs:
        if resolved == source or source in resolved.parents:
            raise ConfigError(f"{key}: '{path}' is an input of the data source ({source}); "
                              f"writing there would destroy it: choose another path")
    ancestor = resolved.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{key}: '{path}' cannot be created: '{ancestor}' is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}: '{path}' cannot be written: folder '{ancestor}' is not writable")
    return path
