"""The feature families: one module per family, each planning its columns and computing their values.

A family *plans* its columns (:class:`features.spec.Column`, with the wording a sales rep reads) from what
planning found in the rows that can reach a feature (:mod:`features.plan`), and *computes* their values for
a snapshot from the pass's running state (:class:`features.sweep.state.Snapshot`). In the spec's column
order (which defines the table):

===================  =========================================================================
:mod:`.usage`        per event type: events and quantity in each window; all events
:mod:`.activity`     active days, active users, distinct event types (breadth), the trend
:mod:`.recency`      days since the last event, days since signup
:mod:`.key_events`   days from signup to the first event of each key type
:mod:`.touches`      marketing touches per type and in all
:mod:`.people`       users in the account, decision makers, decision makers active lately (a users table)
:mod:`.plan_limits`  how much of a plan limit is used
:mod:`.fit`          the accounts' own columns (identifiers left out)
===================  =========================================================================

:mod:`.common` holds what their planning shares (window columns, readable names, configured names matched).
"""
