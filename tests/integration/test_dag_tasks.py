"""DAG tasks end to end: `llmbench run --tasks` against the simulator as a real process (a
wide DAG in about its critical path when concurrent, about the sum of its steps when
sequential; timeouts skip dependents), the live upstream output in the downstream request body
(a loopback server that logs bodies), bad task files refused before anything is sent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml

from llmbench.clients.openai import OpenAIClient
from llmbench.records import RequestRecord
from llmbench.run.dag import DagDriver
from llmbench.store.results import load_run
from llmbench.tasks import StepStatus, TaskRecord, TaskStatus
from llmbench.workload.dag import load_tasks
from support.cli import llmbench
from support.engine_server import engine_server

WIDTH = 6
# The simulator: TTFT 60 ms, 4 tokens 5 ms apart: a model step takes ~75 ms.
SIM = ["--sim-ttft-ms", "60", "--sim-itl-ms", "5"]
STEP_MS = 75
# Scheduling overhead allowed per task on a loaded 2-core machine (3 steps on the critical path).
OVERHEAD_MS = 60


def _wide() -> dict[str, Any]:
    fan = [{"id": f"sub{i}", "prompt": f"sub-agent {i}: {{{{ steps.plan.output }}}}",
            "max_tokens": 4, "depends_on": ["plan"]} for i in range(WIDTH)]  # fmt: skip
    join = " ".join(f"{{{{ steps.sub{i}.output }}}}" for i in range(WIDTH))
    return {"tasks": [{"name": "wide", "steps": [
        {"id": "plan", "prompt": "plan {{ input.goal }}", "max_tokens": 4},
        *fan,
        {"id": "join", "prompt": f"join {join}", "max_tokens": 4,
         "depends_on": [f"sub{i}" for i in range(WIDTH)]},
    ], "input": {"goal": "g"}}]}  # fmt: skip


def _run(tmp_path: Path, name: str, data: dict[str, Any], *flags: str) -> dict[str, Any]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / name
    result = llmbench("run", "--tasks", str(path), *SIM, *flags, "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    assert load_run(out).tasks, "tasks.jsonl read back"
    return dict(run["tasks"])


def test_concurrent_mode_finishes_a_wide_dag_in_about_its_critical_path(tmp_path: Path) -> None:
    concurrent = _run(
        tmp_path, "concurrent", _wide(), "--task-repeat", "2", "--task-concurrency", "16"
    )
    sequential = _run(tmp_path, "sequential", _wide(), "--task-mode", "sequential")
    assert concurrent["counts"]["ok"] == 2
    completion = concurrent["task_completion_ms"]
    critical = concurrent["critical_path_ms"]
    # 2 instances, 16 steps at once: every ready step starts at once
    assert completion["max"] <= critical["max"] + OVERHEAD_MS
    assert critical["min"] >= 3 * STEP_MS * 0.9
    assert concurrent["step_time_sum_ms"]["min"] >= (WIDTH + 2) * STEP_MS * 0.9
    # one step at a time: the sum of the steps, not the critical path
    seq = sequential["task_completion_ms"]["max"]
    assert seq >= sequential["step_time_sum_ms"]["max"]
    assert seq >= 2 * completion["max"]
    assert sequential["steps"]["wide/plan"]["ttft_ms"]["mean"] >= 55


def test_a_step_timeout_skips_its_dependents(tmp_path: Path) -> None:
    data = {"tasks": [{"name": "t", "steps": [
        {"id": "slow", "prompt": "x", "max_tokens": 64, "timeout_s": 0.1},
        {"id": "after", "kind": "tool", "latency_ms": {"dist": "constant", "value": 1},
         "depends_on": ["slow"]},
        {"id": "quick", "prompt": "y", "max_tokens": 2},
    ]}]}  # fmt: skip
    out = _run(tmp_path, "timeout", data)
    assert out["counts"] == {"ok": 0, "error": 0, "timeout": 1, "cancelled": 0, "interrupted": 0}
    assert out["task_elapsed_ms"]["n"] == 1  # kept, censored
    assert out["steps"]["t/slow"]["counts"]["timeout"] == 1
    assert out["steps"]["t/after"]["counts"]["skipped"] == 1
    assert out["steps"]["t/quick"]["counts"]["ok"] == 1
    lines = (tmp_path / "timeout/records.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    cut = next(r for r in records if r["step_id"] == "slow")
    assert cut["error"]["category"] == "cancelled"  # the cut request is kept, not lost


async def _drive(base_url: str, path: Path) -> tuple[list[TaskRecord], list[RequestRecord]]:
    tasks, records = [], []  # type: ignore[var-annotated]
    async with OpenAIClient(base_url=base_url, model="m") as client:
        await DagDriver(load_tasks(path), limit=4).run(
            client, target_id="x", sink=records.append, task_sink=tasks.append, stop=None
        )
    return tasks, records


def test_live_upstream_outputs_are_in_the_downstream_request(tmp_path: Path) -> None:
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump({"tasks": [{"name": "t", "steps": [
        {"id": "plan", "prompt": "plan it", "max_tokens": 3},
        {"id": "use", "prompt": "Using [{{ steps.plan.output }}] go", "depends_on": ["plan"]},
    ]}]}))  # fmt: skip
    with engine_server(tokens=3, ttft_s=0.01, itl_s=0.001) as server:
        (task,), records = asyncio.run(_drive(server.url, path))
    assert task.status is TaskStatus.OK
    assert [s.status for s in task.steps] == [StepStatus.OK, StepStatus.OK]
    assert len(server.bodies) == 2
    # the server's reply to `plan` (" t0 t1 t2") is inside the body it then received for `use`
    assert server.bodies[1]["messages"][-1]["content"] == "Using [ t0 t1 t2] go"
    assert [r.step_id for r in records] == ["plan", "use"]


def test_bad_task_files_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "tasks:\n  - name: job\n    steps:\n      - id: a\n        prompt: x\n"
        "        depends_on: [b]\n      - id: b\n        prompt: y\n        depends_on: [a]\n"
        "      - id: c\n        prompt: z\n        depends_on: [nope]\n"
    )
    with engine_server() as server:
        result = llmbench("run", "--tasks", str(path), "--base-url", server.url,
                          "--output-dir", str(tmp_path / "run"))  # fmt: skip
    assert server.paths == []  # not even the model list was asked for
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:12:9: task 'job', step 'c': depends on 'nope'" in result.stderr
    assert not (tmp_path / "run").exists()
    path.write_text(path.read_text().replace("[nope]", "[a]"))
    result = llmbench("run", "--tasks", str(path), "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:6:9: task 'job', step 'a': a dependency cycle" in result.stderr
    no_cycle = path.read_text().replace("        depends_on: [b]\n", "")
    path.write_text(no_cycle.replace("prompt: z", "prompt: '{{ steps.a.output'"))
    result = llmbench("run", "--tasks", str(path), "--set", "tasks.mode=sequential",
                      "--output-dir", str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:10:9: task 'job', step 'c': template: syntax error" in result.stderr
