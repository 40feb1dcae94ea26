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
from serve.write import LOCK_WAIT_SECONDS, check_target, output_of, with_source_key

log = logging.getLogger("pql")
SHOWN = 5  # alerts shown in the log (all of them are in the alerts output)


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
    alerts: pd.DataFrame | None = None  # what changed since the previous kept run
    alerts_written_to: str | None = None


def run_job(config: dict[str, Any]) -> ServeJob:
    """Check the output, resolve and load the model (before touching data), build features at ``as_of``,
    score, write the scores and their alerts, record."""
    as_of = to_timestamp(config["as_of"])
    data = DataConfig.from_mapping(config["data"])
    engine = engine_for(config.get("engine"))
    settings = AlertsConfig(**(config.get("alerts") or {}))
    if engine.name == "spark":  # a Parquet dataset partitioned by day, or a catalog table
        from serve.lake import LakeHistory

        history = LakeHistory.of(engine, config.get("output") or config.get("output_dir"), settings)
        output = history.output
    else:
        output = output_of(config)  # output, or output_dir + output_pattern
        check_target(output, as_of, input_files(data), config.get("output_table"))  # a bad output fails before any work
        history = History.of(output, config.get("output_table", "pql_scores"), as_of, input_files(data),
                             float(config.get("output_wait_seconds", LOCK_WAIT_SECONDS)), settings)
    warm, track = warm_days(settings, data), TrackingConfig(**config["tracking"])
    params = {"as_of": str(as_of), "output": str(output)}
    try:
        return _score(config, as_of, data, track, params, engine, history, warm)
    except Exception as exc:  # recorded as a FAILED run with the reason, then reported as usual
        tracking.log_scoring_failure(track, params, exc)
        raise


def warm_days(settings: AlertsConfig, data: DataConfig) -> int:
    """How many nights to replay before ``as_of`` when no earlier run is kept: ``alerts.warm_days``, or when it is
    null what the data source brings (the demo world: ``data.demo.alerts.warm_days``; your data: none)."""
    if settings.warm_days is not None:
        return settings.warm_days
    brought = (data.brings().get("alerts") or {}).get("warm_days")
    return 0 if brought is None else int(AlertsConfig(warm_days=brought).warm_days)


def _score(config: dict[str, Any], as_of: pd.Timestamp, data: DataConfig, track: TrackingConfig,
           params: dict[str, str], engine, history, warm: int) -> ServeJob:
    uri, version = tracking.resolve_model(config.get("model_uri"), track)
    params.update(model_uri=uri, model_version=version)
    model = tracking.load_model(uri, track)
    scorer = model.unwrap_python_model().scorer
    log.info("scores are P(convert within %s days) of model %s (version %s)", scorer.meta.get("horizon_days"), uri,
             version)
    previous = history.previous(as_of)  # before slow work: a broken kept file stops the run here
    if getattr(history, "kept", None) is not None:  # a single output file keeps keep_days days: replay no more
        warm = min(warm, history.settings.keep_days - 1)
    replay = [as_of - pd.Timedelta(days=k) for k in range(warm, 0, -1)] if previous[0] is None else []
    tables, report = engine.load_tables(data, instants=[*replay, as_of])
    for line in report.lines():
        log.info(line)
    key = data.column("accounts", "account_id")  # the source's own name (workspace_id): a CRM sync knows it
    progress = bool(config.get("progress", False))
    if replay:
        log.info("alerts: no earlier run kept in %s: replaying the %d nights before as_of with this model first "
                 "(alerts.warm_days), so that today compares with %s", history.output, len(replay),
                 f"{replay[-1]:%Y-%m-%d}")
        for night in replay:
            _night(engine, tables, ScoringTask(scorer, night, version), history, history.previous(night), key, False)
        previous = history.previous(as_of)  # read back as a rerun of the day will read it: the same alerts
    scores, features, changed, where, alerts_to = _night(engine, tables, ScoringTask(scorer, as_of, version),
                                                         history, previous, key, progress)
    _say(changed, previous, history, alerts_to)
    # tier 1 was sized for the capacity the model was trained with (per snapshot of its grid): compare with that
    checks = monitor(scores, features, scorer.reference, sized_for(scorer.meta), float(config["monitoring"]["psi_warn"]))
    for warning in checks.warnings:
        log.warning(warning)
    run_id = tracking.log_scoring(track, {**params, "output": where,
                                          "horizon_days": str(scorer.meta.get("horizon_days"))},
                                  {**checks.metrics, **alert_counts(changed)}, {"drift.csv": checks.drift})
    return ServeJob(as_of, scores, where, checks, run_id, uri, version, changed, alerts_to)


def _night(engine, tables, task: ScoringTask, history, previous: tuple, key: str | None,
           progress: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str, str]:
    """Score one night, compare with the previous kept run and write both together: (scores, features, alerts,
    where the scores went, where the alerts went)."""
    # the engine runs the task where its tables are: here, or per bucket of accounts on Spark's executors
    scores, features = engine.map_accounts(tables, task, progress=progress)
    scores = with_source_key(scores, key)
    frame, when = previous
    changed = with_source_key(alerts(scores, frame, history.settings, when), key)
    where, alerts_to = history.write(scores, changed, task.as_of)
    return scores, features, changed, where, alerts_to


def _say(changed: pd.DataFrame, previous: tuple, history, written: str) -> None:
    """The night's alerts in the log: how many, against which run, and the first few of them."""
    frame, when = previous
    if frame is None:
        log.info("alerts: first run (no earlier scores kept in %s): all %d accounts in tier 1 or flagged are new; "
                 "written to %s", history.output, len(changed), written)
    else:
        log.info("alerts: %d accounts changed since the run of %s (compared_with); written to %s", len(changed),
                 f"{when:%Y-%m-%d}", written)
    for row in changed.head(SHOWN).itertuples(index=False):
        was = "" if pd.isna(row.previous_score) else f" (was {row.previous_score:.2f})"
        why = f"; new reasons: {row.new_reasons}" if row.new_reasons else ""
        log.info("  %s  score %.2f%s: %s%s", row.account_id, row.score, was, row.change, why)
    if len(changed) > SHOWN:
        log.info("  ... and %d more in %s", len(changed) - SHOWN, written)
