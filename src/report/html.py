"""The revenue leader's report of a training run: ONE self-contained HTML file (inline CSS, charts as
SVG data URIs drawn by matplotlib, no scripts, no external URL), every text escaped by jinja2.

Sections (stable ids): ``headline``, ``volume``, ``tiers``, ``funnel``, ``definitions``, ``calibration``,
``health``.
"""
from __future__ import annotations

import base64
import io
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape

from features.io import write_text
from train import plots

from report import content

SECTIONS = ("headline", "volume", "tiers", "funnel", "definitions", "calibration", "health")

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.meta { color: #666; font-size: .85rem; }
.big { font-size: 1.35rem; font-weight: 600; background: #eef5fb; border-left: 5px solid #1f77b4; padding: .8rem 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border-bottom: 1px solid #e4e4e4; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f6f6; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
img.chart { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
.note { color: #555; font-size: .85rem; } .warn { color: #8a4b00; }
code { font-size: .85rem; background: #f4f4f4; padding: 0 .2rem; }
</style></head>
<body>
<h1>{{ title }}</h1>
<p class="meta">{{ meta }}</p>

<section id="headline">
<h2>The headline</h2>
<p class="big">{{ headline }}</p>
{% for w in headline_warnings %}<p class="warn">But: {{ w }}</p>
{% endfor %}<p>{{ headline_detail }}</p>
{% if model_choice %}<p class="note">{{ model_choice }}</p>{% endif %}
</section>

<section id="volume">
<h2>Accounts called a week: how many convert</h2>
<p>The line is the model handing sales its best-scored accounts, as many a week as the axis says; each point is one
PQL definition, which flags a fixed number of accounts a week. Higher is better at the same volume.</p>
<img class="chart" alt="share converting and converting accounts a week against accounts called a week"
     src="{{ volume_chart }}">
<table><tr><th>definition</th><th>accounts a week</th><th>share converting</th><th>converting a week</th>
<th>model at the same volume: share</th><th>converting a week</th><th>converting a week at your capacity</th></tr>
{% for r in points %}<tr><td>{{ r.name }}</td><td class="n">{{ r.per_week }}</td><td class="n">{{ r.precision }}</td>
<td class="n">{{ r.conversions }}</td><td class="n">{{ r.model_precision }}</td><td class="n">{{ r.model_conversions }}</td>
<td class="n">{{ r.at_capacity }}</td></tr>
{% endfor %}</table>
{% if revenue %}<h3>Revenue at your capacity</h3>
<table><tr><th>who picks the accounts</th><th>revenue won a week (conversion amounts)</th></tr>
{% for r in revenue %}<tr><td>{{ r.name }}</td><td class="n">{{ r.value }}</td></tr>{% endfor %}</table>{% endif %}
<p class="note">At your capacity a definition that flags more accounts than sales can call is called at random among
its flags; one that flags fewer fills fewer calls. Weeks are backtest weeks: each was scored by a model trained only
on what was known before it.</p>
</section>

<section id="tiers">
<h2>PQL tiers</h2>
<table><tr><th>tier</th><th>accounts a week</th><th>accounts (backtest)</th><th>converted</th><th>conversion rate</th>
<th>95% range</th></tr>
{% for r in tiers %}<tr><td>{{ r.tier }}</td><td class="n">{{ r.per_week }}</td><td class="n">{{ r.accounts }}</td>
<td class="n">{{ r.converted }}</td><td class="n">{{ r.rate }}</td><td class="n">{{ r.interval }}</td></tr>
{% endfor %}</table>
<p class="note">The 95% range is where the true conversion rate lies given how many accounts the backtest had.</p>
</section>

<section id="funnel">
<h2>The sign-up funnel</h2>
{% if funnel %}
<p>Of the accounts that signed up in a week, the share each definition flagged within 7 and 30 days of sign-up, how
long that took, and how many of those PQLs became customers within {{ horizon }} days, pooled over the
{{ funnel_weeks }} sign-up weeks every definition covers. {{ funnel_scope }}</p>
<table><tr><th>definition</th><th>cohorts</th><th>accounts</th><th>PQL within 7 days</th><th>PQL within 30 days</th>
<th>PQLs</th><th>median days to PQL</th><th>PQL to customer</th></tr>
{% for r in funnel %}<tr><td>{{ r.definition }}</td><td class="n">{{ r.cohorts }}</td><td class="n">{{ r.accounts }}</td>
<td class="n">{{ r.pql_7d }}</td><td class="n">{{ r.pql_30d }}</td><td class="n">{{ r.pqls }}</td>
<td class="n">{{ r.days }}</td><td class="n">{{ r.won }}</td></tr>
{% endfor %}</table>
<h3>By sign-up week: share PQL within 30 days</h3>
<table><tr><th>sign-up week</th><th>accounts</th>{% for d in cohort_columns %}<th>{{ d }}</th>{% endfor %}</tr>
{% for r in cohorts %}<tr><td>{{ r.week }}</td><td class="n">{{ r.accounts }}</td>
{% for v in r.cells %}<td class="n">{{ v }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% else %}<p>No sign-up week has matured yet: a week is shown once 30 days and {{ horizon }} more have passed after it.</p>
{% endif %}
<p class="note">Definitions are checked on the weekly snapshots: "within 7 days" means flagged at the first weekly look
after sign-up, "within 30 days" at one of the looks in the first 30 days.</p>
</section>

<section id="definitions">
<h2>The PQL definitions</h2>
{% if definitions %}
<table><tr><th>where from</th><th>name</th><th>in words</th><th>rule</th><th>stability</th><th>flagged (backtest)</th>
<th>share converting</th></tr>
{% for r in definitions %}<tr><td>{{ r.source }}</td><td>{{ r.name }}</td><td>{{ r.words }}</td>
<td><code>{{ r.expression }}</code></td>
<td>{{ r.stability }}</td><td class="n">{{ r.flagged }}</td><td class="n">{{ r.precision }}</td></tr>
{% endfor %}</table>
<p class="note">{{ definitions_note }}</p>
{% else %}<p>No PQL definitions were configured or learned: the model is reported alone.</p>{% endif %}
</section>

<section id="calibration">
<h2>Can the scores be taken at their word?</h2>
<p>{{ calibration_lead }}</p>
<img class="chart" alt="score given against share converted per score band" src="{{ calibration_chart }}">
<ul>{% for line in calibration %}<li>{{ line }}</li>{% endfor %}</ul>
</section>

<section id="health">
<h2>Data health</h2>
{% if warnings %}<ul>{% for w in warnings %}<li class="warn">{{ w }}</li>{% endfor %}</ul>
{% else %}<p>No warnings.</p>{% endif %}
<p class="note">{{ health_note }}</p>
</section>
</body></html>
"""


def _svg(fig) -> str:
    """A matplotlib figure as an SVG data URI (an <img>: its ids and text cannot touch the page)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plots.close({"figure": fig})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _pct(value: float) -> str:
    return f"{value:.1%}" if value is not None and np.isfinite(value) else "n/a"


def _points(capacity: dict, points: pd.DataFrame) -> list[dict]:
    at_cap = dict(zip(capacity["definitions"]["name"], capacity["definitions"]["conversions_at_capacity"]))
    rows = [{"name": "model (its top accounts at your capacity)", "per_week": f"{capacity['model_per_week']:.0f}",
             "precision": _pct(capacity["model_precision"]),
             "conversions": f"{capacity['model_conversions_per_week']:.1f}", "model_precision": "",
             "model_conversions": "", "at_capacity": f"{capacity['model_conversions_per_week']:.1f}"}]
    for r in points.itertuples():
        rows.append({"name": r.name, "per_week": f"{r.per_week:.1f}", "precision": _pct(r.precision),
                     "conversions": f"{r.conversions_per_week:.1f}", "model_precision": _pct(r.model_precision),
                     "model_conversions": f"{r.model_conversions_per_week:.1f}",
                     "at_capacity": f"{at_cap[r.name]:.1f}" if r.name in at_cap else "(sized to capacity)"})
    return rows


def _revenue(table: pd.DataFrame | None) -> list[dict]:
    """Revenue a week at the capacity per definition and for the model (conversions with amounts only)."""
    if table is None or not len(table) or "revenue_per_week_at_capacity" not in table:
        return []
    table = table.sort_values("revenue_per_week_at_capacity", ascending=False)
    return [{"name": r.name, "value": f"{r.revenue_per_week_at_capacity:,.0f}"} for r in table.itertuples()]


def _funnel_rows(table: pd.DataFrame) -> tuple[list[dict], list[str], list[dict]]:
    summary = content.funnel_summary(content.common_cohorts(table))
    rows = [{"definition": r.definition, "cohorts": r.cohorts, "accounts": f"{r.accounts:,}", "pql_7d": _pct(r.pql_7d),
             "pql_30d": _pct(r.pql_30d), "pqls": f"{r.pqls:,}",
             "days": f"{r.median_days_to_pql:.0f}" if np.isfinite(r.median_days_to_pql) else "n/a",
             "won": _pct(r.pql_to_customer)} for r in summary.itertuples()]
    if table.empty:
        return rows, [], []
    wide = table.pivot_table(index="cohort", columns="definition", values="pql_30d", aggfunc="first")
    accounts = table.groupby("cohort")["accounts"].first()
    names = list(summary["definition"])
    cohorts = [{"week": f"{week:%Y-%m-%d}", "accounts": int(accounts[week]),
                "cells": [_pct(wide.loc[week, n]) if n in wide.columns and pd.notna(wide.loc[week, n]) else "-"
                           for n in names]} for week in wide.index]
    return rows, names, cohorts


def render(result, tables, settings, funnel: pd.DataFrame | None = None, summary: dict | None = None) -> str:
    """The report's HTML text."""
    every = settings.snapshots.every_days
    capacity = content.capacity_of(result, settings)
    curve, points = content.capacity_tables(result, every)
    weeks = content.weeks_of(result.test, every)
    funnel = content.funnel(result, tables, settings) if funnel is None else funnel
    funnel_rows, cohort_columns, cohorts = _funnel_rows(funnel)
    bands = content.calibration_bands(result.test["score"].to_numpy(), result.test["label"].to_numpy())
    definitions = content.definitions(result)
    summary = summary or {}
    m = result.metrics
    model_note = (f"The model's top {capacity['capacity_per_week']} accounts a week convert at "
                  f"{_pct(capacity['model_precision'])}")
    if capacity["best_definition"] is not None:
        model_note += (f"; {capacity['best_definition']} flags {capacity['best_calls_per_week']:.0f} accounts a week "
                       f"you can call, of which {_pct(capacity['best_precision'])} convert.")
    else:
        model_note += "."
    learned = "learned list" in set(points["name"])
    context = {
        "title": "Which accounts should sales call? The model against your PQL definitions",
        "meta": " | ".join(x for x in (
            f"run {summary['run_id']}" if summary.get("run_id") else "",
            f"model version {summary['model_version']}" if summary.get("model_version") else "",
            f"backtest {weeks} weeks, {len(result.test):,} account-weeks",
            f"conversion within {settings.label.horizon_days} days",
            f"written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC") if x),
        "headline": content.headline(result, weeks),
        "headline_warnings": list(result.health.get("verdict_warnings", [])),
        "headline_detail": model_note,
        "model_choice": (summary.get("model_choice") or {}).get("why", ""),
        "volume_chart": _svg(plots.volume(curve, points, capacity["capacity_per_week"])),
        "points": _points(capacity, points),
        "revenue": _revenue(getattr(result, "revenue", None)),
        "tiers": content.tier_rows(result.tier_rates, every),
        "funnel": funnel_rows, "cohort_columns": cohort_columns, "cohorts": cohorts,
        "funnel_weeks": content.common_cohorts(funnel)["cohort"].nunique() if len(funnel) else 0,
        "horizon": settings.label.horizon_days,
        "funnel_scope": (("Model tier 1 and the learned list are" if learned else "Model tier 1 is") +
                         " known for the sign-up weeks the backtest covers (scored out of time); the table by week "
                         "shows the hand rules for every matured week."),
        "definitions": definitions.to_dict("records"),
        "definitions_note": ("Learned definitions were found by the training run; stability is how often a "
                             "definition was found again when learning on other backtest periods. A learned "
                             "definition's figures are in-sample: the list was learned from these backtest rows "
                             "(out of time, each fold's own list is the 'learned list' point above)."
                             if learned else "This run learned no definitions; the hand-written ones are shown "
                             "with their backtest figures."),
        "calibration_lead": (f"On average the model gave the backtest accounts a {_pct(m.get('mean_score'))} "
                             f"chance, and {_pct(m.get('base_rate'))} converted. Accounts grouped by their score:"),
        "calibration_chart": _svg(plots.calibration_bars(bands)),
        "calibration": content.calibration_words(bands),
        "warnings": list(result.health.get("warnings", [])),
        "health_note": f"{result.counts.get('n_train', 0):,} account-weeks trained the model; "
                       f"{result.counts.get('n_features', 0)} signals per account."
                       if getattr(result, "counts", None) else "",
    }
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE).render(**context)


def write_report(result, tables, settings, path: str | Path, funnel: pd.DataFrame | None = None,
                 summary: dict | None = None) -> Path:
    """Write the report of a training run to ``path`` (one self-contained HTML file) and return the path.
    ``funnel``: the cohort funnel when already computed; ``summary``: ``summary.json``'s data (run id,
    model version) when known."""
    # atomic: a failure (a full disk) leaves the previous report and no temporary file
    return write_text(render(result, tables, settings, funnel, summary), path)
