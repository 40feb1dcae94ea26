"""Run a command under ``spark-submit`` (which takes a Python file, not ``-m``)::

    spark-submit --master yarn ... src/engines/spark/submit.py serve engine=spark engine.master=null \
        engine.scratch_dir=hdfs:///tmp/pql as_of=...

The first argument is the command (``features``, ``train`` or ``serve``), the rest are its overrides;
``engine.master=null`` lets the session take the master ``spark-submit`` gives it; on a cluster
``engine.scratch_dir`` is a folder every executor reaches (where the account buckets wait).
"""
from __future__ import annotations

import runpy
import sys

COMMANDS = ("features", "train", "serve")

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: spark-submit [options] {__file__} {{{','.join(COMMANDS)}}} [key=value ...]", file=sys.stderr)
        sys.exit(2)
    command = sys.argv[1]
    sys.argv = [command, *sys.argv[2:]]
    runpy.run_module(command, run_name="__main__", alter_sys=True)
