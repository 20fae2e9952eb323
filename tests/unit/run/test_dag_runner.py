"""The DAG runner's scheduling, against an in-process client that answers after a delay (the
real client over loopback: tests/integration/test_dag_tasks.py): dependency order over random
DAGs, the step limit, live upstream outputs in prompts, timeouts skipping dependents."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.records import (
    ErrorCategory,
    Reply,
    RequestError,
    RequestRecord,
    RequestSpec,
    SendContext,
    Status,
)
from llmbench.run.dag import DagDriver
from llmbench.tasks import StepStatus, TaskRecord, TaskStatus
from llmbench.workload.dag import DagTask, build_tasks


class EchoClient:
    """Answers `out:<item id>` after `delay_s` (per item id, else `default_s`); logs prompts."""

    def __init__(self, default_s: float = 0.002, delays: dict[str, float] | None = None) -> None:
        self.default_s = default_s
        self.delays = delays or {}
        self.prompts: dict[str, str] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, spec: RequestSpec, ctx: SendContext) -> RequestRecord:
        return (await self.converse(spec, ctx)).record

    async def converse(self, spec: RequestSpec, ctx: SendContext) -> Reply:
        self.prompts[spec.item_id] = spec.prompt
        sent = time.monotonic_ns()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delays.get(spec.step_id or "", self.default_s))
        except asyncio.CancelledError:
            record = RequestRecord(
                ctx.request_id, ctx.target_id, spec.item_id, 0, Status.ERROR, ctx.scheduled_ns,
                sent, task_id=spec.task_id, step_id=spec.step_id,
                error=RequestError(ErrorCategory.CANCELLED, "cancelled while in flight"),
            )  # fmt: skip
            return Reply(record, ())
        finally:
            self.in_flight -= 1
        end = time.monotonic_ns()
        record = RequestRecord(
            ctx.request_id, ctx.target_id, spec.item_id, 0, Status.OK, ctx.scheduled_ns, sent,
            task_id=spec.task_id, step_id=spec.step_id, first_token_ns=end, end_ns=end,
        )  # fmt: skip
        return Reply(record, (f"out:{spec.item_id}",))


def _tasks(data: dict[str, Any]) -> list[DagTask]:
    return build_tasks(data, lambda loc: "test", "test")


def _run(
    tasks: list[DagTask], client: EchoClient, limit: int, repeat: int = 1
) -> tuple[list[TaskRecord], list[RequestRecord]]:
    done: list[TaskRecord] = []
    records: list[RequestRecord] = []
    driver = DagDriver(tasks, limit=limit, repeat=repeat, seed=3)
    asyncio.run(driver.run(client, target_id="t", sink=records.append, task_sink=done.append,
                           stop=None))  # fmt: skip
    return done, records


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 7))
    deps = [sorted(draw(st.sets(st.integers(0, j - 1), max_size=3))) if j else [] for j in range(n)]
    steps = []
    for j in range(n):
        reads = " ".join(f"[{{{{ steps.s{d}.output }}}}]" for d in deps[j])
        if draw(st.booleans()):
            step: dict[str, Any] = {"id": f"s{j}", "prompt": f"step {j} {reads}", "max_tokens": 4}
        else:
            latency = {"dist": "uniform", "low": 0, "high": 3}
            step = {"id": f"s{j}", "kind": "tool", "latency_ms": latency, "output": f"tool{j}"}
        step["depends_on"] = [f"s{d}" for d in deps[j]]
        steps.append(step)
    order = draw(st.permutations(steps))  # file order need not be a dependency order
    return {"tasks": [{"name": "t", "steps": list(order)}]}


@settings(max_examples=25, deadline=None)
@given(data=dags(), limit=st.integers(1, 4))
def test_every_step_starts_after_its_dependencies_end(data: dict[str, Any], limit: int) -> None:
    client = EchoClient()
    done, records = _run(_tasks(data), client, limit, repeat=2)
    assert len(done) == 2
    assert client.max_in_flight <= limit
    spec_steps = {s["id"]: s for s in data["tasks"][0]["steps"]}
    for task in done:
        assert task.status is TaskStatus.OK
        steps = {s.step_id: s for s in task.steps}
        for step in task.steps:
            assert step.status is StepStatus.OK
            for dep in step.depends_on:
                assert steps[dep].ended_ns is not None
                assert step.started_ns is not None
                assert step.started_ns >= steps[dep].ended_ns
            spec = spec_steps[step.step_id]
            if "prompt" in spec:  # the live outputs of its dependencies are in its prompt
                prompt = client.prompts[f"{task.task_id}/{step.step_id}"]
                for dep in step.depends_on:
                    upstream = spec_steps[dep]
                    live = (
                        f"out:{task.task_id}/{dep}" if "prompt" in upstream else upstream["output"]
                    )
                    assert f"[{live}]" in prompt
    assert {r.task_id for r in records} <= {t.task_id for t in done}


def test_sequential_mode_runs_one_step_at_a_time_in_priority_order() -> None:
    data = {"tasks": [
        {"name": "low", "steps": [{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "y"}]},
        {"name": "high", "priority": 5, "steps": [{"id": "a", "prompt": "x"}]},
    ]}  # fmt: skip
    client = EchoClient()
    done, records = _run(_tasks(data), client, limit=1)
    assert client.max_in_flight == 1
    assert [r.task_id for r in records] == ["high-0", "low-0", "low-0"]
    assert [t.name for t in done] == ["high", "low"]


def test_a_timed_out_step_skips_its_dependents_only() -> None:
    data = {"tasks": [{"name": "t", "steps": [
        {"id": "slow", "prompt": "x", "timeout_s": 0.05},
        {"id": "after", "prompt": "{{ steps.slow.output }}", "depends_on": ["slow"]},
        {"id": "later", "kind": "tool", "latency_ms": {"dist": "constant", "value": 1},
         "depends_on": ["after"]},
        {"id": "other", "prompt": "y"},
    ]}]}  # fmt: skip
    client = EchoClient(delays={"slow": 5.0})
    start = time.monotonic()
    (task,), records = _run(_tasks(data), client, limit=4)
    assert time.monotonic() - start < 2  # cut at 50 ms, not waited for
    steps = {s.step_id: s for s in task.steps}
    assert steps["slow"].status is StepStatus.TIMEOUT
    assert steps["after"].status is StepStatus.SKIPPED
    assert steps["later"].status is StepStatus.SKIPPED
    assert steps["other"].status is StepStatus.OK
    assert task.status is TaskStatus.TIMEOUT
    assert "'slow' timed out" in task.error.message  # type: ignore[union-attr]
    # the cut request is kept as a record (cancelled), never lost
    assert {r.step_id for r in records} == {"slow", "other"}
    assert steps["slow"].ended_ns - steps["slow"].started_ns < 1e9  # type: ignore[operator]


def test_the_task_timeout_cuts_what_still_runs() -> None:
    data = {"tasks": [{"name": "t", "timeout_s": 0.15, "steps": [
        {"id": "a", "prompt": "x"},
        {"id": "b", "prompt": "y", "depends_on": ["a"]},
        {"id": "c", "prompt": "z", "depends_on": ["b"]},
    ]}]}  # fmt: skip
    client = EchoClient(default_s=0.1)
    (task,), _ = _run(_tasks(data), client, limit=2)
    steps = {s.step_id: s for s in task.steps}
    assert steps["a"].status is StepStatus.OK
    assert steps["b"].status is StepStatus.TIMEOUT
    assert steps["c"].status is StepStatus.SKIPPED
    assert task.status is TaskStatus.TIMEOUT
    assert task.completion_ns is not None
    assert 0.15e9 <= task.completion_ns < 0.4e9  # cut at its timeout, kept with that time


def test_a_stopped_run_keeps_every_task_as_cancelled() -> None:
    data = {"tasks": [{"name": "t", "steps": [
        {"id": "a", "prompt": "x"},
        {"id": "b", "prompt": "y", "depends_on": ["a"]},
    ]}]}  # fmt: skip
    client = EchoClient(default_s=5.0)
    done: list[TaskRecord] = []
    records: list[RequestRecord] = []

    async def go() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, stop.set)
        driver = DagDriver(_tasks(data), limit=1, repeat=3)
        outcome = await driver.run(client, target_id="t", sink=records.append,
                                   task_sink=done.append, stop=stop)  # fmt: skip
        assert outcome.stop_reason.value == "interrupted"

    start = time.monotonic()
    asyncio.run(go())
    assert time.monotonic() - start < 2
    assert sorted(t.task_id for t in done) == ["t-0", "t-1", "t-2"]
    assert {t.status for t in done} == {TaskStatus.CANCELLED}
    assert len(records) == 1  # the one request in flight, kept as cancelled
    assert records[0].error is not None
    first = next(t for t in done if t.task_id == "t-0")
    assert [s.status for s in first.steps] == [StepStatus.ERROR, StepStatus.SKIPPED]
    never = next(t for t in done if t.task_id == "t-2")
    assert never.ended_ns is None  # never started: counted, not timed
