"""The local engine's memory budget (engines.budget): ``engine.memory_gb`` or the machine's memory minus a margin,
what a source would cost whole (rows from Parquet footers or DuckDB, priced per row), and how many buckets keep
one bucket's load within a share of the budget."""
from __future__ import annotations

import pandas as pd

from engines import budget
from features.data.sources import open_folder


def test_the_default_budget_is_the_machine_minus_a_margin() -> None:
    total = budget.machine_bytes()
    assert budget.budget_bytes(None) <= total - budget.MARGIN_MIN
    assert budget.budget_bytes(None) >= total * 0.8 or total < 8 * budget.GIB
    assert budget.budget_bytes(3) == 3 * budget.GIB and budget.budget_bytes(0.5) == budget.GIB // 2


def test_rows_come_from_parquet_footers_and_duckdb_counts(tmp_path) -> None:
    pd.DataFrame({"account_id": ["a", "b"], "created_at": pd.to_datetime(["2024-01-01"] * 2)}).to_parquet(
        tmp_path / "accounts.parquet")
    pd.DataFrame({"account_id": ["a"] * 5, "event": ["x"] * 5, "timestamp": pd.Timestamp("2024-01-02"),
                  "user_id": ["u"] * 5}).to_csv(tmp_path / "events.csv", index=False)
    source = open_folder(tmp_path, ("accounts", "events"))
    source.read_pending()
    size = budget.source_size(source, has_user=True, has_quantity=False)
    assert size.rows == {"accounts": 2, "events": 5} and size.events == 5
    assert size.bytes_per_event == 4 + 2 + 8 + 8 + budget.LOAD_OVERHEAD_PER_EVENT
    assert size.load_bytes == budget.BASELINE + 5 * size.bytes_per_event + 2 * budget.BYTES_PER_ACCOUNT


def test_a_source_that_fits_is_one_bucket_and_a_bigger_one_is_split_to_fit() -> None:
    size = budget.SourceSize({"accounts": 500_000, "events": 100_000_000}, 46)
    assert budget.bucket_count(size, 8 * budget.GIB) == 1
    n = budget.bucket_count(size, 3 * budget.GIB)
    per_bucket = size.events * size.bucket_bytes_per_event / n
    assert n >= 2 and per_bucket <= (3 * budget.GIB - budget.BASELINE) * budget.BUCKET_SHARE
    assert budget.bucket_count(size, budget.GIB // 100) >= n  # a tiny budget: many buckets, never zero


def test_buckets_worked_on_at_once_each_get_their_share_of_the_budget() -> None:
    size = budget.SourceSize({"accounts": 500_000, "events": 100_000_000}, 46)
    one, two = budget.bucket_count(size, 3 * budget.GIB, 1), budget.bucket_count(size, 3 * budget.GIB, 2)
    assert two >= 2 * one - 1
    assert 2 * size.events * size.bucket_bytes_per_event / two <= (3 * budget.GIB - budget.BASELINE) * budget.BUCKET_SHARE
    assert budget.bucket_count(size, 8 * budget.GIB, 4) == 1  # a source that fits is loaded whole


def test_the_workers_are_the_cores_this_process_may_use(monkeypatch) -> None:
    monkeypatch.setattr(budget.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert budget.workers() == 3
    monkeypatch.setattr(budget.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert budget.workers() == budget.MAX_WORKERS


def test_users_and_the_attribute_history_are_priced_whole_and_per_bucket() -> None:
    bare = budget.SourceSize({"accounts": 500_000, "events": 50_000_000}, 46)
    people = budget.SourceSize({**bare.rows, "users": 20_000_000, "account_attributes": 10_000_000}, 46)
    assert people.load_bytes - bare.load_bytes == 20_000_000 * 160 + 10_000_000 * 100
    assert budget.bucket_count(people, 3 * budget.GIB) > budget.bucket_count(bare, 3 * budget.GIB)


def test_a_cgroup_cpu_quota_bounds_the_workers(tmp_path, monkeypatch) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert budget.cpu_quota(tmp_path / "cpu.max") == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert budget.cpu_quota(tmp_path / "cpu.max") is None and budget.cpu_quota(tmp_path / "none") is None
    monkeypatch.setattr(budget.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setattr(budget, "cpu_quota", lambda: 2)
    assert budget.workers() == 2
