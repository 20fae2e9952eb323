"""A2A tasks in run.json's `tasks` block, on hand-built records (times in ms × 1e6 ns): time to
accept, to the first status event, to the first artifact, to the terminal state; an interrupted
task is counted as such and kept out of the ok tasks' statistics."""

from __future__ import annotations

from llmbench.metrics.tasks import summarize_tasks
from llmbench.store.task_schema import TaskSummary
from llmbench.tasks import TaskEvent, TaskRecord, TaskStatus

MS = 1_000_000


def _task(n: int, status: TaskStatus, events: list[tuple[int, str, str | None]]) -> TaskRecord:
    stamped = tuple(
        TaskEvent(arrived_ns=t * MS, kind=k, via="stream", status=s) for t, k, s in events
    )
    return TaskRecord(
        task_id=f"t{n}", target_id="agent", name="req", status=status, scheduled_ns=0,
        submitted_ns=0, ended_ns=events[-1][0] * MS, accepted_ns=events[0][0] * MS,
        provider_task_id=f"p{n}", events=stamped, provider_state=events[-1][2],
    )  # fmt: skip


def test_first_status_first_artifact_and_terminal_times_of_a2a_tasks() -> None:
    tasks = [
        # accepted at 10 ms, working at 30, artifacts at 60 and 80, completed at 100
        _task(
            1,
            TaskStatus.OK,
            [
                (10, "task", "submitted"),
                (30, "status-update", "working"),
                (60, "artifact-update", None),
                (80, "artifact-update", None),
                (100, "status-update", "completed"),
            ],
        ),
        _task(
            2,
            TaskStatus.OK,
            [
                (20, "task", "submitted"),
                (50, "status-update", "working"),
                (90, "artifact-update", None),
                (120, "status-update", "completed"),
            ],
        ),
        _task(
            3,
            TaskStatus.INTERRUPTED,
            [
                (5, "task", "submitted"),
                (7, "status-update", "working"),
                (9, "status-update", "input-required"),
            ],
        ),
    ]
    out = summarize_tasks(tasks, seed=0)
    TaskSummary.model_validate(out)
    assert out["counts"]["ok"] == 2
    assert out["counts"]["interrupted"] == 1
    assert out["task_accept_ms"]["n"] == 3  # every measured task that was accepted
    assert out["task_accept_ms"]["min"] == 5.0
    # ok tasks only: the interrupted one's 7 ms working is not among them
    assert (out["task_first_status_ms"]["n"], out["task_first_status_ms"]["min"]) == (2, 30.0)
    assert out["task_first_status_ms"]["max"] == 50.0
    assert (out["task_first_artifact_ms"]["min"], out["task_first_artifact_ms"]["max"]) == (
        60.0,
        90.0,
    )
    assert (out["task_completion_ms"]["min"], out["task_completion_ms"]["max"]) == (100.0, 120.0)
    assert out["task_elapsed_ms"]["n"] == 3  # the interrupted task ended too, at 9 ms
