"""The report's comparison section: the headline runs of each target set against the first
target's run of the same step (`compare_runs`: ratios with seeded bootstrap CIs, Holm-corrected
p-values, verdicts), as one table and one plain sentence per row, in the report's language.
Runs whose workloads differ are not compared; the section says what differs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from llmbench.errors import IncompatibleRunsError
from llmbench.metrics.compare import Verdict
from llmbench.report.comparison import RunComparison, compare_runs
from llmbench.report.comparison_rows import MetricRow, format_p
from llmbench.report.comparison_view import row_cells
from llmbench.report.messages import CATALOG, Messages
from llmbench.report.source import ReportSource, RunEntry
from llmbench.report.tables import TableView
from llmbench.store.results import RECORDS_FILE


@dataclass(frozen=True, slots=True)
class ComparisonView:
    table: TableView | None
    sentences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


VERDICT_KEYS = {
    Verdict.FASTER: "verdict.faster",
    Verdict.SLOWER: "verdict.slower",
    Verdict.SAME: "verdict.same",
    Verdict.INCONCLUSIVE: "verdict.inconclusive",
}
COLUMNS = ("cmp.metric", "cmp.baseline", "cmp.candidate", "cmp.median_ratio", "cmp.p95_ratio",
           "cmp.p99_ratio", "cmp.p_holm", "cmp.superiority", "cmp.verdict")  # fmt: skip


def comparison_pairs(source: ReportSource) -> list[tuple[RunEntry, RunEntry]]:
    """(baseline, candidate): per step of the headline runs, the first target's run against
    each other target's."""
    targets = source.targets()
    if len(targets) < 2:
        return []
    by_step: dict[str, list[RunEntry]] = defaultdict(list)
    for entry in source.headline_entries():
        by_step[entry.label].append(entry)
    pairs = []
    for runs in by_step.values():
        base = min(runs, key=lambda e: targets.index(e.target))
        pairs += [(base, other) for other in runs if other.target != base.target]
    return pairs


def _metric_name(row: MetricRow, m: Messages) -> str:
    key = f"cmetric.{row.metric}"
    return m(key) if key in CATALOG else row.label


def _metric_label(row: MetricRow, m: Messages) -> str:
    return f"{_metric_name(row, m)} ({row.unit})"


def _word(m: Messages, prefix: str, value: str) -> str:
    """A stored value (a protocol, a load state) in the catalog's words where it has them."""
    key = f"{prefix}.{value}"
    return m(key) if key in CATALOG else value


def _sentence(row: MetricRow, result: RunComparison, m: Messages) -> str:
    """English: the comparison's own sentence. Other languages: the same numbers in the
    catalog's words."""
    if m.lang == "en":
        return row.sentence
    b, c = result.baseline.label, result.candidate.label
    verdict = m(VERDICT_KEYS[row.verdict])
    p = format_p(row.p_adjusted)
    ratio = row.ratio
    if row.survival is not None or ratio is None or ratio.value is None:
        return m("cmp.sentence_plain", candidate=c, baseline=b, metric=_metric_name(row, m),
                 p=p, verdict=verdict)  # fmt: skip
    ci = f" [{ratio.ci[0]:.2f}, {ratio.ci[1]:.2f}]" if ratio.ci else ""
    stat = m(f"cmp.stat_{ratio.statistic}") if f"cmp.stat_{ratio.statistic}" in CATALOG else ""
    return m("cmp.sentence", candidate=c, baseline=b, stat=stat, metric=_metric_name(row, m),
             ratio=f"{ratio.value:.2f}", ci=ci, p=p, verdict=verdict)  # fmt: skip


def _rows(result: RunComparison, m: Messages) -> list[tuple[str, ...]]:
    rows = []
    for row in result.rows:
        cells = row_cells(row)
        rows.append((_metric_label(row, m), *cells[1:-1], m(VERDICT_KEYS[row.verdict])))
    return rows


def _notes(result: RunComparison, m: Messages) -> list[str]:
    notes = list(result.notes)
    for side in (result.baseline, result.candidate):
        notes.append(m("cmp.side", label=side.label, protocol=_word(m, "protocol", side.protocol),
                       state=_word(m, "state", side.state.value)))  # fmt: skip
    notes += [m("cmp.not_compared", reason=reason) for reason in result.not_compared]
    return notes


def _stamp(directory: Path) -> tuple[str, int, int]:
    """A run directory as a cache key: its path and its records file's size and mtime."""
    records = directory / RECORDS_FILE
    stat = records.stat() if records.exists() else None
    return str(directory.resolve()), stat.st_size if stat else 0, stat.st_mtime_ns if stat else 0


@lru_cache(maxsize=32)
def _compared(base: tuple[str, int, int], candidate: tuple[str, int, int]) -> RunComparison:
    """One comparison per pair of stored runs in a process: the study prints its document and
    writes report.md and report.html from the same comparisons (seeded: the same values)."""
    return compare_runs(Path(base[0]), Path(candidate[0]), seed=0)


def comparison_view(source: ReportSource, m: Messages) -> ComparisonView:
    pairs = comparison_pairs(source)
    if not pairs:
        return ComparisonView(None, notes=[m("comparison.none")])
    rows: list[tuple[str, ...]] = []
    sentences: list[str] = []
    notes: list[str] = []
    for base, candidate in pairs:
        try:
            result = _compared(_stamp(base.directory), _stamp(candidate.directory))
        except IncompatibleRunsError as exc:
            notes.append(m("cmp.refused", candidate=candidate.name, baseline=base.name,
                           why=exc.message))  # fmt: skip
            continue
        rows += [(f"{result.candidate.label} / {result.baseline.label}", *r)
                 for r in _rows(result, m)]  # fmt: skip
        sentences += [_sentence(row, result, m) for row in result.rows]
        notes += _notes(result, m)
    columns = (m("cmp.pair"), *(m(c) for c in COLUMNS))
    table = TableView("comparison", m("table.comparison"), columns, tuple(rows)) if rows else None
    return ComparisonView(table, sentences, notes)
