"""Parquet logs coded from the files' dictionaries (features.data.parquet_log) give what DuckDB's join gives:
the same tables, report and errors as the same frames loaded from memory (the DuckDB path)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.data import parquet_log
from features.config import DataConfig
from features.errors import DataError
from features.data.load import load_frames, load_tables


def ts(text):
    return pd.Timestamp(text).as_unit("us")


def _accounts(ids=("a", "b", "c")):
    return pd.DataFrame({"account_id": list(ids), "created_at": [ts("2024-01-01")] * len(ids),
                         "plan": ["free", None, "team"][:len(ids)], "seats": [5, 10, 3][:len(ids)]})


def _events(ids=("a", "a", "b", "a", "zz", "c", "b", "a")):
    n = len(ids)
    return pd.DataFrame({
        "account_id": list(ids),
        "event": ["task", "é-vent", "task", "Zed", "task", "zed", "é-vent", "task"][:n],
        "timestamp": [ts("2024-01-10"), ts("2024-01-10"), ts("2024-01-11"), ts("2023-12-01"), ts("2024-01-12"),
                      ts("2024-01-13 10:00"), ts("2024-01-11"), ts("2024-01-10")][:n],
        "user_id": ["u1", None, "u2", "u1", "u3", "u4", "u2", "u1"][:n],
        "quantity": [1.0, np.nan, 2.0, None, 1.0, np.inf, 2.0, 1.0][:n],
    })


def _touches():
    return pd.DataFrame({"account_id": ["a", "c", "ghost", "a"], "touch": ["webinar", "email", "email", "webinar"],
                         "timestamp": [ts("2023-12-20"), ts("2024-01-05"), ts("2024-01-06"), ts("2023-12-20")]})


def _conversions():
    return pd.DataFrame({"account_id": ["b", "b"], "converted_at": [ts("2024-02-01"), ts("2024-03-01")]})


def _write(folder: Path, frames: dict, parts: int = 1, row_group_size: int | None = None,
           dictionary: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if frame is None:
            continue
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if dictionary and name in ("events", "touches"):  # a categorical column: stored with an Arrow dictionary type
            key = "event" if name == "events" else "touch"
            table = table.set_column(table.schema.get_field_index(key), key,
                                     pc_dictionary(table.column(key)))
        if parts == 1 or name not in ("events", "touches"):
            pq.write_table(table, folder / f"{name}.parquet", row_group_size=row_group_size)
            continue
        (folder / name).mkdir()
        bounds = np.linspace(0, table.num_rows, parts + 1).astype(int)
        for i in range(parts):
            pq.write_table(table.slice(bounds[i], bounds[i + 1] - bounds[i]), folder / name / f"part-{i}.parquet",
                           row_group_size=row_group_size)


def pc_dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    return pc.dictionary_encode(column)


def _canonical(log):
    """A log's rows in one order (DuckDB's join returns them in an order that may vary)."""
    if log is None:
        return None
    fields = [f for f in ("quantity", "user", "ts", "kind", "account") if getattr(log, f) is not None]
    order = np.lexsort([getattr(log, f) for f in fields])
    return log.names, {f: getattr(log, f)[order] for f in fields}


def _same(a, b) -> None:
    (ta, ra), (tb, rb) = a, b
    pd.testing.assert_frame_equal(ta.accounts, tb.accounts)
    pd.testing.assert_frame_equal(ta.conversions, tb.conversions)
    assert np.array_equal(ta.created_us, tb.created_us) and np.array_equal(ta.converted_us, tb.converted_us)
    assert (ta.fit_columns, ta.data_end_us) == (tb.fit_columns, tb.data_end_us)
    for log in ("events", "touches"):
        ca, cb = _canonical(getattr(ta, log)), _canonical(getattr(tb, log))
        if ca is None or cb is None:
            assert ca is cb
            continue
        assert ca[0] == cb[0]
        assert ca[1].keys() == cb[1].keys()
        for f in ca[1]:
            assert ca[1][f].dtype == cb[1][f].dtype and np.array_equal(ca[1][f], cb[1][f]), (log, f)
    assert ra.lines()[1:] == rb.lines()[1:] and ra.set_aside == rb.set_aside  # line 0 names the source


@pytest.fixture
def spy(monkeypatch):
    """Counts the tables coded from Parquet dictionaries."""
    calls = []
    real = parquet_log.read_keys

    def read_keys(plan, keys):
        calls.append(plan)
        return real(plan, keys)

    monkeypatch.setattr(parquet_log, "read_keys", read_keys)
    return calls


def _frames(**overrides):
    frames = {"accounts": _accounts(), "events": _events(), "conversions": _conversions(), "touches": _touches()}
    frames.update(overrides)
    return frames


@pytest.mark.parametrize("layout", [
    {}, {"parts": 3}, {"row_group_size": 2}, {"parts": 2, "row_group_size": 1, "dictionary": True},
    {"row_group_size": 1, "batch": 2}, {"parts": 2, "row_group_size": 3, "batch": 1}])
def test_parquet_keys_give_the_tables_and_report_of_the_duckdb_join(tmp_path, spy, layout, monkeypatch):
    layout = dict(layout)
    if "batch" in layout:  # names met in another order batch by batch, renumbered at the end
        monkeypatch.setattr(parquet_log, "_BATCH_ROWS", layout.pop("batch"))
    frames = _frames()
    _write(tmp_path, frames, **layout)
    got = load_tables(DataConfig(dir=str(tmp_path)))
    assert [p.name for p in spy] == ["event", "touch"]  # both logs took the Parquet path
    _same(got, load_frames(frames))
    aside = {k: v for k, v in got[1].set_aside.items() if v}
    assert aside == {"events: unknown account": 1, "events: before the account existed": 1,
                     "events: non-finite quantity": 1, "events: exact duplicates": 1,
                     "touches: unknown account": 1, "touches: exact duplicates": 1,
                     "conversions: repeat conversions of a converted account": 1}
    # every row's name counts (set-aside rows too): most frequent first, ties by name in code-point order
    assert got[0].events.names == ("task", "é-vent", "Zed", "zed")


def test_integer_ids_and_mapped_column_names(tmp_path, spy):
    accounts = _accounts().assign(account_id=[10, 20, 30])
    events = _events(ids=(10, 10, 20, 10, 99, 30, 20, 10)).rename(columns={"account_id": "org", "event": "action"})
    frames = _frames(accounts=accounts, events=events, touches=None,
                     conversions=_conversions().assign(account_id=[20, 20]))
    config = DataConfig.from_mapping({"columns": {"events": {"account_id": "org", "event": "action"}}})
    _write(tmp_path, frames)
    got = load_tables(DataConfig.from_mapping({"dir": str(tmp_path), "columns": config.columns}))
    assert len(spy) == 1
    _same(got, load_frames(frames, config))


def test_ids_of_another_type_go_through_duckdb(tmp_path, spy):
    frames = _frames(accounts=_accounts().assign(account_id=[1, 2, 3]), touches=None,
                     events=_events(ids=("1", "1", "2", "1", "9", "3", "2", "1")),
                     conversions=_conversions().assign(account_id=[2, 2]))
    _write(tmp_path, frames)
    got = load_tables(DataConfig(dir=str(tmp_path)))
    assert spy == []  # matched as BIGINT by DuckDB, with a note
    _same(got, load_frames(frames))


@pytest.mark.parametrize("change, message", [
    ({"account_id": ["a", None, "b", "a", "zz", "c", "b", "a"]}, "1 rows have a null account id"),
    ({"event": ["task", None, "task", "x", "task", "x", "task", "task"]}, "1 rows have a null event name"),
    ({"account_id": [None, "a", "b", "a", "zz", "c", "b", "a"]}, "1 rows have a null account id"),
    ({"timestamp": [ts("2024-01-10"), None] + [ts("2024-01-11")] * 6}, "1 rows have no timestamp"),
    ({"quantity": ["1", "lots", "2", None, "1", "1", "2", "1"]}, "values are not numbers, e.g. 'lots'"),
    ({"timestamp": ["2024-01-10", "soon"] + ["2024-01-11"] * 6}, "cannot be read as ISO-8601 timestamps"),
])
@pytest.mark.parametrize("row_group_size", [None, 1])  # 1: a row group of one null, an empty dictionary
def test_errors_are_the_duckdb_paths(tmp_path, spy, change, message, row_group_size):
    frames = _frames(events=_events().assign(**change))
    _write(tmp_path, frames, row_group_size=row_group_size)
    with pytest.raises(DataError) as parquet:
        load_tables(DataConfig(dir=str(tmp_path)))
    with pytest.raises(DataError) as memory:
        load_frames(frames)
    assert str(parquet.value) == str(memory.value) and message in str(parquet.value)
    assert len(spy) == 1


def test_local_time_zone_and_strict_mode(tmp_path, spy):
    frames = _frames()
    _write(tmp_path, frames)
    config = DataConfig(timezone="Europe/Berlin")
    got = load_tables(DataConfig(dir=str(tmp_path), timezone="Europe/Berlin"))
    _same(got, load_frames(frames, config))
    with pytest.raises(DataError, match="data.strict=true") as strict:
        load_tables(DataConfig(dir=str(tmp_path), strict=True))
    with pytest.raises(DataError) as memory:
        load_frames(frames, DataConfig(strict=True))
    assert str(strict.value) == str(memory.value)


def test_rows_keep_the_files_order(tmp_path):
    events = _events().iloc[[0, 2, 6, 7, 5]].reset_index(drop=True)  # known accounts, no duplicate, all finite
    events["quantity"] = [1.0, 2.0, 3.0, 4.0, 5.0]
    _write(tmp_path, _frames(events=events, touches=None), parts=2, row_group_size=1)
    tables, _ = load_tables(DataConfig(dir=str(tmp_path)))
    assert tables.events.quantity.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert tables.events.account.tolist() == [0, 1, 1, 0, 2]


def test_kind_codes_take_two_bytes_until_the_names_need_four(tmp_path, spy, monkeypatch):
    assert _canonical(load_tables(DataConfig(dir=str(_written(tmp_path / "few", _frames()))))[0].events)[1][
        "kind"].dtype == np.int16
    n = 33_000  # more names than int16 codes hold: met batch by batch, the codes widen part way
    events = pd.DataFrame({"account_id": ["a", "b"] * (n // 2), "event": [f"e{i:05d}" for i in range(n)],
                           "timestamp": [ts("2024-01-10")] * n, "user_id": ["u1"] * n, "quantity": [1.0] * n})
    frames = _frames(events=events, touches=None)
    monkeypatch.setattr(parquet_log, "_BATCH_ROWS", 20_000)
    got = load_tables(DataConfig(dir=str(_written(tmp_path / "many", frames, row_group_size=10_000))))
    assert got[0].events.kind.dtype == np.int32 and len(got[0].events.names) == n
    _same(got, load_frames(frames))


def _written(folder: Path, frames: dict, **layout) -> Path:
    _write(folder, frames, **layout)
    return folder


@pytest.mark.parametrize("n", [0, 3, 400, 5000])
def test_positions_hash_the_smaller_side_and_equal_index_in(n):
    """A batch naming few of many accounts is coded by hashing its own values (repeats and nulls included);
    either way each value gets its position among the accounts' ids, -1 when it is none of them."""
    import pyarrow.compute as pc

    rng = np.random.default_rng(n)
    keys = pa.array(sorted({f"acct-{x}" for x in rng.integers(0, 3000, 2000)}))
    raw = [None if r < 0.05 else f"acct-{x}" for x, r in zip(rng.integers(0, 4000, n), rng.random(n))]
    for values in (pa.array(raw, pa.string()), pa.array([int(v[5:]) if v else None for v in raw], pa.int64())):
        ids = keys if values.type == pa.string() else pa.array(sorted({int(k[5:]) for k in keys.to_pylist()}))
        expected = pc.index_in(values, value_set=ids).fill_null(-1).to_numpy(zero_copy_only=False)
        assert np.array_equal(parquet_log._positions(values, ids), expected)
    assert (n < len(keys)) == (n in (0, 3, 400))  # both sides of the rule are exercised


def _arrow(frames: dict, chunks: int) -> dict:
    """The frames as Arrow tables, the logs' account ids and names dictionary-encoded chunk by chunk (each chunk
    its own dictionary, as a bucket's Arrow stream holds them)."""
    out = {}
    for name, frame in frames.items():
        table = pa.Table.from_pandas(frame, preserve_index=False) if frame is not None else None
        if table is not None and name in ("events", "touches") and chunks:  # 0: plain text, as Spark's buckets
            bounds = np.linspace(0, table.num_rows, chunks + 1).astype(int)
            parts = [table.slice(lo, hi - lo) for lo, hi in zip(bounds[:-1], bounds[1:])]
            for key in ("account_id", "event" if name == "events" else "touch"):
                coded = pa.chunked_array([p.column(key).combine_chunks().dictionary_encode() for p in parts])
                table = table.set_column(table.schema.get_field_index(key), key, coded)
        out[name] = table
    return out


@pytest.mark.parametrize("chunks", [0, 1, 3])
def test_arrow_tables_are_coded_from_their_dictionaries_as_parquet_files_are(spy, chunks):
    frames = _frames()
    got = load_frames(_arrow(frames, chunks))
    assert [p.name for p in spy] == ["event", "touch"] and spy[0].table is not None  # no DuckDB join of the ids
    _same(got, load_frames(_frames()))


def test_an_arrow_tables_errors_are_the_duckdb_paths(spy):
    frames = _frames(events=_events().assign(account_id=["a", None, "b", "a", "zz", "c", "b", "a"]))
    with pytest.raises(DataError) as arrow:
        load_frames(_arrow(frames, 2))
    with pytest.raises(DataError) as memory:
        load_frames(frames)
    assert str(arrow.value) == str(memory.value) and "1 rows have a null account id" in str(arrow.value)
    assert len(spy) == 1
