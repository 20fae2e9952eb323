"""summarize_tasks: counts by status, censored timeouts kept, critical path vs step-time sum,
tasks/s, per-step statistics; the block validates as run.json's `tasks`."""

from __future__ import annotations

from llmbench.metrics.tasks import critical_path_ns, step_time_sum_ns, summarize_tasks
from llmbench.store.task_schema import TaskSummary
from llmbench.tasks import StepStatus, TaskRecord, TaskStatus, TaskStep

MS = 1_000_000


def _step(step_id: str, start_ms: int, end_ms: int, *deps: str, **kw: object) -> TaskStep:
    return TaskStep(
        step_id=step_id, kind="model", status=kw.pop("status", StepStatus.OK),  # type: ignore[arg-type]
        started_ns=start_ms * MS, ended_ns=end_ms * MS, depends_on=deps, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def _diamond(offset_ms: int = 0) -> tuple[TaskStep, ...]:
    # plan 0-100; a 100-400 and b 100-250 in parallel; join 400-450: critical 450, sum 600
    o = offset_ms
    return (
        _step("plan", o, o + 100, ttft_ns=10 * MS, e2e_ns=100 * MS),
        _step("a", o + 100, o + 400, "plan"),
        _step("b", o + 100, o + 250, "plan"),
        _step("join", o + 400, o + 450, "a", "b"),
    )


def _task(i: int, status: TaskStatus, start_ms: int, end_ms: int, **kw: object) -> TaskRecord:
    return TaskRecord(
        task_id=f"t{i}", target_id="x", name="diamond", status=status,
        scheduled_ns=start_ms * MS, submitted_ns=start_ms * MS, ended_ns=end_ms * MS,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_critical_path_and_sum_of_a_diamond() -> None:
    steps = _diamond()
    assert critical_path_ns(steps) == 450 * MS
    assert step_time_sum_ns(steps) == 600 * MS


def test_a_step_without_a_duration_gives_no_path() -> None:
    steps = (*_diamond()[:3], TaskStep(step_id="join", kind="model", status=StepStatus.SKIPPED))
    assert critical_path_ns(steps) is None
    assert step_time_sum_ns(steps) is None


def test_summary_counts_keeps_timeouts_and_excludes_warmup() -> None:
    tasks = [
        _task(0, TaskStatus.OK, 0, 500, steps=_diamond(0), warmup=True),
        _task(1, TaskStatus.OK, 1000, 1460, steps=_diamond(1000)),
        _task(2, TaskStatus.OK, 1000, 1480, steps=_diamond(1000)),
        _task(3, TaskStatus.TIMEOUT, 1000, 3000),
        _task(4, TaskStatus.ERROR, 1100, 1200),
    ]
    out = summarize_tasks(tasks, seed=1)
    TaskSummary.model_validate(out)  # the schema of run.json's block
    assert out["covers"]["warmup"] == 1
    assert out["covers"]["measured"] == 4
    assert out["counts"] == {"ok": 2, "error": 1, "timeout": 1, "cancelled": 0, "interrupted": 0}
    assert out["task_completion_ms"]["n"] == 2
    assert out["task_completion_ms"]["min"] == 460.0
    assert out["task_completion_ms"]["max"] == 480.0
    # the timed-out task is kept at its cut (a lower bound), never dropped
    assert out["task_elapsed_ms"]["n"] == 4
    assert out["task_elapsed_ms"]["max"] == 2000.0
    assert out["censoring"]["censored"] == 1
    assert out["censoring"]["min_censored_at_ms"] == 2000.0
    assert out["critical_path_ms"]["mean"] == 450.0
    assert out["step_time_sum_ms"]["mean"] == 600.0
    # 2 ok tasks from the first submit (1000 ms) to the last end (3000 ms)
    assert out["duration_s"] == 2.0
    assert out["tasks_per_s"] == 1.0
    plan = out["steps"]["diamond/plan"]
    assert plan["counts"]["ok"] == 2
    assert plan["duration_ms"]["mean"] == 100.0
    assert plan["ttft_ms"]["mean"] == 10.0
    assert plan["e2e_ms"]["mean"] == 100.0
    assert out["steps"]["diamond/a"]["ttft_ms"]["n"] == 0  # no request figures given


def test_skipped_steps_are_counted() -> None:
    steps = (
        _step("plan", 0, 100, status=StepStatus.TIMEOUT),
        TaskStep(step_id="next", kind="tool", status=StepStatus.SKIPPED, depends_on=("plan",)),
    )
    out = summarize_tasks([_task(0, TaskStatus.TIMEOUT, 0, 100, steps=steps)])
    assert out["steps"]["diamond/next"]["counts"]["skipped"] == 1
    assert out["steps"]["diamond/plan"]["counts"]["timeout"] == 1
    assert out["steps"]["diamond/plan"]["duration_ms"]["n"] == 0  # ok steps only
    assert out["task_completion_ms"]["n"] == 0
    assert out["tasks_per_s"] == 0.0


def test_no_tasks() -> None:
    out = summarize_tasks([])
    TaskSummary.model_validate(out)
    assert out["tasks_per_s"] is None
    assert out["task_completion_ms"]["n"] == 0
