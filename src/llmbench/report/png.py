"""PNG versions of the report's main charts (for docs and chat), drawn with matplotlib from the
same `charts.Chart` values as the HTML page. The files carry no timestamp or version, so the
same stored results give the same bytes. Chinese words need a CJK font: without one installed,
the PNGs keep the English words (and `render_pngs` says so) rather than draw empty boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def _draw(ax: Any, k: int, series: Series, stacked_bottom: list[float] | None) -> None:
    color = PALETTE[k % len(PALETTE)]
    x = list(series.x)
    y = [float("nan") if not isinstance(v, int | float) else float(v) for v in series.y]
    if series.kind == "gantt":
        ax.barh(list(series.y), list(series.x), left=list(series.base or []), color=color)
        ax.invert_yaxis()
    elif series.kind == "bar":
        heights = [0.0 if v != v else v for v in y]
        ax.bar(
            [str(v) for v in x] if stacked_bottom is not None else x,
            heights,
            color=color,
            label=series.name,
            bottom=stacked_bottom,
            alpha=0.85,
        )
        if stacked_bottom is not None:
            for i, h in enumerate(heights):
                stacked_bottom[i] += h
    else:
        marker = {"markers": ".", "curve": ""}.get(series.kind, "o")
        style = "" if series.kind == "markers" else "-"
        ax.plot(x, y, marker + style, color=color, label=series.name, markersize=3)
        if series.lower is not None and series.upper is not None:
            low = [float("nan") if v is None else v for v in series.lower]
            high = [float("nan") if v is None else v for v in series.upper]
            ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)


def draw_chart(chart: Chart, path: Path, font: str | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    with plt.rc_context({"font.family": [font, "DejaVu Sans"]} if font else None):
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
        twin = ax.twinx() if chart.y2_title else None
        bottom = [0.0] * len(chart.categories) if chart.stacked else None
        for k, series in enumerate(chart.series):
            target = twin if series.axis == "y2" and twin is not None else ax
            _draw(target, k, series, bottom)
        ax.set_title(chart.title)
        ax.set_xlabel(chart.x_title)
        ax.set_ylabel(chart.y_title)
        handles, labels = ax.get_legend_handles_labels()
        if twin is not None:
            twin.set_ylabel(chart.y2_title or "")
            more = twin.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        if labels:
            ax.legend(handles, labels, fontsize="small", loc="best")
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
