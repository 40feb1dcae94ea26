"""The accounts of the demo world: when they sign up, who they are (industry, country, funding, size, the
signer-up's role and use case, plan) and how well they fit, which raises or lowers their hazard."""

from __future__ import annotations

import numpy as np

from demo.config import DemoConfig

# name -> (share, fit effect on the log hazard)
INDUSTRIES = {"software": (.22, .45), "fintech": (.08, .4), "ecommerce": (.13, .1), "healthcare": (.08, 0.),
              "education": (.11, -.5), "media": (.09, -.1), "manufacturing": (.09, -.1),
              "nonprofit": (.07, -.8), "agency": (.13, .1)}
COUNTRIES = {"US": (.34, .2), "GB": (.08, .1), "DE": (.07, .1), "FR": (.05, 0.), "IN": (.1, -.5),
             "BR": (.06, -.4), "CA": (.05, .1), "AU": (.04, .1), "NL": (.03, .1), "other": (.18, -.3)}
FUNDING = {"bootstrapped": (.35, -.4), "seed": (.25, 0.), "series_a": (.18, .3),
           "series_b_plus": (.14, .5), "public": (.08, .2)}
ROLES = {"engineer": (.26, 0.), "product_manager": (.19, .2), "founder": (.16, .4),
         "marketer": (.15, 0.), "operations": (.17, 0.), "student": (.07, -2.5)}
USE_CASES = ("project_management", "crm", "support", "automation", "analytics")
# P(use_case | role), rows in ROLES order: engineers automate, marketers run a CRM, ...
USE_CASE_GIVEN_ROLE = np.array([[.15, .05, .1, .45, .25], [.55, .1, .1, .1, .15], [.35, .3, .1, .15, .1],
                                [.2, .5, .05, .05, .2], [.3, .15, .35, .15, .05], [.5, .1, .05, .15, .2]])
FUNDING_LOG_EMPLOYEES = np.log([6., 12., 40., 200., 2000.])


def _draw(rng: np.random.Generator, n: int, table: dict[str, tuple[float, float]]) -> np.ndarray:
    """n codes into table, drawn by its shares."""
    shares = np.array([s for s, _ in table.values()])
    return rng.choice(len(table), size=n, p=shares / shares.sum())


def _effects(table: dict[str, tuple[float, float]]) -> np.ndarray:
    """The fit effect of every entry of table, by code."""
    return np.array([e for _, e in table.values()])


def draw_accounts(rng: np.random.Generator, cfg: DemoConfig) -> dict[str, np.ndarray]:
    """Signup times (sorted, so ids follow signup order), firmographics, plan and fit effects."""
    n, days = cfg.accounts, cfg.days
    # a launch cohort in the first week gives early history; later signups grow linearly
    launch = rng.random(n) < 0.06
    growth = days * (np.sqrt(1.0 + 3.0 * rng.random(n)) - 1.0)  # density proportional to 1 + x/days
    created_s = np.floor(np.where(launch, rng.random(n) * min(7, days), growth) * 86_400)
    created_s = np.sort(np.minimum(created_s, days * 86_400 - 1))  # ids follow signup order
    funding = _draw(rng, n, FUNDING)
    employees = np.clip(np.round(np.exp(rng.normal(FUNDING_LOG_EMPLOYEES[funding], 1.0))), 1, 10_000)
    role = _draw(rng, n, ROLES)
    use_case = (rng.random(n)[:, None] > np.cumsum(USE_CASE_GIVEN_ROLE[role], axis=1)).sum(axis=1)
    trial = rng.random(n) < 0.3
    seat_limit = np.where(trial, 20, np.where(rng.random(n) < 0.65, 5, 10))
    industry, country = _draw(rng, n, INDUSTRIES), _draw(rng, n, COUNTRIES)
    fit = _effects(INDUSTRIES)[industry] + _effects(COUNTRIES)[country] + _effects(FUNDING)[funding]
    role_fx = _effects(ROLES)[role]
    return {"created": created_s / 86_400.0, "created_us": created_s.astype(np.int64) * 1_000_000,
            "industry": industry, "country": country, "funding": funding,
            "employees": employees.astype(np.int64), "role": role, "use_case": np.minimum(use_case, 4),
            "trial": trial, "seat_limit": seat_limit, "fit": fit, "role_fx": role_fx,
            "good_fit": fit + np.minimum(role_fx, 0.0) + 0.2 * np.log10(employees) > 0.35,
            "student": role == 5, "engineer": role == 0,
            "api_gate": np.isin(industry, [0, 1]) | (role == 0)}  # API use signals intent only here
