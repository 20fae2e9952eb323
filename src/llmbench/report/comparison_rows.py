"""One row of a run comparison: the metric's samples taken from both runs, compared (unpaired,
paired task by task, or as censored times to success), judged, and said in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from llmbench.metrics.compare import (
    Comparison,
    PairedComparison,
    Ratio,
    Verdict,
    compare_paired,
    compare_samples,
    verdict,
)
from llmbench.metrics.survival import SurvivalCurve, kaplan_meier, logrank_p
from llmbench.report.comparison_samples import PER_REQUEST, RunSamples, Series

Kind = Literal["request", "itl", "first_event", "completion", "first_output"]


@dataclass(frozen=True, slots=True)
class MetricDef:
    name: str
    label: str
    unit: str
    kind: Kind
    lower_is_better: bool = True


METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef("ttft_ms", "TTFT", "ms", "request"),
        MetricDef("ttfo_ms", "TTFO", "ms", "request"),
        MetricDef("itl_ms", "ITL", "ms", "itl"),
        MetricDef("tpot_ms", "TPOT", "ms", "request"),
        MetricDef("e2e_ms", "E2E", "ms", "request"),
        MetricDef("request_output_tokens_per_s", "output tokens/s", "tok/s", "request", False),
        MetricDef("task_first_event_ms", "first task event", "ms", "first_event"),
        MetricDef("task_completion_ms", "task time to success", "ms", "completion"),
        MetricDef("first_output_ms", "first output", "ms", "first_output"),
    )
}
_STAT_WORD = {"p50": "median", "p95": "P95", "p99": "P99", "geomean": "task-by-task"}


@dataclass(frozen=True, slots=True)
class RowOptions:
    baseline: str  # labels used in sentences
    candidate: str
    seed: int
    band: float
    confidence: float
    resamples: int
    primary: str = "p50"  # the ratio an unpaired row's verdict and sentence read


@dataclass(frozen=True, slots=True)
class SurvivalRow:
    """Censored task times: each side's Kaplan–Meier curve and the log-rank test."""

    baseline: SurvivalCurve
    candidate: SurvivalCurve
    ratio_of_medians: float | None  # no CI: the verdict reads the log-rank test only


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric compared. Exactly one of `comparison`, `paired`, `survival` is set, per
    `mode`. `p_value` is the row's test (Mann–Whitney, Wilcoxon or log-rank), `p_adjusted`
    the same after Holm's correction across the rows of the comparison."""

    metric: str
    label: str
    unit: str
    mode: Literal["unpaired", "paired", "survival"]
    verdict: Verdict
    p_value: float | None
    p_adjusted: float | None
    sentence: str
    note: str | None = None  # e.g. the two sides measured different things
    comparison: Comparison | None = None
    paired: PairedComparison | None = None
    survival: SurvivalRow | None = None

    @property
    def ratio(self) -> Ratio | None:
        if self.comparison is not None:
            return self.comparison.ratio
        return self.paired.ratio if self.paired is not None else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric": self.metric, "label": self.label, "unit": self.unit, "mode": self.mode,
            "verdict": self.verdict.value, "p_value": self.p_value,
            "p_adjusted": self.p_adjusted, "sentence": self.sentence, "note": self.note,
        }  # fmt: skip
        if self.comparison is not None:
            c = self.comparison
            out["baseline"] = _describe_json(c.baseline)
            out["candidate"] = _describe_json(c.candidate)
            out["ratios"] = {k: _ratio_json(r) for k, r in c.ratios.items()}
            out["primary"] = c.primary
            out["superiority"] = c.superiority
        if self.paired is not None:
            out["n_pairs"] = self.paired.n_pairs
            out["ratios"] = {"geomean": _ratio_json(self.paired.ratio)}
        if self.survival is not None:
            s = self.survival
            out["baseline"] = _curve_json(s.baseline)
            out["candidate"] = _curve_json(s.candidate)
            out["ratio_of_medians"] = s.ratio_of_medians
        return out


def _describe_json(d: Any) -> dict[str, Any]:
    return {"n": d.n, "mean": d.mean, "p5": d.p5, "p50": d.p50, "p95": d.p95, "p99": d.p99,
            "spread_p5_p95": d.spread_p5_p95}  # fmt: skip


def _ratio_json(r: Ratio) -> dict[str, Any]:
    return {"value": r.value, "ci": list(r.ci) if r.ci else None, "confidence": r.confidence,
            "resamples": r.resamples}  # fmt: skip


def _curve_json(c: SurvivalCurve) -> dict[str, Any]:
    return {"n": c.n, "succeeded": c.n_succeeded, "censored": c.n_censored, "median": c.median,
            "median_ci": list(c.median_ci) if c.median_ci else None}  # fmt: skip


def _series(metric: MetricDef, side: RunSamples) -> tuple[Series | None, str | None]:
    """(the side's sample, what it measures when that is not the metric itself)."""
    if metric.kind == "request":
        return side.per_request(metric.name), None
    if metric.kind == "itl":
        return side.itl(), None
    # first_output: TTFT on a token stream, else the first event of a task API
    ttft = side.per_request("ttft_ms") if side.records else None
    if ttft is not None:
        return ttft, "TTFT (token stream)"
    events = side.first_event()
    if events.censored:  # tasks that showed nothing: only task_first_event_ms keeps them
        return None, f"{events.censored} tasks ended without any event"
    event = events.series()
    return event, "first event (task API)" if event is not None else None


NEITHER = "no values in either run"


def _missing(
    metric: MetricDef, b: RunSamples, c: RunSamples, bs: Any, cs: Any, why: str | None = None
) -> str:
    if bs is None and cs is None and why is None:
        return NEITHER
    side = b if bs is None else c
    if why is not None:  # first_output of a task run with censored first events
        return f"{side.label}: {why} (censored): compare task_first_event_ms, which keeps them"
    if metric.kind in ("request", "itl") and side.tasks and not side.records:
        return (
            f"{side.label} is a task API run (no token stream): its first event is a different "
            "measure from TTFT; compare task_first_event_ms, or first_output_ms, which says so"
        )
    return f"no values in {side.label}"


def compare_metric(
    metric: MetricDef, b: RunSamples, c: RunSamples, o: RowOptions
) -> MetricRow | str:
    """The row of `metric`, or why it cannot be compared."""
    if metric.kind in ("completion", "first_event"):
        return _task_time_row(metric, b, c, o)
    (bs, b_what), (cs, c_what) = _series(metric, b), _series(metric, c)
    if bs is None or cs is None:
        why = b_what if bs is None and b_what else c_what if cs is None and c_what else None
        return _missing(metric, b, c, bs, cs, why)
    note = None
    if b_what != c_what:
        note = f"different measures: {b.label} {b_what}, {c.label} {c_what}"
    return _series_row(metric, bs, cs, o, note)


def _series_row(
    metric: MetricDef, bs: Series, cs: Series, o: RowOptions, note: str | None
) -> MetricRow:
    """Paired when both samples name their tasks and share at least 2, else unpaired."""
    if bs.keys is not None and cs.keys is not None:
        row = _paired_row(metric, bs, cs, o, note)
        if row is not None:
            return row
    cmp = compare_samples(
        bs.values, cs.values, lower_is_better=metric.lower_is_better, seed=o.seed,
        confidence=o.confidence, band=o.band, resamples=o.resamples,
        baseline_groups=bs.groups, candidate_groups=cs.groups, primary=o.primary,
        test_samples=(bs.test, cs.test) if bs.test is not None and cs.test is not None else None,
    )  # fmt: skip
    row = MetricRow(metric.name, metric.label, metric.unit, "unpaired", cmp.verdict,
                    cmp.p_value, cmp.p_adjusted, "", note, comparison=cmp)  # fmt: skip
    return replace(row, sentence=sentence(row, o))


def _paired_row(
    metric: MetricDef, bs: Series, cs: Series, o: RowOptions, note: str | None
) -> MetricRow | None:
    """Task by task over the tasks both runs have (None below 2 common tasks)."""
    assert bs.keys is not None
    assert cs.keys is not None
    at_b = {k: i for i, k in enumerate(bs.keys)}
    common = [(at_b[k], j) for j, k in enumerate(cs.keys) if k in at_b]
    if len(common) < 2:
        return None
    ib, ic = (np.array(x) for x in zip(*common, strict=True))
    paired = compare_paired(
        bs.values[ib], cs.values[ic], lower_is_better=metric.lower_is_better, seed=o.seed,
        confidence=o.confidence, band=o.band, resamples=o.resamples,
    )  # fmt: skip
    row = MetricRow(metric.name, metric.label, metric.unit, "paired", paired.verdict,
                    paired.p_value, paired.p_adjusted, "", note, paired=paired)  # fmt: skip
    return replace(row, sentence=sentence(row, o))


def _task_time_row(
    metric: MetricDef, b: RunSamples, c: RunSamples, o: RowOptions
) -> MetricRow | str:
    """Task times: as any sample (paired when the tasks match) when nothing is censored;
    otherwise Kaplan–Meier per side and the log-rank test."""
    bt, ct = (side.completion() if metric.kind == "completion" else side.first_event()
              for side in (b, c))  # fmt: skip
    if bt.times.size == 0 or ct.times.size == 0:
        return _missing(metric, b, c, bt if bt.times.size else None, ct if ct.times.size else None)
    if not bt.censored and not ct.censored:
        bs, cs = bt.series(), ct.series()
        assert bs is not None
        assert cs is not None
        return _series_row(metric, bs, cs, o, None)
    kb, kc = kaplan_meier(bt.times, bt.observed), kaplan_meier(ct.times, ct.observed)
    ratio = kc.median / kb.median if kb.median and kc.median is not None else None
    p = logrank_p(bt.times, bt.observed, ct.times, ct.observed)
    what = "timeouts and failures" if metric.kind == "completion" else "tasks with no event"
    row = MetricRow(metric.name, metric.label, metric.unit, "survival", Verdict.INCONCLUSIVE, p,
                    p, "", f"{what} are censored (Kaplan–Meier)",
                    survival=SurvivalRow(kb, kc, ratio))  # fmt: skip
    return rejudge(row, p, o)


def _survival_verdict(row: MetricRow, p: float | None, alpha: float = 0.05) -> Verdict:
    """Faster or slower only when the log-rank p < alpha, in the direction of the medians; a
    median never reached (fewer than half can be said to have succeeded) is later than any."""
    s = row.survival
    if s is None or p is None or p >= alpha:
        return Verdict.INCONCLUSIVE
    b, c = s.baseline.median, s.candidate.median
    if (b is None and c is None) or b == c:
        return Verdict.INCONCLUSIVE
    if b is None or (c is not None and c < b):
        return Verdict.FASTER
    return Verdict.SLOWER


def rejudge(row: MetricRow, p_adjusted: float | None, o: RowOptions) -> MetricRow:
    """The row with its Holm-adjusted p-value, verdict and sentence."""
    if row.survival is not None:
        new = _survival_verdict(row, p_adjusted)
    else:
        ratio, lower = row.ratio, True
        if row.comparison is not None:
            lower = row.comparison.lower_is_better
        elif row.paired is not None:
            lower = row.paired.lower_is_better
        assert ratio is not None
        new = verdict(ratio, p_adjusted, lower_is_better=lower, band=o.band)
    row = replace(row, p_adjusted=p_adjusted, verdict=new)
    return replace(row, sentence=sentence(row, o))


def format_p(p: float | None) -> str:
    if p is None:
        return "no test"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def _why(row: MetricRow, o: RowOptions) -> str:
    if row.verdict is Verdict.SAME:
        return f"no meaningful difference (CI within ±{o.band:.0%})"
    if row.verdict is not Verdict.INCONCLUSIVE:
        return row.verdict.value
    ratio = row.ratio
    if row.survival is None and (ratio is None or ratio.ci is None):
        return "inconclusive: too few values for a CI"
    if row.survival is None and ratio is not None and not ratio.excludes_one():
        return "inconclusive: the CI includes 1"
    return "inconclusive: not significant after Holm's correction"


def sentence(row: MetricRow, o: RowOptions) -> str:
    """One plain sentence: candidate's statistic as a multiple of baseline's, CI, p, verdict."""
    b, c = o.baseline, o.candidate
    p = format_p(row.p_adjusted)
    if row.survival is not None:
        s = row.survival
        med = (f"{x:.4g} {row.unit}" if x is not None else "not reached"
               for x in (s.candidate.median, s.baseline.median))  # fmt: skip
        return (
            f"{c}'s median {row.label} is {next(med)} vs {b}'s {next(med)} (Kaplan–Meier; "
            f"{s.candidate.n_censored} of {s.candidate.n} and {s.baseline.n_censored} of "
            f"{s.baseline.n} tasks censored), log-rank {p}: {_why(row, o)}"
        )
    ratio = row.ratio
    assert ratio is not None
    stat = _STAT_WORD.get(ratio.statistic, ratio.statistic)
    if ratio.value is None:
        return f"{c}'s {stat} {row.label} cannot be set against {b}'s: too few values"
    ci = f" [{ratio.ci[0]:.2f}, {ratio.ci[1]:.2f}]" if ratio.ci else ""
    pairs = f" over {row.paired.n_pairs} tasks" if row.paired is not None else ""
    text = f"{c}'s {stat} {row.label} is {ratio.value:.2f}× {b}'s{ci}{pairs}, {p}: {_why(row, o)}"
    return f"{text} ({row.note})" if row.note else text


__all__ = [
    "METRICS",
    "NEITHER",
    "PER_REQUEST",
    "MetricDef",
    "MetricRow",
    "RowOptions",
    "SurvivalRow",
]
