"""Agent-service task metrics: accept, first event/message, the polling bound, agent time."""

from __future__ import annotations

from pathlib import Path

from llmbench.metrics.tasks import summarize_tasks
from llmbench.store.task_schema import TaskSummary
from llmbench.tasks import TaskEvent, TaskRecord, TaskStatus

MS = 1_000_000


def service_task(
    index: int, *, via: str = "poll", status: TaskStatus = TaskStatus.OK, waiting_ms: int = 0
) -> TaskRecord:
    t0 = 1_000 * MS * index
    events = (
        TaskEvent(arrived_ns=t0 + 30 * MS, kind="status_update", via=via, status="running"),
        TaskEvent(arrived_ns=t0 + 80 * MS, kind="assistant_message", via=via),
        TaskEvent(arrived_ns=t0 + 200 * MS, kind="status_update", via=via, status="stopped"),
    )
    return TaskRecord(
        task_id=f"t{index}", target_id="svc", name="manus", status=status, scheduled_ns=t0,
        submitted_ns=t0, ended_ns=t0 + 200 * MS, accepted_ns=t0 + 10 * MS,
        provider_task_id=f"p{index}", events=events, polls=5, waiting_ns=waiting_ms * MS,
        poll_interval_ms=50.0, ended_via=via,
        ended_not_before_ns=t0 + 150 * MS if via == "poll" else None,
        ended_poll_ns=t0 + 200 * MS if via == "poll" else None, credits=3.0,
    )  # fmt: skip


def test_service_metrics_from_task_records() -> None:
    tasks = [service_task(i, waiting_ms=40 if i == 0 else 0) for i in range(3)]
    tasks.append(service_task(3, via="webhook"))
    tasks.append(service_task(4, status=TaskStatus.TIMEOUT))
    block = TaskSummary.model_validate(summarize_tasks(tasks))
    assert block.task_accept_ms is not None
    assert block.task_accept_ms.n == 5
    assert block.task_accept_ms.p50 == 10.0
    assert block.task_first_event_ms is not None
    assert block.task_first_event_ms.max == 30.0
    assert block.task_first_message_ms is not None
    assert block.task_first_message_ms.min == 80.0
    # raw: the sighting (200 ms); corrected: the middle of (150, 200] for poll-seen ends
    assert block.task_completion_ms.max == 200.0
    corrected = block.task_completion_corrected_ms
    assert corrected is not None
    assert corrected.n == 4
    assert corrected.min == 175.0
    assert corrected.max == 200.0  # the webhook-seen end stays as measured
    assert block.service is not None
    assert block.service.agent_time_ms.min == 160.0  # 200 − 40 ms waiting
    assert block.service.waiting_ms.n == 1
    assert block.service.credits_per_task.mean == 3.0
    polling = block.service.polling
    assert (polling.ended_by_poll, polling.ended_by_webhook) == (3, 1)
    assert polling.max_bound_ms == 50.0
    assert "within one poll interval" in polling.note
    assert block.counts.timeout == 1  # censored, kept


def test_dag_tasks_have_no_service_keys() -> None:
    task = TaskRecord(
        task_id="t", target_id="x", name="dag", status=TaskStatus.OK, scheduled_ns=0,
        submitted_ns=0, ended_ns=5 * MS,
    )  # fmt: skip
    block = summarize_tasks([task])
    assert "task_accept_ms" not in block
    assert TaskSummary.model_validate(block).service is None


def test_the_terminal_states_the_polling_bound() -> None:
    from llmbench.report.tasks import service_lines

    block = TaskSummary.model_validate(summarize_tasks([service_task(i) for i in range(3)]))
    text = " ".join(line.plain for line in service_lines(block))
    assert "accept 10" in text
    assert "ends seen by poll 3 (known to ≤50 ms)" in text
    assert "known to within one interval" in text


def test_an_agent_service_run_shows_its_tasks_not_an_empty_latency_table() -> None:
    from rich.console import Console

    from llmbench.report.terminal import run_summary
    from llmbench.store.results import load_run

    golden = Path(__file__).parents[2] / "golden" / "results-v2" / "b2a60c3" / "closed"
    run = load_run(golden).run
    assert run is not None
    block = TaskSummary.model_validate(summarize_tasks([service_task(i) for i in range(3)]))
    console = Console(width=200, record=True)
    assert run.counts is not None
    target = run.spec.target.model_copy(update={"kind": "manus"})
    service_run = run.model_copy(
        update={
            "tasks": block,
            "spec": run.spec.model_copy(update={"target": target}),
            "counts": run.counts.model_copy(update={"ok": 0, "error": 0}),
        }
    )
    console.print(run_summary(service_run))
    text = console.export_text()
    assert "ends seen by poll 3" in text
    assert "Latency (ms)" not in text
