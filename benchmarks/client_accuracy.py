"""Client accuracy and cost: llmbench's measured TTFT/ITL vs the simulator's emission log.

For each concurrency level, runs a closed loop against the embedded simulator (a separate process)
and prints measured vs true mean and P99 of TTFT and ITL, and the client's CPU seconds per 1,000
token events (warm-up included: every event costs CPU). Truth per request: TTFT = first chunk
written − request received; ITL = gaps between chunk writes (the simulator's own clock, shared
with the client's: both use CLOCK_MONOTONIC).

    python benchmarks/client_accuracy.py [--levels 1,16,64,256] [--layout pinned|shared]
        [--repeat 3]   # each level 3 times, then the medians and the TTFT error's range

`pinned` puts the client on CPU 0 and the server on CPU 1 (taskset); `shared` lets both float.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
from typing import Any
from urllib.request import Request, urlopen

import numpy as np

from llmbench.clients.openai import OpenAIClient
from llmbench.config import SimSpec
from llmbench.engine.closed_loop import ClosedLoopPlan, run_closed_loop
from llmbench.engine.loop import loop_factory
from llmbench.metrics.stats import percentiles
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
        "ttft": [], "ttft_true": [], "itl": [], "itl_true": [], "intake": [], "delivery": [],
        "send_lag": [],
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
        # Client-side queueing (pool wait, loop backlog): stream free → request written.
        out["send_lag"].append((record.sent_ns - record.scheduled_ns) / 1e6)
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


def mean(values: Any) -> float:
    return float(np.mean(values))


def p99(values: Any) -> float | None:
    """None below 100 values: llmbench's gate (`stats.percentile_min_n`), a P99 of fewer is the
    top values' interpolation."""
    return percentiles(values, (99,))["p99"]


def fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


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
            f"{m}_{stat}": fn(values[m])
            for m in ("ttft", "ttft_true", "itl", "itl_true", "intake", "delivery", "send_lag")
            for stat, fn in (("mean", mean), ("p99", p99))
        },
        # Per run, so that a median over repeats is the median error, not a difference of medians.
        "ttft_err_mean": mean(values["ttft"]) - mean(values["ttft_true"]),
        "itl_err_mean": mean(values["itl"]) - mean(values["itl_true"]),
        "cpu_s_per_1k_events": 1000 * cpu_used / max(events, 1),
    }


def median_rows(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per cell, the median over repeats (None where no repeat has a value); a cell equal in
    every repeat is kept as it is; a yes/no cell becomes "k/N", the repeats that said yes."""
    out = []
    for cells in zip(*runs, strict=True):
        row: dict[str, Any] = {}
        for key in cells[0]:
            values = [cell[key] for cell in cells]
            if all(isinstance(v, bool) for v in values):
                row[key] = f"{sum(values)}/{len(values)}"
            elif all(v == values[0] for v in values):
                row[key] = values[0]
            else:
                present = [v for v in values if v is not None]
                row[key] = statistics.median(present) if present else None
        out.append(row)
    return out


def print_ranges(runs: list[list[dict[str, Any]]], key: str, label: str) -> None:
    """The spread behind a median: min…max of one cell over the repeats, per level."""
    parts = []
    for cells in zip(*runs, strict=True):
        values = [cell[key] for cell in cells if cell[key] is not None]
        spread = f"{min(values):+.2f}…{max(values):+.2f}" if values else "–"
        parts.append(f"c = {cells[0]['c']}: {spread}")
    print(f"{label} over the {len(runs)} runs: " + ", ".join(parts))


def print_table(rows: list[dict[str, Any]], layout: str, title: str = "") -> None:
    print(f"\nclient accuracy vs simulator truth (layout: {layout}){title}; times in ms")
    print("intake: client sent → server reads first byte; deliv: first chunk written → read")
    print("lag: client send lag, stream free → request written (pool wait, loop backlog)")
    print("P99 –: fewer than 100 values (a P99 of fewer is the top values' interpolation)")
    head = (
        f"{'c':>5} {'n':>5} {'err':>4} | {'TTFT mean':>10} {'true':>8} {'err':>6} | "
        f"{'TTFT P99':>9} {'true':>8} | {'ITL mean':>9} {'true':>7} {'err':>6} | "
        f"{'ITL P99':>8} {'true':>7} | {'intake':>6} {'deliv':>6} {'lag':>6} | {'CPU s/1k ev':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['c']:>5} {r['n']:>5} {r['errors']:>4} | {r['ttft_mean']:>10.2f} "
            f"{r['ttft_true_mean']:>8.2f} {r['ttft_err_mean']:>+6.2f} | "
            f"{fmt(r['ttft_p99'], '.2f'):>9} {fmt(r['ttft_true_p99'], '.2f'):>8} | "
            f"{r['itl_mean']:>9.3f} "
            f"{r['itl_true_mean']:>7.3f} {r['itl_err_mean']:>+6.3f} | "
            f"{fmt(r['itl_p99'], '.3f'):>8} {fmt(r['itl_true_p99'], '.3f'):>7} | "
            f"{r['intake_mean']:>6.2f} "
            f"{r['delivery_mean']:>6.2f} {r['send_lag_mean']:>6.2f} | "
            f"{r['cpu_s_per_1k_events']:>11.3f}"
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
    parser.add_argument(
        "--repeat", type=int, default=1, help="run every level N times; print medians"
    )
    args = parser.parse_args()
    sim = EmbeddedSim(SimSpec(ttft_ms=args.ttft_ms, itl_ms=args.itl_ms))
    base_url = sim.start()
    try:
        if args.layout == "pinned" and sim.pid is not None:
            os.sched_setaffinity(sim.pid, {1})
            os.sched_setaffinity(0, {0})
        runs = []
        for repeat in range(args.repeat):
            rows = []
            for c in (int(x) for x in args.levels.split(",")):
                requests = max(args.min_requests, c * args.requests_per_stream)
                rows.append(run_level(base_url, c, requests, args.output_tokens))
            runs.append(rows)
            print_table(rows, args.layout, f", run {repeat + 1} of {args.repeat}")
    finally:
        sim.stop()
    if args.repeat > 1:
        print_table(median_rows(runs), args.layout, f", medians of {args.repeat} runs")
        print_ranges(runs, "ttft_err_mean", "TTFT mean error range")


if __name__ == "__main__":
    main()
