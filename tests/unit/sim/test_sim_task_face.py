"""The simulator's task face in process (aiohttp's test server over loopback): options, the
envelope, bad requests, auth, the ground-truth log, signatures that verify with the served key."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from llmbench.sim.server.app import build_app
from llmbench.sim.server.config import SimConfig
from llmbench.sim.server.task_state import TaskOptionError, TaskOptions
from llmbench.sim.server.webhooks import Signer, signed_content

BODY = {"message": {"content": [{"type": "text", "text": "hello there"}]}}


def test_options_merge_and_refuse_nonsense() -> None:
    merged = TaskOptions().merged("steps:3,tool_ms:5,wait:1")
    assert (merged.steps, merged.tool_ms, merged.wait) == (3, 5.0, 1.0)
    for bad in ("steps", "bogus:1", "wait:2", "steps:x", "tool_ms:-1"):
        with pytest.raises(TaskOptionError):
            TaskOptions().merged(bad)


def test_a_signature_verifies_with_the_served_public_key() -> None:
    signer = Signer()
    key = serialization.load_pem_public_key(signer.public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    signature = base64.b64decode(signer.sign("1700000000", "http://h/x?a=1", b"{}"))
    content = signed_content("1700000000", "http://h/x?a=1", b"{}")
    key.verify(signature, content, padding.PKCS1v15(), hashes.SHA256())


async def _with_client(config: SimConfig, check: Any) -> None:
    async with TestClient(TestServer(build_app(config))) as client:
        await check(client)


def test_a_task_runs_its_plan_and_logs_it() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        created = await client.post("/v2/task.create", json=BODY)
        data = await created.json()
        assert data["ok"] is True
        assert data["request_id"]
        task_id = data["task_id"]
        for _ in range(200):
            log = await (await client.get(f"/sim/task-log/{task_id}")).json()
            if log["stopped_ns"] is not None:
                break
            await asyncio.sleep(0.01)
        listed = await client.get(f"/v2/task.listMessages?task_id={task_id}&order=asc")
        messages = (await listed.json())["messages"]
        kinds = [m["type"] for m in messages]
        assert kinds == ["status_update", "plan_update", "assistant_message",
                         "assistant_message", "status_update"]  # fmt: skip
        assert messages[-1]["status_update"]["agent_status"] == "stopped"
        assert log["received_ns"] <= log["accepted_ns"] <= log["first_event_ns"]
        assert log["first_event_ns"] < log["first_message_ns"] < log["stopped_ns"]
        assert len(log["model_calls"]) == 2

    asyncio.run(_with_client(SimConfig(ttft_ms=5, itl_ms=1, task_options="tokens:3"), check))


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "code"),
    [
        ("post", "/v2/task.create", {"message": {}}, {}, 400, "invalid_argument"),
        ("post", "/v2/task.create", BODY, {"X-Sim-Task": "bogus:1"}, 400, "invalid_argument"),
        ("get", "/v2/task.listMessages?task_id=nope", None, {}, 404, "not_found"),
        (
            "post",
            "/v2/webhook.create",
            {"webhook": {"url": "ftp://x"}},
            {},
            400,
            "invalid_argument",
        ),
        ("post", "/v2/task.confirmAction", {"task_id": "nope"}, {}, 404, "not_found"),
    ],
)
def test_bad_requests_get_the_error_envelope(
    method: str, path: str, body: Any, headers: dict[str, str], status: int, code: str
) -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        response = await getattr(client, method)(path, json=body, headers=headers)
        assert response.status == status
        data = await response.json()
        assert data["ok"] is False
        assert data["error"]["code"] == code

    asyncio.run(_with_client(SimConfig(), check))


def test_the_key_is_checked_in_x_manus_api_key() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        missing = await client.get("/v2/webhook.publicKey")
        assert missing.status == 401
        assert "sk-" not in await missing.text()
        good = await client.get("/v2/webhook.publicKey", headers={"x-manus-api-key": "sk-sim-1"})
        assert (await good.json())["algorithm"] == "RSA-SHA256"

    asyncio.run(_with_client(SimConfig(api_key="sk-sim-1"), check))
