"""A metric's trend across stored runs as one chart (a line per target and scenario, runs in
time order), drawn by the report's plotly renderer into a self-contained offline page.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from llmbench.report.charts import Chart, Series
from llmbench.report.html import figure_json, plotly_js


@dataclass(frozen=True, slots=True)
class TrendPoint:
    series: str  # "target / scenario"
    started_at: str  # ISO 8601 UTC
    run_id: str
    value: float | None


def trend_chart(metric: str, points: Sequence[TrendPoint]) -> Chart:
    by_series: dict[str, list[TrendPoint]] = {}
    for point in points:
        by_series.setdefault(point.series, []).append(point)
    series = tuple(
        Series(name, [p.started_at for p in pts], [p.value for p in pts])
        for name, pts in by_series.items()
    )
    return Chart("trend", f"{metric} over time", "run started (UTC)", metric, series)


def trend_page(chart: Chart) -> str:
    """One HTML file with plotly.js inlined: opens offline, asks no address for anything."""
    title = html.escape(chart.title)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
        'font-src data:">'
        f"<title>llmbench history: {title}</title></head><body>"
        f'<div id="trend" style="width:100%;height:480px"></div>'
        f"<script>{plotly_js()}</script>"
        f"<script>var f = {figure_json(chart)};\n"
        "Plotly.newPlot('trend', f.data, f.layout, {displaylogo: false, responsive: true});"
        "</script></body></html>\n"
    )
