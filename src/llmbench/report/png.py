"""PNG versions of the report's main charts (for docs and chat), drawn with matplotlib from the
same `charts.Chart` values as the HTML page. The files carry no timestamp or version, so the
same stored results give the same bytes. Chinese words need a CJK font: without one installed,
the PNGs keep the English words (and `render_pngs` says so) rather than draw empty boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from llmbench.report.charts import Chart, Series, build_charts
from llmbench.report.html import PALETTE
from llmbench.report.messages import Messages
from llmbench.report.source import ReportSource

# The charts worth a PNG: what a reader pastes into a chat or a doc.
MAIN_CHARTS = (
    "cdf_ttft",
    "cdf_e2e",
    "vs_concurrency",
    "vs_input",
    "throughput",
    "decomposition",
    "gantt",
)
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
)


def cjk_font() -> str | None:
    """An installed font that has Chinese glyphs, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in names), None)


def png_language(m: Messages) -> tuple[Messages, str | None]:
    """The messages the PNGs can show, and the CJK font to show them with (None: not needed
    or none installed, then English)."""
    if m.lang != "zh":
        return m, None
    font = cjk_font()
    return (m, font) if font else (Messages("en"), None)


def _categories(chart: Chart) -> list[str] | None:
    """The categories of a chart whose x is categorical (its own list, else the names its
    series use on x, in order); None for a numeric x."""
    if chart.categories:
        return chart.categories
    names = [x for s in chart.series if s.kind != "gantt" for x in s.x if isinstance(x, str)]
    return list(dict.fromkeys(names)) or None


def _xs(chart: Chart, series: Series) -> list[Any]:
    """x as drawn: a category's position when x is categorical (stacked bars keep the names:
    every series has them all); else as given."""
    categories = _categories(chart)
    if categories is None or chart.stacked or series.kind == "gantt":
        return list(series.x)
    return [categories.index(str(x)) for x in series.x]


def _bar_layout(chart: Chart) -> tuple[dict[int, int], float]:
    """Side by side bars (not stacked): each bar series' slot, and one bar's width."""
    bars = [k for k, s in enumerate(chart.series) if s.kind == "bar"]
    if chart.stacked or not bars:
        return {}, 0.8
    xs = sorted({float(x) for k in bars for x in _xs(chart, chart.series[k])})
    gap = min((b - a for a, b in pairwise(xs)), default=1.0)
    return {k: slot for slot, k in enumerate(bars)}, 0.8 * gap / len(bars)


def _bars(
    ax: Any,
    series: Series,
    color: str,
    x: list[Any],
    heights: list[float],
    slot: tuple[int, int, float],
    stacked_bottom: list[float] | None,
) -> None:
    if stacked_bottom is not None:  # categories, stacked
        ax.bar(
            [str(v) for v in x],
            heights,
            color=color,
            label=series.name,
            bottom=stacked_bottom,
            alpha=0.85,
        )
        for i, h in enumerate(heights):
            stacked_bottom[i] += h
        return
    index, count, width = slot
    offset = (index - (count - 1) / 2) * width
    ax.bar(
        [float(v) + offset for v in x],
        heights,
        width=width,
        color=color,
        label=series.name,
        alpha=0.85,
    )


def _draw(
    ax: Any,
    k: int,
    series: Series,
    stacked_bottom: list[float] | None,
    slot: tuple[int, int, float],
    x: list[Any],
) -> None:
    color = PALETTE[k % len(PALETTE)]
    y = [float("nan") if not isinstance(v, int | float) else float(v) for v in series.y]
    if series.kind == "gantt":
        ax.barh(list(series.y), list(series.x), left=list(series.base or []), color=color)
        ax.invert_yaxis()
    elif series.kind == "bar":
        _bars(ax, series, color, x, [0.0 if v != v else v for v in y], slot, stacked_bottom)
    else:
        marker = {"markers": ".", "curve": ""}.get(series.kind, "o")
        style = "" if series.kind == "markers" else "-"
        ax.plot(x, y, marker + style, color=color, label=series.name, markersize=3)
        if series.lower is not None and series.upper is not None:
            low = [float("nan") if v is None else v for v in series.lower]
            high = [float("nan") if v is None else v for v in series.upper]
            ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)


def _axes(ax: Any, chart: Chart) -> dict[str, Any]:
    """The axis of each scale the chart uses: y on the left, y2 and y3 on the right."""
    axes = {"y": ax}
    if chart.y2_title:
        axes["y2"] = ax.twinx()
        axes["y2"].set_ylabel(chart.y2_title)
    if chart.y3_title:
        axes["y3"] = ax.twinx()
        axes["y3"].spines["right"].set_position(("axes", 1.12))
        axes["y3"].set_ylabel(chart.y3_title)
    return axes


def draw_chart(chart: Chart, path: Path, font: str | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    with plt.rc_context({"font.family": [font, "DejaVu Sans"]} if font else None):
        fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
        axes = _axes(ax, chart)
        bottom = [0.0] * len(chart.categories) if chart.stacked else None
        slots, width = _bar_layout(chart)
        for k, series in enumerate(chart.series):
            slot = (slots.get(k, 0), len(slots), width)
            _draw(axes.get(series.axis, ax), k, series, bottom, slot, _xs(chart, series))
        categories = _categories(chart)
        if categories is not None and not chart.stacked:
            ax.set_xticks(range(len(categories)), categories)
        ax.set_title(chart.title)
        ax.set_xlabel(chart.x_title)
        ax.set_ylabel(chart.y_title)
        handles: list[Any] = []
        labels: list[str] = []
        for axis in axes.values():
            more = axis.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        if labels:
            ax.legend(
                handles,
                labels,
                fontsize="small",
                loc="upper center",
                bbox_to_anchor=(0.5, -0.14),
                ncol=3,
                frameon=False,
            )
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="png", metadata={"Software": None})
        plt.close(fig)


def render_pngs(source: ReportSource, m: Messages, directory: Path) -> PngResult:
    """The main charts as `<key>.png` in `directory` (created)."""
    words, font = png_language(m)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for chart in build_charts(source, words):
        if chart.key in MAIN_CHARTS:
            path = directory / f"{chart.key}.png"
            draw_chart(chart, path, font)
            written.append(path)
    return PngResult(written, english_fallback=words.lang != m.lang)


@dataclass(frozen=True, slots=True)
class PngResult:
    paths: list[Path]
    english_fallback: bool  # Chinese asked for, no CJK font installed: English words
