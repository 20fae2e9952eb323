"""A request of a session names it: the `X-Session-Id` header and the body's `user` field; a
request of no session carries neither."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from llmbench.clients import OpenAIClient
from llmbench.records import RequestSpec, SendContext

if TYPE_CHECKING:
    from conftest import CannedServer

CHAT = "/v1/chat/completions"
CTX = SendContext(request_id="req-1", target_id="t", worker_id=0, scheduled_ns=0)


def send_both(server: CannedServer) -> None:
    async def main() -> None:
        async with OpenAIClient(base_url=server.url, model="m") as client:
            plain = RequestSpec(item_id="a", prompt="hi", max_tokens=2)
            turn = RequestSpec(item_id="b", prompt="hi", max_tokens=2, session_id="session-3",
                               turn=2)  # fmt: skip
            await client.send(plain, CTX)
            await client.send(turn, CTX)

    asyncio.run(main())


def test_a_session_turn_names_its_session_in_header_and_body(server: CannedServer) -> None:
    server.route(CHAT, b"data: [DONE]\n\n")
    send_both(server)
    plain, turn = server.requests
    assert "X-Session-Id" not in plain.headers
    assert "user" not in json.loads(plain.body)
    assert turn.headers["X-Session-Id"] == "session-3"
    assert json.loads(turn.body)["user"] == "session-3"
