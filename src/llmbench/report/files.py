"""`llmbench report DIR --format md|html|png`: the report of a run or study directory written
from its stored results alone, by default beside them (report.md, report.html, report-png/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llmbench.errors import StoreError
from llmbench.report.charts import build_charts
from llmbench.report.document import build_document
from llmbench.report.messages import Lang, Messages
from llmbench.report.source import ReportSource

FileFormat = Literal["md", "html", "png"]
DEFAULT_NAMES: dict[FileFormat, str] = {
    "md": "report.md",
    "html": "report.html",
    "png": "report-png",
}


@dataclass(frozen=True, slots=True)
class Written:
    paths: list[Path]
    notes: list[str]


def markdown_text(source: ReportSource, lang: Lang) -> str:
    from llmbench.report.markdown import render_markdown

    m = Messages(lang)
    return render_markdown(build_document(source, m), m)


def html_text(source: ReportSource, lang: Lang) -> str:
    from llmbench.report.html import render_html

    m = Messages(lang)
    return render_html(build_document(source, m), build_charts(source, m), m)


def write_report(source: ReportSource, fmt: FileFormat, lang: Lang, output: Path | None) -> Written:
    """Writes the report; `output` is the file (md, html) or folder (png), default in DIR."""
    path = output if output is not None else source.directory / DEFAULT_NAMES[fmt]
    try:
        if fmt == "png":
            from llmbench.report.png import render_pngs

            result = render_pngs(source, Messages(lang), path)
            notes = ["no CJK font installed: the PNGs use English words (docs/reports.md)"]
            return Written(result.paths, notes if result.english_fallback else [])
        text = markdown_text(source, lang) if fmt == "md" else html_text(source, lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StoreError(
            f"cannot write {path}: {exc.strerror or exc}", hint="choose a writable --output"
        ) from exc
    return Written([path], [])
