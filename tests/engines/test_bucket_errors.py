"""The buckets' load errors merged into the local loader's one error over the whole tables. No Spark here
(spark/test_engine.py and test_local_buckets.py hold both engines' loads to the in-memory message with an error
spread over buckets)."""
from __future__ import annotations

from engines.bucket_kernel import BucketError
from engines.bucket_errors import merged_error
from features.errors import DataError


def _error(table: str, column: str | None, problem: str) -> BucketError:
    return BucketError.of(DataError(table, column, problem))


def test_counts_are_summed_over_every_bucket_and_examples_merged() -> None:
    errors = [_error("events", "ts", "2 values cannot be read as ISO-8601 timestamps, e.g. 'x', 'y'"),
              _error("events", "ts", "1,200 values cannot be read as ISO-8601 timestamps, e.g. 'y', 'z, w'")]
    got = merged_error(errors)
    assert isinstance(got, DataError) and got.exit_code == 3
    assert str(got) == "table 'events', column 'ts': 1,202 values cannot be read as ISO-8601 timestamps, e.g. 'x', 'y', 'z, w'"


def test_the_earliest_problem_wins_as_the_local_loader_checks_them() -> None:
    late = _error("conversions", "account_id", "3 rows have a null account id (a key)")
    bad_time = _error("events", "timestamp", "4 values cannot be read as ISO-8601 timestamps, e.g. 'x'")
    null_id = _error("events", "account_id", "5 rows have a null account id (a key)")
    assert str(merged_error([late, bad_time, null_id])) == "table 'events', column 'account_id': 5 rows have a null account id (a key)"
    assert str(merged_error([late, bad_time])).startswith("table 'events', column 'timestamp': 4 values")
    assert merged_error([]) is None
    users = _error("users", "account_id", "2 users belong to an account missing from accounts (users 'u1', 'u2')")
    history = _error("account_attributes", "attribute", "1 rows have a null attribute name (a key)")
    assert str(merged_error([null_id, history, users])).startswith("table 'users'")  # read before the logs
    assert str(merged_error([late, history])).startswith("table 'account_attributes'")


def test_an_uncounted_error_is_passed_on_as_it_is() -> None:
    got = merged_error([_error("accounts", None, "is empty"), _error("accounts", None, "is empty")])
    assert str(got) == "table 'accounts': is empty" and got.exit_code == 3
