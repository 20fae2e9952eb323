"""How closely the Anthropic Messages and A2A clients see what the simulator did: a run of each
kind against a simulator process (`llmbench sim serve`), every measurement compared with the
simulator's own log (one CLOCK_MONOTONIC for both processes). One table row per protocol at each
concurrency: the client's lateness over the server's write (TTFT: client − server TTFT; ITL P50
error; A2A: each event's arrival − its write), median / P99 / max in ms.

    python benchmarks/protocol_accuracy.py [--requests 64] [--concurrency 1,8]
        [--sim-ttft-ms 50] [--sim-itl-ms 5] [--output-tokens 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import numpy as np

from llmbench.config import ClosedLoad, RunSpec, SimSpec, TargetSpec, WorkloadSpec
from llmbench.run.execute import Target, execute_run
from llmbench.run.target import EmbeddedSim
from llmbench.store.results import load_run


def _get(url: str) -> dict[str, Any]:
    with urlopen(url, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _spec(kind: str, args: argparse.Namespace, concurrency: int) -> RunSpec:
    return RunSpec(
        target=TargetSpec(kind=kind, model="llmbench-sim" if kind == "anthropic" else None),  # type: ignore[arg-type]
        workload=WorkloadSpec(input_tokens=64, output_tokens=args.output_tokens),
        load=ClosedLoad(concurrency=concurrency, requests=args.requests, warmup=concurrency),
    )


def anthropic_errors(base_url: str, out: Path) -> dict[str, list[float]]:
    ttft, itl = [], []
    for record in load_run(out).records:
        if record.warmup or not record.ok or record.first_token_ns is None:
            continue
        truth = _get(f"{base_url}/sim/log/{record.request_id}")
        emitted = np.array(truth["chunk_emit_ns"], dtype=np.int64)
        arrived = record.sent_ns + np.frombuffer(record.chunk_offsets_ns, dtype=np.int64)
        server_ttft = int(emitted[0]) - truth["received_ns"]
        ttft.append((record.first_token_ns - record.sent_ns - server_ttft) / 1e6)
        itl.append(float(np.median(np.diff(arrived)) - np.median(np.diff(emitted))) / 1e6)
    return {"TTFT error": ttft, "ITL P50 error": itl}


def a2a_errors(base_url: str, out: Path) -> dict[str, list[float]]:
    late: list[float] = []
    for task in load_run(out).tasks:
        if task.warmup or task.provider_task_id is None:
            continue
        truth = _get(f"{base_url}/sim/a2a-log/{task.provider_task_id}")
        for event, server in zip(task.events, truth["events"], strict=True):
            late.append((event.arrived_ns - server["emit_ns"]) / 1e6)
    return {"event lateness": late}


def row(kind: str, concurrency: int, name: str, values: list[float]) -> str:
    a = np.array(values)
    return (
        f"| {kind} | {concurrency} | {name} | {len(a)} | {np.median(a):.2f} | "
        f"{np.percentile(a, 99):.2f} | {a.max():.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--sim-ttft-ms", type=float, default=50)
    parser.add_argument("--sim-itl-ms", type=float, default=5)
    parser.add_argument("--output-tokens", type=int, default=32)
    args = parser.parse_args()
    print("| protocol | c | measure (client − server, ms) | n | median | P99 | max |")
    print("|---|---:|---|---:|---:|---:|---:|")
    sim = SimSpec(ttft_ms=args.sim_ttft_ms, itl_ms=args.sim_itl_ms)
    with EmbeddedSim(sim) as server, tempfile.TemporaryDirectory() as tmp:
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            for kind, errors in (("anthropic", anthropic_errors), ("a2a", a2a_errors)):
                out = Path(tmp) / f"{kind}-{concurrency}"
                spec = _spec(kind, args, concurrency)
                asyncio.run(execute_run(spec, Target(server.base_url), out))
                for name, values in errors(server.base_url, out).items():
                    print(row(kind, concurrency, name, values), flush=True)


if __name__ == "__main__":
    main()
