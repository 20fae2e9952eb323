"""The seed article's tables, built from stored results in the report's language: the
environment; per target mean first-token latency, full-response latency and tokens/s; mean, P95
and fluctuation range; throughput, CPU and memory per concurrency level; latency per input
length; sequential vs concurrent tasks. Every number is read from run.json as stored (only the
task table summarizes tasks.jsonl, which run.json does not). Markdown, HTML and terminal render
the same `TableView`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from llmbench.metrics.stats import describe
from llmbench.report.messages import CATALOG, Messages
from llmbench.report.source import ReportSource, RunEntry, has_tasks, read_tasks
from llmbench.store.run_schema import Distribution, RunResult
from llmbench.tasks import TaskStatus

DASH = "–"


@dataclass(frozen=True, slots=True)
class TableView:
    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str | None = None


def num(value: float | int | None, digits: int | None = None) -> str:
    """Ints as they are; floats with 2 decimals below 10 and 1 above unless told."""
    if value is None:
        return DASH
    if isinstance(value, int):
        return str(value)
    if digits is None:
        digits = 2 if abs(value) < 10 else 1
    return f"{value:,.{digits}f}"


def pct(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


def _name(entry: RunEntry, several: bool) -> str:
    return entry.name if several else entry.target


def _several(entries: list[RunEntry]) -> bool:
    """Whether some target has more than one run among these (then rows name the step)."""
    targets = [e.target for e in entries]
    return len(targets) != len(set(targets))


def environment_table(source: ReportSource, m: Messages) -> TableView:
    first = source.entries[0].run if source.entries else None
    rows: list[tuple[str, str]] = []
    if first is not None:
        env, host = first.environment, first.environment.host
        sha = env.llmbench.git_sha
        rows += [
            (m("env.llmbench"), env.llmbench.version + (f" ({sha[:7]})" if sha else "")),
            (m("env.cpu"), host.cpu_model or DASH),
            (
                m("env.cores_item"),
                m("env.cores", logical=num(host.cpu_logical), physical=num(host.cpu_physical)),
            ),
            (m("env.memory"), f"{host.memory_total_bytes / 2**30:.1f} GiB"),
            (m("env.os"), host.os),
            (m("env.python"), f"{env.python.version} {env.python.implementation}"),
            (m("env.gpu"), _gpu(first, m)),
        ]
        hosts = sorted({e.run.environment.host.hostname for e in source.entries})
        rows.append((m("env.hosts"), ", ".join(hosts)))
        rows.append((m("env.period"), _period(source)))
    seen: set[str] = set()
    for entry in source.entries:
        if entry.target not in seen:
            seen.add(entry.target)
            rows.append((m("env.target", target=entry.target), _target_text(entry.run, m)))
    return TableView("environment", m("env.title"), (m("env.item"), m("env.value")), tuple(rows))


def _gpu(run: RunResult, m: Messages) -> str:
    monitors = run.monitors
    if monitors is None:
        return DASH
    if isinstance(monitors.gpu, list):
        return ", ".join(f"{d.index}: {d.name}" for d in monitors.gpu)
    return m("env.gpu_none", reason=monitors.gpu_reason or monitors.gpu)


def _period(source: ReportSource) -> str:
    starts = [e.run.started_at for e in source.entries]
    ends = [e.run.finished_at for e in source.entries if e.run.finished_at]
    return f"{min(starts)} – {max(ends)}" if ends else min(starts)


def _target_text(run: RunResult, m: Messages) -> str:
    target = run.target
    engine = target.engine
    engine_text = (engine.name or engine.source or DASH) if engine else DASH
    if target.embedded_sim is not None and target.embedded_sim.preset:
        overrides = ", ".join(target.embedded_sim.preset_overrides)
        engine_text += f" (preset {target.embedded_sim.preset}{'; ' if overrides else ''}"
        engine_text += f"{overrides})"
    return m("env.target_value", model=target.model, url=target.base_url, engine=engine_text)


def main_table(source: ReportSource, m: Messages) -> TableView:
    """The seed's headline table: mean TTFT, mean E2E and tokens/s per target."""
    entries = source.headline_entries()
    several = _several(entries)
    rows = []
    for entry in entries:
        s = entry.run.summary
        rows.append(
            (
                _name(entry, several),
                num(s.e2e_ms.n) if s else DASH,
                num(s.ttft_ms.mean) if s else DASH,
                num(s.e2e_ms.mean) if s else DASH,
                num(s.output_tokens_per_s) if s else DASH,
                num(s.request_output_tokens_per_s.mean) if s else DASH,
            )
        )
    columns = (
        "col.target",
        "col.n",
        "col.mean_ttft",
        "col.mean_e2e",
        "col.tokens_per_s",
        "col.request_tokens_per_s",
    )
    return TableView(
        "main", m("table.main"), tuple(m(c) for c in columns), tuple(rows), m("note.main")
    )


def _range(low: float | None, high: float | None) -> str:
    return DASH if low is None or high is None else f"[{num(low)}, {num(high)}]"


def spread_table(source: ReportSource, m: Messages) -> TableView:
    entries = source.headline_entries()
    several = _several(entries)
    rows = []
    for entry in entries:
        s = entry.run.summary
        if s is None:
            continue
        for label, d in ((m("metric.ttft"), s.ttft_ms), (m("metric.e2e"), s.e2e_ms)):
            if d.n:
                rows.append(_spread_row(_name(entry, several), label, d))
    columns = (
        "col.target",
        "col.metric",
        "col.n",
        "col.mean",
        "col.p95",
        "col.range_p5_p95",
        "col.range_min_max",
    )
    return TableView(
        "spread", m("table.spread"), tuple(m(c) for c in columns), tuple(rows), m("note.spread")
    )


def _spread_row(name: str, label: str, d: Distribution) -> tuple[str, ...]:
    return (
        name,
        label,
        num(d.n),
        num(d.mean),
        num(d.p95),
        _range(d.p5, d.p95),
        _range(d.min, d.max),
    )


def _mean_max(stats: dict[str, Any] | None, key: str, scale: float = 1.0) -> str:
    value = (stats or {}).get(key)
    if value is None:
        return DASH
    return f"{num(value.mean / scale)} / {num(value.max / scale)}"


def _mean_only(stats: dict[str, Any] | None, key: str, scale: float = 1.0) -> str:
    value = (stats or {}).get(key)
    return DASH if value is None else num(value.mean / scale)


def _resource_cells(run: RunResult, m: Messages) -> tuple[tuple[str, ...], bool]:
    """Client CPU, client memory, server CPU, server memory; True when the client's CPU came
    from its own watch (no monitors block)."""
    monitors = run.monitors
    if monitors is not None:
        client, target = monitors.client, monitors.target
        return (
            _mean_max(client, "cpu_percent"),
            _mean_only(client, "rss_bytes", 2**20),
            _mean_max(target, "cpu_percent"),
            _mean_only(target, "rss_bytes", 2**20),
        ), False
    cpu = run.client.cpu if run.client is not None else None
    if cpu is None or cpu.mean_fraction is None or cpu.max_fraction is None:
        return (DASH, DASH, DASH, DASH), False
    own = f"{num(100 * cpu.mean_fraction)} / {num(100 * cpu.max_fraction)}"
    return (own, DASH, DASH, DASH), True


def concurrency_entries(source: ReportSource) -> list[RunEntry]:
    """The concurrency scenario's runs, else (a lone run) the run itself, by target then level."""
    entries = source.scenario("concurrency") or (
        list(source.entries) if source.kind == "run" else []
    )
    order = {t: k for k, t in enumerate(source.targets())}
    return sorted(entries, key=lambda e: (order[e.target], e.concurrency or 0))


def concurrency_table(source: ReportSource, m: Messages) -> TableView | None:
    entries = concurrency_entries(source)
    if not entries:
        return None
    rows, own_cpu = [], False
    for entry in entries:
        s = entry.run.summary
        cells, from_watch = _resource_cells(entry.run, m)
        own_cpu |= from_watch
        rows.append(
            (
                entry.target,
                num(entry.concurrency),
                num(s.requests_per_s) if s else DASH,
                num(s.output_tokens_per_s) if s else DASH,
                num(s.ttft_ms.mean) if s else DASH,
                num(s.e2e_ms.mean) if s else DASH,
                *cells,
            )
        )
    columns = (
        "col.target",
        "col.concurrency",
        "col.requests_per_s",
        "col.tokens_per_s",
        "col.mean_ttft",
        "col.mean_e2e",
        "col.client_cpu",
        "col.client_memory",
        "col.server_cpu",
        "col.server_memory",
    )
    note = m("note.concurrency") + (f" ({m('note.client_health_cpu')})" if own_cpu else "")
    return TableView(
        "concurrency", m("table.concurrency"), tuple(m(c) for c in columns), tuple(rows), note
    )


def input_entries(source: ReportSource) -> list[RunEntry]:
    entries = source.scenario("input-length") or (
        list(source.entries) if source.kind == "run" else []
    )
    order = {t: k for k, t in enumerate(source.targets())}
    return sorted(entries, key=lambda e: (order[e.target], e.input_tokens or 0))


def input_table(source: ReportSource, m: Messages) -> TableView | None:
    entries = input_entries(source)
    if not entries:
        return None
    rows = []
    for entry in entries:
        s = entry.run.summary
        rows.append(
            (
                entry.target,
                num(entry.input_tokens),
                num(s.e2e_ms.n) if s else DASH,
                num(s.ttft_ms.mean) if s else DASH,
                num(s.ttft_ms.p95) if s else DASH,
                num(s.e2e_ms.mean) if s else DASH,
                num(s.e2e_ms.p95) if s else DASH,
            )
        )
    columns = (
        "col.target",
        "col.input_tokens",
        "col.n",
        "col.mean_ttft",
        "col.p95_ttft",
        "col.mean_e2e",
        "col.p95_e2e",
    )
    return TableView("input", m("table.input"), tuple(m(c) for c in columns), tuple(rows))


def _task_mode(entry: RunEntry, m: Messages) -> str:
    """How a task's steps were run (a DAG run's `tasks.mode` and step limit), else the step's
    label (a study's `sequential` / `concurrent` steps)."""
    spec = getattr(entry.run.spec, "tasks", None)  # DAG task runs only (absent before them)
    if spec is None:
        return entry.label
    mode = m(f"mode.{spec.mode}") if f"mode.{spec.mode}" in CATALOG else str(spec.mode)
    return mode if spec.mode == "sequential" else f"{mode} ≤{spec.concurrency}"


def _stored_task_cells(summary: Any) -> tuple[str, ...]:
    """run.json's `tasks` block (DAG runs): tasks, completed, censored or failed, tasks/s,
    mean and P95 completion (s) as stored."""
    counts, completion = summary.counts, summary.task_completion_ms
    not_done = counts.error + counts.timeout + counts.cancelled

    def seconds(ms: float | None) -> str:
        return DASH if ms is None else num(ms / 1e3, 3)

    return (
        num(summary.covers.measured),
        num(counts.ok),
        num(not_done),
        num(summary.tasks_per_s, 3),
        seconds(completion.mean),
        seconds(completion.p95),
    )


def _task_cells(entry: RunEntry) -> tuple[str, ...]:
    """The same cells from tasks.jsonl, for runs whose run.json has no `tasks` block."""
    tasks = [t for t in read_tasks(entry) if not t.warmup]
    done = [t for t in tasks if t.status is TaskStatus.OK and t.completion_ns is not None]
    stats = describe(np.array([t.completion_ns for t in done], dtype=np.float64) / 1e9)
    ends = [t.ended_ns for t in done if t.ended_ns is not None]
    span_s = (max(ends) - min(t.submitted_ns for t in tasks)) / 1e9 if ends else None
    return (
        num(len(tasks)),
        num(len(done)),
        num(len(tasks) - len(done)),
        num(len(done) / span_s, 3) if span_s else DASH,
        num(stats["mean"], 3) if stats["mean"] is not None else DASH,
        num(stats["p95"], 3) if stats["p95"] is not None else DASH,
    )


def _path_cells(summary: Any) -> tuple[str, str]:
    """Mean critical path and mean Σ step times (s) of run.json's `tasks` block (DAG runs;
    an agent service's tasks have no steps to chain: –)."""
    if summary is None or summary.service is not None:
        return DASH, DASH

    def seconds(stats: Distribution) -> str:
        return DASH if stats.mean is None else num(stats.mean / 1e3, 3)

    return seconds(summary.critical_path_ms), seconds(summary.step_time_sum_ms)


def _session_or_loop(run: RunResult) -> bool:
    """Sessions and the agent loop write tasks too; their own tables show them."""
    return (
        getattr(run, "sessions", None) is not None or getattr(run, "agent_loop", None) is not None
    )


def tasks_table(source: ReportSource, m: Messages) -> TableView | None:
    """One row per run with tasks (the seed's sequential vs concurrent table): run.json's
    `tasks` block where the run has one, else its tasks.jsonl summarized."""
    entries = [
        e
        for e in source.entries
        if (has_tasks(e) or getattr(e.run, "tasks", None))
        and not _session_or_loop(e.run)
        and e.scenario != "agent-loop"  # the agent tables show an agent service's loop tasks
    ]
    if not entries:
        return None
    rows = []
    for entry in entries:
        summary = getattr(entry.run, "tasks", None)
        cells = _stored_task_cells(summary) if summary is not None else _task_cells(entry)
        resources, _ = _resource_cells(entry.run, m)
        rows.append(
            (entry.target, _task_mode(entry, m), num(entry.concurrency), *cells,
             *_path_cells(summary), resources[0])
        )  # fmt: skip
    columns = (
        "col.target",
        "col.mode",
        "col.concurrency",
        "col.tasks",
        "col.tasks_ok",
        "col.tasks_censored",
        "col.tasks_per_s",
        "col.task_mean_s",
        "col.task_p95_s",
        "col.critical_path_s",
        "col.step_sum_s",
        "col.client_cpu",
    )
    return TableView(
        "tasks", m("table.tasks"), tuple(m(c) for c in columns), tuple(rows), m("note.tasks")
    )


def seed_tables(source: ReportSource, m: Messages) -> list[TableView]:
    """The seed's tables in its order; those without runs for them are left out."""
    tables = [
        environment_table(source, m),
        main_table(source, m),
        spread_table(source, m),
        concurrency_table(source, m),
        input_table(source, m),
        tasks_table(source, m),
    ]
    return [t for t in tables if t is not None]
