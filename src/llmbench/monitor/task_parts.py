"""Agent-service tasks' completion split into parts that add up to it, per task: the create
call's answer, waiting for a human, the polling delay and the service's own work. Definitions
in docs/metrics.md ("Latency decomposition", task APIs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmbench.monitor.decomposition import MS, TaskParts, stats
from llmbench.tasks import TaskRecord

TASK_ADDITIVE = ("accept", "human_wait", "agent_work", "polling_delay")

TASK_BASIS = {
    "accept": "measured: submitted → the create call answered",
    "human_wait": "measured: the service's waiting-for-a-human time, until llmbench answered",
    "agent_work": "estimated: completion − accept − human wait − polling delay (the "
    "service's own work and the delivery of its end)",
    "polling_delay": "estimated: a poll-seen end lies between the previous poll and the one "
    "that saw it: half that interval; 0 for an end seen by webhook or stream",
}


def _service_tasks(tasks: Sequence[TaskRecord]) -> list[TaskRecord]:
    return [
        t
        for t in tasks
        if not t.warmup
        and t.ok
        and t.ended_ns is not None
        and (t.accepted_ns is not None or t.provider_task_id is not None)
    ]


def decompose_tasks(tasks: Sequence[TaskRecord]) -> TaskParts | None:
    """The parts of each measured ok agent-service task's completion; None without one."""
    done = _service_tasks(tasks)
    if not done:
        return None
    completion = np.array([t.ended_ns - t.submitted_ns for t in done if t.ended_ns], dtype=float)
    accept = np.array(
        [t.accepted_ns - t.submitted_ns if t.accepted_ns is not None else 0 for t in done],
        dtype=float,
    )
    wait = np.array([t.waiting_ns for t in done], dtype=float)
    polling = np.array(
        [
            (t.ended_ns - t.ended_not_before_ns) / 2
            if t.ended_ns is not None and t.ended_not_before_ns is not None
            else 0.0
            for t in done
        ]
    )
    values = {
        "accept": accept,
        "human_wait": wait,
        "agent_work": completion - accept - wait - polling,
        "polling_delay": polling,
    }
    diff = np.abs(sum(values.values()) - completion)
    return TaskParts(
        tasks=len(done),
        parts={name: stats(v, TASK_BASIS[name]) for name, v in values.items()},
        additive=list(TASK_ADDITIVE),
        sum_check_max_ms=float(diff.max()) / MS,
    )
