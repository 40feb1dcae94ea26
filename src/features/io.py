"""Writing tables to files atomically: a crash leaves the previous file intact, never half a file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from .errors import ConfigError

FILE_FORMATS = (".parquet", ".csv")


def write_file(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``.parquet`` or ``.csv`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise ConfigError(f"output: '{path}' must end in .parquet or .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        os.replace(tmp, path)  # atomic on POSIX within one file system
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
