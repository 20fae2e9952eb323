"""The A2A client against the simulator's A2A face over loopback: every event of a task arrives
within 10 ms of the simulator's write (its log, one CLOCK_MONOTONIC for both processes); each
way a task can stop is recorded as such; JSON-RPC and HTTP errors are categorized; the key is
never written.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from llmbench.clients.a2a import A2AClient
from llmbench.config import ClosedLoad, RunSpec, SimSpec, TargetSpec, WorkloadSpec
from llmbench.records import RequestSpec, SendContext
from llmbench.run.execute import Target, execute_run
from llmbench.run.target import EmbeddedSim
from llmbench.store.results import load_run
from llmbench.tasks import TaskRecord, TaskStatus

StartSim = Callable[..., str]
KEY_VARIABLE = "LLMBENCH_TEST_A2A_KEY"
KEY = "a2a-secret-5e4d3c2b1a"
TOKENS = 20
AGREEMENT_NS = 10_000_000  # the brief's bound: each event within 10 ms of the server's write


@pytest.fixture(scope="module")
def fast_sim() -> Iterator[str]:
    """One simulator for the tests that each send a task or two (a start is ~1 s)."""
    with EmbeddedSim(SimSpec(ttft_ms=5, itl_ms=1)) as sim:
        yield sim.base_url


def a2a_log(base_url: str, task_id: str) -> dict[str, Any]:
    with urlopen(f"{base_url}/sim/a2a-log/{task_id}", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _agrees_with_the_log(task: TaskRecord, truth: dict[str, Any]) -> None:
    written = truth["events"]
    assert [e.kind for e in task.events] == [e["kind"] for e in written]
    assert [e.status for e in task.events] == [e["state"] for e in written]
    for event, server in zip(task.events, written, strict=True):
        late_ns = event.arrived_ns - server["emit_ns"]
        assert 0 <= late_ns < AGREEMENT_NS, (event.kind, late_ns)
    assert task.submitted_ns <= truth["received_ns"]


def test_a_run_of_a2a_tasks_agrees_with_the_simulators_log(
    start_sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    base_url = start_sim(ttft_ms=30, itl_ms=2, extra_args=["--api-key-env", KEY_VARIABLE])
    spec = RunSpec(
        target=TargetSpec(kind="a2a"),
        workload=WorkloadSpec(input_tokens=16, output_tokens=TOKENS),
        load=ClosedLoad(concurrency=2, requests=6, warmup=1),
    )
    run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run", api_key=KEY))
    assert run.status == "complete"
    assert run.target.model == "llmbench-sim-agent"  # the agent card's name
    summary = run.tasks
    assert summary is not None
    assert summary.counts.ok == 6  # the warm-up task is not among them
    assert summary.task_first_status_ms is not None
    assert summary.task_first_artifact_ms is not None
    assert summary.task_first_status_ms.n == summary.task_first_artifact_ms.n == 6
    # the first artifact (8 tokens) comes after the first status (the first token)
    assert summary.task_first_artifact_ms.min > summary.task_first_status_ms.max - 5
    loaded = load_run(tmp_path / "run")
    assert loaded.records == []  # a task protocol shows no tokens: no request records
    tasks = loaded.tasks
    assert len(tasks) == 7
    assert sum(t.warmup for t in tasks) == 1
    for task in tasks:
        assert task.status is TaskStatus.OK
        assert task.provider_state == "completed"
        assert task.provider_task_id is not None
        # the Task, working, 3 artifacts (8 + 8 + 4 tokens), completed
        assert [e.kind for e in task.events] == ["task", "status-update"] + [
            "artifact-update"
        ] * 3 + ["status-update"]
        assert task.accepted_ns == task.events[0].arrived_ns
        assert task.ended_ns == task.events[-1].arrived_ns
        _agrees_with_the_log(task, a2a_log(base_url, task.provider_task_id))
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path


async def _one(
    base_url: str, *, outcome: str | None = None, stream: bool = True, api_key: str | None = None
) -> TaskRecord:
    headers = {"X-Sim-A2A": outcome} if outcome else None
    spec = RequestSpec(item_id="t", prompt="plan a trip", max_tokens=TOKENS)
    async with A2AClient(
        base_url=base_url, api_key=api_key, extra_headers=headers, stream=stream
    ) as client:
        return await client.run_task(spec, SendContext("req-1", "sim", 0, 0))


@pytest.mark.parametrize(
    ("outcome", "status", "category"),
    [
        ("failed", TaskStatus.ERROR, "task_failed"),
        ("rejected", TaskStatus.ERROR, "task_rejected"),
        ("canceled", TaskStatus.CANCELLED, None),
        ("input-required", TaskStatus.INTERRUPTED, None),
        ("auth-required", TaskStatus.INTERRUPTED, None),
        ("message", TaskStatus.OK, None),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
def test_each_way_a_task_stops_is_recorded_as_such(
    fast_sim: str, outcome: str, status: TaskStatus, category: str | None, stream: bool
) -> None:
    base_url = fast_sim
    task = asyncio.run(_one(base_url, outcome=outcome, stream=stream))
    assert task.status is status, task.error
    assert (task.error.category if task.error else None) == category
    if outcome != "message":
        assert task.provider_state == outcome
        assert task.provider_task_id is not None
        truth = a2a_log(base_url, task.provider_task_id)
        assert truth["final_state"] == outcome
        if stream:
            _agrees_with_the_log(task, truth)
        else:  # one blocking answer, written when the task stopped
            assert [e.via for e in task.events] == ["response"]
            assert 0 <= task.events[0].arrived_ns - truth["events"][-1]["emit_ns"] < AGREEMENT_NS
    assert task.ended_ns is not None
    assert task.ended_ns == task.events[-1].arrived_ns


@pytest.mark.parametrize(
    ("outcome", "category", "text"),
    [
        ("malformed", "protocol", "malformed JSON"),
        ("no-such-outcome", "rpc_error", "-32602"),  # the agent's JSON-RPC error object
    ],
)
def test_broken_answers_are_categorized(
    fast_sim: str, outcome: str, category: str, text: str
) -> None:
    base_url = fast_sim
    task = asyncio.run(_one(base_url, outcome=outcome))
    assert task.status is TaskStatus.ERROR
    assert task.error is not None
    assert task.error.category == category
    assert text in task.error.message


def test_a_wrong_key_is_an_http_4xx_that_never_quotes_the_key(
    start_sim: StartSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    base_url = start_sim(ttft_ms=5, itl_ms=1, extra_args=["--api-key-env", KEY_VARIABLE])
    wrong = "a2a-wrong-000"
    task = asyncio.run(_one(base_url, api_key=wrong))
    assert task.status is TaskStatus.ERROR
    assert task.error is not None
    assert task.error.category == "http_4xx"
    assert task.error.http_status == 401
    assert wrong not in task.model_dump_json()
    assert asyncio.run(_one(base_url, api_key=KEY)).ok


def test_a_task_followed_by_polling_ends_within_one_poll_of_the_log(fast_sim: str) -> None:
    interval_s = 0.02
    spec = RequestSpec(item_id="t", prompt="plan a trip", max_tokens=TOKENS)

    async def run() -> TaskRecord:
        async with A2AClient(
            base_url=fast_sim, stream=False, blocking=False, poll_interval_s=interval_s
        ) as client:
            return await client.run_task(spec, SendContext("req-poll", "sim", 0, 0))

    task = asyncio.run(run())
    assert task.status is TaskStatus.OK
    assert task.polls >= 1
    assert [e.via for e in task.events] == ["response"] + ["poll"] * task.polls
    assert task.provider_task_id is not None
    truth = a2a_log(fast_sim, task.provider_task_id)
    assert task.ended_ns is not None
    # seen by the first poll after the end: within one interval (plus the poll's round trip)
    late_ns = task.ended_ns - truth["done_ns"]
    assert 0 <= late_ns < interval_s * 1e9 + AGREEMENT_NS


def test_a_task_past_its_timeout_is_recorded_as_a_censored_timeout(start_sim: StartSim) -> None:
    base_url = start_sim(ttft_ms=5000, itl_ms=1)  # working would come only after 5 s
    spec = RequestSpec(item_id="t", prompt="plan a trip", max_tokens=TOKENS)

    async def run() -> TaskRecord:
        async with A2AClient(base_url=base_url, request_timeout_s=0.3) as client:
            return await client.run_task(spec, SendContext("req-slow", "sim", 0, 0))

    task = asyncio.run(run())
    assert task.status is TaskStatus.TIMEOUT
    assert task.error is not None
    assert task.error.category == "timeout"
    assert [e.kind for e in task.events] == ["task"]  # accepted, then nothing before the cut
    assert task.provider_state == "submitted"
    assert task.completion_ns is not None
    assert 0.3e9 <= task.completion_ns < 0.3e9 + 0.2e9  # kept, cut at its timeout


def test_the_terminal_summary_of_an_a2a_run_shows_tasks_not_an_empty_request_table(
    tmp_path: Path,
) -> None:
    from support.cli import llmbench

    out = tmp_path / "run"
    result = llmbench(
        "run", "--target-kind", "a2a", "--concurrency", "2", "--requests", "4",
        "--output-tokens", "16", "--sim-ttft-ms", "10", "--sim-itl-ms", "1",
        "--output-dir", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(a2a)" in result.stdout
    assert "no request records: the target speaks a task protocol" in result.stdout
    assert "tasks ok 4, error 0" in result.stdout
    assert "first status" in result.stdout
    assert "not TTFT" in result.stdout
    assert "Latency (ms)" not in result.stdout
