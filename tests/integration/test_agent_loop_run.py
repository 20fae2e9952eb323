"""`llmbench run --agent-loop FILE` end to end on the embedded simulator playing the agent: the
shipped workload files load and run a few steps; run.json has the agent_loop block and
tasks.jsonl one line per task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import llmbench

EXAMPLES = Path(__file__).parents[2] / "examples" / "workloads"
SHRINK = [
    "--set", "agent_loop.tasks=2", "--set", "agent_loop.screen_size=270x600",
    "--set", "agent_loop.actuation.tap_s=0.05", "--set", "agent_loop.actuation.type_s=0.05",
    "--set", "agent_loop.actuation.other_s=0.05", "--set", "sim.reply=agent",
    "--set", "sim.agent_finish_after=2", "--sim-ttft-ms", "5", "--sim-itl-ms", "1",
]  # fmt: skip


@pytest.mark.parametrize("name", ["phone-agent.yaml", "computer-use-agent.yaml"])
def test_a_shipped_agent_loop_runs_against_the_simulator(name: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", "--agent-loop", str(EXAMPLES / name), *SHRINK, "--output-dir", str(out)]
    done = llmbench(*args, timeout=120)
    assert done.returncode == 0, done.stderr
    run = json.loads((out / "run.json").read_text())
    block = run["agent_loop"]
    assert block["tasks"] == 2
    assert block["by_status"]["ok"] == 2
    assert [row["step"] for row in block["per_step"]] == [0, 1]
    assert block["per_step"][0]["images_mean"] == 1
    assert run["summary"]["payload_bytes"]["n"] == 4
    assert run["summary"]["images_per_s"] > 0
    assert run["spec"]["agent_loop"]["source"] == str(EXAMPLES / name)
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    assert len(tasks) == 2
    assert [s["kind"] for s in tasks[0]["steps"]] == ["model", "actuation", "model"]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert sorted((r["session_id"], r["turn"]) for r in records) == [
        ("task-0", 0), ("task-0", 1), ("task-1", 0), ("task-1", 1),
    ]  # fmt: skip
    assert "agent loop" in done.stdout


def test_a_bad_agent_loop_file_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "loop.yaml"
    bad.write_text("tasks: 2\nhistory: drop_all\n")
    done = llmbench("run", "--agent-loop", str(bad), "--output-dir", str(tmp_path / "run"))
    assert done.returncode == 2
    assert f"{bad}:2" in done.stderr
    assert "history" in done.stderr
    assert "Traceback" not in done.stderr
