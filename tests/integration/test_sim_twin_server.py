"""`llmbench sim serve --preset ...`: the twin behind the real server process over loopback.

Prompt caching shows up in usage and in time, `/metrics` exposes the engine, faults and
refusals keep their meaning, and the deterministic preset is the exact foundation path.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import urllib.error
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest

from llmbench.config import LoadSpec, RunSpec, TargetSpec, WorkloadSpec
from llmbench.run.execute import Target, execute_run
from llmbench.store.results import load_run

StartSim = Callable[..., str]
QUIET = ["--set", "noise.jitter_sigma=0", "--set", "noise.stall_probability=0"]
MS = 1_000_000


def post(base_url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    request = Request(
        f"{base_url}/v1/chat/completions",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )
    return urlopen(request, timeout=30)


def chat(words: str, max_tokens: int = 8) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": words}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def stream_usage(base_url: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    with post(base_url, body, {"X-Request-Id": request_id}) as response:
        events = [line[6:] for line in response.read().split(b"\n") if line.startswith(b"data: ")]
    usage = [json.loads(e)["usage"] for e in events if e != b"[DONE]" and b'"usage"' in e]
    return usage[0]  # type: ignore[no-any-return]


def sim_log(base_url: str, request_id: str) -> dict[str, Any]:
    with urlopen(f"{base_url}/sim/log/{request_id}", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def sim_entries(base_url: str) -> list[dict[str, Any]]:
    with urlopen(f"{base_url}/sim/log", timeout=5) as response:
        return json.loads(response.read())["requests"]  # type: ignore[no-any-return]


def metrics(base_url: str) -> dict[str, float]:
    with urlopen(f"{base_url}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return {ln.split()[0]: float(ln.split()[1]) for ln in lines if not ln.startswith("#")}


def ttft_ns(entry: dict[str, Any]) -> int:
    return int(entry["chunk_emit_ns"][0] - entry["received_ns"])


def test_a_sessions_next_turn_hits_the_prompt_cache(start_sim: StartSim) -> None:
    base_url = start_sim(extra_args=["--preset", "cloud-warm", *QUIET])
    history = " ".join(f"w{i}" for i in range(4096))
    first = stream_usage(base_url, chat(history), "turn-1")
    assert first["prompt_tokens_details"] == {"cached_tokens": 0}
    answer = "alpha bravo charlie delta echo foxtrot golf hotel"
    second = stream_usage(base_url, chat(f"{history} {answer} and then"), "turn-2")
    assert second["prompt_tokens"] == 4096 + 8 + 2
    assert second["prompt_tokens_details"]["cached_tokens"] >= 4096
    fresh = " ".join(f"x{i}" for i in range(4106))
    stream_usage(base_url, chat(fresh), "fresh")
    # The cached prefill is skipped: the reused turn's first token comes much sooner.
    assert ttft_ns(sim_log(base_url, "turn-2")) < 0.6 * ttft_ns(sim_log(base_url, "fresh"))
    values = metrics(base_url)
    assert values["llmbench_sim_prefix_hit_rate"] > 0
    assert values["llmbench_sim_steps_total"] >= 3 * 8
    assert values["llmbench_sim_running"] == 0
    assert values["llmbench_sim_requests_total"] == 3


def test_refusals_and_faults_keep_their_meaning(start_sim: StartSim) -> None:
    base_url = start_sim(extra_args=["--preset", "cloud-warm", "--set", "engine.kv_blocks=64"])
    with pytest.raises(urllib.error.HTTPError) as refused:
        post(base_url, chat(" ".join(["w"] * 2000)))
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"]["code"] == "context_length_exceeded"
    request_id = f"cut-{uuid.uuid4().hex}"
    headers = {"X-Sim-Fault": "cut_after:2", "X-Request-Id": request_id}
    try:
        with post(base_url, chat("a b c", max_tokens=50), headers) as response:
            response.read()
    except (http.client.IncompleteRead, urllib.error.URLError, ConnectionError):
        pass  # the cut: an incomplete chunked body
    entry = sim_log(base_url, request_id)
    assert (entry["chunk_tokens"], entry["outcome"]) == ([1, 1], "cut")
    usage = stream_usage(base_url, chat("a b c"), "after-cut")  # still serving
    assert usage["completion_tokens"] == 8
    assert metrics(base_url)["llmbench_sim_running"] == 0  # the cut request left the batch


def test_the_deterministic_preset_is_the_exact_schedule(start_sim: StartSim) -> None:
    base_url = start_sim(extra_args=["--preset", "deterministic"])
    stream_usage(base_url, chat("a b c", max_tokens=4), "exact")
    entry = sim_log(base_url, "exact")
    received = entry["received_ns"]
    expected = [received + 200_000_000 + i * 20_000_000 for i in range(4)]
    assert entry["chunk_deadline_ns"] == expected


def test_tokens_per_chunk_groups_the_twins_tokens(start_sim: StartSim) -> None:
    base_url = start_sim(extra_args=["--preset", "cloud-warm", "--tokens-per-chunk", "4"])
    usage = stream_usage(base_url, chat("a b c", max_tokens=10), "grouped")
    assert usage["completion_tokens"] == 10
    entry = sim_log(base_url, "grouped")
    assert entry["chunk_tokens"] == [4, 4, 2]
    deadlines = entry["chunk_deadline_ns"]
    assert deadlines == sorted(deadlines)


def test_a_mid_stream_stall_pauses_one_stream_while_the_engine_keeps_going(
    start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(extra_args=["--preset", "cloud-warm", *QUIET])
    stall_ms = 300
    spec = RunSpec(
        target=TargetSpec(
            model="llmbench-sim", extra_headers={"X-Sim-Fault": f"stall_after:3:{stall_ms}"}
        ),
        workload=WorkloadSpec(input_tokens=8, output_tokens=12),
        load=LoadSpec(concurrency=1, requests=1),
    )
    with ThreadPoolExecutor(1) as pool:  # an unfaulted stream in the same batch meanwhile
        plain = pool.submit(stream_usage, base_url, chat("a b c", max_tokens=150), "plain")
        run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run"))
        plain.result(timeout=30)
    (record,) = load_run(tmp_path / "run").records
    assert run.counts.ok == 1
    assert record.error is None
    gaps = [b - a for a, b in itertools.pairwise(record.chunk_offsets_ns)]
    assert len(gaps) == 11
    assert gaps[2] >= stall_ms * MS  # between token chunk 3 and 4, seen by the client
    assert max(gaps[:2] + gaps[3:]) < stall_ms * MS / 3
    ttft = record.first_token_ns - record.sent_ns  # type: ignore[operator]
    assert ttft < stall_ms * MS / 3  # the stall is after the first token, not before
    entry = next(e for e in sim_entries(base_url) if e["fault"])
    deadlines = entry["chunk_deadline_ns"]
    assert deadlines[3] - deadlines[2] >= stall_ms * MS  # the schedule moved, not the engine
    # The engine kept stepping for the other stream: its tokens flowed through the stall.
    other = sim_log(base_url, "plain")["chunk_emit_ns"]
    stalled = entry["chunk_emit_ns"][2], entry["chunk_emit_ns"][3]
    assert sum(stalled[0] < t < stalled[1] for t in other) > 10
    assert max(b - a for a, b in itertools.pairwise(other)) < stall_ms * MS / 3
    assert sum(entry["chunk_tokens"]) == 12
    assert entry["outcome"] == "complete"
