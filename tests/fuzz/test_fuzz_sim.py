"""Fuzz of the simulator's request handling over loopback: random JSON (and non-JSON) bodies,
content types and fault headers. It answers every one with a 2xx or an OpenAI-style 4xx, never a
5xx or a dropped connection, and keeps serving.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmbench.config import SimSpec
from llmbench.run.target import EmbeddedSim
from llmbench.sim.server.faults import FaultError, parse_fault

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
    st.text(max_size=20),
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = ["model", "messages", "prompt", "max_tokens", "max_completion_tokens", "stream",
        "stream_options", "n", "temperature"]  # fmt: skip
GOOD = {
    "model": st.just("llmbench-sim"),
    "messages": st.just([{"role": "user", "content": "hi"}]),
    "prompt": st.just("hi"),
    "max_tokens": st.integers(-3, 40),
    "stream": st.booleans(),
    "stream_options": st.just({"include_usage": True}),
}
# Request-shaped objects: each known key with a plausible or a random value.
REQUESTS = st.fixed_dictionaries(
    {}, optional={k: GOOD.get(k, JSON) | JSON for k in KEYS}
).map(lambda d: json.dumps(d).encode())  # fmt: skip
BODIES = st.one_of(REQUESTS, JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200))
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


def _not_a_fault(value: str) -> bool:
    try:
        return parse_fault(value) is None
    except FaultError:
        return True  # refused with 400: part of what is fuzzed


@pytest.fixture(scope="module")
def sim_address() -> Iterator[tuple[str, int]]:
    sim = EmbeddedSim(SimSpec(ttft_ms=0.0, itl_ms=0.0))
    parts = urlsplit(sim.start())
    try:
        yield parts.hostname or "127.0.0.1", parts.port or 0
    finally:
        sim.stop()


def post(address: tuple[str, int], path: str, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()  # the whole body: a stream that breaks off raises here
        return response.status
    finally:
        conn.close()


@FUZZ
@given(
    path=st.sampled_from(["/v1/chat/completions", "/v1/completions"]),
    body=BODIES,
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/x-www"]),
    fault=HEADER_TEXT.filter(_not_a_fault),
)
def test_random_requests_never_get_a_5xx(
    sim_address: tuple[str, int], path: str, body: bytes, content_type: str, fault: str
) -> None:
    headers: dict[str, Any] = {"Content-Type": content_type, "X-Sim-Fault": fault}
    status = post(sim_address, path, body, headers)
    assert 200 <= status < 300 or status in (400, 404, 413, 422), status


def test_the_sim_still_serves_after_the_fuzz(sim_address: tuple[str, int]) -> None:
    body = json.dumps({"prompt": "hi", "max_tokens": 2}).encode()
    assert post(sim_address, "/v1/completions", body, {}) == 200
