"""Stored results for the report tests, made once per session by real runs against the
embedded simulator over loopback: one run, one two-level concurrency sweep, a two-target
comparison study (`llmbench study`), and a copy of the
run whose records say which session turn and agent step they belong to, beside a tasks.jsonl of
two DAG tasks (the agent workloads that write these live on other branches; the report reads
only the stored fields)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmbench.records import RequestRecord
from llmbench.store.results import RECORDS_FILE, TASKS_FILE, load_run
from llmbench.tasks import StepStatus, TaskRecord, TaskStatus, TaskStep
from support.cli import llmbench

SIM = ["--sim-ttft-ms", "30", "--sim-itl-ms", "3", "--output-tokens", "8"]


# Two embedded targets shaped like the seed's systems: a baseline round, two input lengths.
STUDY = """
name: two targets
targets:
  self-hosted: sim:self-hosted-cold
  cloud: sim:cloud-warm
workload: {input_tokens: 32, output_tokens: 4}
tokenizer: whitespace
seed: 0
scenarios:
  baseline: {requests: 20}
  input-length: {lengths: [32, 512], requests: 4}
"""


@dataclass(frozen=True)
class StoredResults:
    run: Path
    sweep: Path
    agent: Path
    study: Path


def _check(*args: str) -> None:
    done = llmbench(*args, timeout=90)
    assert done.returncode == 0, done.stderr


def _agent_copy(run: Path, agent: Path) -> None:
    shutil.copytree(run, agent)
    loaded = load_run(run)
    lines = []
    for k, record in enumerate(loaded.records):
        data = record.to_json_dict()
        data.update(turn=k % 3, step_id=f"s{k % 2}", session_id=f"s{k // 3}")
        lines.append(json.dumps(RequestRecord.from_json_dict(data).to_json_dict()))
    (agent / RECORDS_FILE).write_text("\n".join(lines) + "\n")
    t0 = loaded.records[0].sent_ns
    tasks = []
    for n in range(2):
        start = t0 + n * 50_000_000
        steps = (
            TaskStep(
                step_id="plan",
                kind="model",
                status=StepStatus.OK,
                started_ns=start,
                ended_ns=start + 40_000_000,
            ),
            TaskStep(
                step_id="search",
                kind="tool",
                status=StepStatus.OK,
                started_ns=start + 40_000_000,
                ended_ns=start + 90_000_000,
                depends_on=("plan",),
            ),
            TaskStep(
                step_id="answer",
                kind="model",
                status=StepStatus.OK,
                started_ns=start + 40_000_000,
                ended_ns=start + 120_000_000,
                depends_on=("plan",),
            ),
        )
        tasks.append(
            TaskRecord(
                task_id=f"task-{n}",
                target_id="sim",
                name="dag",
                status=TaskStatus.OK,
                scheduled_ns=start,
                submitted_ns=start,
                ended_ns=start + 120_000_000,
                steps=steps,
            )
        )
    timed_out = TaskRecord(
        task_id="task-2",
        target_id="sim",
        name="dag",
        status=TaskStatus.TIMEOUT,
        scheduled_ns=t0,
        submitted_ns=t0,
    )
    (agent / TASKS_FILE).write_text(
        "".join(t.model_dump_json() + "\n" for t in [*tasks, timed_out])
    )


@pytest.fixture(scope="session")
def stored(tmp_path_factory: pytest.TempPathFactory) -> StoredResults:
    root = tmp_path_factory.mktemp("report-results")
    run, sweep, agent = root / "run", root / "sweep", root / "agent"
    _check(
        "run",
        "--concurrency",
        "4",
        "--requests",
        "24",
        "--warmup",
        "2",
        *SIM,
        "--output-dir",
        str(run),
    )
    _check(
        "run",
        "--profile",
        "concurrency-sweep",
        "--concurrency",
        "1,2",
        "--requests",
        "8",
        *SIM,
        "--output-dir",
        str(sweep),
    )
    _agent_copy(run, agent)
    spec = root / "study.yaml"
    spec.write_text(STUDY)
    _check("study", str(spec), "--output-dir", str(root / "study"))
    return StoredResults(run, sweep, agent, root / "study")
