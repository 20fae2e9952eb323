"""Client accuracy and cost: llmbench's measured TTFT/ITL vs the simulator's emission log.

For each concurrency level, runs a closed loop against the embedded simulator (a separate process)
and prints measured vs true mean and P99 of TTFT and ITL, and the client's CPU seconds per 1,000
token events (warm-up included: every event costs CPU). Truth per request: TTFT = first chunk
written − request received; ITL = gaps between chunk writes (the simulator's own clock, shared
with the client's: both use CLOCK_MONOTONIC).

    python benchmarks/client_accuracy.py [--levels 1,16,64,256] [--layout pinned|shared]

`pinned` puts the client on CPU 0 and the server on CPU 1 (taskset); `shared` lets both float.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
from typing import Any
from urllib.request import Request, urlopen

import numpy as np

from llmbench.clients.openai import OpenAIClient
from llmbench.config import SimSpec
from llmbench.engine.closed_loop import ClosedLoopPlan, run_closed_loop
from llmbench.engine.loop import loop_factory
from llmbench.records import RequestRecord
from llmbench.run.target import EmbeddedSim
from llmbench.workload.synthetic import synthetic_requests


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sim_logs(base_url: str) -> dict[str, dict[str, Any]]:
    with urlopen(f"{base_url}/sim/log", timeout=30) as response:
        return {e["request_id"]: e for e in json.loads(response.read())["requests"]}


def clear_logs(base_url: str) -> None:
    urlopen(Request(f"{base_url}/sim/log/clear", method="POST"), timeout=10).close()


def truth_and_measured(
    records: list[RequestRecord], logs: dict[str, dict[str, Any]]
) -> dict[str, np.ndarray]:
    out: dict[str, list[float]] = {
        "ttft": [], "ttft_true": [], "itl": [], "itl_true": [], "intake": [], "delivery": []
    }  # fmt: skip
    for record in records:
        if record.warmup or not record.ok or record.first_token_ns is None:
            continue
        log = logs[record.request_id]
        emitted = np.array(log["chunk_emit_ns"], dtype=np.int64)
        offsets = np.frombuffer(record.chunk_offsets_ns, dtype=np.int64)
        out["ttft"].append((record.first_token_ns - record.sent_ns) / 1e6)
        out["ttft_true"].append((emitted[0] - log["received_ns"]) / 1e6)
        # TTFT error = intake (sent → server reads first byte) + delivery (write → client read).
        out["intake"].append((log["received_ns"] - record.sent_ns) / 1e6)
        out["delivery"].append((record.first_token_ns - emitted[0]) / 1e6)
        out["itl"].extend((np.diff(offsets) / 1e6).tolist())
        out["itl_true"].extend((np.diff(emitted) / 1e6).tolist())
    return {k: np.array(v) for k, v in out.items()}


async def drive(base_url: str, plan: ClosedLoopPlan, output_tokens: int) -> list[RequestRecord]:
    records: list[RequestRecord] = []
    async with OpenAIClient(
        base_url=base_url, model="llmbench-sim", connection_limit=plan.concurrency
    ) as client:
        await run_closed_loop(
            client,
            synthetic_requests(input_tokens=128, output_tokens=output_tokens, seed=0),
            plan,
            target_id="sim",
            sink=records.append,
        )
    return records


def run_level(base_url: str, concurrency: int, requests: int, output_tokens: int) -> dict[str, Any]:
    """One closed-loop run; CPU is counted around the load only (no start-up, no summary)."""
    plan = ClosedLoopPlan(concurrency, requests, warmup_requests=concurrency)
    clear_logs(base_url)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        cpu_before = cpu_seconds()
        records = runner.run(drive(base_url, plan, output_tokens))
        cpu_used = cpu_seconds() - cpu_before
    values = truth_and_measured(records, sim_logs(base_url))
    events = sum(len(r.chunk_offsets_ns) for r in records)
    return {
        "c": concurrency,
        "n": len(values["ttft"]),
        "errors": sum(not r.ok for r in records),
        **{
            f"{m}_{stat}": float(fn(values[m]))
            for m in ("ttft", "ttft_true", "itl", "itl_true", "intake", "delivery")
            for stat, fn in (("mean", np.mean), ("p99", lambda a: np.percentile(a, 99)))
        },
        "cpu_s_per_1k_events": 1000 * cpu_used / max(events, 1),
    }


def print_table(rows: list[dict[str, Any]], layout: str) -> None:
    print(f"\nclient accuracy vs simulator truth (layout: {layout}); times in ms")
    print("intake: client sent → server reads first byte; deliv: first chunk written → read")
    head = (
        f"{'c':>5} {'n':>5} {'err':>4} | {'TTFT mean':>10} {'true':>8} {'err':>6} | "
        f"{'TTFT P99':>9} {'true':>8} | {'ITL mean':>9} {'true':>7} {'err':>6} | "
        f"{'ITL P99':>8} {'true':>7} | {'intake':>6} {'deliv':>6} | {'CPU s/1k ev':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['c']:>5} {r['n']:>5} {r['errors']:>4} | {r['ttft_mean']:>10.2f} "
            f"{r['ttft_true_mean']:>8.2f} {r['ttft_mean'] - r['ttft_true_mean']:>+6.2f} | "
            f"{r['ttft_p99']:>9.2f} {r['ttft_true_p99']:>8.2f} | {r['itl_mean']:>9.3f} "
            f"{r['itl_true_mean']:>7.3f} {r['itl_mean'] - r['itl_true_mean']:>+6.3f} | "
            f"{r['itl_p99']:>8.3f} {r['itl_true_p99']:>7.3f} | {r['intake_mean']:>6.2f} "
            f"{r['delivery_mean']:>6.2f} | {r['cpu_s_per_1k_events']:>11.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,16,64,256")
    parser.add_argument("--requests-per-stream", type=int, default=2)
    parser.add_argument("--min-requests", type=int, default=20)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    parser.add_argument("--itl-ms", type=float, default=20.0)
    parser.add_argument("--layout", choices=("pinned", "shared"), default="pinned")
    args = parser.parse_args()
    sim = EmbeddedSim(SimSpec(ttft_ms=args.ttft_ms, itl_ms=args.itl_ms))
    base_url = sim.start()
    try:
        if args.layout == "pinned" and sim.pid is not None:
            os.sched_setaffinity(sim.pid, {1})
            os.sched_setaffinity(0, {0})
        rows = []
        for c in (int(x) for x in args.levels.split(",")):
            requests = max(args.min_requests, c * args.requests_per_stream)
            rows.append(run_level(base_url, c, requests, args.output_tokens))
    finally:
        sim.stop()
    print_table(rows, args.layout)


if __name__ == "__main__":
    main()
