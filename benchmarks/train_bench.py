"""Training time and peak memory of ``train.pipeline.run_training`` (split, features, LightGBM with
early stopping, calibration, tiers, backtest) on ~1 million labelled snapshot rows, without MLflow.

    python benchmarks/train_bench.py                          # 36,000 accounts x 500 days: ~1 M rows
    python benchmarks/train_bench.py --accounts 10000         # smaller
    python benchmarks/train_bench.py --override model=logistic --override backtest.folds=2
    python benchmarks/train_bench.py --profile                # also a cProfile of the measured process

The demo world is generated once into benchmarks/.cache/. The measured process is fresh: it
composes the real Hydra config (conf/train.yaml, ``data.dir`` pointing at the cached world), loads
the tables and calls ``run_training``. Inside it the functions the pipeline calls are wrapped with
timers (benchmark-side only), giving the share of each part: feature building, LightGBM, ...
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import _common as c


def worker(params: dict) -> dict:
    st = c.Stages()
    with st.stage("imports"):
        import lightgbm
        from omegaconf import OmegaConf

        import train.backtest as backtest
        import train.compare as compare
        import train.design as design
        import train.learned.folds as learned
        import train.measures as measures
        import train.pipeline as pipeline
        from features import drift
        from features.config import DataConfig
        from features.data.load import load_tables
        from rules.language import RuleSet
        from features.spec import FeatureSpec
        from train.calibrate import Calibrator
        from train.models import LightGBMModel, LogisticModel
        from train.settings import TrainSettings
        from train.tiers import Tiers

    with st.stage("compose Hydra config (conf/train.yaml)"):
        from app.preflight import compose_config

        cfg = compose_config("train", [f"data.dir={params['dir']}", "progress=false", *params["overrides"]])
        config = OmegaConf.to_container(cfg, resolve=True)
        settings = TrainSettings.from_mapping(config)

    with st.stage("load_tables + validation", unit="events") as rec:
        tables, _ = load_tables(DataConfig.from_mapping(config["data"]))
        rec["count"] = len(tables.events)

    # Time the parts of run_training by wrapping what it calls (exclusive time per label).
    bd = c.Breakdown()
    nrows = lambda a, k, out: len(out)  # noqa: E731
    bd.patch(pipeline, "plan_features", "features: plan_features")
    bd.patch(design, "plan_features", "features: plan_features")
    bd.patch(design, "build_training_table", "features: build_training_table", count=nrows)
    bd.patch(FeatureSpec, "align", "spec.align (dtypes, categories)")
    bd.patch(backtest, "probe_trees", "early stopping: number of trees (once, oldest fold)",
             count=lambda a, k, out: len(a[2]))
    bd.patch(backtest, "fit_model", "fit models (folds + production; LightGBM and the baseline)",
             count=lambda a, k, out: len(a[1]))
    bd.patch(learned, "backtest", "learned definitions (per fold + production)")
    bd.patch(Calibrator, "fit", "calibrate (cross-fitted choice + final)")
    for cls in (LightGBMModel, LogisticModel):
        bd.patch(cls, "contributions", "contributions (tiers, importance, test)", count=lambda a, k, out: len(out))
        bd.patch(cls, "response", "predict")
    bd.patch(lightgbm.LGBMClassifier, "predict_proba", "predict")
    bd.patch(Tiers, "fit", "tiers")
    bd.patch(Tiers, "assign", "tiers")
    bd.patch(RuleSet, "evaluate", "rules and comparison")
    bd.patch(compare, "compare_rules", "rules and comparison")
    for name in ("probability_metrics", "volume_metrics"):
        bd.patch(measures, name, "evaluation metrics")
    bd.patch(pipeline, "deciles", "evaluation metrics")
    bd.patch(drift, "reference", "drift reference")

    # the largest fit (the production model's rows) is kept for the yardstick below
    fits: list = []
    timed_fit = backtest.fit_model

    def recording_fit(*a, **k):
        out = timed_fit(*a, **k)
        if not fits or len(a[1]) >= len(fits[0][0]):
            fits[:] = [(a[1], a[2], out)]
        return out

    backtest.fit_model = recording_fit
    with st.stage("run_training", unit="rows") as rec:
        result = pipeline.run_training(tables, settings)
        rec["count"] = result.counts["n_train"]
    n_fits = bd.calls.get("fit models (folds + production; LightGBM and the baseline)", 0)
    if fits and params.get("reference", True) and hasattr(fits[0][2], "booster"):
        import reference as ref

        X, y, fitted = fits[0]
        booster = fitted.booster
        lgb_params = {k: v for k, v in booster.params.items() if k not in ("num_iterations", "n_estimators",
                                                                            "early_stopping_round")}
        st.info["reference"] = {"seconds": ref.bare_lightgbm(X, y, lgb_params, booster.num_trees()),
                                "rows": len(y), "trees": booster.num_trees(), "model_fits": n_fits}
    st.info["folds"] = [{k: f[k] for k in ("fold", "n_train", "trees", "roc_auc", "pr_auc", "precision_at_capacity")}
                        for f in result.folds]
    total = st.rows[-1]["seconds"]
    parts = [{"stage": f"  - {label}", "seconds": secs, "count": bd.rows.get(label),
              "unit": "rows", "peak_rss_mib": bd.peak[label]} for label, secs in bd.seconds.items()]
    parts.append({"stage": "  - other (folds, frames, sampling)", "seconds": total - sum(bd.seconds.values()),
                  "count": None, "peak_rss_mib": None})
    booster = getattr(result.scorer.model, "booster", None)
    trees = booster.num_trees() if booster is not None else None
    st.info.update(counts=result.counts, design_rows=len(result.frame),
                   snapshots={"folds": len(result.folds), "test": len(result.plan.test),
                              "production_train": len(result.plan.final_train)},
                   trees=trees, model=settings.model.name, parts=parts,
                   feature_seconds=sum(s for label, s in bd.seconds.items() if label.startswith("features:")),
                   metrics={k: result.metrics.get(k) for k in ("roc_auc", "pr_auc", "precision_at_capacity", "brier",
                                                               "base_rate", "baseline_roc_auc", "learned_precision")})
    return st.result()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=36_000)
    parser.add_argument("--days", type=int, default=500,
                        help="500 days give ~66 labelled weekly snapshots, ~1 M snapshot rows with 36,000 accounts")
    parser.add_argument("--events-per-account", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override of the train config (repeatable)")
    parser.add_argument("--profile", action="store_true",
                        help="run the measured process once more under cProfile and print the top functions")
    args = parser.parse_args(argv)

    folder = c.ensure_world(args.accounts, args.days, args.events_per_account, args.seed, args.start)
    meta = c.world_meta(folder)
    print(f"world: {args.accounts:,} accounts, {args.days} days from {args.start}, {meta['rows']['events']:,} events "
          f"({folder.name})\nmachine: {c.machine()}")
    params = {"dir": str(folder), "overrides": args.override}
    before = c.load_average()
    res = c.run_worker(__file__, params)
    res["load_average"] = (before, c.load_average())
    info = res["info"]
    rows = [r for r in res["stages"]]
    at = next(i for i, r in enumerate(rows) if r["stage"] == "run_training")
    rows[at + 1:at + 1] = info["parts"]
    rows.append({"stage": "whole measured process (peak)", "seconds": sum(r["seconds"] for r in res["stages"]),
                 "count": None, "peak_rss_mib": res["child_maxrss_mib"]})
    counts, snaps = info["counts"], info["snapshots"]
    c.print_table(f"train_bench: {info['design_rows']:,} snapshot rows ({counts['n_train']:,} train the production "
                  f"model, {counts['n_test']:,} test in {counts['n_folds']} folds) x {counts['n_features']} features, "
                  f"model {info['model']}", rows,
                  note="peak RSS of a part: the process peak when it last returned; '-' rows are parts of run_training")
    run = rows[at]
    for f in info.get("folds", []):
        print(f"fold {f['fold']}: {f['n_train']:,} training rows, {f['trees']} trees, ROC AUC {f['roc_auc']:.4f}, "
              f"PR AUC {f['pr_auc']:.4f}, precision at capacity {f['precision_at_capacity']:.4f}")
    print(f"snapshots: {snaps}; trees: {info['trees']}; metrics: "
          + ", ".join(f"{k} {v:.4f}" for k, v in info["metrics"].items() if v is not None))
    print(f"feature building share of run_training: {info['feature_seconds']:.1f} s of {run['seconds']:.1f} s "
          f"({100 * info['feature_seconds'] / run['seconds']:.0f} %); run_training {run['count'] / run['seconds']:,.0f} "
          f"rows/s; process CPU {res['child_cpu_s']:.1f} s, peak RSS {res['child_maxrss_mib']:,.0f} MiB")

    if "reference" in info:
        r = info["reference"]
        print(f"\npaired: run_training {run['seconds']:.1f} s vs a bare lightgbm.train of the production model's "
              f"{r['rows']:,} rows x {r['trees']} trees {r['seconds']:.1f} s -> ratio {run['seconds'] / r['seconds']:.1f} "
              f"(run_training fitted {r['model_fits']} models: folds and production, LightGBM and the baseline, plus "
              f"one early-stopping probe); "
              f"load average {res['load_average'][0]} -> {res['load_average'][1]}")

    if args.profile:
        c.profile(__file__, params, "train_bench")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        # as python -m train does (app.command), before LightGBM loads OpenMP: threads that spin while they wait
        # made the measured process burn both cores and run ~2x slower whenever anything else ran
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        c.worker_main(worker)
    else:
        main()
