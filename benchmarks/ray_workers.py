"""Client cost of Ray workers vs local worker processes: client CPU seconds per 1,000 token
events at one concurrency (default c = 256) against the embedded simulator, with the same
accuracy columns as client_capacity.py (errors vs the simulator's log).

    python benchmarks/ray_workers.py [--c 256] [--workers 1,2] [--sim-cpus 1] [--client-cpus 0]
        [--repeat 3]   # medians of 3 runs per cell

The simulator is pinned to --sim-cpus; this process (the driver), its local workers and the
local Ray instance it starts (`ray.init(address="local")`: GCS, raylet and the worker actors
are its children, so they inherit the pinning) to --client-cpus. *CPU s/1k* counts, as
client_capacity.py does, the driver's CPU over the load plus each worker's own from the common
start to its end; *+setup* is the rest of the CPU that the driver's descendant processes used
over the whole cell (simulator excluded): local workers' spawn and imports; Ray actors' start,
imports and clock handshake, and Ray's own processes (GCS, raylet, agents) meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from typing import Any

import psutil
from client_accuracy import clear_logs, fmt, mean, median_rows, p99, sim_logs, truth_and_measured
from client_capacity import _cpus, _drive, _err, _sim_lateness_p99_ms

from llmbench.config import ClosedLoad, RunSpec, SimSpec, TargetSpec, WorkloadSpec
from llmbench.config.ray import RaySettings
from llmbench.engine.loop import loop_factory
from llmbench.run.target import EmbeddedSim


def _children_cpu_s(exclude: set[int]) -> float:
    """CPU seconds (user + system) of this process's descendants, less `exclude` (the sim):
    the living ones and theirs already reaped, and this process's own reaped children."""
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime
    for child in psutil.Process().children(recursive=True):
        if child.pid in exclude:
            continue
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def run_cell(
    base_url: str, placement: str, workers: int, args: argparse.Namespace, sim_pid: int
) -> dict[str, Any]:
    c = args.c
    on_ray = placement == "ray"
    spec = RunSpec(
        target=TargetSpec(base_url=base_url, model="llmbench-sim"),
        workload=WorkloadSpec(input_tokens=128, output_tokens=args.output_tokens),
        load=ClosedLoad(
            concurrency=c, requests=c * args.requests_per_stream, warmup=c,
            workers=None if on_ray else workers,
        ),
        ray=RaySettings(address="local" if on_ray else None, workers=workers if on_ray else None),
    )  # fmt: skip
    clear_logs(base_url)
    before_s = _children_cpu_s({sim_pid})
    wall = time.monotonic()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        records, info = runner.run(_drive(spec, base_url))
    wall_s = time.monotonic() - wall
    children_s = _children_cpu_s({sim_pid}) - before_s
    logs = sim_logs(base_url)
    values = truth_and_measured(records, logs)
    measured = [r for r in records if not r.warmup and r.ok and r.end_ns is not None]
    events = sum(len(r.chunk_offsets_ns) for r in records)
    span_s = (max(r.end_ns or 0 for r in measured) - min(r.sent_ns for r in measured)) / 1e9
    # Worker processes (local or Ray, any count) report their load CPU; in-process, the
    # driver's own CPU is all of it.
    workers_s = info["workers"].cpu_s_load if info["workers"].start is not None else 0.0
    cpu_s = info["parent_s"] + workers_s
    # Start-up and machinery: every descendant's CPU over the cell less the workers' load CPU
    # (local: spawn and imports; Ray: the actors' start and imports, and Ray's own processes).
    setup_s = max(0.0, children_s - workers_s)
    return {
        "placement": placement,
        "workers": workers,
        "n": len(values["ttft"]),
        "errors": sum(not r.ok for r in records),
        "events_per_s": sum(len(r.chunk_offsets_ns) for r in measured) / span_s,
        "cpu_s_per_1k_events": 1000 * cpu_s / max(events, 1),
        "setup_s_per_1k_events": 1000 * setup_s / max(events, 1),
        "wall_s": wall_s,
        **{
            f"{m}_{s}_err": _err(fn(values[m]), fn(values[f"{m}_true"]))
            for m in ("ttft", "itl")
            for s, fn in (("mean", mean), ("p99", p99))
        },
        "lag_p99_ms": lag.p99 if (lag := info["client"].loop_lag_ms) else None,
        "skew_ms": info["client"].start_skew_ms,
        "sim_late_p99_ms": _sim_lateness_p99_ms(logs),
    }


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace, title: str) -> None:
    print(
        f"\nRay vs local workers{title}: c = {args.c}, TTFT {args.ttft_ms:g} ms, ITL "
        f"{args.itl_ms:g} ms, {args.output_tokens} tokens; sim on CPUs {args.sim_cpus}, "
        f"client (and Ray) on {args.client_cpus}"
    )
    head = (
        f"{'where':>6} {'W':>2} {'n':>5} {'err':>4} | {'events/s':>9} {'CPU s/1k':>8} "
        f"{'+setup':>6} | {'TTFT mean':>9} {'P99':>6} | {'ITL mean':>8} {'P99':>6} | "
        f"{'lag P99':>7} {'skew ms':>7} | {'sim late':>8} {'wall s':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['placement']:>6} {r['workers']:>2} {r['n']:>5} {r['errors']:>4} | "
            f"{r['events_per_s']:>9,.0f} {r['cpu_s_per_1k_events']:>8.3f} "
            f"{r['setup_s_per_1k_events']:>6.3f} | "
            f"{r['ttft_mean_err']:>+9.2f} {fmt(r['ttft_p99_err'], '+.2f'):>6} | "
            f"{r['itl_mean_err']:>+8.3f} {fmt(r['itl_p99_err'], '+.2f'):>6} | "
            f"{fmt(r['lag_p99_ms'], '.2f'):>7} {fmt(r['skew_ms'], '.3f'):>7} | "
            f"{r['sim_late_p99_ms']:>8.2f} {r['wall_s']:>6.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--c", type=int, default=256)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--requests-per-stream", type=int, default=1)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--sim-cpus", default="1")
    parser.add_argument("--client-cpus", default="0")
    parser.add_argument("--repeat", type=int, default=1, help="N runs per cell; medians")
    args = parser.parse_args()
    import ray

    sim = EmbeddedSim(SimSpec(ttft_ms=args.ttft_ms, itl_ms=args.itl_ms))
    base_url = sim.start()
    assert sim.pid is not None
    runs = []
    try:
        os.sched_setaffinity(sim.pid, _cpus(args.sim_cpus))
        os.sched_setaffinity(0, _cpus(args.client_cpus))  # workers and Ray inherit it
        os.chdir(tempfile.mkdtemp(prefix="ray-workers-"))  # nothing written in the repo
        counts = [int(x) for x in args.workers.split(",")]
        ray.init(
            address="local", num_cpus=max(counts), include_dashboard=False,
            object_store_memory=100 * 1024 * 1024, log_to_driver=False,
        )  # fmt: skip
        for repeat in range(args.repeat):
            rows = []
            for workers in counts:
                for placement in ("local", "ray"):
                    rows.append(run_cell(base_url, placement, workers, args, sim.pid))
                    print(rows[-1], flush=True)
            runs.append(rows)
            print_table(rows, args, f" (run {repeat + 1} of {args.repeat})")
    finally:
        sim.stop()
        ray.shutdown()
    if args.repeat > 1:
        print_table(median_rows(runs), args, f" (medians of {args.repeat} runs)")


if __name__ == "__main__":
    main()
