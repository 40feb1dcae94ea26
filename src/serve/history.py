"""The scores the batch job kept, read back for alerts, and the alerts output written beside them.

Where the previous run is, by the kind of output:

* one file a day (``{date}`` in ``output``, or ``output_dir`` + ``output_pattern``): the newest file of an
  earlier day; the alerts go to ``alerts_{date}`` with the scores' suffix in the same folder (in a folder
  ``alerts/`` below it when the scores' own file names would take that name too);
* a ``.duckdb`` file or a SQLAlchemy URL: the rows of the newest earlier day's ``as_of`` in ``output_table``;
  the alerts go to table ``<output_table>_alerts`` of the same database;
* one file overwritten every day (``output=scores.parquet``, the default): no history, so no alerts --
  said in one log line.

Either output replaces that day's alerts on a rerun (the file is rewritten; the table's rows of that
``as_of`` deleted and today's inserted in one transaction).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.data.sql import first_line, identifier
from features.io import FILE_FORMATS, check_output, write_file
from serve.alerts import AlertsConfig
from serve.database import OutputBusyError, sql_url, write_duckdb, write_sql
from serve.realized.scores import checked_scores, read_scores_file, score_files
from serve.write import LOCK_WAIT_SECONDS, honour_umask, target

log = logging.getLogger("pql")
ALERTS_SUFFIX = "_alerts"  # a database's alerts table: <output_table>_alerts
ALERTS_NAME = "alerts_{date}"  # a daily file's alerts, with the scores' suffix


def _database(output: str) -> bool:
    return "://" in output or Path(output).suffix.lower() == ".duckdb"


def alerts_file(output: str) -> str:
    """Where the alerts of a daily scores file go (``{date}`` still in it): ``alerts_{date}`` with the scores'
    suffix in the scores' folder, or in ``alerts/`` below it when the scores' wildcard would match that name.

    >>> alerts_file("/srv/scores/scores_{date}.parquet"), alerts_file("/srv/scores/{date}.csv")
    ('/srv/scores/alerts_{date}.parquet', '/srv/scores/alerts/alerts_{date}.csv')
    """
    output = str(output).replace("{as_of}", "{date}")
    path = Path(output)
    beside = path.parent / (ALERTS_NAME + path.suffix)
    head, tail = output.split("{date}", 1)
    wildcard = re.escape(head) + "[^/]*" + re.escape(tail)  # what serve.realized's glob of the scores finds
    if re.fullmatch(wildcard, str(beside).replace("{date}", "2000-01-01")):
        beside = path.parent / "alerts" / (ALERTS_NAME + path.suffix)
    return str(beside)


@dataclass(frozen=True)
class History:
    """The kept scores of one output and where its alerts go (``alerts_output`` None: the output keeps no
    history, so there are no alerts)."""

    output: str  # the scores' output, ``{date}`` not filled in
    table: str
    alerts_output: str | None
    alerts_table: str
    wait_seconds: float = LOCK_WAIT_SECONDS
    settings: AlertsConfig = AlertsConfig()  # when a change is an alert

    @classmethod
    def of(cls, output: str, table: str, as_of: pd.Timestamp, inputs: list[Path],
           wait_seconds: float = LOCK_WAIT_SECONDS, settings: AlertsConfig = AlertsConfig()) -> "History":
        """The history of ``output``, its alerts target checked before any work (ConfigError): a plain
        ``<output_table>_alerts`` name, or a writable alerts file that is no input of the data source."""
        output, alerts_table = str(output), f"{table}{ALERTS_SUFFIX}"
        if _database(output):
            identifier(alerts_table, "output_table (its alerts table, <output_table>_alerts)")
            return cls(output, table, output, alerts_table, wait_seconds, settings)
        if "{date}" not in output and "{as_of}" not in output:
            return cls(output, table, None, alerts_table, wait_seconds, settings)
        alerts = alerts_file(output)
        check_output(target(alerts, as_of), inputs, FILE_FORMATS)
        return cls(output, table, alerts, alerts_table, wait_seconds, settings)

    def previous(self, as_of: pd.Timestamp) -> tuple[pd.DataFrame | None, pd.Timestamp | None]:
        """(the scores of the newest earlier day, that run's as-of), or (None, None) when none was kept."""
        day = pd.Timestamp(as_of).normalize()
        if _database(self.output):
            read = _previous_duckdb if self.output.endswith(".duckdb") else _previous_sql
            frame, where, when = read(self.output, self.table, day), f"{self.output} (table {self.table})", None
        else:
            earlier = [(when, path) for when, path in score_files(self.output) if when < day]
            when, where = earlier[-1] if earlier else (None, "")
            frame = read_scores_file(where) if earlier else None
        if frame is None:
            return None, None
        frame = checked_scores(frame, where)  # the scores table's contract: text ids, naive UTC as-of, probabilities
        frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith("__")])
        return frame, (frame["as_of"].max() if len(frame) else when)

    def write(self, alerts: pd.DataFrame, as_of: pd.Timestamp) -> str:
        """Write one day's alerts (replacing that day's); returns where they went."""
        if _database(self.output):
            output = target(self.output, as_of)
            if "://" in output:
                return write_sql(alerts, output, self.alerts_table, as_of)
            return write_duckdb(alerts, output, self.alerts_table, as_of, self.wait_seconds)
        path = target(str(self.alerts_output), as_of)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        written = write_file(alerts, path)
        honour_umask(written)
        return str(written)


def _previous_duckdb(path: str, table: str, day: pd.Timestamp) -> pd.DataFrame | None:
    """The rows of the newest ``as_of`` before ``day`` in table ``table`` of DuckDB file ``path`` (None: no such
    file, table or day)."""
    import duckdb

    from features.data.sql import quote

    if not Path(path).exists():
        return None
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error as exc:
        raise OutputBusyError(f"output: cannot read the previous scores in {path}: {first_line(exc)}") from exc
    with con:
        known = con.execute("SELECT count(*) FROM information_schema.tables WHERE lower(table_name) = lower(?)",
                            [table]).fetchone()[0]
        if not known:
            return None
        name = quote(table)
        frame = con.execute(f"SELECT * FROM {name} WHERE as_of = (SELECT max(as_of) FROM {name} WHERE as_of < ?)",
                            [day.to_pydatetime()]).df()
    return frame if len(frame) else None


def _previous_sql(output: str, table: str, day: pd.Timestamp) -> pd.DataFrame | None:
    """The rows of the newest ``as_of`` before ``day`` in table ``table`` of the database at URL ``output``."""
    import sqlalchemy as sa

    from serve.database import engine_for

    url = sql_url(output)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        return None
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return None
            rows = sa.table(table, sa.column("as_of", sa.DateTime()))
            newest = conn.execute(sa.select(sa.func.max(rows.c.as_of)).where(
                rows.c.as_of < day.to_pydatetime())).scalar()
            if newest is None:
                return None
            query = sa.select(sa.literal_column("*")).select_from(rows).where(rows.c.as_of == newest)
            return pd.read_sql(query, conn)
    except (sa.exc.DBAPIError, pd.errors.DatabaseError) as exc:
        raise OutputBusyError(f"output: cannot read the previous scores in {url.render_as_string(hide_password=True)}"
                              f" (table {table}): {first_line(getattr(exc, 'orig', None) or exc)}") from exc
    finally:
        engine.dispose()
