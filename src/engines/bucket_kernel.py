"""What runs on one bucket of accounts, on either engine: the local engine's own loader and builder.

A bucket holds some accounts with all of their events, conversions and touches (rows are routed by
:func:`engines.buckets.buckets_of`), so every per-account rule -- point in time, eligibility, labels, set-aside
rows, duplicates -- holds within it. This module is plain Arrow/numpy (no pyspark): a bucket's tables arrive as
Arrow tables (DuckDB reads them in place; no pandas frame of raw rows is made). The Spark engine calls it on its
executors, the local engine's bounded-memory path (:mod:`engines.local_split`) on this machine, tests directly.

``features.data.load.load_frames`` refuses tables that are fine as a whole but may be degenerate in one
bucket (a bucket without events, or whose conversions all belong to unknown accounts). So a bucket the loader
refuses is loaded again with one *sentinel* account, with one event (and one conversion / touch when the bucket
has any), copied from the bucket's own rows so they have the source's types and formats; the sentinel is taken
out of the tables and out of the counts afterwards. Whole-table checks run on the driver.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.build import build_features, build_training_table
from features.config import DataConfig
from features.errors import DataError, PipelineError
from features.data.load import load_source
from features.data.sources import open_frames
from features.snapshots import reach_day, reach_start
from features.spec import FeatureSpec
from features.tables import NEVER, EventLog, LoadReport, Tables, Users

from engines.buckets import id_text, summed_reach

MAX_CELLS = 1 << 24  # kinds x days counted by bincount in reach_by_day
SENTINEL_TEXT = "\x00pql-engine-sentinel"
TABLES = ("accounts", "events", "conversions", "touches", "users")
NO_SENTINEL = ("users",)  # a copied user row would repeat its user id: the sentinel account has no users
OUTLIER_NOTE = "created long before the bulk"  # recomputed over all accounts on the driver


@dataclass(frozen=True)
class BucketError:
    """A bucket's PipelineError: its message and exit code, and for a DataError its table, column, problem."""

    message: str
    exit_code: int
    table: str | None = None
    column: str | None = None
    problem: str | None = None

    @classmethod
    def of(cls, exc: PipelineError) -> "BucketError":
        """The picklable parts of ``exc``."""
        if isinstance(exc, DataError):
            return cls(str(exc), exc.exit_code, exc.table, exc.column, exc.problem)
        return cls(str(exc), exc.exit_code)


@dataclass
class BucketResult:
    """A validated bucket: its tables, what loading read and set aside, and the planning statistics."""

    tables: Tables | None
    report: LoadReport
    error: BucketError | None = None  # the PipelineError that stopped the bucket's load
    reach: dict[str, pd.DataFrame] = field(default_factory=dict)  # per log: kind, day, n, varies
    reach_at: dict[str, dict[int, pd.DataFrame]] = field(default_factory=dict)  # per log, per instant: kind, n, varies


def id_column(config: DataConfig, table: str) -> str:
    """The source's name of ``table``'s account id column."""
    return config.column(table, "account_id") or "account_id"


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _max_number(column: pa.ChunkedArray) -> float | None:
    """The largest value of a column read as numbers (text that is no number ignored), or None."""
    if _is_number(column.type):
        top = pc.max(column).as_py()
    else:  # text ids beside numeric ones (rare): which of them read as numbers
        top = pd.to_numeric(pd.Series(column.to_numpy(zero_copy_only=False)), errors="coerce").max()
    return None if top is None or top != top else float(top)


def sentinel_ids(frames: dict[str, pa.Table | None], config: DataConfig) -> dict[str, object]:
    """An account id found in none of the bucket's tables, in each table's own id type: a number above
    every id when any table's ids are numbers (text tables get its plain text form), else a text id."""
    ids = {t: f.column(id_column(config, t)) for t, f in frames.items()
           if f is not None and id_column(config, t) in f.column_names}
    if any(_is_number(c.type) for c in ids.values()):
        top = [v for v in (_max_number(c) for c in ids.values()) if v is not None]
        value = int(max(top or [0])) + 1
        return {t: (value if _is_number(c.type) else str(value)) for t, c in ids.items()}
    text = SENTINEL_TEXT
    while any(pc.any(pc.equal(id_text(c), text)).as_py() for c in ids.values() if len(c)):
        text += "~"
    return {t: text for t in ids}


def _one_row(frame: pa.Table, anchor: pa.Table | None) -> pa.Table | None:
    source = frame if len(frame) else anchor
    return None if source is None or not len(source) else source.slice(0, 1)


def _set(row: pa.Table, column: str, value: object) -> pa.Table:
    """The one-row table with ``column`` set to ``value``, in the column's type."""
    kind = row.schema.field(column).type
    i = row.column_names.index(column)
    return row.set_column(i, row.schema.field(column), pa.array([value]).cast(kind))


def with_sentinel(frames: dict[str, pa.Table | None], anchors: dict[str, pa.Table], config: DataConfig
                  ) -> tuple[dict[str, pa.Table | None], dict[str, object], set[str]]:
    """The bucket's tables plus the sentinel's rows; returns the tables, the sentinel ids and the tables
    that got a sentinel row. An empty table takes its types from the table's anchor row."""
    typed = {t: (anchors[t] if f is not None and not len(f) and t in anchors else f) for t, f in frames.items()}
    ids = sentinel_ids(typed, config)
    out, added = dict(frames), set()
    for table in TABLES:
        frame = frames.get(table)
        if frame is None or table in NO_SENTINEL:
            continue
        required = table in ("accounts", "events")  # conversions / touches: only where the bucket has rows
        row = _one_row(frame, anchors.get(table) if required else None)
        if row is None:
            continue
        if table in ids:
            row = _set(row, id_column(config, table), ids[table])
        quantity = config.column("events", "quantity") if table == "events" else None
        if quantity and quantity in row.column_names:  # a finite quantity: the sentinel is never set aside for it
            row = _set(row, quantity, 1 if _is_number(row.schema.field(quantity).type) else "1")
        out[table] = pa.concat_tables([frame, row]) if len(frame) else row
        added.add(table)
    return out, ids, added


def _drop_account(log: EventLog | None, k: int) -> tuple[EventLog | None, bool]:
    """The log without account row ``k`` (later rows renumbered); whether ``k`` had a row."""
    if log is None:
        return None, False
    mine = log.account == k
    kept = log.take(~mine) if mine.any() else log
    account = np.where(kept.account > k, kept.account - 1, kept.account).astype(np.int32)
    return replace(kept, account=account), bool(mine.any())


def without_sentinel(tables: Tables, report: LoadReport, ids: dict[str, object], added: set[str]) -> Tables:
    """Take the sentinel out of the tables and of the report's counts."""
    accounts = tables.accounts
    k = int(np.flatnonzero((accounts["account_id"] == ids["accounts"]).to_numpy())[0])
    events, kept = _drop_account(tables.events, k)
    if not kept:  # the sentinel's event came before its account existed, so it was set aside
        report.set_aside["events: before the account existed"] -= 1
    touches, _ = _drop_account(tables.touches, k)
    users = tables.users
    if users is not None:  # the sentinel has no users: only later account rows move up
        users = replace(users, account=np.where(users.account > k, users.account - 1, users.account).astype(np.int32))
    conversions = tables.conversions
    if "conversions" in added:
        conversions = conversions[conversions["account_id"] != ids["conversions"]].reset_index(drop=True)
    for table in added:
        report.rows_read[table] -= 1
    report.notes[:] = [n for n in report.notes if OUTLIER_NOTE not in n]
    created = np.delete(tables.created_us, k)
    converted = np.delete(tables.converted_us, k)
    ends = [int(log.ts.max()) for log in (events, touches) if log is not None and len(log)]
    finite = converted[converted != NEVER]
    ends += [int(finite.max())] if len(finite) else []
    history = tables.attributes
    if history is not None:  # the sentinel has no history rows: later accounts are renumbered
        history = replace(history, account=np.where(history.account > k, history.account - 1,
                                                    history.account).astype(np.int32))
    return replace(tables, accounts=accounts.drop(index=k).reset_index(drop=True), created_us=created,
                   converted_us=converted, events=events, touches=touches, conversions=conversions, users=users,
                   attributes=history,
                   data_end_us=(max(ends) + 1) if ends else np.iinfo(np.int64).min)


def _load(frames: dict, config: DataConfig) -> tuple[Tables, LoadReport]:
    """The local loader on a bucket. A bucket without users (the table has rows, in other buckets: an empty table
    is refused on the driver) gets an empty users table with the table's columns."""
    users = frames.get("users")
    present = {t: f for t, f in frames.items() if f is not None and not (t == "users" and not len(f))}
    source = open_frames(present, "bucket")
    source.con.execute(f"SET threads = {load_threads()}")
    tables, report = load_source(source, config)
    if users is not None and not len(users):
        tables = replace(tables, users=no_users(users.to_pandas() if isinstance(users, pa.Table) else users, config))
        report.rows_read["users"] = 0
    return tables, report


def load_threads() -> int:
    """DuckDB's threads for a bucket's load: pyarrow's CPU count, the cores this process may use (all of the
    machine's for the local engine; a Spark task's own, set by :func:`engines.spark.cores.use_task_cores`)."""
    return max(1, pa.cpu_count())


def no_users(frame: pd.DataFrame, config: DataConfig) -> Users:
    """An empty users table whose attributes are the other columns of ``frame`` (a users table's head)."""
    keys = {config.column("users", name) for name in ("user_id", "account_id", "created_at")}
    return Users(account=np.empty(0, np.int32), created_us=np.empty(0, np.int64), user=np.empty(0, np.uint64),
                 ids=pd.Series([], dtype="string"), attributes=frame[[c for c in frame.columns if c not in keys]])


def _loaded(frames: dict[str, pa.Table | None], config: DataConfig, touches_duplicates: str | None
            ) -> tuple[Tables, LoadReport]:
    """The local loader on a bucket's tables, the touches with their own duplicates setting when it differs."""
    tables, report = _load(frames, replace(config, strict=False))
    if touches_duplicates and touches_duplicates != config.duplicates and tables.touches is not None:
        other, other_report = _load(frames, replace(config, strict=False, duplicates=touches_duplicates))
        tables = replace(tables, touches=other.touches)
        report.set_aside = {k: v for k, v in report.set_aside.items() if not k.startswith("touches:")}
        report.set_aside.update({k: v for k, v in other_report.set_aside.items() if k.startswith("touches:")})
        report.notes = [n for n in report.notes if not n.startswith("touches:")] + [
            n for n in other_report.notes if n.startswith("touches:")]
    return tables, report


def _as_it_is(frames: dict[str, pa.Table | None], config: DataConfig, touches_duplicates: str | None
              ) -> tuple[Tables, LoadReport]:
    """The bucket loaded without a sentinel (a PipelineError when it has no accounts or events, or the loader
    refuses it); the outlier note is the driver's, over all accounts."""
    if not all(frames.get(t) is not None and len(frames[t]) for t in ("accounts", "events")):
        raise PipelineError("a bucket without accounts or events")
    tables, report = _loaded(frames, config, touches_duplicates)
    report.notes[:] = [n for n in report.notes if OUTLIER_NOTE not in n]
    return tables, report


def validate_bucket(frames: dict[str, pa.Table | None], anchors: dict[str, pa.Table], config: DataConfig,
                    touches_duplicates: str | None = None, instants: Sequence[int] = ()) -> BucketResult:
    """Load one bucket as the local engine loads a source; ``anchors``: each table's first row (the sentinel's
    model where the bucket has none); ``config.duplicates`` (and ``touches_duplicates``) are already decided over
    the whole tables, ``config.strict`` is applied on the driver to the summed counts. ``instants``: as-ofs whose
    planning statistics are wanted exactly. A bucket is loaded as it is first (taking a sentinel out again copies
    its log); one the loader refuses is loaded again with the sentinel, which tells a degenerate bucket (no
    events, only unknown accounts) from bad input."""
    try:
        tables, report = _as_it_is(frames, config, touches_duplicates)
    except PipelineError:
        padded, ids, added = with_sentinel(frames, anchors, config)
        try:
            tables, report = _loaded(padded, config, touches_duplicates)
            tables = without_sentinel(tables, report, ids, added)
        except PipelineError as exc:
            return BucketResult(None, LoadReport("bucket"), bucket_error(exc, frames, config))
    result = BucketResult(tables, report)
    for name in ("events", "touches"):
        log = getattr(tables, name)
        if log is not None:
            result.reach[name] = reach_by_day(tables, log)
            result.reach_at[name] = {int(t): reach_before(tables, log, int(t)) for t in instants}
    return result


def meta_of(result: BucketResult, config: DataConfig) -> dict:
    """What the driver keeps of a validated bucket: its report, error, planning statistics and the driver's part
    of its tables (accounts, conversions, where its data ends...), never its events."""
    meta = {"report": result.report, "error": result.error, "reach": result.reach, "reach_at": result.reach_at}
    t = result.tables
    if t is not None:
        meta.update(accounts=t.accounts, created_us=t.created_us, converted_us=t.converted_us,
                    conversions=t.conversions, fit_columns=t.fit_columns, data_end_us=t.data_end_us,
                    attributes=t.attributes, n_accounts=t.n_accounts,
                    names={k: getattr(t, k).names for k in ("events", "touches") if getattr(t, k) is not None},
                    has_user=t.events.user is not None, has_quantity=t.events.quantity is not None,
                    users=None if t.users is None else no_users(t.users.attributes.iloc[:0], config))
    return meta


def bucket_error(exc: PipelineError, bare: dict[str, pa.Table | None], config: DataConfig) -> BucketError | None:
    """The error of the bucket's own rows: the sentinel's row (a copy of the bucket's first row) may carry the
    problem too, so the bucket is loaded again without it and that error's count taken when it names the same
    table and column. None when the problem is only the sentinel's (a copy of another bucket's row: that
    bucket reports it)."""
    error = BucketError.of(exc)
    if error.table is None or not error.problem or not error.problem[:1].isdigit():
        return error
    frame = bare.get(error.table)
    try:
        _load(bare, replace(config, strict=False))
    except PipelineError as again:
        other = BucketError.of(again)
        if (other.table, other.column) == (error.table, error.column) and (other.problem or "")[:1].isdigit():
            return other
    if frame is not None and not len(frame) and error.problem.startswith("1 "):
        return None
    return error


def _summary(log: EventLog, kinds: np.ndarray, rows: np.ndarray, by: list[np.ndarray] = ()) -> pd.DataFrame:
    varies = (log.quantity[rows] != 1.0) if log.quantity is not None else np.zeros(rows.sum(), dtype=bool)
    frame = pd.DataFrame({"kind": kinds[rows], **{f"k{i}": b for i, b in enumerate(by)}, "varies": varies})
    keys = ["kind", *[f"k{i}" for i in range(len(by))]]
    out = frame.groupby(keys, sort=True).agg(n=("varies", "size"), varies=("varies", "any")).reset_index()
    out["kind"] = np.asarray(log.names, dtype=object)[out["kind"].to_numpy()] if len(out) else out["kind"]
    return out.rename(columns={"k0": "day"})


def reach_by_day(tables: Tables, log: EventLog) -> pd.DataFrame:
    """Reachable rows per (kind, day of ``max(ts, created)``) and whether their quantity varies: counts at any
    midnight as-of are cumulative sums. Counted with ``np.bincount`` over kind x day (7x faster than a groupby of
    every row), or grouped when the log spans too many days for that."""
    start, ok = reach_start(tables, log)
    day = reach_day(start[ok])
    size = (int(day.max() - day.min()) + 1) * max(len(log.names), 1) if len(day) else 0
    if not len(day) or size > MAX_CELLS:
        return _summary(log, log.kind, ok, [day])
    low, span = int(day.min()), int(day.max() - day.min()) + 1
    key = log.kind[ok].astype(np.int64) * span + (day - low)
    n = np.bincount(key, minlength=size)
    varies = np.zeros(size, dtype=bool)
    if log.quantity is not None:  # the few rows whose quantity is not 1 (a weighted count of all rows cost 2x)
        varies[key[log.quantity[ok] != 1.0]] = True
    cells = np.flatnonzero(n)
    names = np.asarray(log.names, dtype=object)
    return pd.DataFrame({"kind": names[cells // span], "day": (cells % span + low).astype(day.dtype),
                         "n": n[cells].astype(np.int64), "varies": varies[cells]})


def reach_before(tables: Tables, log: EventLog, t: int) -> pd.DataFrame:
    """Rows per kind that can reach a feature at some as-of ``<= t`` (and whether their quantity varies)."""
    start, ok = reach_start(tables, log)
    return _summary(log, log.kind, ok & (start < t))


def features_of(tables: Tables, as_of: Sequence[int], spec: FeatureSpec, horizon_days: int | None,
                max_age_us: int | None = None) -> pd.DataFrame:
    """The local builder on one bucket: the feature table, with labels when ``horizon_days`` is given
    (``max_age_us``: first looks only)."""
    if horizon_days is None:
        return build_features(tables, list(as_of), spec, max_age_us=max_age_us)
    return build_training_table(tables, list(as_of), spec, horizon_days, max_age_us=max_age_us)
