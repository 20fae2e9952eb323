"""list_models: the model ids of a target, or an EndpointError that says what to fix."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

from llmbench.clients import list_models
from llmbench.errors import EndpointError

if TYPE_CHECKING:
    from conftest import CannedServer

MODELS = "/v1/models"
KEY = "sk-live-0123456789abcdef"


def models(base_url: str, **kw: Any) -> list[str]:
    return asyncio.run(list_models(base_url, **kw))


def route_json(server: CannedServer, obj: Any, status: int = 200) -> None:
    server.route(MODELS, json.dumps(obj).encode(), status=status, content_type="application/json")


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_lists_model_ids(server: CannedServer, suffix: str) -> None:
    route_json(server, {"object": "list", "data": [{"id": "a", "object": "model"}, {"id": "b"}]})
    assert models(server.url + suffix, api_key=KEY, extra_headers={"X-Extra": "1"}) == ["a", "b"]
    seen = server.requests[0]
    assert (seen.method, seen.path) == ("GET", MODELS)
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.headers["X-Extra"] == "1"


def test_unreachable(closed_port_url: str) -> None:
    with pytest.raises(EndpointError, match="cannot reach") as info:
        models(closed_port_url)
    assert info.value.hint is not None
    assert "server is running" in info.value.hint


def test_slow_server_times_out(server: CannedServer) -> None:
    server.route(MODELS, 2.0, b"{}", content_type="application/json")
    with pytest.raises(EndpointError, match=r"no answer within 0\.2 s"):
        models(server.url, timeout_s=0.2)


@pytest.mark.parametrize(
    ("status", "hint"), [(401, "API key"), (404, "base URL"), (500, "server's logs")]
)
def test_error_status(server: CannedServer, status: int, hint: str) -> None:
    route_json(server, {"error": {"message": f"denied {KEY}"}}, status=status)
    with pytest.raises(EndpointError, match=f"HTTP {status}: denied") as info:
        models(server.url, api_key=KEY)
    assert KEY not in str(info.value)
    assert hint in str(info.value.hint)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"data": [{"name": "x"}]}'])
def test_not_a_model_list(server: CannedServer, body: bytes) -> None:
    server.route(MODELS, body, content_type="application/json")
    with pytest.raises(EndpointError, match="did not return a model list"):
        models(server.url)
