"""The scoring job as one call: config in, scores written and the run recorded (``__main__`` and tests use it)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engines.base import engine_for
from features.config import DataConfig
from features.data.sources import input_files
from features.windows import to_timestamp
from train import tracking
from train.config import TrackingConfig

from serve.alerts import AlertsConfig, alert_counts, alerts
from serve.batch import ScoringTask
from serve.history import History
from serve.monitor import Monitoring, monitor, sized_for
from serve.write import LOCK_WAIT_SECONDS, check_target, output_of, with_source_key, write_scores

log = logging.getLogger("pql")


@dataclass
class ServeJob:
    """What a scoring run did: the as-of, the scores table, where it was written, the monitoring checks and
    their run, and the model (URI and version) that scored."""

    as_of: pd.Timestamp
    scores: pd.DataFrame
    written_to: str
    monitoring: Monitoring
    monitoring_run: str
    model_uri: str
    model_version: str
    alerts: pd.DataFrame | None = None  # None: the output keeps no history (or engine=spark)
    alerts_written_to: str | None = None


def run_job(config: dict[str, Any]) -> ServeJob:
    """Check the output, resolve and load the model (before touching data), build features at ``as_of``,
    score, write, record."""
    as_of = to_timestamp(config["as_of"])
    data = DataConfig.from_mapping(config["data"])
    engine = engine_for(config.get("engine"))
    if engine.name == "spark":  # a Parquet dataset partitioned by day, or a catalog table
        from engines.spark.write import spark_target

        output = spark_target(config.get("output") or config.get("output_dir"), engine.settings.scores_table)
        history = None
    else:
        output = output_of(config)  # output, or output_dir + output_pattern
        check_target(output, as_of, input_files(data), config.get("output_table"))  # a bad output fails before any work
        history = History.of(output, config.get("output_table", "pql_scores"), as_of, input_files(data),
                             float(config.get("output_wait_seconds", LOCK_WAIT_SECONDS)),
                             AlertsConfig(**(config.get("alerts") or {})))
    track = TrackingConfig(**config["tracking"])
    params = {"as_of": str(as_of), "output": str(output)}
    try:
        return _score(config, as_of, data, output, track, params, engine, history)
    except Exception as exc:  # recorded as a FAILED run with the reason, then reported as usual
        tracking.log_scoring_failure(track, params, exc)
        raise


def _score(config: dict[str, Any], as_of: pd.Timestamp, data: DataConfig, output, track: TrackingConfig,
           params: dict[str, str], engine, history: History | None) -> ServeJob:
    uri, version = tracking.resolve_model(config.get("model_uri"), track)
    params.update(model_uri=uri, model_version=version)
    model = tracking.load_model(uri, track)
    scorer = model.unwrap_python_model().scorer
    log.info("scores are P(convert within %s days) of model %s (version %s)", scorer.meta.get("horizon_days"), uri,
             version)
    previous = history.previous(as_of) if history and history.alerts_output else (None, None)  # before slow work
    tables, report = engine.load_tables(data, instants=[as_of])
    for line in report.lines():
        log.info(line)
    # the engine runs the task where its tables are: here, or per bucket of accounts on Spark's executors
    scores, features = engine.map_accounts(tables, ScoringTask(scorer, as_of, version),
                                           progress=bool(config.get("progress", False)))
    key = data.column("accounts", "account_id")  # the source's own name (workspace_id): a CRM sync knows it
    scores = with_source_key(scores, key)
    if engine.name == "spark":  # the day's partition of a Parquet dataset, or of a catalog table
        from engines.spark.write import write_partition

        where = write_partition(engine.spark, scores, output, engine.settings.scores_table, as_of)
    else:
        where = write_scores(scores, output, config.get("output_table", "pql_scores"), as_of,
                             float(config.get("output_wait_seconds", LOCK_WAIT_SECONDS)))
    changed, alerts_to = _alerts(scores, previous, history, as_of, where, key)
    # tier 1 was sized for the capacity the model was trained with (per snapshot of its grid): compare with that
    checks = monitor(scores, features, scorer.reference, sized_for(scorer.meta), float(config["monitoring"]["psi_warn"]))
    for warning in checks.warnings:
        log.warning(warning)
    run_id = tracking.log_scoring(track, {**params, "output": where,
                                          "horizon_days": str(scorer.meta.get("horizon_days"))},
                                  {**checks.metrics, **({} if changed is None else alert_counts(changed))},
                                  {"drift.csv": checks.drift})
    return ServeJob(as_of, scores, where, checks, run_id, uri, version, changed, alerts_to)


def _alerts(scores: pd.DataFrame, previous: tuple, history: History | None, as_of: pd.Timestamp, where: str,
            key: str | None) -> tuple[pd.DataFrame | None, str | None]:
    """Today's alerts against the previous kept run, written beside the scores and said in one log line;
    (None, None) when the output keeps no history."""
    if history is None:
        log.info("alerts: none written with engine=spark (its scores are a partitioned dataset or catalog table)")
        return None, None
    if history.alerts_output is None:
        log.info("alerts: none written: %s keeps only the newest day, so there is no earlier run to compare with "
                 "(give output_dir, {date} in output, or a database output)", where)
        return None, None
    frame, when = previous
    changed = with_source_key(alerts(scores, frame, history.settings, when), key)
    written = history.write(changed, as_of)
    if frame is None:
        log.info("alerts: first run (no earlier scores kept in %s): all %d accounts in tier 1 or flagged are new; "
                 "written to %s", history.output, len(changed), written)
    else:
        log.info("alerts: %d accounts changed since the run of %s (compared_with); written to %s", len(changed),
                 f"{when:%Y-%m-%d}", written)
    return changed, written
