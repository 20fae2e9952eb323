"""Client capacity: how much load llmbench drives per CPU, and how well it measures, by
concurrency and number of worker processes (`--workers`).

Against the embedded simulator with fixed TTFT and ITL (default 100 ms / 10 ms), for each
concurrency and worker count: achieved token events/s, client CPU seconds per 1,000 events
(the parent's plus the workers' during the load: spawn and imports excluded), the error of
measured mean/P99 TTFT and ITL vs the simulator's emission log (client_accuracy's truth), the
client's own saturation verdict, and whether the simulator kept its schedule (P99 of chunk
written − chunk due, from its log): a late simulator is the limit, not the client.

    python benchmarks/client_capacity.py [--levels 1,64,256,512,1024] [--workers 1,2]
        [--sim-cpus 1] [--client-cpus 0] [--repeat 3]   # medians of 3 runs per cell

The simulator is pinned to --sim-cpus and the client (parent and workers) to --client-cpus
(lists like 0 or 1,3 or 1-8).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from client_accuracy import (  # benchmarks/ on sys.path
    clear_logs,
    fmt,
    mean,
    median_rows,
    p99,
    sim_logs,
    truth_and_measured,
)

from llmbench.config import LoadSpec, RunSpec, SimSpec, TargetSpec, WorkloadSpec
from llmbench.engine.loop import loop_factory
from llmbench.records import RequestRecord
from llmbench.run.execute import RecordKeeper, Target, drive_load
from llmbench.run.plan import build_load
from llmbench.run.target import EmbeddedSim
from llmbench.store.results import RECORDS_FILE, RunWriter, iter_records

LATE_LIMIT_MS = 1.0  # the simulator's P99 lateness above this: it, not the client, is the limit


def _cpus(text: str) -> set[int]:
    """`0`, `1,3` or `1-8`."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


async def _drive(spec: RunSpec, base_url: str) -> tuple[list[RequestRecord], dict[str, Any]]:
    """Drives the load into what a run keeps (records.jsonl, the column store), as `llmbench
    run` does, so the parent's CPU is its real per-record work; the records are read back after."""
    load = build_load(spec)
    stop = asyncio.Event()
    with RunWriter(Path(tempfile.mkdtemp(prefix="run-", dir="."))) as writer:
        cpu_before_s = time.process_time()
        _, _, client, workers = await drive_load(
            spec, Target(base_url), load, model="llmbench-sim", api_key=None, tokenizer=None,
            target_id="sim", sink=RecordKeeper(writer, stop), stop=stop,
        )  # fmt: skip
        parent_s = time.process_time() - cpu_before_s
    records = list(iter_records(writer.directory / RECORDS_FILE, []))
    # One process: the parent did everything; else the parent's own plus each worker's.
    cpu_s = parent_s if workers.processes == 1 else parent_s + workers.cpu_s_load
    return records, {"client": client, "workers": workers, "cpu_s": cpu_s, "parent_s": parent_s}


def _sim_lateness_p99_ms(logs: dict[str, dict[str, Any]]) -> float:
    late = [
        e - d
        for log in logs.values()
        for d, e in zip(log["chunk_deadline_ns"], log["chunk_emit_ns"], strict=False)
    ]
    return float(np.percentile(np.array(late), 99) / 1e6) if late else float("nan")


def _err(measured: float | None, true: float | None) -> float | None:
    return None if measured is None or true is None else measured - true


def run_cell(base_url: str, c: int, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    requests = max(args.min_requests, c * args.requests_per_stream)
    spec = RunSpec(
        target=TargetSpec(base_url=base_url, model="llmbench-sim"),
        workload=WorkloadSpec(input_tokens=128, output_tokens=args.output_tokens),
        load=LoadSpec(concurrency=c, requests=requests, warmup=c, workers=workers),
    )
    clear_logs(base_url)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        records, info = runner.run(_drive(spec, base_url))
    logs = sim_logs(base_url)
    values = truth_and_measured(records, logs)
    measured = [r for r in records if not r.warmup and r.ok and r.end_ns is not None]
    events = sum(len(r.chunk_offsets_ns) for r in records)
    measured_events = sum(len(r.chunk_offsets_ns) for r in measured)
    span_s = (max(r.end_ns or 0 for r in measured) - min(r.sent_ns for r in measured)) / 1e9
    return {
        "c": c,
        "workers": info["workers"].processes,
        "n": len(values["ttft"]),
        "errors": sum(not r.ok for r in records),
        "events_per_s": measured_events / span_s if span_s > 0 else float("nan"),
        "cpu_s_per_1k_events": 1000 * info["cpu_s"] / max(events, 1),
        "parent_share": info["parent_s"] / info["cpu_s"] if info["cpu_s"] else float("nan"),
        **{
            f"{m}_{s}_err": _err(fn(values[m]), fn(values[f"{m}_true"]))
            for m in ("ttft", "itl")
            for s, fn in (("mean", mean), ("p99", p99))
        },
        "saturated": info["client"].saturated,
        "lag_p99_ms": lag.p99 if (lag := info["client"].loop_lag_ms) else None,
        "sim_late_p99_ms": _sim_lateness_p99_ms(logs),
    }


def _yes_no(saturated: bool | str) -> str:
    """One run's verdict, or "k/N" over repeats (`median_rows`)."""
    return saturated if isinstance(saturated, str) else ("yes" if saturated else "no")


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace, title: str = "") -> None:
    print(
        f"\nclient capacity vs simulator truth{title}: TTFT {args.ttft_ms:g} ms, "
        f"ITL {args.itl_ms:g} ms, "
        f"{args.output_tokens} tokens; sim on CPUs {args.sim_cpus}, client on {args.client_cpus}"
    )
    print("err = measured − true (ms); sim late = P99 of chunk written − due (its own log)")
    print("parent: the parent process's part of the client CPU (all of it with one worker)")
    print("P99 –: fewer than 100 values (a P99 of fewer is the top values' interpolation)")
    head = (
        f"{'c':>5} {'W':>2} {'n':>5} {'err':>4} | {'events/s':>9} {'CPU s/1k':>8} {'parent':>6} | "
        f"{'TTFT mean':>9} {'P99':>6} | {'ITL mean':>8} {'P99':>6} | {'lag P99':>7} "
        f"{'satur.':>6} | {'sim late':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        sim_bound = " sim-bound" if r["sim_late_p99_ms"] > LATE_LIMIT_MS else ""
        print(
            f"{r['c']:>5} {r['workers']:>2} {r['n']:>5} {r['errors']:>4} | "
            f"{r['events_per_s']:>9,.0f} {r['cpu_s_per_1k_events']:>8.3f} "
            f"{r['parent_share']:>6.0%} | "
            f"{r['ttft_mean_err']:>+9.2f} {fmt(r['ttft_p99_err'], '+.2f'):>6} | "
            f"{r['itl_mean_err']:>+8.3f} {fmt(r['itl_p99_err'], '+.2f'):>6} | "
            f"{fmt(r['lag_p99_ms'], '.2f'):>7} {_yes_no(r['saturated']):>6} | "
            f"{r['sim_late_p99_ms']:>8.2f}{sim_bound}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,64,256,512,1024")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--requests-per-stream", type=int, default=1)
    parser.add_argument("--min-requests", type=int, default=20)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--sim-cpus", default="1")
    parser.add_argument("--client-cpus", default="0")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run every cell N times; print medians"
    )
    args = parser.parse_args()
    sim = EmbeddedSim(SimSpec(ttft_ms=args.ttft_ms, itl_ms=args.itl_ms))
    base_url = sim.start()
    runs = []
    try:
        if sim.pid is not None:
            os.sched_setaffinity(sim.pid, _cpus(args.sim_cpus))
        os.sched_setaffinity(0, _cpus(args.client_cpus))  # workers inherit it
        os.chdir(tempfile.mkdtemp(prefix="client-capacity-"))  # nothing written in the repo
        for repeat in range(args.repeat):
            runs.append(run_cells(base_url, args))
            print_table(runs[-1], args, f" (run {repeat + 1} of {args.repeat})")
    finally:
        sim.stop()
    if args.repeat > 1:
        print_table(median_rows(runs), args, f" (medians of {args.repeat} runs)")


def run_cells(base_url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for c in (int(x) for x in args.levels.split(",")):
        for workers in (int(x) for x in args.workers.split(",")):
            if workers <= c:
                rows.append(run_cell(base_url, c, workers, args))
                print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    main()
