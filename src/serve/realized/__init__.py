"""Realized performance: how the kept scores turned out, per model version, against its backtest's promise."""
from serve.realized.performance import (NoScoresError, judge, read_scores, realized_labels, run_realized,
                                        score_files)

__all__ = ["NoScoresError", "judge", "read_scores", "realized_labels", "run_realized", "score_files"]
