"""report.html: one self-contained file that works offline. plotly.js is embedded from the
plotly package (no CDN); the page's Content-Security-Policy allows no request to any address,
so a chart that tried one would fail loudly in the browser test. The page comes from a jinja2
template shipped with the package; the charts are `charts.Chart` values drawn by plotly.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from llmbench.report.charts import Chart, Series
from llmbench.report.document import ReportDocument
from llmbench.report.messages import Messages

# A colour per series name within a chart; a CI band takes its line's colour, lighter.
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _band(series: Series, color: str) -> list[dict[str, Any]]:
    lower = {
        "type": "scatter",
        "mode": "lines",
        "x": list(series.x),
        "y": list(series.lower or []),
        "line": {"width": 0, "color": color},
        "showlegend": False,
        "hoverinfo": "skip",
        "legendgroup": series.name,
    }
    upper = {**lower, "y": list(series.upper or []), "fill": "tonexty", "fillcolor": color + "33"}
    return [lower, upper]


def _trace(series: Series, color: str) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": series.name,
        "x": list(series.x),
        "y": list(series.y),
        "legendgroup": series.name,
    }
    if series.axis != "y":
        base["yaxis"] = series.axis
    if series.kind == "bar":
        return {**base, "type": "bar", "marker": {"color": color}}
    if series.kind == "gantt":
        return {
            **base,
            "type": "bar",
            "orientation": "h",
            "base": list(series.base or []),
            "marker": {"color": color},
        }
    mode = {"markers": "markers", "curve": "lines"}.get(series.kind, "lines+markers")
    return {
        **base,
        "type": "scatter",
        "mode": mode,
        "line": {"color": color},
        "marker": {"color": color, "size": 4 if series.kind == "markers" else 6},
    }


def plotly_figure(chart: Chart) -> dict[str, Any]:
    traces: list[dict[str, Any]] = []
    for k, series in enumerate(chart.series):
        color = PALETTE[k % len(PALETTE)]
        if series.lower is not None and series.upper is not None:
            traces += _band(series, color)
        traces.append(_trace(series, color))
    layout: dict[str, Any] = {
        "title": {"text": chart.title},
        "xaxis": {"title": {"text": chart.x_title}},
        "yaxis": {"title": {"text": chart.y_title}},
        "barmode": "stack" if chart.stacked else "group",
        "legend": {"orientation": "h", "y": -0.25},
        "margin": {"t": 50, "r": 70, "b": 90, "l": 70},
        "height": 420,
    }
    if chart.y2_title:
        layout["yaxis2"] = {"title": {"text": chart.y2_title}, "overlaying": "y", "side": "right"}
    if chart.y3_title:  # a third scale (memory beside CPU %): right of the second, room made
        layout["xaxis"]["domain"] = [0, 0.88]
        layout["yaxis2"]["anchor"] = "x"
        layout["yaxis3"] = {
            "title": {"text": chart.y3_title},
            "overlaying": "y",
            "side": "right",
            "anchor": "free",
            "position": 1.0,
        }
    if chart.key == "gantt":
        layout["yaxis"]["autorange"] = "reversed"
        layout["yaxis"]["type"] = "category"
    if chart.categories:
        layout["xaxis"].update(
            type="category", categoryorder="array", categoryarray=chart.categories
        )
    return {"data": traces, "layout": layout}


def figure_json(chart: Chart) -> str:
    """Sorted keys (the same file from the same results), and `</` escaped: the JSON sits
    inside a <script> element."""
    text = json.dumps(plotly_figure(chart), sort_keys=True, ensure_ascii=False, allow_nan=False)
    return text.replace("</", "<\\/")


def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def render_html(doc: ReportDocument, charts: list[Chart], m: Messages) -> str:
    env = Environment(
        loader=PackageLoader("llmbench.report", "templates"),
        autoescape=select_autoescape(default=True),
        keep_trailing_newline=True,
    )
    template = env.get_template("report.html.j2")
    return template.render(
        doc=doc,
        lang=m.lang,
        m=m,
        plotly_js=plotly_js(),
        charts=[{"key": c.key, "title": c.title, "json": figure_json(c)} for c in charts],
    )
