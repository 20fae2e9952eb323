"""The terminal's task lines come from run.json's `tasks` block, round-tripped through JSON."""

from __future__ import annotations

from llmbench.metrics.tasks import summarize_tasks
from llmbench.report.tasks import task_lines
from llmbench.report.terminal import RunView, run_header
from llmbench.store.codec import to_json
from llmbench.store.run_schema import RunResult
from llmbench.store.task_schema import TaskSummary
from llmbench.tasks import TaskRecord, TaskStatus
from support.runs import run_with

MS = 1_000_000


def _task(i: int, status: TaskStatus, end_ms: int) -> TaskRecord:
    return TaskRecord(task_id=f"t{i}", target_id="x", name="n", status=status,
                      scheduled_ns=0, submitted_ns=0, ended_ns=end_ms * MS)  # fmt: skip


def test_task_lines_show_counts_completion_and_censoring() -> None:
    tasks = [_task(0, TaskStatus.OK, 400), _task(1, TaskStatus.OK, 600),
             _task(2, TaskStatus.TIMEOUT, 1000)]  # fmt: skip
    block = TaskSummary.model_validate(summarize_tasks(tasks))
    run = RunResult.model_validate_json(to_json(run_with(tasks=block)))
    assert run.tasks == block
    text = [line.plain for line in task_lines(run)]
    assert text[0].startswith("tasks ok 2, error 0, timeout 1, cancelled 0   2.00 tasks/s")
    assert "mean 500 P50 500" in text[0]
    assert "1 task(s) timed out or cancelled: kept as censored" in text[2]
    assert task_lines(run_with()) == []


def test_the_header_names_the_task_file_mode_and_limit() -> None:
    spec = {"tasks": {"file": "t.yaml", "mode": "sequential", "concurrency": 4, "repeat": 2}}
    header = run_header(RunView.of(run_with(spec))).plain
    assert "tasks t.yaml sequential (≤1 steps at once) ×2" in header
    assert "load closed" not in header
