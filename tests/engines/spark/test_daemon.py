"""The Spark engine's worker daemon (engines.spark.daemon): the kernel's modules imported before PySpark's daemon
forks its workers, and every object so far frozen out of the garbage collector, so the full collection PySpark's
worker runs after each task does not walk them."""
from __future__ import annotations

import gc
import sys

from engines.spark.daemon import prepare


def test_prepare_imports_the_kernel_and_freezes_its_objects() -> None:
    try:
        frozen = prepare()
        # pandas, pyarrow, DuckDB and features: many objects. (A frozen object that dies leaves the count, and
        # other threads of a test worker free some: the count may fall a little, never to what a thaw leaves.)
        assert frozen > 10_000 and 0.99 * frozen <= gc.get_freeze_count() <= frozen
        assert {"duckdb", "pandas", "pyarrow", "engines.bucket_kernel"} <= set(sys.modules)
        gc.collect()
        assert 0.99 * frozen <= gc.get_freeze_count() <= frozen  # a collection leaves them alone
    finally:
        gc.unfreeze()  # this test process goes on collecting as usual
