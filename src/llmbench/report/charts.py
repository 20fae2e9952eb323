"""The report's charts as plain data (series of points, CI bands, axes), drawn by the HTML page
(plotly) and as PNG (matplotlib) from the same values: latency CDFs per target, TTFT and E2E vs
concurrency and vs input length with 95 % CI bands, throughput with CPU and memory, one run over
time with its monitors, per-turn and per-step latency, one DAG task's steps, the decomposition.
A chart appears only when the stored results have its data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from llmbench.metrics.request import FloatArray
from llmbench.report.messages import Messages
from llmbench.report.source import (
    ReportSource,
    RunEntry,
    Samples,
    has_tasks,
    read_monitor_series,
    read_samples,
    read_tasks,
)
from llmbench.report.tables import concurrency_entries, input_entries
from llmbench.report.why_gap import stacked_parts
from llmbench.store.run_schema import Distribution
from llmbench.tasks import TaskRecord, TaskStep

Value = float | None
Point = float | str | None
CDF_POINTS = 200  # a CDF drawn through at most this many quantiles: the page stays small
TIMESERIES_POINTS = 5000  # requests drawn in a run's time series, at most
# The throughput chart's resource lines: (label, monitors group, quantity, scale).
RESOURCE_SERIES: tuple[tuple[str, str, str, Literal["y2", "y3"]], ...] = (
    ("series.client_cpu", "client", "cpu_percent", "y2"),
    ("series.server_cpu", "target", "cpu_percent", "y2"),
    ("series.client_memory", "client", "rss_bytes", "y3"),
    ("series.server_memory", "target", "rss_bytes", "y3"),
)


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    x: Sequence[Point]
    y: Sequence[Point]
    kind: Literal["line", "curve", "markers", "bar", "gantt"] = "line"  # curve: no markers
    lower: Sequence[Value] | None = None  # a 95 % CI band around y
    upper: Sequence[Value] | None = None
    axis: Literal["y", "y2", "y3"] = "y"
    base: Sequence[float] | None = None  # gantt: where each bar starts


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    x_title: str
    y_title: str
    series: tuple[Series, ...]
    y2_title: str | None = None
    y3_title: str | None = None
    stacked: bool = False
    categories: list[str] = field(default_factory=list)  # a categorical x axis, in order


def _cdf(values: FloatArray) -> tuple[list[float], list[float]]:
    values = np.sort(values[~np.isnan(values)])
    if not values.size:
        return [], []
    fractions = np.linspace(0.0, 1.0, min(CDF_POINTS, values.size))
    quantiles = np.quantile(values, fractions)
    return [round(float(v), 3) for v in quantiles], [round(float(f), 4) for f in fractions]


def cdf_charts(source: ReportSource, samples: dict[Path, Samples], m: Messages) -> list[Chart]:
    entries = source.headline_entries()
    several = len({e.target for e in entries}) != len(entries)
    charts = []
    for key, title, attr in (
        ("cdf_ttft", "chart.cdf_ttft", "ttft_ms"),
        ("cdf_e2e", "chart.cdf_e2e", "e2e_ms"),
    ):
        series = []
        for entry in entries:
            x, y = _cdf(getattr(samples[entry.directory], attr))
            if x:
                series.append(Series(entry.name if several else entry.target, x, y, kind="curve"))
        if series:
            charts.append(
                Chart(key, m(title), m("chart.latency_ms"), m("chart.fraction"), tuple(series))
            )
    return charts


def _ci(d: Distribution | None) -> tuple[Value, Value, Value]:
    if d is None or d.mean is None:
        return None, None, None
    low, high = d.mean_ci if d.mean_ci else (None, None)
    return d.mean, low, high


def _sweep_chart(
    key: str,
    title: str,
    x_title: str,
    entries: list[RunEntry],
    m: Messages,
    x_of: Callable[[RunEntry], int | None],
) -> Chart | None:
    series = []
    by_target: dict[str, list[RunEntry]] = defaultdict(list)
    for entry in entries:
        if entry.run.summary is not None and x_of(entry) is not None:
            by_target[entry.target].append(entry)
    for target, runs in by_target.items():
        xs = [float(x_of(e) or 0) for e in runs]
        for label, metric in (("series.ttft", "ttft_ms"), ("series.e2e", "e2e_ms")):
            cis = [_ci(getattr(e.run.summary, metric)) for e in runs]
            series.append(
                Series(
                    m(label, name=target),
                    xs,
                    [c[0] for c in cis],
                    lower=[c[1] for c in cis],
                    upper=[c[2] for c in cis],
                )
            )
    if not series or all(len(s.x) < 2 for s in series):
        return None
    return Chart(key, title, x_title, m("chart.latency_ms"), tuple(series))


def throughput_chart(entries: list[RunEntry], m: Messages) -> Chart | None:
    by_target: dict[str, list[RunEntry]] = defaultdict(list)
    for entry in entries:
        if entry.run.summary is not None and entry.concurrency is not None:
            by_target[entry.target].append(entry)
    if not any(len(runs) >= 2 for runs in by_target.values()):
        return None
    series = []
    levels = sorted({e.concurrency or 0 for runs in by_target.values() for e in runs})
    for target, runs in by_target.items():
        xs = [str(e.concurrency) for e in runs]  # categories: bars side by side per level
        tokens = [e.run.summary.output_tokens_per_s if e.run.summary else None for e in runs]
        series.append(Series(m("series.tokens_per_s", name=target), xs, tokens, kind="bar"))
        for label, group, quantity, axis in RESOURCE_SERIES:
            scale = 2**20 if quantity == "rss_bytes" else 1.0
            values = [_monitor_mean(e, group, quantity, scale) for e in runs]
            if any(v is not None for v in values):
                series.append(Series(m(label, name=target), xs, values, axis=axis))
    return Chart(
        "throughput",
        m("chart.throughput"),
        m("col.concurrency"),
        m("axis.tokens_per_s"),
        tuple(series),
        y2_title=m("chart.cpu_percent"),
        y3_title=m("axis.memory_mib"),
        categories=[str(level) for level in levels],
    )


def _monitor_mean(entry: RunEntry, group: str, quantity: str, scale: float) -> Value:
    monitors = entry.run.monitors
    stats = getattr(monitors, group, None) if monitors is not None else None
    value = (stats or {}).get(quantity)
    return None if value is None else value.mean / scale


def timeseries_chart(entry: RunEntry, samples: Samples, m: Messages) -> Chart | None:
    if not samples.sent_s.size:
        return None
    streamed = not np.isnan(samples.ttft_ms).all()
    latency = samples.ttft_ms if streamed else samples.e2e_ms
    # A long run is drawn through every k-th request (the page stays light), and says so.
    step = -(-latency.size // TIMESERIES_POINTS)
    label = m("series.ttft_per_request" if streamed else "series.e2e_per_request")
    if step > 1:
        label += " " + m("series.every", k=step)
    sent, latency = samples.sent_s[::step], latency[::step]
    series = [Series(label, _round(sent), _round(latency), kind="markers")]
    points = read_monitor_series(entry)
    for label, attr in (
        ("series.client_cpu_plain", "client_cpu"),
        ("series.server_cpu_plain", "target_cpu"),
        ("series.host_cpu", "host_cpu"),
    ):
        values = [getattr(p, attr) for p in points]
        if any(v is not None for v in values):
            series.append(Series(m(label), [round(p.t_s, 3) for p in points], values, axis="y2"))
    batch = entry.run.cache.batch_size if entry.run.cache is not None else None
    if batch is not None:
        xs, ys = [t for t, _ in batch.series], [v for _, v in batch.series]
        series.append(Series(m("series.batch"), xs, ys, axis="y2"))
    return Chart(
        "timeseries",
        m("chart.timeseries", name=entry.name),
        m("chart.seconds"),
        m("chart.latency_ms"),
        tuple(series),
        y2_title=m("chart.monitors_axis"),
    )


def _round(values: FloatArray) -> list[Value]:
    return [None if np.isnan(v) else round(float(v), 3) for v in values]


def _mean_by(keys: Sequence[object], values: FloatArray) -> tuple[list[str], list[Value]]:
    groups: dict[object, list[float]] = defaultdict(list)
    for key, value in zip(keys, values, strict=True):
        if key is not None and not np.isnan(value):
            groups[key].append(float(value))
    order = sorted(groups, key=lambda k: (isinstance(k, str), k))
    return [str(k) for k in order], [round(sum(groups[k]) / len(groups[k]), 3) for k in order]


def stored_turns(entry: RunEntry) -> tuple[list[str], list[Value]] | None:
    """Mean TTFT per turn as run.json's `sessions` block stores it (session runs; absent from
    other runs and files before it: then the records' turns are averaged)."""
    block = getattr(entry.run, "sessions", None)
    if block is None:
        return None
    return [str(t.turn) for t in block.per_turn], [t.ttft_ms.mean for t in block.per_turn]


def turn_and_step_charts(
    entries: list[RunEntry], samples: dict[Path, Samples], m: Messages
) -> list[Chart]:
    turns, steps = [], []
    for entry in entries:
        s = samples[entry.directory]
        # An agent loop's records number its steps as turns: the step chart shows them.
        x, y = stored_turns(entry) or _mean_by(s.turns, s.ttft_ms)
        if x and getattr(entry.run, "agent_loop", None) is None:
            turns.append(Series(entry.name, x, y))
        x, y = _mean_by(s.steps, s.e2e_ms)
        if x:
            steps.append(Series(entry.name, x, y, kind="bar"))
    charts = []
    if turns:
        charts.append(
            Chart(
                "per_turn",
                m("chart.per_turn"),
                m("chart.turn"),
                m("chart.latency_ms"),
                tuple(turns),
            )
        )
    if steps:
        charts.append(
            Chart(
                "per_step",
                m("chart.per_step"),
                m("chart.step"),
                m("chart.latency_ms"),
                tuple(steps),
            )
        )
    return charts


def gantt_chart(source: ReportSource, m: Messages) -> Chart | None:
    """The steps of the first finished task with timed steps, in seconds from its submission:
    a DAG task's when there is one (its branches show), else a session's or an agent loop's."""
    dag_first = sorted(source.entries, key=lambda e: getattr(e.run.spec, "tasks", None) is None)
    task = next(
        (t for e in dag_first if has_tasks(e) for t in read_tasks(e) if _timed_steps(t)), None
    )
    if task is None:
        return None
    steps = _timed_steps(task)
    names = [s.step_id for s in steps]
    starts = [((s.started_ns or 0) - task.submitted_ns) / 1e9 for s in steps]
    durations = [((s.ended_ns or 0) - (s.started_ns or 0)) / 1e9 for s in steps]
    series = Series(
        task.name,
        [round(d, 4) for d in durations],
        names,
        kind="gantt",
        base=[round(s, 4) for s in starts],
    )
    return Chart(
        "gantt", m("chart.gantt", task=task.task_id), m("chart.seconds"), m("chart.step"), (series,)
    )


def _timed_steps(task: TaskRecord) -> list[TaskStep]:
    return [s for s in task.steps if s.started_ns is not None and s.ended_ns is not None]


def decomposition_chart(source: ReportSource, m: Messages) -> Chart | None:
    entries = [e for e in source.headline_entries() if e.run.decomposition is not None]
    if not entries:
        return None
    several = len({e.target for e in entries}) != len(entries)
    names = [e.name if several else e.target for e in entries]
    by_part: dict[str, list[Value]] = {}
    for k, entry in enumerate(entries):
        assert entry.run.decomposition is not None
        for part, mean in stacked_parts(entry.run.decomposition):
            by_part.setdefault(part, [None] * len(entries))[k] = round(mean, 3)
    series = tuple(Series(m(f"part.{p}"), names, ys, kind="bar") for p, ys in by_part.items())
    return Chart(
        "decomposition",
        m("chart.decomposition"),
        m("axis.run"),
        m("axis.ms"),
        series,
        stacked=True,
        categories=names,
    )


def build_charts(source: ReportSource, m: Messages) -> list[Chart]:
    headline = source.headline_entries()
    samples: dict[Path, Samples] = {e.directory: read_samples(e) for e in source.entries}
    charts = cdf_charts(source, samples, m)
    conc, inputs = concurrency_entries(source), input_entries(source)
    optional = [
        _sweep_chart(
            "vs_concurrency",
            m("chart.vs_concurrency"),
            m("col.concurrency"),
            conc,
            m,
            lambda e: e.concurrency,
        ),
        _sweep_chart(
            "vs_input",
            m("chart.vs_input"),
            m("col.input_tokens"),
            inputs,
            m,
            lambda e: e.input_tokens,
        ),
        throughput_chart(conc, m),
    ]
    longest = max(headline, key=lambda e: samples[e.directory].sent_s.size, default=None)
    if longest is not None:
        optional.append(timeseries_chart(longest, samples[longest.directory], m))
    charts += [c for c in optional if c is not None]
    charts += turn_and_step_charts(list(source.entries), samples, m)
    charts += [c for c in (gantt_chart(source, m), decomposition_chart(source, m)) if c]
    return charts
