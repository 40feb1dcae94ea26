"""What the accounts visibly do: product events and marketing touches, Poisson noise around the latents
(``demo.latents``), each stamped at a random instant of its day but never before the signup."""

from __future__ import annotations

import numpy as np

from demo.config import US_PER_DAY, DemoConfig

PRE_SIGNUP_DAYS = 30  # marketing touches may precede the signup by up to this many days
EVENT_TYPES = ("session_started", "task_created", "project_created", "teammate_invited", "comment_added",
               "file_uploaded", "api_call", "integration_connected", "dashboard_viewed", "report_exported",
               "phone_number_bought", "billing_page_viewed")
TOUCH_TYPES = ("email_opened", "webinar_attended", "whitepaper_downloaded", "demo_requested",
               "pricing_page_visited")


def _expand(cells: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """One entry of cells per counted occurrence, in cell order."""
    nz = np.flatnonzero(counts)
    return np.repeat(cells[nz], counts[nz])


def _stamps(rng: np.random.Generator, acc: np.ndarray, day: np.ndarray, created_us: np.ndarray) -> np.ndarray:
    """Microseconds since the start, uniform within each day but never before the signup."""
    lo = created_us[acc] - day * US_PER_DAY
    lo = np.where((lo >= 0) & (lo < US_PER_DAY), lo, 0)  # only the signup day is cut short
    return day * US_PER_DAY + lo + np.floor(rng.random(len(acc)) * (US_PER_DAY - lo)).astype(np.int64)


def draw_events(rng: np.random.Generator, cfg: DemoConfig, acc: dict[str, np.ndarray],
                lat: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Product events as Poisson noise around the latents: (account, type, us since start, user, quantity)."""
    frac, team, intent, uc = lat["frac"], lat["team"], lat["intent"], acc["use_case"]
    activity = lambda: lat["engagement"] * frac * lat["weekday"][None, :] * team  # noqa: E731
    per_uc = lambda w: np.array(w, np.float32)[uc][:, None]  # noqa: E731
    rates = {
        "session_started": lambda: activity(),
        "task_created": lambda: per_uc([2.4, 1.2, 1.2, 0.9, 0.6]) * activity() * team ** np.float32(0.3),
        "project_created": lambda: np.float32(0.08) * activity(),
        "comment_added": lambda: np.float32(0.15) * activity() * (team - 1.0) ** np.float32(0.5),
        "file_uploaded": lambda: np.float32(0.25) * activity(),
        "api_call": lambda: np.float32(0.6) * lat["w_api"][:, None] * activity(),
        "integration_connected": lambda: lat["integ"] * (1.0 + intent),
        "dashboard_viewed": lambda: per_uc([0.3, 0.4, 0.3, 0.3, 1.2]) * activity(),
        "report_exported": lambda: np.float32(0.04) * activity() * (1.0 + 3.0 * intent),
        "phone_number_bought": lambda: per_uc([0.005, 0.05, 0.08, 0.02, 0.005]) * activity() * (1.0 + 3.0 * intent),
        "billing_page_viewed": lambda: (frac * lat["weekday"][None, :]
                                        * (0.01 + 0.25 * intent + 0.15 * lat["seat_pressure"])),
    }
    # one scale for all rates (invites are the team trajectory itself, so they stay as drawn)
    target = cfg.events_per_account * cfg.accounts - float(lat["invites"].sum())
    scale = max(target, 0.0) / sum(float(r().sum(dtype=np.float64)) for r in rates.values())
    alive = np.flatnonzero(frac)  # draw only where the account exists: about half the cells
    cells, types = [], []
    for k, name in enumerate(EVENT_TYPES):
        counts = (lat["invites"].ravel()[alive] if name == "teammate_invited"
                  else rng.poisson(scale * rates[name]().ravel()[alive]))
        cells.append(_expand(alive, counts))
        types.append(np.full(len(cells[-1]), k, np.int8))
    a, d = np.divmod(np.concatenate(cells), cfg.days)
    etype = np.concatenate(types)
    del cells, types
    ts = _stamps(rng, a, d, acc["created_us"])
    user = np.floor(lat["users"][a, d] * rng.random(len(a)) ** 1.6).astype(np.int64)  # the signer-up is busiest
    qty = np.ones(len(a))
    is_api = etype == EVENT_TYPES.index("api_call")
    qty[is_api] = np.clip(np.round(np.exp(rng.normal(1.5, 1.3, int(is_api.sum())))), 1.0, 500.0)
    return a, etype, ts, user, qty


def draw_touches(rng: np.random.Generator, cfg: DemoConfig, acc: dict[str, np.ndarray],
                 lat: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Marketing touches, some in the days before signup: (account, type, us since start)."""
    n, days, frac, intent = cfg.accounts, cfg.days, lat["frac"], lat["intent"]
    resp = np.exp(rng.normal(0.0, 0.7, n)) * np.where(acc["role"] == 3, 1.5, 1.0)  # marketers open mail
    demo = (lat["age"] >= lat["demo_start"][:, None]) & (lat["age"] < lat["demo_start"][:, None] + 10)
    pre = {"email_opened": 0.012, "webinar_attended": 0.003, "whitepaper_downloaded": 0.006}
    post = {"email_opened": lambda: resp[:, None] * 0.01 * frac * (0.2 + 12.0 * intent),
            "webinar_attended": lambda: resp[:, None] * 0.002 * frac,
            "whitepaper_downloaded": lambda: resp[:, None] * 0.002 * frac,
            "demo_requested": lambda: frac * (0.0001 + 0.2 * demo),
            "pricing_page_visited": lambda: frac * (0.003 + 0.06 * intent)}
    signup_day = np.floor(acc["created"]).astype(np.int64)
    alive = np.flatnonzero(frac)
    accs, day_list, types = [], [], []
    for k, name in enumerate(TOUCH_TYPES):
        a, d = np.divmod(_expand(alive, rng.poisson(post[name]().ravel()[alive])), days)
        if name in pre:  # the PRE_SIGNUP_DAYS whole days before the signup day
            before = rng.poisson(pre[name] * PRE_SIGNUP_DAYS * resp)
            pre_acc = np.repeat(np.arange(n), before)
            pre_day = signup_day[pre_acc] - rng.integers(1, PRE_SIGNUP_DAYS + 1, len(pre_acc))
            a, d = np.concatenate([a, pre_acc]), np.concatenate([d, pre_day])
        accs.append(a)
        day_list.append(d)
        types.append(np.full(len(a), k, np.int8))
    a, d = np.concatenate(accs), np.concatenate(day_list)
    return a, np.concatenate(types), _stamps(rng, a, d, acc["created_us"])
