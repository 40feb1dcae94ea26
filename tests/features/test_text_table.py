"""Terminal tables (features.text_table): every header sits over its own column, never two headers read as one."""
from __future__ import annotations

import pandas as pd

from features.text_table import text_table


def _spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each run of non-blank text separated by two spaces or more."""
    import re

    return [(m.start(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", line)]


def test_headers_sit_over_their_own_columns():
    frame = pd.DataFrame({"tier": ["1", "2", "none"], "accounts": [1234, 55, 12000], "per snapshot": ["12", "3", "400"],
                          "rate": ["10.0% (8.0%-12.0%)", "3.6% (1.0%-9.0%)", "0.8% (0.7%-0.9%)"]})
    lines = text_table(frame).splitlines()
    head = _spans(lines[0])
    assert [lines[0][a:b] for a, b in head] == ["tier", "accounts", "per snapshot", "rate"]
    for line in lines[1:]:
        cells = _spans(line)
        assert len(cells) == 4
        # text left-aligned under its header's start, numbers right-aligned under its header's end
        assert cells[0][0] == head[0][0] and [c[1] for c in cells[1:]] == [h[1] for h in head[1:]]


def test_text_is_left_aligned_and_missing_values_are_blank():
    text = text_table(pd.DataFrame({"rule": ["a_long_rule_name", "b"], "lift": [None, 1.5]}), indent="  ")
    assert text.splitlines() == ["  rule              lift", "  a_long_rule_name", "  b                  1.5"]
    assert text_table(pd.DataFrame()) == ""
