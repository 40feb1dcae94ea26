"""The cores a Spark task may use: its libraries' thread pools held to ``spark.task.cpus``.

DuckDB and pyarrow size their thread pools to the whole machine, so one task on ``local[1]`` kept both cores of a
2-core machine busy, and ``local[2]`` (two tasks, four busy threads) could only save waiting time: ``local[N]``
did not mean N cores. Each task on an executor calls :func:`use_task_cores` first; pyarrow's CPU pool is then
the task's share, and the bucket kernel gives its DuckDB connection as many threads
(:func:`engines.bucket_kernel.load_threads` reads pyarrow's count). The local engine never calls it: it keeps
every core. A Python worker runs one task at a time, so setting the process-wide pools per task is safe.
"""
from __future__ import annotations

import pyarrow as pa


def task_cpus() -> int:
    """The cores Spark gave the running task (``spark.task.cpus``, default 1); 1 outside a task."""
    from pyspark import TaskContext

    context = TaskContext.get()
    return max(1, int(context.cpus())) if context is not None else 1


def use_task_cores() -> int:
    """pyarrow's CPU and I/O thread pools set to the running task's cores (which the bucket kernel's DuckDB
    connections follow); the number set."""
    n = task_cpus()
    if pa.cpu_count() != n:
        pa.set_cpu_count(n)
    # I/O threads mostly wait, but the split's reads decode in them: more than the task's cores would oversubscribe
    if pa.io_thread_count() != n:
        pa.set_io_thread_count(n)
    return n
