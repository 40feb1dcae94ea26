"""The scores the batch job kept, read back for alerts, and each day's scores and alerts written together.

Where the previous run is, and where the alerts go, by the kind of output:

* one file a day (``{date}`` in ``output``, or ``output_dir`` + ``output_pattern``): the newest file of an
  earlier day; the alerts go to ``alerts_{date}`` with the scores' suffix in the same folder (in a folder
  ``alerts/`` below it when the scores' own file names would take that name too);
* one file overwritten every day (``output=scores.parquet``, the default): each run also keeps its scores in
  ``<stem>_history/<stem>_{date}<suffix>`` beside it (the newest ``alerts.keep_days`` days), and the previous
  run is the newest of those of an earlier day -- or, when none is kept yet, the file itself if it holds an
  earlier day (written by a version that kept none); the alerts go to ``<stem>_alerts<suffix>`` beside it,
  overwritten daily like the scores;
* a ``.duckdb`` file or a SQLAlchemy URL: the rows of the newest earlier day's ``as_of`` in ``output_table``;
  the alerts go to table ``<output_table>_alerts`` of the same database.

The day's scores and alerts are written together: in a database, in one transaction (a failure leaves both
tables as they were); as files, each written in full to a temporary file before any is renamed over its
target (:mod:`serve.files`). A rerun of a day compares with the same earlier run and replaces that day's
scores and alerts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.data.sql import first_line, identifier
from features.io import FILE_FORMATS, check_output
from serve.alerts import AlertsConfig
from serve.database import OutputBusyError, sql_url, write_duckdb, write_sql
from serve.files import Staged, replace_together
from serve.realized.scores import checked_scores, read_scores_file, score_files
from serve.write import LOCK_WAIT_SECONDS, current_umask, target

ALERTS_SUFFIX = "_alerts"  # a database's alerts table: <output_table>_alerts; a single file's: <stem>_alerts
ALERTS_NAME = "alerts_{date}"  # a daily file's alerts, with the scores' suffix
KEPT_FOLDER = "{stem}_history"  # a single file's kept days, beside it: <stem>_history/<stem>_{date}<suffix>


def _database(output: str) -> bool:
    return "://" in output or Path(output).suffix.lower() == ".duckdb"


def _daily(output: str) -> bool:
    return "{date}" in output or "{as_of}" in output


def alerts_file(output: str) -> str:
    """Where the alerts of a scores file go (``{date}`` still in it): for one file a day, ``alerts_{date}`` with
    the scores' suffix in the scores' folder, or in ``alerts/`` below it when the scores' wildcard would match
    that name; for one file overwritten daily, ``<stem>_alerts`` with its suffix beside it.

    >>> alerts_file("/srv/scores/scores_{date}.parquet"), alerts_file("/srv/scores/{date}.csv")
    ('/srv/scores/alerts_{date}.parquet', '/srv/scores/alerts/alerts_{date}.csv')
    >>> alerts_file("scores.parquet")
    'scores_alerts.parquet'
    """
    output = str(output).replace("{as_of}", "{date}")
    path = Path(output)
    if not _daily(output):
        return str(path.with_name(f"{path.stem}{ALERTS_SUFFIX}{path.suffix}"))
    beside = path.parent / (ALERTS_NAME + path.suffix)
    head, tail = output.split("{date}", 1)
    wildcard = re.escape(head) + "[^/]*" + re.escape(tail)  # what serve.realized's glob of the scores finds
    if re.fullmatch(wildcard, str(beside).replace("{date}", "2000-01-01")):
        beside = path.parent / "alerts" / (ALERTS_NAME + path.suffix)
    return str(beside)


def kept_files(output: str) -> str:
    """Where one file overwritten daily keeps each day's scores (a path with ``{date}``), in a folder beside it.

    >>> kept_files("/srv/pql/scores.parquet")
    '/srv/pql/scores_history/scores_{date}.parquet'
    """
    path = Path(output)
    return str(path.parent / KEPT_FOLDER.format(stem=path.stem) / f"{path.stem}_{{date}}{path.suffix}")


@dataclass(frozen=True)
class History:
    """The kept scores of one output and where its alerts go (``kept``: where a single output file keeps its
    days, None for the other outputs, which keep their days themselves)."""

    output: str  # the scores' output, ``{date}`` not filled in
    table: str
    alerts_output: str
    alerts_table: str
    kept: str | None = None
    wait_seconds: float = LOCK_WAIT_SECONDS
    settings: AlertsConfig = AlertsConfig()  # when a change is an alert, and how many days a single file keeps

    @classmethod
    def of(cls, output: str, table: str, as_of: pd.Timestamp, inputs: list[Path],
           wait_seconds: float = LOCK_WAIT_SECONDS, settings: AlertsConfig = AlertsConfig()) -> "History":
        """The history of ``output``, its targets checked before any work (ConfigError): a plain
        ``<output_table>_alerts`` name, or writable alerts (and kept) files that are no input of the data source."""
        output, alerts_table = str(output), f"{table}{ALERTS_SUFFIX}"
        if _database(output):
            identifier(alerts_table, "output_table (its alerts table, <output_table>_alerts)")
            return cls(output, table, output, alerts_table, None, wait_seconds, settings)
        kept = None if _daily(output) else kept_files(output)
        alerts = alerts_file(output)
        for path in (alerts, kept):
            if path is not None:
                check_output(target(path, as_of), inputs, FILE_FORMATS)
        return cls(output, table, alerts, alerts_table, kept, wait_seconds, settings)

    def previous(self, as_of: pd.Timestamp) -> tuple[pd.DataFrame | None, pd.Timestamp | None]:
        """(the scores of the newest earlier day, that run's as-of), or (None, None) when none was kept."""
        day = pd.Timestamp(as_of).normalize()
        if _database(self.output):
            read = _previous_duckdb if self.output.endswith(".duckdb") else _previous_sql
            frame, where, when = read(self.output, self.table, day), f"{self.output} (table {self.table})", None
        else:
            frame, where, when = self._previous_file(day)
        if frame is None:
            return None, None
        frame = checked_scores(frame, where)  # the scores table's contract: text ids, naive UTC as-of, probabilities
        frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith("__")])
        return frame, (frame["as_of"].max() if len(frame) else when)

    def _previous_file(self, day: pd.Timestamp) -> tuple[pd.DataFrame | None, str, pd.Timestamp | None]:
        """The newest kept file of a day before ``day`` (a single output file itself, when none is kept yet)."""
        earlier = [(when, path) for when, path in score_files(self.kept or self.output) if when < day]
        if earlier:
            when, where = earlier[-1]
            return read_scores_file(where), where, when
        unkept = self._unkept()
        if unkept is None or unkept[1] >= day:
            return None, "", None
        return unkept[0], self.output, unkept[1]

    def _unkept(self) -> tuple[pd.DataFrame, pd.Timestamp] | None:
        """A single output file with no day kept beside it yet (written by a version that kept none): its scores
        and their day, so that the run about to replace it compares with it and keeps it; else None."""
        if self.kept is None or score_files(self.kept) or not Path(self.output).is_file():
            return None
        frame = read_scores_file(self.output)
        checked = checked_scores(frame, self.output)
        return (frame, checked["as_of"].max().normalize()) if len(checked) else None

    def write(self, scores: pd.DataFrame, alerts: pd.DataFrame, as_of: pd.Timestamp) -> tuple[str, str]:
        """Write one day's scores and alerts together (replacing that day's); returns where each went."""
        if _database(self.output):
            output = target(self.output, as_of)
            days = {self.table: scores, self.alerts_table: alerts}
            where = (write_sql(days, output, as_of) if "://" in output
                     else write_duckdb(days, output, as_of, self.wait_seconds))
            return where, where.rsplit(" (table ", 1)[0] + f" (table {self.alerts_table})"
        scores_path, alerts_path = Path(target(self.output, as_of)), Path(target(self.alerts_output, as_of))
        files = [Staged(scores_path, scores), Staged(alerts_path, alerts)]  # the alerts last: a hook reading them
        if self.kept is not None:  # finds the scores they speak of in place
            kept = Path(target(self.kept, as_of))
            files = [Staged(kept, scores), Staged(scores_path, same_as=kept), files[1]]
            unkept = self._unkept()
            if unkept is not None and unkept[1] != pd.Timestamp(as_of).normalize():  # the run it replaces
                files.insert(0, Staged(Path(target(self.kept, unkept[1])), unkept[0]))
        replace_together(files, 0o666 & ~current_umask())
        if self.kept is not None:
            _prune(self.kept, self.settings.keep_days)
        return str(scores_path), str(alerts_path)


def _prune(kept: str, days: int) -> None:
    """Keep the newest ``days`` kept files of a single output file; older ones are removed."""
    for _, path in score_files(kept)[:-days]:
        Path(path).unlink(missing_ok=True)


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
