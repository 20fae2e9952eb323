"""Every simulator fault, seen through the real client and store: the category each becomes and
the partial timings kept (a stream that died after 3 tokens keeps those 3 arrival times).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmbench.config import LoadSpec, RunSpec, TargetSpec, WorkloadSpec
from llmbench.metrics.request import e2e_ns, ttfb_ns, ttft_ns
from llmbench.records import RequestRecord
from llmbench.run.execute import Target, execute_run
from llmbench.sim.server.faults import FaultPolicy, parse_fault_rates
from llmbench.store.results import load_run

StartSim = Callable[..., str]
MS = 1_000_000
TOKENS = 8


def run_faulted(
    base_url: str, tmp_path: Path, fault: str | None, *, requests: int = 2, **target: Any
) -> tuple[dict[str, Any], list[RequestRecord]]:
    headers = {"X-Sim-Fault": fault} if fault else {}
    spec = RunSpec(
        target=TargetSpec(model="llmbench-sim", extra_headers=headers, **target),
        workload=WorkloadSpec(input_tokens=8, output_tokens=TOKENS),
        load=LoadSpec(concurrency=1, requests=requests),
    )
    out = tmp_path / "run"
    run = asyncio.run(execute_run(spec, Target(base_url), out))
    return run, load_run(out).records


@pytest.fixture
def sim(start_sim: StartSim) -> str:
    return start_sim(ttft_ms=20.0, itl_ms=5.0)


# (fault, category or None for ok, token chunks the client keeps, headers seen)
CASES = [
    ("http_429", "http_429", 0, True),
    ("http_500", "http_5xx", 0, True),
    ("http_503", "http_5xx", 0, True),
    ("wrong_content_type", "protocol", 0, True),
    ("malformed_sse", "protocol", 2, True),  # two good chunks, then the bad event
    ("cut_after:3", "protocol", 3, True),
    ("missing_done", None, TOKENS, True),  # finish_reason + usage, clean EOF, no [DONE]: ok
    ("duplicate_done", None, TOKENS, True),  # the first [DONE] ends the request: ok
    ("huge_chunk:2000000", None, TOKENS, True),  # a 2 MB event decodes like any other
    ("slow_headers:150", None, TOKENS, True),
    ("stall_after:3:150", None, TOKENS, True),
]


@pytest.mark.parametrize(
    ("fault", "category", "chunks", "headers"), CASES, ids=[c[0] for c in CASES]
)
def test_fault_category_and_partial_timings(
    sim: str, tmp_path: Path, fault: str, category: str | None, chunks: int, headers: bool
) -> None:
    run, records = run_faulted(sim, tmp_path, fault)
    assert len(records) == 2
    assert run.counts.ok + run.counts.error == 2
    for record in records:
        assert (record.error.category.value if record.error else None) == category
        assert len(record.chunk_offsets_ns) == chunks
        assert (record.headers_ns is not None) == headers
        assert (record.first_token_ns is not None) == (chunks > 0)
        assert list(record.chunk_offsets_ns) == sorted(record.chunk_offsets_ns)
        if category is None:
            assert record.end_ns is not None
            assert record.end_ns >= record.first_token_ns  # type: ignore[operator]


def test_slow_headers_show_in_ttfb_and_ttft(sim: str, tmp_path: Path) -> None:
    _, records = run_faulted(sim, tmp_path, "slow_headers:150")
    for record in records:
        assert ttfb_ns(record) >= 150 * MS  # type: ignore[operator]
        assert ttft_ns(record) >= 170 * MS  # type: ignore[operator]  # delay + TTFT 20 ms


def test_stall_mid_stream_shows_as_one_long_gap(sim: str, tmp_path: Path) -> None:
    _, records = run_faulted(sim, tmp_path, "stall_after:3:150")
    for record in records:
        offsets = list(record.chunk_offsets_ns)
        gaps = [b - a for a, b in itertools.pairwise(offsets)]
        # The fault moves token 4's deadline 150 ms later: 5 ms ITL + 150 ms after token 3's.
        with urllib.request.urlopen(f"{sim}/sim/log/{record.request_id}", timeout=5) as resp:
            deadlines_ns = json.loads(resp.read())["chunk_deadline_ns"]
        assert deadlines_ns[3] - deadlines_ns[2] == 155 * MS
        # Token 4 cannot arrive before its deadline, but token 3 may arrive late (on a busy
        # host, by more than the 5 ms ITL), which shortens the gap the client sees below
        # 150 ms without any error; the exact bound is token 4's deadline - token 3's arrival
        # (one monotonic clock in both processes); with token 3 on time it is >= 150 ms.
        assert gaps[2] >= deadlines_ns[3] - (record.sent_ns + offsets[2])  # token 3 -> 4
        assert max(gaps[:2] + gaps[3:]) < 150 * MS


def test_stall_mid_stream_past_the_timeout_keeps_the_tokens_before(
    sim: str, tmp_path: Path
) -> None:
    run, records = run_faulted(sim, tmp_path, "stall_after:3:5000", request_timeout_s=0.6)
    assert run.counts.by_category == {"timeout_mid_stream": 2}
    for record in records:
        assert len(record.chunk_offsets_ns) == 3
        assert record.first_token_ns is not None


def test_slow_headers_past_the_timeout(sim: str, tmp_path: Path) -> None:
    run, records = run_faulted(sim, tmp_path, "slow_headers:5000", request_timeout_s=0.4)
    assert run.counts.by_category == {"timeout_before_first_token": 2}
    assert all(r.headers_ns is None and not r.chunk_offsets_ns for r in records)


def test_missing_done_after_the_finish_reason_is_complete_and_noted(
    sim: str, tmp_path: Path
) -> None:
    run, records = run_faulted(sim, tmp_path, "missing_done")
    assert run.counts.no_done == 2
    for record in records:
        assert record.ok
        assert record.no_done
        assert record.usage_output_tokens == TOKENS
        assert e2e_ns(record) is not None


def test_rates_drawn_by_the_sim_match_what_the_client_counts(
    start_sim: StartSim, tmp_path: Path
) -> None:
    args = ["--fault-rate", "429:0.2,500:0.1,cut_after:2:0.1,missing_done:0.1", "--fault-seed", "7"]
    base_url = start_sim(ttft_ms=5.0, itl_ms=1.0, extra_args=args)
    run, records = run_faulted(base_url, tmp_path, None, requests=40)
    with urllib.request.urlopen(f"{base_url}/sim/log", timeout=10) as resp:  # loopback only
        entries = json.load(resp)["requests"]
    injected = Counter(e["fault"] for e in entries if e["endpoint"] == "/v1/chat/completions")
    expected = {
        "http_429": injected["http_429"],
        "http_5xx": injected["http_500"],
        "protocol": injected["cut_after:2"],
    }
    assert run.counts.by_category == {k: v for k, v in expected.items() if v}
    # A stream without [DONE] that ended after its finish_reason is complete.
    assert run.counts.ok == injected[None] + injected["missing_done"]
    assert run.counts.no_done == injected["missing_done"]
    assert sum(injected.values()) == len(records) == 40
    assert 0 < injected[None] < 40  # the mix really is mixed


def test_no_retries_by_default(sim: str, tmp_path: Path) -> None:
    _, records = run_faulted(sim, tmp_path, "http_429:0")
    assert [(r.attempts, r.retry_wait_ns, r.first_sent_ns) for r in records] == [(1, 0, None)] * 2


def test_retry_429_honours_retry_after_and_gives_up(sim: str, tmp_path: Path) -> None:
    run, records = run_faulted(
        sim, tmp_path, "http_429:1", requests=1, retry_429=True, retry_429_attempts=2
    )
    (record,) = records
    assert run.counts.by_category == {"http_429": 1}
    assert record.attempts == 2
    assert record.retry_wait_ns >= 950 * MS  # Retry-After: 1
    assert record.first_sent_ns is not None
    assert record.sent_ns - record.first_sent_ns >= record.retry_wait_ns
    assert record.error is not None
    assert "gave up after 2 attempts" in record.error.message


def test_retry_after_over_the_limit_is_not_waited_for(sim: str, tmp_path: Path) -> None:
    _, records = run_faulted(
        sim, tmp_path, "http_429:30", requests=1, retry_429=True, retry_429_max_wait_s=0.5
    )
    (record,) = records
    assert (record.attempts, record.retry_wait_ns) == (1, 0)
    assert record.error is not None
    assert "not retried" in record.error.message


def test_retried_requests_succeed_and_every_attempt_is_counted(
    start_sim: StartSim, tmp_path: Path
) -> None:
    args = ["--fault-rate", "http_429:0:0.5", "--fault-seed", "3"]
    base_url = start_sim(ttft_ms=5.0, itl_ms=1.0, extra_args=args)
    run, records = run_faulted(
        base_url, tmp_path, None, requests=10, retry_429=True, retry_429_attempts=8
    )
    # Attempts reuse the request id, so the sim's log keeps only the last; its draws tell all.
    policy = FaultPolicy(parse_fault_rates("http_429:0:0.5"), seed=3)
    sent = sum(r.attempts for r in records)
    served_429 = sum(policy.pick(seq) is not None for seq in range(1, sent + 1))
    assert run.counts.ok == 10
    assert sum(r.attempts - 1 for r in records) == served_429 > 0
    for record in records:
        if record.attempts > 1:
            assert record.first_sent_ns is not None
            assert record.first_sent_ns < record.sent_ns


@pytest.mark.parametrize("rates", ["418:0.1", "429:2", "429:0.7,500:0.7", "nonsense"])
def test_bad_fault_rates_are_one_clear_error(rates: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llmbench", "sim", "serve", "--port", "0", "--fault-rate", rates],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("llmbench: error: --fault-rate:")
    assert "Traceback" not in result.stderr
