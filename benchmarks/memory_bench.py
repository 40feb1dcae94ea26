"""The local engine within a memory budget (issue 22): the same load + plan + build of 12 weekly snapshots, once
in memory and once with ``engine.memory_gb`` (account buckets), each in a fresh process, paired in one run:
time, peak RSS, and whether the feature tables are identical (cell for cell, compared from Parquet files the
workers write after their peak is taken).

    PQL_BENCH_CACHE=/tmp/pql_bench python benchmarks/memory_bench.py --accounts 500000 --chunk 100000 --memory-gb 3

``--stream``: the bucketed run builds features bucket by bucket through ``map_accounts`` and keeps only a
checksum per bucket (a log whose feature table is bigger than the budget: 1 B events); ``--no-whole`` skips the
in-memory run (it would not fit). ``--copies 10``: the world's events ten times over, copy ``k``'s timestamps
``k`` seconds later, the same accounts (``_common.with_copies``: 1 B events from the cached 100 M-event world in
minutes; each account has ten times its events, so the feature table keeps the 100 M run's 3.9 M rows):

    PQL_BENCH_CACHE=/tmp/pql_bench python benchmarks/memory_bench.py --accounts 500000 --chunk 100000 --copies 10 \
        --memory-gb 8 --no-whole
"""
from __future__ import annotations

import time
from pathlib import Path

import _common as c


def worker(params: dict) -> dict:
    """Load, plan and build in this process; the figures, and the feature table written to ``params['out']``."""
    import numpy as np
    import pandas as pd

    from engines.local import LocalEngine
    from engines.settings import EngineConfig
    from features.config import DataConfig

    engine = LocalEngine(EngineConfig(memory_gb=params["memory_gb"]))
    started = time.perf_counter()
    tables, report = engine.load_tables(DataConfig(dir=params["dir"]))
    loaded = time.perf_counter()
    as_of = c.mondays_before(tables.data_end_us, params["snapshots"])
    spec = engine.plan_features(tables, as_of[-1], c.default_feature_config())
    if params.get("stream"):
        def task(bucket, progress):
            from features.build import build_features

            frame = build_features(bucket, as_of, spec)
            sums = pd.util.hash_pandas_object(frame, index=False).to_numpy().sum(dtype=np.uint64)
            return (pd.DataFrame({"as_of": [as_of[-1]], "account_id": [str(frame["account_id"].iloc[0])
                                                                       if len(frame) else ""],
                                  "rows": [len(frame)], "hash": [int(sums)]}),)
        summary = engine.map_accounts(tables, task)[0]
        rows, frame = int(summary["rows"].sum()), None
    else:
        frame = engine.build_features(tables, as_of, spec)
        rows = len(frame)
    seconds, peak = time.perf_counter() - started, c.peak_rss_mib()
    buckets = getattr(getattr(tables, "state", None), "buckets", 1)
    if frame is not None and params.get("out"):
        frame.to_parquet(params["out"], index=False)
    return {"seconds": round(seconds, 2), "load_s": round(loaded - started, 2), "peak_mib": round(peak),
            "buckets": buckets, "rows": rows, "events": report.rows_read.get("events", 0),
            "columns": len(spec.names)}


def main() -> None:
    """Generate (once) the world, run the in-memory and the budgeted worker, print them side by side."""
    parser = c.world_parser(__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--snapshots", type=int, default=12)
    parser.add_argument("--memory-gb", type=float, default=3.0)
    parser.add_argument("--whole-first", action="store_true", help="run the in-memory worker first")
    parser.add_argument("--no-whole", action="store_true", help="skip the in-memory run")
    parser.add_argument("--copies", type=int, default=1,
                        help="the world's events this many times, copy k shifted k seconds (1 B events from 100 M)")
    parser.add_argument("--stream", action="store_true", help="bucketed run: checksums per bucket, no whole table")
    args = parser.parse_args()
    folder = c.ensure_world(args.accounts, args.days, args.events_per_account, args.seed, args.start, args.chunk)
    folder = c.with_copies(folder, args.copies)
    print(f"commit {c.code_version()}, world {folder.name}, load average {c.load_average()}", flush=True)
    runs = {"in memory": None, f"engine.memory_gb={args.memory_gb:g}": args.memory_gb}
    order = list(runs) if args.whole_first else list(runs)[::-1]
    results = {}
    for name in order:
        if args.no_whole and runs[name] is None:
            continue
        out = folder.parent / f"{folder.name}-features-{'whole' if runs[name] is None else 'budget'}.parquet"
        params = {"dir": str(folder), "snapshots": args.snapshots, "memory_gb": runs[name], "out": str(out),
                  "stream": bool(args.stream and runs[name] is not None)}
        results[name] = c.run_worker(Path(__file__), params) | {"file": out}
        r = results[name]
        print(f"{name}: {r['seconds']:.1f} s (load {r['load_s']:.1f} s), peak {r['peak_mib']:,} MiB "
              f"(process {r['child_maxrss_mib']:,.0f} MiB with the Parquet write), {r['buckets']} bucket(s), "
              f"{r['events']:,} events -> {r['rows']:,} rows x {r['columns']} features, load average "
              f"{c.load_average()}", flush=True)
    if len(results) == 2 and not args.stream:
        import pyarrow.parquet as pq

        whole, budget = (pq.read_table(r["file"]) for r in (results["in memory"], results[list(runs)[1]]))
        same = whole.equals(budget)
        ratio = results[list(runs)[1]]["seconds"] / results["in memory"]["seconds"]
        print(f"identical feature tables: {same}; time ratio (budget / in memory) {ratio:.2f}")
    for r in results.values():
        Path(r["file"]).unlink(missing_ok=True)


if __name__ == "__main__":
    import sys

    if "--worker" in sys.argv:
        c.worker_main(worker)
    else:
        main()
