"""Kept scores read back and alerts written (serve.history): daily files, one file overwritten daily (the default,
with its kept days beside it), DuckDB, SQLite; reruns replace; scores and alerts are written together."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from features.errors import ConfigError, DataError
from serve.alerts import AlertsConfig
from serve import files
from serve.history import History, alerts_file, kept_files
from serve.realized.scores import score_files
from tests.serve.conftest import day_scores, serve_day


def _run(history: History, output: str, day: str, score: float) -> pd.DataFrame:
    return serve_day(history, day, score)


def _outputs(tmp_path: Path) -> dict[str, str]:
    return {"files": str(tmp_path / "scores_{date}.parquet"), "csv": str(tmp_path / "{date}.csv"),
            "single": str(tmp_path / "scores.parquet"), "single_csv": str(tmp_path / "out" / "pql.csv"),
            "duckdb": str(tmp_path / "scores.duckdb"), "sqlite": f"sqlite:///{tmp_path}/scores.db"}


def _read_alerts(history: History, day: str) -> pd.DataFrame:
    output = history.alerts_output.replace("{date}", day)
    if output.endswith(".duckdb"):
        with duckdb.connect(output, read_only=True) as con:
            return con.execute(f'SELECT * FROM "{history.alerts_table}" WHERE as_of = ?',
                               [pd.Timestamp(day).to_pydatetime()]).df()
    if "://" in output:
        rows = sa.table(history.alerts_table, sa.column("as_of", sa.DateTime()))
        query = sa.select(sa.literal_column("*")).select_from(rows).where(rows.c.as_of == pd.Timestamp(day))
        engine = sa.create_engine(output.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                return pd.read_sql(query, conn)
        finally:
            engine.dispose()
    return pd.read_csv(output) if output.endswith(".csv") else pd.read_parquet(output)


@pytest.mark.parametrize("kind", ["files", "csv", "single", "single_csv", "duckdb", "sqlite"])
def test_three_days_a_rerun_and_a_gap_in_every_kept_output(tmp_path, kind):
    _three_days_a_rerun_and_a_gap(_outputs(tmp_path)[kind])


@pytest.mark.slow
@pytest.mark.xdist_group("postgres")
def test_three_days_a_rerun_and_a_gap_in_postgresql(postgres):
    # a table of its own: the server is shared by the session's PostgreSQL tests (pql_scores is the README's)
    _three_days_a_rerun_and_a_gap(postgres.url, "history_scores")


def _three_days_a_rerun_and_a_gap(output: str, table: str = "pql_scores") -> None:
    history = History.of(output, table, pd.Timestamp("2024-05-06"), [])
    first = _run(history, output, "2024-05-06", .5)
    assert first["first_run"].all() and list(first["account_id"]) == ["a"]
    assert _run(history, output, "2024-05-07", .52).empty  # +2 points: nothing changed
    third = _run(history, output, "2024-05-08", .70)
    assert list(third["change"]) == ["score +18 pts"] and third["compared_with"].iloc[0] == pd.Timestamp("2024-05-07")
    again = _run(history, output, "2024-05-08", .70)  # a rerun: the same comparison, the day's alerts replaced
    assert again.equals(third)
    stored = _read_alerts(history, "2024-05-08")
    assert list(stored["account_id"]) == ["a"] and list(stored["change"]) == ["score +18 pts"]
    gap = _run(history, output, "2024-05-11", .40)  # two days skipped: against 05-08
    assert list(gap["change"]) == ["score -30 pts"]
    assert pd.Timestamp(_read_alerts(history, "2024-05-11")["compared_with"].iloc[0]) == pd.Timestamp("2024-05-08")


def test_a_single_file_keeps_its_days_beside_it_and_its_alerts_next_to_it(tmp_path):
    output = str(tmp_path / "scores.parquet")
    history = History.of(output, "pql_scores", pd.Timestamp("2024-05-06"), [])
    assert history.kept == str(tmp_path / "scores_history" / "scores_{date}.parquet")
    for day, score in (("2024-05-06", .5), ("2024-05-07", .7)):
        _run(history, output, day, score)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet", "scores_alerts.parquet", "scores_history"]
    assert sorted(p.name for p in (tmp_path / "scores_history").iterdir()) == [
        "scores_2024-05-06.parquet", "scores_2024-05-07.parquet"]
    assert pd.read_parquet(output).equals(pd.read_parquet(tmp_path / "scores_history" / "scores_2024-05-07.parquet"))
    assert list(pd.read_parquet(tmp_path / "scores_alerts.parquet")["change"]) == ["score +20 pts"]


def test_a_single_file_keeps_only_its_newest_days(tmp_path):
    output = str(tmp_path / "scores.parquet")
    history = History.of(output, "pql_scores", pd.Timestamp("2024-05-06"), [], settings=AlertsConfig(keep_days=2))
    for day in ("2024-05-06", "2024-05-07", "2024-05-08", "2024-05-10"):
        _run(history, output, day, .5)
    assert [str(when.date()) for when, _ in score_files(kept_files(output))] == ["2024-05-08", "2024-05-10"]
    assert list(_run(history, output, "2024-05-10", .9)["compared_with"]) == [pd.Timestamp("2024-05-08")]
    assert _run(history, output, "2024-05-10", .9).equals(_run(history, output, "2024-05-10", .9))  # reruns agree


def test_a_single_file_written_before_days_were_kept_is_the_previous_run(tmp_path):
    """Upgrading: scores.parquet holds yesterday, nothing kept beside it yet: today compares with the file itself."""
    output = tmp_path / "scores.parquet"
    day_scores("2024-05-06", .5).to_parquet(output)
    history = History.of(str(output), "pql_scores", pd.Timestamp("2024-05-07"), [])
    changed = _run(history, str(output), "2024-05-07", .7)
    assert list(changed["change"]) == ["score +20 pts"] and not changed["first_run"].any()
    assert list(changed["compared_with"]) == [pd.Timestamp("2024-05-06")]
    assert _run(history, str(output), "2024-05-07", .7).equals(changed)  # a rerun: the replaced file was kept as 05-06
def test_alerts_files_never_look_like_scores_files():
    assert alerts_file("out/scores_{date}.parquet") == "out/alerts_{date}.parquet"
    assert alerts_file("out/{date}.parquet") == "out/alerts/alerts_{date}.parquet"
    assert alerts_file("out/{date}/scores.csv") == "out/{date}/alerts_{date}.csv"


def test_an_alerts_table_name_too_long_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="output_table"):
        History.of(str(tmp_path / "s.duckdb"), "t" * 60, pd.Timestamp("2024-05-06"), [])


def test_a_broken_kept_file_stops_the_run_naming_it(tmp_path):
    output = str(tmp_path / "scores_{date}.parquet")
    day_scores("2024-05-06", 1.5).to_parquet(tmp_path / "scores_2024-05-06.parquet")
    with pytest.raises(DataError, match="scores_2024-05-06.parquet"):
        History.of(output, "pql_scores", pd.Timestamp("2024-05-07"), []).previous(pd.Timestamp("2024-05-07"))


@pytest.mark.parametrize("kind", ["files", "single"])
def test_a_failure_writing_the_alerts_leaves_the_scores_as_they_were(tmp_path, monkeypatch, kind):
    """Scores and alerts are written in full to temporary files before either is renamed: a failure while
    writing the alerts leaves yesterday's scores (and alerts, and kept days) in place, and no temporary file."""
    output = _outputs(tmp_path)[kind]
    history = History.of(output, "pql_scores", pd.Timestamp("2024-05-06"), [])
    _run(history, output, "2024-05-06", .5)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    fill = files.write_frame

    def full_disk(frame, path, suffix):
        if "alerts" in Path(path).name:
            raise OSError(28, "No space left on device")
        fill(frame, path, suffix)

    monkeypatch.setattr(files, "write_frame", full_disk)
    with pytest.raises(OSError, match="alerts"):
        _run(history, output, "2024-05-07", .9)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
