"""The revenue leader's report: written by every training run, self-contained, escaped, and rendered by a
real headless Chromium (Debian's ``chromium``) with every section visible and no console errors."""
from __future__ import annotations

import html
import re
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from rules.language import RuleSet
from report.html import SECTIONS, write_report

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
    return SimpleNamespace(**{**fields, "test": test, "comparison": comparison})


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


def _open(browser, path: Path, shot: Path) -> list[str]:
    """Load the page, screenshot it, assert every section is visible; return console and page errors."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
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
