"""The revenue leader's report: written by every training run, self-contained, escaped, and rendered by a
real headless Chromium (Debian's ``chromium``) with every section visible and no console errors."""
from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from rules.language import RuleSet
from report.html import FOLD_ROWS, SECTIONS, write_report

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LEARNED_PARTS = ("definitions", "frame", "revenue", "learned_overlap")


def _settings(trained):
    from app.paths import CONF_DIR
    from train.settings import settings_for

    return settings_for(trained.config, CONF_DIR)[0]


@pytest.fixture(scope="module")
def tables(trained):
    from features.config import DataConfig
    from features.data.load import load_tables

    return load_tables(DataConfig.from_mapping(trained.config["data"]))[0]


def _without_learning(result):
    """The result as a run without learned definitions, feature frame or revenue would give it."""
    test = result.test.drop(columns=[c for c in ("learned", "expected_value") if c in result.test.columns])
    comparison = result.comparison[result.comparison["name"] != "learned"]
    fields = {k: v for k, v in vars(result).items() if k not in LEARNED_PARTS}
    capacity = {k: v for k, v in result.capacity.items() if k != "versus_learned"}  # no list, no headline about it
    return SimpleNamespace(**{**fields, "test": test, "comparison": comparison, "capacity": capacity})


# every pair of text boxes (headings, paragraphs, list items, table cells, charts) in a section that overlap by more
# than a pixel, neither inside the other; boxes inside a scroll container are compared where they are drawn
OVERLAPS = """() => {
  const out = [];
  for (const section of document.querySelectorAll('section')) {
    const els = [...section.querySelectorAll('h2, h3, p, li, th, td, summary, img, code')]
      .filter(e => e.getClientRects().length && e.checkVisibility());
    const boxes = els.map(e => e.getBoundingClientRect());
    for (let i = 0; i < els.length; i++) for (let j = i + 1; j < els.length; j++) {
      if (els[i].contains(els[j]) || els[j].contains(els[i])) continue;
      const a = boxes[i], b = boxes[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) out.push(section.id + ': ' + els[i].textContent.slice(0, 40) + ' / ' +
                                   els[j].textContent.slice(0, 40));
    }
  }
  return out;
}"""
# text wider than its own box (it would run over its neighbour)
OVERFLOWING = """() => [...document.querySelectorAll('h1, h2, h3, p, li, th, td, summary')]
  .filter(e => e.getClientRects().length && e.checkVisibility() && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.tagName + ': ' + e.textContent.slice(0, 60))"""
LONG_EVENT = "w_completeren_aanvraag_complete_after_the_second_reminder_email_was_opened"


def _handmade(weeks: int = 40, accounts: int = 2_000, seed: int = 7):
    """A run's result made by hand: 0.2% of accounts convert, three hand rules named after 60+ character event
    names, a learned list, the model's tier 1; with its settings and a 40-week funnel."""
    from train.capacity import at_capacity
    from train.measures import tier_table

    rng = np.random.default_rng(seed)
    n = weeks * accounts
    score = np.clip(rng.lognormal(np.log(0.001), 1.0, n), 1e-6, 0.5)
    as_of = np.repeat(pd.date_range("2025-01-06", periods=weeks, freq="7D"), accounts)
    test = pd.DataFrame({"account_id": np.tile(np.arange(accounts), weeks), "as_of": as_of, "score": score,
                         "log_odds": np.log(score / (1 - score)), "label": (rng.random(n) < score).astype(int)})
    names = [f"did_{LONG_EVENT}", f"many_{LONG_EVENT}_in_the_last_7_days", "busy_team"]
    for i, name in enumerate(names):
        test[f"rule_{name}"] = rng.random(n) < score * (40, 25, 10)[i]
    test["learned"] = rng.random(n) < score * 30
    rank = test.groupby("as_of")["score"].rank(ascending=False, method="first")
    test["pql_tier"] = np.where(rank <= 50, "1", np.where(rank <= 400, "2", "none"))
    settings = SimpleNamespace(snapshots=SimpleNamespace(every_days=7), capacity_per_week=50,
                               label=SimpleNamespace(horizon_days=30))
    rules = RuleSet.from_config({name: {"description": f"{name.replace('_', ' ')} (hand rule)",
                                        "expression": "seats_used >= 1"} for name in names})
    flags = {name: test[f"rule_{name}"] for name in names}
    comparison = pd.DataFrame({"name": names, "flagged": [int(f.sum()) for f in flags.values()],
                               "precision": [float(test["label"][f].mean()) for f in flags.values()]})
    learned = pd.DataFrame({"name": ["learned_1"], "expression": [f"count_{LONG_EVENT}_30d >= 3"],
                            "words": [f"{LONG_EVENT.replace('_', ' ')}: at least 3 times in the last 30 days"],
                            "stability": [0.75], "flagged": [int(test["learned"].sum())],
                            "precision": [float(test["label"][test["learned"]].mean())]})
    cohorts = pd.date_range("2024-03-04", periods=weeks, freq="7D")
    funnel = pd.DataFrame([{"cohort": c, "definition": d, "accounts": 120 + i, "customers": 0.01, "pql_7d": 0.1,
                            "pql_30d": 0.2 + j / 100, "pqls": 24, "median_days_to_pql": 6.0, "pql_to_customer": 0.05}
                           for i, c in enumerate(cohorts) for j, d in enumerate(names)])
    result = SimpleNamespace(test=test, comparison=comparison, scorer=SimpleNamespace(rules=rules),
                             definitions=learned, metrics={"mean_score": float(score.mean()),
                                                           "base_rate": float(test["label"].mean())},
                             health={"warnings": [], "verdict_warnings": []}, revenue=None,
                             tier_rates=tier_table(test, weeks), counts={"n_train": 90_000, "n_features": 41})
    result.capacity = at_capacity(test, 50, 7)
    return result, settings, funnel


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    result, settings, funnel = _handmade()
    return write_report(result, None, settings, tmp_path_factory.mktemp("handmade") / "report.html", funnel=funnel)


def _numbers(text: str) -> list[str]:
    """The numbers of a piece of the page as written (15,000; 12.3; 28.3%)."""
    return re.findall(r"-?\d[\d,]*(?:\.\d+)?%?", html.unescape(re.sub(r"<[^>]+>", " ", text)))


def _values(data) -> list[float]:
    """Every number of summary.json: its numbers and the numbers in its texts (the headline, the verdicts)."""
    if isinstance(data, dict):
        return [v for x in data.values() for v in _values(x)]
    if isinstance(data, list):
        return [v for x in data for v in _values(x)]
    if isinstance(data, bool) or data is None:
        return []
    if isinstance(data, (int, float)):
        return [float(data)]
    return [float(x.rstrip("%").replace(",", "")) for x in _numbers(str(data))]


def _found(shown: str, values: list[float], scales: tuple[float, ...]) -> bool:
    """Whether a number as shown is one of the values (times a scale) as the page would round it."""
    digits = len(shown.rstrip("%").partition(".")[2])
    target = float(shown.rstrip("%").replace(",", ""))
    factor = 100.0 if shown.endswith("%") else 1.0
    return any(abs(round(v * factor * s, digits) - target) < 1e-9 for v in values for s in scales)


def test_every_number_of_the_headline_tiers_and_capacity_table_is_in_summary_json(trained):
    text = (Path(trained.root) / "report.html").read_text()
    values = _values(json.loads((Path(trained.root) / "summary.json").read_text()))
    every = _settings(trained).snapshots.every_days
    headline = re.search(r'<p class="big">(.*?)</p>', text, re.S).group(1)
    tiers = re.search(r'<table id="tier-table">(.*?)</table>', text, re.S).group(1)
    capacity = re.search(r'<table id="capacity">(.*?)</table>', text, re.S).group(1)
    capacity = re.sub(r'<td class="key">.*?</td>', "", capacity)  # the points' numbers on the chart
    shown = {"headline": _numbers(headline), "tiers": _numbers(tiers.split("</tr>", 1)[1]),
             "capacity": _numbers(capacity.split("</tr>", 1)[1])}
    assert all(shown.values()), shown
    # 'a week' figures are per-snapshot ones times snapshots a week; 95% is the intervals' level
    missing = {part: [n for n in numbers if not _found(n, values + [0.95], (1.0, 7.0 / every))]
               for part, numbers in shown.items()}
    assert missing == {"headline": [], "tiers": [], "capacity": []}


def test_skewed_scores_long_names_and_many_weeks_read_well(handmade):
    text = handmade.read_text()
    assert not re.search(r"(?<![\d.])0\.0%", text) and "1 weeks" not in text and " 1 accounts" not in text
    assert "in-sample" in text and "out of time" in text
    assert "did_<wbr>w_<wbr>completeren_<wbr>" in text  # long names wrap at their underscores
    newest, folded = re.search(r"<h3>By sign-up week.*?</h3>(.*?)<details id=\"earlier-weeks\">(.*?)</details>",
                               text, re.S).groups()
    assert newest.count("<tr>") == FOLD_ROWS + 1 and "2024-11-25" in newest  # the newest week first
    assert "32 earlier sign-up weeks (2024-03-04 to 2024-10-07)" in folded and folded.count("<tr>") == 33
    assert text.index("earlier-weeks") < text.index('<section id="definitions">')


@pytest.fixture(scope="module")
def browser():

    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian chromium is not installed (.ci/run installs it): the report test needs a real browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                     args=ARGS)
        yield chromium
        chromium.close()


def _open(browser, path: Path, shot: Path, width: int = 1280) -> list[str]:
    """Load the page at ``width``, screenshot it, assert every section is visible, that no two text boxes of a
    section overlap and that the page does not scroll sideways; return console and page errors."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.screenshot(path=str(shot), full_page=True)
    for section in SECTIONS:
        assert page.locator(f"section#{section}").is_visible(), section
        assert page.locator(f"section#{section} h2").inner_text().strip(), section
    images = page.eval_on_selector_all("img.chart", "els => els.map(e => e.complete && e.naturalWidth > 0)")
    assert images and all(images), "a chart did not render"
    for state in ("folded", "unfolded"):  # the long tables as the page opens, then with every fold opened
        assert page.evaluate(OVERLAPS) == [], f"text boxes overlap at {width}px ({state})"
        assert page.evaluate(OVERFLOWING) == [], f"text runs out of its box at {width}px ({state})"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"sideways at {width}px"
        page.eval_on_selector_all("details", "els => els.forEach(e => { e.open = true; })")
    page.close()
    assert shot.stat().st_size > 20_000
    assert not requests, f"the report fetched {requests}"
    return errors


@pytest.mark.slow  # a real headless Chromium
def test_training_writes_a_report_that_chromium_renders(trained, browser, tmp_path):
    path = Path(trained.root) / "report.html"
    text = path.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the report must not load anything from the web"
    assert "<script" not in text
    result = trained.job.result
    headline = re.search(r'<p class="big">(.*?)</p>', text, re.S).group(1)
    capacity = result.capacity
    assert f"At {capacity['capacity_per_week']} calls a week the model converts" in headline
    assert f"{capacity['model_conversions_per_week']:.1f}" in headline
    for versus in ("versus_rule", "versus_learned"):  # the table's own verdict words, interval included
        if capacity.get(versus):
            assert html.escape(capacity[versus]["verdict"]) in headline
    assert _open(browser, path, tmp_path / "report.png") == []


@pytest.mark.slow  # a real headless Chromium
def test_the_report_without_learned_definitions_or_feature_frame(trained, tables, browser, tmp_path):
    result = _without_learning(trained.job.result)
    path = write_report(result, tables, _settings(trained), tmp_path / "plain.html")
    text = path.read_text()
    assert "learned list" not in text and "This run learned no definitions" in text
    assert _open(browser, path, tmp_path / "plain.png") == []


def test_every_text_is_escaped(trained, tables, tmp_path):
    result = _without_learning(trained.job.result)
    nasty = "<script>alert(1)</script>"
    rules = RuleSet.from_config({"x": {"description": nasty, "expression": "seats_used >= 1"}})
    result.scorer = SimpleNamespace(rules=rules)
    result.health = {**result.health, "warnings": [f"warning {nasty}"]}
    settings = _settings(trained)
    settings = replace(settings, capacity=replace(settings.capacity, per_week=7))
    text = write_report(result, tables, settings, tmp_path / "nasty.html").read_text()
    assert nasty not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert f"At {result.capacity['capacity_per_week']} calls a week" in text  # the headline is the run's own


@pytest.mark.slow  # a real headless Chromium
@pytest.mark.parametrize("width", [1280, 390])
def test_the_report_reads_well_on_a_desk_and_on_a_phone(trained, handmade, browser, width, tmp_path):
    for name, path in (("demo", Path(trained.root) / "report.html"), ("handmade", handmade)):
        shot = tmp_path / f"{name}-{width}.png"
        assert _open(browser, path, shot, width) == [], name
