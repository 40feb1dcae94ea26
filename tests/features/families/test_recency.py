"""The recency family (features.families.recency): whole days since the last active day, counted back from
the snapshot's day, and days since signup; its columns' wording."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from features import naming as nm
from features.families.recency import columns, values
from features.windows import DAY_US

T_DAY = 100  # the snapshot's day bucket
NEVER_ACTIVE = -10**9  # the last day the sweep starts every account with (features.sweep.block): no event yet


def test_days_since_the_last_active_day_and_since_signup():
    snap = SimpleNamespace(last_day=np.array([99, 90, NEVER_ACTIVE, 0]), rows=np.array([0, 1, 2]), t_day=T_DAY,
                           t_us=T_DAY * DAY_US, created=np.array([T_DAY * DAY_US - DAY_US // 2, 0, 3 * DAY_US]))
    out = {}
    values(snap, out)
    assert out[nm.DAYS_SINCE_LAST_EVENT][:2].tolist() == [0, 9]  # active the day before t: 0 days
    assert np.isnan(out[nm.DAYS_SINCE_LAST_EVENT][2])
    assert out[nm.DAYS_SINCE_SIGNUP].tolist() == [0.5, 100.0, 97.0]
    assert snap.last_day.tolist() == [99, 90, NEVER_ACTIVE, 0]  # the snapshot is read, not changed


def test_columns_and_their_wording():
    last, signup = columns()
    assert (last.name, signup.name) == (nm.DAYS_SINCE_LAST_EVENT, nm.DAYS_SINCE_SIGNUP)
    assert last.kind == signup.kind == "days" and last.group == signup.group == "usage"
    assert last.missing == "no product activity yet" and last.zero == "active in the last 24 hours"
    assert signup.text.format(value=3, s="s") == "signed up 3 days ago"
