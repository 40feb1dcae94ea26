"""What a demo world is made of: its size, seed and real-data quirks (``DemoConfig``), the ready-made quirk
variants (``VARIANTS``), and the feature settings that travel with the demo world (``demo_features``)."""

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
    "single_event": {"single_event": True},
    "day_resolution": {"day_resolution": True},
    "id_column": {"id_column": True},
    "no_touches": {"touches": False},
    "no_user_ids": {"user_ids": False},
    # the least data that still meets the contract
    "bare": {"fit_columns": False, "single_event": True, "touches": False, "user_ids": False},
}

# Feature settings that only make sense on the demo world: they travel with it (features.config.FeatureConfig.for_source).
DEMO_FEATURES = {
    "key_events": ("task_created", "teammate_invited", "integration_connected", "api_call", "phone_number_bought"),
    "plan_limits": {"seats": {"used": "active_users", "limit": "seat_limit"}},
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


def demo_features(settings: dict) -> dict:
    """What a demo world of these ``data.demo`` settings brings: its key events unless every event has one
    name, its seat limit unless the accounts carry no fit columns or the events no user ids (the seats in
    use are counted from them)."""
    single, fit = bool(settings.get("single_event", False)), bool(settings.get("fit_columns", True))
    return {"key_events": () if single else DEMO_FEATURES["key_events"],
            "plan_limits": DEMO_FEATURES["plan_limits"] if fit and settings.get("user_ids", True) else {}}
