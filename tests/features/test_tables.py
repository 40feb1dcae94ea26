"""The validated tables (features.tables): kind codes as narrow as the names allow, logs that take rows and
look kinds up by name, and the load report's lines."""
from __future__ import annotations

import numpy as np

from features.tables import EventLog, LoadReport, kind_dtype


def test_kind_codes_take_two_bytes_while_the_names_fit():
    assert kind_dtype(0) is np.int16 and kind_dtype(32_768) is np.int16  # codes 0 .. 32767
    assert kind_dtype(32_769) is np.int32


def _log(**extra) -> EventLog:
    return EventLog(np.array([0, 1, 1], np.int32), np.array([1, 0, 1], np.int16), np.array([10, 20, 30], np.int64),
                    ("task", "invite"), **extra)


def test_take_keeps_the_chosen_rows_of_every_column():
    log = _log(user=np.array([7, 8, 9], np.uint64), quantity=np.array([1.0, 2.0, 3.0]))
    part = log.take(np.array([True, False, True]))
    assert len(part) == 2 and part.names == log.names
    assert (part.account.tolist(), part.kind.tolist(), part.ts.tolist()) == ([0, 1], [1, 1], [10, 30])
    assert part.user.tolist() == [7, 9] and part.quantity.tolist() == [1.0, 3.0]
    assert len(log) == 3  # the log itself is unchanged


def test_take_keeps_absent_columns_absent():
    part = _log().take(np.array([False, True, False]))
    assert part.user is None and part.quantity is None and part.ts.tolist() == [20]


def test_code_by_name_and_the_empty_log():
    assert _log().code("invite") == 1 and _log().code("never") is None
    empty = EventLog.empty(("a",))
    assert len(empty) == 0 and empty.names == ("a",) and empty.ts.dtype == np.int64 and empty.code("a") == 0


def test_report_lines_name_the_source_counts_and_only_what_was_set_aside():
    report = LoadReport("folder data", rows_read={"accounts": 1200, "events": 3_456_789},
                        set_aside={"events: exact duplicates": 12, "touches: unknown accounts": 0},
                        notes=["events: timestamps at day resolution"])
    assert report.lines() == ["source: folder data", "rows read: accounts 1,200, events 3,456,789",
                              "rows set aside: events: exact duplicates 12", "events: timestamps at day resolution"]
    assert LoadReport("demo world", {"events": 5}).lines()[2] == "rows set aside: none"
