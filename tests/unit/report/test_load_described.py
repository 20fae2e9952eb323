"""The run header names what drove the requests: an agent workload's own shape, not the
load profile it ignores."""

from __future__ import annotations

from llmbench.config import RunSpec
from llmbench.report.load import load_described


def test_a_plain_run_shows_its_load_profile() -> None:
    spec = RunSpec.model_validate({"load": {"kind": "closed", "concurrency": 3, "requests": 9}})
    assert load_described(spec).endswith("c=3")


def test_a_session_run_shows_sessions_and_turns() -> None:
    spec = RunSpec.model_validate(
        {
            "workload": {"sessions": 5, "turns": 3},
            "load": {"kind": "closed", "concurrency": 2, "requests": 15},
        }
    )
    assert load_described(spec) == "sessions 5 x 3 turns, c=2"


def test_an_agent_loop_shows_tasks_and_step_cap() -> None:
    spec = RunSpec.model_validate({"agent_loop": {"tasks": 4, "concurrency": 2, "max_steps": 7}})
    assert load_described(spec) == "agent loop 4 tasks, 2 at once, <= 7 steps"
