"""The regression gate on two results directories: one metric statistic (`ttft_ms.p95`), its
candidate/baseline ratio and bootstrap CI from `compare_runs`, judged by `metrics.compare.gate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmbench.errors import ConfigError
from llmbench.metrics.compare import GATE_MIN_N, RATIO_STATISTICS, GateOutcome, gate
from llmbench.report.comparison import METRICS, compare_runs
from llmbench.report.comparison_rows import MetricRow, format_p

# The metrics a gate reads: per-request samples (task metrics are paired or censored, with no
# percentile ratios).
GATE_METRICS = tuple(name for name, m in METRICS.items() if m.kind in ("request", "itl"))


@dataclass(frozen=True, slots=True)
class GateResult:
    metric: str  # e.g. ttft_ms.p95
    outcome: GateOutcome
    reason: str
    max_regression: float
    row: MetricRow
    baseline: str
    candidate: str
    notes: list[str]

    @property
    def line(self) -> str:
        ratio = (
            self.row.comparison.ratios[self.metric.split(".")[1]] if self.row.comparison else None
        )
        value = f"{ratio.value:.3f}" if ratio is not None and ratio.value is not None else "–"
        return (
            f"gate {self.outcome.value.upper()}: {self.metric} {self.candidate} / {self.baseline}"
            f" = {value}, max regression {self.max_regression:.1%}: {self.reason}; "
            f"Mann–Whitney {format_p(self.row.p_value)}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "outcome": self.outcome.value, "reason": self.reason,
            "max_regression": self.max_regression, "baseline": self.baseline,
            "candidate": self.candidate, "row": self.row.to_json(), "notes": self.notes,
        }  # fmt: skip


def parse_metric(text: str) -> tuple[str, str]:
    """`ttft_ms.p95` → ("ttft_ms", "p95"), or a ConfigError listing what is allowed."""
    name, _, statistic = text.rpartition(".")
    if name not in GATE_METRICS or statistic not in RATIO_STATISTICS:
        raise ConfigError(
            f"{text!r} is not METRIC.STATISTIC",
            where="--metric",
            hint=f"METRIC one of {', '.join(GATE_METRICS)}; STATISTIC one of "
            f"{', '.join(RATIO_STATISTICS)}; e.g. ttft_ms.p95",
        )
    return name, statistic


def gate_runs(
    baseline: Path,
    candidate: Path,
    metric: str,
    max_regression: float,
    *,
    min_n: int = GATE_MIN_N,
    seed: int = 0,
    force: bool = False,
) -> GateResult:
    """Gates `candidate` against `baseline` on `metric` (docs/comparison.md, the gate)."""
    name, statistic = parse_metric(metric)
    result = compare_runs(
        baseline, candidate, metrics=[name], seed=seed, force=force, primary=statistic
    )
    if not result.rows:
        reason = "; ".join(result.not_compared) or f"no {name} values"
        raise ConfigError(f"cannot gate on {metric}: {reason}", where="--metric")
    row = result.rows[0]
    assert row.comparison is not None  # request and ITL metrics are compared unpaired
    c = row.comparison
    outcome, why = gate(
        c.ratios[statistic], max_regression, lower_is_better=c.lower_is_better,
        # Requests, not values: ITL has many gaps per request, but as many independent units.
        n=(min(c.baseline.n, result.baseline.n_requests),
           min(c.candidate.n, result.candidate.n_requests)),
        min_n=min_n,
    )  # fmt: skip
    return GateResult(metric, outcome, why, max_regression, row, result.baseline.label,
                      result.candidate.label, result.notes)  # fmt: skip
