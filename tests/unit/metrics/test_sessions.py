"""Session statistics on hand-built records and task records (small integer ns timestamps)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from llmbench.metrics.sessions import median_ratio_ci, session_summary
from llmbench.records import ErrorCategory, RequestError, RequestRecord, Status
from llmbench.tasks import StepStatus, TaskRecord, TaskStatus, TaskStep

MS = 1_000_000
S = 1_000_000_000
Make = Callable[..., RequestRecord]


def turn(make: Make, session: str, k: int, ttft_ms: int, e2e_ms: int, **fields: Any) -> Any:
    sent = 1_000
    return make(session_id=session, turn=k, sent_ns=sent, first_token_ns=sent + ttft_ms * MS,
                end_ns=sent + e2e_ms * MS, offsets_ms=[ttft_ms], **fields)  # fmt: skip


def session_task(name: str, duration_s: float, think_s: float, turns: int, **fields: Any) -> Any:
    steps = tuple(
        TaskStep(
            step_id=f"turn-{k}", kind="model", status=StepStatus.OK, started_ns=k, ended_ns=k + 1
        )
        for k in range(turns)
    )
    base: dict[str, Any] = {"task_id": name, "target_id": "t", "name": "session",
                            "status": TaskStatus.OK, "scheduled_ns": 0, "submitted_ns": 0,
                            "ended_ns": int(duration_s * S), "steps": steps,
                            "waiting_ns": int(think_s * S)}  # fmt: skip
    base.update(fields)
    return TaskRecord(**base)


def test_per_turn_statistics_and_the_cached_share_with_its_denominator(make_record: Make) -> None:
    records = [
        # turn 0: 100 prompt tokens, nothing cached; 40 and 60 ms to the first token
        turn(make_record, "a", 0, 40, 100, input_tokens=100, cached_tokens=0),
        turn(make_record, "b", 0, 60, 120, input_tokens=100, cached_tokens=0),
        # turn 1: 300 prompt tokens; one reports 192 cached, one reports nothing (not a 0)
        turn(make_record, "a", 1, 20, 90, input_tokens=300, cached_tokens=192),
        turn(make_record, "b", 1, 30, 95, input_tokens=300, cached_tokens=None),
        # a failed turn 1 and a warm-up record: counted as an error / left out
        make_record(
            session_id="c",
            turn=1,
            status=Status.ERROR,
            error=RequestError(ErrorCategory.HTTP_5XX, "boom", 500),
        ),
        turn(make_record, "w", 0, 999, 999, warmup=True, input_tokens=1, cached_tokens=0),
    ]
    out = session_summary(records, [])
    zero, one = out["per_turn"]
    assert (zero["turn"], zero["n"], zero["errors"]) == (0, 2, 0)
    assert zero["ttft_ms"] == {"n": 2, "mean": 50.0, "p50": 50.0, "p95": None}  # P95: n < 20
    assert zero["e2e_ms"]["mean"] == 110.0
    assert zero["cached"]["share"] == 0.0
    assert (one["n"], one["errors"]) == (2, 1)
    # 192 / 300: the request without cached_tokens is in neither sum
    assert one["cached"] == {"requests_reporting": 1, "cached_tokens": 192, "prompt_tokens": 300,
                             "share": 0.64, "basis": one["cached"]["basis"]}  # fmt: skip
    assert one["prompt_tokens_mean"] == 300.0
    first = out["first_vs_later"]
    assert first["ttft_ms_a"]["p50"] == 50.0
    assert first["ttft_ms_b"]["p50"] == 25.0
    assert first["ttft_p50_ratio_b_over_a"] == 0.5  # 25 / 50
    split = out["new_vs_continued"]
    assert (split["ttft_ms_a"]["n"], split["ttft_ms_b"]["n"]) == (2, 1)  # 0 cached vs 192


def test_nothing_reported_gives_a_null_share_and_no_cache_split(make_record: Make) -> None:
    records = [turn(make_record, "a", k, 10, 20, input_tokens=5) for k in range(3)]
    out = session_summary(records, [])
    assert [t["cached"]["share"] for t in out["per_turn"]] == [None, None, None]
    assert out["new_vs_continued"] is None


def test_per_session_rollups_keep_failed_sessions_counted() -> None:
    tasks = [
        session_task("a", 10.0, 4.0, 4),  # 4 turns in 10 s, 4 s of it thinking
        session_task("b", 20.0, 8.0, 4),
        session_task("c", 1.0, 0.0, 1, status=TaskStatus.ERROR),
        session_task("d", 1.0, 0.0, 1, status=TaskStatus.CANCELLED),
        session_task("w", 99.0, 0.0, 4, warmup=True),
    ]
    rollup = session_summary([], tasks)["per_session"]
    assert (rollup["sessions"], rollup["ok"], rollup["failed"], rollup["cancelled"]) == (4, 2, 1, 1)
    assert rollup["duration_s"]["mean"] == 15.0
    assert rollup["think_s"]["mean"] == 6.0
    assert rollup["model_s"]["mean"] == 9.0  # (6 + 12) / 2
    assert rollup["turns_per_s"]["mean"] == pytest.approx((0.4 + 0.2) / 2)


def test_median_ratio_ci_covers_the_ratio_and_is_seeded() -> None:
    a = np.array([100.0, 110, 90, 105, 95, 100, 102, 98])
    b = a / 2
    ci = median_ratio_ci(a, b, seed=3)
    assert ci is not None
    assert ci[0] <= 0.5 <= ci[1]
    assert ci == median_ratio_ci(a, b, seed=3)
    assert median_ratio_ci(a[:1], b, seed=3) is None
