"""Database outputs (serve.database) on DuckDB, SQLite and a real PostgreSQL: the table evolves with the model
(a new rule column is added, a vanished one stays), its types come from the scores schema (never from an
empty night), a table an old version typed wrongly is repaired when nothing is lost or refused in one line,
identifiers are quoted as given, and a day's write is one transaction that a rerun replaces.
"""
from __future__ import annotations

import logging
import sqlite3

import duckdb
import numpy as np
import pandas as pd
import pytest

from features.data.sql import quote
from features.errors import ConfigError
from serve import database
from serve.database import OutputBusyError, OutputTableError, sql_url
from serve.write import write_scores

DAY1, DAY2 = pd.Timestamp("2024-12-02"), pd.Timestamp("2024-12-03")
TABLE = "pql_scores"


def _scores(as_of: pd.Timestamp, rules: tuple[str, ...] = (), n: int = 3) -> pd.DataFrame:
    """A scores table as the batch job makes it (``serve.batch.score_accounts``)."""
    frame = pd.DataFrame({
        "account_id": pd.Series([f"00{i}" for i in range(n)], dtype="str"),
        "as_of": pd.Series([as_of] * n, dtype="datetime64[us]"),
        "score": np.linspace(0.1, 0.3, n), "intent_score": np.linspace(0.5, 0.7, n),
        "fit_score": np.linspace(0.2, 0.4, n),
        "intent_tier": pd.Series(["high", "low", "medium"][:n], dtype="str"),
        "fit_tier": pd.Series(["good", "poor", "medium"][:n], dtype="str"),
        "pql_tier": pd.array([1, None, 3][:n], dtype="Int64"),
    })
    for i, rule in enumerate(rules):
        frame[f"rule_{rule}"] = [(j + i) % 2 == 0 for j in range(n)]
    frame["reasons"] = pd.Series(["'logged in' 4 times"] * n, dtype="str")
    frame["model_version"] = "7"
    return frame


def _empty_night(as_of: pd.Timestamp, rules: tuple[str, ...] = ()) -> pd.DataFrame:
    """What scoring gives when no account is eligible: the model's columns are all float64 (``Scorer.score``)."""
    model = ["score", "intent_score", "fit_score", "intent_tier", "fit_tier", "pql_tier",
             *(f"rule_{r}" for r in rules), "reasons"]
    frame = pd.DataFrame({"account_id": pd.Series([], dtype="str"), "as_of": pd.Series([], dtype="datetime64[us]")})
    for column in model:
        frame[column] = pd.Series([], dtype="float64")
    frame["model_version"] = pd.Series([], dtype="str")
    return frame


class Backend:
    """One database output: where to write, and SQL run on it directly (to read, or to set a table up)."""

    def __init__(self, name: str, output: str):
        self.name, self.output = name, output

    def run(self, sql: str) -> list[tuple]:
        if self.name == "duckdb":
            with duckdb.connect(self.output) as con:
                cur = con.execute(sql)
                return cur.fetchall() if cur.description else []
        if self.name == "sqlite":
            with sqlite3.connect(self.output.removeprefix("sqlite:///")) as con:
                return con.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.output, autocommit=True) as con:
            cur = con.execute(sql)
            return cur.fetchall() if cur.description else []

    def types(self, table: str = TABLE) -> dict[str, str]:
        """Column name -> declared type, upper case."""
        if self.name == "sqlite":
            rows = self.run(f"PRAGMA table_info({quote(table)})")
            return {r[1]: r[2].upper() for r in rows}
        rows = self.run("SELECT column_name, data_type FROM information_schema.columns "
                        f"WHERE table_name = '{table}' ORDER BY ordinal_position")
        return {name: kind.upper() for name, kind in rows}

    def rows(self, table: str = TABLE, columns: str = "*") -> list[tuple]:
        return self.run(f"SELECT {columns} FROM {quote(table)} ORDER BY as_of, account_id")

    def tables(self) -> set[str]:
        if self.name == "sqlite":
            return {r[0] for r in self.run("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {r[0] for r in self.run("SELECT table_name FROM information_schema.tables "
                                       "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')")}


@pytest.fixture(params=["duckdb", "sqlite",
                        pytest.param("postgresql", marks=[pytest.mark.slow, pytest.mark.xdist_group("postgres")])])
def db(request, tmp_path):
    """A fresh database of each kind (PostgreSQL: a database of its own on the test server)."""
    if request.param == "duckdb":
        return Backend("duckdb", str(tmp_path / "scores.duckdb"))
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite:///{tmp_path / 'scores.db'}")
    server = request.getfixturevalue("postgres")
    name = f"t{abs(hash(request.node.nodeid)) % 10**9}"
    Backend("postgresql", server.dsn("postgres")).run(f"CREATE DATABASE {name} OWNER pql")
    return Backend("postgresql", server.dsn(name, "pql"))


def _write(db: Backend, scores: pd.DataFrame, as_of: pd.Timestamp, table: str = TABLE) -> str:
    return write_scores(scores, db.output, table, as_of)


def _kinds(db: Backend, table: str = TABLE) -> dict[str, str]:
    """Column -> text / timestamp / double / integer / boolean, whatever each database calls them."""
    words = {"VARCHAR": "text", "TEXT": "text", "CHARACTER VARYING": "text", "TIMESTAMP": "timestamp", "DATETIME": "timestamp",
             "TIMESTAMP WITHOUT TIME ZONE": "timestamp", "DOUBLE": "double", "DOUBLE PRECISION": "double",
             "BIGINT": "integer", "BOOLEAN": "boolean"}
    return {c: words.get(t, t) for c, t in db.types(table).items()}


SCHEMA = {"account_id": "text", "as_of": "timestamp", "score": "double", "intent_score": "double",
          "fit_score": "double", "intent_tier": "text", "fit_tier": "text", "pql_tier": "integer"}


# -- case 1: the table evolves with the model ------------------------------------------------------------

def test_a_new_rule_column_is_added_and_earlier_rows_get_null(db, caplog):
    _write(db, _scores(DAY1), DAY1)  # yesterday's champion had no rules
    with caplog.at_level(logging.INFO, logger="pql"):
        _write(db, _scores(DAY2, rules=("trial",)), DAY2)
    assert _kinds(db)["rule_trial"] == "boolean"
    assert [bool(v) if v is not None else None for (v,) in db.rows(columns="rule_trial")] == \
        [None, None, None, True, False, True]
    assert "added column rule_trial (boolean)" in caplog.text and TABLE in caplog.text


def test_a_column_gone_from_the_model_stays_with_null_for_new_rows(db):
    _write(db, _scores(DAY1, rules=("trial", "old")), DAY1)
    _write(db, _scores(DAY2, rules=("trial",)), DAY2)
    assert "rule_old" in _kinds(db)
    old = [v for (v,) in db.rows(columns="rule_old")]
    assert old[3:] == [None, None, None] and None not in old[:3]


def test_a_column_whose_type_changed_incompatibly_is_one_line_and_nothing_is_written(db):
    # a table set up by hand where the ids are numbers: text ids cannot go there
    db.run(f'CREATE TABLE "{TABLE}" (account_id BIGINT, as_of TIMESTAMP, score DOUBLE PRECISION)')
    db.run(f"INSERT INTO \"{TABLE}\" VALUES (1, '2024-12-01 00:00:00', 0.5)")
    with pytest.raises(OutputTableError) as err:
        _write(db, _scores(DAY2, rules=("trial",)), DAY2)
    message = str(err.value)
    assert err.value.exit_code == 4 and "\n" not in message
    assert f"table '{TABLE}'" in message and "column 'account_id'" in message and "text" in message
    assert "rule_trial" not in db.types()  # nothing added
    assert len(db.rows()) == 1


# -- case 2: types come from the scores schema, never from an empty night ---------------------------------

def test_an_empty_first_night_creates_the_schemas_types_and_the_next_night_writes(db):
    _write(db, _empty_night(DAY1, rules=("trial",)), DAY1)  # no eligible account
    kinds = _kinds(db)
    assert {c: kinds[c] for c in SCHEMA} == SCHEMA
    assert kinds["rule_trial"] == "boolean" and kinds["reasons"] == "text" and kinds["model_version"] == "text"
    _write(db, _scores(DAY2, rules=("trial",)), DAY2)
    assert [(a, t) for a, t in db.rows(columns="account_id, intent_tier")] == \
        [("000", "high"), ("001", "low"), ("002", "medium")]  # ids kept as text, zeros and all


def _old_empty_night(db: Backend) -> None:
    """The table an earlier version made on a night with no eligible account: every model column DOUBLE."""
    double = "DOUBLE PRECISION" if db.name == "postgresql" else "DOUBLE"
    columns = ", ".join(f"{c} {double}" for c in ["score", "intent_score", "fit_score", "intent_tier", "fit_tier",
                                                  "pql_tier", "rule_trial", "reasons"])
    db.run(f'CREATE TABLE "{TABLE}" (account_id VARCHAR(40), as_of TIMESTAMP, {columns}, model_version TEXT)')


def test_a_table_typed_by_an_old_empty_night_is_retyped_when_it_holds_no_value(db, caplog):
    _old_empty_night(db)
    with caplog.at_level(logging.INFO, logger="pql"):
        _write(db, _scores(DAY2, rules=("trial",)), DAY2)
    kinds = _kinds(db)
    assert kinds["intent_tier"] == "text" and kinds["rule_trial"] == "boolean" and kinds["pql_tier"] == "integer"
    assert len(db.rows()) == 3
    assert "column intent_tier" in caplog.text and "held no value" in caplog.text


def test_an_old_double_column_with_values_is_one_line_or_on_sqlite_rebuilt(db):
    _old_empty_night(db)
    tier = "'low'" if db.name == "sqlite" else "2"  # SQLite took the text; the others refused it
    db.run(f"INSERT INTO \"{TABLE}\" (account_id, as_of, score, intent_tier) VALUES ('x', '2024-12-01', 0.5, {tier})")
    if db.name != "sqlite":
        with pytest.raises(OutputTableError, match=f"table '{TABLE}', column 'intent_tier'"):
            _write(db, _scores(DAY2), DAY2)
        assert len(db.rows()) == 1
        return
    _write(db, _scores(DAY2), DAY2)  # SQLite kept every value as it came: the table is rebuilt, rows and all
    assert _kinds(db)["intent_tier"] == "text"
    assert db.rows(columns="account_id, intent_tier")[0] == ("x", "low")


# -- case 3: identifiers are quoted as given, never spliced -----------------------------------------------

ODD = 'rule_it\'s "odd" 100%'


def test_odd_column_names_are_quoted_as_given(db):
    _write(db, _scores(DAY1), DAY1)
    _write(db, _scores(DAY2).assign(**{ODD: True}), DAY2)  # a column added, named as given
    assert _kinds(db)[ODD] == "boolean"
    assert [v for (v,) in db.rows(columns=quote(ODD))][3:] == [True] * 3


@pytest.mark.parametrize("table", ['x"; DROP TABLE pql_scores; --', "analytics.pql_scores", "", "a\nb", "1st"])
def test_a_table_name_that_is_not_an_identifier_is_a_config_error_before_any_sql(db, table):
    _write(db, _scores(DAY1), DAY1)
    with pytest.raises(ConfigError, match="output_table") as err:
        _write(db, _scores(DAY2), DAY2, table=table)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)
    assert db.tables() == {TABLE} and len(db.rows()) == 3


# -- case 4: one transaction per day; a rerun replaces the day ---------------------------------------------

def test_a_rerun_of_a_day_replaces_its_rows_and_keeps_the_others(db):
    _write(db, _scores(DAY1), DAY1)
    _write(db, _scores(DAY2, n=3), DAY2)
    _write(db, _scores(DAY2, n=2, rules=("trial",)), DAY2)  # the same day again, a new champion
    rows = db.rows(columns="as_of, account_id")
    assert len(rows) == 5 and sum(1 for r in rows if pd.Timestamp(r[0]) == DAY2) == 2


def test_a_failure_after_the_schema_changes_leaves_the_table_as_it_was(db, monkeypatch):
    _write(db, _scores(DAY1), DAY1)
    before_types, before_rows = db.types(), db.rows()

    def fail(*args, **kwargs):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(database, "insert_rows", fail)
    with pytest.raises(RuntimeError, match="connection lost"):
        _write(db, _scores(DAY1, rules=("trial",), n=2), DAY1)  # columns added, the day deleted, then a crash
    assert db.types() == before_types and db.rows() == before_rows


def test_a_failed_first_write_leaves_no_table(db, monkeypatch):
    monkeypatch.setattr(database, "insert_rows", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("lost")))
    with pytest.raises(RuntimeError):
        _write(db, _scores(DAY1), DAY1)
    assert TABLE not in db.tables()


# -- URLs and errors ----------------------------------------------------------------------------------------

def test_postgresql_urls_use_psycopg():
    assert sql_url("postgresql://pql@db/crm").drivername == "postgresql+psycopg"
    assert sql_url("postgres://pql@db/crm").drivername == "postgresql+psycopg"
    assert sql_url("postgresql+psycopg://pql@db/crm").drivername == "postgresql+psycopg"
    assert sql_url("sqlite:///x.db").drivername == "sqlite"


def test_a_write_the_database_refuses_is_one_line_exit_4_and_keeps_the_rows(db):
    # a column of the user's own that must not be empty: today's rows have nothing for it
    db.run(f'CREATE TABLE "{TABLE}" (account_id TEXT, as_of TIMESTAMP, score DOUBLE PRECISION, note TEXT NOT NULL)')
    db.run(f"INSERT INTO \"{TABLE}\" VALUES ('x', '2024-12-01 00:00:00', 0.5, 'kept')")
    with pytest.raises(OutputBusyError, match="the previous rows are kept") as err:
        _write(db, _scores(DAY2), DAY2)
    assert err.value.exit_code == 4 and "\n" not in str(err.value)
    assert len(db.rows()) == 1 and "rule_trial" not in db.types()


# -- the day's scores and alerts: one transaction ------------------------------------------------------------

def test_scores_and_alerts_are_one_transaction(db, monkeypatch):
    """The alerts' insert fails after the scores' went in: neither table changes."""
    from serve.alerts import alerts

    def write(day: pd.Timestamp, scores: pd.DataFrame) -> str:
        days = {TABLE: scores, f"{TABLE}_alerts": alerts(scores, None)}
        if db.name == "duckdb":
            return database.write_duckdb(days, db.output, day)
        return database.write_sql(days, db.output, day)

    write(DAY1, _scores(DAY1))
    before = db.rows(), db.rows(f"{TABLE}_alerts")
    assert len(before[1]) == 1  # the account in tier 1: written beside the scores
    insert = database.insert_rows

    def lost(conn, rows, table):
        if table.endswith("_alerts"):
            raise RuntimeError("connection lost")
        insert(conn, rows, table)

    monkeypatch.setattr(database, "insert_rows", lost)
    with pytest.raises(RuntimeError, match="connection lost"):
        write(DAY1, _scores(DAY1, n=2))  # that day's scores deleted and the new ones inserted, then the crash
    with pytest.raises(RuntimeError, match="connection lost"):
        write(DAY2, _scores(DAY2))
    assert (db.rows(), db.rows(f"{TABLE}_alerts")) == before
