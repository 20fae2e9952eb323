"""End to end over loopback: llmbench's measurements against the simulator's own emission log.

Truth is the server's log alone, never the client's own timestamps: TTFT = the server's first
chunk write − the request's first byte read, ITL = the gaps between its chunk writes (one
CLOCK_MONOTONIC for both processes). The client's TTFT can only exceed the server's, by the
request's transit and the first chunk's delivery; docs/benchmarks.md measured that at +0.45 ms
(c = 1) and +0.76 / +1.47 ms (c = 16, pinned / shared). The bounds below come from measurements
on the shared 2-vCPU host (one-off loops over this test's runs, stated where they are used).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import numpy as np
import pytest

from llmbench.config import ClosedLoad, RunSpec, WorkloadSpec
from llmbench.records import CountSource
from llmbench.run.execute import Target, execute_run
from llmbench.store.results import load_run

TTFT_MS, ITL_MS, OUTPUT_TOKENS = 200.0, 20.0, 64
StartSim = Callable[..., str]
_SCHEDSTAT = Path("/proc/thread-self/schedstat")

# The bounds hold in two regimes, told apart by the kernel's account of this thread (the
# client's event loop runs here): the fraction of the run it spent runnable but not running.
# A slow or wrong client spends its time running, so this witness cannot excuse a client bug.
# Measured fractions: 0.02-0.06 with the host's usual load (4-6, other suites alongside),
# 0.11-0.56 under 4 extra CPU hogs (load 7-9).
HOST_TOOK_CPU_FRACTION = 0.10
# Usual load, 18 runs of each case: the median over requests of the TTFT error (client −
# server log) 0.24-0.96 ms (12 runs recorded it), ITL P90 error −0.23…+1.29 ms: 2 ms, the
# documented errors (to +1.8 ms shared at c = 16) with room. The mean TTFT error 0.24-2.5 ms
# (also in 7 runs of the test): at c = 16 one or two requests in 32 can be late by 5-7 ms when
# the host delays the server's read of them, which this thread's account does not see; the
# mean keeps the 5 ms it had.
TTFT_MEDIAN_ERROR_MS, TTFT_MEAN_ERROR_MS, ITL_P90_ERROR_MS = 2.0, 5.0, 2.0
# Under the hogs, 13 runs of each case: the client's thread waited for the CPU for whole
# scheduler ticks while chunks sat in its socket: mean TTFT error up to 18.9 ms (medians to
# 3.9 ms in the 5 runs that recorded them), ITL P90 error up to +13.9 ms. Fixed caps, not grown
# from this run's own lateness.
LOADED_TTFT_ERROR_MS, LOADED_ITL_P90_ERROR_MS = 25.0, 18.0
# ITL P50 shrugs off preemption (a late chunk lengthens one gap and shortens the next): within
# 0.08 ms of the server's in every run, loaded or not. And the mean ITL: within 0.39 ms.
ITL_P50_ERROR_MS, ITL_MEAN_ERROR_MS = 0.5, 1.0


def sim_log(base_url: str, request_id: str) -> dict[str, Any]:
    with urlopen(f"{base_url}/sim/log/{request_id}", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def run_queue_wait_ns() -> int:
    """This thread's total time runnable but not running (the kernel's schedstat)."""
    return int(_SCHEDSTAT.read_text().split()[1])


@pytest.mark.slow
@pytest.mark.skipif(not _SCHEDSTAT.exists(), reason="needs the kernel's schedstat (Linux)")
@pytest.mark.parametrize(("concurrency", "requests"), [(1, 4), (16, 32)])
def test_ttft_itl_and_tokens_match_the_simulator(
    start_sim: StartSim, tmp_path: Path, concurrency: int, requests: int
) -> None:
    base_url = start_sim(ttft_ms=TTFT_MS, itl_ms=ITL_MS)
    spec = RunSpec(
        workload=WorkloadSpec(input_tokens=32, output_tokens=OUTPUT_TOKENS),
        load=ClosedLoad(concurrency=concurrency, requests=requests, warmup=concurrency, workers=1),
        tokenizer="whitespace",
    )
    waited_from_ns, started_ns = run_queue_wait_ns(), time.monotonic_ns()
    run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run"))
    host_took = (run_queue_wait_ns() - waited_from_ns) / (time.monotonic_ns() - started_ns)

    assert run.status == "complete"
    assert run.counts.ok == requests
    assert run.counts.error == 0
    summary = run.summary
    assert summary.ttft_ms.n == requests

    records = [r for r in load_run(tmp_path / "run").records if not r.warmup]
    assert len(records) == requests
    lateness_ns: list[int] = []
    ttft_error_ns: list[int] = []
    client_ttft_ns: list[int] = []
    server_ttft_ns: list[int] = []
    request_transit_ns: list[int] = []
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
        request_transit_ns.append(truth["received_ns"] - record.sent_ns)
        assert record.first_token_ns is not None
        client_ttft_ns.append(record.first_token_ns - record.sent_ns)
        server_ttft_ns.append(int(emitted[0]) - truth["received_ns"])
        # The server's TTFT is inside the client's: the error is ≥ 0, request by request.
        ttft_error_ns.append(client_ttft_ns[-1] - server_ttft_ns[-1])
        assert ttft_error_ns[-1] >= 0
        true_gaps_ns.append(np.diff(emitted))
    true_gaps_ms = np.concatenate(true_gaps_ns) / 1e6
    loaded = host_took > HOST_TOOK_CPU_FRACTION
    median_bound = LOADED_TTFT_ERROR_MS if loaded else TTFT_MEDIAN_ERROR_MS
    mean_bound = LOADED_TTFT_ERROR_MS if loaded else TTFT_MEAN_ERROR_MS
    itl_p90_bound = LOADED_ITL_P90_ERROR_MS if loaded else ITL_P90_ERROR_MS
    context = f"host took the CPU {host_took:.0%} of the run"
    assert min(request_transit_ns) >= 0
    assert np.mean(request_transit_ns) < 5e6  # the request's way in, as before
    assert np.mean(lateness_ns) < 5e6  # mean delivery + parse delay under 5 ms
    assert np.median(ttft_error_ns) / 1e6 < median_bound, context
    assert np.mean(ttft_error_ns) / 1e6 < mean_bound, context
    # Summary against the log: the mean TTFT is the records' (no error hidden in the summary).
    assert summary.ttft_ms.mean == pytest.approx(np.mean(client_ttft_ns) / 1e6, abs=1e-6)
    itl = summary.itl_ms
    assert itl.n == true_gaps_ms.size
    assert itl.mean is not None
    assert itl.p50 is not None
    assert itl.p90 is not None
    assert summary.tpot_ms.mean is not None
    assert abs(itl.mean - true_gaps_ms.mean()) < ITL_MEAN_ERROR_MS
    assert abs(summary.tpot_ms.mean - true_gaps_ms.mean()) < ITL_MEAN_ERROR_MS
    assert abs(itl.p50 - np.percentile(true_gaps_ms, 50)) < ITL_P50_ERROR_MS, context
    assert abs(itl.p90 - np.percentile(true_gaps_ms, 90)) < itl_p90_bound, context
    # And the simulator itself kept close to its settings (loose: a sanity check of the truth).
    assert abs(np.mean(server_ttft_ns) / 1e6 - TTFT_MS) < 20.0
    assert abs(true_gaps_ms.mean() - ITL_MS) < 2.0
