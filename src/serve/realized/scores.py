"""Reading back the scores the batch job kept, by the contract of the table it writes (:mod:`serve.write`).

Sources: one file per day (``scores_dir`` + ``scores_pattern``, or ``scores`` = a path with ``{date}``), a
Parquet dataset partitioned by ``as_of_date`` (``engine=spark``; a folder without partitions is read as
daily files named like ``scores_pattern``), a ``.duckdb`` file or a SQLAlchemy URL (table ``scores_table``,
a plain identifier, always quoted). What is read is held to the contract:

* ids are text (a CSV's ``000042`` stays ``000042``);
* ``score`` is a probability: a NaN, negative or above-1 value is a DataError naming the file and the rows;
* one row per account and day: a file not named exactly like the pattern is skipped with a warning
  naming it; a repeated (account, day) -- a copied file renamed to another day, two runs of one day in a
  database -- is counted once (the newest ``as_of`` of the day) with a warning naming where it was read.
"""
from __future__ import annotations

import glob
import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd

from features.data.sql import first_line, identifier, quote, shown
from features.errors import ConfigError, DataError, PipelineError

log = logging.getLogger("pql")
REQUIRED = ("account_id", "as_of", "score", "pql_tier")
DEFAULT_PATTERN = "scores_{date}.parquet"
DEFAULT_TABLE = "pql_scores"
MISSING_ACCOUNTS_MAX = 0.05  # a larger share of scored accounts unknown to the data source: the wrong source
NAMED = 5  # files a warning names
CONNECT_SECONDS = 15  # an unreachable database server: give up after this long (exit 4)
_DAY = r"(\d{4}-\d{2}-\d{2})"
_PARTITION = re.compile(r"as_of_date=" + _DAY)
_ORIGIN = "__read_from"


class NoScoresError(PipelineError):
    """No past scores to judge (exit code 3, like other missing input)."""

    exit_code = 3


class ScoresUnreachableError(PipelineError):
    """The scores database cannot be reached or is held by another process (exit code 4)."""

    exit_code = 4


def _names(paths: list[str]) -> str:
    more = f" and {len(paths) - NAMED} more" if len(paths) > NAMED else ""
    return ", ".join(shown(Path(p).name) for p in paths[:NAMED]) + more


def score_files(pattern: str) -> list[tuple[pd.Timestamp, str]]:
    """(date, path) of every file matching a path with ``{date}`` (or ``{as_of}``), oldest first; other files
    the same wildcard finds (``scores_2024-08-05 (copy).parquet``) are skipped with a warning naming them.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); _ = [open(os.path.join(d, f"scores_{x}.csv"), "w").close()
    ...                              for x in ("2024-05-06", "2024-05-07", "notes")]
    >>> [str(t.date()) for t, _ in score_files(os.path.join(d, "scores_{date}.csv"))]
    ['2024-05-06', '2024-05-07']
    """
    pattern = str(pattern).replace("{as_of}", "{date}")
    if "{date}" not in pattern:
        raise ConfigError(f"scores: '{pattern}' has no {{date}}: give the path the batch job wrote, with {{date}} "
                          f"where the day goes (or scores_dir=FOLDER with scores_pattern)")
    head, tail = pattern.split("{date}", 1)
    found = re.compile(re.escape(head) + _DAY + re.escape(tail))
    out, stray = [], []
    for path in glob.glob(glob.escape(head) + "*" + glob.escape(tail)):
        match = found.fullmatch(path)
        if match:
            out.append((pd.Timestamp(match.group(1)), path))
        else:
            stray.append(path)
    if stray:
        log.warning("scores: skipped %d file(s) not named like %s: %s", len(stray), Path(pattern).name,
                    _names(sorted(stray)))
    return sorted(out)


def dataset_files(folder: Path, pattern: str) -> list[str]:
    """The Parquet parts of a dataset partitioned by ``as_of_date`` (``engine=spark``), other visible files
    skipped with a warning; a folder with no partition is read as daily files named like ``pattern``."""
    if not any(_PARTITION.fullmatch(p.name) for p in folder.iterdir() if p.is_dir()):
        return [path for _, path in score_files(str(folder / pattern))]
    parts, stray = [], []
    for path in sorted(folder.rglob("*")):
        inside = path.relative_to(folder).parts
        if path.is_dir() or any(part.startswith(("_", ".")) for part in inside):  # _SUCCESS, .crc: Spark's own
            continue
        partitioned = len(inside) == 2 and _PARTITION.fullmatch(inside[0]) and path.suffix == ".parquet"
        (parts if partitioned else stray).append(str(path))
    if stray:
        log.warning("scores: skipped %d file(s) outside the as_of_date=YYYY-MM-DD partitions of %s: %s",
                    len(stray), folder, _names(stray))
    return parts


def read_scores_file(path: str) -> pd.DataFrame:
    """One kept scores file (Parquet or CSV) as the batch job wrote it: ids and model versions as text."""
    try:  # ids are text in the scores table: a CSV's 000042 must not become the number 42
        if path.endswith(".csv"):
            return pd.read_csv(path, dtype={"account_id": str, "model_version": str})
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's and the CSV parser's errors are among these
        raise DataError(path, None, f"cannot be read as a scores file: {first_line(exc)}") from exc


def _read_duckdb(path: str, table: str) -> tuple[str, pd.DataFrame]:
    import duckdb

    if not Path(path).exists():
        raise NoScoresError(f"scores: {path} does not exist")
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise ScoresUnreachableError(f"scores: another process holds {path}: {first_line(exc)}") from exc
        raise ConfigError(f"scores: cannot open {path} as a DuckDB database: {first_line(exc)}") from exc
    with con:
        known = con.execute("SELECT count(*) FROM information_schema.tables WHERE lower(table_name) = lower(?)",
                            [table]).fetchone()[0]
        if not known:
            raise NoScoresError(f"scores: {path} has no table '{table}' (scores_table)")
        return f"{path} (table {table})", con.execute(f"SELECT * FROM {quote(table)}").df()


def _read_sql(source: str, table: str) -> tuple[str, pd.DataFrame]:
    import sqlalchemy as sa

    from serve.write import sql_url

    try:
        url = sql_url(source)
    except ConfigError as exc:  # its message names the batch job's key
        raise ConfigError("scores: " + str(exc).partition(": ")[2]) from exc
    where = f"{url.render_as_string(hide_password=True)} (table {table})"
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        raise NoScoresError(f"scores: {url.database or 'an in-memory SQLite database'} does not exist")
    postgres = url.get_backend_name() == "postgresql"
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": CONNECT_SECONDS} if postgres else {})
    except ImportError as exc:
        raise ConfigError(f"scores: no driver for '{url.drivername}' is installed ({first_line(exc)})"
                          + (": pip install -e '.[postgres]'" if postgres else "")) from exc
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                raise NoScoresError(f"scores: {where} does not exist (scores_table)")
            return where, pd.read_sql_table(table, conn)
    except sa.exc.DBAPIError as exc:  # refused, timed out, authentication: the driver's own first line
        raise ScoresUnreachableError(f"scores: cannot read {where}: "
                                     f"{first_line(getattr(exc, 'orig', None) or exc)}") from exc
    finally:
        engine.dispose()


def _parts(config: dict[str, Any]) -> list[tuple[str, pd.DataFrame]]:
    """Each piece of the scores the config points at, with what to call it in messages."""
    source, folder = config.get("scores"), config.get("scores_dir")
    pattern = str(config.get("scores_pattern") or DEFAULT_PATTERN)
    if folder:
        source = str(Path(str(folder)).expanduser() / pattern)
    if not source:
        raise ConfigError("scores: give where the batch job wrote its scores: scores_dir=FOLDER (with scores_pattern), "
                          "scores=PATH_WITH_{date}, a .duckdb file or a database URL")
    source = str(source)
    if source.endswith(".duckdb") or "://" in source:
        table = identifier(config.get("scores_table") or DEFAULT_TABLE, "scores_table")
        reader = _read_duckdb if source.endswith(".duckdb") else _read_sql
        return [reader(source, table)]
    if Path(source).expanduser().is_dir():
        files = dataset_files(Path(source).expanduser(), pattern)
    else:
        files = [path for _, path in score_files(source)]
    if not files:
        raise NoScoresError(f"scores: no file matches {source} (the batch job's output_dir/output_pattern)")
    return [(path, read_scores_file(path)) for path in files]


def checked_scores(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """One piece held to the contract: its columns, text ids, as-of instants and probabilities."""
    missing = sorted(set(REQUIRED) - set(frame.columns))
    if missing:
        raise ConfigError(f"scores: {where} lacks {missing}: is it the batch job's scores table?")
    for column, bad, what in (
            ("account_id", frame["account_id"].isna(), "have no account id"),
            ("as_of", pd.to_datetime(frame["as_of"], utc=True, errors="coerce").isna(), "have no as-of instant"),
            ("score", ~pd.to_numeric(frame["score"], errors="coerce").between(0, 1),
             "are not probabilities in [0, 1] (empty, NaN, negative or above 1)")):
        if bad.any():
            raise DataError(where, column, f"{int(bad.sum()):,} rows {what}, e.g. row {int(bad.to_numpy().argmax())}")
    as_of = pd.to_datetime(frame["as_of"], utc=True).dt.tz_localize(None)
    return frame.assign(as_of=as_of, account_id=frame["account_id"].astype(str),
                        score=pd.to_numeric(frame["score"]), **{_ORIGIN: where})


def _once_per_day(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per account and day: the newest as-of of a day kept, a warning naming where repeats were read."""
    keyed = frame.assign(_day=frame["as_of"].dt.normalize())
    repeated = keyed.duplicated(["account_id", "_day"], keep=False)
    if repeated.any():
        first = frame[repeated].iloc[0]
        log.warning("scores: %d row(s) repeat an account and day already read (e.g. account '%s' on %s), "
                    "counted once: read from %s", int(keyed.duplicated(["account_id", "_day"]).sum()),
                    shown(first["account_id"]), first["as_of"].date(),
                    _names(sorted(frame.loc[repeated, _ORIGIN].unique())))
        keyed = keyed.sort_values("as_of", kind="stable")
        keyed = keyed[~keyed.duplicated(["account_id", "_day"], keep="last")]
    return keyed.drop(columns=[_ORIGIN, "_day"]).reset_index(drop=True)


def read_scores(config: dict[str, Any]) -> pd.DataFrame:
    """Every past scoring day the config points at, as one frame held to the scores table's contract: ids
    as text, ``as_of`` as naive UTC timestamps, probabilities in [0, 1], one row per account and day."""
    checked = [checked_scores(frame, where) for where, frame in _parts(config)]
    return _once_per_day(pd.concat(checked, ignore_index=True))


def check_accounts(scores: pd.DataFrame, known: pd.Series) -> None:
    """The scored accounts against the data source's ids (both text): more than ``MISSING_ACCOUNTS_MAX`` of
    them unknown is a DataError (the wrong data source: they would all count as not converted); fewer, a
    warning."""
    ids = scores["account_id"].drop_duplicates()
    unknown = ids[~ids.isin(set(known.astype(str)))]
    if unknown.empty:
        return
    text = (f"{len(unknown):,} of {len(ids):,} scored accounts ({len(unknown) / len(ids):.1%}) are not in the data "
            f"source's accounts, e.g. '{shown(unknown.iloc[0])}'")
    if len(unknown) > MISSING_ACCOUNTS_MAX * len(ids):
        raise DataError("scores", "account_id", f"{text}: give serve.realized the data source the batch job "
                                                f"scored (data.dir=..., data.duckdb=...)")
    log.warning("scores: %s; they count as not converted", text)
