"""What a target tells about itself: Server and version headers, a version endpoint, the engine
guessed; and the simulator, which exposes vLLM's metric names, is not taken for vLLM."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from llmbench.clients.engines import detect_engine
from llmbench.clients.scrape import MetricsSource, describe_target
from llmbench.monitor.server_metrics import ScrapeFailure

if TYPE_CHECKING:
    from conftest import CannedServer


def test_a_vllm_like_target_describes_itself(server: CannedServer) -> None:
    server.server_header = "uvicorn"
    server.route("/version", b'{"version": "0.11.0"}', content_type="application/json")
    environment = asyncio.run(describe_target(server.url + "/v1"))
    assert environment.server_headers == ["uvicorn"]
    assert environment.version_endpoint == {"path": "/version", "version": "0.11.0"}
    assert environment.engine_guess["engine"] == "vllm"


def test_nothing_answers_nothing_is_claimed(server: CannedServer) -> None:
    environment = asyncio.run(describe_target(server.url))
    assert environment.version_endpoint is None
    assert environment.engine_guess["engine"] is None


def test_the_simulator_is_not_taken_for_vllm(server: CannedServer) -> None:
    server.route(
        "/metrics",
        b"llmbench_sim_running 0\nvllm:num_requests_running 0\n",
        content_type="text/plain",
    )
    detection = asyncio.run(detect_engine(server.url))
    assert detection.engine is None
    assert "llmbench simulator" in detection.evidence


def test_a_metrics_404_is_a_counted_kind(server: CannedServer) -> None:
    async def get() -> str:
        async with MetricsSource(server.url + "/metrics") as source:
            return await source.get()

    with pytest.raises(ScrapeFailure) as failure:
        asyncio.run(get())
    assert failure.value.kind == "http_404"
