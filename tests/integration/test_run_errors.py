"""Failed requests are counted under their category, never lost, and the run still completes.
Each case drives the simulator (a real process) into one failure over loopback.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmbench.config import LoadSpec, RunSpec, TargetSpec, WorkloadSpec
from llmbench.run.execute import Target, execute_run
from llmbench.store.results import load_run

StartSim = Callable[..., str]
REQUESTS = 3


def run_against(
    base_url: str, tmp_path: Path, *, api_key: str | None = None, **target: Any
) -> dict[str, Any]:
    spec = RunSpec(
        target=TargetSpec(**{"model": "llmbench-sim", **target}),
        workload=WorkloadSpec(input_tokens=8, output_tokens=8),
        load=LoadSpec(concurrency=1, requests=REQUESTS),
    )
    return asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run", api_key=api_key))


def fault(value: str) -> dict[str, Any]:
    return {"extra_headers": {"X-Sim-Fault": value}}


@pytest.mark.parametrize(
    ("target", "category", "http_status"),
    [
        (fault("http_429"), "http_429", 429),
        (fault("http_500"), "http_5xx", 500),
        (fault("http_503"), "http_5xx", 503),
        (fault("malformed_sse"), "protocol", 200),
        (fault("wrong_content_type"), "protocol", 200),
        (fault("cut_after:3"), "protocol", 200),
        ({**fault("stall_ms:3000"), "request_timeout_s": 0.5}, "timeout_before_first_token", 200),
        ({"model": "no-such-model"}, "http_4xx", 404),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_failure_is_counted_under_its_category(
    start_sim: StartSim, tmp_path: Path, target: dict[str, Any], category: str, http_status: int
) -> None:
    base_url = start_sim(ttft_ms=20.0, itl_ms=5.0)
    run = run_against(base_url, tmp_path, **target)
    assert run.status == "complete"
    assert run.counts.ok == 0
    assert run.counts.error == REQUESTS
    assert run.counts.by_category == {category: REQUESTS}
    records = load_run(tmp_path / "run").records
    assert len(records) == REQUESTS
    assert all(r.error is not None and r.error.category.value == category for r in records)
    assert all(r.http_status == http_status for r in records)
    assert run.summary.ttft_ms.n == 0  # latency covers ok requests only


def test_cut_stream_keeps_the_chunks_it_received(start_sim: StartSim, tmp_path: Path) -> None:
    run_against(start_sim(ttft_ms=20.0, itl_ms=5.0), tmp_path, **fault("cut_after:3"))
    for record in load_run(tmp_path / "run").records:
        assert len(record.chunk_offsets_ns) == 3
        assert record.first_token_ns is not None


def test_timeout_mid_stream(start_sim: StartSim, tmp_path: Path) -> None:
    base_url = start_sim(ttft_ms=10.0, itl_ms=300.0)
    run = run_against(base_url, tmp_path, request_timeout_s=0.5)
    assert run.counts.by_category == {"timeout_mid_stream": REQUESTS}
    for record in load_run(tmp_path / "run").records:
        assert 1 <= len(record.chunk_offsets_ns) <= 3  # tokens at ~10, 310 ms (+ slack)


def test_unreachable_url_is_a_connect_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = run_against(f"http://127.0.0.1:{port}", tmp_path, request_timeout_s=5.0)
    assert run.counts.by_category == {"connect": REQUESTS}


def test_unauthorized_and_the_key_never_reaches_disk(
    start_sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-SECRET-0123456789abcdef"
    monkeypatch.setenv("SIM_KEY", secret)
    base_url = start_sim(ttft_ms=10.0, itl_ms=1.0, extra_args=["--api-key-env", "SIM_KEY"])
    bad = run_against(base_url, tmp_path / "bad", api_key="sk-wrong-key-0123456789")
    assert bad.counts.by_category == {"http_4xx": REQUESTS}
    good = run_against(base_url, tmp_path / "good", api_key=secret)
    assert good.counts.ok == REQUESTS
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert secret not in text
            assert "sk-wrong-key-0123456789" not in text
