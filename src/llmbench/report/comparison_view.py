"""A run comparison rendered: a rich table for the terminal and a Markdown table, each followed
by the row sentences, the runs' warm-up and load-state notes, and what was not compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from llmbench.metrics.compare import Description, Ratio, Verdict
from llmbench.report.comparison import RunComparison
from llmbench.report.comparison_rows import MetricRow, format_p

HEADERS = (
    "metric", "baseline mean · P50 · P95 · P99 (P5–P95)", "candidate mean · P50 · P95 · P99 "
    "(P5–P95)", "median ratio [95 % CI]", "P95 ratio", "P99 ratio", "p (Holm)",
    "P(candidate lower)", "verdict",
)  # fmt: skip
_STYLE = {
    Verdict.FASTER: "green",
    Verdict.SLOWER: "red",
    Verdict.SAME: "cyan",
    Verdict.INCONCLUSIVE: "yellow",
}


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def _describe(d: Description) -> str:
    spread = _num(d.spread_p5_p95)
    return f"{_num(d.mean)} · {_num(d.p50)} · {_num(d.p95)} · {_num(d.p99)} ({spread}) n={d.n}"


def _ratio(r: Ratio | None) -> str:
    if r is None or r.value is None:
        return "–"
    ci = f" [{r.ci[0]:.2f}, {r.ci[1]:.2f}]" if r.ci else " [no CI]"
    return f"{r.value:.2f}×{ci}"


def row_cells(row: MetricRow) -> list[str]:
    """The table's cells of one row, as plain text (shared by the terminal and Markdown)."""
    label = f"{row.label} ({row.unit})"
    if row.comparison is not None:
        c = row.comparison
        sides = [_describe(c.baseline), _describe(c.candidate)]
        ratios = [_ratio(c.ratios.get(s)) for s in ("p50", "p95", "p99")]
        sup = _num(c.superiority)
    elif row.paired is not None:
        sides = ["paired", f"{row.paired.n_pairs} tasks"]
        ratios = [f"task by task {_ratio(row.paired.ratio)}", "–", "–"]
        sup = "–"
    else:
        assert row.survival is not None
        s = row.survival
        sides = [
            f"median {_num(curve.median)} ({curve.n_censored} of {curve.n} censored)"
            for curve in (s.baseline, s.candidate)
        ]
        ratios = [f"{_num(s.ratio_of_medians)}× (KM, no CI)", "–", "–"]
        sup = "–"
    return [label, *sides, *ratios, format_p(row.p_adjusted), sup, row.verdict.value]


def _footer(result: RunComparison) -> list[str]:
    lines = [*result.notes]
    for side in (result.baseline, result.candidate):
        lines.append(f"{side.label}: {side.protocol}, load {side.state.value}")
    lines += [f"not compared: {reason}" for reason in result.not_compared]
    return lines


def comparison_table(result: RunComparison) -> RenderableType:
    """The terminal rendering: title, table, sentences, notes."""
    b, c = result.baseline.label, result.candidate.label
    table = Table(title=f"{c} (candidate) vs {b} (baseline)", title_justify="left")
    for header in HEADERS:
        table.add_column(header, overflow="fold")
    for row in result.rows:
        cells = row_cells(row)
        table.add_row(*cells[:-1], Text(cells[-1], style=_STYLE[row.verdict]))
    sentences = [Text("• " + row.sentence) for row in result.rows]
    notes = [Text("note: " + line, style="dim") for line in _footer(result)]
    return Group(table, *sentences, *notes)


def comparison_markdown(results: Sequence[RunComparison], skipped: Sequence[str] = ()) -> str:
    """Markdown: per comparison a heading, the table, the sentences and the notes; then the
    runs left out (`skipped`: `compare_dirs`'s notes)."""
    out: list[str] = []
    for result in results:
        out.append(f"### {result.candidate.label} vs {result.baseline.label}\n")
        out.append("| " + " | ".join(HEADERS) + " |")
        out.append("|" + "---|" * len(HEADERS))
        for row in result.rows:
            cells = [cell.replace("|", "\\|") for cell in row_cells(row)]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        out += [f"- {row.sentence}" for row in result.rows]
        out += [f"- *{line}*" for line in _footer(result)]
        out.append("")
    out += [f"- *{skipped_line(note)}*" for note in skipped]
    return "\n".join(out)


def skipped_line(note: str) -> str:
    return f"not compared: {note}"


def comparisons_json(
    results: Sequence[RunComparison], skipped: Sequence[str] = ()
) -> dict[str, Any]:
    return {"comparisons": [result.to_json() for result in results], "skipped": list(skipped)}
