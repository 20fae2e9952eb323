"""Terminal lines about the load itself: what was delivered against what was asked, a loud
warning when the run is invalid, goodput against the objectives, and the table of a study's
steps (sweeps, searches, repeats). Built from run.json / study.json alone.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from llmbench.config import RunSpec
from llmbench.config.load import profile_name
from llmbench.metrics.stats import percentile_min_n
from llmbench.report.tasks import task_load
from llmbench.store.run_schema import LagSummary, OpenLoopDelivery, RunResult
from llmbench.store.study_schema import AcrossRuns, StudyIndex

# Latency from the planned send time, shown for open-loop runs (coordinated omission).
SCHEDULED_ROWS = (("scheduled_ttft_ms", "TTFT from plan"), ("scheduled_e2e_ms", "E2E from plan"))


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _send_lag_text(lag: LagSummary, sends: int) -> str:
    """run.json's delivery block stores a P99 at any n (its golden file does); below the n a
    P99 needs it is the top values' interpolation, so the max is shown in its place."""
    text = f"send lag P50 {_ms(lag.p50)} ms, "
    needed = percentile_min_n(99)
    if sends < needed:
        return text + f"P99 – ({sends} sends, a P99 needs {needed}), max {_ms(lag.max)} ms"
    return text + f"P99 {_ms(lag.p99)} ms"


def delivery_line(run: RunResult) -> Text | None:
    delivery = run.delivery
    if delivery is None:
        return None
    lag_text = _send_lag_text(delivery.send_lag_ms, delivery.sends)
    if isinstance(delivery, OpenLoopDelivery):
        text = (
            f"{_rate(delivery.achieved_rate_per_s)} req/s sent of "
            f"{_rate(delivery.planned_rate_per_s)} planned "
            f"(requested {_rate(delivery.requested_rate_per_s)}), {lag_text}, "
            f"late {delivery.late_sends}, waited for --max-concurrency "
            f"{delivery.waited_for_cap}"
        )
    else:
        text = (
            f"mean concurrency {_rate(delivery.mean_concurrency)} of "
            f"{delivery.requested_concurrency or 'a ramp'}, {lag_text}"
        )
    return Text.assemble(("delivered ", "bold"), text)


def validity_warning(run: RunResult) -> Text | None:
    validity = run.validity
    if validity is None or validity.valid:
        return None
    reasons = "; ".join(validity.reasons)
    return Text(
        f"!!! INVALID RUN: the client did not deliver the requested load ({reasons}). These "
        "numbers do not describe the load you asked for. Lower the rate, raise "
        "--max-concurrency, or run the client on a less busy machine.",
        style="bold red",
    )


def goodput_line(run: RunResult) -> Text | None:
    goodput = run.goodput
    if goodput is None:
        return None
    objectives = ", ".join(f"{k} ≤ {v:g}" for k, v in goodput.objectives_ms.items())
    fraction = goodput.good_fraction
    met = "met" if goodput.met else "NOT met"
    return Text.assemble(
        ("goodput ", "bold"),
        f"{_rate(goodput.goodput_per_s)} good req/s, "
        f"{'–' if fraction is None else f'{fraction:.1%}'} of requests meet {objectives} "
        f"(latency from {goodput.latency_from}); attainment "
        f"{goodput.attainment_target:.0%} {met}",
    )


def load_lines(run: RunResult) -> list[RenderableType]:
    lines = (delivery_line(run), goodput_line(run), validity_warning(run))
    return [line for line in lines if line is not None]


_STEP_COLUMNS = (
    ("step", "step"),
    ("label", "label"),
    ("requests_per_s", "req/s"),
    ("output_tokens_per_s", "tok/s"),
    ("ttft_p50_ms", "TTFT P50"),
    ("ttft_p99_ms", "TTFT P99"),
    ("itl_p50_ms", "ITL P50"),
    ("itl_p99_ms", "ITL P99"),
    ("e2e_p50_ms", "E2E P50"),
    ("e2e_p99_ms", "E2E P99"),
    ("good_fraction", "good"),
    ("valid", "valid"),
    ("verdict", "verdict"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def _across_table(across: AcrossRuns) -> Table:
    table = Table(title="Across repeats: mean, CV and 95% t-interval of each run's value",
                  title_justify="left")  # fmt: skip
    for column in ("statistic", "n", "mean", "CV", "95% CI"):
        table.add_column(column, justify="left" if column == "statistic" else "right")
    for name in AcrossRuns.model_fields:
        stats = getattr(across, name)
        ci, cv = stats.mean_ci, stats.cv
        table.add_row(
            name,
            str(stats.n),
            _cell(stats.mean),
            "–" if cv is None else f"{cv:.1%}",
            "–" if not ci else f"{_cell(ci[0])}–{_cell(ci[1])}",
        )
    return table


def study_summary(index: StudyIndex, directory: str) -> RenderableType:
    """The steps of a study (latency in ms), then search, sweep or repeat details."""
    title = Text(f"{index.study} study [{index.status}]: {directory}")
    table = Table(title=title, title_justify="left")
    for _, label in _STEP_COLUMNS:
        table.add_column(label, justify="left" if label == "label" else "right", no_wrap=True)
    for row in index.steps:
        table.add_row(*(_cell(getattr(row, key)) for key, _ in _STEP_COLUMNS))
    parts: list[RenderableType] = [table]
    if search := index.search:
        best = search.best
        parts.append(
            Text.assemble(
                ("slo-search ", "bold"),
                f"highest {search.over} meeting the objectives at "
                f"{search.attainment or 0:.0%}: "
                + ("none of those tried" if best is None else f"{best:g}"),
            )
        )
    if index.note:
        parts.append(Text(f"! {index.note}", style="yellow"))
    if across := index.across_runs:
        parts.append(_across_table(across))
    invalid = [row.label for row in index.steps if row.valid is False]
    if invalid:
        parts.append(
            Text(f"!!! INVALID steps (load not delivered): {', '.join(invalid)}", style="bold red")
        )
    return Group(*parts)


def load_described(spec: RunSpec) -> str:
    """What drove the requests: an agent workload's own shape, else the load profile."""
    if spec.tasks is not None:
        return task_load(spec.tasks)
    if spec.agent_loop is not None:
        loop = spec.agent_loop
        return (
            f"agent loop {loop.tasks} tasks, {loop.concurrency} at once, <= {loop.max_steps} steps"
        )
    load, workload = spec.load, spec.workload
    if workload.sessions is not None:
        streams = getattr(load, "concurrency", None)
        return f"sessions {workload.sessions} x {workload.turns} turns, c={streams}"
    rate = getattr(load, "rate", None)
    return f"load {profile_name(load.model_dump(mode='json'))} " + (
        f"rate={rate:g}/s" if rate else f"c={getattr(load, 'concurrency', None)}"
    )
