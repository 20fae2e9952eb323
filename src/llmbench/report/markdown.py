"""report.md: the report document as GitHub-flavoured Markdown tables and sentences."""

from __future__ import annotations

from llmbench.report.document import ReportDocument
from llmbench.report.messages import Messages
from llmbench.report.tables import TableView


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_markdown(table: TableView) -> list[str]:
    lines = [f"## {table.title}", ""]
    lines.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"*{table.note}*"]
    return [*lines, ""]


def render_markdown(doc: ReportDocument, m: Messages) -> str:
    lines = [f"# {doc.title}", "", doc.intro, ""]
    for table in doc.tables:
        lines += table_markdown(table)
    comparison = doc.comparison
    if comparison.table is not None:
        lines += table_markdown(comparison.table)
    else:
        lines += [f"## {m('table.comparison')}", ""]
    lines += [f"*{note}*\n" for note in comparison.notes]
    if comparison.sentences:
        lines += [f"**{m('comparison.sentences')}**", ""]
        lines += [f"- {s}" for s in comparison.sentences] + [""]
    lines += [f"## {m('why.title')}", ""]
    lines += [f"- {s}" for s in doc.why.sentences] + [""]
    for table in doc.why.tables:
        lines += ["#" + line if line.startswith("## ") else line for line in table_markdown(table)]
    if doc.warnings:
        lines += [f"## {m('report.warnings')}", ""] + [f"- {w}" for w in doc.warnings] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
