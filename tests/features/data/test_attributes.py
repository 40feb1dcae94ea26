"""The account_attributes table: read, coded and checked; bad input is one line naming table, column and problem."""
from __future__ import annotations


import pandas as pd
import pytest

from features.config import DataConfig
from features.data.load import load_frames
from features.errors import DataError
from tests.conftest import error_lines, run_features, tiny_folder


def _history(**overrides) -> pd.DataFrame:
    base = {"account_id": ["a", "a", "b"], "attribute": ["employees", "employees", "plan"],
            "value": ["20", "80", "pro"], "valid_from": ["2024-01-05", "2024-02-01", "2024-01-20"]}
    base.update(overrides)
    return pd.DataFrame(base)


def _load(make_frames, history, config=None):
    frames = make_frames()
    frames["account_attributes"] = history
    return load_frames(frames, config)


def _error(make_frames, history, config=None) -> str:
    with pytest.raises(DataError) as info:
        _load(make_frames, history, config)
    return str(info.value)


def test_history_is_coded_sorted_and_its_attributes_are_fit_columns(make_frames):
    tables, report = _load(make_frames, _history())
    h = tables.attributes
    assert h.names == ("employees", "plan")
    assert [h.texts[v] for v in h.value] == ["20", "80", "pro"]
    assert h.account.tolist() == [0, 0, 1] and h.attr.tolist() == [0, 0, 1]
    assert tables.fit_columns == ("industry", "seats", "employees", "plan")
    assert report.rows_read["account_attributes"] == 3


def test_without_the_table_there_is_no_history(make_frames):
    tables, _ = load_frames(make_frames())
    assert tables.attributes is None and tables.fit_columns == ("industry", "seats")


def test_unknown_account_is_an_error(make_frames):
    message = _error(make_frames, _history(account_id=["a", "zz", "b"]))
    assert message == ("table 'account_attributes', column 'account_id': 1 rows name accounts that are not in "
                       "accounts, e.g. 'zz'")


def test_unparseable_valid_from_is_an_error(make_frames):
    message = _error(make_frames, _history(valid_from=["2024-01-05", "soon", "2024-01-20"]))
    assert message.startswith("table 'account_attributes', column 'valid_from': 1 values cannot be read") and "'soon'" in message


def test_mapped_columns_are_named_in_errors(make_frames):
    history = _history(valid_from=["2024-01-05", "soon", "2024-01-20"]).rename(columns={"valid_from": "since"})
    config = DataConfig.from_mapping({"columns": {"account_attributes": {"valid_from": "since"}}})
    assert "column 'since'" in _error(make_frames, history, config)


def test_two_values_at_one_valid_from_is_an_error(make_frames):
    message = _error(make_frames, _history(valid_from=["2024-01-05", "2024-01-05", "2024-01-20"]))
    assert message.startswith("table 'account_attributes', column 'value': 1 times an attribute of an account has "
                              "two values at one valid_from, e.g. 'employees' '20' and '80'")


def test_exact_repeats_are_set_aside_and_counted_strict_makes_them_an_error(make_frames):
    history = pd.concat([_history(), _history().head(1)])
    tables, report = _load(make_frames, history)
    assert len(tables.attributes) == 3 and report.set_aside["account_attributes: exact duplicates"] == 1
    assert "data.strict=true" in _error(make_frames, history, DataConfig(strict=True))


@pytest.mark.parametrize("name", ["account_id", "created_at"])
def test_an_attribute_named_like_a_key_column_of_accounts_is_an_error(make_frames, name):
    message = _error(make_frames, _history(attribute=["employees", "employees", name]))
    assert message == (f"table 'account_attributes', column 'attribute': names '{name}', a key or date column of "
                       f"accounts, not a fit attribute; rename the attribute")


def test_text_values_of_a_numeric_accounts_column_are_an_error(make_frames):
    message = _error(make_frames, _history(attribute=["employees", "employees", "seats"], value=["1", "2", "many"]))
    assert message == ("table 'account_attributes', column 'value': 1 values of attribute 'seats' are not numbers "
                       "(accounts holds it as numbers), e.g. 'many'")


def test_null_keys_are_errors(make_frames):
    assert "null attribute name" in _error(make_frames, _history(attribute=["employees", None, "plan"]))
    assert "null account id" in _error(make_frames, _history(account_id=["a", None, "b"]))
    assert "no timestamp" in _error(make_frames, _history(valid_from=["2024-01-05", None, "2024-01-20"]))


def test_bad_history_exits_3_with_one_line_and_writes_nothing(tmp_path):
    data = tiny_folder(tmp_path / "data", account_attributes=_history(account_id=["a", "a", "nobody"]))
    out = run_features(tmp_path, f"data.dir={data}", "as_of=2024-05-06", f"output={tmp_path}/f.parquet")
    assert out.returncode == 3, out.stderr
    assert error_lines(out) == ["error: table 'account_attributes', column 'account_id': 1 rows name accounts that are not "
                      "in accounts, e.g. 'nobody'"]
    assert not (tmp_path / "f.parquet").exists()


def test_integer_ids_and_their_text_form_are_matched(make_frames):
    frames = make_frames()
    frames["accounts"] = frames["accounts"].assign(account_id=[10, 20])
    frames["events"] = frames["events"].assign(account_id=[10])
    frames["account_attributes"] = _history(account_id=["20", "10", "10"], value=["1", "2", "pro"])
    tables, report = load_frames(frames)
    h = tables.attributes
    assert h.account.tolist() == [0, 1, 0] and [h.texts[v] for v in h.value] == ["2", "1", "pro"]
    assert any("account_attributes (VARCHAR)" in note for note in report.notes)
    frames["account_attributes"] = frames["account_attributes"].assign(account_id=[20, 10, 10])
    assert load_frames(frames)[0].attributes.account.tolist() == [0, 1, 0]


def test_a_bad_history_stops_the_run_before_the_event_log_is_read(make_frames):
    """Both the history and the events are bad: the history's line comes first (it is read before the big log)."""
    frames = make_frames()
    frames["events"] = frames["events"].astype({"timestamp": str}).assign(timestamp="not a time")
    frames["account_attributes"] = _history(account_id=["a", "a", "nobody"])
    with pytest.raises(DataError) as info:
        load_frames(frames)
    assert str(info.value).startswith("table 'account_attributes', column 'account_id'")


@pytest.mark.parametrize("span", [50, 10**13, 2**61])
def test_rows_are_ordered_as_a_lexsort_of_attribute_account_instant_value(span):
    """The one-key sort (instants shifted into the key's low bits) orders the rows exactly as a lexsort of the
    four keys, including rows the shifted instant cannot tell apart (a change a few us after another) and
    exact repeats."""
    import numpy as np

    from features.data.attributes import _order

    rng = np.random.default_rng(span % 1000)
    attr, k = rng.integers(0, 4, 20_000), rng.integers(0, 3_000, 20_000)
    valid = 1_700_000_000_000_000 + rng.integers(0, span, 20_000)
    for values, step in ((attr, 0), (k, 0), (valid, 1)):  # changes 1 us after another: tie once shifted
        values[1:2000:2] = values[0:2000:2] + step
    for values in (attr, k, valid):  # and exact repeats (the values too, below)
        values[3000:3100] = values[4000:4100]
    codes = rng.integers(-1, 5, 20_000)
    codes[3000:3050] = codes[4000:4050]
    order, expected = _order(attr, k, valid, codes), np.lexsort((codes, valid, attr * 3_000 + k))
    for values in (attr, k, valid, codes):
        assert (values[order] == values[expected]).all()


def test_a_clean_history_is_read_in_one_scan_a_bad_row_still_gets_the_column_checks_line(make_frames, monkeypatch):
    """The column checks (a second scan of the history) run only when the rows read show a null or unreadable
    account id or valid_from; their line is the same as before."""
    import features.data.attributes as module

    calls = []
    checks = module.check_columns
    monkeypatch.setattr(module, "check_columns", lambda *a, **k: calls.append(a[1]) or checks(*a, **k))
    _load(make_frames, _history())
    assert calls == []
    assert "cannot be read" in _error(make_frames, _history(valid_from=["2024-01-05", "later", "2024-01-20"]))
    assert calls == ["account_attributes"]
