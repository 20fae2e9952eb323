"""The rows of the table exports: one per run (identity, target, study place, spec hash and the
headline statistics of run.json), one per request (its key times in ms and its counts) and one
per agent task. Each table is a fixed list of typed columns, so every format has one schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from llmbench.export.sources import RunSource
from llmbench.metrics.request import (
    e2e_ns,
    itl_gaps_ns,
    scheduled_e2e_ns,
    tpot_ns,
    ttfb_ns,
    ttfo_ns,
    ttft_ns,
)
from llmbench.records import RequestRecord
from llmbench.store.blocks import Distribution
from llmbench.tasks import StepStatus, TaskRecord

ColumnType = Literal["str", "int", "float", "bool"]
Row = dict[str, Any]
Columns = tuple[tuple[str, ColumnType], ...]

_NS_PER_MS = 1e6

# Headline distributions of run.json's `summary`: (metric, statistics) → columns metric_stat.
_RUN_STATS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ttft_ms", ("mean", "p50", "p95", "p99")),
    ("ttfb_ms", ("p50",)),
    ("itl_ms", ("mean", "p50", "p95", "p99")),
    ("tpot_ms", ("p50", "p95")),
    ("e2e_ms", ("mean", "p50", "p95", "p99")),
    ("input_tokens", ("mean",)),
    ("output_tokens", ("mean",)),
)

RUN_COLUMNS: Columns = (
    ("run_id", "str"), ("directory", "str"), ("status", "str"), ("started_at", "str"),
    ("finished_at", "str"), ("target_id", "str"), ("target_kind", "str"), ("base_url", "str"),
    ("endpoint", "str"), ("model", "str"), ("engine", "str"), ("study", "str"),
    ("scenario", "str"), ("step", "str"), ("repeat", "int"), ("spec_hash", "str"),
    ("llmbench_version", "str"), ("requests_ok", "int"), ("requests_error", "int"),
    ("requests_warmup", "int"), ("error_rate", "float"), ("requests_per_s", "float"),
    ("output_tokens_per_s", "float"), ("duration_s", "float"), ("valid", "bool"),
    ("client_saturated", "bool"),
    *((f"{metric}_{stat}", "float") for metric, stats in _RUN_STATS for stat in stats),
    ("tasks", "int"), ("tasks_ok", "int"), ("task_completion_ms_p50", "float"),
    ("task_completion_ms_p95", "float"),
)  # fmt: skip

REQUEST_COLUMNS: Columns = (
    ("run_id", "str"), ("request_id", "str"), ("target_id", "str"), ("item_id", "str"),
    ("worker_id", "int"), ("session_id", "str"), ("turn", "int"), ("task_id", "str"),
    ("step_id", "str"), ("warmup", "bool"), ("status", "str"), ("error_category", "str"),
    ("http_status", "int"), ("error_message", "str"), ("scheduled_ms", "float"),
    ("sent_ms", "float"), ("client_lag_ms", "float"), ("ttfb_ms", "float"), ("ttft_ms", "float"),
    ("ttfo_ms", "float"), ("e2e_ms", "float"), ("scheduled_e2e_ms", "float"),
    ("tpot_ms", "float"), ("itl_mean_ms", "float"), ("itl_max_ms", "float"), ("chunks", "int"),
    ("input_tokens", "int"), ("cached_tokens", "int"), ("output_tokens", "int"),
    ("output_tokens_source", "str"), ("requested_output_tokens", "int"),
    ("finish_reason", "str"), ("attempts", "int"), ("retry_wait_ms", "float"),
    ("payload_bytes", "int"), ("images", "int"),
)  # fmt: skip

TASK_COLUMNS: Columns = (
    ("run_id", "str"), ("task_id", "str"), ("target_id", "str"), ("name", "str"),
    ("status", "str"), ("warmup", "bool"), ("worker_id", "int"), ("submitted_ms", "float"),
    ("completion_ms", "float"), ("completion_corrected_ms", "float"), ("steps", "int"),
    ("steps_ok", "int"), ("steps_failed", "int"), ("steps_skipped", "int"),
    ("model_steps", "int"), ("tool_steps", "int"), ("polls", "int"), ("waiting_ms", "float"),
    ("error_category", "str"), ("provider_task_id", "str"), ("provider_state", "str"),
    ("credits", "float"),
)  # fmt: skip

What = Literal["runs", "requests", "tasks"]
COLUMNS: dict[str, Columns] = {
    "runs": RUN_COLUMNS,
    "requests": REQUEST_COLUMNS,
    "tasks": TASK_COLUMNS,
}


def _ms(ns: float | None) -> float | None:
    return None if ns is None else ns / _NS_PER_MS


def _since_ms(t_ns: int | None, origin_ns: int | None) -> float | None:
    return None if t_ns is None or origin_ns is None else (t_ns - origin_ns) / _NS_PER_MS


def _stat(distribution: Distribution | None, stat: str) -> float | None:
    return None if distribution is None else getattr(distribution, stat)


def run_row(source: RunSource, n_tasks: int, n_tasks_ok: int) -> Row:
    """One run: what run.json says (nothing but the directory when it is missing)."""
    row: Row = dict.fromkeys(name for name, _ in RUN_COLUMNS)
    row.update(run_id=source.run_id, directory=str(source.directory))
    if source.study is not None:
        place = source.study
        row.update(study=place.study, scenario=place.scenario, step=place.step)
        row["repeat"] = place.repeat
    run = source.run
    if run is None:
        return row
    target = run.target
    row.update(
        status=run.status, started_at=run.started_at, finished_at=run.finished_at,
        target_id=target.id, target_kind=run.spec.target.kind, base_url=target.base_url,
        endpoint=target.endpoint, model=target.model,
        engine=None if target.engine is None else target.engine.name,
        spec_hash=run.spec_hash, llmbench_version=run.environment.llmbench.version,
    )  # fmt: skip
    if run.counts is not None:
        row.update(requests_ok=run.counts.ok, requests_error=run.counts.error)
        row["requests_warmup"] = run.counts.warmup
    if run.validity is not None:
        row["valid"] = run.validity.valid
    if run.client is not None:
        row["client_saturated"] = run.client.saturated
    if run.summary is not None:
        summary = run.summary
        row.update(
            error_rate=summary.error_rate, requests_per_s=summary.requests_per_s,
            output_tokens_per_s=summary.output_tokens_per_s, duration_s=summary.duration_s,
        )  # fmt: skip
        for metric, stats in _RUN_STATS:
            for stat in stats:
                row[f"{metric}_{stat}"] = _stat(getattr(summary, metric), stat)
    if n_tasks:
        row.update(tasks=n_tasks, tasks_ok=n_tasks_ok)
    if run.tasks is not None:
        completion = run.tasks.task_completion_ms
        row["task_completion_ms_p50"] = _stat(completion, "p50")
        row["task_completion_ms_p95"] = _stat(completion, "p95")
    return row


def request_row(run_id: str, origin_ns: int | None, record: RequestRecord) -> Row:
    """One request: identity, outcome, times in ms (`scheduled_ms`, `sent_ms` since the run's
    start; the rest as docs/metrics.md defines them) and counts; None where not applicable."""
    gaps = itl_gaps_ns(record)
    sent_first = record.sent_ns if record.first_sent_ns is None else record.first_sent_ns
    error = record.error
    return {
        "run_id": run_id, "request_id": record.request_id, "target_id": record.target_id,
        "item_id": record.item_id, "worker_id": record.worker_id,
        "session_id": record.session_id, "turn": record.turn, "task_id": record.task_id,
        "step_id": record.step_id, "warmup": record.warmup, "status": record.status.value,
        "error_category": None if error is None else error.category.value,
        "http_status": record.http_status,
        "error_message": None if error is None else error.message,
        "scheduled_ms": _since_ms(record.scheduled_ns, origin_ns),
        "sent_ms": _since_ms(record.sent_ns, origin_ns),
        "client_lag_ms": (sent_first - record.scheduled_ns) / _NS_PER_MS,
        "ttfb_ms": _ms(ttfb_ns(record)), "ttft_ms": _ms(ttft_ns(record)),
        "ttfo_ms": _ms(ttfo_ns(record)), "e2e_ms": _ms(e2e_ns(record)),
        "scheduled_e2e_ms": _ms(scheduled_e2e_ns(record)), "tpot_ms": _ms(tpot_ns(record)),
        "itl_mean_ms": _ms(float(gaps.mean())) if gaps.size else None,
        "itl_max_ms": _ms(int(gaps.max())) if gaps.size else None,
        "chunks": len(record.chunk_offsets_ns), "input_tokens": record.input_tokens,
        "cached_tokens": record.cached_tokens, "output_tokens": record.output_tokens,
        "output_tokens_source": (
            None if record.output_tokens_source is None else record.output_tokens_source.value
        ),
        "requested_output_tokens": record.requested_output_tokens,
        "finish_reason": record.finish_reason, "attempts": record.attempts,
        "retry_wait_ms": record.retry_wait_ns / _NS_PER_MS,
        "payload_bytes": record.payload_bytes, "images": record.images,
    }  # fmt: skip


def task_row(run_id: str, origin_ns: int | None, task: TaskRecord) -> Row:
    """One agent task: outcome, times in ms (`submitted_ms` since the run's start) and counts."""
    statuses = [step.status for step in task.steps]
    failed = (StepStatus.ERROR, StepStatus.TIMEOUT)
    return {
        "run_id": run_id, "task_id": task.task_id, "target_id": task.target_id,
        "name": task.name, "status": task.status.value, "warmup": task.warmup,
        "worker_id": task.worker_id, "submitted_ms": _since_ms(task.submitted_ns, origin_ns),
        "completion_ms": _ms(task.completion_ns),
        "completion_corrected_ms": _ms(task.completion_corrected_ns),
        "steps": len(task.steps), "steps_ok": statuses.count(StepStatus.OK),
        "steps_failed": sum(s in failed for s in statuses),
        "steps_skipped": statuses.count(StepStatus.SKIPPED),
        "model_steps": sum(step.kind == "model" for step in task.steps),
        "tool_steps": sum(step.kind == "tool" for step in task.steps),
        "polls": task.polls, "waiting_ms": task.waiting_ns / _NS_PER_MS,
        "error_category": None if task.error is None else task.error.category,
        "provider_task_id": task.provider_task_id, "provider_state": task.provider_state,
        "credits": task.credits,
    }  # fmt: skip


def table_rows(what: What, sources: list[RunSource]) -> Iterator[Row]:
    """The rows of one table over every run, one at a time (records are never all loaded)."""
    for source in sources:
        if what == "runs":
            tasks = [task.ok for task in source.tasks()]
            yield run_row(source, len(tasks), sum(tasks))
        elif what == "requests":
            for record in source.records():
                yield request_row(source.run_id, source.origin_ns, record)
        else:
            for task in source.tasks():
                yield task_row(source.run_id, source.origin_ns, task)
