"""A2A results → the task record, on hand-built JSON-RPC objects with small integer times:
both wire shapes (0.3 `kind` tags, later field names and TASK_STATE_* states), the states
that stop a task, and malformed answers as protocol or rpc errors."""

from __future__ import annotations

from typing import Any

import pytest

from llmbench.clients.a2a import RpcFault, TaskWatch, normalized_state, result_kind, rpc_result
from llmbench.clients.http import RequestFault
from llmbench.records import ErrorCategory, RequestSpec, SendContext
from llmbench.tasks import TaskStatus

SPEC = RequestSpec(item_id="i", prompt="p", max_tokens=4)
CTX = SendContext("r", "t", 0, scheduled_ns=90)


def status(state: str, **more: Any) -> dict[str, Any]:
    return {"kind": "status-update", "taskId": "T", "status": {"state": state}, **more}


def test_a_streamed_task_is_accepted_at_its_first_id_and_ends_at_its_terminal_state() -> None:
    watch = TaskWatch(SPEC, CTX, sent_ns=100)
    watch.on_result({"kind": "task", "id": "T", "status": {"state": "submitted"}}, 110, "stream")
    watch.on_result(status("working"), 150, "stream")
    artifact = {"kind": "artifact-update", "taskId": "T", "artifact": {"artifactId": "a"}}
    watch.on_result(artifact, 170, "stream")
    assert not watch.stopped
    watch.on_result(status("completed", final=True), 190, "stream")
    assert watch.stopped
    record = watch.record(None)
    assert record.status is TaskStatus.OK
    assert (record.submitted_ns, record.accepted_ns, record.ended_ns) == (100, 110, 190)
    assert record.completion_ns == 90  # 190 - 100
    assert [e.kind for e in record.events] == [
        "task", "status-update", "artifact-update", "status-update",
    ]  # fmt: skip
    assert record.events[2].event_id == "a"
    assert record.provider_task_id == "T"


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("TASK_STATE_INPUT_REQUIRED", TaskStatus.INTERRUPTED),
        ("auth-required", TaskStatus.INTERRUPTED),
        ("TASK_STATE_FAILED", TaskStatus.ERROR),
        ("rejected", TaskStatus.ERROR),
        ("canceled", TaskStatus.CANCELLED),
    ],
)
def test_later_versions_field_named_results_and_states_are_read(
    state: str, status: TaskStatus
) -> None:
    watch = TaskWatch(SPEC, CTX, sent_ns=0)
    update = {"statusUpdate": {"taskId": "T", "status": {"state": state}}}
    watch.on_result(update, 5, "stream")
    assert watch.stopped
    record = watch.record(None)
    assert record.status is status
    assert record.provider_state == normalized_state(state)
    assert record.events[0].kind == "status-update"
    if status is TaskStatus.ERROR:
        assert record.error is not None
        assert record.error.category == f"task_{record.provider_state}"


def test_a_direct_message_is_a_finished_answer_without_a_task() -> None:
    watch = TaskWatch(SPEC, CTX, sent_ns=0)
    watch.on_result({"kind": "message", "role": "agent", "parts": []}, 7, "response")
    record = watch.record(None)
    assert record.status is TaskStatus.OK
    assert (record.accepted_ns, record.ended_ns, record.provider_task_id) == (7, 7, None)


@pytest.mark.parametrize(
    "obj",
    [
        [1, 2],
        {"jsonrpc": "1.0", "result": {}},
        {"jsonrpc": "2.0", "id": 1},  # neither result nor error
    ],
)
def test_what_is_not_a_json_rpc_response_is_a_protocol_error(obj: Any) -> None:
    with pytest.raises(RequestFault) as caught:
        rpc_result(obj)
    assert caught.value.category is ErrorCategory.PROTOCOL
    assert not isinstance(caught.value, RpcFault)


def test_an_error_object_is_an_rpc_error_naming_its_code() -> None:
    with pytest.raises(RpcFault, match="-32001"):
        rpc_result({"jsonrpc": "2.0", "id": 1, "error": {"code": -32001, "message": "nope"}})


def test_a_result_of_no_known_kind_is_a_protocol_error() -> None:
    with pytest.raises(RequestFault, match="no known kind"):
        result_kind({"surprise": {}})


def test_the_key_goes_where_the_agent_card_says() -> None:
    from llmbench.clients.a2a import key_header

    api_key_card = {"securitySchemes": {"k": {"type": "apiKey", "in": "header", "name": "X-Key"}}}
    assert key_header(api_key_card, "Bearer s3") == {"X-Key": "s3"}
    bearer_card = {"securitySchemes": {"b": {"type": "http", "scheme": "bearer"}, "x": "junk"}}
    assert key_header(bearer_card, "Bearer s3") == {"Authorization": "Bearer s3"}
    assert key_header({}, "Bearer s3") == {"Authorization": "Bearer s3"}
    assert key_header(api_key_card, None) == {}
