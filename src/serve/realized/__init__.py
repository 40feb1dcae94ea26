"""Realized performance: how the kept scores turned out, per model version, against its backtest's promise."""
from serve.realized.performance import judge, realized_labels, run_realized
from serve.realized.scores import NoScoresError, ScoresUnreachableError, check_accounts, read_scores, score_files

__all__ = ["NoScoresError", "ScoresUnreachableError", "check_accounts", "judge", "read_scores", "realized_labels",
           "run_realized", "score_files"]
