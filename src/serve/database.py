"""Writing one day's scores, and their alerts, into database tables -- a DuckDB file or any SQLAlchemy URL -- in
one transaction.

Inside that transaction each table is created with the scores schema's types, or made to take today's
columns (:func:`serve.tables.evolve`: new columns added, empty wrongly typed ones retyped), that day's rows
are deleted and today's inserted, the scores' table first, then the alerts': a crash leaves the previous rows
and the previous tables (scores and alerts alike), a rerun of a day replaces its rows. Names are always quoted identifiers (or bound parameters), never spliced as SQL.
``postgresql://`` / ``postgres://`` URLs use psycopg 3 (``pip install -e '.[postgres]'``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from features.data.sql import first_line, hide_passwords, quote
from features.errors import ConfigError, PipelineError
from serve.tables import (BOOLEAN, DOUBLE, INTEGER, TEXT, TIMESTAMP, Evolution, OutputTableError, check_names,
                          conform, evolve, kinds, log_evolution)

LOCK_WAIT_SECONDS = 30.0  # serve.yaml: output_wait_seconds
POSTGRES_SCHEMES = ("postgresql", "postgres")
POSTGRES_EXTRA = "pip install -e '.[postgres]'"
CONNECT_TIMEOUT_S = 15
_TODAY = "__pql_todays_scores"  # today's frame as DuckDB sees it: a name no output table takes
DUCKDB_TYPES = {TEXT: "VARCHAR", TIMESTAMP: "TIMESTAMP", DOUBLE: "DOUBLE", INTEGER: "BIGINT", BOOLEAN: "BOOLEAN"}

__all__ = ["OutputBusyError", "OutputTableError", "sql_url", "engine_for", "reach", "write_duckdb", "write_sql",
           "insert_rows", "LOCK_WAIT_SECONDS"]


class OutputBusyError(PipelineError):
    """The output database is unreachable, held by another job, or failed the write (exit code 4, like a busy
    tracking store); nothing was written."""

    exit_code = 4


# -- SQLAlchemy URLs and engines --------------------------------------------------------------------------------

def sql_url(url: str):
    """A SQLAlchemy URL object; ``postgresql://`` and ``postgres://`` get the psycopg 3 driver.

    >>> sql_url("postgresql://pql@db/crm").render_as_string()
    'postgresql+psycopg://pql@db/crm'
    """
    import sqlalchemy as sa

    scheme, sep, rest = url.partition("://")
    if scheme.lower() in POSTGRES_SCHEMES:
        url = f"postgresql+psycopg://{rest}"
    try:
        return sa.engine.make_url(url)
    except Exception as exc:  # sa.exc.ArgumentError and friends
        raise ConfigError(f"output: '{hide_passwords(url)}' is not a SQLAlchemy URL: {first_line(exc)}") from exc


def engine_for(url):
    """An engine for ``url`` (a URL object); a missing driver is a ConfigError naming what to install. SQLite's
    transactions are made to hold DDL too (Python's sqlite3 would commit a CREATE or ALTER on its own)."""
    import sqlalchemy as sa

    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.get_backend_name() == "postgresql" else {}
    try:
        engine = sa.create_engine(url, connect_args=connect_args)
    except ImportError as exc:  # NoSuchModuleError is an ArgumentError; a missing DBAPI is an ImportError
        hint = f": {POSTGRES_EXTRA}" if url.get_backend_name() == "postgresql" else ""
        raise ConfigError(f"output: no driver for '{url.drivername}' is installed ({first_line(exc)}){hint}") from exc
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"output: cannot use '{url.render_as_string(hide_password=True)}': "
                          f"{first_line(exc)}") from exc
    if engine.dialect.name == "sqlite":
        # SQLAlchemy's recipe for SQLite's transactional DDL; IMMEDIATE takes the write lock at once, so
        # two writers queue instead of failing half-way
        sa.event.listen(engine, "connect", lambda dbapi, record: setattr(dbapi, "isolation_level", None))
        sa.event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def reach(engine, url) -> None:
    """Connect once: an unreachable server is an OutputBusyError (exit 4) at once, before any work."""
    import sqlalchemy as sa

    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        raise OutputBusyError(f"output: cannot connect to {url.render_as_string(hide_password=True)}: "
                              f"{_dbapi_line(exc)}") from exc


def _dbapi_line(exc) -> str:
    """The driver's own first line (not SQLAlchemy's or pandas' wrapper with the statement and a link)."""
    if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return first_line(getattr(exc, "orig", None) or exc)


# -- the day's rows ---------------------------------------------------------------------------------------------

def insert_rows(conn, scores: pd.DataFrame, table: str) -> None:
    """Insert today's rows, by column name (a column of the table that today's scores lack gets NULL): the
    transaction's last step, on a DuckDB or a SQLAlchemy connection."""
    if hasattr(conn, "register"):  # DuckDB (a SQLAlchemy connection has no register)
        conn.register(_TODAY, scores)
        conn.execute(f"INSERT INTO {quote(table)} BY NAME SELECT * FROM {quote(_TODAY)}")
        conn.unregister(_TODAY)
        return
    scores.to_sql(table, conn, if_exists="append", index=False, chunksize=50_000)


# -- DuckDB -----------------------------------------------------------------------------------------------------

def _connect_waiting(path: str, wait_seconds: float):
    """Open a DuckDB file for writing; while another process holds its lock, retry until ``wait_seconds``."""
    import duckdb

    deadline = time.monotonic() + max(float(wait_seconds), 0.0)
    pause = 0.1
    while True:
        try:
            return duckdb.connect(path)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise ConfigError(f"output: cannot open '{path}' as a DuckDB database: {first_line(exc)}") from exc
            if time.monotonic() >= deadline:
                raise OutputBusyError(f"output: another job holds '{path}' (waited {wait_seconds:g} s, "
                                      f"output_wait_seconds); try again when it is done") from exc
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, 2.0)
        except duckdb.Error as exc:
            raise ConfigError(f"output: cannot open '{path}' as a DuckDB database: {first_line(exc)}") from exc


def write_duckdb(days: Mapping[str, pd.DataFrame], path: str, as_of: pd.Timestamp,
                 wait_seconds: float = LOCK_WAIT_SECONDS) -> str:
    """Write one day's rows to DuckDB file ``path``, each frame of ``days`` (table name -> that day's rows: the
    scores, then their alerts) into its table, all in one transaction; returns where the first went."""
    import duckdb

    days = _checked(days, "duckdb")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = _connect_waiting(path, wait_seconds)
    table = next(iter(days))
    where = f"{path} (table {table})"
    plans = []
    try:
        con.execute("BEGIN TRANSACTION")
        for table, rows in days.items():  # a failure at any table undoes them all
            plans.append(_prepare_duckdb(con, table, kinds(rows.dtypes)))
            con.execute(f"DELETE FROM {quote(table)} WHERE as_of = ?", [as_of.to_pydatetime()])
            insert_rows(con, rows, table)
        con.execute("COMMIT")
    except BaseException as exc:
        _rollback(con)
        if isinstance(exc, duckdb.Error) and not isinstance(exc, duckdb.OutOfMemoryException):
            raise OutputBusyError(f"output: writing to {path} (table {table}) failed, the previous rows are kept: "
                                  f"{first_line(exc)}") from exc
        raise
    finally:
        con.close()
    for plan in plans:
        log_evolution(plan)
    return where


def _checked(days: Mapping[str, pd.DataFrame], dialect: str) -> dict[str, pd.DataFrame]:
    """Each table's name and columns checked (:func:`serve.tables.check_names`), its rows typed by the schema."""
    for table, rows in days.items():
        check_names(table, rows.columns, dialect)
    return {table: conform(rows) for table, rows in days.items()}


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except Exception:  # no transaction was open (BEGIN itself failed): nothing to undo
        pass


def _prepare_duckdb(con, table: str, wanted: dict[str, str]) -> Evolution:
    """Create ``table`` with the schema's types, or add and retype its columns (serve.tables.evolve); returns
    what changed in an existing table."""
    stored = dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = current_database() "
        "AND table_schema = current_schema() AND lower(table_name) = lower(?) ORDER BY ordinal_position",
        [table]).fetchall())
    if not stored:
        columns = ", ".join(f"{quote(c)} {DUCKDB_TYPES[k]}" for c, k in wanted.items())
        con.execute(f"CREATE TABLE {quote(table)} ({columns})")
        return Evolution(table)
    plan = evolve(table, wanted, stored, lambda c: _holds_values(con, table, c), "duckdb")
    for column, kind in plan.add.items():
        con.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column)} {DUCKDB_TYPES[kind]}")
    for column, kind in plan.retype.items():  # each held no value: nothing to convert
        con.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} SET DATA TYPE {DUCKDB_TYPES[kind]} "
                    f"USING NULL")
    return plan


def _holds_values(con, table: str, column: str) -> bool:
    """Whether any row has a value in ``column`` (works on DuckDB and SQLAlchemy connections alike)."""
    sql = f"SELECT 1 FROM {quote(table)} WHERE {quote(column)} IS NOT NULL LIMIT 1"
    rows = con.execute(sql).fetchall() if hasattr(con, "register") else con.exec_driver_sql(sql).fetchall()
    return bool(rows)


# -- SQLAlchemy databases ---------------------------------------------------------------------------------------

def write_sql(days: Mapping[str, pd.DataFrame], output: str, as_of: pd.Timestamp) -> str:
    """Write one day's rows to the database at URL ``output``, each frame of ``days`` (table name -> that day's
    rows: the scores, then their alerts) into its table, all in one transaction; returns where the first went
    (the URL without its password)."""
    import sqlalchemy as sa

    url = sql_url(output)
    days = _checked(days, url.get_backend_name())
    engine = engine_for(url)
    table = next(iter(days))
    where, plans = url.render_as_string(hide_password=True), []
    try:
        with engine.begin() as conn:  # one transaction: the tables' changes, that day's rows out, today's in
            if engine.dialect.name == "postgresql":  # two jobs writing the same table queue here
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"pql:{table}"})
            for table, rows in days.items():
                plans.append(_prepare_sql(conn, table, kinds(rows.dtypes)))
                day = sa.table(table, sa.column("as_of", sa.DateTime()))
                conn.execute(day.delete().where(day.c.as_of == as_of.to_pydatetime()))
                insert_rows(conn, rows, table)
    except (sa.exc.DBAPIError, pd.errors.DatabaseError) as exc:  # the server went away, a full disk, no right, a
        # constraint of the user's own: nothing committed (pandas wraps what its insert met in a DatabaseError)
        raise OutputBusyError(f"output: writing to {where} (table {table}) failed, the previous rows are kept: "
                              f"{_dbapi_line(exc)}") from exc
    finally:
        engine.dispose()
    for plan in plans:
        log_evolution(plan)
    return f"{where} (table {next(iter(days))})"


def _sql_types() -> dict[str, Any]:
    import sqlalchemy as sa

    return {TEXT: sa.Text(), TIMESTAMP: sa.DateTime(), DOUBLE: sa.Double(), INTEGER: sa.BigInteger(),
            BOOLEAN: sa.Boolean()}


def _stored_sql(conn, table: str) -> dict[str, str]:
    """Column -> declared type of ``table`` (empty when there is no such table)."""
    import sqlalchemy as sa

    name = conn.dialect.identifier_preparer.quote_identifier(table)
    if conn.dialect.name == "sqlite":  # the declared text itself: the inspector drops types it does not know
        return {row[1]: row[2] for row in conn.exec_driver_sql(f"PRAGMA table_info({name})").fetchall()}
    inspector = sa.inspect(conn)
    if not inspector.has_table(table):
        return {}
    return {c["name"]: c["type"].compile(dialect=conn.dialect) for c in inspector.get_columns(table)}


def _prepare_sql(conn, table: str, wanted: dict[str, str]) -> Evolution:
    """Create ``table`` with the schema's types, or add and retype its columns (serve.tables.evolve); returns
    what changed in an existing table."""
    import sqlalchemy as sa

    types, dialect = _sql_types(), conn.dialect.name
    stored = _stored_sql(conn, table)
    if not stored:
        sa.Table(table, sa.MetaData(), *(sa.Column(c, types[k]) for c, k in wanted.items())).create(conn)
        return Evolution(table)
    plan = evolve(table, wanted, stored, lambda c: _holds_values(conn, table, c), dialect)
    q = conn.dialect.identifier_preparer.quote_identifier
    for column, kind in plan.add.items():
        conn.exec_driver_sql(f"ALTER TABLE {q(table)} ADD COLUMN {q(column)} "
                             f"{types[kind].compile(dialect=conn.dialect)}")
    if plan.retype and dialect == "sqlite":
        _rebuild_sqlite(conn, table, {c: types[k].compile(dialect=conn.dialect) for c, k in plan.retype.items()})
        return plan
    for column, kind in plan.retype.items():  # each held no value: nothing to convert
        conn.exec_driver_sql(f"ALTER TABLE {q(table)} ALTER COLUMN {q(column)} TYPE "
                             f"{types[kind].compile(dialect=conn.dialect)} USING NULL")
    return plan


def _rebuild_sqlite(conn, table: str, retyped: dict[str, str]) -> None:
    """SQLite cannot change a column's type: copy the table into one declared anew, rows and all (SQLite keeps
    each value as it came, so nothing is converted), and put it in the old one's place."""
    q = conn.dialect.identifier_preparer.quote_identifier
    current = {row[1]: row[2] for row in conn.exec_driver_sql(f"PRAGMA table_info({q(table)})").fetchall()}
    new = f"{table}__pql_rebuild"
    columns = ", ".join(f"{q(c)} {retyped.get(c, declared)}" for c, declared in current.items())
    names = ", ".join(q(c) for c in current)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(new)}")
    conn.exec_driver_sql(f"CREATE TABLE {q(new)} ({columns})")
    conn.exec_driver_sql(f"INSERT INTO {q(new)} ({names}) SELECT {names} FROM {q(table)}")
    conn.exec_driver_sql(f"DROP TABLE {q(table)}")
    conn.exec_driver_sql(f"ALTER TABLE {q(new)} RENAME TO {q(table)}")
