"""What the families share (features.families.common): names read as the data writes them, or by their label."""
from __future__ import annotations

import logging

from features.families.common import readable, warn_unknown_labels
from features.families.usage import columns


def test_event_names_keep_their_casing_and_are_safe_in_a_template():
    assert readable("W_Completeren aanvraag complete") == "W_Completeren aanvraag complete"
    assert readable("it's {x}") == "it’s (x)"
    long = readable("W_" + "Completeren aanvraag " * 5)
    assert len(long) == 60 and long.endswith("…")


def test_labels_word_event_types_and_a_label_that_names_nothing_is_warned_about(caplog):
    labels = {"w_completeren_aanvraag_start": "application form started"}
    (col, *_) = columns(["W_Completeren aanvraag start"], [], [7], labels)
    assert col.name == "w_completeren_aanvraag_start_count_7d"  # the name rules use is unchanged
    assert col.text == "'application form started' {value} time{s} in the last 7 days"
    with caplog.at_level(logging.WARNING, logger="pql"):
        warn_unknown_labels({**labels, "amount_rq": "amount"}, ["W_Completeren aanvraag start", "amount_req"])
    assert "['amount_rq']" in caplog.text and "application" not in caplog.text
