"""FeatureSpec.categorize: fit values cast to the categories the model was trained on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.spec import OTHER, Column, FeatureSpec


def _column(*categories: str) -> Column:
    return Column(name="industry", kind="category", group="fit", text="{value}", categories=categories)


def _cast(values, *categories: str) -> list:
    return list(FeatureSpec.categorize(None, pd.Series(values), _column(*categories)))


@pytest.mark.parametrize("wrap", [lambda v: v, lambda v: pd.array(v, dtype="string"),
                                  lambda v: pd.Categorical(v)], ids=["object", "arrow-string", "categorical"])
def test_seen_values_keep_their_category_unseen_ones_become_other_missing_stays_missing(wrap):
    values = wrap(["saas", "retail", None, "mining", "saas"])
    assert _cast(values, "retail", "saas", OTHER) == ["saas", "retail", np.nan, OTHER, "saas"]
    # without an (other) category an unseen value is missing
    assert _cast(values, "retail", "saas") == ["saas", "retail", np.nan, np.nan, "saas"]


def test_numbers_read_as_their_text_and_all_missing_stays_missing():
    assert _cast([10, 20, 30], "10", "20") == ["10", "20", np.nan]
    assert _cast([None, None], "a", OTHER) == [np.nan, np.nan]
    assert _cast(["a"], ) == [np.nan]  # a column trained without categories


def test_a_column_already_on_the_spec_categories_passes_unchanged_and_is_a_copy():
    values = pd.Series(pd.Categorical(["b", None, "a"], categories=["a", "b", OTHER]))
    out = FeatureSpec.categorize(None, values, _column("a", "b", OTHER))
    assert list(out) == ["b", np.nan, "a"] and list(out.categories) == ["a", "b", OTHER]
    assert not np.shares_memory(out.codes, values.cat.codes.to_numpy())
