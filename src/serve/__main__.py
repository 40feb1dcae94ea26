"""python -m serve as_of=DATE -- the nightly batch job: score every eligible account, write atomically."""
from __future__ import annotations

import hydra
from omegaconf import DictConfig

from features.app import CONF_DIR, exits_cleanly, log, plain
from features.config import DataConfig
from features.load import load_tables
from features.windows import to_timestamp
from serve.batch import score_accounts
from serve.monitor import monitor
from serve.write import write_scores
from train import tracking
from train.settings import TrackingConfig


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="serve")
@exits_cleanly
def main(cfg: DictConfig) -> None:
    as_of = to_timestamp(cfg.as_of)
    track = TrackingConfig(**plain(cfg.tracking))
    uri, version = tracking.resolve_model(cfg.model_uri, track)  # no model: fail before reading any data
    model = tracking.load_model(uri, track)
    scorer = model.unwrap_python_model().scorer
    tables, report = load_tables(DataConfig.from_mapping(plain(cfg.data)))
    for line in report.lines():
        log.info(line)
    scores, features = score_accounts(tables, model, scorer.spec, as_of, version, progress=cfg.progress)
    where = write_scores(scores, cfg.output, cfg.output_table, as_of)
    checks = monitor(scores, features, scorer.reference, cfg.evaluation.capacity_per_week, cfg.monitoring.psi_warn)
    for warning in checks.warnings:
        log.warning(warning)
    run_id = tracking.log_scoring(track, {"as_of": str(as_of), "model_uri": uri, "model_version": version,
                                          "output": where}, checks.metrics, {"drift.csv": checks.drift})
    tiers = scores["pql_tier"].value_counts().sort_index()
    log.info("as of %s: %s accounts scored with model %s (v%s) -> %s", as_of, f"{len(scores):,}", uri, version, where)
    log.info("PQL tiers: %s; monitoring run %s", ", ".join(f"{k}: {v:,}" for k, v in tiers.items()) or "none",
             run_id)


if __name__ == "__main__":
    main()
