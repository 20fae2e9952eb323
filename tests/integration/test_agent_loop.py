"""The phone-agent loop against the simulator as a real process (reply agent): what each step
sends, the thinking-end time against the simulator's log of the action chunk, actuation kept
out of model time, and the history policy's effect on the prefix cache."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.request
from collections.abc import Callable
from typing import Any

from llmbench.clients.openai import OpenAIClient
from llmbench.config.agent_loop import AgentLoopSpec
from llmbench.metrics.agent_loop import agent_loop_summary
from llmbench.metrics.tasks import summarize_tasks
from llmbench.records import RequestRecord
from llmbench.run.agent_loop import AgentLoop
from llmbench.tasks import TaskRecord, TaskStatus

StartSim = Callable[..., str]
FAST = {"tap_s": 0.15, "type_s": 0.15, "other_s": 0.15, "double_tap_gap_s": 0.0}


def _spec(**fields: Any) -> AgentLoopSpec:
    base: dict[str, Any] = {"screen_size": "280x560", "max_tokens": 200, "actuation": FAST}
    return AgentLoopSpec.model_validate({**base, **fields})


def _run(base_url: str, spec: AgentLoopSpec) -> tuple[list[RequestRecord], list[TaskRecord]]:
    records: list[RequestRecord] = []
    tasks: list[TaskRecord] = []

    async def go() -> None:
        async with OpenAIClient(base_url=base_url, model="llmbench-sim") as client:
            await AgentLoop(spec, seed=3).run(
                client, target_id="sim", sink=records.append, task_sink=tasks.append, stop=None
            )

    asyncio.run(go())
    return records, tasks


def _log(base_url: str, request_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/sim/log/{request_id}", timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def test_each_step_carries_one_image_when_stripped_and_all_when_kept(start_sim: StartSim) -> None:
    base_url = start_sim(ttft_ms=5, itl_ms=1, reply="agent", agent_finish_after=4)
    for history, images in (("strip_images", [1, 1, 1, 1]), ("keep_images", [1, 2, 3, 4])):
        records, tasks = _run(base_url, _spec(history=history))
        assert [r.turn for r in records] == [0, 1, 2, 3]  # finished at the 4th step
        assert {r.session_id for r in records} == {"task-0"}
        assert [r.images for r in records] == images
        assert [_log(base_url, r.request_id)["images"] for r in records] == images
        prompts = [r.input_tokens or 0 for r in records]
        assert prompts == sorted(prompts)  # grows with the history
        assert len(set(prompts)) == 4
        (task,) = tasks
        assert task.status is TaskStatus.OK
        assert [s.kind for s in task.steps] == ["model", "actuation"] * 3 + ["model"]
        sizes = [r.payload_bytes or 0 for r in records]
        assert all(size > 0 for size in sizes)
        if history == "keep_images":  # each earlier screenshot is sent again
            assert sizes == sorted(sizes)
            assert sizes[3] > 3 * sizes[0] // 2


def test_thinking_end_is_the_simulators_action_chunk(start_sim: StartSim) -> None:
    base_url = start_sim(
        ttft_ms=20, itl_ms=4, reply="agent", agent_finish_after=3, agent_think_tokens=40
    )
    records, tasks = _run(base_url, _spec(tasks=2, concurrency=2))
    steps = {s.request_id: s for t in tasks for s in t.steps if s.kind == "model"}
    assert len(steps) == len(records) == 6
    for record in records:
        truth = _log(base_url, record.request_id)
        step = steps[record.request_id]
        assert truth["action_emit_ns"] is not None
        assert step.marker_ns is not None
        # the client's arrival of that chunk: after the simulator wrote it, within 5 ms
        assert 0 <= step.marker_ns - truth["action_emit_ns"] <= 5_000_000
        # the reply ends with the action: thinking ends at the last chunk
        assert step.marker_ns == record.sent_ns + record.chunk_offsets_ns[-1]


def test_actuation_waits_are_not_model_time(start_sim: StartSim) -> None:
    base_url = start_sim(ttft_ms=30, itl_ms=2, reply="agent", agent_finish_after=3)
    actuation = {**FAST, "tap_s": 0.3}
    _, tasks = _run(base_url, _spec(actuation=actuation))
    (task,) = tasks
    model = [s for s in task.steps if s.kind == "model"]
    acts = [s for s in task.steps if s.kind == "actuation"]
    assert len(model) == 3
    assert len(acts) == 2
    spans = sorted((s.started_ns or 0, s.ended_ns or 0) for s in task.steps)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
    assert all((s.ended_ns or 0) - (s.started_ns or 0) >= 300_000_000 for s in acts)
    block = agent_loop_summary(tasks, history="strip_images", markers=["do(action="])
    model_ms = sum((s.ended_ns or 0) - (s.started_ns or 0) for s in model) / 1e6
    assert block["model_ms"]["mean"] == model_ms
    assert model_ms < 3 * (30 + 40 * 2 + 50)  # three calls of ~30 + tokens·2 ms, no waits
    total_ms = (task.completion_ns or 0) / 1e6
    assert block["actuation_ms"]["mean"] >= 600
    # what is left is the client's own time between steps (screenshots are made in a thread)
    assert 0 <= total_ms - model_ms - block["actuation_ms"]["mean"] < 100
    assert abs(block["model_share"]["mean"] - model_ms / total_ms) < 1e-9


def test_stripping_history_images_lowers_the_cached_share(start_sim: StartSim) -> None:
    base_url = start_sim(reply="agent", agent_finish_after=4, extra_args=["--preset", "cloud-warm"])
    shares = {}
    for history in ("strip_images", "keep_images"):
        # another screen per policy: no image of one run is in the cache for the other; each
        # screenshot (30·40 or 31·40 tokens) is over the preset's 1,024-token caching minimum
        size = "840x1120" if history == "strip_images" else "868x1120"
        _, tasks = _run(base_url, _spec(history=history, screen_size=size))
        block = agent_loop_summary(tasks, history=history, markers=["do(action="])
        later = [row["cached_share"] for row in block["per_step"] if row["step"] > 0]
        assert len(later) == 3
        assert None not in later
        shares[history] = later
    # kept: all but the newest screenshot and message are the previous request's prefix, a
    # share that grows with the history (about 1/2, 2/3, 3/4)
    keep = shares["keep_images"]
    assert keep == sorted(keep)
    assert keep[0] > 0.4
    assert keep[2] > 0.65
    # stripped: the prefix breaks where the last screenshot was; the text history before it
    # is under the preset's 1,024-token minimum for caching
    assert max(shares["strip_images"]) < 0.2


def test_stop_cancels_the_tasks_and_keeps_their_records(start_sim: StartSim) -> None:
    base_url = start_sim(ttft_ms=5, itl_ms=1, reply="agent", agent_finish_after=50)
    spec = _spec(tasks=4, concurrency=2, actuation={**FAST, "tap_s": 30.0})
    records: list[RequestRecord] = []
    tasks: list[TaskRecord] = []

    async def go() -> float:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, stop.set)
        started = loop.time()
        async with OpenAIClient(base_url=base_url, model="llmbench-sim") as client:
            outcome = await AgentLoop(spec, seed=0).run(
                client, target_id="sim", sink=records.append, task_sink=tasks.append, stop=stop
            )
        assert outcome.stop_reason.value == "interrupted"
        return loop.time() - started

    elapsed_s = asyncio.run(go())
    assert elapsed_s < 5  # not the 30 s actuation waits
    # the two running tasks end cancelled in their first actuation wait; none other started
    assert sorted(t.task_id for t in tasks) == ["task-0", "task-1"]
    assert all(t.status is TaskStatus.CANCELLED for t in tasks)
    assert all([s.kind for s in t.steps] == ["model"] for t in tasks)
    assert len(records) == 2
    assert all(r.ok for r in records)


def test_a_step_capped_task_is_censored_in_both_blocks(start_sim: StartSim) -> None:
    """A task cut at its step cap never finished: kept out of completion times (agent_loop and
    tasks blocks alike), counted as step-capped, and in the elapsed times at its cut."""
    base_url = start_sim(ttft_ms=5, itl_ms=1, reply="agent", agent_finish_after=3)
    _, finished = _run(base_url, _spec(max_steps=3))  # finishes at its third step
    _, capped = _run(base_url, _spec(max_steps=2))  # cut before it
    assert [t.status for t in finished] == [TaskStatus.OK]
    assert [t.status for t in capped] == [TaskStatus.TIMEOUT]
    assert capped[0].error is not None
    assert capped[0].error.category == "step_cap"
    tasks = finished + capped
    loop = agent_loop_summary(tasks, history="strip_images", markers=["do(action="])
    block = summarize_tasks(tasks)
    done_ms = (finished[0].completion_ns or 0) / 1e6
    cut_ms = (capped[0].completion_ns or 0) / 1e6
    for completion in (loop["task_completion_ms"], block["task_completion_ms"]):
        assert completion["n"] == 1
        assert completion["max"] == done_ms
    for elapsed in (loop["task_elapsed_ms"], block["task_elapsed_ms"]):
        assert elapsed["n"] == 2
        assert sorted([elapsed["min"], elapsed["max"]]) == sorted([done_ms, cut_ms])
    assert loop["censored"] == {"step_cap": 1}
    assert block["censoring"]["censored"] == 1
    assert block["censoring"]["by_category"] == {"step_cap": 1}
    assert loop["by_status"]["timeout"] == block["counts"]["timeout"] == 1
