"""What a demo world is made of: its size, seed and real-data quirks (``DemoConfig``), the ready-made quirk
variants (``VARIANTS``), and what the demo world brings for itself (``brings``: its key events, seat limit
and rules, as ``conf/data/demo.yaml`` lists them, less what a variant lacks)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

US_PER_DAY = 86_400_000_000

# Ready-made quirk variants: DemoConfig field overrides (DemoConfig.variant(name)); tests and benchmarks use them.
VARIANTS: dict[str, dict] = {
    "short_log": {"days": 140},  # a 20-week log
    "late_labels": {"days": 365, "labels_after_days": 150},
    "stale_pools": {"stale_share": 0.5},
    "no_fit": {"fit_columns": False},
    "no_history": {"attribute_history": False},
    "single_event": {"single_event": True},
    "day_resolution": {"day_resolution": True},
    "id_column": {"id_column": True},
    "no_touches": {"touches": False},
    "no_user_ids": {"user_ids": False},
    "no_users": {"users": False},
    # the least data that still meets the contract
    "bare": {"fit_columns": False, "single_event": True, "touches": False, "user_ids": False, "users": False,
             "attribute_history": False},
}


@dataclass(frozen=True)
class DemoConfig:
    """Size and seed of the demo world, and the real-data quirks it shows (all off by default)."""

    accounts: int = 3000
    days: int = 240
    start: str = "2024-01-01"
    events_per_account: float = 150.0
    seed: int = 7
    labels_after_days: int | None = None  # conversions in the first N days happen but are not recorded
    stale_share: float = 0.0   # round(share * accounts) extra accounts: a few events in week one, never convert
    fit_columns: bool = True   # False: accounts holds only account_id and created_at
    single_event: bool = False  # True: every event is called "activity" and has quantity 1.0
    day_resolution: bool = False  # True: every timestamp is floored to 00:00 (UTC) of its day
    id_column: bool = False    # True: accounts gain `external_id`, 16 random hex digits per account
    touches: bool = True       # False: no touches table (DemoWorld.touches is None)
    user_ids: bool = True      # False: events have no user_id column
    users: bool = True         # False: no users table (DemoWorld.users is None)
    attribute_history: bool = True  # False: no account_attributes table (accounts show the signup values)

    @classmethod
    def variant(cls, name: str, **overrides) -> DemoConfig:
        """The config of a named quirk variant (see ``VARIANTS``), with further field overrides.

        >>> DemoConfig.variant("late_labels", accounts=100).labels_after_days
        150
        """
        if name not in VARIANTS:
            raise ValueError(f"unknown demo variant {name!r}; known variants: {', '.join(VARIANTS)}")
        return cls(**{**VARIANTS[name], **overrides})


def check_config(cfg: DemoConfig) -> None:
    """Raise ValueError unless cfg describes a world that can be generated."""
    if (cfg.accounts < 1 or cfg.days < 1 or cfg.events_per_account <= 0 or cfg.stale_share < 0
            or (cfg.labels_after_days is not None and cfg.labels_after_days < 0)):
        raise ValueError("DemoConfig needs accounts >= 1, days >= 1, events_per_account > 0, stale_share >= 0 "
                         f"and labels_after_days >= 0 (or None), got {cfg}")


def origin(cfg: DemoConfig) -> pd.Timestamp:
    """The first instant of the period as a naive UTC timestamp."""
    start = pd.Timestamp(cfg.start)
    return start.tz_convert("UTC").tz_localize(None) if start.tz is not None else start


def brings(settings: dict) -> dict:
    """What a demo world of these ``data.demo`` settings brings for itself, from what ``conf/data/demo.yaml``
    lists there (``features``: key events and plan limits; ``rules``; ``alerts``: serve's warm-up): its key
    events unless every event has one name, its seat limit unless the accounts carry no fit columns or the
    events no user ids (the seats in use are counted from them), its rules (the training run leaves out a
    rule a variant cannot evaluate) and serve's alerts settings.

    >>> listed = {"features": {"key_events": ["task_created"], "plan_limits": {"seats": {}}}, "rules": "demo"}
    >>> brings(listed)["key_events"], brings({**listed, "single_event": True})["key_events"]
    (['task_created'], [])
    >>> brings({**listed, "user_ids": False})["plan_limits"]
    {}
    """
    features = dict(settings.get("features") or {})
    single, fit = bool(settings.get("single_event", False)), bool(settings.get("fit_columns", True))
    out = {"key_events": [] if single else list(features.get("key_events") or []),
           "plan_limits": dict(features.get("plan_limits") or {}) if fit and settings.get("user_ids", True) else {}}
    if settings.get("rules"):
        out["rules"] = settings["rules"]
    if settings.get("alerts"):  # serve's alerts settings for a world with no past nights (alerts.warm_days)
        out["alerts"] = dict(settings["alerts"])
    return out
