"""End to end over loopback: llmbench's measurements against the simulator's own emission log.

Truth: the simulator emits the first token TTFT after the request's first byte arrives and then
one token every ITL, and logs when it got the request's first byte and wrote each chunk (same
monotonic clock). Tolerances hold on a noisy 2-core machine: mean TTFT within 5 ms of the
server's first write (from the client's send), the request's transit under 5 ms, and mean ITL
within 2 ms of the simulator's log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import numpy as np
import pytest

from llmbench.config import LoadSpec, RunSpec, WorkloadSpec
from llmbench.records import CountSource
from llmbench.run.execute import Target, execute_run
from llmbench.store.results import load_run

TTFT_MS, ITL_MS, OUTPUT_TOKENS = 200.0, 20.0, 64
StartSim = Callable[..., str]


def sim_log(base_url: str, request_id: str) -> dict[str, Any]:
    with urlopen(f"{base_url}/sim/log/{request_id}", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.parametrize(("concurrency", "requests"), [(1, 4), (16, 32)])
def test_ttft_itl_and_tokens_match_the_simulator(
    start_sim: StartSim, tmp_path: Path, concurrency: int, requests: int
) -> None:
    base_url = start_sim(ttft_ms=TTFT_MS, itl_ms=ITL_MS)
    spec = RunSpec(
        workload=WorkloadSpec(input_tokens=32, output_tokens=OUTPUT_TOKENS),
        load=LoadSpec(concurrency=concurrency, requests=requests, warmup=concurrency),
        tokenizer="whitespace",
    )
    run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run"))

    assert run.status == "complete"
    assert run.counts.ok == requests
    assert run.counts.error == 0
    summary = run.summary
    assert summary.ttft_ms.n == requests

    records = [r for r in load_run(tmp_path / "run").records if not r.warmup]
    assert len(records) == requests
    lateness_ns: list[int] = []
    true_ttft_ns: list[int] = []
    request_transit_ns: list[int] = []
    ttft_from_send_ns: list[int] = []
    true_gaps_ns: list[np.ndarray] = []
    for record in records:
        assert record.output_tokens == OUTPUT_TOKENS
        assert record.output_tokens_source is CountSource.USAGE
        assert record.tokenizer_output_tokens == OUTPUT_TOKENS
        assert record.input_tokens == 32
        truth = sim_log(base_url, record.request_id)
        emitted = np.array(truth["chunk_emit_ns"], dtype=np.int64)
        arrived = record.sent_ns + np.frombuffer(record.chunk_offsets_ns, dtype=np.int64)
        assert len(arrived) == len(emitted) == OUTPUT_TOKENS
        # A chunk cannot arrive before the server wrote it; the one clock makes this checkable.
        assert (arrived >= emitted).all()
        lateness_ns.extend((arrived - emitted).tolist())
        true_ttft_ns.append(truth["chunk_emit_ns"][0] - truth["received_ns"])
        request_transit_ns.append(truth["received_ns"] - record.sent_ns)
        ttft_from_send_ns.append(truth["chunk_emit_ns"][0] - record.sent_ns)
        true_gaps_ns.append(np.diff(emitted))
        # The request reached the server after the client wrote it: TTFT can only be longer.
        assert (record.first_token_ns or 0) - record.sent_ns >= true_ttft_ns[-1]
    # Truth is what the simulator did (its log), not what it was told: on a busy machine its
    # timers run late, and that lateness is real latency the client must report.
    true_ttft_ms = np.mean(true_ttft_ns) / 1e6
    true_itl_ms = np.mean(np.concatenate(true_gaps_ns)) / 1e6
    # The client's TTFT also holds the request's transit (its send -> the server's first byte),
    # which the server's TTFT leaves out: two loopback deliveries, each bounded like every
    # chunk's (under 5 ms on average). One 5 ms budget for both (the old bound) failed at
    # 5.1 ms under load 5-8 with 16 requests sent at once (transit up to 1.8 ms mean here).
    assert min(request_transit_ns) >= 0
    assert np.mean(request_transit_ns) < 5e6
    assert abs(summary.ttft_ms.mean - np.mean(ttft_from_send_ns) / 1e6) < 5.0
    assert abs(summary.itl_ms.mean - true_itl_ms) < 2.0
    assert abs(summary.tpot_ms.mean - true_itl_ms) < 2.0
    assert np.mean(lateness_ns) < 5e6  # mean delivery + parse delay under 5 ms
    # And the simulator itself kept close to its settings (loose: a sanity check of the truth).
    assert abs(true_ttft_ms - TTFT_MS) < 20.0
    assert abs(true_itl_ms - ITL_MS) < 2.0
