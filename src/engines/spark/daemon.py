"""The Python worker daemon of the Spark engine (``spark.python.daemon.module``): PySpark's own daemon,
started after the feature kernel's modules (pandas, pyarrow, DuckDB, ``features``) are imported, so every
worker it forks has them loaded already instead of importing them on its first task, and PySpark's pandas-3
warning silenced (see :mod:`engines.spark.session`)."""
from __future__ import annotations

if __name__ == "__main__":
    import duckdb  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    import engines.bucket_kernel  # noqa: F401 - features.build, features.data.load and what they import
    from engines.spark.session import quiet_pandas_warning
    from pyspark.daemon import manager

    quiet_pandas_warning()
    manager()
