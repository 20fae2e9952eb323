"""report.html opened in real headless Chromium (Debian's `chromium`, which `scripts/check`
installs; driven by Playwright over its own protocol, no browser download): every chart renders
as a plotly plot with traces, the console shows no error, and no request leaves the file. The
screenshots of the agent-run pages are kept as artifacts:
<pytest tmp dir>/report-browser0/report-agent-en.png and report-agent-zh.png
(pytest keeps the last three runs' tmp dirs under /tmp/pytest-of-<user>/), or
$LLMBENCH_TEST_ARTIFACTS/report-browser/ when that is set (docs/reports.md)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Route, sync_playwright

from llmbench.report.files import write_report
from llmbench.report.source import load_source

from .conftest import StoredResults

CHROMIUM = "/usr/bin/chromium"  # Debian's package `chromium`
# Headless, no sandbox (root in CI), and none of Chromium's own background connections.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
# What every chart div tells once plotly has drawn it.
CHARTS_JS = """() => Array.from(document.querySelectorAll('div.chart')).map(div => ({
    id: div.id,
    plotted: div.classList.contains('js-plotly-plot'),
    traces: (div.data || []).length,
    points: (div.data || []).reduce((n, t) => n + ((t.x || []).length), 0),
    drawn: div.querySelectorAll('g.trace, g.bars, path.point').length,
}))"""


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the pages and screenshots stay: $LLMBENCH_TEST_ARTIFACTS, else pytest's tmp dir."""
    chosen = os.environ.get("LLMBENCH_TEST_ARTIFACTS")
    if chosen:
        path = Path(chosen) / "report-browser"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("report-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert shutil.which(CHROMIUM), f"{CHROMIUM} missing: `bash scripts/check` installs it"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(
    browser: Browser, page_path: Path, shot: Path
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The charts' state, the console errors and every request the page made."""
    url = page_path.resolve().as_uri()
    requests: list[str] = []
    problems: list[str] = []

    def route(r: Route) -> None:
        requests.append(r.request.url)
        if r.request.url == url or r.request.url.startswith("data:"):
            r.continue_()
        else:
            r.abort()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.route("**/*", route)
        page.goto(url, wait_until="load")
        charts: list[dict[str, Any]] = page.evaluate(CHARTS_JS)
        if shot is not None:
            page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    return charts, problems, [u for u in requests if u != url]


# (results, language, charts the page must have)
PAGES = [
    (
        "agent",
        "en",
        {"cdf_ttft", "cdf_e2e", "timeseries", "per_turn", "per_step", "gantt", "decomposition"},
    ),
    ("agent", "zh", {"cdf_ttft", "gantt", "decomposition"}),
    ("sweep", "en", {"vs_concurrency", "throughput", "cdf_e2e"}),
    ("study", "en", {"cdf_ttft", "decomposition"}),
]


@pytest.mark.parametrize(("results", "lang", "expected"), PAGES)
def test_html_report_renders_offline_in_chromium(
    stored: StoredResults,
    screenshots: Path,
    browser: Browser,
    results: str,
    lang: str,
    expected: set[str],
) -> None:
    name = f"{results}-{lang}"
    source = load_source(getattr(stored, results))
    page_path = write_report(source, "html", lang, screenshots / f"{name}.html").paths[0]  # type: ignore[arg-type]
    shot = screenshots / f"report-{name}.png" if results == "agent" else None  # the artifacts
    charts, problems, elsewhere = _open(browser, page_path, shot)
    assert {c["id"].removeprefix("chart-") for c in charts} >= expected
    for chart in charts:
        assert chart["plotted"], chart
        assert chart["traces"], chart
        assert chart["points"], chart
        assert chart["drawn"], chart
    assert problems == []
    assert elsewhere == []
    assert shot is None or shot.stat().st_size > 50_000
    if results == "study":  # the comparison table is on the page
        assert "cloud / self-hosted" in page_path.read_text()
