"""The scores schema (serve.tables): kinds by column name, never by an empty night's dtypes; what a stored table
needs to take today's columns; which type differences are repaired, kept or refused."""
from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError
from serve.tables import OutputTableError, check_names, conform, evolve, kinds, stored_kind


def _empty_night() -> pd.DataFrame:
    frame = pd.DataFrame({"account_id": pd.Series([], dtype="str"), "as_of": pd.Series([], dtype="datetime64[us]")})
    for column in ["score", "intent_tier", "pql_tier", "rule_trial", "reasons", "learned"]:
        frame[column] = pd.Series([], dtype="float64")
    return frame


def test_an_empty_night_gets_the_schemas_kinds_and_dtypes():
    frame = _empty_night()
    assert kinds(frame.dtypes) == {"account_id": "text", "as_of": "timestamp", "score": "double",
                                   "intent_tier": "text", "pql_tier": "integer", "rule_trial": "boolean",
                                   "reasons": "text", "learned": "boolean"}
    out = conform(frame)
    assert [str(t) for t in out.dtypes] == ["str", "datetime64[us]", "float64", "str", "Int64", "boolean", "str",
                                            "boolean"]
    assert frame["intent_tier"].dtype == "float64"  # the input is left as it was


def test_conform_keeps_values_and_makes_aware_timestamps_naive_utc():
    frame = pd.DataFrame({"account_id": ["007"], "as_of": [pd.Timestamp("2024-12-02 01:00", tz="Europe/Paris")],
                          "pql_tier": [1.0], "rule_x": [True], "uplift": [3]})
    out = conform(frame)
    assert out["account_id"].tolist() == ["007"] and out["as_of"].tolist() == [pd.Timestamp("2024-12-02 00:00")]
    assert out["pql_tier"].dtype == "Int64" and out["uplift"].dtype == "Int64" and out["rule_x"].tolist() == [True]


@pytest.mark.parametrize("declared, kind", [
    ("VARCHAR", "text"), ("TEXT", "text"), ("character varying(40)", "text"), ("TIMESTAMP_NS", "timestamp"),
    ("DATETIME", "timestamp"), ("timestamp with time zone", "timestamptz"), ("DOUBLE PRECISION", "double"),
    ("FLOAT", "double"), ("DECIMAL(4,2)", "double"), ("BIGINT", "integer"), ("INTEGER", "integer"),
    ("BOOLEAN", "boolean"), ("", "any"), ("JSONB", "jsonb")])
def test_stored_kinds(declared, kind):
    assert stored_kind(declared) == kind


def _no_values(column: str) -> bool:
    return False


def _values(column: str) -> bool:
    return True


def test_new_columns_are_added_and_missing_ones_left_alone():
    plan = evolve("t", {"account_id": "text", "rule_new": "boolean"},
                  {"account_id": "VARCHAR", "rule_old": "BOOLEAN"}, _values, "duckdb")
    assert plan.add == {"rule_new": "boolean"} and plan.retype == {}


def test_names_match_whatever_their_case_except_on_postgresql():
    stored = {"Account_ID": "VARCHAR"}
    assert evolve("t", {"account_id": "text"}, stored, _values, "duckdb").add == {}
    assert evolve("t", {"account_id": "text"}, stored, _values, "postgresql").add == {"account_id": "text"}


def test_empty_columns_of_another_type_are_retyped_and_full_ones_refused():
    stored = {"intent_tier": "DOUBLE", "pql_tier": "DOUBLE", "as_of": "TIMESTAMP WITH TIME ZONE"}
    wanted = {"intent_tier": "text", "pql_tier": "integer", "as_of": "timestamp"}
    assert evolve("t", wanted, stored, _no_values, "duckdb").retype == wanted
    with pytest.raises(OutputTableError, match="table 't', column 'intent_tier' is DOUBLE and holds values") as err:
        evolve("t", wanted, stored, _values, "postgresql")
    assert err.value.exit_code == 4


def test_whole_numbers_in_a_double_column_are_kept():
    plan = evolve("t", {"pql_tier": "integer"}, {"pql_tier": "DOUBLE PRECISION"}, _values, "postgresql")
    assert plan.retype == {} and plan.add == {}


def test_sqlite_float_columns_with_values_are_rebuilt_other_mismatches_refused():
    plan = evolve("t", {"intent_tier": "text"}, {"intent_tier": "FLOAT"}, _values, "sqlite")
    assert plan.retype == {"intent_tier": "text"} and plan.with_values == {"intent_tier"}
    with pytest.raises(OutputTableError, match="column 'account_id'"):
        evolve("t", {"account_id": "text"}, {"account_id": "BIGINT"}, _values, "sqlite")


def test_names_postgresql_would_truncate_are_refused():
    check_names("t" * 63, ["c" * 63], "postgresql")
    with pytest.raises(ConfigError, match="output_table"):
        check_names("t" * 64, [], "duckdb")  # a table name is the identifier serve.realized reads, anywhere
    with pytest.raises(ConfigError, match="column 'rule_.* 65 bytes"):
        check_names("t", ["rule_" + "é" * 30], "postgresql")
    check_names("t", ["c" * 100], "duckdb")  # DuckDB and SQLite keep long names whole
    with pytest.raises(ConfigError, match="control character"):
        check_names("t", ["a\nb"], "sqlite")
