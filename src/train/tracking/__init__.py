"""The one package that talks to MLflow, split by job: :mod:`~train.tracking.store` (connect, the SQLite
store, locks, experiments), :mod:`~train.tracking.runs` (training, scoring, failed and realized runs;
abandoned runs), :mod:`~train.tracking.registry` (register, aliases, promotion, the champion) and
:mod:`~train.tracking.loading` (resolve, verify and load a model).

Other rooms call what is re-exported here: ``from train import tracking; tracking.load_model(...)``.
``mlflow`` is imported on first use, never when this package is imported.
"""
from __future__ import annotations

from train.tracking.loading import CODE_LOADER, load_model, resolve_model, verify_model_dir
from train.tracking.registry import MODEL_CODE, RunInfo, backtest_predictions, current_champion, promote
from train.tracking.runs import (HOST_TAG, PID_TAG, STALE_AFTER_S, TrainingRun, fail_abandoned_runs, flatten,
                                 latest_training_run, log_realized, log_scoring, log_scoring_failure, log_summary,
                                 log_training)
from train.tracking.store import (CHALLENGER, CHAMPION, HASH_TAG, TrackingError, check_store, connect,
                                  ensure_sqlite_store, experiment, experiment_for, runs_page)

__all__ = ["CHALLENGER", "CHAMPION", "CODE_LOADER", "HASH_TAG", "HOST_TAG", "MODEL_CODE", "PID_TAG", "STALE_AFTER_S",
           "RunInfo", "TrackingError", "TrainingRun", "backtest_predictions", "check_store", "connect",
           "current_champion", "ensure_sqlite_store", "experiment", "experiment_for", "fail_abandoned_runs", "flatten",
           "latest_training_run", "load_model", "log_realized", "log_scoring", "log_scoring_failure", "log_summary",
           "log_training", "promote", "resolve_model", "runs_page", "verify_model_dir"]
