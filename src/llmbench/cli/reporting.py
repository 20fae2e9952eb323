"""`llmbench report DIR --format terminal|md|html|png --lang en|zh [--output PATH]`: prints the
stored run or study, or writes its report file(s) and prints where."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from llmbench.errors import ConfigError
from llmbench.report.files import FileFormat, write_report
from llmbench.report.messages import Lang, Messages
from llmbench.report.source import load_source
from llmbench.report.tables import TableView


def rich_table(view: TableView) -> Table:
    """A report table for the terminal: the first column left-aligned, numbers right."""
    table = Table(title=view.title, title_justify="left", caption=view.note, caption_justify="left")
    for k, column in enumerate(view.columns):
        table.add_column(column, justify="left" if k == 0 else "right")
    for row in view.rows:
        table.add_row(*row)
    return table


def seed_tables(directory: Path, lang: Lang) -> RenderableType:
    """The report document (the seed's tables, the why section) for the terminal."""
    from llmbench.report.document import build_document

    m = Messages(lang)
    doc = build_document(load_source(directory), m)
    parts: list[RenderableType] = [rich_table(t) for t in doc.tables]
    if doc.comparison.table is not None:
        parts.append(rich_table(doc.comparison.table))
    parts += [Text(f"- {s}") for s in doc.comparison.sentences]
    parts += [Text(note, style="dim") for note in doc.comparison.notes]
    parts.append(Text(m("why.title"), style="bold"))
    parts += [Text(f"- {s}") for s in doc.why.sentences]
    parts += [rich_table(t) for t in doc.why.tables]
    return Group(*parts)


def write_files(directory: Path, fmt: FileFormat, lang: Lang, output: Path | None) -> list[str]:
    """The lines to print: each path written, then any note."""
    try:
        written = write_report(load_source(directory), fmt, lang, output)
    except ModuleNotFoundError as exc:  # jinja2, plotly, matplotlib: the `report` extra
        raise ConfigError(
            f"--format {fmt} needs the package {exc.name}, which is not installed",
            hint="pip install 'llmbench[report]'",
        ) from exc
    return [str(p) for p in written.paths] + [f"note: {n}" for n in written.notes]
