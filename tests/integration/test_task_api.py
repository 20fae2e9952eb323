"""Agent-service tasks against the simulator's task face (a real process over loopback): what
the driver records agrees with the simulator's ground-truth log (/sim/task-log/<id>)."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tests.integration.conftest import StartSim

from llmbench.clients.taskapi_spec import MANUS, TaskApiSpec, load_task_api_spec
from llmbench.config.task_api import TaskApiSettings
from llmbench.errors import ConfigError
from llmbench.metrics.tasks import summarize_tasks
from llmbench.run.taskapi import Pacing, TaskApiDriver
from llmbench.tasks import TaskRecord, TaskStatus

MS = 1_000_000
WEBHOOK_TOLERANCE_NS = 10 * MS  # the bound: within 10 ms of the simulator's log
POLL_SLACK_NS = 5 * MS  # "within one poll interval plus a few ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sim_log(base: str, provider_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/sim/task-log/{provider_id}") as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def run_tasks(
    base: str,
    settings: TaskApiSettings,
    pacing: Pacing,
    api_key: str | None = None,
    spec: TaskApiSpec = MANUS,
) -> list[TaskRecord]:
    records: list[TaskRecord] = []
    prompts = itertools.cycle(["plan a short trip", "summarize the news"])
    driver = TaskApiDriver(base, spec, settings, pacing, prompts, api_key)

    async def main() -> None:
        await driver.run(
            None,  # type: ignore[arg-type]
            target_id="sim", sink=lambda r: None, task_sink=records.append, stop=None,
        )  # fmt: skip

    asyncio.run(main())
    return sorted(records, key=lambda r: r.task_id)


def first_event_ns(record: TaskRecord) -> int:
    return min(event.arrived_ns for event in record.events)


def test_webhook_times_agree_with_the_simulator_log(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=30, itl_ms=5, task_options="steps:2,tokens:4,tool_ms:20")
    port = free_port()
    settings = TaskApiSettings(
        poll=False, webhook_listen=f"127.0.0.1:{port}",
        webhook_public_url=f"http://127.0.0.1:{port}/hooks", task_timeout_s=20,
    )  # fmt: skip
    records = run_tasks(base, settings, Pacing(tasks=4, concurrency=2))
    assert [r.status for r in records] == [TaskStatus.OK] * 4
    for record in records:
        assert record.provider_task_id is not None
        truth = sim_log(base, record.provider_task_id)
        assert record.ended_via == "webhook"
        assert record.ended_not_before_ns is None  # a webhook's end is not bounded by a poll
        assert record.accepted_ns is not None
        assert 0 <= record.accepted_ns - truth["accepted_ns"] <= WEBHOOK_TOLERANCE_NS
        created = truth["webhooks"][0]["sent_ns"][0]
        assert 0 <= first_event_ns(record) - created <= WEBHOOK_TOLERANCE_NS
        assert truth["first_event_ns"] - created <= WEBHOOK_TOLERANCE_NS
        assert record.ended_ns is not None
        assert 0 <= record.ended_ns - truth["stopped_ns"] <= WEBHOOK_TOLERANCE_NS
        assert record.polls == 0


def test_polled_completion_is_within_one_interval(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=30, itl_ms=5, task_options="steps:2,tokens:4,tool_ms:20")
    interval_ms = 40.0
    settings = TaskApiSettings(poll_interval_ms=interval_ms, poll_jitter=0.2, task_timeout_s=20)
    records = run_tasks(base, settings, Pacing(tasks=4, concurrency=2))
    assert [r.status for r in records] == [TaskStatus.OK] * 4
    bound_ns = round(interval_ms * 1.2 * MS) + POLL_SLACK_NS
    for record in records:
        assert record.provider_task_id is not None
        truth = sim_log(base, record.provider_task_id)
        assert record.ended_via == "poll"
        assert record.ended_ns is not None
        assert record.ended_not_before_ns is not None
        late_ns = record.ended_ns - truth["stopped_ns"]
        assert 0 <= late_ns <= bound_ns
        # the stated bounds hold the true end
        assert record.ended_not_before_ns <= truth["stopped_ns"] <= record.ended_ns
        assert 0 <= first_event_ns(record) - truth["first_event_ns"] <= bound_ns
        assert record.polls == truth["polls"] >= 2
        assert record.credits == truth["credits"] > 0  # task.detail's credit_usage
        corrected = record.completion_corrected_ns
        assert corrected is not None
        assert record.completion_ns is not None
        assert corrected <= record.completion_ns


def test_polling_and_webhooks_together_measure_their_difference(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=20, itl_ms=5, task_options="steps:1,tokens:4")
    port = free_port()
    settings = TaskApiSettings(
        poll_interval_ms=50, webhook_listen=f"127.0.0.1:{port}",
        webhook_public_url=f"http://127.0.0.1:{port}/hooks", task_timeout_s=20,
    )  # fmt: skip
    records = run_tasks(base, settings, Pacing(tasks=3, concurrency=3))
    for record in records:
        assert record.status is TaskStatus.OK
        assert record.ended_webhook_ns is not None
        assert record.ended_poll_ns is not None  # polling went on to see the end itself
        assert record.ended_ns == min(record.ended_webhook_ns, record.ended_poll_ns)
        assert record.ended_via == ("webhook" if record.ended_ns == record.ended_webhook_ns
                                    else "poll")  # fmt: skip
        # polling keeps its own schedule: it sees the end within one interval of the webhook
        assert abs(record.ended_poll_ns - record.ended_webhook_ns) <= 50 * 1.1 * MS + POLL_SLACK_NS
        assert {e.via for e in record.events} == {"poll", "webhook"}
    block = summarize_tasks(records)
    assert block["service"]["poll_minus_webhook_ms"]["n"] == 3


def test_throttled_polls_wait_their_retry_after(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:1,tokens:2,poll_429:1,retry_after:1")
    settings = TaskApiSettings(poll_interval_ms=20, poll_jitter=0, task_timeout_s=2.5)
    [record] = run_tasks(base, settings, Pacing(tasks=1))
    # Every poll is refused: one a second (Retry-After: 1), not one every 20 ms.
    assert record.status is TaskStatus.TIMEOUT
    assert record.polls_throttled == record.polls
    assert 2 <= record.polls <= 3
    assert record.throttled_ns >= (record.polls - 1) * 1_000 * MS


def test_a_task_that_never_finishes_is_cancelled_at_its_timeout(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:1,tokens:2,never:1")
    settings = TaskApiSettings(poll_interval_ms=20, task_timeout_s=0.4)
    [record] = run_tasks(base, settings, Pacing(tasks=1))
    assert record.status is TaskStatus.TIMEOUT
    assert record.error is not None
    assert record.error.category == "timeout"
    assert record.ended_ns is not None
    assert 400 * MS <= record.ended_ns - record.submitted_ns <= 600 * MS
    assert record.provider_task_id is not None
    truth = sim_log(base, record.provider_task_id)
    assert truth["status"] == "stopped"  # cancelled at the service (task.stop)


@pytest.mark.parametrize("wait", ["wait:1", "ask:1"])  # confirmAction, or sendMessage
def test_waiting_is_answered_and_kept_out_of_agent_time(start_sim: StartSim, wait: str) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options=f"steps:2,tokens:2,{wait}")
    settings = TaskApiSettings(poll_interval_ms=20, answer_after_ms=150, task_timeout_s=10)
    [record] = run_tasks(base, settings, Pacing(tasks=1))
    assert record.status is TaskStatus.OK
    assert record.provider_task_id is not None
    truth = sim_log(base, record.provider_task_id)
    # seen by polling: waiting starts up to one interval late; it ends when llmbench answered
    assert 150 * MS <= record.waiting_ns <= truth["waiting_ns"] + 5 * MS
    assert "waiting" in {e.status for e in record.events}


@pytest.mark.parametrize(
    ("options", "category"),
    [("vanish:1", "vanished"), ("error:1", "task_failed")],
)
def test_faults_become_categorized_task_errors(
    start_sim: StartSim, options: str, category: str
) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options=f"steps:2,tokens:2,{options}")
    settings = TaskApiSettings(poll_interval_ms=20, task_timeout_s=5)
    [record] = run_tasks(base, settings, Pacing(tasks=1))
    assert record.status is TaskStatus.ERROR
    assert record.error is not None
    assert record.error.category == category


def test_a_wrong_key_is_an_error_record_without_the_key(
    start_sim: StartSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_TASK_KEY", "key_right_0123456789abcdef")
    base = start_sim(ttft_ms=10, itl_ms=2, extra_args=["--api-key-env", "SIM_TASK_KEY"])
    secret = "key_wrong_0123456789abcdef"
    settings = TaskApiSettings(poll_interval_ms=20, task_timeout_s=5)
    records = run_tasks(base, settings, Pacing(tasks=2), api_key=secret)
    for record in records:
        assert record.status is TaskStatus.ERROR
        assert record.error is not None
        assert record.error.http_status == 401
        assert record.error.raw_body
        assert "unauthenticated" in record.error.raw_body
        assert secret not in record.model_dump_json()


EXAMPLE = Path(__file__).parents[2] / "examples" / "task-api.yaml"


def test_the_generic_adapter_drives_the_task_face_from_yaml_alone(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=20, itl_ms=5, task_options="steps:2,tokens:4,tool_ms:10,wait:1")
    spec = load_task_api_spec(EXAMPLE)
    settings = TaskApiSettings(poll_interval_ms=30, answer_after_ms=50, task_timeout_s=10)
    records = run_tasks(base, settings, Pacing(tasks=2), spec=spec)
    assert [r.status for r in records] == [TaskStatus.OK] * 2
    for record in records:
        assert record.provider_task_id is not None
        truth = sim_log(base, record.provider_task_id)
        assert truth["status"] == "stopped"
        assert record.ended_ns is not None
        assert 0 <= record.ended_ns - truth["stopped_ns"] <= 30 * 1.1 * MS + POLL_SLACK_NS
        assert record.waiting_ns > 0  # answered by task.confirmAction after 50 ms
        assert len([e for e in record.events if e.kind == "assistant_message"]) == 2


def test_a_bad_task_api_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("id_path: task_id", "id_path: 3\nid_pth: x"))
    with pytest.raises(ConfigError) as caught:
        load_task_api_spec(bad)
    message = str(caught.value)
    assert "bad.yaml:" in message
    assert "id_pth" in message


@pytest.mark.parametrize(
    ("options", "category", "status"),
    [
        ("poll_503:1", "http_5xx", 503),
        ("poll_garbage:1", "protocol", 200),
        ("poll_cut:1", "protocol", None),
    ],
)
def test_failing_polls_end_the_task_in_a_categorized_error(
    start_sim: StartSim, options: str, category: str, status: int | None
) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options=f"steps:1,tokens:2,{options}")
    settings = TaskApiSettings(poll_interval_ms=10, task_timeout_s=5)
    [record] = run_tasks(base, settings, Pacing(tasks=1))
    assert record.status is TaskStatus.ERROR
    assert record.error is not None
    assert record.error.category == category
    assert record.error.http_status == status
    if status is not None:  # an answer cut mid-body has no status line worth keeping
        assert record.error.raw_body  # kept for the post-mortem
    assert record.polls == 3  # three failures in a row


def test_duplicated_webhooks_are_taken_once_and_lost_ones_caught_by_polling(
    start_sim: StartSim,
) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:1,tokens:2,webhook_dup:1")
    port = free_port()
    hooks = {"webhook_listen": f"127.0.0.1:{port}",
             "webhook_public_url": f"http://127.0.0.1:{port}/hooks"}  # fmt: skip
    settings = TaskApiSettings(poll=False, task_timeout_s=5, **hooks)
    records = run_tasks(base, settings, Pacing(tasks=2))
    for record in records:
        assert record.status is TaskStatus.OK
        ids = [e.event_id for e in record.events]
        assert len(ids) == len(set(ids)) == 3  # created, progress, stopped: once each
    lossy = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:1,tokens:2,webhook_loss:1")
    port = free_port()
    both = TaskApiSettings(
        poll_interval_ms=20, task_timeout_s=5, webhook_listen=f"127.0.0.1:{port}",
        webhook_public_url=f"http://127.0.0.1:{port}/hooks",
    )  # fmt: skip
    [record] = run_tasks(lossy, both, Pacing(tasks=1))
    assert record.status is TaskStatus.OK
    assert record.ended_via == "poll"
    assert record.ended_webhook_ns is None


def test_stopping_the_run_keeps_tasks_in_flight_as_cancelled(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:1,tokens:2,never:1")
    settings = TaskApiSettings(poll_interval_ms=20, task_timeout_s=30)
    records: list[TaskRecord] = []
    driver = TaskApiDriver(base, MANUS, settings, Pacing(tasks=3, concurrency=3),
                           itertools.cycle(["x y"]), None)  # fmt: skip

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.4, stop.set)
        outcome = await driver.run(
            None,  # type: ignore[arg-type]
            target_id="sim", sink=lambda r: None, task_sink=records.append, stop=stop,
        )  # fmt: skip
        assert outcome.stop_reason.value == "interrupted"

    asyncio.run(main())
    assert [r.status for r in records] == [TaskStatus.CANCELLED] * 3
    for record in records:
        assert record.provider_task_id is not None
        assert sim_log(base, record.provider_task_id)["status"] == "stopped"  # task.stop sent


def test_one_wait_seen_by_both_channels_counts_once(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:2,tokens:2,wait:1")
    port = free_port()
    settings = TaskApiSettings(
        poll_interval_ms=30, answer_after_ms=120, task_timeout_s=10,
        webhook_listen=f"127.0.0.1:{port}", webhook_public_url=f"http://127.0.0.1:{port}/h",
    )  # fmt: skip
    [record] = run_tasks(base, settings, Pacing(tasks=1))
    assert record.status is TaskStatus.OK
    assert record.provider_task_id is not None
    truth = sim_log(base, record.provider_task_id)
    waits = [e for e in record.events if e.status == "waiting"]
    assert {e.via for e in waits} == {"poll", "webhook"}  # seen both ways ...
    assert 120 * MS <= record.waiting_ns <= truth["waiting_ns"] + 5 * MS  # ... counted once


def test_slow_acceptance_is_measured_to_the_log(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:1,tokens:2,accept_ms:150")
    settings = TaskApiSettings(poll_interval_ms=20, task_timeout_s=5)
    [record] = run_tasks(base, settings, Pacing(tasks=1))
    assert record.status is TaskStatus.OK
    assert record.provider_task_id is not None
    assert record.accepted_ns is not None
    truth = sim_log(base, record.provider_task_id)
    assert record.accepted_ns - record.submitted_ns >= 150 * MS
    assert 0 <= record.accepted_ns - truth["accepted_ns"] <= WEBHOOK_TOLERANCE_NS


def test_an_open_loop_submits_each_task_at_its_offset_never_early(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:1,tokens:2")
    offsets = (0, 60 * MS, 120 * MS, 180 * MS)
    settings = TaskApiSettings(poll_interval_ms=20, task_timeout_s=5)
    records = run_tasks(base, settings, Pacing(tasks=4, offsets_ns=offsets))
    assert [r.status for r in records] == [TaskStatus.OK] * 4
    scheduled = [r.scheduled_ns - records[0].scheduled_ns for r in records]
    assert scheduled == list(offsets)
    for record in records:
        assert 0 <= record.submitted_ns - record.scheduled_ns <= 5 * MS


def test_a_webhook_only_run_answers_a_waiting_task(start_sim: StartSim) -> None:
    base = start_sim(ttft_ms=10, itl_ms=2, task_options="steps:2,tokens:2,wait:1")
    port = free_port()
    settings = TaskApiSettings(
        poll=False, answer_after_ms=50, task_timeout_s=10, webhook_listen=f"127.0.0.1:{port}",
        webhook_public_url=f"http://127.0.0.1:{port}/h",
    )  # fmt: skip
    [record] = run_tasks(base, settings, Pacing(tasks=1))
    assert record.status is TaskStatus.OK
    assert record.polls == 1  # the one look for what the task waits for
    assert record.waiting_ns >= 50 * MS


def test_a_history_longer_than_one_page_still_shows_its_end(start_sim: StartSim) -> None:
    # 210 steps: 213 messages, more than one listMessages page holds (at most 200)
    base = start_sim(ttft_ms=1, itl_ms=1, task_options="steps:210,tokens:1,tool_ms:0")
    settings = TaskApiSettings(poll_interval_ms=1000, task_timeout_s=10)
    [record] = run_tasks(base, settings, Pacing(tasks=1))
    assert record.status is TaskStatus.OK
    assert record.ended_via == "poll"
