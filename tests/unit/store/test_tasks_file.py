"""tasks.jsonl: one line per finished agent task, read back as written; a torn last line (the
process was killed mid-write) is skipped with a warning, a corrupt middle line is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench.errors import StoreError
from llmbench.store.results import TASKS_FILE, RunWriter, load_run
from llmbench.tasks import (
    StepStatus,
    TaskError,
    TaskEvent,
    TaskRecord,
    TaskStatus,
    TaskStep,
)


def _task(n: int, status: TaskStatus = TaskStatus.OK) -> TaskRecord:
    return TaskRecord(
        task_id=f"t-{n}",
        target_id="sim",
        name="research",
        status=status,
        scheduled_ns=100,
        submitted_ns=110,
        ended_ns=None if status is TaskStatus.TIMEOUT else 5_000,
        steps=(
            TaskStep(step_id="plan", kind="model", status=StepStatus.OK, started_ns=110,
                     ended_ns=900, request_id="r-1"),
            TaskStep(step_id="draft", kind="model", status=StepStatus.SKIPPED,
                     depends_on=("plan",)),
        ),
        events=(TaskEvent(arrived_ns=200, kind="status_update", status="running"),),
        error=None if status is TaskStatus.OK else TaskError(category="timeout", message="120 s"),
    )  # fmt: skip


def test_tasks_round_trip_and_a_run_without_tasks_has_none(tmp_path: Path) -> None:
    written = [_task(0), _task(1, TaskStatus.TIMEOUT)]
    with RunWriter(tmp_path / "run") as writer:
        for task in written:
            assert writer.append_task(task)
    loaded = load_run(tmp_path / "run")
    assert loaded.tasks == written
    assert loaded.tasks[0].completion_ns == 4_890
    assert loaded.tasks[1].completion_ns is None  # censored: never ended
    with RunWriter(tmp_path / "plain"):
        pass
    assert load_run(tmp_path / "plain").tasks == []
    assert not (tmp_path / "plain" / TASKS_FILE).exists()


def test_a_torn_last_task_line_is_skipped_and_a_corrupt_one_refused(tmp_path: Path) -> None:
    with RunWriter(tmp_path / "run") as writer:
        writer.append_task(_task(0))
    path = tmp_path / "run" / TASKS_FILE
    whole = path.read_bytes()
    path.write_bytes(whole + whole[: len(whole) // 2])  # killed halfway through the second
    loaded = load_run(tmp_path / "run")
    assert [t.task_id for t in loaded.tasks] == ["t-0"]
    assert any("torn last line" in w for w in loaded.warnings)
    path.write_bytes(b"{not json}\n" + whole)
    with pytest.raises(StoreError, match=r"tasks.jsonl:1: unreadable task record"):
        load_run(tmp_path / "run")
