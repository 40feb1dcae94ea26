"""Errors a user can act on: each names the table, the column and the problem."""
from __future__ import annotations


class PipelineError(Exception):
    """An error the command line reports in one line and exits non-zero on."""

    exit_code = 2


class DataError(PipelineError):
    """Bad input data: names the table, the column (when there is one) and the problem.

    >>> str(DataError("events", "timestamp", "3 values are not timestamps, e.g. 'yesterday'"))
    "table 'events', column 'timestamp': 3 values are not timestamps, e.g. 'yesterday'"
    """

    exit_code = 3

    def __init__(self, table: str, column: str | None, problem: str):
        self.table, self.column, self.problem = table, column, problem
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {problem}")


class ConfigError(PipelineError):
    """A configuration value that cannot work (names the config key)."""

    exit_code = 2
