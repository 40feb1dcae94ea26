"""Reading the users (the optional ``users`` table): the people of each account, checked whole.

Unlike an event, a user row is not set aside: a user of an account missing from ``accounts``, a user id
given twice (in one account or in two), a null user id and an unreadable ``created_at`` are each a
DataError naming the column, since the buyer features and the contacts would silently lose people.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from features.config import DataConfig
from features.data.checks import SAMPLES, check_columns, examples
from features.data.sources import Source
from features.data.sql import quote
from features.errors import DataError
from features.tables import LoadReport, Users

# the hash events use for their user ids (features.data.logs), so that an event finds its user
_USER_HASH = "hash(t.user_id)"


def read_users(source: Source, config: DataConfig, join_on: str, attributes: list[str],
               report: LoadReport) -> Users:
    """The users, checked (see the module doc), in the table's order; ``attributes`` are the table's other
    columns (kept as they are: text, numbers)."""
    extra = "".join(f", t.{quote(c)}" for c in attributes)
    table = source.con.sql(
        f"SELECT coalesce(k.k, -1)::INTEGER AS account__, epoch_us(t.created_at) AS created__, "
        f"{_USER_HASH} AS hash__, t.user_id AS user_id__{extra} FROM canon_users t "
        f"LEFT JOIN account_keys k ON {join_on} = k.account_id").to_arrow_table()
    report.rows_read["users"] = table.num_rows
    if table.num_rows == 0:
        raise no_users_error()
    account = table["account__"].to_numpy()
    if table["created__"].null_count or (account < 0).any():
        # a null account id or created_at, or an unreadable one: the column checks name it first (they scan the
        # table again, so only when the rows read show something: a scan of 5 M users costs ~0.2 s)
        check_columns(source, "users", config, set())
    user = table["hash__"].to_numpy().astype(np.uint64, copy=False)
    if table["user_id__"].null_count or _repeats(user):  # the hashes of distinct ids differ
        check_user_ids(source, config)
    unknown = account < 0
    if unknown.any():
        ex = ", ".join(repr(v) for v in table["user_id__"].filter(pa.array(unknown)).slice(0, SAMPLES).to_pylist())
        raise _unknown_accounts(config, int(unknown.sum()), ex)
    # kept in the table's order: nothing downstream needs another (a sort of 5 M users cost ~2 s)
    rest = table.select(["user_id__", *attributes]).to_pandas(
        types_mapper=lambda t: pd.ArrowDtype(t) if pa.types.is_string(t) or pa.types.is_large_string(t) else None)
    return Users(account=account.astype(np.int32), created_us=table["created__"].to_numpy().astype(np.int64),
                 user=user, ids=rest["user_id__"].astype("string"), attributes=rest[attributes])


def check_users(source: Source, config: DataConfig, join_on: str) -> None:
    """Raise the error :func:`read_users` would raise, without reading the users: the same checks in its order as
    DuckDB aggregates over ``canon_users`` (the local engine's buckets hold some accounts' users each, so a user
    in two accounts, or the whole table's counts, are only seen here)."""
    if not source.con.execute("SELECT count(*) FROM canon_users").fetchall()[0][0]:
        raise no_users_error()
    check_columns(source, "users", config, set())
    check_user_ids(source, config)
    unknown = f"NOT EXISTS (SELECT 1 FROM account_keys k WHERE {join_on} = k.account_id)"
    n = source.con.execute(f"SELECT count(*) FROM canon_users t WHERE {unknown}").fetchall()[0][0]
    if n:
        rows = source.con.execute(f"SELECT CAST(t.user_id AS VARCHAR) FROM canon_users t WHERE {unknown} "
                                  f"LIMIT {SAMPLES}").fetchall()
        raise _unknown_accounts(config, n, ", ".join(repr(r[0]) for r in rows))


def no_users_error() -> DataError:
    """The error of a users table without rows (every engine words it so)."""
    return DataError("users", None, "is empty (leave the table out when there are no users)")


def _unknown_accounts(config: DataConfig, n: int, ex: str) -> DataError:
    return DataError("users", config.column("users", "account_id"),
                     f"{n:,} users belong to an account missing from accounts (users {ex})")


def _repeats(hashes: np.ndarray) -> bool:
    """Whether a hash is given twice: sorted, equal hashes are neighbours (a sort of 5 M hashes costs ~60 % of
    a pandas hash table's ``is_unique``)."""
    ordered = np.sort(hashes)
    return bool((ordered[1:] == ordered[:-1]).any())


def check_user_ids(source: Source, config: DataConfig) -> None:
    """The DataError of a null user id, or of one given twice (a user in two accounts, or a repeated row)."""
    column = config.column("users", "user_id")
    nulls = source.con.execute("SELECT count(*) FROM canon_users WHERE user_id IS NULL").fetchall()[0][0]
    if nulls:
        raise DataError("users", column, f"{nulls:,} rows have a null user id (a key)")
    twice = source.con.execute(
        "SELECT count(*), count(*) FILTER (WHERE accounts > 1) FROM (SELECT user_id, "
        "count(DISTINCT CAST(account_id AS VARCHAR)) AS accounts FROM canon_users GROUP BY user_id "
        "HAVING count(*) > 1)").fetchall()[0]
    if twice[1]:
        ex = examples(source, "users", "user_id IN (SELECT user_id FROM canon_users GROUP BY user_id "
                                       "HAVING count(DISTINCT CAST(account_id AS VARCHAR)) > 1)", "user_id")
        raise DataError("users", column, f"{twice[1]:,} user ids are in two or more accounts, e.g. {ex}: a user "
                                         f"belongs to one account")
    if twice[0]:
        ex = examples(source, "users", "user_id IN (SELECT user_id FROM canon_users GROUP BY user_id "
                                       "HAVING count(*) > 1)", "user_id")
        raise DataError("users", column, f"{twice[0]:,} duplicate user ids, e.g. {ex}")
