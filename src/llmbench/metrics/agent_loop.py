"""The agent loop's roll-up (docs/agent-loop.md): per step index, latency (TTFT, thinking end,
E2E), prompt tokens, payload bytes, images and cached-token share; per task, completion time
and the shares of it spent in model calls and in actuation waits. From the TaskRecords alone.

Measured tasks only (warm-up excluded). The rule is the `tasks` block's (docs/metrics.md, "Task
metrics"): completion times cover **ok** tasks; a step-capped, timed-out or cancelled task never
finished, so it is a censored observation: counted (`censored`, by category, `step_cap` for the
step cap), in `task_elapsed_ms` at its cut, never in `task_completion_ms`. Per-task time splits
(model, actuation and their shares) cover every measured task that ended.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from llmbench.metrics.stats import describe
from llmbench.metrics.tasks import censored_by_category
from llmbench.tasks import TaskRecord, TaskStatus, TaskStep

_NS_PER_MS = 1e6


def _span_ns(step: TaskStep) -> int | None:
    if step.started_ns is None or step.ended_ns is None:
        return None
    return step.ended_ns - step.started_ns


def _since_sent_ms(step: TaskStep, at_ns: int | None) -> float | None:
    if at_ns is None or step.started_ns is None:
        return None
    return (at_ns - step.started_ns) / _NS_PER_MS


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _step_row(index: int, steps: list[TaskStep]) -> dict[str, Any]:
    """One step index over the tasks that reached it (ok model calls)."""
    ttft = [v for s in steps if (v := _since_sent_ms(s, s.first_token_ns)) is not None]
    think = [v for s in steps if (v := _since_sent_ms(s, s.marker_ns)) is not None]
    e2e = [v for s in steps if (v := _since_sent_ms(s, s.ended_ns)) is not None]
    reported = [s for s in steps if s.cached_tokens is not None and s.input_tokens]
    prompt = sum(s.input_tokens or 0 for s in reported)
    return {
        "step": index,
        "n": len(steps),
        "ttft_ms_p50": _median(ttft),
        "thinking_ms_p50": _median(think),
        "e2e_ms_p50": _median(e2e),
        "prompt_tokens_mean": _mean([s.input_tokens for s in steps if s.input_tokens is not None]),
        "payload_bytes_mean": _mean([s.payload_bytes for s in steps if s.payload_bytes]),
        "images_mean": _mean([s.images or 0 for s in steps]),
        "cached_share": sum(s.cached_tokens or 0 for s in reported) / prompt if prompt else None,
        "cached_reported": len(reported),
    }


def agent_loop_summary(
    tasks: Sequence[TaskRecord], *, history: str, markers: Sequence[str], seed: int = 0
) -> dict[str, Any]:
    """JSON-ready `agent_loop` block of run.json (store/run_schema.py `AgentLoopSummary`)."""
    measured = [t for t in tasks if not t.warmup]
    by_index: dict[int, list[TaskStep]] = defaultdict(list)
    model_ms, actuation_ms, model_share, actuation_share = [], [], [], []
    completion_ms, elapsed_ms = [], []
    thinking_ms, steps_per_task = [], []
    for task in measured:
        model = [s for s in task.steps if s.kind == "model"]
        model_ns = sum(_span_ns(s) or 0 for s in model)
        actuation_ns = sum(_span_ns(s) or 0 for s in task.steps if s.kind == "actuation")
        steps_per_task.append(len(model))
        for step in model:
            if step.status.value == "ok" and step.index is not None:
                by_index[step.index].append(step)
            if (think := _since_sent_ms(step, step.marker_ns)) is not None:
                thinking_ms.append(think)
        if task.completion_ns:
            elapsed_ms.append(task.completion_ns / _NS_PER_MS)
            if task.ok:
                completion_ms.append(task.completion_ns / _NS_PER_MS)
            model_share.append(model_ns / task.completion_ns)
            actuation_share.append(actuation_ns / task.completion_ns)
        model_ms.append(model_ns / _NS_PER_MS)
        actuation_ms.append(actuation_ns / _NS_PER_MS)
    statuses = {s.value: sum(t.status is s for t in measured) for s in TaskStatus}
    return {
        "history": history,
        "markers": list(markers),
        "tasks": len(measured),
        "by_status": statuses,
        "steps_per_task": describe(steps_per_task, seed=seed),
        "censored": censored_by_category(measured),
        "task_completion_ms": describe(completion_ms, seed=seed),
        "task_elapsed_ms": describe(elapsed_ms, seed=seed),
        "model_ms": describe(model_ms, seed=seed),
        "actuation_ms": describe(actuation_ms, seed=seed),
        "model_share": describe(model_share, seed=seed),
        "actuation_share": describe(actuation_share, seed=seed),
        "thinking_ms": describe(thinking_ms, seed=seed),
        "per_step": [_step_row(i, by_index[i]) for i in sorted(by_index)],
    }
