"""The shipped task files (examples/workloads/) load and run against the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import llmbench

EXAMPLES = Path(__file__).parents[2] / "examples" / "workloads"


@pytest.mark.parametrize(
    ("name", "model_calls", "tool_calls"),
    [("fan-out-planner", 10, 4), ("react-coding-agent", 10, 9)],
)
def test_an_example_task_file_runs(
    tmp_path: Path, name: str, model_calls: int, tool_calls: int
) -> None:
    out = tmp_path / "run"
    result = llmbench("run", "--tasks", str(EXAMPLES / f"{name}.yaml"), "--sim-ttft-ms", "5",
                      "--sim-itl-ms", "0.5", "--output-dir", str(out), timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["tasks"]["counts"]["ok"] == 1
    assert run["counts"]["ok"] == model_calls
    (task,) = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    kinds = [step["kind"] for step in task["steps"]]
    assert kinds.count("model") == model_calls
    assert kinds.count("tool") == tool_calls
    for step in task["steps"]:
        if step["kind"] == "tool":  # the example's tool latencies (ms), as drawn
            duration_ms = (step["ended_ns"] - step["started_ns"]) / 1e6
            assert duration_ms >= 50 if name == "react-coding-agent" else duration_ms > 0
