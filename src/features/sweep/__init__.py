"""The one pass over day-ordered events that every feature value of every snapshot comes from.

* :mod:`.block` -- :class:`~features.sweep.block.Sweep`: one pass per group of snapshots that share a time
  of day (running totals per account, windows as differences with totals saved at their starts);
* :mod:`.events` -- the events a pass reads, prepared a million at a time;
* :mod:`.state` -- the running totals and :class:`~features.sweep.state.Snapshot`, the view of them that the
  feature families (:mod:`features.families`) compute a snapshot's values from;
* :mod:`.runs`, :mod:`.distinct`, :mod:`.prefix` -- the primitives: events in day order cut into segments,
  distinct users and event types in windows, exact window sums of float quantities.

Why numpy and not SQL for this step: on 20M events / 100k accounts / 12 weekly snapshots
(2 cores), DuckDB's GROUP BY to account x day x event alone took ~8 s and its wide
``FILTER`` pivots ~8 s more, while one ``np.bincount`` into a dense (account, segment, type)
array takes ~1 s and the prefix sums ~0.2 s. SQL reads, maps and validates the tables
(:mod:`features.data.sources`, :mod:`features.data.validate`); this package only does arithmetic on the
integer-coded columns it gets back, so it ports to any engine that can hand over arrays.

Conventions (see :mod:`features.windows`): ``row`` is the account's row in the output block,
``seg`` its segment; a *prefix* array ``P[row, i]`` holds the total over segments ``0..i``, i.e.
over the days before ``edges[i]``, so a window ``[t - w, t)`` is ``P[:, edge(t)] - P[:, edge(t - w)]``.
Counts are integers, so these differences are exact. Float sums (``quantity``) go through
:class:`~features.sweep.prefix.ExactSums`, whose prefix sums are exact too: a window's sum is its exact
total rounded to double precision (within a few units in the last place of that total), whatever rows
outside it hold.
"""
