"""The simulator's A2A face in process (aiohttp's test server on loopback): JSON-RPC errors by
the book, the agent card, tasks/get on a task sent without blocking, the key when one is set."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from llmbench.sim.server.app import build_app
from llmbench.sim.server.config import SimConfig

MESSAGE = {"kind": "message", "role": "user", "messageId": "m", "parts": [{"kind": "text",
           "text": "a b c"}], "metadata": {"llmbench": {"max_tokens": 10}}}  # fmt: skip


async def _calls(
    bodies: list[Any], *, api_key: str | None = None, headers: dict[str, str] | None = None
) -> list[Any]:
    app = build_app(SimConfig(ttft_ms=2.0, itl_ms=0.5, api_key=api_key))
    async with TestClient(TestServer(app)) as client:
        out = []
        for body in bodies:
            data = body if isinstance(body, bytes) else None
            resp = await client.post(
                "/a2a", data=data, json=None if data else body, headers=headers
            )
            out.append((resp.status, await resp.json()))
        return out


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        ({"jsonrpc": "1.0", "id": 1, "method": "message/send", "params": {}}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "params": {}}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks/list", "params": {}}, -32601),
        ({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {}}, -32602),
        (
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "message/send",
                "params": {"message": {"parts": []}},
            },
            -32602,
        ),
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "nope"}}, -32001),
    ],
)
def test_json_rpc_errors_by_the_book(body: Any, code: int) -> None:
    [(status, answer)] = asyncio.run(_calls([body]))
    assert status == 200
    assert answer["jsonrpc"] == "2.0"
    assert answer["error"]["code"] == code
    assert answer["id"] == (None if isinstance(body, bytes) else body.get("id"))


def test_a_task_sent_without_blocking_runs_on_and_tasks_get_sees_it_end() -> None:
    async def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        app = build_app(SimConfig(ttft_ms=20.0, itl_ms=1.0))
        async with TestClient(TestServer(app)) as client:
            card = await (await client.get("/.well-known/agent-card.json")).json()
            params = {"message": MESSAGE, "configuration": {"blocking": False}}
            send = {"jsonrpc": "2.0", "id": "s", "method": "message/send", "params": params}
            first = (await (await client.post("/a2a", json=send)).json())["result"]
            await asyncio.sleep(0.2)
            get = {
                "jsonrpc": "2.0",
                "id": "g",
                "method": "tasks/get",
                "params": {"id": first["id"]},
            }
            later = (await (await client.post("/a2a", json=get)).json())["result"]
            return card, first, later

    card, first, later = asyncio.run(run())
    assert card["capabilities"]["streaming"] is True
    assert card["url"].endswith("/a2a")
    assert first["status"]["state"] == "submitted"  # answered at once
    assert later["status"]["state"] == "completed"
    text = "".join(p["text"] for p in later["artifacts"][0]["parts"])
    assert len(text.split()) == 10  # every token of the answer, in one artifact


def test_a_key_is_required_when_set() -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "x"}}
    [(status, _)] = asyncio.run(_calls([body], api_key="k1"))
    assert status == 401
    [(status, answer)] = asyncio.run(
        _calls([body], api_key="k1", headers={"Authorization": "Bearer k1"})
    )
    assert (status, answer["error"]["code"]) == (200, -32001)
