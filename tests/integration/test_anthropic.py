"""The Anthropic Messages client against the simulator's `/v1/messages` over loopback: its
timings agree with the simulator's emission log as the OpenAI client's do, thinking tokens
count for TTFT and not for the first visible token, errors are categorized, and the key
(`x-api-key`) appears nowhere a run writes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import numpy as np
import pytest

from llmbench.clients.anthropic import AnthropicClient
from llmbench.config import ClosedLoad, RunSpec, SimSpec, TargetSpec, WorkloadSpec
from llmbench.records import (
    Channel,
    CountSource,
    ErrorCategory,
    RequestRecord,
    RequestSpec,
    SendContext,
)
from llmbench.run.execute import Target, execute_run
from llmbench.run.target import EmbeddedSim
from llmbench.store.results import load_run
from support.cli import llmbench

StartSim = Callable[..., str]
KEY_VARIABLE = "LLMBENCH_TEST_ANTHROPIC_KEY"
KEY = "sk-ant-test-9f8e7d6c5b4a"
TTFT_MS, ITL_MS, TOKENS = 40.0, 4.0, 12
# The client's TTFT less the server's (first byte in → first chunk out) is two loopback
# hand-overs: the bound test_send_stamp.py measured on this host, quiet and under CPU hogs.
HAND_OVERS_MAX_MS = 50.0
# ITL P50 error of the OpenAI client against the same log (test_run_accuracy.py): 0.5 ms.
ITL_P50_ERROR_MS = 0.5


@pytest.fixture(scope="module")
def fast_sim() -> Iterator[str]:
    """One simulator for the tests that each send a request or two (a start is ~1 s)."""
    with EmbeddedSim(SimSpec(ttft_ms=5, itl_ms=1)) as sim:
        yield sim.base_url


def sim_log(base_url: str, request_id: str) -> dict[str, Any]:
    with urlopen(f"{base_url}/sim/log/{request_id}", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _agrees_with_the_log(record: RequestRecord, truth: dict[str, Any]) -> None:
    emitted = np.array(truth["chunk_emit_ns"], dtype=np.int64)
    arrived = record.sent_ns + np.frombuffer(record.chunk_offsets_ns, dtype=np.int64)
    assert len(arrived) == len(emitted) == TOKENS
    assert (arrived >= emitted).all()  # nothing arrives before the server wrote it
    assert record.first_token_ns is not None
    client_ttft_ns = record.first_token_ns - record.sent_ns
    server_ttft_ns = int(emitted[0]) - truth["received_ns"]
    assert 0 <= client_ttft_ns - server_ttft_ns < HAND_OVERS_MAX_MS * 1e6
    itl_error_ms = (np.median(np.diff(arrived)) - np.median(np.diff(emitted))) / 1e6
    assert abs(itl_error_ms) < ITL_P50_ERROR_MS


def test_a_run_on_the_messages_api_agrees_with_the_simulators_log(
    start_sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    base_url = start_sim(ttft_ms=TTFT_MS, itl_ms=ITL_MS, extra_args=["--api-key-env", KEY_VARIABLE])
    spec = RunSpec(
        target=TargetSpec(kind="anthropic", model="llmbench-sim"),
        workload=WorkloadSpec(input_tokens=16, output_tokens=TOKENS),
        load=ClosedLoad(concurrency=2, requests=6, workers=1),
    )
    run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run", api_key=KEY))
    assert run.status == "complete"
    assert run.counts is not None
    assert run.counts.ok == 6
    assert run.target.engine is not None
    assert run.target.engine.source is not None
    assert "not probed" in run.target.engine.source
    records = load_run(tmp_path / "run").records
    for record in records:
        assert record.output_tokens == TOKENS
        assert record.output_tokens_source is CountSource.USAGE
        assert record.input_tokens == 16  # uncached + cache reads + cache writes
        assert record.cached_tokens == 0
        assert record.cache_write_tokens == 0
        assert record.finish_reason == "max_tokens"
        _agrees_with_the_log(record, sim_log(base_url, record.request_id))
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path


async def _send(
    base_url: str, request_id: str, *, headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None, api_key: str | None = None, stream: bool = True,
    converse: bool = False,
) -> RequestRecord:  # fmt: skip
    spec = RequestSpec(item_id="q", prompt="Say something now.", max_tokens=TOKENS)
    async with AnthropicClient(
        base_url=base_url, model="llmbench-sim", api_key=api_key, extra_headers=headers,
        extra_body=body, stream=stream,
    ) as client:  # fmt: skip
        ctx = SendContext(request_id, "sim", 0, 0)
        if converse:
            reply = await client.converse(spec, ctx)
            assert len(reply.text.split()) == TOKENS
            return reply.record
        return await client.send(spec, ctx)


def test_thinking_tokens_make_the_first_token_and_text_the_first_visible_one(
    start_sim: StartSim,
) -> None:
    base_url = start_sim(ttft_ms=TTFT_MS, itl_ms=ITL_MS)
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 5}}
    record = asyncio.run(_send(base_url, "think-1", body=thinking, converse=True))
    assert record.ok, record.error
    truth = sim_log(base_url, "think-1")
    assert truth["thinking_tokens"] == 5
    _agrees_with_the_log(record, truth)
    assert list(record.chunk_channels) == [int(Channel.REASONING)] * 5 + [int(Channel.CONTENT)] * (
        TOKENS - 5
    )
    emitted = truth["chunk_emit_ns"]
    assert record.first_token_ns is not None
    assert record.first_content_ns is not None
    # TTFT is the first thinking token, TTFO the sixth token: the first text one.
    assert record.first_token_ns >= emitted[0]
    assert record.first_content_ns >= emitted[5]
    gap_ms = (record.first_content_ns - record.first_token_ns) / 1e6
    assert abs(gap_ms - (emitted[5] - emitted[0]) / 1e6) < HAND_OVERS_MAX_MS


def test_a_non_streamed_message_is_one_chunk(fast_sim: str) -> None:
    base_url = fast_sim
    record = asyncio.run(_send(base_url, "unary-1", stream=False))
    assert record.ok, record.error
    assert list(record.chunk_tokens) == [TOKENS]
    assert record.output_tokens == TOKENS


@pytest.mark.parametrize(
    ("fault", "category", "status"),
    [
        ("error_event", ErrorCategory.HTTP_5XX, 529),  # overloaded_error mid-stream
        ("http_429", ErrorCategory.HTTP_429, 429),
        ("http_503", ErrorCategory.HTTP_5XX, 503),
        ("malformed_sse", ErrorCategory.PROTOCOL, None),
        ("cut_after:3", ErrorCategory.PROTOCOL, None),
    ],
)
def test_errors_are_categorized(
    fast_sim: str, fault: str, category: ErrorCategory, status: int | None
) -> None:
    base_url = fast_sim
    record = asyncio.run(_send(base_url, f"f-{fault}", headers={"X-Sim-Fault": fault}))
    assert not record.ok
    assert record.error is not None
    assert record.error.category is category, record.error
    assert record.error.http_status == status


def test_a_wrong_key_is_a_4xx_that_never_quotes_the_key(
    start_sim: StartSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    base_url = start_sim(ttft_ms=5, itl_ms=1, extra_args=["--api-key-env", KEY_VARIABLE])
    wrong = "sk-ant-wrong-0000"
    record = asyncio.run(_send(base_url, "auth-1", api_key=wrong))
    assert record.error is not None
    assert record.error.category is ErrorCategory.HTTP_4XX
    assert record.error.http_status == 401
    assert wrong not in record.error.message
    assert asyncio.run(_send(base_url, "auth-2", api_key=KEY)).ok


QUIET_TWIN = ["--preset", "cloud-warm", "--set", "noise.jitter_sigma=0",
              "--set", "noise.stall_probability=0"]  # fmt: skip


async def _turns(base_url: str, prompts: list[str]) -> list[RequestRecord]:
    async with AnthropicClient(base_url=base_url, model="llmbench-sim") as client:
        return [
            await client.send(
                RequestSpec(item_id=f"t{i}", prompt=p, max_tokens=4),
                SendContext(f"t{i}", "s", 0, 0),
            )
            for i, p in enumerate(prompts)
        ]


def test_cache_reads_of_the_twins_prefix_cache_are_the_records_cached_tokens(
    start_sim: StartSim,
) -> None:
    base_url = start_sim(extra_args=QUIET_TWIN)
    history = " ".join(f"w{i}" for i in range(4096))
    first, second = asyncio.run(_turns(base_url, [history, f"{history} and then some"]))
    assert first.ok
    assert second.ok
    assert first.cached_tokens == 0
    assert first.input_tokens == 4096
    # the whole prompt is input_tokens; Anthropic's own input_tokens is only the uncached part
    assert second.input_tokens == 4099
    assert second.cached_tokens is not None
    assert second.cached_tokens >= 4096 - 64


def test_the_command_reads_the_kinds_own_key_variable_and_writes_it_nowhere(
    start_sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulator accepts only ANTHROPIC_API_KEY's value in x-api-key; OPENAI_API_KEY holds
    # another: every request succeeds only if the anthropic kind read its own variable.
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-not-this-one")
    base_url = start_sim(ttft_ms=5, itl_ms=1, extra_args=["--api-key-env", "ANTHROPIC_API_KEY"])
    out = tmp_path / "run"
    result = llmbench(
        "run", "--target-kind", "anthropic", "--base-url", base_url, "--model", "llmbench-sim",
        "--requests", "3", "--concurrency", "1", "--output-tokens", "4", "--output-dir", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    counts = load_run(out).run.counts
    assert counts is not None
    assert (counts.ok, counts.error) == (3, 0)
    assert KEY not in result.stdout + result.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path


def test_the_error_event_fault_on_the_chat_endpoint_is_a_5xx_for_the_openai_client(
    fast_sim: str,
) -> None:
    from llmbench.clients.openai import OpenAIClient

    async def send() -> RequestRecord:
        spec = RequestSpec(item_id="q", prompt="Say something now.", max_tokens=TOKENS)
        async with OpenAIClient(
            base_url=fast_sim, model="llmbench-sim", extra_headers={"X-Sim-Fault": "error_event"}
        ) as client:
            return await client.send(spec, SendContext("chat-error-1", "sim", 0, 0))

    record = asyncio.run(send())
    assert record.error is not None
    assert record.error.category is ErrorCategory.HTTP_5XX
    assert record.error.http_status == 500
    assert len(record.chunk_offsets_ns) == 2  # the two chunks before the error are kept


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("anthropic", "--model: --target-kind anthropic asks for no model list"),
     ("a2a", "cannot read the agent card at http://127.0.0.1:9/.well-known/agent-card.json")],
)  # fmt: skip
def test_a_kind_without_what_it_needs_is_one_clear_error(kind: str, expected: str) -> None:
    result = llmbench("run", "--target-kind", kind, "--base-url", "http://127.0.0.1:9")
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert f"llmbench: error: {expected}" in result.stderr
    assert "llmbench: fix:" in result.stderr
