"""Capacity of the serving-engine twin: offline simulated seconds per wall second, and token
events per second the served twin sustains on one core while keeping its schedule.

Offline: `sim predict`'s pipeline (engine, records, summary) on cloud-warm under Poisson load.
Served: the twin as a process pinned to CPU 1 (`llmbench sim serve --preset cloud-warm`, or the
fixed-time target with --itl-ms), driven from CPU 0 at rising concurrency by llmbench's client or
by a raw socket reader that only drains bytes (`--client raw`, so the client is not the limit);
lateness = chunk written − its deadline, from the server's own log, over the steady window (every
stream started, none finished) and over all chunks; the server's CPU per chunk written and its
run-queue wait (/proc/PID/schedstat over the load). Goal: ≥ 20,000 events/s with P99 lateness
< 1 ms.

    python benchmarks/sim_capacity.py [--duration 3600] [--rate 20] [--levels 64,256,512]
        [--client raw|llmbench] [--itl-ms 5] [--repeats 3] [--skip-offline]
        [--read-interval-ms 10] [--stagger-ms 5] [--isolate]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import numpy as np
from client_accuracy import clear_logs, drive  # benchmarks/ is on sys.path when run as a script
from cpu_isolation import cpu_kept_for
from raw_stream_client import drain

from llmbench.config import SimSpec
from llmbench.engine.closed_loop import ClosedLoopPlan
from llmbench.engine.loop import loop_factory
from llmbench.metrics.summary import summarize_run
from llmbench.prediction.predict import to_records
from llmbench.run.target import EmbeddedSim
from llmbench.sim.twin.offline import poisson_arrivals, predict
from llmbench.sim.twin.presets import builtin

HOST_CPUS = os.sched_getaffinity(0)


def offline(rate: float, duration_s: float, input_tokens: int, output_tokens: int) -> None:
    preset = builtin("cloud-warm")
    started = time.perf_counter()
    arrivals = poisson_arrivals(rate, duration_s, seed=0)
    prediction = predict(preset, arrivals, input_tokens=input_tokens, output_tokens=output_tokens)
    engine_s = time.perf_counter() - started
    records = to_records(prediction.requests)
    records_s = time.perf_counter() - started - engine_s
    summarize_run(records)
    total_s = time.perf_counter() - started
    print(
        f"offline cloud-warm, {rate:g} req/s × {duration_s:g} s ({len(arrivals)} requests, "
        f"{prediction.steps} steps, {input_tokens} in / {output_tokens} out)"
    )
    print(
        f"  engine {engine_s:.2f} s ({duration_s / engine_s:,.0f} simulated s per wall s), "
        f"records {records_s:.2f} s, summary {total_s - engine_s - records_s:.2f} s, "
        f"total {total_s:.2f} s"
    )


@dataclass(frozen=True)
class Drive:
    """How each level is driven: which client, response length, raw reads' interval."""

    client: str
    output_tokens: int
    read_interval_s: float = 0.0
    stagger_s: float = 0.0


def load(base_url: str, drive_with: Drive, concurrency: int) -> float:
    """Drive one level; returns the client's CPU share of its core during the load (0–1)."""
    requests = 2 * concurrency
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        if drive_with.client == "raw":
            done = runner.run(
                drain(
                    base_url,
                    concurrency,
                    requests,
                    drive_with.output_tokens,
                    drive_with.read_interval_s,
                    drive_with.stagger_s,
                )
            )
            return done.cpu_s / done.wall_s
        plan = ClosedLoopPlan(concurrency, requests, warmup_requests=0)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        runner.run(drive(base_url, plan, drive_with.output_tokens))
        return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


def schedstat_ns(pid: int | None) -> tuple[int, int] | None:
    """Time the process has run on a CPU and waited on a run queue (/proc/PID/schedstat, the
    first two fields), None off Linux."""
    try:
        on_cpu, waiting = Path(f"/proc/{pid}/schedstat").read_text().split()[:2]
        return int(on_cpu), int(waiting)
    except (OSError, ValueError):
        return None


def served_level(
    base_url: str, drive_with: Drive, concurrency: int, server_pid: int | None
) -> dict[str, Any]:
    clear_logs(base_url)
    server_before = schedstat_ns(server_pid)
    client_cpu = load(base_url, drive_with, concurrency)
    server_after = schedstat_ns(server_pid)
    on_cpu_ns, queued_ns = (
        (server_after[0] - server_before[0], server_after[1] - server_before[1])
        if server_before is not None and server_after is not None
        else (None, None)
    )
    with urlopen(f"{base_url}/sim/log", timeout=30) as response:
        log = json.loads(response.read())["requests"]
    log.sort(key=lambda e: e["received_ns"])
    emitted = np.concatenate([e["chunk_emit_ns"] for e in log]).astype(np.int64)
    deadlines = np.concatenate([e["chunk_deadline_ns"] for e in log]).astype(np.int64)
    lateness_ms = (emitted - deadlines) / 1e6
    # The busy middle: from when every stream has started until the first one ends. Outside
    # it are the start (every stream's request arrives at once) and the drain at the end.
    start_ns = max(e["chunk_emit_ns"][0] for e in log[:concurrency])
    end_ns = min(e["chunk_emit_ns"][-1] for e in log[-concurrency:])
    window = (emitted >= start_ns) & (emitted <= end_ns)
    span_s = max((end_ns - start_ns) / 1e9, 1e-9)
    steady_ms = lateness_ms[window] if window.any() else lateness_ms
    return {
        "c": concurrency,
        "events_per_s": int(window.sum()) / span_s,
        "late_p50_ms": float(np.percentile(steady_ms, 50)),
        "late_p99_ms": float(np.percentile(steady_ms, 99)),
        "late_max_ms": float(steady_ms.max()),
        "all_p99_ms": float(np.percentile(lateness_ms, 99)),
        "client_cpu": client_cpu,
        # The server's CPU over the whole load (request handling included) per chunk written,
        # and its time waiting for a CPU (other work on its core) during the load.
        "server_us_per_event": on_cpu_ns / 1e3 / emitted.size if on_cpu_ns else float("nan"),
        "server_queued_ms": queued_ns / 1e6 if queued_ns is not None else float("nan"),
    }


def served(
    levels: list[int], drive_with: Drive, itl_ms: float | None, isolate: bool
) -> list[dict[str, Any]]:
    spec, extra = SimSpec(), ["--preset", "cloud-warm"]
    if itl_ms is not None:  # the fixed-time (deterministic) target: a constant TTFT and ITL
        spec, extra = SimSpec(ttft_ms=20.0, itl_ms=itl_ms), []
    with EmbeddedSim(spec, extra_args=extra) as sim:
        # The CPUs this process started with: after a first run it is pinned to CPU 0 itself,
        # and asking again would leave every later server unpinned, sharing the client's CPU.
        if sim.pid is not None and len(HOST_CPUS) > 1:
            os.sched_setaffinity(sim.pid, {1})
            os.sched_setaffinity(0, {0})
        with cpu_kept_for(1) if isolate else contextlib.nullcontext(0) as moved:
            if isolate:
                print(f"(CPU 1 kept for the server: {moved} other tasks moved off it)")
            return [served_level(sim.base_url, drive_with, c, sim.pid) for c in levels]


def table(title: str, rows: list[dict[str, Any]]) -> None:
    print(title)
    print(
        f"{'c':>5} | {'events/s':>9} | {'late P50':>8} {'P99':>7} {'max':>7} (ms, steady) "
        f"| {'all P99':>7} | client CPU | server µs/event | server queued ms"
    )
    for r in rows:
        print(
            f"{r['c']:>5.0f} | {r['events_per_s']:>9,.0f} | {r['late_p50_ms']:>8.3f} "
            f"{r['late_p99_ms']:>7.3f} {r['late_max_ms']:>7.2f}              "
            f"| {r['all_p99_ms']:>7.3f} | {r['client_cpu']:>9.0%}  "
            f"| {r['server_us_per_event']:>15.1f} | {r['server_queued_ms']:>16.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--input-tokens", type=int, default=512)
    parser.add_argument("--output-tokens", type=int, default=128)
    parser.add_argument("--levels", default="64,256,512")
    parser.add_argument("--skip-served", action="store_true")
    parser.add_argument("--skip-offline", action="store_true")
    parser.add_argument("--client", choices=["raw", "llmbench"], default="llmbench")
    parser.add_argument("--itl-ms", type=float, help="serve fixed times (ITL) instead of the twin")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--read-interval-ms",
        type=float,
        default=0.0,
        help="raw client: sleep between reads, so one read takes several events",
    )
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="move every other task off the server's CPU during the load (cpu_isolation.py)",
    )
    parser.add_argument(
        "--stagger-ms",
        type=float,
        default=0.0,
        help="raw client: spread the streams' first requests over this time (e.g. one ITL)",
    )
    args = parser.parse_args()
    if not args.skip_offline:
        offline(args.rate, args.duration, args.input_tokens, args.output_tokens)
    if args.skip_served:
        return
    levels = [int(x) for x in args.levels.split(",")]
    target = "cloud-warm" if args.itl_ms is None else f"deterministic ITL {args.itl_ms:g} ms"
    title = f"served {target}, {args.client} client (server on CPU 1, client on CPU 0)"
    drive_with = Drive(
        args.client, args.output_tokens, args.read_interval_ms / 1000, args.stagger_ms / 1000
    )
    runs = [served(levels, drive_with, args.itl_ms, args.isolate) for _ in range(args.repeats)]
    for i, rows in enumerate(runs if args.repeats > 1 else []):
        table(f"{title}, run {i + 1}", rows)
    medians = [
        {k: float(np.median([run[j][k] for run in runs])) for k in runs[0][j]}
        for j in range(len(levels))
    ]
    table(f"{title}, median of {args.repeats}", medians)


if __name__ == "__main__":
    main()
