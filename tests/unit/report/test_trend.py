"""`llmbench history --trend --html`: one line per target and scenario, in run order, drawn by the
report's plotly renderer into a page that loads nothing from anywhere."""

from __future__ import annotations

import json
import re

from llmbench.report.trend import TrendPoint, trend_chart, trend_page


def test_trend_chart_and_page() -> None:
    points = [
        TrendPoint("sim / concurrency", "2026-12-01T10:00:00+00:00", "r1", 50.0),
        TrendPoint("vllm / poisson", "2026-12-01T11:00:00+00:00", "r2", 80.0),
        TrendPoint("sim / concurrency", "2026-12-02T10:00:00+00:00", "r3", None),
        TrendPoint("sim / concurrency", "2026-12-03T10:00:00+00:00", "r4", 65.0),
    ]
    chart = trend_chart("ttft_ms.p50 <b>", points)
    assert [(s.name, list(s.y)) for s in chart.series] == [
        ("sim / concurrency", [50.0, None, 65.0]), ("vllm / poisson", [80.0])]  # fmt: skip
    page = trend_page(chart)
    assert "<title>llmbench history: ttft_ms.p50 &lt;b&gt; over time</title>" in page
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js is inlined: works offline
    figure = json.loads(page.split("var f = ", 1)[1].split(";\n", 1)[0].replace("<\\/", "</"))
    assert [t["name"] for t in figure["data"]] == ["sim / concurrency", "vllm / poisson"]
    assert figure["data"][0]["x"][2] == "2026-12-03T10:00:00+00:00"
