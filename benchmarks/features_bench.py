"""Feature-builder throughput and peak memory: load + validate a Parquet folder, then build_features
for 1 snapshot and for 12 weekly snapshots of a demo world (default 100,000 accounts x 180 days x
~200 events per account: ~20 M events, 12 event types).

    python benchmarks/features_bench.py                       # the default ~20 M events
    python benchmarks/features_bench.py --accounts 20000      # smaller
    python benchmarks/features_bench.py --profile             # also a cProfile of the 12-snapshot run
    python benchmarks/features_bench.py --order interleaved   # events not in time order (see --order)

The demo world is generated once into benchmarks/.cache/; each scenario (1 snapshot, 12 snapshots)
then runs in its own fresh process that loads the tables and builds the features, so its peak RSS
is that of (a) loading + (b) or (c) building, and nothing else. In the same process, after the
product's figures, the yardsticks of benchmarks/reference.py run on the same rows: a plain Parquet read
for the load, a compiled single pass per snapshot for the features (checked equal to the product's
columns); each figure is printed with its reference and the ratio, and the load average.
"""
from __future__ import annotations

import sys
from pathlib import Path

import _common as c

def worker(params: dict) -> dict:
    st = c.Stages()
    with st.stage("imports"):
        import numpy as np

        import reference as ref
        from features.build import build_features
        from features.plan import plan_features
        from features.config import DataConfig
        from features.data.load import load_tables
    feature_config = c.default_feature_config()
    ref.warm_up()

    with st.stage("(a) load_tables + validation", unit="events") as rec:
        tables, report = load_tables(DataConfig(dir=params["dir"]))
        rec["count"] = len(tables.events)
    tables = _reorder(tables, params.get("order", "file"))  # not timed: the product and the yardstick get the same rows
    events = len(tables.events)
    ts = tables.events.ts
    in_time_order = bool(np.all(ts[1:] >= ts[:-1]))
    as_of = c.mondays_before(tables.data_end_us, params["snapshots"])
    with st.stage("plan_features"):
        spec = plan_features(tables, as_of[-1], feature_config)
    label = "(b)" if params["snapshots"] == 1 else "(c)"
    name = f"{label} build_features, {params['snapshots']} snapshot{'s' if params['snapshots'] > 1 else ''}"
    with st.stage(name, count=events, unit="events"):
        frame = build_features(tables, as_of, spec)
    product_peak = c.peak_rss_mib()
    info = dict(rows_read=report.rows_read, events_in_time_order=in_time_order, set_aside={k: v for k, v in report.set_aside.items() if v},
                events_after_validation=events, feature_rows=len(frame), feature_columns=len(spec.names),
                event_types=len(tables.events.names), as_of=[str(t.date()) for t in as_of],
                frame_mib=round(frame.memory_usage(deep=True).sum() / c.MiB), product_peak_mib=product_peak)
    if params.get("reference", True):
        # the yardsticks, in this process after the product's figures (their memory is not counted above)
        as_of_us = [int(t.value // 1000) for t in as_of]
        counts, seconds = ref.window_counts(tables.events, tables.created_us, tables.converted_us, as_of_us,
                                            spec.windows)
        info["reference_build_s"] = seconds
        info["reference_engine"] = ref.engine()
        info["reference_columns"] = len(spec.windows) * (len(tables.events.names) + 1)
        info["checked_equal_columns"] = ref.check_equal(frame, counts, as_of_us, tables.events.names, spec.windows)
        del counts
        rows, seconds = ref.parquet_read(params["dir"])
        info["reference_read_s"], info["reference_read_rows"] = seconds, rows
    st.info.update(info)
    return st.result()


def _reorder(tables, order: str):
    """The tables with their events in another row order: ``file`` (as read), ``interleaved`` (five
    time-ordered parts one after the other, accounts by their number modulo 5, as a log appended by
    five writers and then concatenated), ``random`` (a seeded permutation). The build's result does
    not depend on the order, its speed may: a log in time order is not sorted again."""
    import dataclasses

    import numpy as np

    if order == "file":
        return tables
    ev = tables.events
    perm = (np.argsort(ev.account % 5, kind="stable") if order == "interleaved"
            else np.random.default_rng(0).permutation(len(ev)))
    def take(col):
        return None if col is None else col[perm]
    ev = dataclasses.replace(ev, account=ev.account[perm], kind=ev.kind[perm], ts=ev.ts[perm], user=take(ev.user),
                             quantity=take(ev.quantity))
    return dataclasses.replace(tables, events=ev)


def main(argv: list[str] | None = None) -> None:
    parser = c.world_parser(__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--duplicates", type=int, default=1281,
                        help="exact copies of random events added to the table (0: none; the issue's table had 1,281)")
    parser.add_argument("--snapshots", type=int, nargs="+", default=[1, 12],
                        help="scenarios: number of newest weekly (Monday) snapshots, one fresh process each")
    parser.add_argument("--repeat", type=int, default=1,
                        help="fresh processes per scenario; the fastest is reported (the machine may be shared)")
    parser.add_argument("--no-reference", action="store_true", help="skip the yardsticks (no ratios)")
    parser.add_argument("--order", choices=["file", "interleaved", "random"], default="file",
                        help="row order of the events handed to the build (the cached worlds are in time order, "
                             "or in time order per generated part)")
    parser.add_argument("--profile", action="store_true",
                        help="run the largest scenario once more under cProfile and print the top functions")
    args = parser.parse_args(argv)

    folder = c.ensure_world(args.accounts, args.days, args.events_per_account, args.seed, args.start, args.chunk)
    if args.duplicates:
        folder = c.with_duplicates(folder, args.duplicates)
    meta = c.world_meta(folder)
    print(f"world: {args.accounts:,} accounts, {args.days} days from {args.start}, "
          f"{meta['rows']['events']:,} events ({args.duplicates:,} exact duplicates added), "
          f"{meta['rows']['touches']:,} touches ({folder})")

    paired = []
    for n in args.snapshots:
        runs = []
        for _ in range(args.repeat):
            before = c.load_average()
            res = c.run_worker(__file__, {"dir": str(folder), "snapshots": n, "reference": not args.no_reference,
                                          "order": args.order})
            res["load_average"] = (before, c.load_average())
            runs.append((sum(r["seconds"] for r in res["stages"][1:]), res))
        if args.repeat > 1:
            print(f"  {n:>2} snapshot(s): totals of {args.repeat} runs: "
                  + ", ".join(f"{t:.2f} s" for t, _ in runs) + " (fastest reported)")
        total, res = min(runs, key=lambda r: r[0])
        stages = {r["stage"]: r for r in res["stages"]}
        load = stages["(a) load_tables + validation"]
        build = next(r for r in res["stages"] if "build_features" in r["stage"])
        info = res["info"]
        print(f"  {n:>2} snapshot(s): as of {info['as_of'][0]} .. {info['as_of'][-1]}, {info['feature_rows']:,} "
              f"feature rows x {info['feature_columns']} columns ({info['frame_mib']:,} MiB); events "
              f"{'in' if info['events_in_time_order'] else 'not in'} time order ({args.order}); set aside "
              f"{info['set_aside'] or 'nothing'}; load average {res['load_average'][0]} -> {res['load_average'][1]}")
        ref_read, ref_build = info.get("reference_read_s"), info.get("reference_build_s")
        paired += [
            (f"load + validate [{n}]", load["seconds"], "pyarrow read_table", ref_read, load["peak_rss_mib"]),
            (f"plan_features [{n}]", stages["plan_features"]["seconds"], "", None, None),
            (f"build_features, {n} snapshot(s)", build["seconds"], info.get("reference_engine", ""), ref_build,
             info["product_peak_mib"]),
            (f"load + plan + build, {n} snapshot(s)", total, "read + reference pass",
             None if ref_build is None else ref_read + ref_build, info["product_peak_mib"]),
        ]
        if "checked_equal_columns" in info:
            print(f"      product and reference agree on all {info['checked_equal_columns']} shared columns "
                  f"(the reference makes {info['reference_columns']} per row, the product {info['feature_columns']})")
    print_paired(f"features_bench: {meta['rows']['events']:,} events, {args.accounts:,} accounts; {c.machine()}", paired)

    if args.profile:
        import pstats

        n = max(args.snapshots)
        out = c.CACHE / f"features_bench_{n}.prof"
        print(f"\nprofiling the {n}-snapshot run (cProfile adds overhead) -> {out}")
        c.run_worker(__file__, {"dir": str(folder), "snapshots": n, "reference": False}, profile=str(out))
        pstats.Stats(str(out)).sort_stats("cumulative").print_stats(30)
        pstats.Stats(str(out)).sort_stats("tottime").print_stats(15)


def print_paired(title: str, rows) -> None:
    """figure | seconds | reference | reference seconds | ratio | peak RSS MiB."""
    print(f"\n{title}")
    print(f"| {'figure':<40} | {'seconds':>8} | {'reference':<44} | {'ref. s':>7} | {'ratio':>6} | {'peak RSS MiB':>12} |")
    print(f"|{'-' * 42}|{'-' * 9}:|{'-' * 46}|{'-' * 8}:|{'-' * 7}:|{'-' * 13}:|")
    for name, secs, ref_name, ref_secs, peak in rows:
        ratio = f"{secs / ref_secs:.2f}" if ref_secs else ""
        print(f"| {name:<40} | {secs:8.2f} | {ref_name:<44} | {'' if ref_secs is None else f'{ref_secs:7.2f}':>7} | "
              f"{ratio:>6} | {'' if peak is None else f'{peak:,.0f}':>12} |")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        c.worker_main(worker)
    else:
        main()
