"""The Spark engine beside the local engine: features at 12 weekly snapshots of the same demo world.

    python benchmarks/spark_bench.py                          # ~20 M events (100,000 accounts x 180 days)
    python benchmarks/spark_bench.py --accounts 20000         # ~4 M events
    python benchmarks/spark_bench.py --masters "local[2]"     # one pairing only
    python benchmarks/spark_bench.py --accounts 500000 --chunk 100000 --engines spark   # ~100 M events, Spark only

Each run is a fresh process (load + validate, plan, build 12 snapshots). For each Spark master (``--masters``,
default ``local[1]`` then ``local[2]``) the local engine runs first and Spark right after, so each Spark figure
has a yardstick measured minutes apart on the same (possibly busy) machine; the last lines give Spark's time
over the local engine's per pairing and ``local[2]`` over ``local[1]`` (below 1: Spark uses its cores).
Reported: seconds and events per second per stage, the peak RSS
of the driver's Python process, of the JVM (in local mode the driver and the executors) and of the
whole process tree (driver + JVM + Python workers), sampled every 0.2 s; the CPU seconds of that tree for load +
plan + build (a busy machine stretches wall time more than it changes them); how the events divide over the
buckets; and whether both engines produced the same feature table (a hash of every cell).
"""
from __future__ import annotations

import threading

import _common as c


def _tree_sampler(peaks: dict, stop: threading.Event) -> None:
    import psutil

    me = psutil.Process()
    while not stop.is_set():
        try:
            children = me.children(recursive=True)
            own = me.memory_info().rss
            jvm = sum(p.memory_info().rss for p in children if "java" in (p.name() or ""))
            total = own + sum(p.memory_info().rss for p in children)
        except psutil.Error:
            continue
        for key, value in (("driver_python", own), ("jvm", jvm), ("tree", total)):
            peaks[key] = max(peaks.get(key, 0), value / c.MiB)
        stop.wait(0.2)


def _tree_cpu() -> float:
    """CPU seconds (user + system) so far of this process and every process under it (the JVM, Python workers):
    what a run costs in cores, which a busy machine disturbs less than wall time."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


def worker(params: dict) -> dict:
    peaks: dict = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_tree_sampler, args=(peaks, stop), daemon=True)
    sampler.start()
    st = c.Stages()
    import pandas as pd

    from engines.base import engine_for
    from features.config import DataConfig

    settings = {"name": params["engine"]}
    if params["engine"] == "spark":
        settings.update(master=params["master"], partitions=params.get("partitions"),
                        scratch_dir=params["scratch_dir"],
                        conf={"spark.driver.memory": params["driver_memory"], "spark.ui.enabled": "false",
                              "spark.sql.shuffle.partitions": str(params.get("partitions") or 16)})
    with st.stage("start (Spark session)" if params["engine"] == "spark" else "start"):
        engine = engine_for(settings)
        if params["engine"] == "spark":
            engine.spark  # noqa: B018 - the JVM starts here
    data = DataConfig(dir=params["dir"])
    cpu_before = _tree_cpu()
    with st.stage("load + validate", unit="events") as rec:
        tables, report = engine.load_tables(data)
        rec["count"] = report.rows_read["events"]
    as_of = c.mondays_before(tables.data_end_us, params["snapshots"])
    with st.stage("plan_features"):
        spec = engine.plan_features(tables, as_of[-1], c.default_feature_config())
    with st.stage(f"build_features, {params['snapshots']} snapshots", count=report.rows_read["events"],
                  unit="events"):
        frame = engine.build_features(tables, as_of, spec)
    st.info["cpu_s"] = round(_tree_cpu() - cpu_before, 1)
    stop.set()
    sampler.join()
    st.info.update(feature_rows=len(frame), feature_columns=len(spec.names),
                   frame_hash=str(int(pd.util.hash_pandas_object(frame, index=False).sum())),
                   dtypes_hash=",".join(map(str, frame.dtypes)),
                   peaks_mib={k: round(v) for k, v in peaks.items()}, set_aside=report.set_aside)
    state = getattr(tables, "state", None)
    if state is not None:
        per = sorted(state.bucket_events.values())
        st.info["buckets"] = {"n": len(per), "events_min": per[0], "events_median": per[len(per) // 2],
                              "events_max": per[-1]}
    return st.result()


def _run(params: dict, meta: dict) -> dict:
    """One measured process; prints its stages and returns what it measured."""
    before = c.load_average()
    res = c.run_worker(__file__, params)
    info = res["info"]
    label = params["engine"] + (f" {params['master']}" if params["engine"] == "spark" else "")
    print(f"\n{label} (load average {before} -> {c.load_average()}): {info['feature_rows']:,} feature rows x "
          f"{info['feature_columns']} columns; peak RSS MiB {info['peaks_mib']}"
          + (f"; buckets {info['buckets']}" if "buckets" in info else ""))
    for rec in res["stages"]:
        rate = f", {rec['count'] / rec['seconds']:,.0f} {rec['unit']}/s" if rec.get("count") else ""
        print(f"  {rec['stage']:<32} {rec['seconds']:8.1f} s{rate}")
    res["total"] = sum(r["seconds"] for r in res["stages"][1:])
    print(f"  {'load + plan + build':<32} {res['total']:8.1f} s, {meta['rows']['events'] / res['total']:,.0f} events/s, "
          f"{info['cpu_s']:.1f} CPU s (process tree)")
    return res


def main(argv: list[str] | None = None) -> None:
    parser = c.world_parser(__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=12)
    parser.add_argument("--engines", nargs="+", default=["local", "spark"], choices=["local", "spark"])
    parser.add_argument("--masters", nargs="+", default=["local[1]", "local[2]"], help="Spark masters, one pairing each")
    parser.add_argument("--partitions", type=int, default=None, help="account buckets (default: automatic)")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--scratch-dir", default=None, help="engine.scratch_dir (default: a temporary folder)")
    args = parser.parse_args(argv)

    folder = c.ensure_world(args.accounts, args.days, args.events_per_account, chunk=args.chunk)
    meta = c.world_meta(folder)
    print(f"world: {args.accounts:,} accounts, {args.days} days, {meta['rows']['events']:,} events, "
          f"{meta['rows']['touches']:,} touches ({folder}); {c.machine()}")
    base = {"dir": str(folder), "snapshots": args.snapshots, "partitions": args.partitions,
            "driver_memory": args.driver_memory, "scratch_dir": args.scratch_dir}
    pairs = []
    for master in (args.masters if "spark" in args.engines else [None]):
        pair = {e: _run({**base, "engine": e, "master": master}, meta) for e in args.engines}
        pairs.append((master, pair))
        if len(pair) == 2:
            local, spark = pair["local"], pair["spark"]
            same = (local["info"]["frame_hash"] == spark["info"]["frame_hash"]
                    and local["info"]["dtypes_hash"] == spark["info"]["dtypes_hash"])
            print(f"\n{master}: Spark {spark['total']:.1f} s = {spark['total'] / local['total']:.2f}x the local "
                  f"engine's {local['total']:.1f} s; feature tables identical (hash of every cell and dtypes): {same}")
    spark_totals = {m: p["spark"]["total"] for m, p in pairs if "spark" in p}
    if "local[1]" in spark_totals and "local[2]" in spark_totals:
        print(f"\nlocal[2] / local[1]: {spark_totals['local[2]'] / spark_totals['local[1]']:.2f} "
              f"({spark_totals['local[2]']:.1f} s / {spark_totals['local[1]']:.1f} s)")


if __name__ == "__main__":
    import sys

    if "--worker" in sys.argv:
        c.worker_main(worker)
    else:
        main()
