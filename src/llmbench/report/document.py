"""One report's content in its language, ready for any renderer: the title, the seed's tables,
the comparison, the "why" section and the warnings. Markdown, HTML and the terminal show this.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmbench.report.agent_tables import agent_tables
from llmbench.report.comparison_section import ComparisonView, comparison_view
from llmbench.report.messages import Messages
from llmbench.report.source import ReportSource
from llmbench.report.tables import TableView, seed_tables
from llmbench.report.why import WhyView, why_view


@dataclass(frozen=True, slots=True)
class ReportDocument:
    title: str
    intro: str
    tables: list[TableView]
    comparison: ComparisonView
    why: WhyView
    warnings: list[str]


def build_document(source: ReportSource, m: Messages) -> ReportDocument:
    return ReportDocument(
        title=m("report.title", title=source.title),
        intro=m("report.generated_from", directory=source.directory.name),
        tables=[*seed_tables(source, m), *(t for t in agent_tables(source, m) if t is not None)],
        comparison=comparison_view(source, m),
        why=why_view(source, m),
        warnings=list(source.warnings),
    )
