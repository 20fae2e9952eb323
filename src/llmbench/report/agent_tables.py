"""The report's tables of agent workloads, one row per run, from what run.json stores (its
`sessions` and `agent_loop` blocks; docs/metrics.md): sessions' first vs later turns and cached
share, continued vs new sessions (the later turns' TTFT, from records.jsonl with a seeded
bootstrap CI), and the phone-agent loop per step and per task. A study's `sessions` and
`agent-loop` scenarios show here; a lone session or agent-loop run gets the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmbench.metrics.sessions import median_ratio_ci
from llmbench.metrics.stats import FloatArray
from llmbench.report.messages import Messages
from llmbench.report.source import ReportSource, RunEntry, read_samples
from llmbench.report.tables import DASH, TableView, num, pct
from llmbench.store.session_schema import SessionsBlock

CONTINUED, NEW = "continued", "new"  # the labels of a study's `sessions` steps


def _ratio(value: float | None, ci: tuple[float, float] | None) -> str:
    if value is None:
        return DASH
    return f"{value:.2f}×" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " [no CI]")


def later_cached_share(block: SessionsBlock) -> float | None:
    """Σ cached tokens / Σ prompt tokens over turns >= 1, of the requests reporting them."""
    later = [t.cached for t in block.per_turn if t.turn > 0 and t.cached.requests_reporting]
    prompt = sum(c.prompt_tokens for c in later)
    return sum(c.cached_tokens for c in later) / prompt if prompt else None


def _first_cached(block: SessionsBlock) -> float | None:
    first = [t.cached for t in block.per_turn if t.turn == 0]
    return first[0].share if first else None


def _session_entries(source: ReportSource) -> list[RunEntry]:
    return [e for e in source.entries if getattr(e.run, "sessions", None) is not None]


def sessions_table(source: ReportSource, m: Messages) -> TableView | None:
    """Per session run: TTFT P50 of turn 0 and of later turns, their ratio with its CI (as
    stored), and the cached share of each."""
    rows = []
    for entry in _session_entries(source):
        block = entry.run.sessions
        assert block is not None
        c = block.first_vs_later
        rows.append(
            (
                entry.target, entry.label, f"{block.sessions} × {block.turns}",
                num(c.ttft_ms_a.p50) if c else DASH, num(c.ttft_ms_b.p50) if c else DASH,
                _ratio(c.ttft_p50_ratio_b_over_a, c.ratio_ci) if c else DASH,
                pct(_first_cached(block)), pct(later_cached_share(block)),
            )
        )  # fmt: skip
    if not rows:
        return None
    columns = ("col.target", "col.step", "col.sessions", "col.ttft_first", "col.ttft_later",
               "col.later_first", "col.cached_first", "col.cached_later")  # fmt: skip
    return TableView(
        "sessions", m("table.sessions"), tuple(m(c) for c in columns), tuple(rows),
        m("note.sessions"),
    )  # fmt: skip


def _later_ttft(entry: RunEntry) -> FloatArray:
    samples = read_samples(entry)
    later = np.array([t is not None and t > 0 for t in samples.turns], dtype=bool)
    values = samples.ttft_ms[later] if later.size else samples.ttft_ms[:0]
    return values[~np.isnan(values)]


def reuse_pairs(source: ReportSource) -> list[tuple[RunEntry, RunEntry]]:
    """(new, continued) runs of one target and repeat: a study's two `sessions` steps."""
    runs = {(e.target, e.scenario, e.label): e for e in _session_entries(source)}
    pairs = []
    for (target, scenario, label), entry in runs.items():
        if label.split(" ")[0] != CONTINUED:
            continue
        new = runs.get((target, scenario, label.replace(CONTINUED, NEW, 1)))
        if new is not None:
            pairs.append((new, entry))
    return pairs


@dataclass(frozen=True, slots=True)
class Reuse:
    """Later turns' TTFT (ms) of new and continued sessions; continued / new of the medians
    with a seeded bootstrap 95 % CI (None below 2 values a side)."""

    new_ms: FloatArray
    continued_ms: FloatArray
    ratio: float | None
    ci: tuple[float, float] | None


def reuse(new: RunEntry, continued: RunEntry, seed: int = 0) -> Reuse:
    a, b = _later_ttft(new), _later_ttft(continued)
    ratio = float(np.median(b) / np.median(a)) if a.size and b.size and np.median(a) > 0 else None
    return Reuse(a, b, ratio, median_ratio_ci(a, b, seed=seed))


def reuse_row(new: RunEntry, continued: RunEntry) -> tuple[str, ...]:
    """The same turns and prompt lengths, with and without reuse."""
    r = reuse(new, continued)
    a, b = r.new_ms, r.continued_ms
    return (
        continued.target,
        f"{a.size} / {b.size}",
        num(float(np.median(a))) if a.size else DASH,
        num(float(np.median(b))) if b.size else DASH,
        _ratio(r.ratio, r.ci),
    )


def reuse_table(source: ReportSource, m: Messages) -> TableView | None:
    pairs = reuse_pairs(source)
    if not pairs:
        return None
    columns = ("col.target", "col.n_new_continued", "col.ttft_later_new",
               "col.ttft_later_continued", "col.continued_new")  # fmt: skip
    rows = tuple(reuse_row(new, continued) for new, continued in pairs)
    return TableView("reuse", m("table.reuse"), tuple(m(c) for c in columns), rows, m("note.reuse"))


def _loop_entries(source: ReportSource) -> list[RunEntry]:
    return [e for e in source.entries if getattr(e.run, "agent_loop", None) is not None]


def agent_step_table(source: ReportSource, m: Messages) -> TableView | None:
    """Per agent-loop run and step index: TTFT, time to the action, E2E, prompt, cached."""
    rows = []
    for entry in _loop_entries(source):
        block = entry.run.agent_loop
        assert block is not None
        for row in block.per_step:
            rows.append(
                (
                    entry.target, str(row.step), str(row.n), num(row.ttft_ms_p50),
                    num(row.thinking_ms_p50), num(row.e2e_ms_p50),
                    num(row.prompt_tokens_mean, 0), pct(row.cached_share),
                )
            )  # fmt: skip
    if not rows:
        return None
    columns = ("col.target", "col.agent_step", "col.n", "col.ttft_p50", "col.thinking_p50",
               "col.e2e_p50", "col.prompt_tokens", "col.cached")  # fmt: skip
    return TableView(
        "agent_steps", m("table.agent_steps"), tuple(m(c) for c in columns), tuple(rows),
        m("note.agent_steps"),
    )  # fmt: skip


def _seconds(ms: float | None) -> str:
    return DASH if ms is None else num(ms / 1e3, 3)


def _loop_row(entry: RunEntry, m: Messages) -> tuple[str, ...]:
    block = entry.run.agent_loop
    assert block is not None
    done = block.task_completion_ms
    first = block.per_step[0].ttft_ms_p50 if block.per_step else None
    return (
        entry.target, m("protocol.loop"), f"{block.by_status.get('ok', 0)} / {block.tasks}",
        num(block.steps_per_task.mean), _seconds(done.p50), _seconds(done.p95), num(first),
        DASH, pct(block.model_share.mean), pct(block.actuation_share.mean),
    )  # fmt: skip


def _service_row(entry: RunEntry, m: Messages) -> tuple[str, ...]:
    tasks = entry.run.tasks
    assert tasks is not None
    done, first = tasks.task_completion_ms, tasks.task_first_event_ms
    return (
        entry.target, m("protocol.service"), f"{tasks.counts.ok} / {tasks.covers.measured}",
        DASH, _seconds(done.p50), _seconds(done.p95), DASH,
        num(first.p50) if first is not None else DASH, DASH, DASH,
    )  # fmt: skip


def _service_entries(source: ReportSource) -> list[RunEntry]:
    """A study's agent-loop runs that a target ran as an agent service (its task API)."""

    def served(entry: RunEntry) -> bool:
        tasks = getattr(entry.run, "tasks", None)
        return tasks is not None and tasks.service is not None and entry.run.agent_loop is None

    return [e for e in source.entries if e.scenario == "agent-loop" and served(e)]


def agent_task_table(source: ReportSource, m: Messages) -> TableView | None:
    """Per agent-loop run: tasks, steps per task, completion, the first sign of each protocol
    (a loop's first TTFT, a service's first event: two columns, never one), and the model and
    actuation shares of the loop's time."""
    rows = [_loop_row(e, m) for e in _loop_entries(source)]
    rows += [_service_row(e, m) for e in _service_entries(source)]
    if not rows:
        return None
    columns = ("col.target", "col.protocol", "col.tasks_ok_of", "col.steps_per_task",
               "col.task_p50_s", "col.task_p95_s", "col.loop_first_ttft", "col.first_event",
               "col.model_share", "col.actuation_share")  # fmt: skip
    return TableView(
        "agent_tasks", m("table.agent_tasks"), tuple(m(c) for c in columns), tuple(rows),
        m("note.agent_tasks"),
    )  # fmt: skip


def agent_tables(source: ReportSource, m: Messages) -> list[TableView | None]:
    return [
        sessions_table(source, m),
        reuse_table(source, m),
        agent_step_table(source, m),
        agent_task_table(source, m),
    ]
