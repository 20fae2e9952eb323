"""Comparing runs from hand-written results directories (tasks.jsonl, records.jsonl): tasks
task by task (paired), censored timeouts (Kaplan–Meier, log-rank), a token stream never put in
one row with a task API's first event without saying so, and the warm-up check."""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest

from llmbench.errors import IncompatibleRunsError
from llmbench.metrics.compare import Verdict
from llmbench.records import RequestRecord, Status
from llmbench.report.comparison import compare_runs
from llmbench.store.results import RunWriter
from llmbench.tasks import TaskEvent, TaskRecord, TaskStatus

S = 1_000_000_000  # ns per s


def _task(
    name: str, start_s: float, took_s: float, status: TaskStatus, event_s: float
) -> TaskRecord:
    submitted = round(start_s * S)
    return TaskRecord(
        task_id=f"{name}-{start_s}", target_id="t", name=name, status=status,
        scheduled_ns=submitted, submitted_ns=submitted, ended_ns=submitted + round(took_s * S),
        events=(TaskEvent(arrived_ns=submitted + round(event_s * S), kind="status_update"),),
    )  # fmt: skip


def _write(
    directory: Path, tasks: list[TaskRecord], records: tuple[RequestRecord, ...] = ()
) -> Path:
    with RunWriter(directory) as writer:
        for task in tasks:
            writer.append_task(task)
        for record in records:
            writer.append(record)
    return directory


def _record(k: int, ttft_ms: float) -> RequestRecord:
    sent = k * S
    first = sent + round(ttft_ms * 1e6)
    return RequestRecord(
        request_id=f"r{k}", target_id="t", item_id=f"i{k}", worker_id=0, status=Status.OK,
        scheduled_ns=sent, sent_ns=sent, first_token_ns=first, first_content_ns=first,
        end_ns=first + 10_000_000,
        chunk_offsets_ns=array("q", [first - sent, first - sent + 10_000_000]),
        chunk_tokens=array("I", [1, 1]), chunk_channels=array("B", [0, 0]), output_tokens=2,
    )  # fmt: skip


# Ten named tasks; the candidate takes 1.5x as long on each, give or take a little.
_TIMES = [20.0, 35.0, 12.0, 50.0, 28.0, 41.0, 17.0, 33.0, 25.0, 45.0]
_WOBBLE = [1.50, 1.46, 1.55, 1.52, 1.48, 1.51, 1.45, 1.53, 1.49, 1.56]


def test_tasks_are_compared_task_by_task(tmp_path: Path) -> None:
    base = [_task(f"t{i}", i * 100, t, TaskStatus.OK, 1.0) for i, t in enumerate(_TIMES)]
    cand = [_task(f"t{i}", i * 100, t * w, TaskStatus.OK, 2.0)
            for i, (t, w) in enumerate(zip(_TIMES, _WOBBLE, strict=True))]  # fmt: skip
    b, c = _write(tmp_path / "b", base), _write(tmp_path / "c", cand)
    with pytest.raises(IncompatibleRunsError, match=r"no run\.json"):
        compare_runs(b, c)  # no run.json: the workload cannot be checked
    result = compare_runs(b, c, force=True)
    rows = {row.metric: row for row in result.rows}
    assert set(rows) == {"task_first_event_ms", "task_completion_ms"}  # no token metrics
    done = rows["task_completion_ms"]
    assert done.mode == "paired"
    assert done.paired is not None
    assert done.paired.n_pairs == 10
    assert done.ratio is not None
    assert done.ratio.value == pytest.approx(1.505, abs=0.005)
    assert done.verdict is Verdict.SLOWER
    assert "task-by-task task time to success is 1.5" in done.sentence
    assert "over 10 tasks" in done.sentence
    assert result.baseline.protocol == "task API"


def test_timeouts_are_censored_not_dropped(tmp_path: Path) -> None:
    """The candidate times out (at 60 s) on half its tasks: dropped, its successes alone would
    look as fast as the baseline; censored, it is slower (log-rank) and its median time to
    success is not reached."""
    base = [_task(f"t{i}", i * 100, t, TaskStatus.OK, 1.0) for i, t in enumerate(_TIMES * 2)]
    cand = [
        _task(f"t{i}", i * 100, t, TaskStatus.OK, 1.0) if i % 2
        else _task(f"t{i}", i * 100, 60.0, TaskStatus.TIMEOUT, 1.0)
        for i, t in enumerate(_TIMES * 2)
    ]  # fmt: skip
    b, c = _write(tmp_path / "b", base), _write(tmp_path / "c", cand)
    result = compare_runs(b, c, force=True, metrics=["task_completion_ms"])
    (row,) = result.rows
    assert row.mode == "survival"
    assert row.survival is not None
    assert row.survival.candidate.n_censored == 10
    assert row.survival.candidate.median is None or row.survival.candidate.median > 30
    assert row.verdict is Verdict.SLOWER
    assert row.p_value is not None
    assert "10 of 20" in row.sentence
    assert "Kaplan–Meier" in row.sentence


def test_token_stream_and_task_api_are_not_mixed_silently(tmp_path: Path) -> None:
    stream = _write(tmp_path / "stream", [], [_record(k, 300 + k) for k in range(12)])
    tasks = _write(
        tmp_path / "tasks", [_task(f"t{i}", i, 5.0, TaskStatus.OK, 0.1) for i in range(12)]
    )
    result = compare_runs(stream, tasks, force=True, metrics=["ttft_ms", "first_output_ms"])
    assert [row.metric for row in result.rows] == ["first_output_ms"]
    assert result.not_compared[0].startswith("ttft_ms: tasks is a task API run")
    (row,) = result.rows
    assert row.note == (
        "different measures: stream TTFT (token stream), tasks first event (task API)"
    )
    assert row.note in row.sentence


def test_warm_up_is_reported_and_excluded_only_when_asked(tmp_path: Path) -> None:
    """15 slow first requests (TTFT 400 ms falling to 120 ms), then 60 at about 100 ms."""
    ttfts = [400 - 20 * k for k in range(15)] + [100 + (k % 5) for k in range(60)]
    slow = _write(tmp_path / "slow", [], tuple(_record(k, t) for k, t in enumerate(ttfts)))
    flat = _write(tmp_path / "flat", [], tuple(_record(k, 100 + k % 5) for k in range(75)))
    kept = compare_runs(flat, slow, force=True, metrics=["ttft_ms"])
    assert kept.candidate.warmup.truncate == 15
    assert kept.candidate.warmup_excluded == 0
    assert kept.rows[0].comparison is not None
    assert kept.rows[0].comparison.candidate.n == 75  # nothing dropped by default
    assert any("first 15 of 75 requests look like warm-up" in n and "kept" in n
               for n in kept.notes)  # fmt: skip
    trimmed = compare_runs(flat, slow, force=True, metrics=["ttft_ms"], trim_warmup=True)
    assert trimmed.candidate.warmup_excluded == 15
    assert trimmed.rows[0].comparison is not None
    assert trimmed.rows[0].comparison.candidate.n == 60
    assert any(n.startswith("slow: warm-up excluded") for n in trimmed.notes)


def test_tasks_that_showed_nothing_are_censored_for_the_first_event(tmp_path: Path) -> None:
    """Four of the candidate's tasks timed out before any event: their first event is censored
    at their end, not dropped; first_output_ms, which cannot keep them, says why it is left."""
    base = [_task(f"t{i}", i * 100, 10.0, TaskStatus.OK, 1.0) for i in range(12)]
    cand = [_task(f"t{i}", i * 100, 10.0, TaskStatus.OK, 3.0) for i in range(8)] + [
        TaskRecord(task_id=f"x{i}", target_id="t", name=f"t{i}", status=TaskStatus.TIMEOUT,
                   scheduled_ns=i * 100 * S, submitted_ns=i * 100 * S,
                   ended_ns=i * 100 * S + 30 * S)
        for i in range(8, 12)
    ]  # fmt: skip
    b, c = _write(tmp_path / "b", base), _write(tmp_path / "c", cand)
    result = compare_runs(b, c, force=True, metrics=["task_first_event_ms", "first_output_ms"])
    (row,) = result.rows
    assert row.metric == "task_first_event_ms"
    assert row.mode == "survival"
    assert row.survival is not None
    assert row.survival.candidate.n_censored == 4
    assert row.survival.candidate.median == 3000.0
    assert row.verdict is Verdict.SLOWER
    assert result.not_compared == [
        "first_output_ms: c: 4 tasks ended without any event (censored): compare "
        "task_first_event_ms, which keeps them"
    ]


def test_a_median_never_reached_is_slower_than_any(tmp_path: Path) -> None:
    """The candidate times out on 16 of 20 tasks: its median time to success is not reached,
    and that is slower than the baseline's (log-rank p tiny), not 'inconclusive'."""
    base = [_task(f"t{i}", i * 100, t, TaskStatus.OK, 1.0) for i, t in enumerate(_TIMES * 2)]
    cand = [
        _task(f"t{i}", i * 100, t, TaskStatus.OK, 1.0) if i < 4
        else _task(f"t{i}", i * 100, 60.0, TaskStatus.TIMEOUT, 1.0)
        for i, t in enumerate(_TIMES * 2)
    ]  # fmt: skip
    b, c = _write(tmp_path / "b", base), _write(tmp_path / "c", cand)
    (row,) = compare_runs(b, c, force=True, metrics=["task_completion_ms"]).rows
    assert row.survival is not None
    assert row.survival.candidate.median is None
    assert row.verdict is Verdict.SLOWER
    assert "is not reached vs" in row.sentence


def test_tasks_llmbench_drives_itself_have_no_first_event_to_compare(tmp_path: Path) -> None:
    """DAG tasks, sessions and agent-loop tasks have no provider and no events: their first
    event is not a censored observation but a measure they do not have (left out, not
    'never reached')."""

    def own(i: int, took_s: float) -> TaskRecord:
        return TaskRecord(task_id=f"t{i}-0", target_id="t", name=f"t{i}", status=TaskStatus.OK,
                          scheduled_ns=i * S, submitted_ns=i * S,
                          ended_ns=i * S + round(took_s * S))  # fmt: skip

    b = _write(tmp_path / "b", [own(i, 1.0 + i / 100) for i in range(10)])
    c = _write(tmp_path / "c", [own(i, 2.0 + i / 100) for i in range(10)])
    result = compare_runs(b, c, force=True, seed=1)
    assert [row.metric for row in result.rows] == ["task_completion_ms"]
    assert result.rows[0].mode == "paired"
    assert result.not_compared == []
