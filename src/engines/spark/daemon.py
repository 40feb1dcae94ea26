"""The Python worker daemon of the Spark engine (``spark.python.daemon.module``): PySpark's own daemon,
started after the feature kernel's modules (pandas, pyarrow, DuckDB, ``features``) are imported, so every
worker it forks has them loaded already instead of importing them on its first task, and PySpark's pandas-3
warning silenced (see :mod:`engines.spark.session`).

The imported objects are then frozen out of the garbage collector (``gc.freeze``): PySpark's worker runs a full
``gc.collect()`` after every task, and with those modules loaded each one walked some hundred thousand objects,
about 20-30 ms per task (a 40-task stage of empty tasks on ``local[1]`` took 1.8 s, 0.5 s frozen). Frozen
objects are never collected, which costs nothing here: the modules stay loaded for the worker's life anyway.
"""
from __future__ import annotations

import gc


def prepare() -> int:
    """Import the kernel's modules, silence PySpark's pandas-3 warning and freeze every object so far out of the
    garbage collector; the number of objects frozen."""
    import duckdb  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    import engines.bucket_kernel  # noqa: F401 - features.build, features.data.load and what they import
    from engines.spark.session import quiet_pandas_warning

    quiet_pandas_warning()
    gc.collect()  # what is garbage already is freed, not frozen
    gc.freeze()
    return gc.get_freeze_count()


if __name__ == "__main__":
    from pyspark.daemon import manager

    prepare()
    manager()
