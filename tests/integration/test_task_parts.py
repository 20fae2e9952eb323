"""Agent-service tasks' completion split into accept, human wait, agent work and polling delay,
on tasks run against the simulator's task face (a real process): the parts sum to each task's
completion; the polling delay estimate is the true one (the simulator's stop → the poll that saw
it) to within half a poll interval; an end seen by webhook has none."""

from __future__ import annotations

import statistics

import pytest
from tests.integration.conftest import StartSim
from tests.integration.test_task_api import free_port, run_tasks, sim_log

from llmbench.config.task_api import TaskApiSettings
from llmbench.monitor.task_parts import decompose_tasks
from llmbench.run.taskapi import Pacing
from llmbench.tasks import TaskStatus

MS = 1_000_000


def test_polled_tasks_with_a_human_wait(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:2,tokens:2,tool_ms:20,wait:1")
    interval_ms = 40.0
    settings = TaskApiSettings(poll_interval_ms=interval_ms, poll_jitter=0.2, answer_after_ms=60,
                               task_timeout_s=20)  # fmt: skip
    records = run_tasks(base, settings, Pacing(tasks=4, concurrency=2))
    assert [r.status for r in records] == [TaskStatus.OK] * 4
    block = decompose_tasks(records)
    assert block is not None
    assert block.tasks == 4
    assert block.additive == ["accept", "human_wait", "agent_work", "polling_delay"]
    assert block.sum_check_max_ms is not None
    assert block.sum_check_max_ms < 1e-6
    parts = block.parts
    assert parts["human_wait"].mean_ms == pytest.approx(
        statistics.fmean(r.waiting_ns for r in records) / MS
    )
    assert parts["human_wait"].mean_ms >= 60  # answered after 60 ms
    accepted = [r.accepted_ns - r.submitted_ns for r in records if r.accepted_ns is not None]
    assert parts["accept"].mean_ms == pytest.approx(statistics.fmean(accepted) / MS)
    true_delays = []
    for record in records:
        assert record.provider_task_id is not None
        assert record.ended_ns is not None
        true_delays.append(record.ended_ns - sim_log(base, record.provider_task_id)["stopped_ns"])
    estimate = parts["polling_delay"].mean_ms
    assert estimate is not None
    assert 0 < estimate <= 1.2 * interval_ms
    assert estimate == pytest.approx(statistics.fmean(true_delays) / MS, abs=0.6 * interval_ms + 5)


def test_an_end_seen_by_webhook_has_no_polling_delay(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:1,tokens:2")
    port = free_port()
    settings = TaskApiSettings(
        poll=False, webhook_listen=f"127.0.0.1:{port}",
        webhook_public_url=f"http://127.0.0.1:{port}/hooks", task_timeout_s=20,
    )  # fmt: skip
    records = run_tasks(base, settings, Pacing(tasks=2))
    block = decompose_tasks(records)
    assert block is not None
    assert block.parts["polling_delay"].mean_ms == 0
    assert block.sum_check_max_ms == 0
    assert decompose_tasks([r.model_copy(update={"warmup": True}) for r in records]) is None
