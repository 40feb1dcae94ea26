"""The verdict table: on the demo world, its quirk variants and the hand-made worlds (``benchmarks/worlds.py``),
what the chosen model achieves against the logistic baseline, the learned list and every hand rule.

    python benchmarks/verdict_bench.py                      # every world (a few minutes each on 2 cores)
    python benchmarks/verdict_bench.py --world demo linear  # some of them
    python benchmarks/verdict_bench.py --override model=lightgbm

Each world is trained with the real config (``python -m train``'s defaults plus the overrides; no MLflow): the
table gives the model that ships, ROC AUC of the reported backtest beside the logistic baseline's, the mean
score's level against the base rate, the conversions a week at the capacity with the difference from the best
hand rule and from the learned list (95% interval over the accounts), and on the demo worlds the ROC AUC of
the true probability on the same rows (the oracle: no model can rank better). Not a test: it asserts nothing.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _common as c

DEMO_VARIANTS = ("demo", "short_log", "late_labels", "stale_pools", "no_fit", "single_event", "day_resolution",
                 "id_column", "no_touches", "no_user_ids", "bare")
MADE = ("linear", "one_event_days", "signups_stop", "first_day")
DEMO = ["data.demo.accounts=3000", "data.demo.days=365", "data.demo.start=2025-01-06"]


def overrides_for(world: str, folder: Path) -> list[str]:
    """The Hydra overrides that point a run at one world."""
    if world in MADE:
        import worlds

        return [f"data.dir={worlds.write(folder, world)}"]
    from demo import VARIANTS

    quirks = {} if world == "demo" else VARIANTS[world]
    return [*DEMO, *(f"data.demo.{k}={v}" for k, v in quirks.items())]


def oracle_auc(result, config: dict) -> float | None:
    """ROC AUC of the demo world's true probability on the reported backtest rows (None off the demo world)."""
    if config["data"].get("dir") or config["data"].get("duckdb"):
        return None
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from demo import DemoConfig, generate_demo
    from features.config import DataConfig

    world = generate_demo(DemoConfig(**DataConfig.from_mapping(config["data"]).demo_world()))
    test = result.test  # the instant each row was looked at (first looks fall inside their snapshot's week)
    test = pd.DataFrame({"account_id": test["account_id"], "label": test["label"],
                         "as_of": test["looked_at"] if "looked_at" in test else test["as_of"]})
    truth = world.true_probability(pd.DatetimeIndex(sorted(test["as_of"].unique())),
                                   int(config["label"]["horizon_days"]))
    merged = test.merge(truth[["account_id", "as_of", "p_true"]], on=["account_id", "as_of"], how="left")
    merged = merged.dropna(subset=["p_true"])
    return float(roc_auc_score(merged["label"], merged["p_true"])) if merged["label"].nunique() == 2 else np.nan


def worker(params: dict) -> dict:
    """Train on one world in this process; return the verdict row."""
    from omegaconf import OmegaConf

    from app.paths import CONF_DIR
    from app.preflight import compose_config
    from features.data.load import load_tables
    from train.origin import Origin
    from train.pipeline import run_training
    from train.settings import settings_for

    config = OmegaConf.to_container(compose_config("train", ["progress=false", *params["overrides"]]), resolve=True)
    settings, data, notes = settings_for(config, CONF_DIR)
    began = time.perf_counter()
    result = run_training(load_tables(data)[0], settings, Origin(notes=tuple(notes)))
    m, cap = result.metrics, result.capacity
    row = {"world": params["world"], "ships": result.scorer.meta.get("model"), "seconds": time.perf_counter() - began,
           "roc_auc": m["roc_auc"], "baseline_roc_auc": m.get("baseline_roc_auc"),
           "level": m["mean_score"] / m["base_rate"] - 1 if m["base_rate"] else None,
           "conversions_per_week": cap.get("model_conversions_per_week"),
           "baseline_precision_at_capacity": m.get("baseline_precision_at_capacity"),
           "precision_at_capacity": m["precision_at_capacity"]}
    for key in ("versus_rule", "versus_learned"):
        versus = cap.get(key) or {}
        row[key] = (f"{versus.get('name')}: {versus.get('added_per_week', 0):+.1f} "
                    f"({versus.get('added_low', 0):+.1f} to {versus.get('added_high', 0):+.1f})") if versus else "-"
    row["versus_logistic"] = _versus_logistic(result)
    try:
        row["oracle_roc_auc"] = oracle_auc(result, config)
    except Exception as exc:  # noqa: BLE001 - the oracle is a courtesy column
        row["oracle_roc_auc"] = None
        row["oracle_error"] = str(exc)[:200]
    return row


def _versus_logistic(result) -> str:
    """The shipped model's conversions a week at capacity beyond the logistic candidate's, with the interval of
    the run's candidate table ("-" when the logistic model ships or there was no choice)."""
    table = result.candidates
    if table is None or "calls_vs_shipped" not in table:
        return "-"
    row = table.set_index("candidate").loc["logistic"] if "logistic" in set(table["candidate"]) else None
    if row is None or bool(row["ships"]):
        return "-"
    return f"{-row['calls_vs_shipped']:+.1f} ({-row['calls_high']:+.1f} to {-row['calls_low']:+.1f})"


def main(argv: list[str] | None = None) -> None:
    """Run every world in a fresh process each and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", nargs="*", default=[*DEMO_VARIANTS, *MADE], choices=[*DEMO_VARIANTS, *MADE])
    parser.add_argument("--override", action="append", default=[], help="a Hydra override of conf/train.yaml")
    args = parser.parse_args(argv)
    folder = c.CACHE / "made-worlds"
    rows = []
    for world in args.world:
        params = {"world": world, "overrides": [*overrides_for(world, folder), *args.override]}
        rows.append(c.run_worker(__file__, params))
        print(_line(rows[-1]), flush=True)
    print()
    print("\n".join(_line(r) for r in rows))


def _line(row: dict) -> str:
    def f(v, fmt):
        return "-" if v is None or v != v else format(v, fmt)
    oracle = row.get("oracle_roc_auc")
    ratio = f(row["roc_auc"] / oracle if oracle else None, ".3f")
    return (f"{row['world']:15s} {str(row['ships']):15s} AUC {f(row['roc_auc'], '.3f')} (logistic "
            f"{f(row['baseline_roc_auc'], '.3f')}, oracle {f(oracle, '.3f')}, ratio {ratio})  level "
            f"{f(row['level'], '+.1%')}  prec@cap {f(row['precision_at_capacity'], '.1%')} (logistic "
            f"{f(row['baseline_precision_at_capacity'], '.1%')})  conv/wk {f(row['conversions_per_week'], '.1f')}  "
            f"vs logistic {row.get('versus_logistic', '-')}  "
            f"vs best rule {row['versus_rule']}  vs learned {row['versus_learned']}  {row['seconds']:.0f}s")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        c.worker_main(worker)
    else:
        main()
