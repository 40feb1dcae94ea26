"""Batch-scoring throughput and peak memory for ~1 million accounts: load the tables, build the
features at one as-of, score them as the pyfunc model's ``predict`` does (``cast_input``, then
``Scorer.score``: calibrated score, tiers, rules, reasons) in chunks of ``serve.batch.CHUNK``, and
write the scores table to Parquet with ``serve.write.write_scores``. The yardsticks (a Parquet read,
a compiled feature pass, a bare ``booster.predict``) run after the product, outside its peak RSS.

    python benchmarks/serve_bench.py                            # 1,000,000 accounts, 20 events each
    python benchmarks/serve_bench.py --accounts 100000          # smaller
    python benchmarks/serve_bench.py --profile                  # also a cProfile of the measured process
    python benchmarks/serve_bench.py --scorer DIR               # reuse a saved bundle (no training)

Preparation (not measured, cached in benchmarks/.cache/): a model is trained once with
``run_training`` on a small demo world (``--train-accounts``, real Hydra config) and saved with
``Scorer.save``; the big world is generated in parts of ``--chunk`` accounts (independent demo
worlds with consecutive seeds, ids prefixed per part) because the generator holds
accounts x days latent arrays in memory. Then a fresh process does the measured work: it is what
the nightly ``python -m serve`` does, minus MLflow (model registry, monitoring run).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _common as c


def prepare_scorer(params: dict) -> dict:
    """Worker: train on the small world with the real config and save the Scorer (once)."""
    st = c.Stages()
    from omegaconf import OmegaConf

    from app.preflight import compose_config

    from features.config import DataConfig
    from features.data.load import load_tables
    from train.pipeline import run_training
    from train.settings import TrainSettings

    cfg = compose_config("train", [f"data.dir={params['dir']}", "progress=false"])
    config = OmegaConf.to_container(cfg, resolve=True)
    with st.stage("load + run_training (preparation)"):
        tables, _ = load_tables(DataConfig.from_mapping(config["data"]))
        result = run_training(tables, TrainSettings.from_mapping(config))
    result.scorer.save(params["out"])
    booster = getattr(result.scorer.model, "booster", None)  # (best_iteration_ is 0: no early stopping in this fit)
    st.info.update(trees=booster.num_trees() if booster is not None else None, rows=result.counts,
                   metrics={k: result.metrics.get(k) for k in ("roc_auc", "pr_auc")})
    return st.result()


def worker(params: dict) -> dict:
    st = c.Stages()
    with st.stage("imports"):
        import pandas as pd

        import train.scorer as scorer_module
        from features.build import build_features
        from features.config import DataConfig
        from features.data.load import load_tables
        from rules.language import RuleSet
        from features.spec import FeatureSpec
        from serve.write import write_scores
        from train.models import LightGBMModel, LogisticModel
        from train.scorer import Scorer
        from train.tiers import Tiers
        from train.value import AmountModel
    as_of = pd.Timestamp(params["as_of"])

    with st.stage("load_tables + validation", unit="events") as rec:
        tables, _ = load_tables(DataConfig(dir=params["dir"]))
        rec["count"] = len(tables.events)
    with st.stage("Scorer.load"):
        scorer = Scorer.load(params["scorer"])
    n_accounts = None
    with st.stage("build_features (1 as-of)", unit="accounts") as rec:
        features = build_features(tables, [as_of], scorer.spec)
        rec["count"] = n_accounts = len(features)
    with st.stage("spec.check", count=n_accounts, unit="accounts"):
        scorer.spec.check(features)

    bd = c.Breakdown()
    bd.patch(FeatureSpec, "align", "spec.align (dtypes, categories)")
    for cls in (LightGBMModel, LogisticModel):
        bd.patch(cls, "response", "model response (log-odds)")
        bd.patch(cls, "contributions", "contributions (model.contributions)")
        # what Scorer.score calls: LightGBM's path attribution walks the trees once for both
        bd.patch(cls, "response_and_contributions", "response + contributions (one pass)")
    bd.patch(Tiers, "assign", "tiers")
    bd.patch(AmountModel, "predict", "expected value (amount model)")
    bd.patch(RuleSet, "evaluate", "rules")
    bd.patch(scorer_module, "reasons_text", "reasons (text)")
    bd.patch(scorer_module, "cast_input", "cast_input (the pyfunc's input cast)")
    from serve.batch import CHUNK

    with st.stage("Scorer.score (with reasons)", count=n_accounts, unit="accounts"):
        # as python -m serve scores (serve.batch.score_accounts): the pyfunc's predict -- cast_input, then
        # Scorer.score -- in chunks of serve.batch.CHUNK accounts (one call on a million rows would hold all
        # their contributions at once)
        predicted = pd.concat([scorer.score(scorer_module.cast_input(features.iloc[i:i + CHUNK], scorer.spec))
                               .reset_index(drop=True) for i in range(0, max(len(features), 1), CHUNK)],
                              ignore_index=True)
    total = st.rows[-1]["seconds"]
    parts = [{"stage": f"  - {label}", "seconds": secs, "count": n_accounts, "unit": "accounts",
              "peak_rss_mib": bd.peak[label]} for label, secs in bd.seconds.items()]
    parts.append({"stage": "  - other (calibration, concat)",
                  "seconds": total - sum(bd.seconds.values()), "count": None, "peak_rss_mib": None})

    with st.stage("assemble scores table", count=n_accounts, unit="accounts"):
        # as serve.batch.score_accounts does with the pyfunc model's output
        scores = pd.concat([features[["account_id", "as_of"]].reset_index(drop=True),
                            predicted.reset_index(drop=True)], axis=1)
        scores["pql_tier"] = scores["pql_tier"].astype("Int64")
        scores["model_version"] = "bench"
    del predicted
    with st.stage("write_scores (Parquet, atomic)", count=n_accounts, unit="accounts"):
        # the feature table stays alive meanwhile, as in python -m serve (monitoring reads it)
        where = write_scores(scores, params["output"], "scores", as_of)
    st.info["product_peak_rss_mib"] = c.peak_rss_mib()

    if params.get("reference", True):
        # yardsticks in the same process, after the product's figures (not in its stage peaks)
        import time as _time

        import reference as ref

        ref.warm_up()
        as_of_us = [int(as_of.value // 1000)]
        _, seconds = ref.window_counts(tables.events, tables.created_us, tables.converted_us, as_of_us,
                                       scorer.spec.windows)
        predict_s = 0.0
        for i in range(0, len(features), CHUNK):  # the frames the model itself is given, chunk by chunk
            X = scorer.spec.align(features.iloc[i:i + CHUNK])
            started = _time.perf_counter()
            scorer.model.response(X)  # LightGBM: booster.predict(raw_score=True)
            predict_s += _time.perf_counter() - started
        st.info["reference"] = {"features_s": seconds, "engine": ref.engine(), "predict_s": predict_s,
                                "read_s": ref.parquet_read(params["dir"])[1]}
        del X
    del features
    st.info.update(parts=parts, output=str(where), output_mib=round(Path(where).stat().st_size / c.MiB, 1),
                   tiers={str(k): int(v) for k, v in scores["pql_tier"].value_counts(dropna=False).items()},
                   accounts_in_tables=tables.n_accounts, columns=len(scores.columns),
                   example=scores["reasons"].iloc[0])
    return st.result()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=120, help="history of the scored world (windows reach 90 days)")
    parser.add_argument("--events-per-account", type=float, default=20.0,
                        help="low on purpose, to keep generating a million accounts manageable")
    parser.add_argument("--chunk", type=int, default=100_000, help="accounts per generated part")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--train-accounts", type=int, default=20_000)
    parser.add_argument("--train-days", type=int, default=365)
    parser.add_argument("--train-events-per-account", type=float, default=150.0)
    parser.add_argument("--retrain", action="store_true", help="train the model again even when it is cached")
    parser.add_argument("--scorer", type=Path, default=None,
                        help="score with this saved Scorer bundle (e.g. one cached by an earlier commit) instead")
    parser.add_argument("--profile", action="store_true",
                        help="run the measured process once more under cProfile and print the top functions")
    args = parser.parse_args(argv)
    import pandas as pd

    # 1. the model: trained once on a small world, saved as a Scorer bundle
    train_world = c.ensure_world(args.train_accounts, args.train_days, args.train_events_per_account, args.seed,
                                 args.start)
    # keyed by the commit too: the bundle's files follow the code that wrote them
    code = c.code_version().split()[0]
    bundle = args.scorer or c.CACHE / f"scorer-{train_world.name}-{code}"
    if args.retrain or not (bundle / "meta.json").exists():
        print(f"training the model once on {train_world.name} -> {bundle} ...", flush=True)
        prep = c.run_worker(__file__, {"prepare": True, "dir": str(train_world), "out": str(bundle)})
        print(f"trained in {prep['stages'][0]['seconds']:.1f} s: {prep['info']['trees']} trees, "
              f"{prep['info']['metrics']}", flush=True)

    # 2. the world to score
    world = c.ensure_world(args.accounts, args.days, args.events_per_account, args.seed, args.start, args.chunk)
    meta = c.world_meta(world)
    as_of = pd.Timestamp(args.start) + pd.Timedelta(days=args.days)  # the world's end: "today's midnight"
    output = c.CACHE / "serve_output" / "scores_{date}.parquet"
    print(f"world: {args.accounts:,} accounts, {args.days} days from {args.start}, {meta['rows']['events']:,} events "
          f"(only {args.events_per_account:g} events per account, to keep generation manageable), "
          f"{meta['parts']} generated part(s); model {bundle.name}; as of {as_of:%Y-%m-%d}")
    print(f"machine: {c.machine()}", flush=True)

    params = {"dir": str(world), "scorer": str(bundle), "as_of": str(as_of), "output": str(output)}
    before = c.load_average()
    res = c.run_worker(__file__, params)
    load_average = (before, c.load_average())
    info = res["info"]
    rows = list(res["stages"])
    at = next(i for i, r in enumerate(rows) if r["stage"].startswith("Scorer.score"))
    rows[at + 1:at + 1] = info["parts"]
    measured = [r for r in res["stages"] if r["stage"] != "imports"]
    n = next(r["count"] for r in res["stages"] if r["stage"].startswith("build_features"))
    rows.append({"stage": "total (load -> written file)", "seconds": sum(r["seconds"] for r in measured),
                 "count": n, "unit": "accounts", "peak_rss_mib": info["product_peak_rss_mib"]})
    c.print_table(f"serve_bench: {n:,} eligible accounts of {info['accounts_in_tables']:,} scored as of "
                  f"{as_of:%Y-%m-%d} ({meta['rows']['events']:,} events, {args.events_per_account:g} per account)",
                  rows, note="peak RSS: the measured process's peak so far (a '-' part: when it last returned)")
    print(f"wrote {info['output']} ({info['output_mib']} MiB, {info['columns']} columns); pql_tier counts "
          f"{info['tiers']}; process CPU {res['child_cpu_s']:.1f} s (peak RSS {res['child_maxrss_mib']:,.0f} MiB "
          f"with the yardsticks run after the product); example reasons: {info['example']!r}")

    if "reference" in info:
        r = info["reference"]
        stage = {row["stage"]: row for row in res["stages"]}
        pairs = [("load_tables + validation", "pyarrow read_table of events", r["read_s"]),
                 ("build_features (1 as-of)", r["engine"], r["features_s"]),
                 ("Scorer.score (with reasons)", "bare booster.predict (raw score, no reasons)", r["predict_s"])]
        print(f"\npaired (same process; load average {load_average[0]} -> {load_average[1]}):")
        for name, ref_name, ref_s in pairs:
            if ref_s:
                print(f"  {name}: {stage[name]['seconds']:.2f} s vs {ref_name} {ref_s:.2f} s -> ratio "
                      f"{stage[name]['seconds'] / ref_s:.2f}")

    if args.profile:
        c.profile(__file__, params, "serve_bench")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import json

        task = prepare_scorer if json.loads(sys.argv[sys.argv.index("--worker") + 1]).get("prepare") else worker
        c.worker_main(task)
    else:
        main()
