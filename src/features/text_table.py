"""Tables as fixed-width text for the terminal: each header over its own column, text left-aligned and
numbers right-aligned under their header, columns two spaces apart."""
from __future__ import annotations

import re

import pandas as pd

_NUMBER = re.compile(r"^[-+]?[\d,.]+(?:e[-+]?\d+)?%?(?:\s.*)?$|^$")  # 1,234  0.5  12.5%  3 (8%)  (empty)


def text_table(frame: pd.DataFrame, gap: int = 2, indent: str = "") -> str:
    """``frame`` (its index left out) as text lines: a column whose every value reads as a number is
    right-aligned with its header, any other column is left-aligned with its header; ``gap`` spaces apart
    (more than one, so two headers never read as one), each line starting with ``indent``."""
    if frame.columns.empty:
        return ""
    columns = []
    for name in frame.columns:
        cells = ["" if pd.isna(v) else str(v) for v in frame[name].tolist()]
        numeric = all(_NUMBER.match(c) for c in cells)
        width = max([len(str(name)), *map(len, cells)])
        align = str.rjust if numeric else str.ljust
        columns.append([align(str(name), width), *(align(c, width) for c in cells)])
    rows = zip(*columns)
    return "\n".join(indent + (" " * gap).join(row).rstrip() for row in rows)
