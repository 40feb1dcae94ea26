"""A Spark task's libraries use the cores Spark gave the task (``spark.task.cpus``), not the whole machine."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]


def _pools(_: int) -> tuple[int, int, int, int, int]:
    """In a task: the cores it was given, and pyarrow's and a bucket load's DuckDB thread counts after
    :func:`use_task_cores`."""
    import pyarrow as pa

    from engines.bucket_kernel import load_threads
    from engines.spark.cores import task_cpus, use_task_cores

    pa.set_cpu_count(4)  # as a worker starts: the machine's count (4 here, whatever the machine has)
    set_ = use_task_cores()
    return task_cpus(), set_, pa.cpu_count(), pa.io_thread_count(), load_threads()


def test_a_task_uses_its_own_cores(spark) -> None:
    cpus = int(spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    for seen in spark.sparkContext.parallelize(range(2), 2).map(_pools).collect():
        assert seen == (cpus,) * 5


def test_outside_a_task_one_core() -> None:
    from engines.spark.cores import task_cpus

    assert task_cpus() == 1
