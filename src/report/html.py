"""The revenue leader's report of a training run: ONE self-contained HTML file (inline CSS, charts as
SVG data URIs drawn by matplotlib, no scripts, no external URL), every text escaped by jinja2.

Sections (stable ids): ``headline``, ``volume``, ``tiers``, ``funnel``, ``definitions``, ``calibration``,
``health``.
"""
from __future__ import annotations

import base64
import io
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape
from markupsafe import Markup, escape

from features.io import write_text
from features.words import number, plural

from report import charts, content
from report.sample import tier1_sample
from report.template import PAGE

FOLD_ROWS = 8  # the by-week table shows the newest weeks; the rest fold under one line

SECTIONS = ("headline", "volume", "tiers", "funnel", "definitions", "calibration", "health")



def _svg(fig) -> str:
    """A matplotlib figure as an SVG data URI (an <img>: its ids and text cannot touch the page)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    charts.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_pct = content.percent


def breakable(text) -> Markup:
    """The text escaped, with a break opportunity after each underscore, dot, slash or hyphen, so a long event or
    rule name wraps inside its cell instead of widening the page."""
    return Markup(re.sub(r"([_./-])", r"\1<wbr>", str(escape(str(text)))))


def _points(capacity: dict, points: pd.DataFrame) -> list[dict]:
    at_cap = dict(zip(capacity["definitions"]["name"], capacity["definitions"]["conversions_at_capacity"]))
    rows = [{"key": "line", "name": "model (its top accounts at your capacity)",
             "per_week": number(capacity["model_per_week"]),
             "precision": _pct(capacity["model_precision"]),
             "conversions": f"{capacity['model_conversions_per_week']:.1f}", "model_precision": "",
             "model_conversions": "", "at_capacity": f"{capacity['model_conversions_per_week']:.1f}"}]
    for key, r in enumerate(points.itertuples(), start=1):
        own = r.kind == "model"  # tier 1 is the model's own cut, sized to the capacity: no model to set beside it
        rows.append({"key": str(key), "name": r.name, "per_week": number(round(r.per_week, 1)),
                     "precision": _pct(r.precision), "conversions": "" if own else f"{r.conversions_per_week:.1f}",
                     "model_precision": "" if own else _pct(r.model_precision),
                     "model_conversions": "" if own else f"{r.model_conversions_per_week:.1f}",
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
    cohorts = [{"week": f"{week:%Y-%m-%d}", "accounts": f"{int(accounts[week]):,}",
                "cells": [_pct(wide.loc[week, n]) if n in wide.columns and pd.notna(wide.loc[week, n]) else "-"
                           for n in names]} for week in sorted(wide.index, reverse=True)]
    return rows, names, cohorts


def _grid(every_days: int) -> str:
    """The snapshot grid in words: ``weekly``, ``daily``, ``3-day``."""
    return {7: "weekly", 1: "daily"}.get(int(every_days), f"{int(every_days)}-day")


def _headline(result, settings, capacity: dict, weeks: int, summary: dict) -> dict:
    """The page's title, meta line and headline section."""
    note = (f"The model's top {plural(capacity['capacity_per_week'], 'account')} a week convert at "
            f"{_pct(capacity['model_precision'])}")
    if capacity["best_definition"] is not None:
        note += (f"; {capacity['best_definition']} flags {plural(round(capacity['best_calls_per_week']), 'account')}"
                 f" a week you can call, of which {_pct(capacity['best_precision'])} convert.")
    return {
        "title": "Which accounts should sales call? The model against your PQL definitions",
        "meta": " | ".join(x for x in (
            f"run {summary['run_id']}" if summary.get("run_id") else "",
            f"model version {summary['model_version']}" if summary.get("model_version") else "",
            f"backtest {plural(weeks, 'week')}, {plural(len(result.test), 'account snapshot')} "
            f"({_grid(settings.snapshots.every_days)})",
            f"conversion within {plural(settings.label.horizon_days, 'day')}",
            f"written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC") if x),
        "headline": content.headline(result, weeks), "headline_detail": note if "flags" in note else note + ".",
        "headline_warnings": list(result.health.get("verdict_warnings", [])),
        "model_choice": (summary.get("model_choice") or {}).get("why", "")}


def _funnel(result, tables, settings, funnel: pd.DataFrame | None) -> dict:
    """The funnel section: pooled table, the by-week table's newest rows and the folded rest."""
    funnel = content.funnel(result, tables, settings) if funnel is None else funnel
    rows, columns, cohorts = _funnel_rows(funnel)
    shown, folded = content.fold(cohorts, FOLD_ROWS)
    line = (f"{plural(len(folded), 'earlier sign-up week')} ({folded[-1]['week']} to {folded[0]['week']})"
            if folded else "")
    learned = "learned" in getattr(result, "test", pd.DataFrame()).columns
    return {"funnel": rows, "cohort_columns": columns, "cohorts": shown, "cohorts_folded": folded,
            "cohorts_folded_line": line, "horizon": plural(settings.label.horizon_days, "day"),
            "funnel_weeks": plural(content.common_cohorts(funnel)["cohort"].nunique() if len(funnel) else 0,
                                   "sign-up week"),
            "grid": _grid(settings.snapshots.every_days),
            "funnel_scope": (("Model tier 1 and the learned list are" if learned else "Model tier 1 is") +
                             " known for the sign-up weeks the backtest covers (scored out of time); the table by "
                             "week shows the hand rules for every matured week.")}


def _definitions(result, learned: bool) -> dict:
    """The definitions section: the table and what its figures mean (out of time or in-sample)."""
    return {"definitions": content.definitions(result).to_dict("records"),
            "definitions_note": ("Hand-written definitions' figures are out of time: each backtest week was scored "
                                 "before it happened. Learned definitions were found by the training run; stability "
                                 "is how often a definition was found again when learning on other backtest periods. "
                                 "Their figures are in-sample: the list was learned from these backtest rows (out of "
                                 "time, each fold's own list is the 'learned list' point above)."
                                 if learned else "This run learned no definitions; the hand-written ones are shown "
                                 "with their backtest figures, out of time.")}


def _calibration(result) -> dict:
    """The calibration section: equal-sized score bands as a chart and in words."""
    m = result.metrics
    bands = content.calibration_bands(result.test["score"].to_numpy(), result.test["label"].to_numpy())
    return {"calibration_lead": (f"On average the model gave the backtest accounts a {_pct(m.get('mean_score'))} "
                                 f"chance, and {_pct(m.get('base_rate'))} converted. Accounts grouped by their score "
                                 f"into bands of equal size:"),
            "calibration_chart": _svg(charts.calibration_bars(bands)),
            "calibration": content.calibration_words(bands)}


def render(result, tables, settings, funnel: pd.DataFrame | None = None, summary: dict | None = None) -> str:
    """The report's HTML text."""
    every = settings.snapshots.every_days
    capacity = content.capacity_of(result, settings)
    curve, points = content.capacity_tables(result, every)
    weeks = content.weeks_of(result.test, every)
    counts = getattr(result, "counts", None)
    context = {
        **_headline(result, settings, capacity, weeks, summary or {}),
        "volume_chart": _svg(charts.volume(curve, points, capacity["capacity_per_week"])),
        "points": _points(capacity, points),
        "revenue": _revenue(getattr(result, "revenue", None)),
        "tiers": content.tier_rows(result.tier_rates, every),
        "tier1_sample": tier1_sample(result.test, tables, getattr(getattr(result.scorer, "spec", None), "buyers", None)),
        **_funnel(result, tables, settings, funnel),
        **_definitions(result, "learned list" in set(points["name"])),
        **_calibration(result),
        "warnings": list(result.health.get("warnings", [])),
        "health_note": f"{plural(counts.get('n_train', 0), 'account snapshot')} trained the model; "
                       f"{plural(counts.get('n_features', 0), 'signal')} per account." if counts else "",
    }
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["breakable"] = breakable
    return env.from_string(PAGE).render(**context)


def write_report(result, tables, settings, path: str | Path, funnel: pd.DataFrame | None = None,
                 summary: dict | None = None) -> Path:
    """Write the report of a training run to ``path`` (one self-contained HTML file) and return the path.
    ``funnel``: the cohort funnel when already computed; ``summary``: ``summary.json``'s data (run id,
    model version) when known."""
    # atomic: a failure (a full disk) leaves the previous report and no temporary file
    return write_text(render(result, tables, settings, funnel, summary), path)
