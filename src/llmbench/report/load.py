"""Terminal lines about the load itself: what was delivered against what was asked, a loud
warning when the run is invalid, goodput against the objectives, and the table of a study's
steps (sweeps, searches, repeats). Built from run.json / study.json alone.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from llmbench.metrics.stats import percentile_min_n

# Latency from the planned send time, shown for open-loop runs (coordinated omission).
SCHEDULED_ROWS = (("scheduled_ttft_ms", "TTFT from plan"), ("scheduled_e2e_ms", "E2E from plan"))


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def _rate(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def _send_lag_text(lag: dict[str, Any], sends: Any) -> str:
    """run.json's delivery block stores a P99 at any n (its golden file does); below the n a
    P99 needs it is the top values' interpolation, so the max is shown in its place."""
    text = f"send lag P50 {_ms(lag.get('p50'))} ms, "
    needed = percentile_min_n(99)
    if isinstance(sends, int) and sends < needed:
        return text + f"P99 – ({sends} sends, a P99 needs {needed}), max {_ms(lag.get('max'))} ms"
    return text + f"P99 {_ms(lag.get('p99'))} ms"


def delivery_line(run: dict[str, Any]) -> Text | None:
    delivery = run.get("delivery")
    if not delivery:
        return None
    lag_text = _send_lag_text(delivery.get("send_lag_ms") or {}, delivery.get("sends"))
    if delivery.get("mode") == "open_loop":
        text = (
            f"{_rate(delivery.get('achieved_rate_per_s'))} req/s sent of "
            f"{_rate(delivery.get('planned_rate_per_s'))} planned "
            f"(requested {_rate(delivery.get('requested_rate_per_s'))}), {lag_text}, "
            f"late {delivery.get('late_sends')}, waited for --max-concurrency "
            f"{delivery.get('waited_for_cap')}"
        )
    else:
        text = (
            f"mean concurrency {_rate(delivery.get('mean_concurrency'))} of "
            f"{delivery.get('requested_concurrency') or 'a ramp'}, {lag_text}"
        )
    return Text.assemble(("delivered ", "bold"), text)


def validity_warning(run: dict[str, Any]) -> Text | None:
    validity = run.get("validity")
    if not validity or validity.get("valid", True):
        return None
    reasons = "; ".join(validity.get("reasons") or [])
    return Text(
        f"!!! INVALID RUN: the client did not deliver the requested load ({reasons}). These "
        "numbers do not describe the load you asked for. Lower the rate, raise "
        "--max-concurrency, or run the client on a less busy machine.",
        style="bold red",
    )


def goodput_line(run: dict[str, Any]) -> Text | None:
    goodput = run.get("goodput")
    if not goodput:
        return None
    objectives = ", ".join(f"{k} ≤ {v:g}" for k, v in goodput["objectives_ms"].items())
    fraction = goodput.get("good_fraction")
    met = "met" if goodput.get("met") else "NOT met"
    return Text.assemble(
        ("goodput ", "bold"),
        f"{_rate(goodput.get('goodput_per_s'))} good req/s, "
        f"{'–' if fraction is None else f'{fraction:.1%}'} of requests meet {objectives} "
        f"(latency from {goodput.get('latency_from')}); attainment "
        f"{goodput.get('attainment_target'):.0%} {met}",
    )


def load_lines(run: dict[str, Any]) -> list[RenderableType]:
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


def _across_table(across: dict[str, Any]) -> Table:
    table = Table(title="Across repeats: mean, CV and 95% t-interval of each run's value",
                  title_justify="left")  # fmt: skip
    for column in ("statistic", "n", "mean", "CV", "95% CI"):
        table.add_column(column, justify="left" if column == "statistic" else "right")
    for name, stats in across.items():
        ci = stats.get("mean_ci")
        cv = stats.get("cv")
        table.add_row(
            name,
            str(stats.get("n")),
            _cell(stats.get("mean")),
            "–" if cv is None else f"{cv:.1%}",
            "–" if not ci else f"{_cell(ci[0])}–{_cell(ci[1])}",
        )
    return table


def study_summary(index: dict[str, Any], directory: str) -> RenderableType:
    """The steps of a study (latency in ms), then search, sweep or repeat details."""
    title = Text(f"{index.get('study')} study [{index.get('status')}]: {directory}")
    table = Table(title=title, title_justify="left")
    for _, label in _STEP_COLUMNS:
        table.add_column(label, justify="left" if label == "label" else "right", no_wrap=True)
    for row in index.get("steps", []):
        table.add_row(*(_cell(row.get(key)) for key, _ in _STEP_COLUMNS))
    parts: list[RenderableType] = [table]
    if search := index.get("search"):
        best = search.get("best")
        parts.append(
            Text.assemble(
                ("slo-search ", "bold"),
                f"highest {search['over']} meeting the objectives at "
                f"{search.get('attainment', 0):.0%}: "
                + ("none of those tried" if best is None else f"{best:g}"),
            )
        )
    if index.get("note"):
        parts.append(Text(f"! {index['note']}", style="yellow"))
    if across := index.get("across_runs"):
        parts.append(_across_table(across))
    invalid = [row["label"] for row in index.get("steps", []) if row.get("valid") is False]
    if invalid:
        parts.append(
            Text(f"!!! INVALID steps (load not delivered): {', '.join(invalid)}", style="bold red")
        )
    return Group(*parts)
