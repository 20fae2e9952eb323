"""Engine detection from what only one engine serves, and each profile's forcing fields."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from llmbench.clients.engines import PROFILES, detect_engine, force_length_fields
from llmbench.config.run import ENGINE_NAMES
from llmbench.errors import ConfigError

if TYPE_CHECKING:
    from conftest import CannedServer


def test_every_engine_has_a_profile() -> None:
    assert set(PROFILES) == set(ENGINE_NAMES)


@pytest.mark.parametrize(
    ("path", "body", "engine"),
    [
        (
            "/metrics",
            b"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 0\n",
            "vllm",
        ),
        ("/metrics", b"sglang:num_running_reqs 0\n", "sglang"),
        ("/metrics", b"tgi_request_count 3\n", "tgi"),
        ("/metrics", b"llamacpp:prompt_tokens_total 10\n", "llamacpp"),
        ("/props", b'{"default_generation_settings": {}, "total_slots": 1}', "llamacpp"),
        ("/info", b'{"model_id": "x", "router": "text-generation-router"}', "tgi"),
        ("/api/version", b'{"version": "0.5.1"}', "ollama"),
        ("/version", b'{"version": "0.11.0"}', "vllm"),
    ],
)
def test_detected_from_what_only_that_engine_serves(
    server: CannedServer, path: str, body: bytes, engine: str
) -> None:
    server.route(path, body, content_type="text/plain")
    detection = asyncio.run(detect_engine(server.url))
    assert detection.engine == engine


def test_the_server_header_names_llama_cpp(server: CannedServer) -> None:
    server.server_header = "llama.cpp"  # on every answer, the 404s of the probes too
    assert asyncio.run(detect_engine(server.url)).engine == "llamacpp"


def test_nothing_specific_is_no_guess(server: CannedServer) -> None:
    detection = asyncio.run(detect_engine(server.url))  # every probe answers 404
    assert detection.engine is None
    assert "no engine-specific" in detection.evidence


def test_the_openai_host_needs_no_probe() -> None:
    assert asyncio.run(detect_engine("https://api.openai.com/v1")).engine == "openai"


def test_engines_without_a_forcing_field_say_so() -> None:
    for name in ("tgi", "ollama", "openai"):
        with pytest.raises(ConfigError, match="cannot be made to generate a fixed length"):
            force_length_fields(name)  # type: ignore[arg-type]
    assert force_length_fields("vllm")(5) == {"ignore_eos": True, "min_tokens": 5}
